"""Progress reporting that long library calls accept without depending on a UI.

A :data:`ProgressFactory` is called as ``factory(description, total)`` for each stage of a long call (reading a
file, storing it, embedding texts) and returns a context manager that yields ``advance(n)``; the CLI passes a
factory of rich progress bars, the library's default reports nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

Advance = Callable[[int], Any]
ProgressFactory = Callable[[str, float | None], AbstractContextManager[Advance]]


@contextmanager
def no_progress(description: str, total: float | None = None) -> Iterator[Advance]:
    """A stage that reports nothing."""

    def advance(n: int = 1) -> None:
        return None

    yield advance
