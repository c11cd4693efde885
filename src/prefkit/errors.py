"""One exception hierarchy for all of prefkit.

    PrefkitError
    ├── InputError             bad input data: carries FILE and LINE (``FILE:LINE: message``)
    │   └── FormatError        the file's format could not be recognised / parsed at all
    ├── ValidationError        a bad argument passed to a library function (names the argument and the fix)
    ├── DataProblemError       data that is well-formed but cannot support the request (e.g. a disconnected
    │                          comparison graph for an unpenalised MLE)
    ├── StoreError             the project store (SQLite) refused an operation; nothing was changed
    ├── NotFoundError          no such campaign, task, arena or token (web service: 404)
    ├── ConflictError          the request clashes with what is stored, e.g. a second, different answer to a
    │                          task (answers and votes are final; web service: 409)
    ├── PermissionDeniedError  the caller may not see or do this (web service: 403)
    ├── BackendError           a judge backend (an LLM server) failed after its retries; the verdicts
    │                          already obtained are kept (cached)
    ├── EngineError            the compute engine (a Ray cluster) could not be reached or lost work it was
    │                          given; nothing partial was written
    └── MissingDependencyError an optional extra is not installed (message carries the pip command)

The CLI turns every PrefkitError into one line on stderr and exit status 2; the web service maps each class to
an HTTP status (:mod:`prefkit.service.errors`).
"""

from __future__ import annotations

from pathlib import Path


class PrefkitError(Exception):
    """Base class of every error prefkit raises on purpose."""


# appended to a bad row's message by strict readers; the CLI shows its own flag instead (--skip-bad)
LENIENT_HINT = " (or read leniently to skip such rows: strict=False)"


class InputError(PrefkitError, ValueError):
    """Bad input data. ``str(err)`` is ``FILE:LINE: message`` when the location is known."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        if self.path is None:
            return self.message
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"

    def at(self, path: str | Path | None = None, line: int | None = None) -> InputError:
        """Return a copy of this error with the location filled in (keeps the original type)."""
        err = type(self).__new__(type(self))
        InputError.__init__(
            err,
            self.message,
            path=path if path is not None else self.path,
            line=line if line is not None else self.line,
        )
        return err


class FormatError(InputError):
    """The file could not be read as any (or the requested) format."""


class ValidationError(PrefkitError, ValueError):
    """A bad argument to a library function."""


class DataProblemError(PrefkitError, ValueError):
    """The data are valid but cannot support what was asked (say why and what to do)."""


class EngineError(PrefkitError):
    """The compute engine (a Ray cluster) could not be reached, or failed; nothing partial was written."""


class StoreError(PrefkitError):
    """The project store refused an operation; the store is unchanged."""


class NotFoundError(PrefkitError, LookupError):
    """No such campaign, task, arena or token (or the caller may not see it)."""


class ConflictError(PrefkitError):
    """The request clashes with what is stored (e.g. a different answer to an answered task); nothing changed."""


class PermissionDeniedError(PrefkitError, PermissionError):
    """The caller is known but may not see or do this."""


class BackendError(PrefkitError):
    """A judge backend failed (after retries): unreachable server, rate limits, timeouts, bad replies."""


class MissingDependencyError(PrefkitError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""
