"""What the routers do, shared by the HTML pages and the JSON API (thin: validate, call repo/maths, return)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from prefkit.errors import NotFoundError, PermissionDeniedError, ValidationError
from prefkit.service import core, lead, repo
from prefkit.service.campaigns import (
    CampaignConfig,
    build_tasks,
    canonical_answer,
    check_slug,
    export_rows,
    parse_rows,
)
from prefkit.service.records import Arena, Campaign, Task
from prefkit.service.routing import RoutingConfig, check_open
from prefkit.service.writer import AfterCommit

if TYPE_CHECKING:
    from prefkit.data.model import Dataset
    from prefkit.service.repo import Principal
    from prefkit.service.state import ServiceState


def visible_campaign(svc: ServiceState, who: Principal, slug: str) -> Campaign:
    """The campaign ``slug`` if ``who`` may see it: NotFoundError when it does not exist, PermissionDeniedError
    when not granted."""
    c = svc.campaign(slug)
    if not who.may_campaign(c.id):
        raise PermissionDeniedError("this token has no access to that campaign")
    return c


def visible_arena(svc: ServiceState, who: Principal, slug: str) -> Arena:
    a = svc.arena(slug)
    if not who.may_arena(a.id):
        raise PermissionDeniedError("this token has no access to that arena")
    return a


def create_campaign(
    svc: ServiceState,
    *,
    slug: str,
    name: str,
    cfg: CampaignConfig,
    guidelines: str,
    data: bytes | str,
    source: str,
    routing: RoutingConfig | None = None,
) -> int:
    """Create a campaign from a JSONL file; a routing plan (rows with ``route``) and/or a judge (``routing``)
    make it a routed campaign (:mod:`prefkit.service.routing`)."""
    from prefkit.service import routing as routed

    check_slug(slug)
    cfg.validate()
    rows = parse_rows(data, source, svc.settings.media_origins)
    tasks = build_tasks(rows, cfg.shape)
    if len(tasks) > 200_000:
        raise ValidationError("too many tasks (over 200,000): split the file into several campaigns")
    lead.check_gold(cfg, tasks)  # gold answers that do not fit the campaign are refused before any write
    routes = routed.plan_tasks(cfg, routing, rows, data, source)  # bad routes: FILE:LINE, nothing stored

    def op(conn: Any) -> int:
        lead.check_slug_free(conn, slug)
        cid = repo.insert_campaign(conn, slug, name or slug, cfg, guidelines, tasks)
        lead.store_gold(conn, cid, cfg, tasks)
        svc.core.register_campaign(conn, slug, cfg, tasks)
        if routes is not None:
            judge = None
            if routing is not None:
                judge, _ = repo.issue_token(
                    conn, role="annotator", annotator=routing.judge_name, kind="model",
                    label=f"judge of {slug}", campaigns=[cid],
                )  # fmt: skip
                svc.core.register_annotator(conn, routing.judge_name, "model")
            routed.store_routes(conn, cid, routing, routes, judge)
        return cid

    cid = int(svc.writer.call(op))
    if routing is not None:
        svc.forget_tokens()
        svc.routing.kick(cid)  # the judge starts in the background
    return cid


def create_arena(
    svc: ServiceState, *, slug: str, name: str, k: int, policy: str, data: bytes | str, source: str
) -> int:
    from prefkit.ranking.arena.engine import Arena as Engine
    from prefkit.service.arenas import parse_arena_rows

    check_slug(slug)
    models, prompts = parse_arena_rows(data, source)
    if not 2 <= k <= min(8, len(models)):
        raise ValidationError(
            f"k: show between 2 and {min(8, len(models))} models per match (the file has {len(models)})"
        )
    Engine(
        models, k=k, policy=policy, seed=0
    )  # an unknown policy (or one that cannot deal K) is refused here,
    # before anything is written

    def op(conn: Any) -> int:
        aid = repo.insert_arena(conn, slug, name or slug, k, policy, models, prompts)
        svc.core.register_arena(conn, slug, models, prompts)
        return aid

    aid = int(svc.writer.call(op))
    svc.arenas.runtime(svc.arena(slug))  # its engine, built now rather than on the first match
    return aid


def issue_invite(
    svc: ServiceState,
    *,
    annotator: str,
    kind: str,
    label: str,
    campaigns: list[str],
    arenas: list[str],
    secret: str | None = None,
) -> tuple[int, str]:
    conn = svc.db()
    cids = [repo.get_campaign(conn, s).id for s in campaigns]
    aids = [repo.get_arena(conn, s).id for s in arenas]

    def op(c: Any) -> tuple[int, str]:
        out = repo.issue_token(
            c,
            role="annotator",
            annotator=annotator,
            kind=kind,
            label=label,
            campaigns=cids,
            arenas=aids,
            secret=secret,
        )
        svc.core.register_annotator(c, annotator, kind)  # a name used with another kind is refused here
        return out

    out = svc.writer.call(op)
    svc.forget_tokens()
    return int(out[0]), str(out[1])


@dataclass(frozen=True)
class TaskView:
    """A task as one annotator sees it: ``shown`` is ``(index in the task, candidate)`` in the shown order."""

    task: Task
    positions: list[int]
    shown: list[tuple[int, dict[str, str]]]


def next_task(svc: ServiceState, who: Principal, campaign: Campaign) -> Task | None:
    """The next task for ``who``, leased to it: the first (in campaign order) it has not answered whose done
    answers plus other annotators' live leases stay under the overlap."""
    svc.lead.check_dealing(campaign)  # paused or closed: 409
    overlap = campaign.config.overlap
    gold = svc.lead.gold(campaign.id)  # gold and attention tasks go to every annotator
    now = time.time()
    for task in repo.open_tasks(svc.db(), campaign.id, overlap, who.token_id):
        if task.id in gold or task.n_done + svc.leases.others(task.id, who.token_id, now) < overlap:
            svc.leases.take(task.id, who.token_id, now)
            return task
    return None


