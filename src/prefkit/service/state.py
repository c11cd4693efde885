"""The service's per-app state: settings, the writer, read connections, secrets, token cache, limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import struct
import threading
from pathlib import Path

from prefkit.service import repo
from prefkit.service.core import CoreSink, catch_up, task_info
from prefkit.service.lead_schema import MIGRATIONS as LEAD_MIGRATIONS
from prefkit.service.lead_schema import NAMESPACE as LEAD_NAMESPACE
from prefkit.service.records import Arena, Campaign, MatchTicket
from prefkit.service.routing import MIGRATIONS as ROUTING_MIGRATIONS
from prefkit.service.routing import NAMESPACE as ROUTING_NAMESPACE
from prefkit.service.routing import RoutingHub
from prefkit.service.schema import MIGRATIONS, NAMESPACE
from prefkit.service.security import RateLimiter, csrf_token
from prefkit.service.settings import Settings
from prefkit.service.writer import Writer
from prefkit.storage.db import connect, migrate
from prefkit.storage.schema import MIGRATIONS as CORE_MIGRATIONS
from prefkit.storage.schema import NAMESPACE as CORE_NAMESPACE


class ServiceState:
    """Everything the routers share; one per app (``app.state.svc``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        path = Path(settings.db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.core = CoreSink(settle_s=settings.undo_s)
        conn = connect(path)
        try:
            conn.execute("PRAGMA temp_store=MEMORY")
            migrate(conn, CORE_NAMESPACE, CORE_MIGRATIONS)
            migrate(conn, NAMESPACE, MIGRATIONS)
            migrate(conn, LEAD_NAMESPACE, LEAD_MIGRATIONS)  # the annotation lead's tables (service.lead)
            migrate(conn, ROUTING_NAMESPACE, ROUTING_MIGRATIONS)  # routed campaigns (prefkit.service.routing)
            conn.execute("BEGIN IMMEDIATE")
            try:
                self.secret = repo.meta_get_or_create(conn, "secret", lambda: secrets.token_hex(32))
                stored = repo.stored_admin_token(
                    conn
                )  # the secret only when created (or moved to a hash) now
                self.admin_token: str | None = settings.admin_token or stored
                """The admin's secret when this start knows it (given, or created now); else None: only its
                hash is stored, and it was shown when it was created."""
                if self.admin_token is not None:
                    self.admin_id, _ = repo.issue_token(
                        conn, role="admin", annotator="admin", label="admin", secret=self.admin_token
                    )
                else:  # (the project's own admin token, known only by its hash)
                    row = conn.execute("SELECT min(id) FROM svc_tokens WHERE role = 'admin'").fetchone()
                    self.admin_id = int(row[0])
                catch_up(conn, self.core)  # answers and votes acknowledged but not yet in the core tables
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        self._position_key = hashlib.sha256(b"positions:" + self.secret.encode()).digest()
        self._ticket_key = hashlib.sha256(b"tickets:" + self.secret.encode()).digest()
        self._mac_key = hashlib.sha256(b"ticket-mac:" + self.secret.encode()).digest()
        self.writer = Writer(
            path, synchronous=settings.synchronous, max_batch=settings.max_batch, follow_up=self.core.sync
        )
        self.writer.start()
        self._local = threading.local()
        self._cache: dict[str, repo.Principal | None] = {}
        self._cache_lock = threading.Lock()
        self._generation = 0
        self.limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
        from prefkit.service.arenas import ArenaHub

        self.arenas = ArenaHub(self)
        self._campaigns: dict[str, Campaign] = {}
        self._arenas: dict[str, Arena] = {}
        self._task_info: dict[int, dict[int, tuple[str, list[str]]]] = {}
        self.leases = Leases(lease_s=600.0)
        from prefkit.service.lead import LeadState

        self.lead = LeadState(self)  # campaign status, options, gold tasks (the annotation lead's features)
        self.routing = RoutingHub(self)  # the judges of routed campaigns, in a background thread
        self.routing.resume()

    # -- rendering -------------------------------------------------------------------------------------
    def markdown(self, text: str) -> str:
        """Untrusted Markdown as safe HTML; images only from ``/static/`` and the allowed media origins."""
        from prefkit.service.render import render_markdown

        return render_markdown(text, self.settings.media_origins)

    def media_ok(self, url: str | None) -> bool:
        from prefkit.service.render import allowed_media

        return bool(url) and allowed_media(str(url), self.settings.media_origins)

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
        """The caller of ``token`` (None if unknown or revoked), from memory after the first lookup; the cache
        is cleared whenever a token is issued or revoked."""
        try:
            return self._cache[token]  # (a dict read is atomic)
        except KeyError:
            pass
        generation = self._generation
        p = repo.lookup_token(self.db(), repo.token_hash(token))
        with self._cache_lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            if generation == self._generation:  # not if a token was revoked meanwhile (the read may be stale)
                self._cache[token] = p
        return p

    def forget_tokens(self) -> None:
        with self._cache_lock:
            self._generation += 1
            self._cache.clear()

    def campaign(self, slug: str) -> Campaign:
        c = self._campaigns.get(slug)
        if c is None:
            c = repo.get_campaign(self.db(), slug)
            self._campaigns[slug] = c
        return c

    def arena(self, slug: str) -> Arena:
        """An arena's row (arenas never change once created, so it is read once)."""
        a = self._arenas.get(slug)
        if a is None:
            a = repo.get_arena(self.db(), slug)
            self._arenas[slug] = a
        return a

    def task_info(self, campaign_id: int, task_id: int) -> tuple[str, list[str]] | None:
        """(context id, candidate ids) of a task of this campaign (None if it is not one): tasks never change,
        so the vote path reads them from memory, not from the database."""
        infos = self._task_info.get(campaign_id)
        if infos is None or task_id not in infos:
            infos = task_info(self.db(), campaign_id)
            self._task_info[campaign_id] = infos
        return infos.get(task_id)

    # -- signed values ---------------------------------------------------------------------------------
    def csrf(self, token_hash: str) -> str:
        return csrf_token(self.secret, token_hash)

    def positions(self, task_id: int, token_id: int, n: int) -> list[int]:
        """The shown order of a task's candidates for one annotator (stable across reloads, recorded): a
        Fisher-Yates shuffle driven by a keyed hash of (task, annotator), unpredictable without the secret."""
        mac = hashlib.blake2b(f"pos:{task_id}:{token_id}".encode(), key=self._position_key).digest()
        x = int.from_bytes(mac, "big")
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            x, j = divmod(x, i + 1)
            order[i], order[j] = order[j], order[i]
        return order

    def _keystream(self, iv: bytes, n: int) -> bytes:
        out = bytearray()
        block = 0
        while len(out) < n:
            out += hashlib.blake2b(iv + block.to_bytes(4, "big"), key=self._ticket_key).digest()
            block += 1
        return bytes(out[:n])

    def sign_match(self, ticket: MatchTicket) -> str:
        """The match token: the ticket packed, encrypted (a keyed-BLAKE2b stream under a fresh IV: which models
        were shown stays hidden from the voter) and authenticated (keyed BLAKE2b over IV and ciphertext)."""
        nonce = ticket.nonce.encode()
        k = len(ticket.models)
        payload = _TICKET.pack(1, ticket.arena, ticket.prompt, ticket.token, k) + struct.pack(
            f">{k}IB", *ticket.models, len(nonce)
        ) + nonce
        iv = secrets.token_bytes(12)
        sealed = iv + _xor(payload, self._keystream(iv, len(payload)))
        mac = hashlib.blake2b(sealed, key=self._mac_key, digest_size=16).digest()
        return base64.urlsafe_b64encode(sealed + mac).decode().rstrip("=")

    def open_match(self, token: str) -> MatchTicket | None:
        """The ticket of a token this service signed (None when it is not one, or was tampered with)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            return None
        sealed, mac = raw[:-16], raw[-16:]
        if len(sealed) < 12 + _TICKET.size or not hmac.compare_digest(
            mac, hashlib.blake2b(sealed, key=self._mac_key, digest_size=16).digest()
        ):
            return None
        iv, ct = sealed[:12], sealed[12:]
        payload = _xor(ct, self._keystream(iv, len(ct)))
        try:
            version, arena, prompt, tok, k = _TICKET.unpack_from(payload)
            *models, n = struct.unpack_from(f">{k}IB", payload, _TICKET.size)
            nonce = payload[_TICKET.size + 4 * k + 1 :]
            if version != 1 or len(nonce) != n:
                return None
            return MatchTicket(arena, prompt, models, tok, nonce.decode())
        except (struct.error, UnicodeDecodeError):
            return None

    def close(self) -> None:
        self.routing.close()
        self.writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


_TICKET = struct.Struct(">BIIIB")  # version, arena, prompt index, token, K; then K model codes, nonce length, nonce


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


class Leases:
    """Tasks handed to annotators and not answered yet: a task is dealt only while its done answers plus the
    live leases of other annotators stay under the overlap (so N annotators opening it at once do not all get
    it); a lease lapses after ``lease_s`` seconds (an abandoned tab frees the task). In memory: a restart frees
    every lease, and the overlap is still checked when an answer is saved."""

    def __init__(self, lease_s: float) -> None:
        self.lease_s = lease_s
        self._by_task: dict[int, dict[int, float]] = {}
        self._start: dict[tuple[int, int], float] = {}  # when a live lease began (a reload keeps it)
        self._lock = threading.Lock()

    def others(self, task_id: int, token_id: int, now: float) -> int:
        held = self._by_task.get(task_id)
        if not held:
            return 0
        return sum(1 for tok, until in held.items() if tok != token_id and until > now)

    def take(self, task_id: int, token_id: int, now: float) -> None:
        with self._lock:
            held = self._by_task.setdefault(task_id, {})
            for tok in [t for t, until in held.items() if until <= now]:
                del held[tok]
                self._start.pop((task_id, tok), None)
            if token_id not in held:
                self._start[(task_id, token_id)] = now
            held[token_id] = now + self.lease_s

    def started(self, task_id: int, token_id: int, now: float) -> float | None:
        """Seconds since ``token_id`` was dealt ``task_id`` (None when it holds no live lease on it)."""
        until = self._by_task.get(task_id, {}).get(token_id)
        start = self._start.get((task_id, token_id))
        if until is None or until <= now or start is None:
            return None
        return max(0.0, now - start)

    def release(self, task_id: int, token_id: int) -> None:
        with self._lock:
            held = self._by_task.get(task_id)
            self._start.pop((task_id, token_id), None)
            if held is not None:
                held.pop(token_id, None)
                if not held:
                    del self._by_task[task_id]
