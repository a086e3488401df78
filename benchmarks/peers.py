"""Adapters that run gkmeans and its peers the same way: same data, same start, timed.

Every peer answers ``available()`` with a reason when it cannot run; the suite
reports it as missing instead of dropping it. Fits return their final centres;
the suite computes every inertia itself, the same way, so they compare.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np


@dataclass
class FitOutcome:
    seconds: float
    n_iter: int
    centers: np.ndarray


class Peer:
    """One library's k-means. Subclasses fill in what the library can do."""

    name = "peer"
    devices = ("cpu",)
    float64 = True  # can it fit float64 data?
    own_init = False  # True when the library cannot start from given centres
    has_tol = True  # can it stop on a tolerance (time to convergence)?
    #: What the distance products are computed in: "exact" (the data's dtype), "tf32", "bf16" or
    #: "fp16". Speed targets compare peers of the same arithmetic (benchmarks/targets.py).
    arithmetic = "exact"
    is_floor = False  # not a k-means: a lower bound on the time per iteration, never judged for inertia

    def available(self) -> str | None:
        """None when the peer can run, else why not."""
        return None

    def fit(self, X: np.ndarray, init: np.ndarray, max_iter: int, tol: float) -> FitOutcome:
        raise NotImplementedError(f"{self.name} does not fit")

    def warm_up(self, X: np.ndarray, init: np.ndarray) -> None:
        """Before timing at this point: imports, JIT compilation, caches (a small fit). A GPU peer also
        runs one iteration at the point's full shape: JIT compilers specialise on it (Triton picks
        launch configurations from N and specialises on its integer arguments, a CUDA graph is
        captured per shape, cuBLAS chooses its kernels per shape), and a compilation inside the timed
        fit would charge seconds to a few iterations."""
        self.fit(X[:2000], init, 1, 0.0)
        if "gpu" in self.devices:
            self.fit(X, init, 1, 0.0)

    def kmeans_plusplus(self, X: np.ndarray, k: int, seed: int) -> float | None:
        return None

    def predict(self, X: np.ndarray, centers: np.ndarray) -> float | None:
        return None


