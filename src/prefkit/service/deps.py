"""FastAPI dependencies: the service state and the authenticated caller (token, rate limit, CSRF)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from prefkit.service.repo import Principal
from prefkit.service.security import COOKIE, same_origin
from prefkit.service.state import ServiceState

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_state(request: Request) -> ServiceState:
    return request.app.state.svc  # type: ignore[no-any-return]


def authenticate(svc: ServiceState, token: str) -> Principal:
    """The principal of ``token`` (401 when missing, unknown or revoked), charged to its rate limit (429)."""
    if not token or len(token) > 200:
        raise HTTPException(
            401, "missing token: open your invite link, or send 'Authorization: Bearer <token>'"
        )
    principal = svc.principal(token)
    if principal is None:
        raise HTTPException(401, "unknown or revoked token")
    wait = svc.limiter.allow(principal.token_id)
    if wait > 0:
        raise HTTPException(
            429,
            f"too many requests: slow down (retry in {wait:.1f} s)",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    return principal


async def get_principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <token>`` or the session cookie set by an invite link.

    Missing or unknown token: 401. Over the per-token rate: 429. A cookie-authenticated form post must carry
    the CSRF token (field ``csrf`` or header ``X-CSRF-Token``) and, when the browser sends one, a same-site Origin.
    """
    svc = get_state(request)
    auth = request.headers.get("authorization", "")
    via_cookie = False
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    else:
        token = request.cookies.get(COOKIE, "")
        via_cookie = True
    principal = authenticate(svc, token)
    if via_cookie and request.method in UNSAFE:
        if not same_origin(request.headers.get("origin"), request.headers.get("host")):
            raise HTTPException(403, "cross-site request refused")
        sent = request.headers.get("x-csrf-token")
        if sent is None:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await request.form()
                value: Any = form.get("csrf")
                sent = value if isinstance(value, str) else None
        import hmac

        if not sent or not hmac.compare_digest(sent, svc.csrf(principal.token_hash)):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    request.state.principal = principal
    return principal


async def get_admin(request: Request) -> Principal:
    p = await get_principal(request)
    if not p.is_admin:
        raise HTTPException(403, "this page needs the admin token")
    return p
