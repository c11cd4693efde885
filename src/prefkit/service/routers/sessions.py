"""Invite links: ``/join/{token}`` stores the token in an HttpOnly, SameSite=Strict cookie; ``/`` is the home page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from prefkit.service import repo
from prefkit.service.deps import get_principal, get_state
from prefkit.service.repo import Principal
from prefkit.service.routers._page import page
from prefkit.service.security import COOKIE

router = APIRouter(tags=["sessions"])


@router.get("/join/{token}", include_in_schema=False)
async def join(token: str, request: Request) -> Response:
    svc = get_state(request)
    who = svc.principal(token) if len(token) <= 200 else None
    if who is None:
        raise HTTPException(
            401, "this invite link is unknown or revoked: ask the campaign admin for a new one"
        )
    resp = RedirectResponse("/admin" if who.is_admin else "/", status_code=303)
    resp.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=svc.settings.secure_cookies,
        max_age=90 * 86400,
    )
    return resp


@router.get("/logout", include_in_schema=False)
async def logout() -> Response:
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