def task_view(svc: ServiceState, who: Principal, task: Task) -> TaskView:
    """The task as this annotator sees it: candidates in its randomised (recorded) order."""
    pos = svc.positions(task.id, who.token_id, len(task.candidates))
    return TaskView(task, pos, [(i, task.candidates[i]) for i in pos])


async def submit_answer(
    svc: ServiceState,
    who: Principal,
    campaign: Campaign,
    task_id: int,
    raw: dict[str, Any] | None,
    rationale: str | None,
    *,
    skip: bool = False,
) -> tuple[int, bool]:
    info = svc.task_info(campaign.id, task_id)
    if info is None:
        raise NotFoundError(f"no task {task_id} in campaign {campaign.slug!r}")
    n = len(info[1])
    cfg = campaign.config
    svc.lead.check_accepting(campaign)  # closed: 409
    if skip:
        answer: dict[str, Any] = {}
        status = "skipped"
        rationale = None
    else:
        answer = canonical_answer(cfg, n, raw or {}, rationale)
        status = "done"
    rationale = rationale or None
    pos = svc.positions(task_id, who.token_id, n)
    seconds = svc.leases.started(task_id, who.token_id, time.time())

    def op(conn: Any) -> Any:
        check_open(conn, task_id)  # a task routed to the judge takes no answer from a token
        aid, dup = repo.save_answer(
            conn,
            task_id=task_id,
            overlap=cfg.overlap,
            campaign_id=campaign.id,
            token_id=who.token_id,
            status=status,
            answer=answer,
            positions=pos,
            rationale=rationale,
        )
        if not dup:
            lead.record_time(conn, aid, seconds)
        if dup or status != "done":
            return aid, dup
        return AfterCommit((aid, dup), follow_up=True)  # copied into the core tables by the writer

    out = await svc.writer.run(op)
    svc.leases.release(task_id, who.token_id)
    return out  # type: ignore[no-any-return]


async def undo_answer(svc: ServiceState, who: Principal, campaign: Campaign, answer_id: int) -> int:
    """Take back ``who``'s answer ``answer_id`` of ``campaign`` inside the undo window; return its task id."""

    def op(conn: Any) -> int:
        row = conn.execute("SELECT campaign_id FROM svc_answers WHERE id = ?", (answer_id,)).fetchone()
        if row is None or int(row[0]) != campaign.id:
            raise NotFoundError(f"no answer {answer_id} in campaign {campaign.slug!r}")
        return repo.undo_answer(
            conn,
            answer_id=answer_id,
            token_id=who.token_id,
            window_s=svc.settings.undo_s,
            final_through=core.answers_copied_through(conn),
        )

    return int(await svc.writer.run(op))


