"""The documentation's build command is written once: README and CONTRIBUTING.md show what CI runs.

The build itself (Sphinx, running the gallery) is CI's job, in .ci/run; it is not repeated here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _build_commands(path: Path) -> list[str]:
    text = path.read_text()
    return [line.strip() for line in text.splitlines() if re.match(r"\s*sphinx-build\b", line)]


def test_ci_builds_the_docs_with_warnings_as_errors():
    (command,) = _build_commands(ROOT / ".ci" / "run")
    assert " -W " in f" {command} " and "--keep-going" in command
    assert command.split()[-2:] == ["docs", "docs/_build/html"]


def test_readme_and_contributing_show_the_ci_build_command():
    (ci,) = _build_commands(ROOT / ".ci" / "run")
    assert _build_commands(ROOT / "README.md") == [ci]
    assert _build_commands(ROOT / "CONTRIBUTING.md") == [ci]


def test_the_docs_extra_holds_what_the_build_loads():
    pyproject = (ROOT / "pyproject.toml").read_text()
    docs_extra = re.search(r"^docs = \[(.*?)\]", pyproject, flags=re.S | re.M)
    assert docs_extra, "pyproject.toml has no docs extra"
    conf = (ROOT / "docs" / "conf.py").read_text()
    for package, module in [
        ("sphinx", "sphinx."),
        ("myst-parser", "myst_parser"),
        ("numpydoc", "numpydoc"),
        ("sphinx-gallery", "sphinx_gallery"),
        ("pydata-sphinx-theme", "pydata_sphinx_theme"),
    ]:
        assert module in conf
        assert f'"{package}' in docs_extra.group(1), f"{package} missing from the docs extra"
