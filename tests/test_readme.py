"""The README stays true: its set-up commands are what CI runs, and its examples run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import gkmeans

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
#: The first line of a README example that can only run on a CUDA GPU.
GPU_MARK = "# needs a GPU"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _python_blocks(*, gpu: bool) -> list[str]:
    return [b for b in _blocks("python") if b.startswith(GPU_MARK + "\n") == gpu]


def _gpu_reason() -> str | None:
    """None where gkmeans sees a usable CUDA GPU, else why not."""
    cuda = [d for d in gkmeans.devices() if d.name.startswith("cuda")]
    if any(d.usable for d in cuda):
        return None
    return "; ".join(str(d.reason) for d in cuda) or "no CUDA device listed"


def test_readme_opens_with_the_two_setup_commands():
    first, second = [block.strip() for block in _blocks("bash")[:2]]
    assert first == "pip install . && python -m gkmeans demo"
    assert second == 'pip install ".[test]" && pytest'


def test_ci_runs_the_readme_test_command():
    test_command = _blocks("bash")[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
    assert ci_lines[-1] == test_command  # the last command decides CI's exit status


def _run_cpu_examples() -> dict:
    namespace: dict = {}
    for block in _python_blocks(gpu=False):
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace


def test_readme_python_examples_run():
    namespace = _run_cpu_examples()
    assert namespace["km"].cluster_centers_.shape == (5, 8)
    assert (namespace["labels"] == namespace["km"].labels_).all()
    assert namespace["distances"].shape == (10_000, 5)
    assert namespace["streamed"].cluster_centers_.shape == (5, 8)


@pytest.mark.gpu
def test_readme_gpu_example():
    gpu_blocks = _python_blocks(gpu=True)
    assert gpu_blocks, f"the README has no example marked {GPU_MARK!r}"
    for block in gpu_blocks:  # valid Python everywhere, run only where a GPU is
        compile(block, "README.md", "exec")
    reason = _gpu_reason()
    if reason is not None:
        pytest.skip(f"no usable GPU: {reason}")
    namespace = _run_cpu_examples()
    for block in gpu_blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["km_gpu"].device_.startswith("cuda")
    assert namespace["km_gpu"].cluster_centers_.shape == (5, 8)
    assert type(namespace["km_cupy"].cluster_centers_).__module__.startswith("cupy")
