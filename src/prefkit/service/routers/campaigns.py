"""Annotation: the annotator's task pages (keyboard-driven) and the JSON API for programs and LLM judges."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from prefkit.service import ops, repo
from prefkit.service.campaigns import AnswerInvalid, CampaignConfig
from prefkit.service.deps import get_principal, get_state
from prefkit.service.repo import Principal
from prefkit.service.routers._page import page
from prefkit.service.state import ServiceState

DB_INT_MAX = 2**63 - 1
"""SQLite's largest integer: ids in paths and bodies are bounded by it (a larger one is a 422, not a 500)."""

router = APIRouter(tags=["campaigns"])


# ---- pages -------------------------------------------------------------------------------------------


@router.get("/c/{slug}", include_in_schema=False)
async def annotate(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Response:
    svc = get_state(request)
    c = ops.visible_campaign(svc, who, slug)
    task = ops.next_task(svc, who, c)
    if task is None:
        progress = repo.campaign_progress(svc.db(), c.id, c.config.overlap, who.token_id)
        return page(request, "done.html", who, campaign=c, progress=progress)
    answer = request.query_params.get("answer", "")
    undo = int(answer) if answer.isdigit() and len(answer) < 19 and svc.settings.undo_s > 0 else None
    return _task_page(request, who, c, task, flash=request.query_params.get("saved"), undo=undo)


def _task_page(
    request: Request,
    who: Principal,
    c: Any,
    task: Any,
    *,
    flash: str | None = None,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    undo: int | None = None,
) -> Response:
    """The task form; after a refused submission, with the message and what was filled in."""
    svc = get_state(request)
    cfg = c.config
    view = ops.task_view(svc, who, task)
    return page(
        request,
        "annotate.html",
        who,
        status_code=status_code,
        campaign=c,
        cfg=cfg,
        progress=repo.campaign_progress(svc.db(), c.id, cfg.overlap, who.token_id),
        guidelines=svc.markdown(c.guidelines),
        md=svc.markdown,
        flash=flash,
        error=error,
        undo=undo,
        undo_s=int(svc.settings.undo_s),
        values=values or {},
        task=view.task,
        positions=view.positions,
        shown=view.shown,
        suggestion=_suggestion(svc, c, view),
    )


def _suggestion(svc: ServiceState, c: Any, view: ops.TaskView) -> Any:
    """A judge's suggested answer, in words, when the campaign shows suggestions (:mod:`prefkit.service.lead`)."""
    from prefkit.service import lead

    s = lead.suggestion(svc, c, view.task.id)
    if s is None:
        return None
    return {
        "source": s.source,
        "rationale": s.rationale,
        "parts": lead.describe(c.shape, s.answer, view.positions),
    }


@router.get("/c/{slug}/guidelines", include_in_schema=False)
async def guidelines(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Response:
    svc = get_state(request)
    c = ops.visible_campaign(svc, who, slug)
    return page(request, "guidelines.html", who, campaign=c, guidelines=svc.markdown(c.guidelines))


def _form_answer(cfg: CampaignConfig, n: int, form: Any) -> dict[str, Any]:
    """Read the task form (fields ``c{j}``, ``s{j}``, ``o{j}``, ``r{j}_{i}``) into the canonical raw answer."""
    out: dict[str, Any] = {}
    names = cfg.attributes if cfg.shape == "rating" else cfg.criteria
    try:
        for j, name in enumerate(names):
            if cfg.shape == "pairwise":
                w = form.get(f"c{j}")
                if w is None:
                    raise AnswerInvalid(f"choose an answer for {name!r} (keys 1, 2, or 0 for a tie)")
                s = form.get(f"s{j}") or None
                out[name] = {"winner": "tie" if w == "tie" else int(w), "strength": int(s) if s else None}
            elif cfg.shape == "ranking":
                text = str(form.get(f"o{j}", "")).strip()
                if not text:
                    raise AnswerInvalid(
                        f"rank the responses on {name!r}: move them into order (number key, then arrows), "
                        "or press K to keep the shown order"
                    )
                groups = [[int(x) for x in g.split("=")] for g in text.split(",")]
                out[name] = {"order": [g if len(g) > 1 else g[0] for g in groups]}
            else:
                scores = []
                for i in range(n):
                    v = form.get(f"r{j}_{i}")
                    if v in (None, ""):
                        raise AnswerInvalid(f"rate every response on {name!r}")
                    scores.append(int(v))
                out[name] = {"scores": scores}
    except AnswerInvalid:
        raise
    except ValueError:
        raise AnswerInvalid("the form was not filled in correctly: reload the page and try again") from None
    return out


@router.post("/c/{slug}/tasks/{task_id}", include_in_schema=False)
async def answer_form(
    slug: str,
    request: Request,
    task_id: int = Path(ge=0, le=DB_INT_MAX),
    who: Principal = Depends(get_principal),
) -> Response:
    svc = get_state(request)
    c = ops.visible_campaign(svc, who, slug)
    form = await request.form()
    if form.get("action") == "skip":
        aid, _ = await ops.submit_answer(svc, who, c, task_id, None, None, skip=True)
        return RedirectResponse(f"/c/{slug}?saved=skipped&answer={aid}", status_code=303)
    if svc.task_info(c.id, task_id) is None:
        raise HTTPException(404, f"no task {task_id} in campaign {slug!r}")
    task = repo.get_task(svc.db(), task_id)
    rationale = form.get("rationale")
    try:
        raw = _form_answer(c.config, len(task.candidates), form)
        aid, _ = await ops.submit_answer(
            svc, who, c, task_id, raw, rationale if isinstance(rationale, str) else None
        )
    except AnswerInvalid as exc:  # the form again, with the message and what was filled in
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        return _task_page(request, who, c, task, error=str(exc), values=values, status_code=422)
    return RedirectResponse(f"/c/{slug}?saved=1&answer={aid}", status_code=303)


@router.post("/c/{slug}/undo", include_in_schema=False)
async def undo_form(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Response:
    """Take the last answer back (inside the undo window): its task is dealt again."""
    svc = get_state(request)
    c = ops.visible_campaign(svc, who, slug)
    form = await request.form()
    answer = form.get("answer")
    if not isinstance(answer, str) or not answer.isdigit() or len(answer) > 18:
        raise HTTPException(422, "answer: the id of the answer to take back")
    await ops.undo_answer(svc, who, c, int(answer))
    return RedirectResponse(f"/c/{slug}?saved=undone", status_code=303)


# ---- API ---------------------------------------------------------------------------------------------


class Candidate(BaseModel):
    index: int = Field(description="the candidate's index in the task (use it in answers)")
    id: str
    text: str | None = None
    image: str | None = None
    audio: str | None = None
    video: str | None = None


class TaskOut(BaseModel):
    campaign: str
    task_id: int
    shape: str
    criteria: list[str] = Field(description="criteria (pairwise, ranking) or attributes (rating) to answer")
    context: dict[str, str]
    candidates: list[Candidate] = Field(
        description="in the order shown to this annotator (randomised, recorded)"
    )
    allow_tie: bool
    strength: bool
    scale: list[int]
    rationale_required: bool
    progress: dict[str, int]
    suggestion: dict[str, Any] | None = Field(
        default=None,
        description="a judge's suggested answer (candidates by task index) with its source, when the campaign "
        "shows suggestions",
    )


class JudgmentIn(BaseModel):
    campaign: str = Field(max_length=63)
    task_id: int = Field(ge=0, le=DB_INT_MAX)
    answer: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description='per criterion: pairwise {"winner": 0|1|"tie", "strength": 1-3|null}; ranking {"order": [best..worst]};'
        ' rating {"scores": [one per candidate]}; candidates by their task index',
    )
    rationale: str | None = Field(default=None, max_length=5000)
    skip: bool = False


class JudgmentOut(BaseModel):
    id: int
    duplicate: bool


@router.get(
    "/api/v1/campaigns/{slug}/tasks/next",
    response_model=TaskOut,
    responses={204: {"description": "no task left"}},
)
async def next_task_api(slug: str, request: Request, who: Principal = Depends(get_principal)) -> Any:
    """The next task for this token (204 when none is left)."""
    svc = get_state(request)
    c = ops.visible_campaign(svc, who, slug)
    cfg = c.config
    conn = svc.db()
    task = ops.next_task(svc, who, c)
    if task is None:
        return Response(status_code=204)
    view = ops.task_view(svc, who, task)
    return TaskOut(
        campaign=slug,
        task_id=task.id,
        shape=cfg.shape,
        criteria=cfg.attributes if cfg.shape == "rating" else cfg.criteria,
        context=task.context,
        candidates=[Candidate(index=i, **cand) for i, cand in view.shown],
        allow_tie=cfg.allow_tie,
        strength=cfg.strength,
        scale=[cfg.scale_min, cfg.scale_max],
        rationale_required=cfg.rationale_required,
        progress=repo.campaign_progress(conn, c.id, cfg.overlap, who.token_id).as_dict(),
        suggestion=_suggestion_api(svc, c, task.id),
    )


def _suggestion_api(svc: ServiceState, c: Any, task_id: int) -> dict[str, Any] | None:
    from prefkit.service import lead

    s = lead.suggestion(svc, c, task_id)
    return None if s is None else {"answer": s.answer, "source": s.source, "rationale": s.rationale}


@router.post("/api/v1/judgments", response_model=JudgmentOut, status_code=201)
async def submit_judgment(body: JudgmentIn, request: Request, who: Principal = Depends(get_principal)) -> Any:
    """Submit (or skip) one task. Acknowledged = committed to disk. The same answer again returns
    ``duplicate: true``; a different answer to an answered task is refused with 409."""
    aid, dup = await judge(get_state(request), who, body)
    return JudgmentOut(id=aid, duplicate=dup)


@router.post("/api/v1/judgments/{answer_id}/undo", status_code=204)
async def undo_judgment(
    request: Request,
    answer_id: int = Path(ge=1, le=DB_INT_MAX),
    campaign: str = "",
    who: Principal = Depends(get_principal),
) -> Response:
    """Take back one of this token's answers (or skips) of ``campaign`` within the undo window
    (``Settings.undo_s``, 10 s by default; 409 after it, or once an export made it final); the task is dealt
    again."""
    svc = get_state(request)
    c = ops.visible_campaign(svc, who, campaign)
    await ops.undo_answer(svc, who, c, answer_id)
    return Response(status_code=204)


async def judge(svc: ServiceState, who: Principal, body: JudgmentIn) -> tuple[int, bool]:
    """What ``POST /api/v1/judgments`` does (shared with the fast lane, :mod:`prefkit.service.fastlane`)."""
    c = ops.visible_campaign(svc, who, body.campaign)
    if not body.skip and body.answer is None:
        raise HTTPException(422, "answer: required unless skip is true")
    return await ops.submit_answer(svc, who, c, body.task_id, body.answer, body.rationale, skip=body.skip)
