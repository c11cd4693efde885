"""Shared helpers of the CLI commands: consoles, progress bars, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console()
err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (plain, so it can be piped)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_default) + "\n")
    sys.stdout.flush()


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@contextmanager
def progress_bar(description: str, total: float | None = None, *, quiet: bool = False) -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``advance(n)``. Silent when stderr is not a terminal or quiet."""
    if quiet:
        yield lambda n=1: None
        return
    prog = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
    with prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)


PLAIN_EVERY_S = 2.0


@contextmanager
def plain_progress(description: str, total: float | None = None) -> Iterator[Any]:
    """Progress for a stderr that is not a terminal (piped, logged): a plain line every PLAIN_EVERY_S seconds
    while the stage runs, and a last line when it ends if it printed any. Yields ``advance(n)``."""
    import time

    t0 = last = time.monotonic()
    done = 0
    printed = False

    def line() -> None:
        nonlocal printed
        of = f"/{total:,.0f} ({100 * done / total:.0f}%)" if total else ""
        err_console.print(
            f"{description}: {done:,}{of}, {time.monotonic() - t0:.0f} s", highlight=False, markup=False
        )
        printed = True

    def advance(n: int = 1) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= PLAIN_EVERY_S:
            last = now
            line()

    yield advance
    if printed:
        line()


def stage_progress(description: str, total: float | None = None) -> Any:
    """A rich progress bar on a terminal, plain periodic lines otherwise (a ``ProgressFactory``)."""
    if err_console.is_terminal:
        return progress_bar(description, total)
    return plain_progress(description, total)
