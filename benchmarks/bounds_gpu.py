"""The bound-based comparison on a GPU: ``python -m benchmarks.bounds --device gpu``.

Usage (on a CUDA machine with CuPy, and PyTorch for the peers)::

    python -m benchmarks.bounds --device gpu [--repeats 2] [--gpu-large 10000000]
        [--max-seconds S] [--quick] [--out DIR]

Problems: the CPU run's (the two photos at k = 16, 64, 256, the digits at k = 10, 64, blobs of
``--blobs-n`` rows at d = 32, k = 64) and larger blobs of ``--gpu-large`` rows at d = 32, k = 256
(256 blobs; 0 leaves them out), the blobs first. Each problem's X goes to the GPU once, as a CuPy
array, before any clock starts; every contender starts from the same k-means++ centres (gkmeans'
``kmeans_plusplus`` on the GPU, seed 0). gkmeans runs ``algorithm=`` lloyd, hamerly, elkan,
yinyang and auto with ``device="gpu"`` and stops by its default rule (tol = 1e-4). The peers are
the GPU peers of :mod:`benchmarks.peers` that start from given centres (flash-kmeans, whose
products are TF32, and fast-pytorch-kmeans), run through their adapters, which copy X to the GPU
outside their timings and warm up at the problem's shape first (Triton compiles per shape); their
tolerances mean other things (flash-kmeans's is relative to the centres' movement), so they run
as many iterations as gkmeans' Lloyd took, with tol = 0, as faiss does in the CPU run. A peer that
cannot run is listed as missing with the reason, as ``python -m benchmarks run`` does. Every timer
stops after the device is synchronised. Best of ``--repeats``, gkmeans-lloyd first and the order
of the others reversed every other round. One function judges every final inertia
(:func:`benchmarks.suite.reference_inertias`, on the GPU). '/ fastest peer' divides by the fastest
GPU peer at the problem, or by gkmeans-lloyd where no peer ran (the report says so). gkmeans' peak
memory beyond what was allocated before the fit is the high-water mark of CuPy's memory pool
during one more fit per algorithm (a CuPy memory hook: CuPy's allocations only, not cuBLAS's
workspace nor PyTorch's).

Cost: meant to stay under about 150 s on an H100 or H200 with ``--repeats 2`` (the 10^7-row
blobs are drawn by all the CPU's threads in a few seconds; every GPU fit takes well under a
second to a few seconds). ``--max-seconds`` starts no new problem after that many seconds, and the
report is rewritten after every problem, so a run stopped by a time limit keeps what it measured
and says what it left out. Writes ``<out>/bounds-gpu-<date>.json``, ``.md`` and ``.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import platform
import time
from typing import Any, Callable

import numpy as np

import gkmeans
from benchmarks.bounds import GKMEANS_ALGORITHMS, plot, problems, table
from benchmarks.peers import GkmeansPeer, Peer, TorchPeer, _timed, all_peers
from benchmarks.report import today, write_report
from benchmarks.suite import _try, reference_inertias, release_gpu_memory
from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace, to_numpy
from gkmeans.algorithms.bounds_choice import resolve_algorithm

#: The large blobs: d and k (as many blobs as clusters, as the CPU run's blobs).
GPU_LARGE_D, GPU_LARGE_K = 32, 256
#: gkmeans' default stopping rule, given to the peers as well.
TOL, MAX_ITER = 1e-4, 300


@dataclasses.dataclass
class Target:
    """Where the run happens: gkmeans' ``device=``, how X gets there, how to wait for the device,
    gkmeans' peak extra memory during a fit (None: not measured), the inertia judge's device,
    the PyTorch peers' device and a description for the report."""

    device: str
    asarray: Callable[[np.ndarray], Any]
    sync: Callable[[], None]
    peak_extra_mib: Callable[[Callable[[], Any]], float | None]
    judge_device: str
    torch_device: str
    description: str


def cuda_target() -> Target:
    """The CUDA GPU through CuPy; SystemExit naming why when there is none usable."""
    entry = gkmeans.devices()[1]
    if not entry.usable:
        raise SystemExit(
            f"python -m benchmarks.bounds --device gpu needs a CUDA GPU: {entry.reason}"
        )
    import cupy

    return Target(
        "gpu",
        cupy.asarray,
        cupy.cuda.Device().synchronize,
        cupy_peak_extra_mib,
        "gpu",
        "cuda",
        entry.description,
    )


