"""The command line: demo and devices, success and bad input."""

from __future__ import annotations

import subprocess
import sys

from gkmeans.cli import main


def test_demo_prints_the_summary(capsys):
    assert main(["demo", "--n-samples", "3000", "--n-features", "4", "-k", "5"]) == 0
    out = capsys.readouterr().out
    for field in ("k           5", "inertia", "iterations", "device      cpu", "time"):
        assert field in out


def test_devices_lists_cpu(capsys):
    assert main(["devices"]) == 0
    assert capsys.readouterr().out.startswith("cpu")


def test_bad_device_is_one_line_and_exit_2(capsys):
    assert main(["demo", "--n-samples", "100", "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gkmeans: error: device='tpu' is not recognised") and err.count("\n") == 1


def test_python_dash_m_runs():
    done = subprocess.run([sys.executable, "-m", "gkmeans", "demo", "--n-samples", "2000"], capture_output=True,
                          text=True, check=True)
    assert "inertia" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "gkmeans", "demo", "--n-samples", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "must be >= 1" in bad.stderr and "Traceback" not in bad.stderr
