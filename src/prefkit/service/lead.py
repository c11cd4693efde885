"""What an annotation lead needs besides the tasks: gold and attention checks, per-annotator quality (progress,
speed, time outliers, agreement, gold accuracy), browsing answers, pausing / closing / deleting campaigns and
editing their guidelines, a review queue, pre-annotation suggestions, arena exports and clearing arena flags.

Gold (honeypot) and attention-check tasks come from the campaign file: a row with ``"gold"`` (its known answer)
and optionally ``"check": "attention"``::

    {"id": "g1", "context": "...", "candidates": [...], "gold": {"overall": ["r2", "r1"]}}
    {"id": "a1", "context": "Attention check: pick the reply that says BANANA", "candidates": [...],
     "gold": {"overall": ["r1"]}, "check": "attention"}

A gold answer names candidates by id, per criterion (attribute): for pairwise and ranking campaigns an order,
best first, with tied ids in a nested list; ids left out are tied last (so ``["r1"]`` says r1 is best). A
pairwise task (one pair of the row) takes the pair's part of the order (a pair tied in it has no gold answer
when the campaign allows no ties). For ratings: ``{"r1": 5, "r2": 1}``, a score for every candidate. Gold and
attention tasks are dealt to every annotator (overlap does not limit them), in file order like the others.

The statistics are :mod:`prefkit.analysis.annotation_qc` and :func:`prefkit.analysis.annotators.agreement_with_others`;
this module only codes the answers as integer arrays and reads / writes rows.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from prefkit.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError, ValidationError
from prefkit.service.campaigns import AnswerInvalid, CampaignConfig, NewTask, canonical_answer, check_order

if TYPE_CHECKING:
    import sqlite3

    from prefkit.service.records import Arena, Campaign
    from prefkit.service.repo import Principal
    from prefkit.service.state import ServiceState

STATUSES = ("open", "paused", "closed")
CHECKS = ("gold", "attention")
GOLD_WARN = 0.7
"""A gold accuracy whose Wilson interval lies wholly below this share is flagged."""
FAST_WARN = 0.2
"""An annotator with more than this share of its answers flagged too fast is flagged."""


# ---- gold answers in the campaign file ----------------------------------------------------------------


def parse_gold(rec: dict[str, Any], cand_ids: list[str]) -> tuple[dict[str, Any] | None, str]:
    """The row's ``gold`` (criterion -> ``{"order": [[ids], ...]}`` or ``{"scores": {id: score}}``) and its
    ``check`` kind; ``InputError`` on anything else (the caller adds FILE:LINE)."""
    gold = rec.get("gold")
    check = rec.get("check", "gold")
    if check not in CHECKS:
        raise InputError("'check': 'gold' (a honeypot with a known answer) or 'attention'")
    if gold is None:
        if "check" in rec:
            raise InputError("'check' needs a 'gold' answer on the same row")
        return None, "gold"
    if not isinstance(gold, dict) or not gold:
        raise InputError('\'gold\': an object per criterion, like {"overall": ["r2", "r1"]}')
    known = set(cand_ids)
    out: dict[str, Any] = {}
    for name, spec in gold.items():
        where = f"gold[{name!r}]"
        if isinstance(spec, list):
            groups = [g if isinstance(g, list) else [g] for g in spec]
            flat = [i for g in groups for i in g]
            if not flat or any(not isinstance(i, str) or i not in known for i in flat):
                raise InputError(f"{where}: candidate ids of this row, best first (ties in a nested list)")
            if len(set(flat)) != len(flat) or any(not g for g in groups):
                raise InputError(f"{where}: each candidate id at most once")
            out[str(name)] = {"order": groups}
        elif isinstance(spec, dict):
            if set(spec) != known or any(type(v) is not int for v in spec.values()):
                raise InputError(f"{where}: a whole-number score for each candidate id of this row")
            out[str(name)] = {"scores": dict(spec)}
        else:
            raise InputError(f"{where}: an order of candidate ids, or {{id: score}} for ratings")
    return out, str(check)


def task_gold(cfg: CampaignConfig, task: NewTask) -> dict[str, Any] | None:
    """The known answer of one task in canonical form (task indices), or None (no gold for it)."""
    if task.gold is None:
        return None
    names = cfg.attributes if cfg.shape == "rating" else cfg.criteria
    ids = [c["id"] for c in task.candidates]
    out: dict[str, Any] = {}
    for name, spec in task.gold.items():
        where = f"row {task.context_id!r}: gold[{name!r}]"
        if name not in names:
            raise ValidationError(f"{where}: not a criterion of this campaign ({', '.join(names)})")
        if cfg.shape == "rating":
            if "scores" not in spec:
                raise ValidationError(f"{where}: a rating campaign's gold gives {{id: score}}")
            scores = [spec["scores"][i] for i in ids]
            if any(not cfg.scale_min <= s <= cfg.scale_max for s in scores):
                raise ValidationError(f"{where}: scores in {cfg.scale_min}..{cfg.scale_max}")
            out[name] = {"scores": scores}
            continue
        if "order" not in spec:
            raise ValidationError(f"{where}: a {cfg.shape} campaign's gold is an order of candidate ids")
        level = {cid: k for k, g in enumerate(spec["order"]) for cid in g}
        last = len(spec["order"])
        lv = [level.get(i, last) for i in ids]
        if cfg.shape == "pairwise":
            if lv[0] == lv[1]:
                if not cfg.allow_tie:
                    continue
                out[name] = {"winner": "tie", "strength": None}
            else:
                out[name] = {"winner": 0 if lv[0] < lv[1] else 1, "strength": None}
        else:
            groups = [[i for i, v in enumerate(lv) if v == k] for k in sorted(set(lv))]
            try:
                order = check_order(
                    [g if len(g) > 1 else g[0] for g in groups], len(ids), cfg.allow_tie, name
                )
            except AnswerInvalid:
                raise ValidationError(
                    f"{where}: this campaign allows no ties, so the gold order must list every candidate"
                ) from None
            out[name] = {"order": order}
    return out or None


def gold_correct(shape: str, gold: dict[str, Any], answer: dict[str, Any]) -> bool:
    """Whether an answer matches a gold answer on every criterion the gold gives (strength is not compared)."""
    key = {"pairwise": "winner", "ranking": "order", "rating": "scores"}[shape]
    return all(k in answer and answer[k].get(key) == v.get(key) for k, v in gold.items())


def store_gold(conn: sqlite3.Connection, cid: int, cfg: CampaignConfig, tasks: list[NewTask]) -> int:
    """Write the gold rows of a new campaign (its tasks inserted with ``seq`` = their index); return how many."""
    golds = [(i, t.check, task_gold(cfg, t)) for i, t in enumerate(tasks)]
    rows = [(seq, kind, g) for seq, kind, g in golds if g is not None]
    if not rows:
        return 0
    ids = dict(conn.execute("SELECT seq, id FROM svc_tasks WHERE campaign_id = ?", (cid,)).fetchall())
    conn.executemany(
        "INSERT INTO svc_gold(task_id, campaign_id, kind, answer) VALUES (?, ?, ?, ?)",
        [(int(ids[seq]), cid, kind, json.dumps(g, sort_keys=True)) for seq, kind, g in rows],
    )
    return len(rows)


def check_gold(cfg: CampaignConfig, tasks: list[NewTask]) -> None:
    """Validate every gold answer against the campaign (before anything is written)."""
    for t in tasks:
        task_gold(cfg, t)


def record_time(conn: sqlite3.Connection, answer_id: int, seconds: float | None) -> None:
    """The seconds an answer took (from the task being dealt to it being sent; unknown after a restart)."""
    if seconds is None:
        conn.execute("DELETE FROM svc_answer_times WHERE answer_id = ?", (answer_id,))
    else:
        conn.execute(
            "INSERT OR REPLACE INTO svc_answer_times(answer_id, seconds) VALUES (?, ?)", (answer_id, seconds)
        )


def check_slug_free(conn: sqlite3.Connection, slug: str) -> None:
    if conn.execute("SELECT 1 FROM svc_deleted WHERE slug = ?", (slug,)).fetchone():
        raise ValidationError(
            f"slug: a deleted campaign was called {slug!r} (its judgments stay in the project store under that "
            "name); choose another slug"
        )


# ---- per-campaign state held in memory ----------------------------------------------------------------


@dataclass(frozen=True)
class Opts:
    status: str = "open"
    suggestions: bool = False


class LeadState:
    """Campaign status and options, gold tasks and reviewers, read once and kept in memory (changed only
    through this module, which updates the copy after the write commits)."""

    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc
        self._opts: dict[int, Opts] = {}
        self._gold: dict[int, dict[int, tuple[str, dict[str, Any]]]] = {}
        self._reviewers: set[tuple[int, int]] | None = None
        self._lock = threading.Lock()

    def opts(self, cid: int) -> Opts:
        o = self._opts.get(cid)
        if o is None:
            row = (
                self.svc.db()
                .execute("SELECT status, suggestions FROM svc_campaign_opts WHERE campaign_id = ?", (cid,))
                .fetchone()
            )
            o = Opts(str(row[0]), bool(row[1])) if row else Opts()
            self._opts[cid] = o
        return o

    def gold(self, cid: int) -> dict[int, tuple[str, dict[str, Any]]]:
        """task id -> (kind, canonical gold answer) of a campaign's gold and attention tasks."""
        g = self._gold.get(cid)
        if g is None:
            rows = (
                self.svc.db()
                .execute("SELECT task_id, kind, answer FROM svc_gold WHERE campaign_id = ?", (cid,))
                .fetchall()
            )
            g = {int(t): (str(k), json.loads(a)) for t, k, a in rows}
            self._gold[cid] = g
        return g

    def is_reviewer(self, who: Principal, cid: int) -> bool:
        if who.is_admin:
            return True
        with self._lock:
            if self._reviewers is None:
                rows = self.svc.db().execute("SELECT token_id, campaign_id FROM svc_reviewers").fetchall()
                self._reviewers = {(int(t), int(c)) for t, c in rows}
            return (who.token_id, cid) in self._reviewers

    def forget(self, cid: int) -> None:
        with self._lock:
            self._opts.pop(cid, None)
            self._gold.pop(cid, None)
            self._reviewers = None

    # -- the checks on the annotation path ------------------------------------------------------------

    def check_dealing(self, campaign: Campaign) -> None:
        """New tasks are dealt only while the campaign is open (409 otherwise)."""
        status = self.opts(campaign.id).status
        if status != "open":
            raise ConflictError(
                f"campaign {campaign.slug!r} is {status}: no new tasks "
                + ("until its lead reopens it" if status == "paused" else "(it is finished)")
            )

    def check_accepting(self, campaign: Campaign) -> None:
        """Answers are taken while it is open or paused (a task dealt before the pause can still be sent)."""
        if self.opts(campaign.id).status == "closed":
            raise ConflictError(f"campaign {campaign.slug!r} is closed: it takes no more answers")


