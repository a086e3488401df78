"""The Triton assignment kernel (``GKMEANS_CUDA_ASSIGN=triton``): its logic on the CPU under Triton's
interpreter (tests/conftest.py sets ``TRITON_INTERPRET=1`` where there is no NVIDIA GPU), on CUDA
tensors where there is one. Its speed is measured by the GPU benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from kernel_data import separated

from gkmeans._kernels import agnostic
from gkmeans._kernels.experimental import selection, triton_assign

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

DEVICE = "cpu" if os.environ.get("TRITON_INTERPRET") == "1" or not torch.cuda.is_available() else "cuda"
if DEVICE == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("no GPU, and Triton's interpreter was not switched on before Triton was imported",
                allow_module_level=True)


def _run(X, centers, shift=None, precision="ieee"):
    as_tensor = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(DEVICE)  # noqa: E731
    labels, min_sq = triton_assign.torch_assign(as_tensor(X), as_tensor(centers), shift=as_tensor(shift),
                                                precision=precision)
    return labels.cpu().numpy(), min_sq.cpu().numpy()


@pytest.mark.parametrize("n, d, k, with_shift", [
    (300, 20, 70, True),    # a partial row block, centre tiles 64 + 6, features padded to 32
    (130, 200, 5, True),    # more features than one block (128): the split-feature loop
    (129, 3, 64, False),    # exactly one centre tile; three features padded to 16
    (1, 5, 1, True),        # one row, one centre
])
def test_labels_are_the_array_paths(n, d, k, with_shift):
    X, centres, _ = separated(n, d, k, seed=n + d + k)
    shift = X.mean(axis=0) if with_shift else None
    centers = centres - shift if with_shift else centres
    labels, min_sq = _run(X, centers, shift)
    expected_labels, expected_sq = agnostic.assign(X, centers, xp=np, chunk_rows=n, shift=shift)
    np.testing.assert_array_equal(labels, expected_labels)
    assert labels.dtype == np.int64 and min_sq.dtype == np.float32 and np.all(min_sq >= 0)
    rows = X - shift if with_shift else X
    # the same distances up to the expansion's rounding: d units in the last place of its terms
    scale = np.einsum("ij,ij->i", rows, rows) + np.sum(centers[labels] ** 2, axis=1)
    bound = d * np.finfo(np.float32).eps * scale
    assert np.all(np.abs(min_sq.astype(np.float64) - expected_sq) <= bound)


def test_ties_go_to_the_lowest_index_within_and_across_centre_tiles():
    X, centres, _ = separated(200, 8, 6, seed=3)
    block = triton_assign.CONFIGS["ieee"][1]  # centres per tile
    # copies of every centre at the end of the first tile and in the second tile
    centers = np.concatenate([centres, np.zeros((block - 12, 8), np.float32) + 1e6, centres, centres])
    labels, _ = _run(X, centers)
    assert labels.max() < 6  # never a later copy, in the same tile or the next one
    np.testing.assert_array_equal(labels, agnostic.assign(X, centres, xp=np, chunk_rows=200)[0])


@pytest.mark.parametrize("precision", [
    "tf32",
    # Triton's interpreter does not round to bf16 as a GPU does (23% of these labels moved, where
    # inputs rounded to bf16 in NumPy move none): bf16 is checked on a GPU only
    pytest.param("bf16", marks=pytest.mark.skipif(DEVICE == "cpu", reason="bf16 is not emulated faithfully "
                                                  "by Triton's interpreter")),
])
def test_reduced_precision_runs_and_keeps_separated_labels(precision):
    X, centres, _ = separated(300, 24, 10, seed=5)
    shift = X.mean(axis=0)
    labels, _ = _run(X, centres - shift, shift, precision=precision)
    np.testing.assert_array_equal(labels, agnostic.assign(X, centres - shift, xp=np, chunk_rows=300, shift=shift)[0])


def test_feature_blocks_and_bad_input():
    assert [triton_assign.block_d(d, 32) for d in (1, 3, 16, 17, 32, 33, 1000)] == [16, 16, 16, 32, 32, 32, 32]
    assert triton_assign.block_d(100, 128) == 128
    with pytest.raises(TypeError, match="float32 data, not torch.float64"):
        triton_assign.torch_assign(torch.zeros((4, 2), dtype=torch.float64), torch.zeros((1, 2)))


def test_cupy_assign_dispatches_to_the_triton_kernel_and_names_what_is_missing(monkeypatch):
    """GKMEANS_CUDA_ASSIGN=triton sends float32 data to triton_assign.cupy_assign (the fast kernel is
    the one that ran; NumPy stands in for CuPy), float64 to the array path, and an absent PyTorch or
    Triton is named in the error."""
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "triton")
    calls = []

    def spy(X, centers, *, shift=None):
        calls.append(X.dtype)
        return agnostic.assign(X, centers, xp=np, chunk_rows=len(X), shift=shift)

    monkeypatch.setattr(triton_assign, "cupy_assign", spy)
    X, centres, _ = separated(50, 4, 3, seed=1)
    labels, _ = selection.cupy_assign(X, centres, xp=np, chunk_rows=50, method="triton")
    np.testing.assert_array_equal(labels, agnostic.assign(X, centres, xp=np, chunk_rows=50)[0])
    selection.cupy_assign(X.astype(np.float64), centres.astype(np.float64), xp=np, chunk_rows=50, method="triton")
    assert calls == [np.float32]

    def missing(X, centers, *, shift=None):
        raise ModuleNotFoundError("No module named 'triton'")

    monkeypatch.setattr(triton_assign, "cupy_assign", missing)
    with pytest.raises(ImportError, match="GKMEANS_CUDA_ASSIGN=triton needs PyTorch and Triton: No module named"):
        selection.cupy_assign(X, centres, xp=np, chunk_rows=50, method="triton")


def test_every_timed_launch_configuration_labels_alike():
    """The configurations `python -m benchmarks gpu-passes` times on a GPU give the same labels, in
    both of the kernel's feature paths (all features in one block, and blocks of them)."""
    import sys
    from pathlib import Path

    sys.path.append(str(Path(__file__).resolve().parent.parent))
    from benchmarks.gpu_passes import CONFIGS

    assert all(CONFIGS[p][0] == triton_assign.CONFIGS[p] for p in CONFIGS)  # the defaults come first
    for d in (12, 40):
        X, centres, _ = separated(150, d, 90, seed=8 + d)
        expected = agnostic.assign(X, centres, xp=np, chunk_rows=150)[0]
        for precision, configs in CONFIGS.items():
            for config in configs:
                labels, _ = triton_assign.torch_assign(torch.from_numpy(X).to(DEVICE),
                                                       torch.from_numpy(centres).to(DEVICE), precision=precision,
                                                       config=config)
                np.testing.assert_array_equal(labels.cpu().numpy(), expected, err_msg=str((precision, config)))


