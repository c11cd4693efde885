"""A persistent cache of judge calls in SQLite: a re-run costs nothing, a crashed run resumes where it stopped.

Keyed by ``sha256(backend key, request)`` (the request holds the messages and every sampling parameter).
Each reply is committed as soon as it arrives (WAL), so nothing obtained before a crash is lost. Failed calls
are never cached: they are retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path

from prefkit.annotation.types import ChatReply, ChatRequest
from prefkit.errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    request TEXT NOT NULL,
    reply TEXT NOT NULL
)
"""


def request_key(backend: str, request: ChatRequest) -> str:
    body = json.dumps({"backend": backend, **asdict(request)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class ReplyCache:
    """``get`` / ``put`` of chat replies by (backend key, request); safe to share between threads."""

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

    def get(self, backend: str, request: ChatRequest) -> ChatReply | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT reply FROM replies WHERE key = ?", (request_key(backend, request),)
            ).fetchone()
        if row is None:
            return None
        d = json.loads(row[0])
        lp = tuple(tuple((str(t), float(v)) for t, v in step) for step in d.get("logprobs", ()))
        return ChatReply(
            text=d["text"],
            prompt_tokens=int(d.get("prompt_tokens", 0)),
            completion_tokens=int(d.get("completion_tokens", 0)),
            logprobs=lp,
            cached=True,
        )

    def put(self, backend: str, request: ChatRequest, reply: ChatReply) -> None:
        d = asdict(reply)
        d.pop("cached")
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO replies(key, backend, request, reply) VALUES (?, ?, ?, ?)",
                (
                    request_key(backend, request),
                    backend,
                    json.dumps(asdict(request), ensure_ascii=False),
                    json.dumps(d, ensure_ascii=False),
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        self._conn.close()