EXPORT_FORMATS = ("jsonl", "trl", "answers")


def campaign_dataset(svc: ServiceState, campaign: Campaign) -> Dataset:
    """The campaign's judgments as they are in the core tables (call after ``svc.core.sync_all`` in the
    writer, so that every acknowledged answer is there)."""
    from dataclasses import replace

    from prefkit.data.model import Dataset
    from prefkit.storage.store import ProjectStore

    source = core.campaign_source(campaign.slug)
    with ProjectStore(svc.settings.db_path, create=False) as store:
        known = store.conn.execute("SELECT 1 FROM imports WHERE source = ?", (source,)).fetchone()
        ds = store.to_dataset(source=source) if known else Dataset(source=source)
    return replace(ds, meta={})  # (the store merges every import's format details; ours has none)


def export_campaign(svc: ServiceState, campaign: Campaign, fmt: str) -> bytes:
    """A campaign's judgments as a file: ``jsonl`` prefkit JSONL and ``trl`` TRL rows, both written by
    :func:`prefkit.data.io.write` from the core tables (call after ``svc.core.sync_all`` in the writer) (rankings and ratings become the pairs they imply
    for TRL; ties are dropped there); ``answers`` the raw answer log with the shown positions and times."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(
            "format: jsonl (prefkit JSONL), trl ({prompt, chosen, rejected} rows) or answers (raw answer log)"
        )
    if fmt == "answers":
        return "".join(iter_answers(svc, campaign)).encode("utf-8")
    import tempfile
    from pathlib import Path

    from prefkit.data import io
    from prefkit.data.convert import to_pairwise

    ds = campaign_dataset(svc, campaign)
    if fmt == "trl":
        ds = to_pairwise(ds).dataset
    with tempfile.TemporaryDirectory(prefix="prefkit-export-") as tmp:
        path = Path(tmp) / "export.jsonl"
        io.write(ds, path, format="prefkit" if fmt == "jsonl" else "trl")
        return path.read_bytes()


def iter_answers(svc: ServiceState, campaign: Campaign) -> Iterator[str]:
    """JSONL lines of a campaign's raw answers (one per criterion / attribute / rated candidate), with the
    positions the candidates were shown in and the time."""
    conn = svc.db()
    tasks = repo.campaign_tasks(conn, campaign.id)
    for ans in repo.campaign_answers(conn, campaign.id):
        for r in export_rows(campaign.config, campaign.slug, tasks[ans.task_id], ans):
            yield json.dumps(r, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class AgreementRow:
    """Agreement on one criterion (or attribute) of a campaign."""

    criterion: str
    n_units: int
    n_answers: int
    alpha: float | None
    alpha_level: str
    kappa: float | None
    kappa_subjects: int
    note: str = ""


def agreement(svc: ServiceState, campaign: Campaign) -> list[AgreementRow]:
    """Krippendorff's alpha (every answer, missing allowed) and Fleiss' kappa (tasks with exactly ``overlap``
    answers) per criterion, from the campaign's judgments in the core tables (:mod:`prefkit.analysis.codings`;
    call after ``svc.core.sync_all``)."""
    from prefkit.analysis.codings import agreement_of, pairwise_codings, ranking_codings, rating_codings

    cfg = campaign.config
    ds = campaign_dataset(svc, campaign)
    out = []
    for name in cfg.attributes if cfg.shape == "rating" else cfg.criteria:
        if cfg.shape == "rating":
            rt = ds.ratings
            codings = rating_codings(rt.take(np.flatnonzero(rt.attribute == ds.attributes.get(name))))
        elif cfg.shape == "ranking":
            rk = ds.rankings
            codings = ranking_codings(rk.take(np.flatnonzero(rk.criterion == ds.criteria.get(name))))
        else:
            pw = ds.pairwise
            codings = pairwise_codings(pw.take(np.flatnonzero(pw.criterion == ds.criteria.get(name))))
        res = agreement_of(codings, raters=cfg.overlap)
        out.append(
            AgreementRow(
                name,
                res.n_units,
                res.n_judgments,
                res.alpha,
                res.level,
                res.kappa,
                res.kappa_subjects,
                "; ".join(res.notes),
            )
        )
    return out
