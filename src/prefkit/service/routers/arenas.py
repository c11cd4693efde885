"""Arena mode: the engine picks K models, the voter ranks their outputs, beliefs update at once; leaderboards."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from prefkit.errors import PermissionDeniedError, ValidationError
from prefkit.service import ops, repo
from prefkit.service.arenas import ArenaRuntime, ranks_from_choice
from prefkit.service.deps import get_principal, get_state
from prefkit.service.records import Arena, ArenaPrompt, MatchTicket
from prefkit.service.repo import Principal
from prefkit.service.routers._page import page
from prefkit.service.state import ServiceState
from prefkit.service.writer import AfterCommit

router = APIRouter(tags=["arenas"])


def deal_match(svc: ServiceState, who: Principal, arena: Arena) -> tuple[str, ArenaPrompt, list[str]]:
    """(signed match token, prompt, outputs in shown order): the engine picks the models (shared with the
    fast lane)."""
    rt = svc.arenas.runtime(arena)
    p, models = rt.next_match()
    reason = rt.hygiene.deal(who.token_id, models)  # the cap counts every match dealt, voted or discarded
    if reason is not None:  # newly flagged: its votes leave the leaderboards; the flag is stored
        svc.writer.submit(lambda conn: repo.flag_token(conn, arena.id, who.token_id, reason))
        rt.replay()
    prompt = rt.prompts[p]
    token = svc.sign_match(MatchTicket(arena.id, p, models, who.token_id, secrets.token_hex(8)))
    return token, prompt, [prompt.outputs[rt.models[m]] for m in models]


async def _vote(
    svc: ServiceState,
    who: Principal,
    arena: Arena,
    match: str,
    ranks: list[int] | None,
    choice: str | None,
) -> tuple[int, bool]:
    m = svc.open_match(match)
    if m is None or m.arena != arena.id or not 0 <= m.prompt < len(svc.arenas.runtime(arena).prompts):
        raise ValidationError("match: not a match of this arena (or tampered with); fetch a new match")
    if m.token != who.token_id:
        raise PermissionDeniedError("this match was dealt to another token")
    rt: ArenaRuntime = svc.arenas.runtime(arena)
    models = m.models
    k = len(models)
    if ranks is None:
        ranks = ranks_from_choice(k, choice or "")
    if len(ranks) != k or any(type(r) is not int or not 0 <= r < k for r in ranks):
        raise ValidationError(f"ranks: one rank (0 = best, equal = tie) per shown model, {k} in all")
    prompt_pk = rt.prompts[m.prompt].pk

    def op(conn: Any) -> Any:
        vid, dup = repo.save_arena_vote(
            conn,
            arena_id=arena.id,
            match_key=m.nonce,
            token_id=who.token_id,
            prompt_pk=prompt_pk,
            models=models,
            ranks=ranks,
        )
        if dup:
            return (vid, dup)
        return AfterCommit((vid, dup), lambda: _recorded(rt, models, ranks, who.token_id), follow_up=True)

    return await svc.writer.run(op)  # type: ignore[no-any-return]


def _recorded(rt: ArenaRuntime, models: list[int], ranks: list[int], token_id: int) -> None:
    rt.record(models, ranks, token_id)
    rt.hygiene.voted(token_id, models)


# ---- pages -------------------------------------------------------------------------------------------


@router.get("/a/{slug}", include_in_schema=False)
async def arena_page(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Response:
    svc = get_state(request)
    arena = ops.visible_arena(svc, who, slug)
    token, prompt, outputs = deal_match(svc, who, arena)
    return page(
        request,
        "arena.html",
        who,
        arena=arena,
        match=token,
        prompt=prompt,
        outputs=outputs,
        md=svc.markdown,
        voted=request.query_params.get("voted"),
        n_votes=len(svc.arenas.runtime(arena).votes),
    )


@router.post("/a/{slug}/vote", include_in_schema=False)
async def arena_vote_form(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Response:
    svc = get_state(request)
    arena = ops.visible_arena(svc, who, slug)
    form = await request.form()
    match, choice = form.get("match"), form.get("choice")
    if not isinstance(match, str) or not isinstance(choice, str):
        raise ValidationError("the vote form is incomplete: reload the page")
    if not choice.strip():  # a K-wise ranking nobody touched is not a vote: the same match again, with why
        m = svc.open_match(match)
        rt = svc.arenas.runtime(arena)
        if m is None or m.arena != arena.id or m.token != who.token_id or not 0 <= m.prompt < len(rt.prompts):
            raise ValidationError("match: not a match of this arena (or tampered with); reload the page")
        prompt = rt.prompts[m.prompt]
        return page(
            request,
            "arena.html",
            who,
            status_code=422,
            arena=arena,
            match=match,
            prompt=prompt,
            outputs=[prompt.outputs[rt.models[i]] for i in m.models],
            md=svc.markdown,
            error="rank the answers first: move them into order (number key, then arrows), "
            "or press K if the shown order is right",
            n_votes=len(rt.votes),
        )
    await _vote(svc, who, arena, match, None, choice)
    return RedirectResponse(f"/a/{slug}?voted=1", status_code=303)


@router.get("/a/{slug}/leaderboard", include_in_schema=False)
async def leaderboard_page(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Response:
    svc = get_state(request)
    arena = ops.visible_arena(svc, who, slug)
    boards = svc.arenas.runtime(arena).boards()
    return page(request, "leaderboard.html", who, arena=arena, boards=boards)


# ---- API ---------------------------------------------------------------------------------------------


class MatchOut(BaseModel):
    match: str = Field(description="opaque signed match token: send it back with the vote")
    prompt: str
    outputs: list[str] = Field(description="the K outputs, in the shown order (model names are hidden)")


class VoteIn(BaseModel):
    match: str = Field(max_length=2000)
    ranks: list[int] = Field(
        description="one rank per shown output, 0 = best, equal ranks = tie", max_length=8
    )
    next: bool = Field(
        default=False,
        strict=True,
        description="also deal this token's next match in the reply (one round trip per vote instead of two)",
    )


class VoteOut(BaseModel):
    id: int
    duplicate: bool
    next: MatchOut | None = Field(default=None, description="the next match, when the vote asked for it")


class RatingOut(BaseModel):
    rank: int
    name: str
    score: float
    lo: float
    hi: float
    games: int


class LeaderboardOut(BaseModel):
    arena: str
    method: str
    scale: str
    n_votes: int
    rows: list[RatingOut]


@router.get("/api/v1/arenas/{slug}/match", response_model=MatchOut)
async def match_api(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Any:
    """Deal a match: the engine picks which K models to compare on which prompt."""
    return match_reply(get_state(request), who, slug)


@router.post("/api/v1/arenas/{slug}/votes", response_model=VoteOut, status_code=201)
async def vote_api(slug: str, body: VoteIn, request: Request, who: Principal = Depends(get_principal)) -> Any:
    """Vote on a dealt match; committed before the reply, beliefs updated at once; idempotent per match."""
    return await vote_reply(get_state(request), who, slug, body)


async def cast_vote(svc: ServiceState, who: Principal, slug: str, body: VoteIn) -> tuple[int, bool]:
    """Record the vote of ``POST /api/v1/arenas/{slug}/votes``."""
    arena = ops.visible_arena(svc, who, slug)
    return await _vote(svc, who, arena, body.match, body.ranks, None)


def match_reply(svc: ServiceState, who: Principal, slug: str) -> dict[str, Any]:
    """The body of ``GET /api/v1/arenas/{slug}/match`` (shared with the fast lane and ``next``)."""
    arena = ops.visible_arena(svc, who, slug)
    token, prompt, outputs = deal_match(svc, who, arena)
    return {"match": token, "prompt": prompt.prompt, "outputs": outputs}


async def vote_reply(svc: ServiceState, who: Principal, slug: str, body: VoteIn) -> dict[str, Any]:
    """The body of ``POST /api/v1/arenas/{slug}/votes`` (shared with the fast lane): the vote, committed, and
    with ``next`` the token's next match, dealt after the vote is recorded."""
    vid, dup = await cast_vote(svc, who, slug, body)
    out: dict[str, Any] = {"id": vid, "duplicate": dup}
    if body.next:
        out["next"] = match_reply(svc, who, slug)
    return out


@router.get("/api/v1/arenas/{slug}/leaderboard", response_model=list[LeaderboardOut])
async def leaderboard_api(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Any:
    """The online (engine) skill table and, once there are votes, a batch Bradley-Terry fit with 95% sandwich
    intervals (:mod:`prefkit.ranking.leaderboard`)."""
    svc = get_state(request)
    arena = ops.visible_arena(svc, who, slug)
    boards = svc.arenas.runtime(arena).boards()
    return [
        LeaderboardOut(
            arena=slug,
            method=b.method,
            scale=b.scale,
            n_votes=b.n_votes,
            rows=[RatingOut(**asdict(r)) for r in b.rows],
        )
        for b in boards
    ]
