"""The annotation lead's routes: per-annotator quality, browsing answers, campaign status / guidelines /
deletion, reviewers and the review queue, suggestions, token listing, arena exports and clearing flags."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from prefkit.errors import ValidationError
from prefkit.service import lead, ops, repo
from prefkit.service.campaigns import AnswerInvalid
from prefkit.service.deps import get_admin, get_principal, get_state
from prefkit.service.repo import Principal
from prefkit.service.routers._page import page

router = APIRouter(tags=["lead"])
DB_INT_MAX = 2**63 - 1


def _field(form: Any, name: str, default: str = "") -> str:
    v = form.get(name, default)
    return v if isinstance(v, str) else default


# ---- quality, answers ----------------------------------------------------------------------------------


@router.get("/api/v1/campaigns/{slug}/annotators")
async def annotators_api(slug: str, request: Request, who: Principal = Depends(get_admin)) -> Any:
    """Per annotator (admin): done, skipped and left; median seconds per answer and answers too fast / too slow
    (modified z-score of log seconds); exact agreement with the other annotators on the same tasks; accuracy on
    gold tasks (Wilson 95% interval); attention checks failed; answers reviewed / overridden; flags."""
    svc = get_state(request)
    c = svc.campaign(slug)
    report = await run_in_threadpool(lead.quality, svc, c)
    return {
        "campaign": slug,
        "status": svc.lead.opts(c.id).status,
        "gold_tasks": report.gold_tasks,
        "attention_tasks": report.attention_tasks,
        "median_seconds": report.median_seconds,
        "annotators": [asdict(a) for a in report.annotators],
    }


def _browse_args(
    annotator: str = Query("", max_length=80),
    contains: str = Query("", max_length=200),
    status: str = Query("", max_length=20),
    flag: str = Query("", max_length=20),
    check: str = Query("", max_length=20),
    review: str = Query("", max_length=20),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10**9),
) -> dict[str, Any]:
    return {
        "annotator": annotator,
        "contains": contains,
        "status": status,
        "flag": flag,
        "check": check,
        "review": review,
        "limit": limit,
        "offset": offset,
    }


@router.get("/api/v1/campaigns/{slug}/answers")
async def answers_api(
    slug: str,
    request: Request,
    args: dict[str, Any] = Depends(_browse_args),
    who: Principal = Depends(get_admin),
) -> Any:
    """A campaign's answers, newest first, with rationales, times, flags, gold results and reviews (admin).
    Filters: ``annotator``, ``contains`` (in the rationale), ``status`` (done, skipped), ``flag`` (too-fast,
    too-slow, any), ``check`` (gold, attention, wrong, none), ``review`` (unreviewed, accept, override,
    overrides); ``limit`` (1-500), ``offset``."""
    svc = get_state(request)
    c = svc.campaign(slug)
    total, rows = await run_in_threadpool(lambda: lead.browse(svc, c, **args))
    return {"total": total, "answers": [asdict(r) for r in rows]}


@router.get("/admin/campaigns/{slug}/answers", include_in_schema=False)
async def answers_page(
    slug: str,
    request: Request,
    args: dict[str, Any] = Depends(_browse_args),
    who: Principal = Depends(get_admin),
) -> Response:
    svc = get_state(request)
    c = svc.campaign(slug)
    total, rows = await run_in_threadpool(lambda: lead.browse(svc, c, **args))
    return page(
        request, "lead_answers.html", who, campaign=c, total=total, rows=rows, args=args, filters=lead.FILTERS
    )


# ---- campaign status, guidelines, deletion ---------------------------------------------------------------


class CampaignPatch(BaseModel):
    status: Literal["open", "paused", "closed"] | None = None
    suggestions: bool | None = Field(default=None, description="show stored suggestions to annotators")
    guidelines: str | None = Field(default=None, max_length=100_000, description="Markdown")


@router.patch("/api/v1/campaigns/{slug}")
async def patch_campaign(
    slug: str, body: CampaignPatch, request: Request, who: Principal = Depends(get_admin)
) -> Any:
    """Pause (no new tasks; tasks already dealt may still be sent), close (no more answers), reopen; switch
    suggestions on or off; replace the guidelines (admin)."""
    svc = get_state(request)
    c = svc.campaign(slug)
    if body.status is None and body.suggestions is None and body.guidelines is None:
        raise ValidationError("give status, suggestions or guidelines")
    o = await lead.update_campaign(
        svc, c, status=body.status, suggestions=body.suggestions, guidelines=body.guidelines
    )
    return {"slug": slug, "status": o.status, "suggestions": o.suggestions}


@router.delete("/api/v1/campaigns/{slug}", status_code=204)
async def delete_campaign_api(
    slug: str, request: Request, confirm: str = Query("", max_length=63), who: Principal = Depends(get_admin)
) -> Response:
    """Delete a campaign (admin; ``confirm`` must repeat its slug): its tasks, answers and grants leave the
    service; its judgments stay in the project store; the slug cannot be used again."""
    svc = get_state(request)
    await lead.delete_campaign(svc, svc.campaign(slug), confirm)
    return Response(status_code=204)


@router.post("/admin/campaigns/{slug}/settings", include_in_schema=False)
async def settings_form(slug: str, request: Request, who: Principal = Depends(get_admin)) -> Response:
    svc = get_state(request)
    c = svc.campaign(slug)
    form = await request.form()
    status = _field(form, "status") or None
    guidelines = form.get("guidelines")
    await lead.update_campaign(
        svc,
        c,
        status=status,
        suggestions=bool(form.get("suggestions")) if "suggestions_shown" in form else None,
        guidelines=guidelines if isinstance(guidelines, str) else None,
    )
    return RedirectResponse(f"/admin/campaigns/{slug}", status_code=303)


@router.post("/admin/campaigns/{slug}/delete", include_in_schema=False)
async def delete_form(slug: str, request: Request, who: Principal = Depends(get_admin)) -> Response:
    svc = get_state(request)
    form = await request.form()
    await lead.delete_campaign(svc, svc.campaign(slug), _field(form, "confirm"))
    return RedirectResponse("/admin", status_code=303)


# ---- reviewers and reviews -------------------------------------------------------------------------------


class ReviewerIn(BaseModel):
    token_id: int = Field(ge=1, le=DB_INT_MAX)
    reviewer: bool = True


@router.post("/api/v1/campaigns/{slug}/reviewers", status_code=204)
async def reviewer_api(
    slug: str, body: ReviewerIn, request: Request, who: Principal = Depends(get_admin)
) -> Response:
    """Make an annotator token (granted the campaign) a reviewer of its answers, or stop it (admin)."""
    svc = get_state(request)
    await lead.set_reviewer(svc, svc.campaign(slug), body.token_id, body.reviewer)
    return Response(status_code=204)


@router.post("/admin/campaigns/{slug}/reviewers", include_in_schema=False)
async def reviewer_form(slug: str, request: Request, who: Principal = Depends(get_admin)) -> Response:
    svc = get_state(request)
    form = await request.form()
    tok = _field(form, "token_id")
    if not tok.isdigit() or len(tok) > 18:
        raise ValidationError("token_id: the number of an annotator token (see the invites)")
    await lead.set_reviewer(svc, svc.campaign(slug), int(tok), _field(form, "reviewer", "1") == "1")
    return RedirectResponse(f"/admin/campaigns/{slug}", status_code=303)


class ReviewOut(BaseModel):
    answer_id: int
    annotator: str
    answer: dict[str, Any]
    rationale: str | None
    task_id: int
    context: dict[str, str]
    candidates: list[dict[str, Any]] = Field(
        description="in the order shown to the annotator, with their index"
    )


class ReviewIn(BaseModel):
    campaign: str = Field(max_length=63)
    answer_id: int = Field(ge=1, le=DB_INT_MAX)
    decision: Literal["accept", "override"]
    answer: dict[str, dict[str, Any]] | None = Field(
        default=None, description="the reviewer's answer (override)"
    )
    rationale: str | None = Field(default=None, max_length=5000)


class ReviewResult(BaseModel):
    answer_id: int
    decision: str
    override_id: int | None


@router.get(
    "/api/v1/campaigns/{slug}/reviews/next",
    response_model=ReviewOut,
    responses={204: {"description": "nothing to review"}},
)
async def next_review_api(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Any:
    """The next answer to review (a reviewer of the campaign, or the admin; 204 when none waits)."""
    svc = get_state(request)
    c = ops.visible_campaign(svc, who, slug)
    item = lead.next_review(svc, who, c)
    if item is None:
        return Response(status_code=204)
    shown = [{"index": i, **item.candidates[i]} for i in item.positions]
    return ReviewOut(
        answer_id=item.answer_id,
        annotator=item.annotator,
        answer=item.answer,
        rationale=item.rationale,
        task_id=item.task_id,
        context=item.context,
        candidates=shown,
    )


@router.post("/api/v1/reviews", response_model=ReviewResult, status_code=201)
async def review_api(body: ReviewIn, request: Request, who: Principal = Depends(get_principal)) -> Any:
    """Accept an answer, or override it with the reviewer's own (stored as a new answer; the original stays)."""
    svc = get_state(request)
    c = ops.visible_campaign(svc, who, body.campaign)
    new_id = await lead.review(svc, who, c, body.answer_id, body.decision, body.answer, body.rationale)
    return ReviewResult(answer_id=body.answer_id, decision=body.decision, override_id=new_id)


