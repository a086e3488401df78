"""The CUDA sources compile: checked with nvcc where it is installed (no GPU needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib.resources import files

import pytest

NVCC = shutil.which("nvcc")


@pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit) is not installed")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_fused_assign_kernel_compiles(tmp_path, arch):
    source = files("gkmeans._kernels").joinpath("cuda", "fused_assign.cu")
    done = subprocess.run([NVCC, "-c", f"-arch={arch}", "-std=c++17", "-O3", "-Xptxas", "-warn-spills",
                           str(source), "-o", str(tmp_path / "fused_assign.o")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower()
    # -Xptxas -v lists every kernel it compiled
    verbose = subprocess.run([NVCC, "-c", f"-arch={arch}", "-std=c++17", "-O3", "-Xptxas", "-v", str(source),
                              "-o", str(tmp_path / "again.o")], capture_output=True, text=True, timeout=300)
    for kernel in ("gk_fused_assign_f32", "gk_fused_assign_f64"):
        assert f"Compiling entry function '{kernel}'" in verbose.stderr
    # register spills would send the running minima through local memory in the inner loop
    spills = [int(n) for n in re.findall(r"(\d+) bytes spill stores", verbose.stderr)]
    assert spills and not any(spills), verbose.stderr


def test_cuda_source_ships_with_the_package():
    source = files("gkmeans._kernels").joinpath("cuda", "fused_assign.cu").read_text(encoding="utf-8")
    assert 'extern "C" __global__' in source and "gk_fused_assign_f32" in source