COMPILE_FOR_SM90 = """
import json, os, subprocess, sys, tempfile, warnings
warnings.filterwarnings("ignore")
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from gkmeans._kernels.experimental import triton_assign
cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
kernel = triton_assign._kernel()
names = ["X", "shift", "C", "c_sq", "labels", "min_sq", "weights", "sums", "weight_sums", "n", "k", "d", "stride_x",
         "stride_c", "HAS_SHIFT", "PRECISION", "BLOCK_N", "BLOCK_K", "BLOCK_D", "ONE_D_BLOCK", "UPDATE"]
types = ["*fp32"] * 4 + ["*i64", "*fp32", "*fp32", "*fp64", "*fp64"] + ["i32"] * 5 + ["constexpr"] * 7
out = {}
for precision, (block_n, block_k, block_d, warps, stages) in triton_assign.CONFIGS.items():
    for one, update in ((True, False), (False, False), (True, True), (False, True)):
        values = {"HAS_SHIFT": True, "PRECISION": precision, "BLOCK_N": block_n, "BLOCK_K": block_k,
                  "BLOCK_D": block_d, "ONE_D_BLOCK": one, "UPDATE": update}
        source = ASTSource(fn=kernel, signature=dict(zip(names, types)),
                           constexprs={(names.index(n),): v for n, v in values.items()})
        compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32),
                                  options={"num_warps": warps, "num_stages": stages})
        path = tempfile.mktemp(suffix=".cubin")
        open(path, "wb").write(compiled.asm["cubin"])
        usage = subprocess.run([cuobjdump, "--dump-resource-usage", path], capture_output=True, text=True).stdout
        fields = dict(f.split(":") for f in next(l for l in usage.splitlines() if "REG:" in l).split() if ":" in f)
        out[f"{precision} one_block={one} update={update}"] = {"registers": int(fields["REG"]), "spill": int(fields["STACK"]),
                                               "shared": compiled.metadata.shared,
                                               "wgmma": "wgmma" in compiled.asm["ptx"]}
print(json.dumps(out))
"""


