"""What ``gkmeans.accel`` did with each call: accelerated, or run by scikit-learn and why.

Each patched entry point calls :func:`record` once per call. The counts live in this module
(one process-wide table behind a lock), :func:`summary` returns them and :func:`format_summary`
prints them, as ``GKMEANS_ACCEL_REPORT=1`` does at exit.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

#: The ``gkmeans.accel`` logger: one DEBUG line per call that falls back, naming why.
LOGGER = logging.getLogger("gkmeans.accel")

_LOCK = threading.Lock()
#: (call, reason) -> count; reason None means accelerated.
_COUNTS: Counter = Counter()


def record(call: str, reason: str | None) -> None:
    """Count one ``call`` ("KMeans.fit", ...): accelerated when ``reason`` is None, else run by
    scikit-learn for ``reason`` (also logged at DEBUG level)."""
    with _LOCK:
        _COUNTS[(call, reason)] += 1
    if reason is not None and LOGGER.isEnabledFor(logging.DEBUG):
        LOGGER.debug("%s runs scikit-learn's own implementation: %s", call, reason)


def reset() -> None:
    """Forget every recorded call."""
    with _LOCK:
        _COUNTS.clear()


def summary() -> dict[str, Any]:
    """The calls recorded so far, per call name.

    Returns
    -------
    summary : dict
        ``{"accelerated": int, "fallback": int, "calls": {name: {"accelerated": int,
        "fallback": {reason: int}}}}``.
    """
    with _LOCK:
        counts = dict(_COUNTS)
    calls: dict[str, dict[str, Any]] = {}
    for (call, reason), count in sorted(
        counts.items(), key=lambda item: (item[0][0], item[0][1] or "")
    ):
        entry = calls.setdefault(call, {"accelerated": 0, "fallback": {}})
        if reason is None:
            entry["accelerated"] += count
        else:
            entry["fallback"][reason] = count
    return {
        "accelerated": sum(entry["accelerated"] for entry in calls.values()),
        "fallback": sum(sum(entry["fallback"].values()) for entry in calls.values()),
        "calls": calls,
    }


def format_summary(report: dict[str, Any] | None = None) -> str:
    """:func:`summary` as a few lines of text (what ``GKMEANS_ACCEL_REPORT=1`` prints)."""
    report = summary() if report is None else report
    lines = [
        f"gkmeans.accel: {report['accelerated']} call(s) accelerated, "
        f"{report['fallback']} run by scikit-learn"
    ]
    for call, entry in report["calls"].items():
        lines.append(f"  {call}: {entry['accelerated']} accelerated")
        for reason, count in entry["fallback"].items():
            lines.append(f"  {call}: {count} by scikit-learn ({reason})")
    return "\n".join(lines)
