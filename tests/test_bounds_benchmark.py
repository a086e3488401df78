"""``python -m benchmarks.bounds`` as a user runs it, and its GPU rows on a CPU stand-in
(the timings themselves live in benchmarks/results)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
ROOT = Path(__file__).resolve().parent.parent
# benchmarks/ is not installed: found in this checkout.
sys.path.append(str(ROOT))


def _bounds(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.bounds", *args, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_quick_cpu_run_writes_every_contender_at_equal_inertia(tmp_path):
    done = _bounds("--quick", "--repeats", "1", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = json.loads(next(tmp_path.glob("bounds-*.json")).read_text())["rows"]
    assert sorted(p.name.split(".")[-1] for p in tmp_path.iterdir()) == ["json", "md", "png"]
    for problem in {(r["problem"], r["k"]) for r in rows}:
        here = [r for r in rows if (r["problem"], r["k"]) == problem]
        names = {r["peer"] for r in here}
        assert {f"gkmeans-{a}" for a in ("lloyd", "hamerly", "elkan", "yinyang", "auto")} <= names
        assert {"sklearn-lloyd", "sklearn-elkan"} <= names
        peers = [r["ratio_vs_fastest_peer"] for r in here if not r["peer"].startswith("gkmeans")]
        assert min(peers) == 1.0
        assert all(abs(r["inertia_vs_best"]) < 1e-3 for r in here)
    assert "| gkmeans-auto (" in next(tmp_path.glob("bounds-*.md")).read_text()


def test_gpu_run_without_a_gpu_says_which_device_is_missing(tmp_path):
    import gkmeans

    if gkmeans.devices()[1].usable:
        pytest.skip("a GPU is here: the run would start in earnest")
    done = _bounds("--device", "gpu", "--quick", "--repeats", "1", tmp_path=tmp_path)
    assert done.returncode != 0
    assert "--device gpu needs a CUDA GPU" in done.stderr
    assert "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())


def _stand_in():
    """The GPU run's machinery with NumPy arrays, gkmeans on the CPU and the PyTorch peers on
    CPU tensors: what the rare GPU call would otherwise be the first to exercise."""
    from benchmarks.bounds_gpu import Target

    return Target("cpu", np.asarray, lambda: None, lambda fit: None, "cpu", "cpu", "CPU stand-in")


def _args(tmp_path: Path, **extra) -> argparse.Namespace:
    values = dict(repeats=2, blobs_n=0, gpu_large=1500, quick=False, max_seconds=None)
    return argparse.Namespace(out=str(tmp_path), **(values | extra))


def test_gpu_rows_on_a_cpu_stand_in(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from benchmarks import bounds_gpu
    from gkmeans.datasets import make_blobs

    X = make_blobs(1200, 3, 5, cluster_std=1.5, random_state=0)[0].astype(np.float32)
    monkeypatch.setattr(bounds_gpu, "problems", lambda blobs_n, quick: [("tiny", X, 5)])
    monkeypatch.setattr(bounds_gpu, "GPU_LARGE_D", 4)
    monkeypatch.setattr(bounds_gpu, "GPU_LARGE_K", 6)
    bounds_gpu.main(_args(tmp_path), "test", _stand_in())
    written = json.loads(next(tmp_path.glob("bounds-gpu-*.json")).read_text())
    rows, missing = written["rows"], written["missing"]
    assert not written["partial"] and written["left_out"] == []
    assert [r["problem"] for r in rows][0] == "blobs-1500x4"  # the blobs first
    assert {(r["problem"], r["k"]) for r in rows} == {("blobs-1500x4", 6), ("tiny", 5)}
    assert "fastkmeans" in missing  # its own start: not the shared one
    for problem in ("blobs-1500x4", "tiny"):
        here = {r["peer"]: r for r in rows if r["problem"] == problem}
        ours = [here[f"gkmeans-{a}"] for a in bounds_gpu.GKMEANS_ALGORITHMS]
        assert all(r["status"] == "ok" and len(r["all_seconds"]) == 2 for r in ours)
        assert all(abs(r["inertia_vs_best"]) < 1e-3 and 0 <= r["skipped"] < 1 for r in ours)
        assert "auto_chose" in here["gkmeans-auto"]
        peers = [r for name, r in here.items() if not name.startswith("gkmeans-")]
        assert {r["peer"] for r in peers} | set(missing) >= {"flash-kmeans", "fast-pytorch-kmeans"}
        assert all(r["status"] == "ok" or r["status"].startswith("error: ") for r in peers)
        basis = ours[0]["ratio_basis"]
        assert basis == [r["peer"] for r in peers if r["status"] == "ok"] or basis == [
            "gkmeans-lloyd"
        ]
        assert min(here[name]["ratio_vs_fastest_peer"] for name in basis) == 1.0
    report = next(tmp_path.glob("bounds-gpu-*.md")).read_text()
    assert "CPU stand-in" in report and "Peers missing here: " in report
    assert "**Partial**" not in report
    assert next(tmp_path.glob("bounds-gpu-*.png")).stat().st_size > 0


def test_gpu_run_out_of_time_says_what_it_left_out_and_which_peer_failed(tmp_path, monkeypatch):
    from benchmarks import bounds_gpu
    from benchmarks.peers import TorchPeer
    from gkmeans.datasets import make_blobs

    class Broken(TorchPeer):
        name = "broken"

        def available(self):
            return None

        def fit(self, X, init, max_iter, tol):
            raise RuntimeError("out of memory")

    X = make_blobs(800, 3, 4, random_state=0)[0].astype(np.float32)
    monkeypatch.setattr(bounds_gpu, "problems", lambda blobs_n, quick: [("a", X, 4), ("b", X, 3)])
    monkeypatch.setattr(bounds_gpu, "all_peers", lambda: [Broken()])
    bounds_gpu.main(_args(tmp_path, gpu_large=0, max_seconds=0), "test", _stand_in())
    written = json.loads(next(tmp_path.glob("bounds-gpu-*.json")).read_text())
    assert {r["problem"] for r in written["rows"]} == {"a"} and written["left_out"] == ["b k=3"]
    by_peer = {r["peer"]: r for r in written["rows"]}
    assert by_peer["broken"]["status"] == "error: RuntimeError: out of memory"
    assert by_peer["gkmeans-lloyd"]["ratio_vs_fastest_peer"] == 1.0
    report = next(tmp_path.glob("bounds-gpu-*.md")).read_text()
    assert "Left out (time budget of 0 s spent): b k=3" in report
    assert "(over gkmeans-lloyd's where none ran: a k=4)" in report
    assert "| a | 4 | broken | error: RuntimeError: out of memory |" in report


def test_gpu_run_with_no_gpu_peer_divides_by_gkmeans_lloyd(tmp_path, monkeypatch):
    from benchmarks import bounds_gpu
    from gkmeans.datasets import make_blobs

    X = make_blobs(800, 3, 4, random_state=0)[0].astype(np.float32)
    monkeypatch.setattr(bounds_gpu, "problems", lambda blobs_n, quick: [("a", X, 4)])
    monkeypatch.setattr(bounds_gpu, "all_peers", lambda: [])
    bounds_gpu.main(_args(tmp_path, gpu_large=0, repeats=1), "test", _stand_in())
    report = next(tmp_path.glob("bounds-gpu-*.md")).read_text()
    assert "no GPU peer can run here: '/ fastest peer' is the time over gkmeans-lloyd's" in report
    assert "Left out" not in report
