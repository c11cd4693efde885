"""SQLite connections and namespaced, versioned schema migrations.

Each subsystem that keeps tables in the project file (the core store, the web service) owns a
*namespace* and an ordered list of migration scripts; ``migrate`` applies the missing ones inside one
transaction each and records the version in ``schema_version``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from prefkit.errors import StoreError


def connect(path: str | Path, *, check_same_thread: bool = True, timeout: float = 30.0) -> sqlite3.Connection:
    """Open (creating if needed) a SQLite file in WAL mode with foreign keys on."""
    p = Path(path)
    if p.exists() and p.is_dir():
        raise StoreError(f"{p}: is a directory; give the path of a SQLite file, e.g. project.db")
    if p.exists() and p.stat().st_size > 0:
        with open(p, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise StoreError(f"{p}: not a SQLite database; give a new path or an existing prefkit store")
    try:
        conn = sqlite3.connect(
            str(p), timeout=timeout, isolation_level=None, check_same_thread=check_same_thread
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{p}: cannot open as SQLite ({exc}); give a new path or an existing prefkit store"
        ) from exc
    return conn


def schema_version(conn: sqlite3.Connection, namespace: str) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    row = conn.execute("SELECT version FROM schema_version WHERE namespace = ?", (namespace,)).fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, namespace: str, migrations: Sequence[str]) -> int:
    """Apply ``migrations[v:]`` where ``v`` is the stored version; return the new version.

    A store written by a newer prefkit (version above ``len(migrations)``) is refused, not downgraded.
    """
    current = schema_version(conn, namespace)
    if current > len(migrations):
        raise StoreError(
            f"the store's {namespace!r} schema is version {current}, newer than this prefkit knows "
            f"({len(migrations)}); upgrade prefkit"
        )
    for version in range(current + 1, len(migrations) + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _split_sql(migrations[version - 1]):
                conn.execute(stmt)
            conn.execute(
                "INSERT INTO schema_version(namespace, version) VALUES (?, ?) "
                "ON CONFLICT(namespace) DO UPDATE SET version = excluded.version",
                (namespace, version),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"migration {namespace} v{version} failed: {exc}") from exc
    return len(migrations)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside literals in our scripts)."""
    return [s.strip() for s in script.split(";") if s.strip()]