def test_default_configurations_compile_for_hopper_without_spilling():
    """Each default launch configuration compiles for sm_90 (Triton's own compiler and ptxas, no GPU
    needed) within the registers (no spill to local memory) and half an H100 SM's 227 KiB of shared
    memory (two programs fit an SM), in both feature paths, with and without the fused update, TF32
    and bf16 on Hopper's warpgroup tensor-core instructions. Run in a fresh process: Triton's interpreter must be off to compile."""
    import json
    import subprocess
    import sys

    triton = pytest.importorskip("triton")
    if not (Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump").exists():
        pytest.skip("this Triton has no NVIDIA backend tools")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", COMPILE_FOR_SM90], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    resources = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(resources) == 4 * len(triton_assign.CONFIGS)
    for name, used in resources.items():
        assert used["spill"] == 0 and used["registers"] <= 255 and used["shared"] <= 227 * 1024 // 2, (name, used)
        # TF32 and bf16 products on Hopper's warpgroup tensor-core instructions (wgmma, HGMMA in the
        # machine code); exact float32 on the CUDA cores' fused multiply-adds
        assert used["wgmma"] == (not name.startswith("ieee")), (name, used)


def test_pytorch_cuda_tensors_take_the_triton_kernel_when_asked(monkeypatch):
    """With GKMEANS_CUDA_ASSIGN=triton, float32 CUDA tensors (stand-ins here) are assigned by the Triton
    kernel, in the precision PyTorch's float32 matmul setting gives (which the fit's precision= sets);
    otherwise, and for other dtypes, they take the array path; CPU tensors keep NumPy's pass."""
    import types

    from gkmeans._kernels import dispatch, torch_

    cuda32 = types.SimpleNamespace(device=types.SimpleNamespace(type="cuda"), dtype=torch.float32)
    cuda64 = types.SimpleNamespace(device=types.SimpleNamespace(type="cuda"), dtype=torch.float64)
    assert not torch_.handles("assign", cuda32)  # the default path: the Array API
    assert selection.choose("torch", "assign", cuda32, "gemm", "scatter") is None
    triton = selection.choose("torch", "assign", cuda32, "triton", "scatter")
    assert triton is selection.torch_triton_assign
    assert selection.choose("torch", "assign", cuda64, "triton", "scatter") is None
    assert selection.choose("torch", "assign_and_sum", cuda32, "triton", "rows") is None  # update stays index_add_
    assert torch_.handles("assign", torch.zeros((2, 2)))
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "triton")
    assert dispatch.experimental(torch, "assign", cuda32) is selection.torch_triton_assign
    seen = []
    monkeypatch.setattr(triton_assign, "torch_assign", lambda X, C, shift=None, precision=None: seen.append(precision))
    before = torch.get_float32_matmul_precision()
    try:
        for setting, expected in [("highest", "ieee"), ("high", "tf32"), ("medium", "bf16")]:
            torch.set_float32_matmul_precision(setting)
            triton(cuda32, None, xp=None, chunk_rows=1)
            assert seen[-1] == expected
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.skipif(DEVICE != "cuda", reason="needs a CUDA GPU (the kernel runs on CUDA tensors in a fit)")
def test_pytorch_cuda_fit_with_the_triton_kernel(monkeypatch):
    import gkmeans
    from gkmeans.datasets import make_blobs

    X = torch.asarray(make_blobs(20_000, 16, 8, random_state=3, dtype=np.float32)[0], device="cuda")
    default = gkmeans.KMeans(8, random_state=0).fit(X)
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "triton")
    fitted = gkmeans.KMeans(8, random_state=0).fit(X)
    assert fitted.labels_.device.type == "cuda"
    assert float((fitted.labels_ == default.labels_).float().mean()) >= 0.9999
    assert fitted.inertia_ == pytest.approx(default.inertia_, rel=1e-5)


