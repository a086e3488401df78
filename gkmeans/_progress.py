"""Progress for the command line: tqdm bars on stderr, on a terminal only.

tqdm is optional (the ``progress`` extra): without it, or when stderr is not a terminal (a
pipe, a file, a test), or under ``--quiet``, every bar here is a no-op object with the same
methods, so a command never fails for want of a progress bar and its stdout stays clean.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

#: The size assumed for a terminal that reports none (a pseudo-terminal never sized): tqdm
#: draws nothing on a terminal of 0 rows.
FALLBACK_SIZE = (80, 24)


def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
    """Whether to show progress: not ``quiet`` and ``stream`` (default stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return not quiet and bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class _Postfix:
    """Text after the bar. Not a ``str``: tqdm prefixes a string postfix with ", "."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __format__(self, spec: str) -> str:
        return format(self.text, spec)


def set_postfix(progress: Any, text: str) -> None:
    """Show ``text`` after the bar (redrawn at tqdm's next update)."""
    progress.postfix = _Postfix(text)


class NullBar:
    """The methods of a tqdm bar used here, doing nothing."""

    n = 0.0
    postfix: Any = None

    def update(self, n: float = 1) -> None:
        """Nothing to draw."""

    def refresh(self) -> None:
        """Nothing to draw."""

    def close(self) -> None:
        """Nothing to clear."""

    def __enter__(self) -> NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(
    label: str,
    total: float | None,
    *,
    quiet: bool = False,
    unit: str = "it",
    stream: TextIO | None = None,
    bar_format: str | None = None,
    postfix: str | None = None,
) -> Any:
    """A tqdm bar on ``stream`` (default stderr) when :func:`wanted`, else a :class:`NullBar`;
    ``postfix`` is the text after the bar (see :func:`set_postfix`).

    The bar is cleared when closed (``leave=False``): the command's summary follows it.
    """
    stream = sys.stderr if stream is None else stream
    if not wanted(quiet, stream):
        return NullBar()
    try:
        from tqdm import tqdm
    except ImportError:  # progress is optional: no bar rather than no command
        return NullBar()
    try:
        sized = os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):
        sized = False
    return tqdm(
        total=total,
        desc=label,
        unit=unit,
        file=stream,
        leave=False,
        dynamic_ncols=sized,  # follow the terminal's width where it reports one
        ncols=None if sized else FALLBACK_SIZE[0],
        nrows=None if sized else FALLBACK_SIZE[1],
        bar_format=bar_format,
        postfix=None if postfix is None else _Postfix(postfix),
    )


class FitProgress:
    """``progress(run, iteration, max_iter)`` for :func:`gkmeans.estimator.fit_with_progress`:
    one bar over the restarts, each run's share filled by its iterations out of ``max_iter``
    (a run that converges early jumps to its end)."""

    def __init__(self, label: str, n_runs: int, *, quiet: bool = False) -> None:
        self.n_runs = max(1, n_runs)
        self.bar = bar(
            label,
            self.n_runs,
            quiet=quiet,
            unit="run",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}]",
            postfix=f"run 1/{self.n_runs}",
        )

    def __call__(self, run: int, iteration: int, max_iter: int) -> None:
        done = min(self.n_runs, run + min(iteration, max_iter) / max(1, max_iter))
        set_postfix(self.bar, f"run {run + 1}/{self.n_runs}, iteration {iteration}")
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """Clear the bar."""
        self.bar.close()


class Count:
    """``progress(done, total)`` for a count known only when the work starts (the frames of
    an animation): a bar over ``total``, made at the first call, named by ``name(done)``."""

    def __init__(self, label: str, name: Any, *, quiet: bool = False, unit: str = "it") -> None:
        self.label, self.name, self.quiet, self.unit = label, name, quiet, unit
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = bar(
                self.label,
                total,
                quiet=self.quiet,
                unit=self.unit,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}]",
                postfix=self.name(0),
            )
        set_postfix(self.bar, self.name(done))
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """Clear the bar."""
        if self.bar is not None:
            self.bar.close()


class Steps:
    """A bar over named steps (``with Steps("compress-image", ["read", "fit"]) as steps:``,
    then ``steps.next()`` before each step)."""

    def __init__(self, label: str, names: list[str], *, quiet: bool = False) -> None:
        self.names, self.index = names, -1
        self.bar = bar(
            label,
            len(names),
            quiet=quiet,
            unit="step",
            bar_format="{desc}: {n_fmt}/{total_fmt} {postfix} [{elapsed}]",
            postfix=names[0] if names else None,
        )

    def next(self) -> None:
        """Mark the previous step done and name the next."""
        self.index += 1
        if self.index < len(self.names):
            set_postfix(self.bar, self.names[self.index])
        if self.index > 0:
            self.bar.update(1)
        self.bar.refresh()  # a step is worth drawing even within tqdm's minimum interval

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
