"""Tokens, CSRF, rate limits, body-size limits and security headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

COOKIE = "prefkit_token"
Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def sign(secret: str, message: str, n: int = 32) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:n]


def csrf_token(secret: str, token_hash: str) -> str:
    return sign(secret, "csrf:" + token_hash)


def same_origin(origin: str | None, host: str | None) -> bool:
    if not origin:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc == (host or "")


class RateLimiter:
    """Per-key token buckets: ``rate`` requests per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[Any, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: Any) -> float:
        """0.0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


VOTE_LIMIT = 16 * 1024
"""Body limit of an arena vote (a match token and at most 8 ranks fit in well under 4 KB)."""


def content_security_policy(media_origins: tuple[str, ...] = ()) -> bytes:
    """The pages' policy: scripts, styles and frames from nowhere else; images and media only from this site
    (``/static/``) and the operator's media origins (no ``http:``/``https:`` wildcards: no tracking pixels)."""
    media = " ".join(("'self'", *media_origins))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action 'self'; img-src {media}; media-src {media}"
    ).encode()


class LimitsMiddleware:
    """Refuse bodies over their route's limit (413) before the app reads them, and add security headers.

    Limits are per route: ``uploads`` (exact paths: creating a campaign or an arena) may send
    ``max_upload`` bytes, an arena vote :data:`VOTE_LIMIT`, everything else ``max_body``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_upload: int,
        upload_paths: tuple[str, ...],
        csp: bool,
        media_origins: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.upload_paths = frozenset(upload_paths)
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cache-control", b"no-store"),
        ]
        if csp:
            headers.append((b"content-security-policy", content_security_policy(media_origins)))
        self.headers = headers

    def limit(self, path: str) -> int:
        """The body limit of ``path`` (exact matches: ``/api/v1/arenas/x/votes`` is not an upload)."""
        if path in self.upload_paths:
            return self.max_upload
        if path.startswith("/api/v1/arenas/") and path.endswith("/votes"):
            return min(VOTE_LIMIT, self.max_body)
        return self.max_body

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.limit(path)
        length = None
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    length = int(v)
                except ValueError:
                    length = -1
        if length is not None and (length < 0 or length > limit):
            await _too_large(send, limit, path)
            return
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return msg

        async def send_with_headers(msg: dict) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                msg["headers"] = list(msg.get("headers", [])) + self.headers
            await send(msg)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            if not started:
                await _too_large(send, limit, path)


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


async def _too_large(send: Any, limit: int, path: str) -> None:
    body = json.dumps(
        {"error": {"status": 413, "message": f"request body too large (limit {limit} bytes)"}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