@pytest.mark.parametrize("d, with_shift", [(20, True), (70, True), (9, False)])
def test_the_fused_update_sums_each_clusters_weighted_shifted_rows(d, with_shift):
    """torch_assign_and_sum: the same labels, and in the same pass the float64 sums of each cluster's
    weighted rows in the centred frame and the clusters' weights (atomics), as the array path's."""
    X, centres, _ = separated(257, d, 40, seed=d)
    shift = X.mean(axis=0) if with_shift else None
    centers = centres - shift if with_shift else centres
    weights = np.random.default_rng(d).uniform(0.5, 2.0, size=257).astype(np.float32)
    as_tensor = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(DEVICE)  # noqa: E731
    labels, min_sq, sums, weight_sums = triton_assign.torch_assign_and_sum(
        as_tensor(X), as_tensor(centers), as_tensor(weights), shift=as_tensor(shift))
    expected_labels, _ = agnostic.assign(X, centers, xp=np, chunk_rows=257, shift=shift)
    np.testing.assert_array_equal(labels.cpu().numpy(), expected_labels)
    rows = X - shift if with_shift else X
    expected_sums, expected_weights = agnostic.segment_sum(rows, expected_labels, weights, 40, xp=np,
                                                           acc_dtype=np.float64, chunk_rows=257)
    assert sums.dtype == torch.float64 and tuple(sums.shape) == (40, d)
    np.testing.assert_allclose(sums.cpu().numpy(), expected_sums, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(weight_sums.cpu().numpy(), expected_weights, rtol=1e-12)


def test_cupy_assign_and_sum_is_the_fused_kernel_under_triton_and_rows(monkeypatch):
    """One kernel for the whole pass only when both are asked for (and float32): otherwise the kernel
    layer composes the assignment and the update."""
    X32, X64 = np.zeros((3, 2), np.float32), np.zeros((3, 2))
    assert selection.choose("cupy", "assign_and_sum", X32, "triton", "scatter") is None
    assert selection.choose("cupy", "assign", X32, "triton", "scatter") is not None
    fused = selection.choose("cupy", "assign_and_sum", X32, "triton", "rows")
    assert fused is selection.cupy_triton_assign_and_sum
    assert selection.choose("cupy", "assign_and_sum", X64, "triton", "rows") is None
    assert selection.choose("cupy", "assign_and_sum", X32, "graph", "rows") is None
    calls = []
    monkeypatch.setattr(triton_assign, "cupy_assign_and_sum",
                        lambda X, centers, weights, *, shift=None: calls.append((X.shape, shift)) or "pass")
    assert fused(X32, X32[:2], np.ones(3, np.float32), xp=np, chunk_rows=3, shift=None) == "pass"
    assert calls == [((3, 2), None)]