def _missing(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # a broken install is as missing as an absent one
        return f"{module} cannot be imported ({type(exc).__name__}: {exc})"
    return None


def _missing_with_cuda(*modules: str) -> str | None:
    """Why a GPU peer cannot run: a module missing, or PyTorch seeing no CUDA device."""
    for module in (*modules, "torch"):
        reason = _missing(module)
        if reason is not None:
            return reason
    import torch

    return None if torch.cuda.is_available() else "torch.cuda.is_available() is False"


@contextlib.contextmanager
def environment_set(values: dict[str, str | None]) -> Iterator[None]:
    """Set the environment variables of ``values`` (None: leave that one as it is) while the block
    runs, then restore every one of them as it was (unset ones unset)."""
    previous = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is not None:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _timed(run: Callable[[], Any], sync: Callable[[], None] = lambda: None) -> tuple[float, Any]:
    sync()
    start = time.perf_counter()
    result = run()
    sync()
    return time.perf_counter() - start, result


class GkmeansPeer(Peer):
    """gkmeans on an array library: "numpy", "torch" (CPU) or, on a GPU, "cupy" / "torch-cuda"."""

    def __init__(self, backend: str, *, assign: str = "gemm", update: str = "scatter",
                 precision: str = "exact", chunk_bytes: int | None = None, cpu_pass: str | None = None,
                 algorithm: str = "lloyd") -> None:
        self.backend = backend
        self.assign, self.update, self.precision, self.chunk_bytes = assign, update, precision, chunk_bytes
        # GKMEANS_CPU_PASS for this peer ("numpy": what an install without Numba runs), None: the default.
        self.cpu_pass = cpu_pass
        # Lloyd by default: the suite's figure is the time per Lloyd iteration, beside scikit-learn's and
        # faiss's Lloyd ("auto" may run a bound-based algorithm; benchmarks/bounds.py times those).
        self.algorithm = algorithm
        self.name = (f"gkmeans-{backend}" + ("" if cpu_pass is None else f"-{cpu_pass}-pass")
                     + ("" if algorithm == "lloyd" else f"-{algorithm}")
                     + ("" if assign == "gemm" else f"-{assign}")
                     + ("" if update == "scatter" else f"-{update}update")
                     + ("" if precision == "exact" else f"-{precision}")
                     + ("" if chunk_bytes is None else f"-chunks{chunk_bytes // 2**20}MiB"))
        self.devices = ("gpu",) if backend in ("cupy", "torch-cuda") else ("cpu",)
        self.arithmetic = precision

    @contextlib.contextmanager
    def _variant(self):
        """The kernel choices of this variant (GKMEANS_CUDA_ASSIGN / _UPDATE, GKMEANS_GPU_CHUNK_BYTES,
        GKMEANS_CPU_PASS), only while it runs."""
        wanted = {"GKMEANS_CUDA_ASSIGN": None if self.assign == "gemm" else self.assign,
                  "GKMEANS_CUDA_UPDATE": None if self.update == "scatter" else self.update,
                  "GKMEANS_GPU_CHUNK_BYTES": None if self.chunk_bytes is None else str(self.chunk_bytes),
                  "GKMEANS_CPU_PASS": self.cpu_pass}
        with environment_set(wanted):
            yield

    def available(self) -> str | None:
        if self.backend == "numpy":
            return None
        if self.backend == "torch":
            return _missing("torch")
        if self.backend == "torch-cuda":
            return _missing_with_cuda()
        import gkmeans

        entry = gkmeans.devices()[1]
        return None if entry.usable else entry.reason

    def _to(self, a: np.ndarray) -> Any:
        if self.backend == "numpy":
            return a
        if self.backend == "cupy":
            import cupy

            return cupy.asarray(a)
        import torch

        return torch.asarray(a, device="cuda" if self.backend == "torch-cuda" else "cpu")

    def _sync(self) -> None:
        if self.backend == "cupy":
            import cupy

            cupy.cuda.Device().synchronize()
        elif self.backend == "torch-cuda":
            import torch

            torch.cuda.synchronize()

    def fit(self, X, init, max_iter, tol):
        import gkmeans
        from gkmeans._compat import to_numpy

        Xb, ib = self._to(X), self._to(init)
        with self._variant():
            seconds, model = _timed(
                lambda: gkmeans.KMeans(init.shape[0], init=ib, n_init=1, max_iter=max_iter, tol=tol, device="auto",
                                       precision=self.precision, algorithm=self.algorithm).fit(Xb),
                self._sync,
            )
        return FitOutcome(seconds, model.n_iter_, np.asarray(to_numpy(model.cluster_centers_)))

    def warm_up(self, X: np.ndarray, init: np.ndarray) -> None:
        """A small fit, and the compiled CPU pass loaded where Numba is installed: the steady state
        of a process that has fitted once (loading is once per process, not per fit; the memory
        benchmark states its memory apart)."""
        super().warm_up(X, init)
        if self.backend in ("numpy", "torch"):  # PyTorch CPU tensors take the NumPy passes
            from gkmeans._kernels import numpy_

            numpy_.compiled_pass(numpy_.COMPILED_MIN_WORK)

    @property
    def is_variant(self) -> bool:
        """A kernel-choice variant of a backend: its k-means++ is the backend's, not timed again."""
        return (self.assign != "gemm" or self.update != "scatter" or self.precision != "exact"
                or self.chunk_bytes is not None or self.cpu_pass is not None or self.algorithm != "lloyd")

    def kmeans_plusplus(self, X, k, seed):
        import gkmeans

        if self.is_variant:
            return None
        Xb = self._to(X)
        return _timed(lambda: gkmeans.kmeans_plusplus(Xb, k, random_state=seed), self._sync)[0]

    def predict(self, X, centers):
        import gkmeans

        Xb = self._to(X)
        model = gkmeans.KMeans(centers.shape[0], init=self._to(centers), n_init=1, max_iter=1,
                               precision=self.precision).fit(Xb)
        model.cluster_centers_ = self._to(centers)
        with self._variant():
            return _timed(lambda: model.predict(Xb), self._sync)[0]


class SklearnPeer(Peer):
    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.name = f"sklearn-{algorithm}"

    def available(self):
        return _missing("sklearn")

    def fit(self, X, init, max_iter, tol):
        from sklearn.cluster import KMeans

        model = KMeans(init.shape[0], init=init, n_init=1, max_iter=max_iter, tol=tol, algorithm=self.algorithm)
        seconds, model = _timed(lambda: model.fit(X))
        return FitOutcome(seconds, int(model.n_iter_), model.cluster_centers_)

    def kmeans_plusplus(self, X, k, seed):
        if self.algorithm != "lloyd":
            return None
        from sklearn.cluster import kmeans_plusplus

        return _timed(lambda: kmeans_plusplus(X, k, random_state=seed))[0]

    def predict(self, X, centers):
        if self.algorithm != "lloyd":
            return None
        from sklearn.cluster import KMeans

        model = KMeans(centers.shape[0], init=centers, n_init=1, max_iter=1).fit(X)
        model.cluster_centers_ = centers.astype(X.dtype)
        return _timed(lambda: model.predict(X))[0]


class FaissPeer(Peer):
    """faiss-cpu ``Kmeans`` with subsampling off (it sees every point); float32 only, no tolerance."""

    name = "faiss-cpu"
    float64 = False
    has_tol = False

    def available(self):
        return _missing("faiss")

    def fit(self, X, init, max_iter, tol):
        import faiss

        X32, init32 = np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(init, dtype=np.float32)
        k = init.shape[0]
        km = faiss.Kmeans(X.shape[1], k, niter=max_iter, max_points_per_centroid=X.shape[0] // k + 1,
                          min_points_per_centroid=1, seed=0, verbose=False)
        seconds, _ = _timed(lambda: km.train(X32, init_centroids=init32))
        return FitOutcome(seconds, max_iter, np.asarray(km.centroids))


class TorchPeer(Peer):
    """A peer written in PyTorch: runs on ``torch_device`` ("cuda" in the benchmarks; the tests set
    "cpu" to check the adapter against the library's own API on a machine without a GPU)."""

    devices = ("gpu",)
    float64 = False
    module = "torch"
    torch_device = "cuda"

    def available(self):
        if self.torch_device == "cpu":
            return _missing(self.module)
        return _missing_with_cuda(self.module)

    def _tensor(self, a: np.ndarray) -> Any:
        import torch

        return torch.asarray(a, device=self.torch_device)

    def _sync(self) -> None:
        if self.torch_device != "cpu":
            import torch

            torch.cuda.synchronize()


class FastPytorchKmeansPeer(TorchPeer):
    name = "fast-pytorch-kmeans"
    module = "fast_pytorch_kmeans"

    def fit(self, X, init, max_iter, tol):
        from fast_pytorch_kmeans import KMeans

        Xt, it = self._tensor(X), self._tensor(init)
        km = KMeans(init.shape[0], max_iter=max_iter, tol=tol if tol > 0 else -1.0, verbose=0)
        seconds, _ = _timed(lambda: km.fit_predict(Xt, centroids=it.clone()), self._sync)
        return FitOutcome(seconds, max_iter, km.centroids.detach().cpu().numpy())


class FlashKmeansPeer(TorchPeer):
    """flash-kmeans: Triton's ``tl.dot`` on float32 tiles, which Triton computes in TF32 by default
    (``input_precision`` is not set; sm_80 and later), so its arithmetic is TF32."""

    name = "flash-kmeans"
    arithmetic = "tf32"
    module = "flash_kmeans"

    def fit(self, X, init, max_iter, tol):
        Xt, it = self._tensor(X)[None], self._tensor(init)[None]
        if Xt.is_cuda:
            from flash_kmeans import batch_kmeans_Euclid
        else:
            # Its Triton kernels take CUDA tensors only; where Triton is installed it picks them
            # all the same, so CPU tensors go to its own PyTorch implementation explicitly.
            from flash_kmeans.torch_fallback import (
                batch_kmeans_Euclid_torch_native as batch_kmeans_Euclid,
            )

        seconds, (_, centroids, *rest) = _timed(
            lambda: batch_kmeans_Euclid(Xt, init.shape[0], max_iters=max_iter, tol=tol, init_centroids=it.clone()),
            self._sync,
        )
        n_iter = int(rest[0]) if rest and np.isscalar(rest[0]) else max_iter
        return FitOutcome(seconds, n_iter, centroids[0].detach().cpu().numpy())


class FastKmeansPeer(TorchPeer):
    """fastkmeans: random init of its own (no given centres), fp16 inside its Triton kernel."""

    name = "fastkmeans"
    module = "fastkmeans"
    own_init = True
    arithmetic = "fp16"  # its Triton kernel casts the tiles to float16

    def fit(self, X, init, max_iter, tol):
        from fastkmeans import FastKMeans

        k = init.shape[0]
        km = FastKMeans(X.shape[1], k, niter=max_iter, tol=tol if tol > 0 else -1.0, gpu=self.torch_device != "cpu",
                        seed=0, max_points_per_centroid=X.shape[0] // k + 1)
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        seconds, _ = _timed(lambda: km.train(X32), self._sync)
        return FitOutcome(seconds, max_iter, np.asarray(km.centroids))


class GemmFloorPeer(TorchPeer):
    """Not a k-means: one X @ C.T of the iteration's shape on the GPU (PyTorch), the floor per iteration,
    in exact float32 (PyTorch's default) or with TF32 tensor cores (``precision="tf32"``)."""

    float64 = True
    has_tol = False
    is_floor = True

    def __init__(self, precision: str = "exact") -> None:
        self.arithmetic = precision
        self.name = "gemm-floor" + ("" if precision == "exact" else f"-{precision}")

    @contextlib.contextmanager
    def _precision(self):
        """PyTorch's float32 products in this floor's arithmetic, restored after ("highest" is exact)."""
        import torch

        from gkmeans._kernels.torch_ import MATMUL_PRECISION

        previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision(MATMUL_PRECISION[self.arithmetic])
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(previous)

    def fit(self, X, init, max_iter, tol):
        import torch

        Xt, Ct = self._tensor(X), self._tensor(init)
        # Every product into one buffer: a list of them, or a new one while the last is still alive,
        # would hold two n x k blocks at once — 82 GB at n = 10^7, k = 1024, more than an H100 has.
        out = torch.empty((Xt.shape[0], Ct.shape[0]), dtype=Xt.dtype, device=Xt.device)
        with self._precision():
            seconds, _ = _timed(lambda: [torch.matmul(Xt, Ct.T, out=out) for _ in range(max_iter)], self._sync)
        return FitOutcome(seconds, max_iter, init)


def all_peers() -> list[Peer]:
    """Every peer, in the order a run measures them. The GPU ones go by what the issue's targets
    need most, should a short GPU session be cut off: the GEMM floors (exact and TF32), gkmeans's default,
    flash-kmeans, the other assignment kernels, the other libraries, then the remaining variants."""
    return [
        GkmeansPeer("numpy"), GkmeansPeer("numpy", cpu_pass="numpy"), GkmeansPeer("torch"), SklearnPeer("lloyd"),
        SklearnPeer("elkan"), FaissPeer(),
        GemmFloorPeer(), GemmFloorPeer("tf32"), GkmeansPeer("cupy"), FlashKmeansPeer(),
        GkmeansPeer("cupy", assign="triton", precision="tf32"),
        GkmeansPeer("cupy", assign="triton", precision="tf32", update="rows"), GkmeansPeer("cupy", assign="triton"),
        GkmeansPeer("cupy", assign="graph", precision="tf32"), GkmeansPeer("cupy", assign="fused"),
        GkmeansPeer("cupy", assign="graph"), FastPytorchKmeansPeer(), FastKmeansPeer(), GkmeansPeer("torch-cuda"),
        GkmeansPeer("cupy", precision="tf32"), GkmeansPeer("cupy", update="sort"),
        GkmeansPeer("cupy", update="rows"),
        GkmeansPeer("cupy", chunk_bytes=32 * 2**20),
        GkmeansPeer("cupy", assign="graph", chunk_bytes=128 * 2**20, precision="tf32"),
        GkmeansPeer("torch-cuda", precision="tf32"), GkmeansPeer("torch-cuda", assign="triton", precision="tf32"),
    ]
