"""The CuPy code paths against the real CuPy package, without a GPU.

CuPy imports and compiles CUDA C++ (through NVRTC) on a machine with no driver; only
allocating, launching and synchronising need a GPU. So wherever CuPy is installed (CI
installs the device image's cupy-cuda13x, and NVRTC), these tests check what would
otherwise first be seen on a rare GPU machine:

- every ``cupy.*`` / ``cupyx.*`` name the library and the benchmarks use exists, and so do the
  methods called on the objects CuPy returns (streams, graphs, pools, devices, arrays);
- the keyword arguments passed to CuPy match its signatures;
- NVRTC, with the options ``cuda_sources.cuda_module`` gives CuPy plus those CuPy adds itself, compiles
  each shipped ``.cu`` file to machine code holding every kernel the library looks up by name.

The GPU itself (launches, graph capture, timings) is tested in tests/test_gpu.py.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (CI installs cupy-cuda13x for these checks)")
import cupyx  # noqa: E402  (after the skip: CuPy may be absent)

from gkmeans._kernels.experimental.cuda_sources import CUDA_KERNELS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCANNED = sorted([*(REPO / "gkmeans").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")])


def _cupy_names(path: Path) -> set[str]:
    """Dotted CuPy names a file uses: ``cupy.cuda.Stream`` for ``cupy.cuda.Stream(...)``, and
    ``cupy._core._routines_linalg.get_compute_type`` for ``linalg.get_compute_type`` after
    ``from cupy._core import _routines_linalg as linalg``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                root = name.name.split(".")[0]
                if root in ("cupy", "cupyx"):
                    # "import cupy.cuda" binds cupy; "import cupy.cuda as cc" binds cc to cupy.cuda
                    aliases[name.asname or root] = name.name if name.asname else root
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("cupy", "cupyx"):
            for name in node.names:
                aliases[name.asname or name.name] = f"{node.module}.{name.name}"
    used = set(aliases.values())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        parts = []
        inner: ast.expr = node
        while isinstance(inner, ast.Attribute):
            parts.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name) and inner.id in aliases:
            used.add(".".join([aliases[inner.id], *reversed(parts)]))
    return used


def _resolve(dotted: str) -> object:
    """The object a dotted name names, importing submodules on the way as ``import a.b`` would."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for position, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: position + 1]))
    return obj


USED = sorted({(path.relative_to(REPO).as_posix(), name) for path in SCANNED for name in _cupy_names(path)})


def test_the_scan_finds_the_cupy_code():
    """Guards the scanner itself: the files known to call CuPy are seen doing so."""
    names = {name for _path, name in USED}
    for expected in ("cupy.RawModule", "cupy.cuda.Stream", "cupyx.scatter_add",
                     "cupy._core._routines_linalg.get_compute_type", "cupy.cuda.runtime.memGetInfo"):
        assert expected in names


@pytest.mark.parametrize("path, name", USED, ids=[f"{p}:{n}" for p, n in USED])
def test_every_cupy_name_used_exists(path, name):
    _resolve(name)


#: Methods and attributes called on objects CuPy hands back, by the class of those objects.
METHODS = {
    "cupy.cuda.Stream": ("begin_capture", "end_capture", "record", "wait_event", "__enter__", "__exit__"),
    "cupy.cuda.Event": ("synchronize",),
    "cupy.cuda.Graph": ("launch",),
    "cupy.cuda.MemoryPool": ("malloc", "free_bytes", "free_all_blocks"),
    "cupy.cuda.Device": ("attributes", "compute_capability", "id", "synchronize", "__enter__", "__exit__"),
    "cupy.cuda.memory.MemoryPointer": ("ptr",),
    "cupy.RawModule": ("get_function",),
    "cupy.ndarray": ("set", "get", "astype", "copy", "flags", "data", "device", "nbytes", "view", "reshape"),
}


@pytest.mark.parametrize("owner", sorted(METHODS))
def test_methods_called_on_cupy_objects_exist(owner):
    cls = _resolve(owner)
    missing = [name for name in METHODS[owner] if not hasattr(cls, name)]
    assert not missing, f"{owner} has no {missing}"


def test_the_stream_is_what_a_capture_returns_and_a_record_gives():
    # end_capture() returns a Graph and record() an Event: the methods above are theirs
    assert "Graph" in (inspect.getdoc(cupy.cuda.Stream.end_capture) or "")
    assert "Event" in (inspect.getdoc(cupy.cuda.Stream.record) or "")


def test_keyword_arguments_match_cupy_signatures():
    assert "non_blocking" in inspect.signature(cupy.cuda.Stream).parameters
    assert list(inspect.signature(cupyx.scatter_add).parameters) == ["a", "slices", "value"]
    assert {"shape", "dtype"} <= set(inspect.signature(cupyx.empty_pinned).parameters)
    assert "stream" in (inspect.getdoc(cupy.ndarray.set) or "")


def test_cupy_out_of_memory_is_a_memory_error():
    """The chunk policy retries on MemoryError (kernels.out_of_memory_errors); CuPy's must be one."""
    assert issubclass(cupy.cuda.memory.OutOfMemoryError, MemoryError)


def test_tensor_core_compute_types_exist():
    from cupy._core import _routines_linalg as linalg

    for name in ("COMPUTE_TYPE_TF32", "COMPUTE_TYPE_BF16", "COMPUTE_TYPE_DEFAULT"):
        assert isinstance(getattr(linalg, name), int), name


def _nvrtc_or_skip():
    from cupy.cuda import nvrtc

    try:
        return nvrtc.getVersion()
    except Exception as error:  # noqa: BLE001 - no NVRTC library is a skip, with the reason
        pytest.skip(f"NVRTC is not loadable ({type(error).__name__}: {error}); pip install nvidia-cuda-nvrtc")


@pytest.mark.parametrize("arch", ["80", "90"])
@pytest.mark.parametrize("name, kernels", sorted(CUDA_KERNELS.items()))
def test_nvrtc_compiles_each_source_as_cupy_would(monkeypatch, arch, name, kernels):
    """nvcc (tests/test_cuda_sources.py) is not NVRTC: NVRTC has no host headers, no source
    folder, and CuPy adds options of its own. This is CuPy's own NVRTC path, with the options
    ``cuda_module`` passes, where only the GPU query that picks the architecture is replaced."""
    _nvrtc_or_skip()
    from cupy.cuda import compiler

    from gkmeans._kernels.experimental import cuda_sources

    built = []
    monkeypatch.setattr(cupy, "RawModule", lambda code, options: built.append((code, options)) or "module")
    cuda_sources.cuda_module(name)
    code, options = built[0]
    # What _compile_with_cache_cuda adds before NVRTC runs (the rest, the architecture and
    # --device-as-default-execution-space, compile_using_nvrtc adds itself).
    options = (*options, "-ftz=true")
    monkeypatch.setattr(compiler, "_get_arch_for_options_for_nvrtc", lambda arch: (f"-arch=sm_{arch}", "cubin"))
    cubin, _name_mapping = compiler.compile_using_nvrtc(code, options=options, arch=arch)
    assert cubin[:4] == b"\x7fELF"
    for kernel in kernels:
        assert kernel.encode() in cubin, f"{kernel} is not in the compiled module"
