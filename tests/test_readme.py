"""The README stays true: its set-up commands are what CI runs, and its examples run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_two_setup_commands():
    first, second = [block.strip() for block in _blocks("bash")[:2]]
    assert first == "pip install . && python -m gkmeans demo"
    assert second == 'pip install ".[test]" && pytest'


def test_ci_runs_the_readme_test_command():
    test_command = _blocks("bash")[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
    assert ci_lines[-1] == test_command  # the last command decides CI's exit status


def test_readme_python_examples_run():
    namespace: dict = {}
    for block in _blocks("python"):
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["km"].cluster_centers_.shape == (5, 8)
