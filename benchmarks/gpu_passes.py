"""One pass of each kind at a GPU grid point, timed alone: where a Lloyd iteration's time goes.

Usage (on a GPU machine)::

    python -m benchmarks gpu-passes [--n 10000000] [--d 128] [--k 1024] [--out benchmarks/results]

On random float32 data on the GPU, median of 5 passes after one that compiles:

* the floor: one ``X @ C.T`` of the iteration's shape (PyTorch, cuBLAS), exact and TF32;
* the Triton assignment kernel (``gkmeans/_kernels/experimental/triton_assign.py``, labels and distances
  written) in its default launch configuration and a few neighbours, exact and TF32 — the
  defaults were chosen without a GPU, from the compiled kernel's resources, and the fastest
  here should replace them;
* the update: the cluster sums of those labels by each ``GKMEANS_CUDA_UPDATE`` method (CuPy's
  atomic scatter-add, sorting, or the atomic kernel of ``rows``), which a fast assignment leaves as
  the rest of an iteration; and the whole pass in one Triton kernel (assignment and ``rows`` update).

Writes ``<out>/gpu-passes-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .peers import environment_set
from .report import markdown_table, today, write_report

#: Launch configurations timed per arithmetic (rows, centres, features per block, warps, stages): the
#: kernel's defaults first, then neighbours that also compiled without spilling registers (sm_90).
CONFIGS = {
    "ieee": [(128, 64, 16, 8, 3), (64, 64, 16, 4, 3), (128, 64, 32, 8, 3), (128, 128, 16, 8, 3)],
    "tf32": [(128, 128, 32, 8, 3), (128, 128, 16, 8, 4), (128, 64, 32, 8, 3), (64, 128, 32, 4, 3)],
}
PRECISIONS = tuple(CONFIGS)
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


def _update_rows(X, labels, k: int) -> list[dict]:
    """The cluster sums by each update method, on CuPy views of the same data (through DLPack)."""
    try:
        import cupy
    except ImportError as error:
        return [{"precision": "—", "what": "update (CuPy)", "error": f"ImportError: {error}"}]
    from gkmeans import _kernels as kernels
    from gkmeans._compat import array_namespace
    from gkmeans._kernels.cupy_ import UPDATE_METHODS

    Xc, labels_c = cupy.from_dlpack(X), cupy.from_dlpack(labels)
    weights = cupy.ones(Xc.shape[0], dtype=Xc.dtype)
    xp = array_namespace(Xc)
    rows = []
    for method in UPDATE_METHODS:
        with environment_set({"GKMEANS_CUDA_UPDATE": method}):
            seconds = _median_seconds(lambda: kernels.segment_sum(Xc, labels_c, weights, k, xp=xp),
                                      cupy.cuda.Device().synchronize)
        rows.append({"precision": "—", "what": f"update: cluster sums ({method})", "ms": 1e3 * seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**7)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--k", type=int, default=1024)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    import torch

    from gkmeans._kernels.experimental import triton_assign
    from gkmeans._kernels.torch_ import MATMUL_PRECISION

    if not torch.cuda.is_available():
        raise SystemExit("python -m benchmarks gpu-passes needs a CUDA GPU (PyTorch sees none)")
    date = today()
    header = (f"{torch.cuda.get_device_name()}, {date}, n={args.n:,}, d={args.d}, k={args.k}, float32, median of "
              f"{REPEATS} passes; `python -m benchmarks gpu-passes`")
    rows: list[dict] = []

    def record(row: dict) -> None:
        """Keep a row and rewrite the report: a run stopped by its time limit keeps what it measured."""
        rows.append(row)
        print(row, flush=True)
        _save(args, header, date, rows, final=False)

    generator = torch.Generator(device="cuda").manual_seed(0)
    X = torch.randn(args.n, args.d, device="cuda", generator=generator)
    C = X[torch.randperm(args.n, device="cuda", generator=generator)[: args.k]].contiguous()
    # The updates first (they need labels): short, and kept should the configurations run out of time.
    labels, _ = triton_assign.torch_assign(X, C)
    for row in _update_rows(X, labels, args.k):
        record(row)
    del labels
    for precision in PRECISIONS:
        previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision(MATMUL_PRECISION["exact" if precision == "ieee" else precision])
        products = torch.empty((args.n, args.k), device="cuda")  # one n x k block, reused (41 GB at the default)
        try:
            floor = _median_seconds(lambda: torch.matmul(X, C.T, out=products), torch.cuda.synchronize)
        finally:
            torch.set_float32_matmul_precision(previous)
        products = None  # freed before another n x k block is made
        torch.cuda.empty_cache()
        record({"precision": precision, "what": "GEMM floor (cuBLAS X @ C.T)", "ms": 1e3 * floor})
        for config in CONFIGS[precision]:
            try:
                seconds = _median_seconds(lambda: triton_assign.torch_assign(X, C, precision=precision, config=config),
                                          torch.cuda.synchronize)
                row = {"ms": 1e3 * seconds, "vs_floor": seconds / floor}
            except Exception as error:  # a configuration the compiler or the GPU refuses is a result
                row = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"}
            block_n, block_k, block_d, warps, stages = config
            record({"precision": precision, "config": list(config),
                    "what": f"triton {block_n} rows x {block_k} centres x {block_d} features, {warps} warps, "
                            f"{stages} stages" + (" (default)" if config == triton_assign.CONFIGS[precision] else ""),
                    **row})
        # The whole Lloyd pass in one kernel (GKMEANS_CUDA_ASSIGN=triton with GKMEANS_CUDA_UPDATE=rows).
        weights = torch.ones(args.n, device="cuda")
        seconds = _median_seconds(lambda: triton_assign.torch_assign_and_sum(X, C, weights, precision=precision),
                                  torch.cuda.synchronize)
        record({"precision": precision, "what": "triton assignment + update in one pass (default configuration)",
                "ms": 1e3 * seconds, "vs_floor": seconds / floor, "fused_pass": True})
    _save(args, header, date, rows, final=True)


def _save(args: argparse.Namespace, header: str, date: str, rows: list[dict], *, final: bool) -> None:
    """Write the JSON and Markdown of the rows so far; the final write also prints the table."""
    best = {p: min((r for r in rows if r["precision"] == p and "vs_floor" in r and not r.get("fused_pass")),
                   key=lambda r: r["ms"], default=None) for p in PRECISIONS}
    table = markdown_table(
        ["arithmetic", "pass", "ms", "× GEMM floor"],
        [[r["precision"], r["what"], f"{r['ms']:.2f}" if "ms" in r else r["error"],
          f"{r['vs_floor']:.2f}" if "vs_floor" in r else "—"] for r in rows])
    table += "\n\nFastest Triton configuration: " + "; ".join(
        f"{p}: {b['what']} ({b['ms']:.2f} ms)" if b else f"{p}: none ran" for p, b in best.items())
    payload = {"meta": {"date": date, "header": header, "n": args.n, "d": args.d, "k": args.k, "partial": not final},
               "rows": rows, "fastest": best}
    if final:
        write_report(args.out, f"gpu-passes-{date}", header, table, payload)
        return
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"gpu-passes-{date}.json").write_text(json.dumps(payload, indent=2))
    (folder / f"gpu-passes-{date}.md").write_text(f"{header}\n\n**Partial**: the run was still going.\n\n{table}\n")


if __name__ == "__main__":
    main()
