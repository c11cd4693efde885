"""The fast lane: the hot endpoints, for programs, as a plain ASGI handler.

``POST /api/v1/judgments``, ``GET /api/v1/arenas/{slug}/match`` and ``POST /api/v1/arenas/{slug}/votes``
called with ``Authorization: Bearer`` (and a JSON body; what API clients and LLM judges send) skip FastAPI's routing, dependency solving and
middleware stack: the same body model validates the request (pydantic, from the raw bytes), the same
functions (:func:`~prefkit.service.routers.campaigns.judge`, :func:`~prefkit.service.routers.arenas.cast_vote`)
do the work, errors come back as the same JSON objects, and the same :class:`LimitsMiddleware` caps the
body and adds the security headers. Everything else, including cookie (browser) requests, which need the
CSRF checks, goes through FastAPI. Bearer requests carry no ambient credential, so CSRF does not apply.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prefkit.errors import PrefkitError

if TYPE_CHECKING:
    from prefkit.service.state import ServiceState

log = logging.getLogger("prefkit.service")
Scope = dict[str, Any]
_ARENAS = "/api/v1/arenas/"


def route(scope: Scope) -> tuple[str, str] | None:
    """``("judgment", "")`` or ``("vote", slug)`` when the fast lane serves this request, else None."""
    if scope["type"] != "http":
        return None
    method, path = scope["method"], scope["path"]
    if method == "POST" and path == "/api/v1/judgments":
        found = ("judgment", "")
    elif method in ("POST", "GET") and path.startswith(_ARENAS):
        tail = "/votes" if method == "POST" else "/match"
        slug = path[len(_ARENAS) : -len(tail)]
        if not path.endswith(tail) or not slug or "/" in slug or scope.get("query_string"):
            return None
        found = ("vote" if method == "POST" else "match", slug)
    else:
        return None
    bearer = False
    json_body = method == "GET"
    for k, v in scope["headers"]:
        if k == b"authorization":
            bearer = v[:7].lower() == b"bearer "
        elif k == b"content-type":
            json_body = v.startswith(b"application/json")
    return found if bearer and json_body else None


class FastLane:
    """The ASGI handler of the requests :func:`route` accepts (wrap it in the limits middleware)."""

    def __init__(self, svc: ServiceState) -> None:
        from prefkit.service.routers.arenas import VoteIn
        from prefkit.service.routers.campaigns import JudgmentIn

        self.svc = svc
        self.judgment_in = JudgmentIn
        self.vote_in = VoteIn

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
    ) -> None:
        from prefkit.service.security import BodyTooLarge

        try:
            status, payload, headers = await self._handle(scope, receive)
        except (BodyTooLarge, _Gone):
            raise
        except Exception as exc:
            status, payload, headers = _error(exc)
        body = json.dumps(payload, separators=(",", ":")).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Callable[[], Awaitable[dict]]) -> tuple[int, Any, dict]:

        from prefkit.service.deps import authenticate
        from prefkit.service.routers.arenas import match_reply, vote_reply
        from prefkit.service.routers.campaigns import judge

        svc = self.svc
        kind, slug = route(scope) or ("", "")
        auth = next(v for k, v in scope["headers"] if k == b"authorization")
        token = auth[7:].strip().decode("latin-1")
        who = authenticate(svc, token)
        if kind == "match":
            return 200, match_reply(svc, who, slug), {}
        chunks = []
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise _Gone
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body", False):
                break
        raw = b"".join(chunks)
        if kind == "judgment":
            aid, dup = await judge(svc, who, self.judgment_in.model_validate_json(raw))
            return 201, {"id": aid, "duplicate": dup}, {}
        return 201, await vote_reply(svc, who, slug, self.vote_in.model_validate_json(raw)), {}


class _Gone(Exception):
    """The client disconnected before sending its whole body (nothing was done; nothing to answer)."""


def _error(exc: Exception) -> tuple[int, Any, dict]:
    """The JSON error of :mod:`prefkit.service.errors` for ``exc``."""
    from pydantic import ValidationError as BodyError
    from starlette.exceptions import HTTPException

    from prefkit.service.errors import status_of, validation_message

    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
        headers = dict(exc.headers or {})
    elif isinstance(exc, BodyError):
        status, message = 422, validation_message(exc.errors())
    elif isinstance(exc, PrefkitError):
        status, message = status_of(exc), str(exc)
    else:
        log.exception("unexpected error in the fast lane")
        status, message = 500, "internal error: the request was not completed (see the server log)"
    return status, {"error": {"status": status, "message": message}}, headers
