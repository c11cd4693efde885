"""Group commit: one writer thread owns the only write connection and batches queued operations.

Every write of the service (votes, answers, campaigns, tokens) is a function ``op(conn) -> result`` queued
with :meth:`Writer.submit`. The writer thread takes everything waiting (up to ``max_batch``), runs each
operation inside its own SAVEPOINT (a failing operation is rolled back alone), COMMITs the batch once, and
only then resolves the futures: a caller that got a result knows its write is on disk. Operations may
return an :class:`AfterCommit` whose ``callback`` runs in the writer thread after the COMMIT, in commit order
(the arena engine is updated there, so its state always equals a replay of the committed votes).

Follow-up work: an ``AfterCommit`` with ``follow_up=True`` marks the writer dirty; then, at most every
``follow_every`` seconds (and when the writer stops), the ``follow_up(conn)`` hook runs in the writer thread
in its own transaction. The service uses it to copy acknowledged votes into the core judgment tables in
large batches (see :mod:`prefkit.service.core`): per-vote cost stays that of one small INSERT.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
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
    """A result plus what to do once the batch holding it is committed."""

    result: Any
    callback: Callable[[], None] | None = None
    follow_up: bool = False


Op = Callable[[sqlite3.Connection], Any]
Waiter = Future[Any] | asyncio.Future[Any]
FollowUp = Callable[[sqlite3.Connection], "bool | None"]
# returns True while more work is left now, None when work is waiting for later (run again at the next interval)


class Writer:
    """The single writer thread of one SQLite file (start with :meth:`start`, stop with :meth:`close`)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        max_batch: int = 512,
        follow_up: FollowUp | None = None,
        follow_every: float = 0.2,
    ) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.max_batch = max_batch
        self.follow_up = follow_up
        self.follow_every = follow_every
        self._queue: queue.SimpleQueue[tuple[Op, Waiter] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._dirty = False
        self._next_follow = 0.0
        self.batches = 0
        self.ops = 0
        self.follow_ups = 0
        self.follow_up_error: str | None = None

    def start(self) -> None:
        conn = connect(self.path, check_same_thread=False)
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA temp_store=MEMORY")
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
        """Queue ``op`` and wait (without blocking the event loop) until its batch is committed.

        The waiter is an asyncio future, settled from the writer thread with one ``call_soon_threadsafe``
        per batch and event loop (not one thread-safe future and wake-up per write)."""
        if self._thread is None:
            raise StoreError("the service's writer is not running")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put((op, fut))
        return await fut

    def call(self, op: Op, timeout: float = 60.0) -> Any:
        """Blocking variant of :meth:`run` for synchronous code."""
        return self.submit(op).result(timeout=timeout)

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                timeout = None
                if self._dirty:
                    timeout = max(0.0, self._next_follow - time.monotonic())
                try:
                    job = self._queue.get(timeout=timeout)
                except queue.Empty:
                    self._follow(conn)
                    continue
                if job is None:
                    self._follow(conn, final=True)
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
                    self._follow(conn, final=True)
                    return
                if self._dirty and time.monotonic() >= self._next_follow:
                    self._follow(conn)
        finally:
            conn.close()

    def _follow(self, conn: sqlite3.Connection, *, final: bool = False) -> None:
        """Run the follow-up hook in its own transaction (until done when ``final``)."""
        if self.follow_up is None or not self._dirty:
            return
        while True:
            more: bool | None = False
            try:
                conn.execute("BEGIN IMMEDIATE")
                more = self.follow_up(conn)
                conn.execute("COMMIT")
                self.follow_ups += 1
                self.follow_up_error = None
            except Exception as exc:  # the acknowledged writes are safe; retried at the next interval
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if self.follow_up_error != str(exc):
                    log.exception("follow-up work failed (acknowledged writes are safe; will retry)")
                self.follow_up_error = str(exc)
                self._next_follow = time.monotonic() + max(self.follow_every, 1.0)
                return
            if not (more and final):
                break
        self._dirty = more is not False
        self._next_follow = time.monotonic() + (0.0 if more else self.follow_every)

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[tuple[Op, Waiter]]) -> None:
        jobs = [(op, w) for op, w in batch if _start(w)]
        outcomes: list[tuple[Waiter, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, w in jobs:
                conn.execute("SAVEPOINT op")
                try:
                    res = op(conn)
                    conn.execute("RELEASE op")
                    outcomes.append((w, res, None))
                except Exception as exc:  # one bad operation must not sink the batch
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((w, None, exc))
            conn.execute("COMMIT")
        except Exception as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            err = StoreError(f"the write was not saved: {exc}")
            _settle([(w, None, err) for _op, w in jobs])
            return
        self.batches += 1
        self.ops += len(outcomes)
        settled: list[tuple[Waiter, Any, BaseException | None]] = []
        for w, res, error in outcomes:
            if error is None and isinstance(res, AfterCommit):
                if res.follow_up and not self._dirty:
                    self._dirty = True
                    self._next_follow = max(self._next_follow, time.monotonic() + self.follow_every)
                if res.callback is not None:
                    try:
                        res.callback()
                    except Exception:  # the write is durable; a failed in-memory update is rebuilt on restart
                        log.exception("after-commit update failed (the write itself is committed)")
                res = res.result
            settled.append((w, res, error))
        _settle(settled)


def _start(w: Waiter) -> bool:
    """False when the waiter gave up before its write started (then the write is not made)."""
    if isinstance(w, Future):
        return w.set_running_or_notify_cancel()
    return not w.cancelled()


def _settle(outcomes: list[tuple[Waiter, Any, BaseException | None]]) -> None:
    """Resolve thread futures here, and asyncio futures in their loop, one call per loop."""
    by_loop: dict[Any, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
    for w, res, error in outcomes:
        if isinstance(w, Future):
            if error is not None:
                w.set_exception(error)
            else:
                w.set_result(res)
        else:
            by_loop.setdefault(w.get_loop(), []).append((w, res, error))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_in_loop, items)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _settle_in_loop(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, res, error in items:
        if fut.cancelled():
            continue
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(res)
