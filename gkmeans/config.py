"""Every ``GKMEANS_*`` environment variable, read and checked here and nowhere else.

Each variable is read when the code asks for it (once per call: tests and long-running
processes may change it between fits), parsed, and checked against its allowed values; a
bad value raises ``ValueError`` naming the variable and the value. The rest of the package
asks the functions of this module and never reads ``os.environ`` itself.

==============================  ==============================================  ===========
Variable                        Meaning and allowed values                      Default
==============================  ==============================================  ===========
``GKMEANS_DEVICE``              ``device=`` when an estimator is given None:    ``auto``
                                ``auto``, ``cpu``, ``gpu`` or ``cuda:N``
``GKMEANS_AUTO_GPU_MIN_WORK``   ``n_samples * n_features * n_clusters`` from    ``1e10``
                                which ``device="auto"`` moves a NumPy array to
                                a GPU: a number >= 0 (``inf``: never)
``GKMEANS_CPU_PASS``            the CPU Lloyd pass: ``auto`` (Numba where       ``auto``
                                installed and the work pays for loading it),
                                ``numpy`` or ``numba``
``GKMEANS_NUM_THREADS``         threads of the CPU pass: an integer >= 1        the CPUs this
                                                                                process may use
``GKMEANS_GPU_CHUNK_BYTES``     the largest chunk workspace on a GPU, bytes:    2 GiB
                                a number >= 1 MiB
``GKMEANS_CUDA_ASSIGN``         the CuPy assignment: ``gemm`` (cuBLAS +         ``gemm``
                                CuPy), or an experimental kernel: ``graph``,
                                ``fused``, ``triton``
``GKMEANS_CUDA_UPDATE``         the CuPy update: ``scatter``                    ``scatter``
                                (``cupyx.scatter_add``), or an experimental
                                one: ``sort``, ``rows``
``GKMEANS_ACCEL_REPORT``        print ``gkmeans.accel``'s report of accelerated ``0``
                                and fallen-back calls at exit: ``0`` or ``1``
==============================  ==============================================  ===========

The experimental kernels (:mod:`gkmeans._kernels.experimental`) are chosen only through
``GKMEANS_CUDA_ASSIGN`` and ``GKMEANS_CUDA_UPDATE``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable

__all__ = [
    "SETTINGS",
    "Setting",
    "accel_report",
    "auto_gpu_min_work",
    "cpu_pass",
    "cuda_assign",
    "cuda_update",
    "device_spec",
    "gpu_chunk_bytes",
    "num_threads",
    "read",
]

#: The smallest chunk workspace, in bytes (also the floor of ``GKMEANS_GPU_CHUNK_BYTES``).
MIN_WORKSPACE = 2**20
#: The largest chunk workspace on a GPU unless ``GKMEANS_GPU_CHUNK_BYTES`` says otherwise.
GPU_WORKSPACE_CAP = 2 * 2**30
#: ``n_samples * n_features * n_clusters`` from which ``device="auto"`` moves a NumPy array to a
#: usable GPU. Conservative until measured on a GPU: at this size one Lloyd iteration takes about
#: half a second or more on two CPU cores (0.09-0.17 s was measured at 2e9, n = 10^6, d = 32,
#: k = 64), while X is a few hundred megabytes to copy over PCIe once a fit.
AUTO_GPU_MIN_WORK = 10**10

#: Shares of row blocks per CPU thread in a threaded pass
#: (:func:`gkmeans._kernels.cpu_threads.in_threads`): the threads take shares until none is
#: left, so a thread slowed by another process on its core takes fewer. Each share keeps its
#: own partial results (a (k, d) float64 array of cluster sums in a Lloyd pass) until the pass
#: ends. Measured on 2 shared cores: docs/design-notes.md, "CPU pass: shares taken, not dealt".
CPU_SHARES_PER_THREAD = 4
#: From this many clusters the NumPy pass (no Numba) sums each block's rows by sorting them by
#: label, below it through a one-hot product. Measured per block of 4,096 float32 rows, one
#: thread: d = 16, k = 256: 0.19 ms sorted against 0.56 one-hot; d = 128, k = 1,024: 2.2 against
#: 12.4; d = 32, k = 64: 0.23 against 0.26; d = 32, k = 8: 0.28 against 0.06.
NUMPY_SORTED_SUMS_MIN_CLUSTERS = 128
#: ``GKMEANS_CPU_PASS`` values.
CPU_PASSES = ("auto", "numba", "numpy")
#: ``GKMEANS_CUDA_ASSIGN`` values: the default array path first, then the experimental kernels.
CUDA_ASSIGN_METHODS = ("gemm", "graph", "fused", "triton")
#: ``GKMEANS_CUDA_UPDATE`` values: the default first, then the experimental updates.
CUDA_UPDATE_METHODS = ("scatter", "sort", "rows")


@dataclass(frozen=True)
class Setting:
    """One environment variable: its meaning, allowed values, default and parser.

    ``parse(text)`` turns the variable's text (stripped, never empty) into the value, raising
    ``ValueError`` with the expectation (the caller adds the variable and the value).
    """

    name: str
    meaning: str
    allowed: str
    default: Any
    parse: Callable[[str], Any]


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.lower()
        if value not in choices:
            raise ValueError(f"is not recognised; expected one of {choices}")
        return value

    return parse


def _work_threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0:  # NaN fails the comparison too; "inf" means never
        msg = (
            "is not a work threshold; expected a number n_samples * n_features * n_clusters >= 0, "
            "such as 1e9 (inf: never)"
        )
        raise ValueError(msg)
    return value


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("is not a thread count; expected an integer >= 1") from None
    if value < 1:
        raise ValueError("is not a thread count; expected an integer >= 1")
    return value


def _chunk_bytes(text: str) -> int:
    try:
        value = int(float(text))
    except (ValueError, OverflowError):
        raise ValueError("must be a number of bytes") from None
    if value < MIN_WORKSPACE:
        raise ValueError(f"must be at least {MIN_WORKSPACE} bytes")
    return value


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError("is not a flag; expected 0 or 1")
    return text == "1"


def _device_text(text: str) -> str:
    return text  # parsed and checked by gkmeans.device.parse_device, which names the variable


#: The table of every variable, by name.
SETTINGS: dict[str, Setting] = {
    setting.name: setting
    for setting in (
        Setting(
            "GKMEANS_DEVICE",
            "device= when an estimator is given None",
            "auto, cpu, gpu or cuda:N",
            "auto",
            _device_text,
        ),
        Setting(
            "GKMEANS_AUTO_GPU_MIN_WORK",
            "n_samples * n_features * n_clusters from which device='auto' moves NumPy data to a "
            "GPU",
            "a number >= 0 (inf: never)",
            AUTO_GPU_MIN_WORK,
            _work_threshold,
        ),
        Setting(
            "GKMEANS_CPU_PASS",
            "the CPU Lloyd pass",
            "auto, numpy or numba",
            "auto",
            _choice(CPU_PASSES),
        ),
        Setting(
            "GKMEANS_NUM_THREADS",
            "threads of the CPU pass",
            "an integer >= 1",
            None,
            _thread_count,
        ),
        Setting(
            "GKMEANS_GPU_CHUNK_BYTES",
            "the largest chunk workspace on a GPU, in bytes",
            f"a number >= {MIN_WORKSPACE}",
            GPU_WORKSPACE_CAP,
            _chunk_bytes,
        ),
        Setting(
            "GKMEANS_CUDA_ASSIGN",
            "the CuPy assignment (anything but gemm is experimental)",
            ", ".join(CUDA_ASSIGN_METHODS),
            "gemm",
            _choice(CUDA_ASSIGN_METHODS),
        ),
        Setting(
            "GKMEANS_CUDA_UPDATE",
            "the CuPy update (anything but scatter is experimental)",
            ", ".join(CUDA_UPDATE_METHODS),
            "scatter",
            _choice(CUDA_UPDATE_METHODS),
        ),
        Setting(
            "GKMEANS_ACCEL_REPORT",
            "print gkmeans.accel's report of accelerated and fallen-back calls at exit",
            "0 or 1",
            False,
            _flag,
        ),
    )
}


def is_set(name: str) -> bool:
    """Whether the variable ``name`` of :data:`SETTINGS` is set to something other than blanks."""
    return bool(os.environ.get(SETTINGS[name].name, "").strip())


def read(name: str) -> Any:
    """The value of the variable ``name`` of :data:`SETTINGS`: its default when unset or blank.

    Raises
    ------
    ValueError
        If the variable holds a value it does not allow (the message names both).
    """
    setting = SETTINGS[name]
    text = os.environ.get(name, "").strip()
    if not text:
        return setting.default
    try:
        return setting.parse(text)
    except ValueError as error:
        raise ValueError(f"{name}={text!r} {error}") from None


def device_spec() -> str:
    """``GKMEANS_DEVICE`` as written (``gkmeans.device.parse_device`` parses it)."""
    return read("GKMEANS_DEVICE")


def auto_gpu_min_work() -> float:
    """``GKMEANS_AUTO_GPU_MIN_WORK``, else :data:`AUTO_GPU_MIN_WORK`."""
    return read("GKMEANS_AUTO_GPU_MIN_WORK")


def cpu_pass() -> str:
    """``GKMEANS_CPU_PASS``: "auto", "numpy" or "numba"."""
    return read("GKMEANS_CPU_PASS")


def num_threads() -> int | None:
    """``GKMEANS_NUM_THREADS``, or None when unset (use every CPU this process may)."""
    return read("GKMEANS_NUM_THREADS")


def gpu_chunk_bytes() -> int:
    """``GKMEANS_GPU_CHUNK_BYTES``, else :data:`GPU_WORKSPACE_CAP`."""
    return read("GKMEANS_GPU_CHUNK_BYTES")


def cuda_assign() -> str:
    """``GKMEANS_CUDA_ASSIGN``: "gemm" (default) or an experimental assignment."""
    return read("GKMEANS_CUDA_ASSIGN")


def cuda_update() -> str:
    """``GKMEANS_CUDA_UPDATE``: "scatter" (default) or an experimental update."""
    return read("GKMEANS_CUDA_UPDATE")


def experimental_kernels() -> tuple[str, str] | None:
    """``(GKMEANS_CUDA_ASSIGN, GKMEANS_CUDA_UPDATE)`` when either chooses an experimental GPU
    kernel, else None (each variable read once)."""
    chosen = (cuda_assign(), cuda_update())
    return None if chosen == (CUDA_ASSIGN_METHODS[0], CUDA_UPDATE_METHODS[0]) else chosen


def accel_report() -> bool:
    """``GKMEANS_ACCEL_REPORT``: whether ``gkmeans.accel`` prints its report at exit."""
    return read("GKMEANS_ACCEL_REPORT")