# ---- campaign management -----------------------------------------------------------------------------


async def update_campaign(
    svc: ServiceState,
    campaign: Campaign,
    *,
    status: str | None = None,
    suggestions: bool | None = None,
    guidelines: str | None = None,
) -> Opts:
    """Change a campaign's status (open, paused, closed), its suggestions switch or its guidelines (Markdown)."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status: one of {', '.join(STATUSES)}, got {str(status)[:40]!r}")
    if guidelines is not None and (not isinstance(guidelines, str) or len(guidelines) > 100_000):
        raise ValidationError("guidelines: Markdown text of at most 100,000 characters")
    old = svc.lead.opts(campaign.id)
    new = Opts(
        status if status is not None else old.status, old.suggestions if suggestions is None else suggestions
    )

    def op(conn: sqlite3.Connection) -> None:
        if not conn.execute("SELECT 1 FROM svc_campaigns WHERE id = ?", (campaign.id,)).fetchone():
            raise NotFoundError(f"no campaign {campaign.slug!r}")
        conn.execute(
            "INSERT INTO svc_campaign_opts(campaign_id, status, suggestions, changed_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(campaign_id) DO UPDATE SET status = excluded.status, "
            "suggestions = excluded.suggestions, changed_at = excluded.changed_at",
            (campaign.id, new.status, int(new.suggestions), time.time()),
        )
        if guidelines is not None:
            conn.execute("UPDATE svc_campaigns SET guidelines = ? WHERE id = ?", (guidelines, campaign.id))

    await svc.writer.run(op)
    svc.lead.forget(campaign.id)
    svc._campaigns.pop(campaign.slug, None)  # (the guidelines are part of the cached row)
    return new


async def delete_campaign(svc: ServiceState, campaign: Campaign, confirm: str) -> None:
    """Delete a campaign from the service: its tasks, answers, grants and options. Its judgments already in
    the project store stay there (every acknowledged answer is copied first); the slug cannot be reused."""
    if confirm != campaign.slug:
        raise ValidationError(f"confirm: type the campaign's slug ({campaign.slug!r}) to delete it")
    cid = campaign.id

    def op(conn: sqlite3.Connection) -> None:
        svc.core.sync_all(conn)  # every acknowledged answer reaches the core tables before its row goes
        if not conn.execute("SELECT 1 FROM svc_campaigns WHERE id = ?", (cid,)).fetchone():
            raise NotFoundError(f"no campaign {campaign.slug!r}")
        answers = "SELECT id FROM svc_answers WHERE campaign_id = ?"
        conn.execute(f"DELETE FROM svc_answer_times WHERE answer_id IN ({answers})", (cid,))
        for table in ("svc_reviews", "svc_suggestions", "svc_gold", "svc_reviewers", "svc_campaign_opts"):
            conn.execute(f"DELETE FROM {table} WHERE campaign_id = ?", (cid,))
        conn.execute("DELETE FROM svc_answers WHERE campaign_id = ?", (cid,))
        conn.execute("DELETE FROM svc_tasks WHERE campaign_id = ?", (cid,))
        conn.execute("DELETE FROM svc_grants WHERE resource = 'campaign' AND resource_id = ?", (cid,))
        conn.execute("DELETE FROM svc_campaigns WHERE id = ?", (cid,))
        conn.execute(
            "INSERT OR REPLACE INTO svc_deleted(slug, deleted_at) VALUES (?, ?)", (campaign.slug, time.time())
        )
        svc.core._campaigns.pop(cid, None)  # (the writer thread's cache: an id may be reused)

    await svc.writer.run(op)
    svc.lead.forget(cid)
    svc._campaigns.pop(campaign.slug, None)
    svc._task_info.pop(cid, None)
    svc.forget_tokens()  # grants changed


async def set_reviewer(svc: ServiceState, campaign: Campaign, token_id: int, on: bool) -> None:
    """Let an annotator token (granted the campaign) review its answers, or stop it."""

    def op(conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT role FROM svc_tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None or row[0] != "annotator":
            raise NotFoundError(f"no annotator token {token_id}")
        granted = conn.execute(
            "SELECT 1 FROM svc_grants WHERE token_id = ? AND resource = 'campaign' AND resource_id = ?",
            (token_id, campaign.id),
        ).fetchone()
        if not granted:
            raise ValidationError(
                f"token {token_id} has no access to campaign {campaign.slug!r}: invite it first"
            )
        if on:
            conn.execute("INSERT OR IGNORE INTO svc_reviewers VALUES (?, ?)", (token_id, campaign.id))
        else:
            conn.execute(
                "DELETE FROM svc_reviewers WHERE token_id = ? AND campaign_id = ?", (token_id, campaign.id)
            )

    await svc.writer.run(op)
    svc.lead.forget(campaign.id)


# ---- per-annotator quality ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnotatorQC:
    """One annotator's record on a campaign (gold and attention tasks count apart from the others)."""

    token_id: int
    annotator: str
    kind: str
    done: int
    skipped: int
    left: int
    median_seconds: float | None
    too_fast: int
    too_slow: int
    agreement: float | None
    gold_n: int
    gold_correct: int
    gold_accuracy: float | None
    gold_lower: float | None
    gold_upper: float | None
    attention_n: int
    attention_failed: int
    reviewed: int
    overridden: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class _Row:
    id: int
    task_id: int
    token_id: int
    annotator: str
    kind: str
    status: str
    answer: dict[str, Any]
    positions: list[int]
    rationale: str | None
    time: float
    seconds: float | None
    review: str | None
    override_of: int | None


