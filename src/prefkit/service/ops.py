"""What the routers do, shared by the HTML pages and the JSON API (thin: validate, call repo/maths, return)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from prefkit.errors import DataProblemError, ValidationError
from prefkit.service import core, repo
from prefkit.service.campaigns import (
    CampaignConfig,
    build_tasks,
    canonical_answer,
    check_slug,
    export_rows,
    parse_rows,
)
from prefkit.service.writer import AfterCommit

if TYPE_CHECKING:
    from prefkit.service.repo import Principal
    from prefkit.service.state import ServiceState


def visible_campaign(svc: ServiceState, who: Principal, slug: str) -> dict[str, Any]:
    """The campaign ``slug`` if ``who`` may see it: NotFound when it does not exist, 403 when not granted."""
    from fastapi import HTTPException

    c = svc.campaign(slug)
    if not who.may_campaign(c["id"]):
        raise HTTPException(403, "this token has no access to that campaign")
    return c


def visible_arena(svc: ServiceState, who: Principal, slug: str) -> dict[str, Any]:
    from fastapi import HTTPException

    a = svc.arena(slug)
    if not who.may_arena(a["id"]):
        raise HTTPException(403, "this token has no access to that arena")
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
) -> int:
    check_slug(slug)
    cfg.validate()
    rows = parse_rows(data, source)
    tasks = build_tasks(rows, cfg.shape)
    if len(tasks) > 200_000:
        raise ValidationError("too many tasks (over 200,000): split the file into several campaigns")

    def op(conn: Any) -> int:
        cid = repo.insert_campaign(conn, slug, name or slug, cfg, guidelines, tasks)
        svc.core.register_campaign(conn, slug, cfg, tasks)
        return cid

    return int(svc.writer.call(op))


def create_arena(
    svc: ServiceState, *, slug: str, name: str, k: int, policy: str, data: bytes | str, source: str
) -> int:
    from prefkit.service.arenas import parse_arena_rows

    check_slug(slug)
    models, prompts = parse_arena_rows(data, source)
    if not 2 <= k <= min(8, len(models)):
        raise ValidationError(
            f"k: show between 2 and {min(8, len(models))} models per match (the file has {len(models)})"
        )
    cfg = {"policy": policy}

    def op(conn: Any) -> int:
        aid = repo.insert_arena(conn, slug, name or slug, k, cfg, models, prompts)
        svc.core.register_arena(conn, slug, models, prompts)
        return aid

    aid = int(svc.writer.call(op))
    svc.arenas.runtime(svc.arena(slug))  # its engine, built now rather than on the first match
    return aid


def issue_invite(
    svc: ServiceState, *, annotator: str, kind: str, label: str, campaigns: list[str], arenas: list[str]
) -> tuple[int, str]:
    conn = svc.db()
    cids = [repo.get_campaign(conn, s)["id"] for s in campaigns]
    aids = [repo.get_arena(conn, s)["id"] for s in arenas]

    def op(c: Any) -> tuple[int, str]:
        out = repo.issue_token(
            c, role="annotator", annotator=annotator, kind=kind, label=label, campaigns=cids, arenas=aids
        )
        svc.core.register_annotator(c, annotator, kind)  # a name used with another kind is refused here
        return out

    out = svc.writer.call(op)
    svc.forget_tokens()
    return int(out[0]), str(out[1])


def task_view(
    svc: ServiceState, who: Principal, campaign: dict[str, Any], task: dict[str, Any]
) -> dict[str, Any]:
    """The task as this annotator sees it: candidates in its randomised (recorded) order."""
    pos = svc.positions(task["id"], who.token_id, len(task["candidates"]))
    return {"task": task, "positions": pos, "shown": [(i, task["candidates"][i]) for i in pos]}


async def submit_answer(
    svc: ServiceState,
    who: Principal,
    campaign: dict[str, Any],
    task_id: int,
    raw: dict[str, Any] | None,
    rationale: str | None,
    *,
    skip: bool = False,
) -> tuple[int, bool]:
    info = svc.task_info(campaign["id"], task_id)
    if info is None:
        raise repo.NotFound(f"no task {task_id} in campaign {campaign['slug']!r}")
    n = len(info[1])
    cfg: CampaignConfig = campaign["config"]
    if skip:
        answer: dict[str, Any] = {}
        status = "skipped"
        rationale = None
    else:
        answer = canonical_answer(cfg, n, raw or {}, rationale)
        status = "done"
    rationale = rationale or None
    pos = svc.positions(task_id, who.token_id, n)

    def op(conn: Any) -> Any:
        aid, dup = repo.save_answer(
            conn,
            task_id=task_id,
            campaign_id=campaign["id"],
            token_id=who.token_id,
            status=status,
            answer=answer,
            positions=pos,
            rationale=rationale,
        )
        if dup or status != "done":
            return aid, dup
        return AfterCommit((aid, dup), follow_up=True)  # copied into the core tables by the writer

    return await svc.writer.run(op)  # type: ignore[no-any-return]


EXPORT_FORMATS = ("jsonl", "trl", "answers")


def export_campaign(svc: ServiceState, campaign: dict[str, Any], fmt: str) -> bytes:
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
    from dataclasses import replace
    from pathlib import Path

    from prefkit.data import io
    from prefkit.data.convert import to_pairwise
    from prefkit.data.model import Dataset
    from prefkit.storage.store import ProjectStore

    source = core.campaign_source(campaign["slug"])
    with ProjectStore(svc.settings.db_path, create=False) as store:
        known = store.conn.execute("SELECT 1 FROM imports WHERE source = ?", (source,)).fetchone()
        ds = store.to_dataset(source=source) if known else Dataset(source=source)
    ds = replace(ds, meta={})  # (the store merges every import's format details; ours has none)
    if fmt == "trl":
        ds = to_pairwise(ds).dataset
    with tempfile.TemporaryDirectory(prefix="prefkit-export-") as tmp:
        path = Path(tmp) / "export.jsonl"
        io.write(ds, path, format="prefkit" if fmt == "jsonl" else "trl")
        return path.read_bytes()


def iter_answers(svc: ServiceState, campaign: dict[str, Any]) -> Iterator[str]:
    """JSONL lines of a campaign's raw answers (one per criterion / attribute / rated candidate), with the
    positions the candidates were shown in and the time."""
    conn = svc.db()
    tasks = repo.campaign_tasks(conn, campaign["id"])
    cfg: CampaignConfig = campaign["config"]
    for ans in repo.campaign_answers(conn, campaign["id"]):
        rows = export_rows(
            cfg,
            campaign["slug"],
            tasks[ans["task_id"]],
            ans["annotator"],
            ans["kind"],
            ans["answer"],
            ans["rationale"],
            ans["positions"],
            ans["time"],
        )
        for r in rows:
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


def agreement(svc: ServiceState, campaign: dict[str, Any]) -> list[AgreementRow]:
    """Krippendorff's alpha (all answers, missing allowed) and Fleiss' kappa (tasks with exactly ``overlap`` answers)."""
    from prefkit.analysis.agreement import (
        counts_from_labels,
        fleiss_kappa,
        krippendorff_alpha,
        reliability_matrix,
    )

    cfg: CampaignConfig = campaign["config"]
    conn = svc.db()
    answers = repo.campaign_answers(conn, campaign["id"])
    tasks = repo.campaign_tasks(conn, campaign["id"])
    coders = {t: i for i, t in enumerate(sorted({a["token_id"] for a in answers}))}
    names = cfg.attributes if cfg.shape == "rating" else cfg.criteria
    out = []
    for name in names:
        unit_of: dict[tuple[int, int], int] = {}
        units, cod, vals = [], [], []
        subj_labels: dict[int, list[int]] = {}
        for a in answers:
            v = a["answer"].get(name)
            if v is None:
                continue
            n = len(tasks[a["task_id"]]["candidates"])
            if cfg.shape == "pairwise":
                items = [(0, {0: 0, 1: 1, "tie": 2}[v["winner"]])]
                top = items[0][1]
            elif cfg.shape == "ranking":
                rank = [0] * n
                for r, i in enumerate(v["order"]):
                    rank[i] = r
                items = list(enumerate(rank))
                top = v["order"][0]
            else:
                items = list(enumerate(v["scores"]))
                top = -1
            for sub, value in items:
                u = unit_of.setdefault((a["task_id"], sub), len(unit_of))
                units.append(u)
                cod.append(coders[a["token_id"]])
                vals.append(value)
            if top >= 0:
                subj_labels.setdefault(a["task_id"], []).append(top)
        level = {"pairwise": "nominal", "ranking": "ordinal", "rating": "interval"}[cfg.shape]
        alpha = kappa = None
        note = []
        if units:
            m = reliability_matrix(
                np.array(units), np.array(cod), np.array(vals, dtype=float), len(unit_of), len(coders)
            )
            try:
                alpha = krippendorff_alpha(m, level)
            except DataProblemError as exc:
                note.append(str(exc))
        full = [labels for labels in subj_labels.values() if len(labels) == cfg.overlap]
        if cfg.shape == "rating":
            # Fleiss on the scores as categories, per (task, candidate) with a complete set of ratings
            per_unit: dict[int, list[int]] = {}
            for u, v in zip(units, vals, strict=True):
                per_unit.setdefault(u, []).append(int(v) - cfg.scale_min)
            full = [labels for labels in per_unit.values() if len(labels) == cfg.overlap]
        n_cat = (
            (cfg.scale_max - cfg.scale_min + 1)
            if cfg.shape == "rating"
            else (3 if cfg.shape == "pairwise" else 10)
        )
        if full and cfg.overlap >= 2:
            subj = np.repeat(np.arange(len(full)), cfg.overlap)
            try:
                kappa = fleiss_kappa(counts_from_labels(subj, np.concatenate(full), len(full), n_cat))
            except (DataProblemError, ValidationError) as exc:
                note.append(str(exc))
        out.append(
            AgreementRow(
                name,
                len(unit_of),
                sum(1 for a in answers if name in a["answer"]),
                alpha,
                level,
                kappa,
                len(full),
                "; ".join(note),
            )
        )
    return out
