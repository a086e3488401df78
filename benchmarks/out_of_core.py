"""A streamed fit of a ``.npy`` file larger than the memory the process may use, against the in-memory fit.

Usage::

    python -m benchmarks out-of-core [--n 8000000] [--d 64] [--k 16] [--iterations 5] [--headroom-mib 512]
                                     [--dir /tmp] [--out benchmarks/results]

Writes the file chunk by chunk, then fits it in a fresh process whose address space
(``RLIMIT_AS``) is capped at what the interpreter had after its imports plus
``--headroom-mib`` — far below the file — and checks that process cannot even load the
file. A second, unlimited process fits the same file loaded whole, from the same
initial centres; the two results are compared. Writes ``<out>/out-of-core-<date>.json``
and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from .report import markdown_table, today, write_report

_FIT = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np, gkmeans
    path, init_path, iterations, headroom, streamed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
    init = np.load(init_path)
    page = resource.getpagesize()
    limit = None
    if streamed:
        size = int(open('/proc/self/statm').read().split()[0]) * page
        limit = size + headroom * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        data = gkmeans.chunked(path)
    else:
        data = np.load(path)
    start = time.perf_counter()
    km = gkmeans.KMeans(init.shape[0], init=init, n_init=1, max_iter=iterations, tol=0).fit(data)
    seconds = time.perf_counter() - start
    could_load = None
    if streamed:
        try:
            np.load(path)
            could_load = True
        except MemoryError:
            could_load = False
    peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
    np.save(path + (".stream" if streamed else ".memory") + ".labels.npy", np.asarray(km.labels_))
    print(json.dumps({"seconds": seconds, "n_iter": km.n_iter_, "inertia": km.inertia_,
                      "centers": np.asarray(km.cluster_centers_).tolist(), "address_space_limit": limit,
                      "peak_rss_kib": int(peak), "could_load_file": could_load}))
""")


def write_blobs(path: Path, n: int, d: int, k: int, chunk_rows: int = 500_000) -> None:
    """Gaussian blobs written chunk by chunk (never whole in memory)."""
    centers = np.random.default_rng(0).uniform(-10, 10, size=(k, d))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, chunk_rows):
        rows = min(chunk_rows, n - start)
        rng = np.random.default_rng(start)
        out[start:start + rows] = centers[rng.integers(0, k, rows)] + rng.normal(scale=4.0, size=(rows, d))
    out.flush()
    del out


def _run(path: Path, init_path: Path, iterations: int, headroom: int, streamed: bool) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _FIT, str(path), str(init_path), str(iterations), str(headroom),
                           "1" if streamed else "0"], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {'streamed' if streamed else 'in-memory'} fit failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8_000_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--headroom-mib", type=int, default=512)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path, init_path = Path(tmp) / "data.npy", Path(tmp) / "init.npy"
        write_blobs(path, args.n, args.d, args.k)
        data = np.load(path, mmap_mode="r")
        np.save(init_path, np.asarray(data[np.sort(np.random.default_rng(1).choice(args.n, args.k, replace=False))]))
        del data
        streamed = _run(path, init_path, args.iterations, args.headroom_mib, True)
        memory = _run(path, init_path, args.iterations, args.headroom_mib, False)
        differing = int(np.count_nonzero(np.load(str(path) + ".stream.labels.npy")
                                         != np.load(str(path) + ".memory.labels.npy")))
        file_bytes = path.stat().st_size
    max_center_diff = float(np.max(np.abs(np.asarray(streamed["centers"]) - np.asarray(memory["centers"]))))
    rel_inertia = abs(streamed["inertia"] - memory["inertia"]) / memory["inertia"]
    table = markdown_table(
        ["fit", "file MiB", "address-space limit MiB", "peak RSS MiB", "could load the file", "seconds", "iterations",
         "inertia"],
        [["streamed (`gkmeans.chunked(path)`)", f"{file_bytes / 2**20:,.0f}",
          f"{streamed['address_space_limit'] / 2**20:,.0f}", f"{streamed['peak_rss_kib'] / 1024:,.0f}",
          "yes" if streamed["could_load_file"] else "no (MemoryError)", f"{streamed['seconds']:.1f}",
          str(streamed["n_iter"]), f"{streamed['inertia']:.6e}"],
         ["in memory (`np.load(path)`)", f"{file_bytes / 2**20:,.0f}", "none", f"{memory['peak_rss_kib'] / 1024:,.0f}",
          "yes", f"{memory['seconds']:.1f}", str(memory["n_iter"]), f"{memory['inertia']:.6e}"]])
    table += (
        f"\n\nLabels that differ: {differing:,} of {args.n:,}; largest centre difference {max_center_diff:.2e}; "
        f"relative inertia difference {rel_inertia:.2e}. (In float32 the in-memory fit shifts X by NumPy's "
        "float32 column mean, the stream by a float64 one: points within rounding of a tie may fall the "
        "other way. In float64 the tests find identical labels.)")
    date = today()
    meta = {"date": date, "n": args.n, "d": args.d, "k": args.k, "dtype": "float32", "iterations": args.iterations,
            "file_bytes": file_bytes, "cpu_count": os.cpu_count(), "numpy": np.__version__}
    result = {"meta": meta, "streamed": streamed | {"centers": None}, "in_memory": memory | {"centers": None},
              "differing_labels": differing, "max_center_diff": max_center_diff, "rel_inertia_diff": rel_inertia}
    header = (f"CPU, {os.cpu_count()} cores, {date}: n={args.n:,}, d={args.d}, k={args.k}, float32, {args.iterations} "
              "Lloyd iterations from the same centres; `python -m benchmarks out-of-core`")
    write_report(args.out, f"out-of-core-{date}", header, table, result)


if __name__ == "__main__":
    main()
