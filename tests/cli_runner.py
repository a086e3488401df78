"""The real command line in a subprocess, as a user runs it: ``python -m gkmeans ARGS``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a command: this checkout's gkmeans first on the path."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def run_cli(cwd, *args, env=None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``gkmeans ARGS`` in ``cwd``; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "gkmeans", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env or cli_env(),
    )
