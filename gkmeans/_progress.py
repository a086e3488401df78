"""A small progress bar for the command line (restarts x iterations), on a terminal only."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Draws ``label [#####.....] run r/R, iteration i`` on one line of ``stream``.

    Silent when the stream is not a terminal, or when ``enabled`` is False.
    Redraws at most ten times a second.
    """

    def __init__(
        self,
        label: str,
        n_runs: int,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        width: int = 30,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label, self.n_runs, self.width = label, max(1, n_runs), width
        self._last = 0.0

    def __call__(self, run: int, iteration: int, max_iter: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and iteration != max_iter:
            return
        self._last = now
        done = (run + min(iteration, max_iter) / max(1, max_iter)) / self.n_runs
        filled = int(round(done * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] run {run + 1}/{self.n_runs}, iteration {iteration}"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (len(self.label) + self.width + 40) + "\r")
            self.stream.flush()