def _rows(conn: sqlite3.Connection, cid: int) -> list[_Row]:
    rows = conn.execute(
        "SELECT a.id, a.task_id, a.token_id, k.annotator, k.kind, a.status, a.answer, a.positions, a.rationale, "
        "a.created_at, t.seconds, r.decision, o.answer_id FROM svc_answers a "
        "JOIN svc_tokens k ON k.id = a.token_id "
        "LEFT JOIN svc_answer_times t ON t.answer_id = a.id "
        "LEFT JOIN svc_reviews r ON r.answer_id = a.id "
        "LEFT JOIN svc_reviews o ON o.override_id = a.id "
        "WHERE a.campaign_id = ? ORDER BY a.id",
        (cid,),
    ).fetchall()
    return [
        _Row(
            int(r[0]),
            int(r[1]),
            int(r[2]),
            r[3],
            r[4],
            r[5],
            json.loads(r[6]),
            json.loads(r[7]),
            r[8],
            float(r[9]),
            None if r[10] is None else float(r[10]),
            r[11],
            None if r[12] is None else int(r[12]),
        )
        for r in rows
    ]


def _without_strength(shape: str, v: dict[str, Any]) -> str:
    return json.dumps(v["winner"] if shape == "pairwise" else v, sort_keys=True)


@dataclass(frozen=True)
class QCReport:
    annotators: list[AnnotatorQC]
    answer_flags: dict[int, str]
    gold_tasks: int
    attention_tasks: int
    median_seconds: float | None


