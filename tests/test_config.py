"""gkmeans.config: every GKMEANS_* variable read and checked in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gkmeans import config

PACKAGE = Path(__file__).resolve().parents[1] / "gkmeans"


def test_no_module_but_config_reads_the_environment():
    readers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if re.search(r"os\.environ|os\.getenv", path.read_text(encoding="utf-8"))
    ]
    assert readers == ["config.py"]


def test_every_variable_the_package_names_is_in_the_table():
    named = set()
    for path in PACKAGE.rglob("*.py"):
        named |= set(re.findall(r"\bGKMEANS_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    assert named == set(config.SETTINGS)
    for name, setting in config.SETTINGS.items():
        assert setting.name == name and setting.meaning and setting.allowed


def test_unset_and_blank_give_the_defaults(monkeypatch):
    for name in config.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert config.device_spec() == "auto"
    assert config.auto_gpu_min_work() == config.AUTO_GPU_MIN_WORK
    assert config.cpu_pass() == "auto"
    assert config.num_threads() is None
    assert config.gpu_chunk_bytes() == config.GPU_WORKSPACE_CAP
    assert (config.cuda_assign(), config.cuda_update()) == ("gemm", "scatter")
    assert config.experimental_kernels() is None
    monkeypatch.setenv("GKMEANS_CPU_PASS", "   ")
    assert config.cpu_pass() == "auto"


def test_values_are_parsed(monkeypatch):
    monkeypatch.setenv("GKMEANS_CPU_PASS", " NumPy ")
    monkeypatch.setenv("GKMEANS_NUM_THREADS", "3")
    monkeypatch.setenv("GKMEANS_GPU_CHUNK_BYTES", "3.2e7")
    monkeypatch.setenv("GKMEANS_AUTO_GPU_MIN_WORK", "inf")
    monkeypatch.setenv("GKMEANS_CUDA_UPDATE", "rows")
    assert config.cpu_pass() == "numpy"
    assert config.num_threads() == 3
    assert config.gpu_chunk_bytes() == 32_000_000
    assert config.auto_gpu_min_work() == float("inf")
    assert config.experimental_kernels() == ("gemm", "rows")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("GKMEANS_CPU_PASS", "fortran", r"expected one of \('auto', 'numba', 'numpy'\)"),
        ("GKMEANS_NUM_THREADS", "0", "expected an integer >= 1"),
        ("GKMEANS_NUM_THREADS", "two", "expected an integer >= 1"),
        ("GKMEANS_GPU_CHUNK_BYTES", "10", "must be at least 1048576 bytes"),
        ("GKMEANS_AUTO_GPU_MIN_WORK", "-1", "expected a number"),
        ("GKMEANS_CUDA_ASSIGN", "tiles", "expected one of"),
        ("GKMEANS_CUDA_UPDATE", "atomics", "expected one of"),
    ],
)
def test_bad_values_name_the_variable_and_the_value(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=rf"^{name}='{value}' .*{expected}"):
        config.read(name)
