"""Routed campaigns (admin): the judge's state, running it again, handing waiting instances to people."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from prefkit.errors import NotFoundError
from prefkit.service import routing
from prefkit.service.deps import get_admin, get_state
from prefkit.service.repo import Principal

router = APIRouter(tags=["routing"])


class JudgeIn(BaseModel):
    model: str = Field(
        max_length=200, description="a model on an OpenAI-compatible server, local:smollm2, scripted[:...]"
    )
    base_url: str | None = Field(
        default=None, max_length=500, description="the server, e.g. http://127.0.0.1:8080/v1"
    )
    protocol: str = "mt-bench-pair-v2"


class RoutingIn(BaseModel):
    mode: Literal["plan", "online"] = Field(
        default="plan",
        description="plan: rows with route ai go to the judge; online: every row not routed to people is asked of "
        "the judge in both orders first, and goes to people when the judge flips or the panel disagrees",
    )
    judges: list[JudgeIn] = Field(min_length=1, max_length=5, description="one judge, or a panel")
    retries: int = 3
    timeout: float = 120.0
    concurrency: int = 4


def to_config(body: RoutingIn | None) -> routing.RoutingConfig | None:
    if body is None:
        return None
    return routing.RoutingConfig(
        mode=body.mode,
        judges=[routing.JudgeSpec(**j.model_dump()) for j in body.judges],
        retries=body.retries,
        timeout=body.timeout,
        concurrency=body.concurrency,
    ).validate()


def form_config(form: Any) -> routing.RoutingConfig | None:
    """The routing fields of the new-campaign form (None when no judge is given)."""

    def field(name: str) -> str:
        v = form.get(name, "")
        return v.strip() if isinstance(v, str) else ""

    models = [m.strip() for m in field("judge_model").split(",") if m.strip()]
    if not models:
        return None
    base = field("judge_base_url") or None
    protocol = field("judge_protocol") or "mt-bench-pair-v2"
    return routing.RoutingConfig(
        mode=field("routing_mode") or "plan",
        judges=[routing.JudgeSpec(m, base, protocol) for m in models],
    ).validate()


def _status(request: Request, slug: str) -> tuple[Any, dict[str, Any]]:
    svc = get_state(request)
    c = svc.campaign(slug)
    st = routing.status(svc.db(), c.id)
    if st is None:
        raise NotFoundError(f"campaign {slug!r} is not routed")
    return c, st


@router.get("/api/v1/campaigns/{slug}/routing")
async def routing_status(slug: str, request: Request, who: Principal = Depends(get_admin)) -> Any:
    """A routed campaign's judge: mode, state (waiting, running, idle, error), the last error, and tasks by
    route (human, ai, pending) and reason (admin; 404 for a campaign without routes)."""
    return _status(request, slug)[1]


@router.post("/api/v1/campaigns/{slug}/routing/run")
@router.post("/admin/campaigns/{slug}/routing/run", include_in_schema=False)
async def routing_run(slug: str, request: Request, who: Principal = Depends(get_admin)) -> Any:
    """Start the judge again on the waiting instances (after an error was fixed) (admin)."""
    svc = get_state(request)
    c, _ = _status(request, slug)
    await svc.writer.run(lambda conn: routing._set_state(conn, c.id, "waiting", None))
    svc.routing.kick(c.id)
    return _after(request, slug, {"state": "waiting"})


@router.post("/api/v1/campaigns/{slug}/routing/release")
@router.post("/admin/campaigns/{slug}/routing/release", include_in_schema=False)
async def routing_release(slug: str, request: Request, who: Principal = Depends(get_admin)) -> Any:
    """Hand every instance still waiting for the judge to people (admin)."""
    svc = get_state(request)
    c, _ = _status(request, slug)
    n = await svc.writer.run(lambda conn: routing.release(conn, c.id))
    return _after(request, slug, {"released": n})


def _after(request: Request, slug: str, body: dict[str, Any]) -> Response | dict[str, Any]:
    if request.url.path.startswith("/admin/"):
        return RedirectResponse(f"/admin/campaigns/{slug}", status_code=303)
    return body
