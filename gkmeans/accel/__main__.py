"""``python -m gkmeans.accel [-m MODULE | SCRIPT] [ARGS...]``: run a program with accel
installed, as ``python SCRIPT ARGS`` / ``python -m MODULE ARGS`` would run it."""

from __future__ import annotations

import os
import runpy
import sys

from gkmeans.accel import install

USAGE = "usage: python -m gkmeans.accel [-m MODULE | SCRIPT] [ARGS...]"


def main(argv: list[str]) -> int:
    """Install accel, then run the script or module named in ``argv`` as ``__main__``."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    if argv[0] == "-m":
        if len(argv) < 2:
            print(f"{USAGE}\nerror: -m needs a module name", file=sys.stderr)
            return 2
        install()
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.exists(script):
        print(f"{USAGE}\nerror: no such script: {script!r}", file=sys.stderr)
        return 2
    install()
    sys.argv = argv[:]
    # As `python SCRIPT` does: the script's folder first on the path.
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
