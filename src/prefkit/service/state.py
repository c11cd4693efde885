"""The service's per-app state: settings, the writer, read connections, secrets, token cache, limits."""

from __future__ import annotations

import base64
import hmac
import json
import random
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Any

from prefkit.service import repo
from prefkit.service.schema import MIGRATIONS, NAMESPACE
from prefkit.service.security import RateLimiter, csrf_token, sign
from prefkit.service.settings import Settings
from prefkit.service.writer import Writer
from prefkit.storage.db import connect, migrate


class ServiceState:
    """Everything the routers share; one per app (``app.state.svc``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        path = Path(settings.db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(path)
        try:
            migrate(conn, NAMESPACE, MIGRATIONS)
            conn.execute("BEGIN IMMEDIATE")
            self.secret = repo.meta_get_or_create(conn, "secret", lambda: secrets.token_hex(32))
            self.admin_token = settings.admin_token or repo.meta_get_or_create(
                conn, "admin_token", repo.new_secret
            )
            self.admin_id, _ = repo.issue_token(
                conn, role="admin", annotator="admin", label="admin", secret=self.admin_token
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        self.writer = Writer(path, synchronous=settings.synchronous, max_batch=settings.max_batch)
        self.writer.start()
        self._local = threading.local()
        self._cache: dict[str, repo.Principal | None] = {}
        self._cache_lock = threading.Lock()
        self.limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
        from prefkit.service.arenas import ArenaHub

        self.arenas = ArenaHub(self)
        self._campaigns: dict[str, dict[str, Any]] = {}
        self._task_sizes: dict[int, dict[int, int]] = {}

    # -- reads -----------------------------------------------------------------------------------------
    def db(self) -> sqlite3.Connection:
        """This thread's read connection (writes go through :attr:`writer`)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.settings.db_path)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
        return conn

    def principal(self, token: str) -> repo.Principal | None:
        th = repo.token_hash(token)
        with self._cache_lock:
            if th in self._cache:
                return self._cache[th]
        p = repo.lookup_token(self.db(), th)
        with self._cache_lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[th] = p
        return p

    def forget_tokens(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def campaign(self, slug: str) -> dict[str, Any]:
        c = self._campaigns.get(slug)
        if c is None:
            c = repo.get_campaign(self.db(), slug)
            self._campaigns[slug] = c
        return c

    def task_size(self, campaign_id: int, task_id: int) -> int | None:
        """Number of candidates of a task of this campaign (None if it is not one): tasks never change, so the
        vote path reads them from memory, not from the database."""
        sizes = self._task_sizes.get(campaign_id)
        if sizes is None or task_id not in sizes:
            rows = (
                self.db()
                .execute(
                    "SELECT id, json_array_length(candidates) FROM svc_tasks WHERE campaign_id = ?",
                    (campaign_id,),
                )
                .fetchall()
            )
            sizes = {int(t): int(n) for t, n in rows}
            self._task_sizes[campaign_id] = sizes
        return sizes.get(task_id)

    # -- signed values ---------------------------------------------------------------------------------
    def csrf(self, token_hash: str) -> str:
        return csrf_token(self.secret, token_hash)

    def positions(self, task_id: int, token_id: int, n: int) -> list[int]:
        """The shown order of a task's candidates for one annotator (stable across reloads, recorded)."""
        seed = int(sign(self.secret, f"pos:{task_id}:{token_id}", 16), 16)
        order = list(range(n))
        random.Random(seed).shuffle(order)
        return order

    def sign_match(self, payload: dict[str, Any]) -> str:
        body = (
            base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        )
        return body + "." + sign(self.secret, "match:" + body)

    def open_match(self, token: str) -> dict[str, Any] | None:
        body, _, mac = token.partition(".")
        if not body or not hmac.compare_digest(mac, sign(self.secret, "match:" + body)):
            return None
        try:
            return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))
        except (ValueError, TypeError):
            return None

    def close(self) -> None:
        self.writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
