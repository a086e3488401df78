"""Two versions of gkmeans side by side: ``python -m benchmarks compare --before A.json ... --after B.json ...``.

Each file is the JSON a ``python -m benchmarks run`` wrote. Runs of one side are combined by the
median time per iteration; run the two trees alternately (A B B A ...) in one session so that
machine noise falls on both. For every gkmeans row the table gives the time per Lloyd iteration
before and after, their ratio, and whether the fits agree exactly: the same inertia after the
fixed iterations, the same converged inertia and the same number of iterations to converge.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

Key = tuple[str, int, int, int, str]


def load_rows(paths: list[str]) -> dict[Key, list[dict[str, Any]]]:
    """The gkmeans rows of every file, by (peer, n, d, k, dtype)."""
    rows: dict[Key, list[dict[str, Any]]] = {}
    for path in paths:
        for row in json.loads(Path(path).read_text(encoding="utf-8"))["rows"]:
            if not row["peer"].startswith("gkmeans") or row.get("status") != "ok":
                continue
            key = (row["peer"], row["n"], row["d"], row["k"], row["dtype"])
            rows.setdefault(key, []).append(row)
    return rows


def same_results(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """Whether every run of both sides gave the same inertias and iteration count."""
    fields = ("inertia_fixed_iter", "inertia_converged", "converge_iter")
    seen = {tuple(row.get(field) for field in fields) for row in before + after}
    return len(seen) == 1


def compare(before: list[str], after: list[str]) -> tuple[str, float]:
    """The Markdown table and the median after / before ratio over all rows."""
    old, new = load_rows(before), load_rows(after)
    lines = [
        "| peer | n | d | k | dtype | ms/iter before | ms/iter after | after / before | same results |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for key in sorted(set(old) & set(new)):
        t_old = statistics.median(row["ms_per_iter"] for row in old[key])
        t_new = statistics.median(row["ms_per_iter"] for row in new[key])
        ratios.append(t_new / t_old)
        peer, n, d, k, dtype = key
        same = "yes" if same_results(old[key], new[key]) else "NO"
        lines.append(
            f"| {peer} | {n:,} | {d} | {k} | {dtype} | {t_old:.3f} | {t_new:.3f} | "
            f"{t_new / t_old:.2f} | {same} |"
        )
    if not ratios:
        raise SystemExit("no gkmeans row appears on both sides")
    return "\n".join(lines), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks compare", description=__doc__)
    parser.add_argument("--before", nargs="+", required=True, help="result JSONs of the old tree")
    parser.add_argument("--after", nargs="+", required=True, help="result JSONs of the new tree")
    args = parser.parse_args()
    table, median_ratio = compare(args.before, args.after)
    print(table)
    print(f"\nmedian after / before: {median_ratio:.3f}")


if __name__ == "__main__":
    main()
