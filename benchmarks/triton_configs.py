"""Launch configurations of the Triton assignment kernel, timed alone, beside the GEMM floors.

Usage (on a GPU machine)::

    python -m benchmarks triton-configs [--n 10000000] [--d 128] [--k 1024] [--out benchmarks/results]

The kernel's rows per program, centres per tile and warps (``gkmeans/_kernels/triton_assign.py``)
were chosen without a GPU. This times one assignment pass (distances + argmin, labels and
distances written) for each configuration of a small grid, in exact float32 and in TF32, on
random float32 data on the GPU, and beside it one ``X @ C.T`` of the same shape in each
arithmetic (PyTorch, cuBLAS): the floor. Median of 5 timed passes after one that compiles.
Writes ``<out>/triton-configs-<date>.json`` and ``.md``; the fastest configuration per arithmetic
is printed, to become the kernel's defaults.
"""

from __future__ import annotations

import argparse
import itertools
import time

from .report import markdown_table, today, write_report

#: (rows per program, centres per tile, warps).
CONFIGS = list(itertools.product((64, 128), (64, 128), (4, 8)))
PRECISIONS = ("ieee", "tf32")
REPEATS = 5


def _median_seconds(run, sync) -> float:
    run()  # compiles, allocates
    sync()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**7)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--k", type=int, default=1024)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    import torch

    from gkmeans._kernels import triton_assign

    if not torch.cuda.is_available():
        raise SystemExit("python -m benchmarks triton-configs needs a CUDA GPU (PyTorch sees none)")
    generator = torch.Generator(device="cuda").manual_seed(0)
    X = torch.randn(args.n, args.d, device="cuda", generator=generator)
    C = X[torch.randperm(args.n, device="cuda", generator=generator)[: args.k]].contiguous()
    rows = []
    for precision in PRECISIONS:
        previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest" if precision == "ieee" else "high")
        try:
            floor = _median_seconds(lambda: X @ C.T, torch.cuda.synchronize)
        finally:
            torch.set_float32_matmul_precision(previous)
        rows.append({"precision": precision, "what": "GEMM floor (cuBLAS X @ C.T)", "ms": 1e3 * floor})
        print(rows[-1], flush=True)
        for block_n, block_k, warps in CONFIGS:
            try:
                seconds = _median_seconds(lambda: triton_assign.torch_assign(
                    X, C, precision=precision, block_n=block_n, block_k=block_k, num_warps=warps),
                    torch.cuda.synchronize)
                row = {"ms": 1e3 * seconds, "vs_floor": seconds / floor}
            except Exception as error:  # a configuration the compiler refuses is a result
                row = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"}
            rows.append({"precision": precision, "what": f"triton {block_n} rows x {block_k} centres, {warps} warps",
                         "block_n": block_n, "block_k": block_k, "num_warps": warps, **row})
            print(rows[-1], flush=True)
    best = {p: min((r for r in rows if r["precision"] == p and "vs_floor" in r), key=lambda r: r["ms"], default=None)
            for p in PRECISIONS}
    table = markdown_table(
        ["arithmetic", "pass", "ms", "× GEMM floor"],
        [[r["precision"], r["what"], f"{r['ms']:.2f}" if "ms" in r else r["error"],
          f"{r['vs_floor']:.2f}" if "vs_floor" in r else "—"] for r in rows])
    table += "\n\nFastest: " + "; ".join(f"{p}: {b['what']} ({b['ms']:.2f} ms)" if b else f"{p}: none ran"
                                         for p, b in best.items())
    date = today()
    header = (f"{torch.cuda.get_device_name()}, {date}, n={args.n:,}, d={args.d}, k={args.k}, float32, median of "
              f"{REPEATS} passes; `python -m benchmarks triton-configs`")
    write_report(args.out, f"triton-configs-{date}", header, table,
                 {"meta": {"date": date, "gpu": torch.cuda.get_device_name(), "n": args.n, "d": args.d, "k": args.k},
                  "rows": rows, "fastest": best})


if __name__ == "__main__":
    main()
