"""Admin: campaigns, arenas, invite tokens, agreement and exports (every route needs the admin token)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from prefkit.errors import ValidationError
from prefkit.service import ops, repo
from prefkit.service.campaigns import CampaignConfig
from prefkit.service.deps import get_admin, get_state
from prefkit.service.repo import Principal
from prefkit.service.routers._page import page
from prefkit.service.routers.routing import RoutingIn, to_config
from prefkit.service.routing import status as routing_status

router = APIRouter(tags=["admin"])
UPLOAD_PATHS = ("/admin/campaigns", "/admin/arenas", "/api/v1/campaigns", "/api/v1/arenas")
"""The routes that take a whole file (exact paths; see :class:`prefkit.service.security.LimitsMiddleware`)."""
DB_INT_MAX = 2**63 - 1


def _base_url(request: Request) -> str:
    svc = get_state(request)
    return svc.settings.base_url or str(request.base_url).rstrip("/")


# ---- pages -------------------------------------------------------------------------------------------


@router.get("/admin", include_in_schema=False)
async def dashboard(request: Request, who: Principal = Depends(get_admin)) -> Response:
    return _dashboard(request, who)


def _dashboard(request: Request, who: Principal, new_link: NewLink | None = None) -> Response:
    svc = get_state(request)
    conn = svc.db()
    problems: list[str] = []
    campaigns = [
        (c, repo.campaign_progress(conn, c.id, c.config.overlap)) for c in repo.list_campaigns(conn, problems)
    ]
    arenas = [(a, repo.count_arena_votes(conn, a.id)) for a in repo.list_arenas(conn, problems)]
    problems.extend(m for m in svc.arenas.broken.values() if m not in problems)
    tokens = repo.list_tokens(conn)
    names = {t.id: t.annotator for t in tokens}
    flags = [
        (a.slug, names.get(act.token_id, str(act.token_id)), act)
        for a, _ in arenas
        if a.id not in svc.arenas.broken
        for act in svc.arenas.runtime(a).hygiene.activity()
        if act.flag
    ]
    return page(
        request,
        "admin.html",
        who,
        campaigns=campaigns,
        arenas=arenas,
        problems=problems,
        flags=flags,
        tokens=tokens,
        base=_base_url(request),
        new_link=new_link,
    )


@dataclass(frozen=True)
class NewLink:
    annotator: str
    secret: str


def _field(form: Any, name: str, default: str = "") -> str:
    v = form.get(name, default)
    return v if isinstance(v, str) else default


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


@router.post("/admin/campaigns", include_in_schema=False)
async def create_campaign_form(request: Request, who: Principal = Depends(get_admin)) -> Response:
    form = await request.form()
    try:
        return await _create_campaign_form(request, form)
    finally:
        await form.close()  # (the uploaded file's temporary file, on errors too)


async def _create_campaign_form(request: Request, form: Any) -> Response:
    svc = get_state(request)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ValidationError("file: choose the JSONL file of contexts and candidates")
    data = await upload.read()
    try:
        cfg = CampaignConfig(
            shape=_field(form, "shape", "pairwise"),
            criteria=_names(_field(form, "criteria", "overall")),
            attributes=_names(_field(form, "attributes", "quality")),
            allow_tie=bool(form.get("allow_tie")),
            strength=bool(form.get("strength")),
            overlap=int(_field(form, "overlap", "3")),
            scale_min=int(_field(form, "scale_min", "1")),
            scale_max=int(_field(form, "scale_max", "5")),
            rationale_required=bool(form.get("rationale_required")),
        )
    except ValueError:
        raise ValidationError("overlap and scale must be whole numbers") from None
    slug = _field(form, "slug")
    from prefkit.service.routers.routing import form_config

    await run_in_threadpool(  # parsing and inserting 100k tasks must not stall the event loop
        ops.create_campaign,
        svc,
        slug=slug,
        name=_field(form, "name"),
        cfg=cfg,
        guidelines=_field(form, "guidelines"),
        data=data,
        source=upload.filename or "<upload>",
        routing=form_config(form),
    )
    return RedirectResponse(f"/admin/campaigns/{slug}", status_code=303)


@router.post("/admin/arenas", include_in_schema=False)
async def create_arena_form(request: Request, who: Principal = Depends(get_admin)) -> Response:
    form = await request.form()
    try:
        return await _create_arena_form(request, form)
    finally:
        await form.close()


async def _create_arena_form(request: Request, form: Any) -> Response:
    svc = get_state(request)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ValidationError("file: choose the JSONL file of prompts and model outputs")
    try:
        k = int(_field(form, "k", "2"))
    except ValueError:
        raise ValidationError("k: a whole number of models per match") from None
    slug = _field(form, "slug")
    await run_in_threadpool(
        ops.create_arena,
        svc,
        slug=slug,
        name=_field(form, "name"),
        k=k,
        policy=_field(form, "policy", "infogain-pl"),
        data=await upload.read(),
        source=upload.filename or "<upload>",
    )
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/tokens", include_in_schema=False)
async def issue_token_form(request: Request, who: Principal = Depends(get_admin)) -> Response:
    svc = get_state(request)
    form = await request.form()
    campaigns = [v for v in form.getlist("campaigns") if isinstance(v, str)]
    arenas = [v for v in form.getlist("arenas") if isinstance(v, str)]
    annotator = _field(form, "annotator")
    _, secret = await run_in_threadpool(
        lambda: ops.issue_invite(
            svc,
            annotator=annotator,
            kind=_field(form, "kind", "human"),
            label=_field(form, "label"),
            campaigns=campaigns,
            arenas=arenas,
        )
    )
    # the link is shown once, in this response (never in a URL, a log or the database)
    return _dashboard(request, who, NewLink(annotator, secret))


@router.post("/admin/tokens/{token_id}/revoke", include_in_schema=False)
async def revoke_token_form(
    request: Request, token_id: int = Path(ge=1, le=DB_INT_MAX), who: Principal = Depends(get_admin)
) -> Response:
    await _revoke(request, token_id)
    return RedirectResponse("/admin", status_code=303)


async def _revoke(request: Request, token_id: int) -> None:
    svc = get_state(request)
    await svc.writer.run(lambda conn: repo.revoke_token(conn, token_id))
    svc.forget_tokens()


@router.get("/admin/campaigns/{slug}", include_in_schema=False)
async def campaign_detail(slug: str, request: Request, who: Principal = Depends(get_admin)) -> Response:
    svc = get_state(request)
    c = svc.campaign(slug)
    progress = repo.campaign_progress(svc.db(), c.id, c.config.overlap)
    await svc.writer.run(svc.core.sync_all)  # every acknowledged answer is in the core tables
    from prefkit.service import lead

    return page(
        request,
        "admin_campaign.html",
        who,
        campaign=c,
        cfg=c.config,
        progress=progress,
        agreement=await run_in_threadpool(ops.agreement, svc, c),
        qc=await run_in_threadpool(lead.quality, svc, c),  # per-annotator quality (the lead's table)
        opts=svc.lead.opts(c.id),
        tokens=[
            t
            for t in repo.list_tokens(svc.db())
            if not t.revoked and f"campaign:{c.id}" in t.grants.split(",")
        ],
        routing=routing_status(svc.db(), c.id),
    )


# ---- API ---------------------------------------------------------------------------------------------


class CampaignIn(BaseModel):
    slug: str = Field(max_length=63)
    name: str = Field(default="", max_length=200)
    shape: Literal["pairwise", "ranking", "rating"] = "pairwise"
    criteria: list[str] = ["overall"]
    attributes: list[str] = ["quality"]
    allow_tie: bool = True
    strength: bool = False
    scale_min: int = 1
    scale_max: int = 5
    overlap: int = 3
    rationale_required: bool = False
    guidelines: str = Field(default="", max_length=100_000, description="Markdown")
    rows: list[dict[str, Any]] = Field(
        description='{"id", "context", "candidates": [{"id", "text"|"image"|"audio"|"video"}]}; a routing plan '
        'adds "route": "human"|"ai" and "gain"'
    )
    routing: RoutingIn | None = Field(default=None, description="a judge for the instances not sent to people")


class CreatedOut(BaseModel):
    id: int
    slug: str


class ArenaIn(BaseModel):
    slug: str = Field(max_length=63)
    name: str = Field(default="", max_length=200)
    k: int = 2
    policy: str = "infogain-pl"
    rows: list[dict[str, Any]] = Field(description='{"id", "prompt", "outputs": {model: text}}')


class TokenIn(BaseModel):
    annotator: str = Field(max_length=80)
    kind: Literal["human", "model"] = "human"
    label: str = Field(default="", max_length=200)
    campaigns: list[str] = []
    arenas: list[str] = []


class TokenOut(BaseModel):
    id: int
    token: str
    invite_url: str


@router.post("/api/v1/campaigns", response_model=CreatedOut, status_code=201)
async def create_campaign_api(body: CampaignIn, request: Request, who: Principal = Depends(get_admin)) -> Any:
    """Create a campaign from rows of contexts and candidates (admin)."""
    svc = get_state(request)
    cfg = CampaignConfig(**body.model_dump(exclude={"slug", "name", "guidelines", "rows", "routing"}))

    def create() -> int:  # in a worker thread: a 100k-task campaign must not stall the event loop
        data = "\n".join(json.dumps(r) for r in body.rows)
        return ops.create_campaign(
            svc, slug=body.slug, name=body.name, cfg=cfg, guidelines=body.guidelines, data=data, source="rows",
            routing=to_config(body.routing),
        )  # fmt: skip

    cid = await run_in_threadpool(create)
    return CreatedOut(id=cid, slug=body.slug)


@router.post("/api/v1/arenas", response_model=CreatedOut, status_code=201)
async def create_arena_api(body: ArenaIn, request: Request, who: Principal = Depends(get_admin)) -> Any:
    """Create an arena from prompts with each model's output (admin)."""
    svc = get_state(request)

    def create() -> int:
        data = "\n".join(json.dumps(r) for r in body.rows)
        return ops.create_arena(
            svc, slug=body.slug, name=body.name, k=body.k, policy=body.policy, data=data, source="rows"
        )

    aid = await run_in_threadpool(create)
    return CreatedOut(id=aid, slug=body.slug)


