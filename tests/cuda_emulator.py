"""A stand-in for CuPy's ``RawModule`` that runs the shipped CUDA kernels on the host.

:class:`EmulatedRawModule` takes the same ``code`` and ``options`` as ``cupy.RawModule``,
prepends ``cuda_emulator.h`` and compiles the source with g++ into a shared library, with
one C trampoline per ``extern "C" __global__`` kernel. ``get_function(name)`` returns a
kernel called as CuPy's are, ``kernel(grid, block, args)``, with NumPy arrays where CuPy
arrays would be. So the library's own launch code (grid, block, argument order and types)
drives the kernels' own source.

Each call checks what the GPU would silently accept: every argument's type against the
kernel's parameter (an ``int`` parameter needs ``numpy.int32``, a ``float*`` a C-contiguous
float32 array, ...), and that the kernel wrote nothing outside its arrays (every array is
run in a copy with canary elements on both sides; reads of them show up as NaN or absurd
values in the results).
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HEADER = Path(__file__).with_name("cuda_emulator.h")
CXX = shutil.which("g++")

#: C parameter types of the kernels and what NumPy gives for them.
SCALARS = {"int": np.int32, "long long": np.int64, "float": np.float32, "double": np.float64}
POINTEES = {"float": np.float32, "double": np.float64, "long long": np.int64, "int": np.int32}
#: Elements of canary on each side of every array argument.
CANARY = 64

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)


def why_unavailable() -> str | None:
    """Why kernels cannot be emulated here (no C++20 compiler), or None."""
    if CXX is None:
        return "g++ is not installed"
    probe = "#include <barrier>\nint main() { std::barrier<> b(1); b.arrive_and_wait(); }\n"
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "probe.cpp"
        source.write_text(probe)
        done = subprocess.run([CXX, "-std=c++20", "-pthread", str(source), "-o", str(Path(folder) / "probe")],
                              capture_output=True, text=True)
    return None if done.returncode == 0 else f"g++ cannot compile C++20 <barrier>: {done.stderr[-300:]}"


@dataclass(frozen=True)
class Parameter:
    name: str
    base: str  # "float", "double", "int", "long long"
    pointer: bool


def parse_kernels(code: str) -> dict[str, list[Parameter]]:
    """The ``extern "C" __global__`` kernels of ``code`` and their parameters."""
    kernels = {}
    for name, params in _KERNEL.findall(code):
        parsed = []
        for text in params.split(","):
            text = text.replace("__restrict__", "").replace("const ", "").strip()
            match = re.fullmatch(r"(float|double|int|long long)\s*(\*?)\s*(\w+)", text)
            if match is None:
                raise ValueError(f"kernel {name}: parameter {text!r} is not emulated")
            parsed.append(Parameter(match.group(3), match.group(1), bool(match.group(2))))
        kernels[name] = parsed
    return kernels


def _trampoline(name: str, params: list[Parameter]) -> str:
    unpacked = ", ".join(f"*({p.base}{'*' if p.pointer else ''}*)args[{i}]" for i, p in enumerate(params))
    return (f'extern "C" const char* emulate_{name}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, '
            f"unsigned by, unsigned bz, void** args) {{\n"
            f"    return gk_emu::launch(dim3{{gx, gy, gz}}, dim3{{bx, by, bz}}, [&] {{ {name}({unpacked}); }});\n}}\n")


class EmulatedRawModule:
    """``cupy.RawModule(code=..., options=...)`` compiled for the host (see the module docstring)."""

    _built: dict[str, Path] = {}

    def __init__(self, code: str, options: tuple[str, ...] = ()) -> None:
        self.kernels = parse_kernels(code)
        includes = [option for option in options if option.startswith("-I")]
        unit = "\n".join(['#include "cuda_emulator.h"', code, *(_trampoline(n, p) for n, p in self.kernels.items())])
        key = hashlib.sha256((unit + "".join(includes)).encode()).hexdigest()[:16]
        if key not in self._built:
            folder = Path(tempfile.mkdtemp(prefix="gk-cuda-emu-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            (folder / "unit.cpp").write_text(unit)
            library = folder / "kernels.so"
            done = subprocess.run([CXX, "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-Wno-unknown-pragmas",
                                   f"-I{HEADER.parent}", *includes, str(folder / "unit.cpp"), "-o", str(library)],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"the kernel source does not compile for emulation:\n{done.stderr}")
            self._built[key] = library
        self.library = ctypes.CDLL(str(self._built[key]))

    def get_function(self, name: str) -> EmulatedKernel:
        if name not in self.kernels:
            raise KeyError(f"no kernel {name!r} in the module; it has {sorted(self.kernels)}")
        return EmulatedKernel(name, self.kernels[name], getattr(self.library, f"emulate_{name}"))


class EmulatedKernel:
    """One kernel, called as a ``cupy.RawKernel``: ``kernel(grid, block, args)``."""

    def __init__(self, name: str, params: list[Parameter], entry: Any) -> None:
        self.name, self.params, self.entry = name, params, entry
        self.entry.restype = ctypes.c_char_p
        self.launches: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def __call__(self, grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...]) -> None:
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, got {len(args)}")
        grid3 = (*map(int, grid), 1, 1)[:3]
        block3 = (*map(int, block), 1, 1)[:3]
        self.launches.append((grid3, block3))
        values, padded = [], []
        for param, arg in zip(self.params, args):
            if param.pointer:
                padded.append(self._padded(param, arg))
                values.append(ctypes.c_void_p(padded[-1][1].ctypes.data + CANARY * arg.itemsize))
            else:
                wanted = SCALARS[param.base]
                if type(arg) is not wanted:
                    raise TypeError(f"{self.name}: parameter {param.base} {param.name} needs numpy.{wanted.__name__}, "
                                    f"got {type(arg).__name__} (CuPy would pass it with another width)")
                values.append(np.ctypeslib.as_ctypes_type(wanted)(arg))
        pointers = (ctypes.c_void_p * len(values))(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
        error = self.entry(*grid3, *block3, pointers)
        if error is not None:
            raise RuntimeError(f"{self.name}: {error.decode()}")
        for (param, (original, buffer, canary)) in zip([p for p in self.params if p.pointer], padded):
            inside = buffer[CANARY: CANARY + original.size]
            for side, part in (("before", buffer[:CANARY]), ("after", buffer[CANARY + original.size:])):
                if part.tobytes() != canary.tobytes():
                    raise RuntimeError(f"{self.name} wrote {side} the end of its argument {param.name}")
            if inside.tobytes() != original.tobytes():  # inputs may be read-only: write back outputs only
                original.reshape(-1)[...] = inside  # a contiguous array: the view writes through

    def _padded(self, param: Parameter, arg: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        wanted = POINTEES[param.base]
        if not isinstance(arg, np.ndarray):
            raise TypeError(f"{self.name}: parameter {param.name} needs an array, got {type(arg).__name__}")
        if arg.dtype != wanted:
            raise TypeError(f"{self.name}: parameter {param.base}* {param.name} got a {arg.dtype} array")
        if not arg.flags.c_contiguous:
            raise TypeError(f"{self.name}: parameter {param.name} got a non-contiguous array "
                            f"(strides {arg.strides}); the kernel reads it as dense rows")
        canary = np.full(CANARY, np.nan if wanted in (np.float32, np.float64) else -(2**30), dtype=wanted)
        buffer = np.concatenate([canary, arg.reshape(-1), canary])
        return arg, buffer, canary