def cupy_peak_extra_mib(fit: Callable[[], Any]) -> float:
    """The high-water mark of CuPy's memory pool during ``fit``, beyond what was in use before
    it (MiB): blocks handed out minus blocks given back, counted by a memory hook."""
    from cupy.cuda.memory_hook import MemoryHook

    class HighWater(MemoryHook):
        name = "HighWater"

        def __init__(self) -> None:
            self.now = self.peak = 0

        def malloc_postprocess(self, **kwargs: Any) -> None:
            if kwargs.get("mem_ptr"):  # 0: the allocation failed
                self.now += kwargs["mem_size"]
                self.peak = max(self.peak, self.now)

        def free_postprocess(self, **kwargs: Any) -> None:
            self.now -= kwargs["mem_size"]

    hook = HighWater()
    with hook:
        fit()
    return hook.peak / 2**20


def gpu_peers(torch_device: str = "cuda") -> tuple[list[Peer], dict[str, str]]:
    """The GPU peers of :mod:`benchmarks.peers` that can run here from the shared start, and why
    each other one is left out (printed too)."""
    usable, missing = [], {}
    for peer in all_peers():
        if "gpu" not in peer.devices or isinstance(peer, GkmeansPeer) or peer.is_floor:
            continue
        if isinstance(peer, TorchPeer):
            peer.torch_device = torch_device
        if peer.own_init:
            reason = "starts from centres of its own, not the shared k-means++ start"
        else:
            reason = peer.available()
        if reason is None:
            usable.append(peer)
        else:
            missing[peer.name] = reason
            print(f"missing peer {peer.name}: {reason}", flush=True)
    return usable, missing


def gpu_problems(blobs_n: int, large_n: int, quick: bool) -> list[tuple[str, np.ndarray, int]]:
    """The CPU run's problems and the large blobs (not with ``quick``), the blobs first."""
    from benchmarks.memory import blobs_in_place

    out = problems(blobs_n, quick)
    if large_n > 0 and not quick:
        X = blobs_in_place(large_n, GPU_LARGE_D, GPU_LARGE_K, np.dtype(np.float32), cluster_std=2.0)
        out.append((f"blobs-{large_n}x{GPU_LARGE_D}", X, GPU_LARGE_K))
    return sorted(out, key=lambda p: (not p[0].startswith("blobs"), -p[1].shape[0]))


def warm_up(target: Target) -> None:
    """Each algorithm once on small data on the device: CUDA's context, cuBLAS and CuPy's
    kernels compiled before any clock starts."""
    X = target.asarray(np.random.default_rng(0).random((5000, 8)).astype(np.float32))
    for algorithm in GKMEANS_ALGORITHMS:
        gkmeans.KMeans(40, algorithm=algorithm, random_state=0, device=target.device).fit(X)
    target.sync()


def _ours(
    Xd: Any, init: Any, algorithm: str, target: Target, lloyd_iter: list[int]
) -> Callable[[], tuple]:
    def fit() -> tuple[float, np.ndarray, int, int | None]:
        model = gkmeans.KMeans(
            init.shape[0], init=init, n_init=1, algorithm=algorithm, device=target.device
        )
        seconds, model = _timed(lambda: model.fit(Xd), target.sync)
        if algorithm == "lloyd":
            lloyd_iter[0] = model.n_iter_
        centers = np.asarray(to_numpy(model.cluster_centers_))
        return seconds, centers, model.n_iter_, model.n_distance_evals_

    return fit


def _theirs(
    peer: Peer, X: np.ndarray, init: np.ndarray, lloyd_iter: list[int]
) -> Callable[[], tuple]:
    def fit() -> tuple[float, np.ndarray, int, None]:
        # gkmeans-lloyd's iterations with tol = 0 (each peer's tol means something else); its
        # own rule only where gkmeans-lloyd did not run.
        iterations, tol = (lloyd_iter[0], 0.0) if lloyd_iter[0] else (MAX_ITER, TOL)
        outcome = peer.fit(X, init, iterations, tol)
        return outcome.seconds, outcome.centers, outcome.n_iter, None

    return fit