def _time_flags(done: list[_Row]) -> tuple[np.ndarray, Any, dict[int, str]]:
    """Seconds of each done answer, the time outliers among them, and the flag of each outlying answer's id."""
    from prefkit.analysis.annotation_qc import time_outliers

    secs = np.array([np.nan if r.seconds is None else r.seconds for r in done], dtype=np.float64)
    flags = time_outliers(secs)
    answer_flags = {r.id: "too fast" for r, f in zip(done, flags.fast, strict=True) if f}
    answer_flags.update({r.id: "too slow" for r, s in zip(done, flags.slow, strict=True) if s})
    return secs, flags, answer_flags


def quality(svc: ServiceState, campaign: Campaign) -> QCReport:
    """Per annotator: progress, speed and time outliers, agreement with the others, gold accuracy, attention
    checks, reviews; and which answers were too fast / too slow."""
    from prefkit.analysis.annotation_qc import annotator_speed, gold_accuracy
    from prefkit.analysis.annotators import agreement_with_others
    from prefkit.service import repo

    conn = svc.db()
    cid, cfg = campaign.id, campaign.config
    rows = _rows(conn, cid)
    gold = svc.lead.gold(cid)
    tokens = conn.execute(
        "SELECT id, annotator, kind FROM svc_tokens WHERE id IN (SELECT token_id FROM svc_answers WHERE "
        "campaign_id = ?) OR id IN (SELECT token_id FROM svc_grants WHERE resource = 'campaign' AND "
        "resource_id = ?) ORDER BY id",
        (cid, cid),
    ).fetchall()
    code = {int(t): j for j, (t, _, _) in enumerate(tokens)}
    n_ann = len(tokens)
    own = [r for r in rows if r.override_of is None]  # a reviewer's override is not its own answer
    done = [r for r in own if r.status == "done"]
    # speed and outliers over every done answer with a time
    j_done = np.array([code[r.token_id] for r in done], dtype=np.int64)
    secs, flags, answer_flags = _time_flags(done)
    speed = annotator_speed(j_done, secs, n_ann, flags)
    # agreement: exact agreement with the others on each (task, criterion) of the ordinary tasks
    units: dict[tuple[int, str], int] = {}
    labels: dict[str, int] = {}
    t_codes, a_codes, l_codes = [], [], []
    for r in done:
        if r.task_id in gold:
            continue
        for name, v in r.answer.items():
            t_codes.append(units.setdefault((r.task_id, name), len(units)))
            a_codes.append(code[r.token_id])
            l_codes.append(labels.setdefault(_without_strength(cfg.shape, v), len(labels)))
    agree = (
        agreement_with_others(
            np.array(t_codes), np.array(a_codes), np.array(l_codes), len(units), n_ann, max(len(labels), 1)
        )
        if t_codes
        else np.full(n_ann, np.nan)
    )
    # gold and attention checks
    g_rows = [(r, gold[r.task_id]) for r in done if r.task_id in gold]
    g_ann = np.array([code[r.token_id] for r, (k, _) in g_rows if k == "gold"], dtype=np.int64)
    g_ok = np.array([gold_correct(cfg.shape, g, r.answer) for r, (k, g) in g_rows if k == "gold"], dtype=bool)
    acc = gold_accuracy(g_ann, g_ok, n_ann)
    att_n = np.zeros(n_ann, np.int64)
    att_fail = np.zeros(n_ann, np.int64)
    for r, (k, g) in g_rows:
        if k == "attention":
            att_n[code[r.token_id]] += 1
            att_fail[code[r.token_id]] += not gold_correct(cfg.shape, g, r.answer)
    out = []
    for (tid, name, kind), j in zip(tokens, range(n_ann), strict=True):
        mine = [r for r in own if r.token_id == tid]
        prog = repo.campaign_progress(conn, cid, cfg.overlap, int(tid))
        fl: list[str] = []
        if att_fail[j]:
            fl.append(f"failed {att_fail[j]} of {att_n[j]} attention checks")
        if acc.n[j] and acc.upper[j] < GOLD_WARN:
            fl.append(f"gold accuracy {acc.accuracy[j]:.0%} of {acc.n[j]} (below {GOLD_WARN:.0%})")
        if speed.timed[j] and speed.fast[j] > FAST_WARN * speed.timed[j]:
            fl.append(f"{speed.fast[j]} of {speed.timed[j]} answers too fast")
        out.append(
            AnnotatorQC(
                token_id=int(tid),
                annotator=str(name),
                kind=str(kind),
                done=sum(r.status == "done" for r in mine),
                skipped=sum(r.status == "skipped" for r in mine),
                left=int(prog.left or 0),
                median_seconds=_num(speed.median_seconds[j]),
                too_fast=int(speed.fast[j]),
                too_slow=int(speed.slow[j]),
                agreement=_num(agree[j]),
                gold_n=int(acc.n[j]),
                gold_correct=int(acc.correct[j]),
                gold_accuracy=_num(acc.accuracy[j]),
                gold_lower=_num(acc.lower[j]),
                gold_upper=_num(acc.upper[j]),
                attention_n=int(att_n[j]),
                attention_failed=int(att_fail[j]),
                reviewed=sum(r.review is not None for r in mine),
                overridden=sum(r.review == "override" for r in mine),
                flags=tuple(fl),
            )
        )
    kinds = [k for k, _ in gold.values()]
    return QCReport(
        annotators=out,
        answer_flags=answer_flags,
        gold_tasks=kinds.count("gold"),
        attention_tasks=kinds.count("attention"),
        median_seconds=_num(flags.median_seconds),
    )


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


