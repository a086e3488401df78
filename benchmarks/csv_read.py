"""CSV reading for the command line: each engine of ``gkmeans.csv_io.read_csv`` on one generated
file, and the wall time of ``gkmeans fit`` on it with and without the fast readers, in one run.

Usage::

    python -m benchmarks.csv_read [--rows 200000] [--cols 16] [--repeats 3]
                                  [--out benchmarks/results]

The "python" engine is the ``csv``-module reader every version before the fast readers used
(and a minimal install still uses); "auto" is the default (pyarrow, else pandas). The
minimal-install fit runs with pyarrow and pandas made unimportable (a folder of stub packages
first on PYTHONPATH). Writes ``<out>/csv-read-<date>.json`` and ``.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import gkmeans
from benchmarks.report import markdown_table, today, write_report
from gkmeans.csv_io import read_csv
from gkmeans.datasets import make_blobs

ROOT = Path(__file__).resolve().parent.parent


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _time_read(path: Path, engine: str, repeats: int) -> tuple[list[float], np.ndarray]:
    times, data = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        data = read_csv(path, engine=engine)
        times.append(time.perf_counter() - start)
    return times, data


def _time_fit(folder: Path, pythonpath: str, repeats: int) -> tuple[list[float], list[float]]:
    """Wall times of ``python -m gkmeans fit`` and the fit times it prints."""
    walls, fits = [], []
    env = {**os.environ, "PYTHONPATH": pythonpath}
    command = [sys.executable, "-m", "gkmeans", "fit", "X.csv", "-k", "8", "-q", "--seed", "0"]
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        line = next(line for line in done.stdout.splitlines() if line.startswith("time"))
        fits.append(float(line.split()[1]))
    return walls, fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--cols", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        X, _, _ = make_blobs(args.rows, args.cols, 8, random_state=0)
        header = ",".join(f"f{j}" for j in range(args.cols))
        np.savetxt(folder / "X.csv", X, delimiter=",", header=header, comments="", fmt="%.6f")
        size_mb = (folder / "X.csv").stat().st_size / 1e6
        for module in ("pyarrow", "pandas"):  # stubs that refuse to import: a minimal install
            (folder / "stubs" / module).mkdir(parents=True)
            (folder / "stubs" / module / "__init__.py").write_text("raise ImportError\n")

        rows = []
        reference = None
        for engine in ("python", "pyarrow", "pandas", "auto"):
            module = {"pyarrow": "pyarrow.csv", "pandas": "pandas"}.get(engine)
            if module and not _installed(module):
                continue
            times, data = _time_read(folder / "X.csv", engine, args.repeats)
            reference = data if reference is None else reference
            rows.append(
                {
                    "what": f"read_csv(engine={engine!r})",
                    "median_s": statistics.median(times),
                    "min_s": min(times),
                    "times_s": times,
                    "same_array": bool(np.array_equal(data, reference)),
                }
            )
        minimal = os.pathsep.join([str(folder / "stubs"), str(ROOT)])
        for label, pythonpath in (
            ("minimal install (csv module)", minimal),
            ("default", str(ROOT)),
        ):
            walls, fits = _time_fit(folder, pythonpath, args.repeats)
            rows.append(
                {
                    "what": f"gkmeans fit -k 8, {label}",
                    "median_s": statistics.median(walls),
                    "min_s": min(walls),
                    "times_s": walls,
                    "fit_s": statistics.median(fits),
                }
            )

    base = rows[0]["median_s"]
    table = markdown_table(
        ["what", "median s", "min s", "vs csv module", "same array / fit s"],
        [
            [
                r["what"],
                f"{r['median_s']:.3f}",
                f"{r['min_s']:.3f}",
                f"{base / r['median_s']:.1f}x" if r["what"].startswith("read_csv") else "",
                str(r["same_array"]) if "same_array" in r else f"fit {r['fit_s']:.3f}",
            ]
            for r in rows
        ],
    )
    fits = [r for r in rows if r["what"].startswith("gkmeans fit")]
    if len(fits) == 2:
        before, after = fits[0]["median_s"], fits[1]["median_s"]
        table += (
            f"\n\n`gkmeans fit` wall time: {before:.2f} s with the csv module, "
            f"{after:.2f} s by default ({before / after:.1f}x)"
        )
    date = today()
    versions = {
        name: getattr(sys.modules.get(name), "__version__", None) for name in ("pyarrow", "pandas")
    }
    meta = {
        "date": date,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "gkmeans": gkmeans.__version__,
        "python": platform.python_version(),
        **versions,
        "rows": args.rows,
        "cols": args.cols,
        "file_mb": round(size_mb, 1),
        "repeats": args.repeats,
        "load_average_1m_at_end": os.getloadavg()[0],
    }
    header = (
        f"CSV read, {args.rows:,} x {args.cols} ({size_mb:.1f} MB, `%.6f`, header row), "
        f"{os.cpu_count()} cores (shared; load average {os.getloadavg()[0]:.1f} at the end), "
        f"{date}, `python -m benchmarks.csv_read`; median of {args.repeats} runs"
    )
    write_report(args.out, f"csv-read-{date}", header, table, {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()