@router.post("/api/v1/tokens", response_model=TokenOut, status_code=201)
async def issue_token_api(body: TokenIn, request: Request, who: Principal = Depends(get_admin)) -> Any:
    """Issue an annotator (or LLM judge) token granted the given campaigns and arenas (admin)."""
    svc = get_state(request)
    tid, secret = await run_in_threadpool(
        lambda: ops.issue_invite(
            svc,
            annotator=body.annotator,
            kind=body.kind,
            label=body.label,
            campaigns=body.campaigns,
            arenas=body.arenas,
        )
    )
    return TokenOut(id=tid, token=secret, invite_url=f"{_base_url(request)}/join/{secret}")


@router.delete("/api/v1/tokens/{token_id}", status_code=204)
async def revoke_token_api(
    request: Request, token_id: int = Path(ge=1, le=DB_INT_MAX), who: Principal = Depends(get_admin)
) -> Response:
    """Revoke an annotator token (admin): it stops working at once (404 when there is no such token)."""
    await _revoke(request, token_id)
    return Response(status_code=204)


@router.get("/api/v1/campaigns/{slug}/agreement")
async def agreement_api(slug: str, request: Request, who: Principal = Depends(get_admin)) -> Any:
    """Krippendorff's alpha and Fleiss' kappa per criterion (admin)."""
    svc = get_state(request)
    c = svc.campaign(slug)
    await svc.writer.run(svc.core.sync_all)  # every acknowledged answer is in the core tables
    return [asdict(r) for r in await run_in_threadpool(ops.agreement, svc, c)]


@router.get("/api/v1/campaigns/{slug}/export")
@router.get("/admin/campaigns/{slug}/export", include_in_schema=False)
async def export_api(
    slug: str, request: Request, format: str = "jsonl", who: Principal = Depends(get_admin)
) -> Any:
    """Export the judgments: ``format=jsonl`` prefkit JSONL, ``trl`` TRL ``{prompt, chosen, rejected}`` rows
    (both readable by ``prefkit.data.io.read``), ``answers`` the raw answer log with shown positions (admin)."""
    svc = get_state(request)
    c = svc.campaign(slug)
    await svc.writer.run(svc.core.sync_all)  # every acknowledged answer is in the core tables
    body = await run_in_threadpool(ops.export_campaign, svc, c, format)
    name = {"jsonl": f"{slug}.jsonl", "trl": f"{slug}.trl.jsonl"}.get(format, f"{slug}.answers.jsonl")
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
