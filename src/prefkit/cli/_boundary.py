"""The CLI's error boundary: every error becomes one ``error: ...`` line on stderr and an exit status.

Bad input (a :class:`~prefkit.errors.PrefkitError`, a usage error, a path the system refuses) exits with status 2;
anything else is a bug in prefkit: one line that says so, exit status 1, and the traceback only when
``PREFKIT_DEBUG=1``. The boundary sits in the root command group, so ``prefkit ...``, ``main(argv)`` and typer's
``CliRunner`` all go through it.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors its own click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click import exceptions as _cx  # type: ignore[no-redef]

from prefkit.errors import LENIENT_HINT, PrefkitError

BAD_INPUT = 2
BUG = 1

_OS_HINTS = {
    errno.ENOENT: "check the path (for an output, create its folder first)",
    errno.EISDIR: "give a file, not a directory",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EACCES: "check the permissions",
    errno.EPERM: "check the permissions",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENOSPC: "free some disk space or choose another path",
    errno.EADDRINUSE: "choose another port (--port)",
}


def one_line(text: str) -> str:
    """``text`` on one line (messages from other libraries may span several)."""
    return " ".join(str(text).split())


def describe(exc: BaseException) -> tuple[str, int]:
    """The ``error:`` message and the exit status for ``exc``."""
    if isinstance(exc, PrefkitError):
        return one_line(_as_flags(_cli_hint(str(exc), exc), exc)), BAD_INPUT
    if isinstance(exc, _cx.UsageError):
        cmd = exc.ctx.command_path if exc.ctx is not None else "prefkit"
        return one_line(f"{exc.format_message()} (see '{cmd} --help')"), BAD_INPUT
    if isinstance(exc, _cx.ClickException):
        return one_line(exc.format_message()), BAD_INPUT
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        where = f"{exc.filename}: " if exc.filename else ""
        hint = _OS_HINTS.get(exc.errno or 0)
        return one_line(f"{where}{reason}" + (f"; {hint}" if hint else "")), BAD_INPUT
    if isinstance(exc, sqlite3.DatabaseError):
        return one_line(f"the project store cannot be used ({exc}); is --db a prefkit store file?"), BAD_INPUT
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller input or a machine with more memory", BAD_INPUT
    return (
        one_line(
            f"internal error ({type(exc).__name__}: {exc}); this is a bug in prefkit: please report it with the "
            "command line (PREFKIT_DEBUG=1 shows the traceback)"
        ),
        BUG,
    )


def _cli_hint(message: str, exc: BaseException) -> str:
    """Name the command's flag, not the library's argument: ``--skip-bad`` where the command has it."""
    if LENIENT_HINT not in message:
        return message
    has_flag = any(
        "skip_bad" in frame.f_code.co_varnames
        for frame, _ in traceback.walk_tb(exc.__traceback__)
        if frame.f_globals.get("__name__", "").startswith("prefkit.cli.")
    )
    # a command without the flag (validate, rank, ...) points to the one that lists every bad row
    hint = (
        " (or pass --skip-bad to skip such rows)"
        if has_flag
        else " (prefkit info FILE --skip-bad lists every bad row)"
    )
    return message.replace(LENIENT_HINT, hint)


def _leaf_command(exc: BaseException) -> Any:
    """The (sub)command that was running when ``exc`` was raised: the deepest click context in its traceback."""
    found = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        for key in ("ctx", "self"):
            obj = frame.f_locals.get(key)
            cmd = getattr(obj, "command", None)
            if cmd is not None and hasattr(obj, "params") and not hasattr(cmd, "commands"):
                found = cmd
    return found


def _as_flags(message: str, exc: BaseException) -> str:
    """Library messages name arguments (``ci='bootstrap'``, ``level must ...``); say the command's flags instead."""
    cmd = _leaf_command(exc)
    if cmd is None:
        return message
    for p in cmd.params:
        flags = [o for o in p.opts if o.startswith("--")]
        if not flags or not p.name:
            continue
        flag = flags[0]
        message = re.sub(rf"(?<![\w-]){re.escape(p.name)}=(['\"]?)([^'\"\s,;)]+)\1", rf"{flag} \2", message)
        message = re.sub(rf"(?<![\w-]){re.escape(p.name)}(?= (must|has to|should) )", flag, message)
    return message


def _passes(exc: BaseException) -> bool:
    """Exceptions the boundary leaves alone: exits, Ctrl-C, help screens, and a closed pipe on stdout."""
    if isinstance(exc, typer.Exit | typer.Abort | KeyboardInterrupt | SystemExit):
        return True
    if isinstance(exc, _cx.NoArgsIsHelpError):  # a group called without a command prints its help
        return True
    return isinstance(exc, BrokenPipeError)


@contextmanager
def boundary() -> Iterator[None]:
    """Turn any exception raised inside into one ``error:`` line on stderr and ``typer.Exit``."""
    try:
        yield
    except BaseException as exc:
        if _passes(exc) or not isinstance(exc, Exception):
            raise
        msg, status = describe(exc)
        if status == BUG and os.environ.get("PREFKIT_DEBUG") == "1":
            raise
        sys.stderr.write(f"error: {msg}\n")
        sys.stderr.flush()
        raise typer.Exit(status) from None


class BoundaryGroup(TyperGroup):
    """The root command group: parsing and running every (sub)command happen inside :func:`boundary`."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with boundary():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with boundary():
            return super().invoke(ctx)
