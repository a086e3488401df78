"""The CUDA sources compile: checked with nvcc where it is installed (no GPU needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib.resources import files

import pytest

from gkmeans._kernels.experimental.cuda_sources import CUDA_KERNELS

NVCC = shutil.which("nvcc")



@pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit) is not installed")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("name", sorted(CUDA_KERNELS))
def test_cuda_kernels_compile_without_spills(tmp_path, arch, name):
    source = files("gkmeans._kernels.experimental").joinpath("cuda", name)
    done = subprocess.run([NVCC, "-c", f"-arch={arch}", "-std=c++17", "-O3", "-Xptxas", "-warn-spills",
                           str(source), "-o", str(tmp_path / "kernel.o")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower()
    # -Xptxas -v lists every kernel it compiled
    verbose = subprocess.run([NVCC, "-c", f"-arch={arch}", "-std=c++17", "-O3", "-Xptxas", "-v", str(source),
                              "-o", str(tmp_path / "again.o")], capture_output=True, text=True, timeout=300)
    for kernel in CUDA_KERNELS[name]:
        assert f"Compiling entry function '{kernel}'" in verbose.stderr
    # register spills would send the running minima through local memory in the inner loop
    spills = [int(n) for n in re.findall(r"(\d+) bytes spill stores", verbose.stderr)]
    assert spills and not any(spills), verbose.stderr


@pytest.mark.parametrize("name", sorted(CUDA_KERNELS))
def test_cuda_sources_ship_with_the_package(name):
    source = files("gkmeans._kernels.experimental").joinpath("cuda", name).read_text(encoding="utf-8")
    for kernel in CUDA_KERNELS[name]:
        assert re.search(rf'extern "C" __global__\s+void\s+{kernel}\(', source), kernel


@pytest.mark.parametrize("name", sorted(CUDA_KERNELS))
def test_cupy_compiles_each_source_with_the_shared_header_on_its_include_path(monkeypatch, name):
    """NVRTC has no source directory: the include path must name the folder of the headers a source
    includes (gk_common.cuh)."""
    import sys
    import types
    from pathlib import Path

    from gkmeans._kernels.experimental import cuda_sources

    made = []
    fake = types.ModuleType("cupy")
    fake.RawModule = lambda code, options: made.append((code, options)) or "module"
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert cuda_sources.cuda_module(name) == "module"
    code, options = made[0]
    include = next(o[2:] for o in options if o.startswith("-I"))
    headers = re.findall(r'#include "([^"]+)"', code)
    assert all((Path(include) / header).is_file() for header in headers), headers
    assert (Path(include) / "gk_common.cuh").is_file()
