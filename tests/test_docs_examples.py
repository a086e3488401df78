"""The user guide's code runs: every ```python block of a page, in order, in one namespace.

Blocks whose first line is ``# needs a GPU`` are compiled, and run only where gkmeans sees a
usable CUDA device (as the README's GPU example). Interactive snippets are fenced as
``pycon`` or ``text`` and are not run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("guide/*.md")) + sorted(DOCS.glob("*.md"))
GPU_MARK = "# needs a GPU"


def _blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def _gpu_present() -> bool:
    import gkmeans

    return any(d.usable and d.name.startswith("cuda") for d in gkmeans.devices())


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)], ids=lambda p: p.name)
def test_guide_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # pages write files (images, models) where they run
    if page.name == "accel.md":
        pytest.importorskip("sklearn")
    if page.name == "dask.md":
        pytest.importorskip("distributed")
    namespace: dict = {"__name__": "__docs__"}
    for index, block in enumerate(_blocks(page)):
        code = compile(block, f"{page.name}[{index}]", "exec")
        if block.lstrip().startswith(GPU_MARK) and not _gpu_present():
            continue  # compiled above: at least the syntax is checked
        exec(code, namespace)  # noqa: S102 - our own documentation


def test_gpu_blocks_are_marked_and_name_the_gpu():
    """A block that asks for the GPU carries the mark, so that CPU-only CI skips it knowingly."""
    for page in PAGES:
        for block in _blocks(page):
            code = "\n".join(line.split("#", 1)[0] for line in block.splitlines())
            if 'device="gpu"' in code or "device='gpu'" in code:
                assert block.lstrip().startswith(GPU_MARK), f"{page.name}: unmarked GPU block"