# ---- browsing answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerView:
    """An answer as the lead browses it: the task's context and candidates (task order), what was answered
    (candidate indices in task order), the order shown, time, flags, gold and review."""

    id: int
    task_id: int
    context_id: str
    context: str | None
    candidates: list[str]
    annotator: str
    status: str
    answer: dict[str, Any]
    positions: list[int]
    rationale: str | None
    time: float
    seconds: float | None
    flag: str | None
    check: str | None
    correct: bool | None
    review: str | None
    override_of: int | None


FILTERS = {
    "status": ("done", "skipped"),
    "flag": ("too-fast", "too-slow", "any"),
    "check": ("gold", "attention", "wrong", "none"),
    "review": ("unreviewed", "accept", "override", "overrides"),
}


def browse(
    svc: ServiceState,
    campaign: Campaign,
    *,
    annotator: str = "",
    contains: str = "",
    status: str = "",
    flag: str = "",
    check: str = "",
    review: str = "",
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[AnswerView]]:
    """A page of a campaign's answers, newest first, filtered (every filter optional): by annotator name, a
    text the rationale contains (case-insensitive), status, time flag, gold / attention / wrong-on-gold, review
    state. Returns ``(matches, page)``; a bad filter value is a ValidationError naming the choices."""
    for name, value in (("status", status), ("flag", flag), ("check", check), ("review", review)):
        if value and value not in FILTERS[name]:
            raise ValidationError(f"{name}: one of {', '.join(FILTERS[name])}, got {value[:40]!r}")
    if not 1 <= limit <= 500 or not 0 <= offset <= 10**9:
        raise ValidationError("limit: 1 to 500; offset: 0 or more")
    if len(contains) > 200 or len(annotator) > 80:
        raise ValidationError("contains: at most 200 characters; annotator: at most 80")
    from prefkit.service import repo

    conn = svc.db()
    cfg = campaign.config
    rows = _rows(conn, campaign.id)
    # the same time flags as the quality report (over the done answers that are not overrides), without the rest
    _, _, answer_flags = _time_flags([r for r in rows if r.override_of is None and r.status == "done"])
    gold = svc.lead.gold(campaign.id)
    needle = contains.lower()
    matches = []
    for r in reversed(rows):
        g = gold.get(r.task_id)
        correct = None if g is None or r.status != "done" else gold_correct(cfg.shape, g[1], r.answer)
        fl = answer_flags.get(r.id)
        if annotator and r.annotator != annotator:
            continue
        if needle and needle not in (r.rationale or "").lower():
            continue
        if status and r.status != status:
            continue
        if flag and not (fl and (flag == "any" or fl == flag.replace("-", " "))):
            continue
        if (
            check == "none"
            and g is not None
            or check in ("gold", "attention")
            and (g is None or g[0] != check)
        ):
            continue
        if check == "wrong" and correct is not False:
            continue
        if review == "unreviewed" and (r.review or r.override_of or r.status != "done"):
            continue
        if review in ("accept", "override") and r.review != review:
            continue
        if review == "overrides" and r.override_of is None:
            continue
        matches.append((r, fl, None if g is None else g[0], correct))
    page_rows = matches[offset : offset + limit]
    tasks = {tid: repo.get_task(conn, tid) for tid in {r.task_id for r, *_ in page_rows}}  # the page's only
    views = []
    for r, fl, chk, correct in page_rows:
        t = tasks[r.task_id]
        views.append(
            AnswerView(
                id=r.id,
                task_id=r.task_id,
                context_id=t.context_id,
                context=t.context.get("text"),
                candidates=[c["id"] for c in t.candidates],
                annotator=r.annotator,
                status=r.status,
                answer=r.answer,
                positions=r.positions,
                rationale=r.rationale,
                time=r.time,
                seconds=r.seconds,
                flag=fl,
                check=chk,
                correct=correct,
                review=r.review,
                override_of=r.override_of,
            )
        )
    return len(matches), views


