"""How the write path looks up what the store already holds: names of entities, explicit judgment ids.

Two strategies answer the same question ("the rows of this SELECT whose key is one of these") and differ only
in how the keys reach SQLite:

* :class:`InLookup` (small batches: the web service appends a few votes at a time) binds the keys into
  ``IN (?, ?, ...)`` lists of at most 500;
* :class:`StagedLookup` (bulk imports: a million battles, tens of thousands of names) loads the keys into a
  TEMP table once and selects with ``IN (SELECT k FROM ...)``; creating and dropping it costs milliseconds,
  nothing against a bulk import, too much for a vote.

Everything else (the clash checks, the inserts, the messages) is the same code for both: see
:mod:`prefkit.storage.write`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

SMALL = 2000
_IN_CHUNK = 500


class Lookup(Protocol):
    """Rows of ``select`` (``SELECT ... FROM ...``, no WHERE) whose ``key`` expression is one of ``keys``."""

    def rows(
        self, conn: sqlite3.Connection, select: str, key: str, keys: Sequence[Any]
    ) -> list[tuple[Any, ...]]: ...


class InLookup:
    """Keys bound as ``IN (?, ...)`` lists: no DDL, the fastest for a few keys."""

    name = "small"

    def rows(
        self, conn: sqlite3.Connection, select: str, key: str, keys: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for i in range(0, len(keys), _IN_CHUNK):
            part = list(keys[i : i + _IN_CHUNK])
            marks = ", ".join("?" * len(part))
            out.extend(conn.execute(f"{select} WHERE {key} IN ({marks})", part).fetchall())
        return out


class StagedLookup:
    """Keys staged in a TEMP table: one ``executemany`` and one indexed join, for many keys."""

    name = "bulk"

    def rows(
        self, conn: sqlite3.Connection, select: str, key: str, keys: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        if not len(keys):
            return []
        conn.execute("CREATE TEMP TABLE _lookup_keys (k TEXT PRIMARY KEY) WITHOUT ROWID")
        try:
            conn.executemany("INSERT OR IGNORE INTO _lookup_keys VALUES (?)", ((k,) for k in keys))
            return conn.execute(f"{select} WHERE {key} IN (SELECT k FROM _lookup_keys)").fetchall()
        finally:
            conn.execute("DROP TABLE _lookup_keys")


def choose(n_judgments: int, n_names: int, strategy: str = "auto") -> Lookup:
    """``"small"``, ``"bulk"``, or ``"auto"``: small when both counts are at most :data:`SMALL`."""
    if strategy == "small":
        return InLookup()
    if strategy == "bulk":
        return StagedLookup()
    if strategy != "auto":
        from prefkit.errors import ValidationError

        raise ValidationError(f"lookup={strategy!r}; use auto, small or bulk")
    return InLookup() if n_judgments <= SMALL and n_names <= SMALL else StagedLookup()
