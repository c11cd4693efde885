"""Shared helpers of the CLI commands: consoles, progress, JSON output, and the checks every command makes on
its input and output paths before it starts any work."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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

from prefkit.errors import InputError

PLAIN_WIDTH = 200  # width of rich output when it is piped (rich would otherwise cut tables at 80 columns)
PROGRESS_EVERY_S = 10.0  # a plain progress line this often when stderr is not a terminal


def _width(stream: Any) -> int | None:
    """None (rich measures the terminal) on a TTY; else $COLUMNS or a wide default, so pipes get whole lines."""
    try:
        if stream.isatty():
            return None
    except (AttributeError, ValueError):
        pass
    try:
        return max(int(os.environ.get("COLUMNS", PLAIN_WIDTH)), 40)
    except ValueError:
        return PLAIN_WIDTH


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


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
    """Progress on stderr; yields ``advance(n)``.

    A rich bar on a terminal; when stderr is piped (a log, ``make demo``), one plain line every
    ``PROGRESS_EVERY_S`` seconds (so a short step prints nothing). Nothing at all when ``quiet``.
    """
    if quiet:
        yield lambda n=1: None
        return
    if not err_console.is_terminal:
        with _plain_progress(description, total) as advance:
            yield advance
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


@contextmanager
def _plain_progress(description: str, total: float | None) -> Iterator[Any]:
    t0 = time.monotonic()
    state = {"done": 0.0, "next": t0 + PROGRESS_EVERY_S, "printed": False}

    def line(now: float) -> str:
        done = state["done"]
        of = f"/{total:,.0f} ({100 * done / total:.0f}%)" if total else ""
        return f"{description}: {done:,.0f}{of}, {now - t0:.0f} s"

    def advance(n: float = 1) -> None:
        state["done"] += n
        now = time.monotonic()
        if now >= state["next"]:
            state["next"] = now + PROGRESS_EVERY_S
            state["printed"] = True
            sys.stderr.write(line(now) + "\n")
            sys.stderr.flush()

    yield advance
    if state["printed"]:
        sys.stderr.write(line(time.monotonic()) + " done\n")
        sys.stderr.flush()


# -- paths: checked when the command line is parsed, before any work -----------------------------------------


def input_file(path: Path | None) -> Path | None:
    """A data file to read: it must exist and be a readable file. ``-`` reads standard input (spooled to a
    temporary file, removed at exit, since formats are detected from the content and Parquet needs seeking)."""
    if path is None:
        return None
    if str(path) == "-":
        return _spool_stdin()
    if not path.exists():
        raise InputError("no such file; check the path", path=path)
    if path.is_dir():
        raise InputError("is a directory; give a data file", path=path)
    if not os.access(path, os.R_OK):
        raise InputError("cannot read the file (permission denied); check its permissions", path=path)
    return path


def input_shards(path: Path | None) -> Path | None:
    """A data file as :func:`input_file`, or a directory of Parquet shards, or a glob pattern (``'logs/*.parquet'``,
    quoted); the shards are listed (and a directory without any refused) where they are read."""
    from prefkit.storage.shards import is_pattern

    if path is not None and (path.is_dir() or is_pattern(path)):
        return path
    return input_file(path)


ENGINE_HELP = "Where the bulk work runs: local (this process) or ray (a Ray cluster; the ray extra)."
RAY_ADDRESS_HELP = (
    "With --engine ray: HOST:PORT of the cluster's head (what `ray start --head` prints); default: RAY_ADDRESS, "
    "else a cluster started on this machine, else a private Ray in this process."
)


def output_file(path: Path | None) -> Path | None:
    """A file to write: its folder must exist and be writable, and the path must not be a directory."""
    if path is None or str(path) == "-":
        return path
    if path.is_dir():
        raise InputError("is a directory; give a file name to write", path=path)
    _writable_folder(path, Path(os.path.abspath(path)).parent)
    existed = path.exists()
    try:  # a real probe (permissions, read-only or special file systems): append nothing, or create and remove
        with path.open("ab"):
            pass
    except OSError as exc:
        what = "the file cannot be written" if existed else "the file cannot be created"
        raise InputError(f"{what} ({exc.strerror}); choose another path", path=path) from None
    if not existed:
        path.unlink(missing_ok=True)
    return path


def output_dir(path: Path | None) -> Path | None:
    """A directory to write (created with its parents): it must not be a file, and the nearest existing folder
    above it must be writable."""
    if path is None:
        return None
    if path.exists() and not path.is_dir():
        raise InputError("is a file, not a directory; give a directory to write into", path=path)
    anchor = Path(os.path.abspath(path))
    while not anchor.exists():
        anchor = anchor.parent
    if not anchor.is_dir():
        raise InputError(
            f"{anchor} is a file, so no directory can be created under it; choose another path", path=path
        )
    if not os.access(anchor, os.W_OK):
        raise InputError(
            f"cannot write in folder {anchor} (permission denied); choose another path", path=path
        )
    return path


def store_file(path: Path | None) -> Path | None:
    """A project store (SQLite file) that may be created: not a directory, in an existing writable folder."""
    if path is None:
        return None
    if path.is_dir():
        raise InputError("is a directory; --db takes the project store file (e.g. project.db)", path=path)
    if not path.exists():
        _writable_folder(path, Path(os.path.abspath(path)).parent)
    return path


def _writable_folder(path: Path, folder: Path) -> None:
    if not folder.exists():
        raise InputError(f"folder {folder} does not exist; create it first (mkdir -p {folder})", path=path)
    if not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder; choose another path", path=path)
    if not os.access(folder, os.W_OK):
        raise InputError(
            f"cannot write in folder {folder} (permission denied); choose another path", path=path
        )


STDIN_NAME = "stdin"
STDIN_PREFIX = "prefkit-stdin-"


def shown(path: Path) -> str:
    """How to name ``path`` to the user: ``<stdin>`` for standard input spooled by :func:`input_file`."""
    if path.name == STDIN_NAME and path.parent.name.startswith(STDIN_PREFIX):
        return "<stdin>"
    return str(path)


def _spool_stdin() -> Path:
    """Copy standard input to a temporary file (removed at exit) and return its path."""
    import atexit

    folder = Path(tempfile.mkdtemp(prefix=STDIN_PREFIX))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    target = folder / STDIN_NAME
    src = getattr(sys.stdin, "buffer", None)
    with target.open("wb") as fh:
        if src is not None:
            shutil.copyfileobj(src, fh)
        else:  # a text stream without a buffer
            fh.write(sys.stdin.read().encode("utf-8"))
    return target