# ---- the review queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """An answer waiting for review, with its task (candidates in task order) and the order they were shown."""

    answer_id: int
    annotator: str
    answer: dict[str, Any]
    rationale: str | None
    positions: list[int]
    task_id: int
    context: dict[str, str]
    candidates: list[dict[str, str]]


def next_review(svc: ServiceState, who: Principal, campaign: Campaign) -> ReviewItem | None:
    """The oldest final answer (past its undo window) of someone else, not reviewed yet, on a task the reviewer
    did not answer (an override is stored as the reviewer's answer to that task)."""
    from prefkit.service import repo

    if not svc.lead.is_reviewer(who, campaign.id):
        raise PermissionDeniedError("this token is not a reviewer of that campaign (the admin makes it one)")
    row = (
        svc.db()
        .execute(
            "SELECT a.id, k.annotator, a.answer, a.rationale, a.positions, a.task_id FROM svc_answers a "
            "JOIN svc_tokens k ON k.id = a.token_id WHERE a.campaign_id = ? AND a.status = 'done' "
            "AND a.token_id != ? AND a.created_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM svc_reviews r WHERE r.answer_id = a.id OR r.override_id = a.id) "
            "AND NOT EXISTS (SELECT 1 FROM svc_answers b WHERE b.task_id = a.task_id AND b.token_id = ?) "
            "ORDER BY a.id LIMIT 1",
            (campaign.id, who.token_id, time.time() - svc.settings.undo_s, who.token_id),
        )
        .fetchone()
    )
    if row is None:
        return None
    task = repo.get_task(svc.db(), int(row[5]))
    return ReviewItem(
        answer_id=int(row[0]),
        annotator=row[1],
        answer=json.loads(row[2]),
        rationale=row[3],
        positions=json.loads(row[4]),
        task_id=task.id,
        context=task.context,
        candidates=task.candidates,
    )


