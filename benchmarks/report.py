"""What every benchmark script ends with: a Markdown table, printed, and JSON + Markdown files."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any


def today() -> str:
    return datetime.date.today().isoformat()


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table from header names and already formatted cells."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def write_report(out: str | Path, stem: str, header: str, table: str, payload: dict[str, Any]) -> None:
    """Print ``table`` and write ``<out>/<stem>.json`` (``payload``) and ``<out>/<stem>.md`` (header + table)."""
    print(table)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(payload, indent=2))
    (folder / f"{stem}.md").write_text(f"{header}\n\n{table}\n")