@router.get("/c/{slug}/review", include_in_schema=False)
async def review_page(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Response:
    svc = get_state(request)
    c = ops.visible_campaign(svc, who, slug)
    item = lead.next_review(svc, who, c)
    return page(
        request,
        "review.html",
        who,
        campaign=c,
        cfg=c.config,
        item=item,
        md=svc.markdown,
        flash=request.query_params.get("saved"),
        error=None,
    )


@router.post("/c/{slug}/review", include_in_schema=False)
async def review_form(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Response:
    from prefkit.service.routers.campaigns import _form_answer

    svc = get_state(request)
    c = ops.visible_campaign(svc, who, slug)
    form = await request.form()
    aid = _field(form, "answer_id")
    if not aid.isdigit() or len(aid) > 18:
        raise ValidationError("answer_id: the id of the answer under review")
    decision = _field(form, "decision")
    raw = None
    rationale = _field(form, "rationale") or None
    if decision == "override":
        item = lead.next_review(svc, who, c)
        n = len(item.candidates) if item is not None and item.answer_id == int(aid) else 0
        if n == 0:
            raise ValidationError("this answer is no longer waiting for review: reload the page")
        try:
            raw = _form_answer(c.config, n, form)
        except AnswerInvalid as exc:
            return page(
                request,
                "review.html",
                who,
                status_code=422,
                campaign=c,
                cfg=c.config,
                item=item,
                md=svc.markdown,
                flash=None,
                error=str(exc),
            )
    await lead.review(svc, who, c, int(aid), decision, raw, rationale)
    return RedirectResponse(f"/c/{slug}/review?saved={decision}", status_code=303)


# ---- suggestions -----------------------------------------------------------------------------------------


class SuggestionsIn(BaseModel):
    suggestions: list[dict[str, Any]] = Field(
        description='{"task_id", "answer" (as in POST /api/v1/judgments), "source" (the judge), "rationale"}'
    )


@router.post("/api/v1/campaigns/{slug}/suggestions", status_code=201)
async def suggestions_api(
    slug: str, body: SuggestionsIn, request: Request, who: Principal = Depends(get_admin)
) -> Any:
    """Store pre-annotation suggestions (a judge's or a reward model's answers), all or none (admin); annotators
    see them when the campaign's ``suggestions`` switch is on."""
    svc = get_state(request)
    n = await lead.add_suggestions(svc, svc.campaign(slug), body.suggestions)
    return {"stored": n}


class JudgeIn(BaseModel):
    model: str = Field(
        min_length=1,
        max_length=500,
        description="a judge as `prefkit judge --model` takes it: local:smollm2, scripted[:...], reward:DIR, or "
        "a model on an OpenAI-compatible server (base_url)",
    )
    base_url: str | None = Field(default=None, max_length=500)
    protocol: str = Field(default="mt-bench-pair-v2", max_length=80)


@router.post("/api/v1/campaigns/{slug}/suggestions/judge", status_code=201)
async def judge_suggestions_api(
    slug: str, body: JudgeIn, request: Request, who: Principal = Depends(get_admin)
) -> Any:
    """Run a judge of :mod:`prefkit.annotation` over every task of a pairwise campaign and store its verdicts as
    suggestions (admin; an LLM judge takes as long as its runs do)."""
    from prefkit.annotation.factory import JudgeOptions, open_judge

    svc = get_state(request)
    c = svc.campaign(slug)
    if c.config.shape != "pairwise":
        raise ValidationError(
            "judge suggestions: pairwise campaigns only (post ranking / rating suggestions)"
        )

    def run() -> list[dict[str, Any]]:
        with open_judge(body.model, JudgeOptions(base_url=body.base_url, protocol=body.protocol)) as (
            judge,
            _,
        ):
            return lead.judge_suggestions(svc, c, judge)

    items = await run_in_threadpool(run)
    n = await lead.add_suggestions(svc, c, items) if items else 0
    return {"stored": n, "judged": len(items)}


# ---- tokens, arenas --------------------------------------------------------------------------------------


@router.get("/api/v1/tokens")
async def tokens_api(request: Request, who: Principal = Depends(get_admin)) -> Any:
    """Every annotator token (admin): id, annotator, kind, label, grants, revoked (secrets are not stored)."""
    return [asdict(t) for t in repo.list_tokens(get_state(request).db())]


@router.get("/api/v1/arenas/{slug}/export")
@router.get("/admin/arenas/{slug}/export", include_in_schema=False)
async def arena_export(
    slug: str,
    request: Request,
    format: str = Query("jsonl", max_length=20),
    who: Principal = Depends(get_admin),
) -> Response:
    """An arena's votes (admin): ``format=jsonl`` prefkit JSONL (K-wise votes as rankings), ``arena`` the arena
    battle log (K-wise votes as the pairs they imply)."""
    svc = get_state(request)
    a = svc.arena(slug)
    if format not in lead.ARENA_FORMATS:
        raise ValidationError("format: jsonl (prefkit JSONL) or arena (the arena battle log)")
    await svc.writer.run(svc.core.sync_all)
    body = await run_in_threadpool(lead.export_arena, svc, a, format)
    name = f"{slug}.jsonl" if format == "jsonl" else f"{slug}.arena.jsonl"
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.delete("/api/v1/arenas/{slug}/flags/{token_id}", status_code=204)
async def clear_flag_api(
    slug: str,
    request: Request,
    token_id: int = Path(ge=1, le=DB_INT_MAX),
    who: Principal = Depends(get_admin),
) -> Response:
    """Clear a voter's vote-hygiene flag (admin): its votes count again and its counters start afresh."""
    svc = get_state(request)
    await lead.clear_flag(svc, svc.arena(slug), token_id)
    return Response(status_code=204)


@router.post("/admin/arenas/{slug}/flags/{token_id}/clear", include_in_schema=False)
async def clear_flag_form(
    slug: str,
    request: Request,
    token_id: int = Path(ge=1, le=DB_INT_MAX),
    who: Principal = Depends(get_admin),
) -> Response:
    svc = get_state(request)
    await lead.clear_flag(svc, svc.arena(slug), token_id)
    return RedirectResponse("/admin", status_code=303)
