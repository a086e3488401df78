"""
CPU and GPU timings from the committed benchmark results
========================================================

``python -m benchmarks run`` (and ``--device gpu`` on a GPU machine) writes every figure of a run
to ``benchmarks/results/<device>-<date>.json``. This example reads every such file in the
repository and plots the time per Lloyd iteration of each peer, float32, from the same k-means++
start: CPU rows and GPU rows side by side where both exist. Times from different runs and
machines compare only roughly; within one file, peers ran side by side on the same data.
"""

# %%
# Find the results. A run's JSON holds ``meta`` (device, date, versions, CPU model) and ``rows``
# (one per peer and point).
import json
from pathlib import Path

import matplotlib.pyplot as plt

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run line by line in an interpreter
    HERE = Path.cwd()
RESULTS = next(
    (p for p in (HERE.parent / "benchmarks" / "results", Path("benchmarks/results")) if p.is_dir()),
    None,
)


def latest_runs(folder):
    """The latest grid run per device: {device: (path, data)}."""
    runs = {}
    for path in sorted(folder.glob("*.json")) if folder else []:
        data = json.loads(path.read_text())
        rows = data.get("rows") if isinstance(data, dict) else None
        if not rows or "ms_per_iter" not in rows[0] or "peer" not in rows[0]:
            continue  # another benchmark (restarts, dask, ...): not a timing grid
        device = data.get("meta", {}).get("device", path.stem.split("-")[0])
        if device not in runs or data["meta"].get("date", "") >= runs[device][1]["meta"].get(
            "date", ""
        ):
            runs[device] = (path, data)
    return runs


runs = latest_runs(RESULTS)
for device, (path, data) in sorted(runs.items()):
    meta = data["meta"]
    machine = (
        meta.get("gpus")
        if device == "gpu"
        else f"{meta.get('cpu_model')}, {meta.get('cpu_count')} cores"
    )
    print(f"{device}: {path.name}, {meta.get('date')}, {machine}")
if "gpu" not in runs:
    print("No GPU results in benchmarks/results yet: only CPU rows are plotted.")


def timed(rows):
    """float32 rows that ran, with a time per iteration."""
    return [
        r
        for r in rows
        if r.get("dtype") == "float32" and r.get("status") == "ok" and r.get("ms_per_iter")
    ]


def power_of_ten(n):
    """10^6 for 1,000,000; other numbers with thousands separators."""
    text = str(n)
    if text.startswith("1") and set(text[1:]) <= {"0"} and n >= 10:
        return f"$10^{{{len(text) - 1}}}$"
    return f"{n:,}"


# %%
# Time per iteration at every point of each run, one panel per device (log scale).
devices = ["cpu", "gpu"]
fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
for ax, device in zip(axes, devices):
    if device not in runs:
        ax.text(
            0.5,
            0.5,
            f"No {device.upper()} results\nin benchmarks/results",
            ha="center",
            va="center",
            fontsize=14,
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        continue
    path, data = runs[device]
    rows = timed(data["rows"])
    points = sorted({(r["n"], r["d"], r["k"]) for r in rows})
    peers = sorted({r["peer"] for r in rows})
    for j, peer in enumerate(peers):
        mine = {(r["n"], r["d"], r["k"]): r["ms_per_iter"] for r in rows if r["peer"] == peer}
        xs = [i for i, p in enumerate(points) if p in mine]
        shift = 0.5 * (j - (len(peers) - 1) / 2) / len(peers)  # side by side within a point
        ax.plot(
            [x + shift for x in xs],
            [mine[points[i]] for i in xs],
            "o" if peer.startswith("gkmeans") else "s",
            markersize=7,
            label=peer,
        )
    ax.set_xticks(
        range(len(points)),
        [f"n={power_of_ten(n)}\nd={d}\nk={k}" for n, d, k in points],
        fontsize="small",
    )
    for x in range(len(points) - 1):
        ax.axvline(x + 0.5, color="0.85", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("ms per iteration (float32, log scale)")
    ax.set_title(f"{device.upper()}: {path.name}")
    ax.legend(fontsize="small")
plt.show()

# %%
# At the one point both grids share (n = 10^6, d = 32, k = 64, float32), every peer of every
# device on one scale.
POINT = (1_000_000, 32, 64)
bars = []
for device, (path, data) in sorted(runs.items()):
    for r in timed(data["rows"]):
        if (r["n"], r["d"], r["k"]) == POINT:
            bars.append((f"{r['peer']} ({device})", r["ms_per_iter"], device))
bars.sort(key=lambda bar: bar[1])

fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(bars), 4) + 1.2), layout="constrained")
colours = {"cpu": "tab:blue", "gpu": "tab:green"}
ax.barh(
    [b[0] for b in bars], [b[1] for b in bars], color=[colours.get(b[2], "tab:gray") for b in bars]
)
for y, (_, ms, _) in enumerate(bars):
    ax.text(ms, y, f" {ms:.1f}", va="center", fontsize="small")
ax.margins(x=0.12)
if bars and max(b[1] for b in bars) > 20 * min(b[1] for b in bars):
    ax.set_xscale("log")  # GPU and CPU times differ by orders of magnitude
ax.set_xlabel("ms per iteration")
title = "n = 10^6, d = 32, k = 64, float32"
if "gpu" not in runs:
    title += "\n(no GPU results committed yet: CPU only)"
ax.set_title(title)
plt.show()
