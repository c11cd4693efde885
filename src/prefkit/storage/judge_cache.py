"""The judge's reply cache on disk: a SQLite key-value table, so that a re-run costs nothing and a crashed run
resumes where it stopped.

The keys and values are opaque strings made by :mod:`prefkit.annotation.runner` (a SHA-256 of the backend and
the request; the reply as JSON), so this module knows nothing of judges. Each ``put`` commits at once (WAL):
nothing obtained before a crash is lost. It satisfies :class:`prefkit.annotation.types.ReplyCache`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from prefkit.errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    request TEXT NOT NULL,
    reply TEXT NOT NULL
)
"""


def default_cache_path() -> Path:
    """``$PREFKIT_CACHE/judge-replies.sqlite`` (default ``~/.cache/prefkit``), its directory created."""
    env = os.environ.get("PREFKIT_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "prefkit"
    base.mkdir(parents=True, exist_ok=True)
    return base / "judge-replies.sqlite"


class JudgeCache:
    """``get(key)`` / ``put(key, backend, request, reply)`` on a SQLite file; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise StoreError(f"{self.path.parent}: no such directory for the judge cache; create it first")
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open as a judge cache ({exc})") from exc
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, backend: str, request: str, reply: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO replies(key, backend, request, reply) VALUES (?, ?, ?, ?)",
                (key, backend, request, reply),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        self._conn.close()
