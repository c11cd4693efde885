"""Sign-in and sign-out, never as GET side effects.

``GET /join/{token}`` only shows who the invite link signs in as, with a button; the button POSTs the token
with a one-time nonce that the page set in a SameSite=Strict cookie (a double submit: another site can neither
read the nonce nor send the cookie, so it cannot sign a visitor in as its own annotator: no login CSRF, and a
Markdown image ``![x](/join/T)`` does nothing). The session token then lives in an HttpOnly, SameSite=Strict
cookie, ``Secure`` when ``Settings.secure_cookies`` is set or the request came over https. ``POST /logout``
needs the CSRF token of the session. ``/`` is the home page.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from prefkit.service import repo
from prefkit.service.deps import get_principal, get_state
from prefkit.service.repo import Principal
from prefkit.service.routers._page import page
from prefkit.service.security import COOKIE, same_origin

router = APIRouter(tags=["sessions"])
LOGIN_COOKIE = "prefkit_login"


def _secure(request: Request) -> bool:
    return bool(get_state(request).settings.secure_cookies or request.url.scheme == "https")


def _invite_principal(request: Request, token: str) -> Principal:
    who = get_state(request).principal(token) if 0 < len(token) <= 200 else None
    if who is None:
        raise HTTPException(
            401, "this invite link is unknown or revoked: ask the campaign admin for a new one"
        )
    return who


@router.get("/join/{token}", include_in_schema=False)
async def join_page(token: str, request: Request) -> Response:
    """Who the link signs in as, and a button (nothing is signed in by a GET)."""
    who = _invite_principal(request, token)
    nonce = secrets.token_urlsafe(16)
    resp = page(request, "join.html", None, invitee=who, token=token, nonce=nonce)
    resp.set_cookie(
        LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        max_age=3600,
        path="/join",
    )
    return resp


@router.post("/join", include_in_schema=False)
async def join(request: Request) -> Response:
    if not same_origin(request.headers.get("origin"), request.headers.get("host")):
        raise HTTPException(403, "cross-site sign-in refused")
    form = await request.form()
    token, nonce = form.get("token"), form.get("nonce")
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not isinstance(token, str) or not isinstance(nonce, str) or not cookie:
        raise HTTPException(403, "sign-in form expired: open your invite link again")
    if not hmac.compare_digest(nonce, cookie):
        raise HTTPException(403, "sign-in form expired: open your invite link again")
    who = _invite_principal(request, token)
    resp = RedirectResponse("/admin" if who.is_admin else "/", status_code=303)
    resp.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), max_age=90 * 86400
    )
    resp.delete_cookie(LOGIN_COOKIE, path="/join")
    return resp


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """Sign out (a POST with the session's CSRF token; a stale or revoked session is simply cleared)."""
    svc = get_state(request)
    token = request.cookies.get(COOKIE, "")
    who = svc.principal(token) if 0 < len(token) <= 200 else None
    if who is not None:
        await get_principal(request)  # same-origin and CSRF checks of a signed-in form post
    resp = RedirectResponse("/goodbye", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


@router.get("/goodbye", include_in_schema=False)
async def goodbye(request: Request) -> Response:
    return page(
        request,
        "message.html",
        None,
        title="Signed out",
        message="You are signed out. Open your invite link to come back.",
    )


@router.get("/", include_in_schema=False)
async def home(request: Request, who: Principal = Depends(get_principal)) -> Response:
    if who.is_admin:
        return RedirectResponse("/admin", status_code=303)
    svc = get_state(request)
    conn = svc.db()
    campaigns = []
    for c in repo.list_campaigns(conn):
        if who.may_campaign(c.id):
            campaigns.append((c, repo.campaign_progress(conn, c.id, c.config.overlap, who.token_id)))
    arenas = [a for a in repo.list_arenas(conn) if who.may_arena(a.id)]
    return page(request, "home.html", who, campaigns=campaigns, arenas=arenas)