def _resolved(algorithm: str, Xd: Any, k: int) -> str:
    """What gkmeans runs for ``algorithm`` on Xd (elkan becomes yinyang where its bounds do not
    fit; auto chooses)."""
    xp = array_namespace(Xd)
    device = getattr(Xd, "device", None)
    return resolve_algorithm(
        algorithm,
        Xd.shape[0],
        Xd.shape[1],
        k,
        itemsize=4,
        free=kernels.free_bytes(xp, device),
        compiled=kernels.bounds_kernel(xp, Xd) is not None,
        gpu=kernels.on_gpu(xp, device),
    )


def run_problem(
    name: str, X: np.ndarray, k: int, repeats: int, peers: list[Peer], target: Target
) -> list[dict]:
    """Every contender on one problem; a contender that fails is a row saying so."""
    Xd = target.asarray(X)
    init_d = gkmeans.kmeans_plusplus(Xd, k, random_state=0, device=target.device)[0]
    init = np.ascontiguousarray(to_numpy(init_d))
    lloyd_iter = [0]
    fits = {f"gkmeans-{a}": _ours(Xd, init_d, a, target, lloyd_iter) for a in GKMEANS_ALGORITHMS}
    errors: dict[str, str] = {}
    for peer in peers:
        fits[peer.name] = _theirs(peer, X, init, lloyd_iter)
        _, error = _try(peer.warm_up, X, init)
        release_gpu_memory(target.judge_device)
        if error:
            errors[peer.name] = f"error: {error}"
    # gkmeans-lloyd first, so that the peers know how many iterations to run.
    names = list(fits)
    times: dict[str, list[float]] = {n: [] for n in names}
    results: dict[str, tuple] = {}
    for round_ in range(repeats):
        for contender in names if round_ % 2 == 0 else names[:1] + names[:0:-1]:
            if contender in errors:
                continue
            outcome, error = _try(fits[contender])
            release_gpu_memory(target.judge_device)  # the next library finds the device empty
            if error:
                errors[contender] = f"error: {error}"
                continue
            times[contender].append(outcome[0])
            results[contender] = outcome[1:]
    ran = [n for n in names if n in results and n not in errors]
    inertias = dict(
        zip(ran, reference_inertias(Xd, [results[n][0] for n in ran], target.judge_device))
    )
    basis = [p.name for p in peers if p.name in ran] or ["gkmeans-lloyd"]
    fastest = min((min(times[n]) for n in basis if n in ran), default=None)
    best_inertia = min(inertias.values(), default=None)
    n = X.shape[0]
    rows = []
    for contender in names:
        peer = next((p for p in peers if p.name == contender), None)
        row: dict[str, Any] = {"problem": name, "n": n, "d": X.shape[1], "k": k}
        row["peer"] = contender
        row["arithmetic"] = "exact" if peer is None else peer.arithmetic
        if contender not in ran:
            row["status"] = errors.get(contender, "error: no result")
            print(f"{name} k={k} {contender}: {row['status']}", flush=True)
            rows.append(row)
            continue
        _, n_iter, evals = results[contender]
        seconds = min(times[contender])
        row.update(
            status="ok",
            seconds=seconds,
            all_seconds=times[contender],
            ratio_vs_fastest_peer=None if fastest is None else seconds / fastest,
            ratio_basis=basis,
            n_iter=int(n_iter),
            inertia=inertias[contender],
            inertia_vs_best=inertias[contender] / best_inertia - 1,
            skipped=None if evals is None else 1 - evals / (n * k * n_iter),
        )
        if peer is None:
            algorithm = contender.removeprefix("gkmeans-")
            chosen = _resolved(algorithm, Xd, k)
            if algorithm == "auto":
                row["auto_chose"] = chosen
            elif chosen != algorithm:
                row["ran"] = chosen
            if algorithm != "auto":
                peak, error = _try(target.peak_extra_mib, fits[contender])
                release_gpu_memory(target.judge_device)
                if peak is not None:
                    row["peak_extra_mib"], row["x_mib"] = peak, X.nbytes / 2**20
                elif error:
                    print(f"  peak memory of {contender} not measured: {error}", flush=True)
        rows.append(row)
        print(
            f"{name} k={k} {contender}: {seconds:.3f} s, {n_iter} it, "
            f"inertia {inertias[contender]:.6g}",
            flush=True,
        )
    del Xd, init_d
    release_gpu_memory(target.judge_device)
    return rows