async def review(
    svc: ServiceState,
    who: Principal,
    campaign: Campaign,
    answer_id: int,
    decision: str,
    raw: dict[str, Any] | None = None,
    rationale: str | None = None,
) -> int | None:
    """Accept an answer, or override it: the reviewer's answer is stored as a new answer (its own, on the same
    task; it reaches the core tables as the reviewer's judgment) and the original is kept. Returns the new
    answer's id for an override."""
    from prefkit.service.writer import AfterCommit

    if not svc.lead.is_reviewer(who, campaign.id):
        raise PermissionDeniedError("this token is not a reviewer of that campaign (the admin makes it one)")
    if decision not in ("accept", "override"):
        raise ValidationError(f"decision: accept or override, got {str(decision)[:40]!r}")
    if decision == "accept" and raw is not None:
        raise ValidationError("answer: only with decision override")
    cfg = campaign.config
    undo_s = svc.settings.undo_s

    def op(conn: sqlite3.Connection) -> Any:
        row = conn.execute(
            "SELECT task_id, token_id, status, positions, created_at FROM svc_answers WHERE id = ? AND "
            "campaign_id = ?",
            (answer_id, campaign.id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no answer {answer_id} in campaign {campaign.slug!r}")
        task_id, token_id, status, positions, created = row
        if status != "done":
            raise ValidationError(f"answer {answer_id} is a skip: nothing to review")
        if int(token_id) == who.token_id:
            raise PermissionDeniedError("a reviewer does not review its own answers")
        if time.time() - float(created) < undo_s:
            raise ConflictError(f"answer {answer_id} is still in its undo window: review it in {undo_s:g} s")
        if conn.execute(
            "SELECT 1 FROM svc_reviews WHERE answer_id = ? OR override_id = ?", (answer_id, answer_id)
        ).fetchone():
            raise ConflictError(f"answer {answer_id} has been reviewed already (or is an override)")
        new_id = None
        if decision == "override":
            n = len(
                json.loads(
                    conn.execute("SELECT candidates FROM svc_tasks WHERE id = ?", (task_id,)).fetchone()[0]
                )
            )
            answer = canonical_answer(cfg, n, raw or {}, rationale)
            if conn.execute(
                "SELECT 1 FROM svc_answers WHERE task_id = ? AND token_id = ?", (task_id, who.token_id)
            ).fetchone():
                raise ConflictError(
                    f"this token answered task {task_id} itself: another reviewer must review it"
                )
            cur = conn.execute(
                "INSERT INTO svc_answers(task_id, campaign_id, token_id, status, answer, positions, rationale, "
                "created_at) VALUES (?, ?, ?, 'done', ?, ?, ?, ?)",
                (
                    task_id,
                    campaign.id,
                    who.token_id,
                    json.dumps(answer, sort_keys=True),
                    positions,
                    rationale or None,
                    time.time(),
                ),
            )
            new_id = int(cur.lastrowid or 0)
        conn.execute(
            "INSERT INTO svc_reviews(answer_id, campaign_id, reviewer_id, decision, override_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (answer_id, campaign.id, who.token_id, decision, new_id, time.time()),
        )
        return AfterCommit(new_id, follow_up=new_id is not None)

    return await svc.writer.run(op)  # type: ignore[no-any-return]


# ---- pre-annotation suggestions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    answer: dict[str, Any]
    source: str
    rationale: str | None


def suggestion(svc: ServiceState, campaign: Campaign, task_id: int) -> Suggestion | None:
    """The stored suggestion for a task, when the campaign shows suggestions (None otherwise)."""
    if not svc.lead.opts(campaign.id).suggestions:
        return None
    row = (
        svc.db()
        .execute(
            "SELECT answer, source, rationale FROM svc_suggestions WHERE task_id = ? AND campaign_id = ?",
            (task_id, campaign.id),
        )
        .fetchone()
    )
    return None if row is None else Suggestion(json.loads(row[0]), str(row[1]), row[2])


async def add_suggestions(svc: ServiceState, campaign: Campaign, items: list[dict[str, Any]]) -> int:
    """Store suggested answers (``{"task_id", "answer", "source", "rationale"}``, answers as in
    ``POST /api/v1/judgments``), all or none: every one is validated first."""
    if not items or len(items) > 100_000:
        raise ValidationError("suggestions: 1 to 100,000 of them")
    cfg = CampaignConfig(**{**vars(campaign.config), "rationale_required": False})
    rows = []
    for k, it in enumerate(items):
        tid = it.get("task_id")
        info = svc.task_info(campaign.id, tid) if type(tid) is int and 0 <= tid < 2**63 else None
        if info is None:
            raise NotFoundError(
                f"suggestions[{k}].task_id: no task {str(tid)[:30]} in campaign {campaign.slug!r}"
            )
        source = it.get("source", "judge")
        rationale = it.get("rationale")
        if not isinstance(source, str) or not 1 <= len(source) <= 80:
            raise ValidationError(f"suggestions[{k}].source: the judge's name, 1-80 characters")
        try:
            answer = canonical_answer(cfg, len(info[1]), it.get("answer"), rationale)  # type: ignore[arg-type]
        except AnswerInvalid as exc:
            raise AnswerInvalid(f"suggestions[{k}]: {exc}") from None
        rows.append((tid, campaign.id, json.dumps(answer, sort_keys=True), source, rationale, time.time()))

    def op(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO svc_suggestions(task_id, campaign_id, answer, source, rationale, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    await svc.writer.run(op)
    return len(rows)


def judge_suggestions(svc: ServiceState, campaign: Campaign, judge: Any) -> list[dict[str, Any]]:
    """Suggestions for every task of a pairwise campaign from a pair judge of :mod:`prefkit.annotation` (its
    ``PairJudge`` protocol: LLM judges, the reward-model judge and the scripted judge all are; the first
    candidate of a task is shown first, item ids are the candidate ids). Verdicts the judge could not give are
    left out. Returns items for :func:`add_suggestions`."""
    from prefkit.annotation.types import PairTask
    from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
    from prefkit.service import repo

    cfg = campaign.config
    if cfg.shape != "pairwise":
        raise ValidationError(
            "judge suggestions: pairwise campaigns only (post ranking / rating suggestions)"
        )
    tasks = list(repo.campaign_tasks(svc.db(), campaign.id).values())
    pairs = [
        PairTask(
            prompt=t.context.get("text", ""),
            first=t.candidates[0].get("text", ""),
            second=t.candidates[1].get("text", ""),
            first_item=t.candidates[0]["id"],
            second_item=t.candidates[1]["id"],
            row=t.seq,
        )
        for t in tasks
    ]
    verdicts = judge.judge_pairs(pairs) if pairs else []
    items = []
    for t, v in zip(tasks, verdicts, strict=True):
        w = {OUTCOME_A: 0, OUTCOME_B: 1, OUTCOME_TIE: "tie"}.get(v.outcome)
        if w is None or (w == "tie" and not cfg.allow_tie):
            continue
        items.append(
            {
                "task_id": t.id,
                "answer": {c: {"winner": w} for c in cfg.criteria},
                "source": str(judge.name)[:80],
                "rationale": (v.rationale or None) and str(v.rationale)[:5000],
            }
        )
    return items


# ---- arenas: export and clearing flags ---------------------------------------------------------------

ARENA_FORMATS = ("jsonl", "arena")


def export_arena(svc: ServiceState, arena: Arena, fmt: str) -> bytes:
    """An arena's votes from the core tables (call after ``svc.core.sync_all``): ``jsonl`` prefkit JSONL (K-wise
    votes stay rankings), ``arena`` the arena battle log (K-wise votes become the pairs they imply). Every
    vote, flagged voters' too: each row names its annotator."""
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from prefkit.data import io
    from prefkit.data.convert import to_pairwise
    from prefkit.data.model import Dataset
    from prefkit.service.core import arena_source
    from prefkit.storage.store import ProjectStore

    if fmt not in ARENA_FORMATS:
        raise ValidationError("format: jsonl (prefkit JSONL) or arena (the arena battle log)")
    source = arena_source(arena.slug)
    with ProjectStore(svc.settings.db_path, create=False) as store:
        known = store.conn.execute("SELECT 1 FROM imports WHERE source = ?", (source,)).fetchone()
        ds = store.to_dataset(source=source) if known else Dataset(source=source)
    ds = replace(ds, meta={})
    if fmt == "arena":
        ds = to_pairwise(ds).dataset
    with tempfile.TemporaryDirectory(prefix="prefkit-export-") as tmp:
        path = Path(tmp) / "export.jsonl"
        io.write(ds, path, format="prefkit" if fmt == "jsonl" else "arena")
        return path.read_bytes()


async def clear_flag(svc: ServiceState, arena: Arena, token_id: int) -> None:
    """Clear a token's vote-hygiene flag in an arena: its votes count again, and its counters start afresh."""

    def op(conn: sqlite3.Connection) -> None:
        cur = conn.execute(
            "DELETE FROM svc_arena_flags WHERE arena_id = ? AND token_id = ?", (arena.id, token_id)
        )
        if cur.rowcount != 1:
            raise NotFoundError(f"token {token_id} is not flagged in arena {arena.slug!r}")

    await svc.writer.run(op)
    rt = svc.arenas.runtime(arena)
    rt.hygiene.clear(token_id)
    rt.replay()


def describe(shape: str, answer: dict[str, Any], positions: list[int]) -> list[tuple[str, str]]:
    """An answer in words, per criterion, naming the responses by the numbers the viewer sees them under
    (``positions``: the task indices in shown order)."""
    shown = {i: k + 1 for k, i in enumerate(positions)}
    out = []
    for name, v in answer.items():
        if shape == "pairwise":
            w = v.get("winner")
            text = "tie" if w == "tie" else f"Response {shown.get(w, w)}"
            if v.get("strength"):
                text += f" ({['slightly', 'clearly', 'much'][v['strength'] - 1]} better)"
        elif shape == "ranking":
            groups = [g if isinstance(g, list) else [g] for g in v.get("order", [])]
            text = " > ".join(" = ".join(f"Response {shown.get(i, i)}" for i in g) for g in groups)
        else:
            scores = v.get("scores", [])
            text = ", ".join(f"Response {shown.get(i, i)}: {scores[i]}" for i in positions if i < len(scores))
        out.append((name, text))
    return out
