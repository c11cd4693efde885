"""Group commit: one writer thread owns the only write connection and batches queued operations.

Every write of the service (votes, answers, campaigns, tokens) is a function ``op(conn) -> result`` queued
with :meth:`Writer.submit`. The writer thread takes everything waiting (up to ``max_batch``), runs each
operation inside its own SAVEPOINT (a failing operation is rolled back alone), COMMITs the batch once, and
only then resolves the futures: a caller that got a result knows its write is on disk. Operations may
return an :class:`AfterCommit` whose ``callback`` runs in the writer thread after the COMMIT, in commit order
(the arena engine is updated there, so its state always equals a replay of the committed votes).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefkit.errors import StoreError
from prefkit.storage.db import connect

log = logging.getLogger("prefkit.service")


@dataclass
class AfterCommit:
    """A result plus a callback to run once the batch holding it is committed."""

    result: Any
    callback: Callable[[], None]


Op = Callable[[sqlite3.Connection], Any]


class Writer:
    """The single writer thread of one SQLite file (start with :meth:`start`, stop with :meth:`close`)."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", max_batch: int = 512) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Op, Future[Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        conn = connect(self.path, check_same_thread=False)
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        self._thread = threading.Thread(target=self._run, args=(conn,), name="prefkit-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, op: Op) -> Future[Any]:
        fut: Future[Any] = Future()
        if self._thread is None:
            fut.set_exception(StoreError("the service's writer is not running"))
            return fut
        self._queue.put((op, fut))
        return fut

    async def run(self, op: Op) -> Any:
        """Queue ``op`` and wait (without blocking the event loop) until its batch is committed."""
        return await asyncio.wrap_future(self.submit(op))

    def call(self, op: Op, timeout: float = 60.0) -> Any:
        """Blocking variant of :meth:`run` for synchronous code."""
        return self.submit(op).result(timeout=timeout)

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                batch = [job]
                stop = False
                while len(batch) < self.max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch.append(nxt)
                self._commit_batch(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[tuple[Op, Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, fut in batch:
                if not fut.set_running_or_notify_cancel():
                    continue
                conn.execute("SAVEPOINT op")
                try:
                    res = op(conn)
                    conn.execute("RELEASE op")
                    outcomes.append((fut, res, None))
                except Exception as exc:  # one bad operation must not sink the batch
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((fut, None, exc))
            conn.execute("COMMIT")
        except Exception as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            err = StoreError(f"the write was not saved: {exc}")
            for _op, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            return
        self.batches += 1
        self.ops += len(outcomes)
        for fut, res, error in outcomes:
            if error is not None:
                fut.set_exception(error)
                continue
            if isinstance(res, AfterCommit):
                try:
                    res.callback()
                except Exception:  # the write is durable; a failed in-memory update is rebuilt on restart
                    log.exception("after-commit update failed (the write itself is committed)")
                res = res.result
            fut.set_result(res)