def write(
    args: argparse.Namespace,
    command: str,
    target: Target,
    rows: list[dict],
    peers: list[Peer],
    missing: dict[str, str],
    left_out: list[str],
    *,
    seconds: float,
    partial: bool,
) -> None:
    """The JSON and Markdown reports (rewritten after every problem) and, at the end, the plot."""
    lone = sorted(
        {f"{r['problem']} k={r['k']}" for r in rows if r.get("ratio_basis") == ["gkmeans-lloyd"]}
    )
    if not peers:
        basis = "no GPU peer can run here: '/ fastest peer' is the time over gkmeans-lloyd's"
    else:
        basis = (
            "'/ fastest peer' is the time over the fastest of "
            + ", ".join(p.name for p in peers)
            + " at the problem in the same run"
            + (f" (over gkmeans-lloyd's where none ran: {', '.join(lone)})" if lone else "")
        )
    header = (
        f"# Bound-based exact k-means on a GPU, {today()}\n\n`{command}` on {target.description} "
        f"({platform.node()}, {os.cpu_count()} CPUs; float32; best of {args.repeats}, order "
        f"alternating; {seconds:.0f} s in all). Time to convergence from the same k-means++ start "
        "(gkmeans' on the GPU, seed 0), gkmeans' default tol = 1e-4; the peers run as many "
        "iterations as gkmeans-lloyd took (tol = 0: their tolerances mean other things). X is on "
        "the GPU before the clocks start, the device synchronised before they stop; "
        f"{basis}. 'skipped' is the share of Lloyd's "
        "n k n_iter distances not computed; peak extra memory is CuPy's pool's high-water mark "
        "during the fit beyond what was in use before it (CuPy's allocations only); [tf32] marks "
        "TF32 products. Every inertia is judged by one function."
    )
    if missing:
        reasons = "; ".join(f"{p} ({why})" for p, why in missing.items())
        header += f"\n\nPeers missing here: {reasons}"
    if left_out:
        spent = f"time budget of {args.max_seconds:.0f} s spent"
        header += f"\n\nLeft out ({spent}): " + ", ".join(left_out)
    if partial:
        header += "\n\n**Partial**: the run was still going."
    stem = f"bounds-gpu-{today()}"
    payload = {
        "command": command,
        "device": target.description,
        "seconds": seconds,
        "partial": partial,
        "missing": missing,
        "left_out": left_out,
        "rows": rows,
    }
    with contextlib.nullcontext() if not partial else contextlib.redirect_stdout(io.StringIO()):
        write_report(args.out, stem, header, table(rows), payload)
    if not partial:
        ylabel = "time to convergence / fastest GPU peer" if peers else "time / gkmeans-lloyd"
        path = os.path.join(args.out, f"{stem}.png")
        plot(rows, path, tuple(p.name for p in peers), ylabel, f" on {target.description}")


def main(args: argparse.Namespace, command: str, target: Target | None = None) -> None:
    """The GPU run of :mod:`benchmarks.bounds` (``target``: the CUDA GPU unless given)."""
    target = cuda_target() if target is None else target
    started = time.perf_counter()
    warm_up(target)
    peers, missing = gpu_peers(target.torch_device)
    todo = gpu_problems(args.blobs_n, args.gpu_large, args.quick)
    rows: list[dict] = []
    left_out: list[str] = []
    for index, (name, X, k) in enumerate(todo):
        spent = time.perf_counter() - started
        if index > 0 and args.max_seconds is not None and spent > args.max_seconds:
            left_out = [f"{p} k={kk}" for p, _, kk in todo[index:]]
            print(f"time budget of {args.max_seconds:.0f} s spent: left out {left_out}", flush=True)
            break
        rows += run_problem(name, X, k, args.repeats, peers, target)
        if index + 1 < len(todo):
            spent = time.perf_counter() - started
            write(args, command, target, rows, peers, missing, [], seconds=spent, partial=True)
    write(
        args,
        command,
        target,
        rows,
        peers,
        missing,
        left_out,
        seconds=time.perf_counter() - started,
        partial=False,
    )
