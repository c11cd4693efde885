"""The web service as a producer of core prefkit data: every acknowledged answer and arena vote also becomes a
judgment in the project store's tables (``prefkit.storage``), in the same SQLite file.

Names (stable, so that writing the same vote twice stores it once):

* source (one import record each): ``service:campaign/SLUG``, ``service:arena/SLUG``;
* contexts: ``SLUG/CONTEXT_ID`` (campaign rows, arena prompts) with their text (or media URL);
* items: ``SLUG/CONTEXT_ID/CANDIDATE_ID`` for campaign candidates (with their text or media URL); the
  model names for arenas;
* annotators: the token's annotator name, kind ``human`` or ``model`` (an LLM judge's token);
* judgment ids: ``campaign/SLUG/TASK/TOKEN/CRITERION`` (ratings: ``.../ATTRIBUTE/CANDIDATE_ID``),
  ``arena/SLUG/MATCH``.

Entities are registered when their campaign, arena or token is created (same transaction), so a clash with
data already in the store (the same id with another text or kind) is refused there, with a message.

Judgments follow the acknowledged votes (an outbox): a vote is acknowledged once its row in the service's
tables is committed; the writer thread then copies every answer / vote past a watermark into the core
tables, in batches, at most ``follow_every`` (0.25 s) later, and the watermark (``svc_meta``) advances in
the same transaction as the copied judgments. So nothing is lost (the service row is durable before the
acknowledgement, and a crash before the copy is caught up at the next start) and nothing is doubled (the
watermark, and the judgment ids, which make a repeated copy a no-op). An export syncs first, so it is
always complete; ``prefkit export`` on the file of a running server lags by at most that interval.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from prefkit.data._build import Builder, Context
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE, Dataset
from prefkit.service.campaigns import CampaignConfig, NewTask, order_groups
from prefkit.service.records import ArenaPrompt
from prefkit.storage.store import append_dataset, new_import

FORMAT = "service"
TOKENS_SOURCE = "service:tokens"
SYNC_KEY = "core_entities_v1"
ANSWERS_KEY = "core_answers_through"
VOTES_KEY = "core_votes_through"


def campaign_source(slug: str) -> str:
    return f"service:campaign/{slug}"


def arena_source(slug: str) -> str:
    return f"service:arena/{slug}"


def _content(obj: dict[str, Any]) -> str | None:
    """The text of a context / candidate, or its media URL."""
    for k in ("text", "image", "audio", "video"):
        v = obj.get(k)
        if isinstance(v, str):
            return v
    return None


@dataclass(frozen=True)
class Who:
    """Where and by whom: the context name, the annotator and its kind."""

    context: str
    annotator: str
    kind: str


@dataclass(frozen=True)
class PairJudgment:
    who: Who
    a: str
    b: str
    outcome: int
    strength: float
    criterion: str | None
    ident: str
    rationale: str | None


@dataclass(frozen=True)
class RankingJudgment:
    who: Who
    groups: list[list[str]]
    criterion: str | None
    ident: str


@dataclass(frozen=True)
class RatingJudgment:
    who: Who
    item: str
    score: float
    lo: float
    hi: float
    attribute: str
    ident: str


Judgment = PairJudgment | RankingJudgment | RatingJudgment


@dataclass(frozen=True)
class Staged:
    """The core judgments of one write, by source (for :func:`_build`)."""

    source: str
    rows: tuple[Judgment, ...]


# ---- what one answer / vote becomes ------------------------------------------------------------------


def answer_rows(
    cfg: CampaignConfig,
    slug: str,
    task_id: int,
    context_id: str,
    cand_ids: list[str],
    token_id: int,
    annotator: str,
    kind: str,
    answer: dict[str, Any],
    rationale: str | None,
) -> Staged:
    """The judgments of one (done) campaign answer; candidate indices are in the task's own order."""
    ctx = f"{slug}/{context_id}"
    items = [f"{ctx}/{c}" for c in cand_ids]
    base = f"campaign/{slug}/{task_id}/{token_id}"
    who = Who(ctx, annotator, kind)
    rows: list[Judgment] = []
    for name, v in answer.items():
        if cfg.shape == "pairwise":
            w = v["winner"]
            s = v.get("strength")
            strength = math.nan if s is None else float(s if w == 0 else -s)
            outcome = OUTCOME_TIE if w == "tie" else (OUTCOME_A if w == 0 else OUTCOME_B)
            rows.append(
                PairJudgment(
                    who, items[0], items[1], outcome, strength, name, f"{base}/{name}", rationale or None
                )
            )
        elif cfg.shape == "ranking":
            groups = [[items[i] for i in g] for g in order_groups(v["order"])]
            rows.append(RankingJudgment(who, groups, name, f"{base}/{name}"))
        else:
            for c, item, score in zip(cand_ids, items, v["scores"], strict=True):
                rows.append(
                    RatingJudgment(
                        who,
                        item,
                        float(score),
                        float(cfg.scale_min),
                        float(cfg.scale_max),
                        name,
                        f"{base}/{name}/{c}",
                    )
                )
    return Staged(campaign_source(slug), tuple(rows))


def vote_rows(
    slug: str, prompt_id: str, names: list[str], ranks: list[int], annotator: str, kind: str, match_key: str
) -> Staged:
    """An arena vote: a pairwise judgment for two models (first shown = ``a``), else a ranking with ties."""
    who = Who(f"{slug}/{prompt_id}", annotator, kind)
    ident = f"arena/{slug}/{match_key}"
    if len(names) == 2:
        r0, r1 = ranks
        outcome = OUTCOME_TIE if r0 == r1 else (OUTCOME_A if r0 < r1 else OUTCOME_B)
        pair = PairJudgment(who, names[0], names[1], outcome, math.nan, None, ident, None)
        return Staged(arena_source(slug), (pair,))
    groups = [[n for n, r in zip(names, ranks, strict=True) if r == lv] for lv in sorted(set(ranks))]
    return Staged(arena_source(slug), (RankingJudgment(who, groups, None, ident),))


def _build(source: str, rows: list[Judgment]) -> Dataset:
    b = Builder(Dataset(source=source), Context(path=source, strict=True))
    t = b.t
    for j in rows:
        who = j.who
        t.annotator_kind[who.annotator] = who.kind
        if isinstance(j, PairJudgment):
            b.pair(
                j.a,
                j.b,
                j.outcome,
                line=0,
                strength=j.strength,
                context=who.context,
                annotator=who.annotator,
                criterion=j.criterion,
                ident=j.ident,
                rationale=j.rationale,
            )
        elif isinstance(j, RankingJudgment):
            b.ranking(
                j.groups,
                line=0,
                context=who.context,
                annotator=who.annotator,
                criterion=j.criterion,
                ident=j.ident,
            )
        else:
            b.rating(
                j.item,
                j.score,
                j.lo,
                j.hi,
                line=0,
                attribute=j.attribute,
                context=who.context,
                annotator=who.annotator,
                ident=j.ident,
            )
    return b.flush()


# ---- writing -----------------------------------------------------------------------------------------


class CoreSink:
    """Writes judgments into the core tables (used only from the writer thread)."""

    def __init__(self, chunk: int = 256, catch_up_chunk: int = 50_000, settle_s: float = 0.0) -> None:
        self.chunk = chunk
        self.settle_s = settle_s
        self.catch_up_chunk = catch_up_chunk
        self._campaigns: dict[int, tuple[str, CampaignConfig, dict[int, tuple[str, list[str]]]]] = {}
        self._arenas: dict[int, tuple[str, list[str], dict[int, str]]] = {}

    def _import_id(self, conn: sqlite3.Connection, source: str) -> int:
        row = conn.execute(
            "SELECT pk FROM imports WHERE source = ? AND format = ? ORDER BY pk LIMIT 1", (source, FORMAT)
        ).fetchone()
        return int(row[0]) if row else new_import(conn, source=source, format=FORMAT)

    def _next_seq(self, conn: sqlite3.Connection, imp: int, n: int) -> int:
        """Positions ``seq0..seq0+n-1`` of the next judgments of import ``imp`` (order of arrival); the counter
        lives in ``svc_meta``, written in the same transaction (no scan of the judgment tables)."""
        key = f"core_seq/{imp}"
        seq = _watermark(conn, key)
        _set_watermark(conn, key, seq + n)
        return seq

    def write(self, conn: sqlite3.Connection, source: str, ds: Dataset) -> None:
        imp = self._import_id(conn, source)
        seq0 = self._next_seq(conn, imp, ds.n_judgments) if ds.n_judgments else 0
        append_dataset(conn, ds, import_id=imp, seq0=seq0)

    def flush(self, conn: sqlite3.Connection, staged: list[Staged]) -> None:
        """Write staged judgments, one append per source."""
        by_source: dict[str, list[Judgment]] = {}
        for part in staged:
            by_source.setdefault(part.source, []).extend(part.rows)
        for source, rows in by_source.items():
            self.write(conn, source, _build(source, rows))

    # -- following the acknowledged writes ---------------------------------------------------------------

    def _campaign(
        self, conn: sqlite3.Connection, cid: int
    ) -> tuple[str, CampaignConfig, dict[int, tuple[str, list[str]]]]:
        c = self._campaigns.get(cid)
        if c is None:
            slug, config = conn.execute(
                "SELECT slug, config FROM svc_campaigns WHERE id = ?", (cid,)
            ).fetchone()
            c = (slug, CampaignConfig.from_json(config), task_info(conn, cid))
            self._campaigns[cid] = c
        return c

    def _arena(self, conn: sqlite3.Connection, aid: int) -> tuple[str, list[str], dict[int, str]]:
        a = self._arenas.get(aid)
        if a is None:
            slug, models = conn.execute("SELECT slug, models FROM svc_arenas WHERE id = ?", (aid,)).fetchone()
            prompts = conn.execute("SELECT id, prompt_id FROM svc_arena_prompts WHERE arena_id = ?", (aid,))
            a = (slug, json.loads(models), {int(pk): str(p) for pk, p in prompts})
            self._arenas[aid] = a
        return a

    def sync(self, conn: sqlite3.Connection, limit: int | None = None, settle: bool = True) -> bool | None:
        """Copy the answers and votes past the watermarks (at most ``limit``, default ``chunk``, of each: a
        short hold of the write lock between vote batches) into the core tables and advance the watermarks,
        inside the caller's transaction. True when more are left now; None when answers younger than the undo
        window (``settle_s``) wait (with ``settle``: the periodic follow-up; exports and start-up copy all).
        An answer still in its undo window can be taken back (:func:`prefkit.service.repo.undo_answer`);
        once copied it is final."""
        limit = limit or self.chunk
        more: bool | None = False
        through = _watermark(conn, ANSWERS_KEY)
        rows = conn.execute(
            "SELECT a.id, a.task_id, a.campaign_id, a.token_id, a.status, a.answer, a.rationale, k.annotator, "
            "k.kind, a.created_at FROM svc_answers a JOIN svc_tokens k ON k.id = a.token_id WHERE a.id > ? "
            "ORDER BY a.id LIMIT ?",
            (through, limit),
        ).fetchall()
        full = len(rows) == limit
        if settle and self.settle_s > 0:
            cutoff = time.time() - self.settle_s
            young = next((i for i, r in enumerate(rows) if r[9] > cutoff), None)
            if young is not None:
                rows, full, more = rows[:young], False, None
        staged = []
        for _aid, tid, cid, tok, status, answer, rationale, annotator, kind, _at in rows:
            if status != "done":
                continue
            slug, cfg, tasks = self._campaign(conn, cid)
            context_id, cand_ids = tasks[tid]
            staged.append(
                answer_rows(
                    cfg, slug, tid, context_id, cand_ids, tok, annotator, kind, json.loads(answer), rationale
                )
            )
        if rows:
            self.flush(conn, staged)
            _set_watermark(conn, ANSWERS_KEY, rows[-1][0])
            more = True if full else more
        through = _watermark(conn, VOTES_KEY)
        votes = conn.execute(
            "SELECT v.id, v.arena_id, v.match_key, v.prompt_id, v.models, v.ranks, k.annotator, k.kind "
            "FROM svc_arena_votes v JOIN svc_tokens k ON k.id = v.token_id WHERE v.id > ? ORDER BY v.id LIMIT ?",
            (through, limit),
        ).fetchall()
        staged = []
        for _vid, aid, match_key, prompt_pk, models, ranks, annotator, kind in votes:
            slug, names, prompt_ids = self._arena(conn, aid)
            staged.append(
                vote_rows(
                    slug,
                    prompt_ids[prompt_pk],
                    [names[m] for m in json.loads(models)],
                    json.loads(ranks),
                    annotator,
                    kind,
                    match_key,
                )
            )
        if votes:
            self.flush(conn, staged)
            _set_watermark(conn, VOTES_KEY, votes[-1][0])
            if len(votes) == limit:
                more = True
        return more

    def sync_all(self, conn: sqlite3.Connection) -> None:
        """Copy everything past the watermarks (at start-up, before an export), undo windows or not."""
        while self.sync(conn, self.catch_up_chunk, settle=False):
            pass

    # -- entities, registered when a campaign / arena / token is created --------------------------------

    def register_campaign(
        self, conn: sqlite3.Connection, slug: str, cfg: CampaignConfig, tasks: list[NewTask]
    ) -> None:
        ds = Dataset(source=campaign_source(slug))
        for task in tasks:
            cname = f"{slug}/{task.context_id}"
            ds.contexts.add(cname)
            text = _content(task.context)
            if text is not None:
                ds.context_text[cname] = text
            for c in task.candidates:
                iname = f"{cname}/{c['id']}"
                ds.items.add(iname)
                text = _content(c)
                if text is not None:
                    ds.item_text[iname] = text
        if cfg.shape == "rating":
            for a in cfg.attributes:
                ds.attributes.add(a)
        else:
            for crit in cfg.criteria:
                ds.criteria.add(crit)
        self.write(conn, campaign_source(slug), ds)

    def register_arena(
        self, conn: sqlite3.Connection, slug: str, models: list[str], prompts: list[ArenaPrompt]
    ) -> None:
        ds = Dataset(source=arena_source(slug))
        for m in models:
            ds.items.add(m)
        for p in prompts:
            name = f"{slug}/{p.id}"
            ds.contexts.add(name)
            ds.context_text[name] = p.prompt
        self.write(conn, arena_source(slug), ds)

    def register_annotator(self, conn: sqlite3.Connection, annotator: str, kind: str) -> None:
        ds = Dataset(source=TOKENS_SOURCE)
        ds.annotators.add(annotator)
        ds.annotator_kind[annotator] = kind
        self.write(conn, TOKENS_SOURCE, ds)


def answers_copied_through(conn: sqlite3.Connection) -> int:
    """The id of the last answer copied into the core tables (answers up to it are final)."""
    return _watermark(conn, ANSWERS_KEY)


def _watermark(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM svc_meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def _set_watermark(conn: sqlite3.Connection, key: str, value: int) -> None:
    conn.execute(
        "INSERT INTO svc_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, str(int(value))),
    )


# ---- catching up files written before the service fed the core tables ---------------------------------


def task_info(conn: sqlite3.Connection, campaign_id: int) -> dict[int, tuple[str, list[str]]]:
    """task id -> (context id, candidate ids in task order), read without the candidates' texts."""
    rows = conn.execute(
        "SELECT t.id, t.context_id, (SELECT json_group_array(json_extract(j.value, '$.id')) "
        "FROM json_each(t.candidates) j) FROM svc_tasks t WHERE t.campaign_id = ?",
        (campaign_id,),
    ).fetchall()
    return {int(t): (str(c), [str(x) for x in json.loads(ids)]) for t, c, ids in rows}


def catch_up(conn: sqlite3.Connection, sink: CoreSink) -> None:
    """At start-up (inside the caller's transaction): register, once per file, the campaigns, arenas and
    tokens of a file written before the service fed the core tables; then copy every answer and vote past
    the watermarks (those acknowledged before a crash, or by an older prefkit)."""
    from prefkit.service import repo

    if not conn.execute("SELECT 1 FROM svc_meta WHERE key = ?", (SYNC_KEY,)).fetchone():
        for annotator, kind in conn.execute("SELECT DISTINCT annotator, kind FROM svc_tokens").fetchall():
            sink.register_annotator(conn, annotator, kind)
        for c in repo.list_campaigns(conn):
            tasks = repo.campaign_tasks(conn, c.id).values()
            sink.register_campaign(
                conn, c.slug, c.config, [NewTask(t.context_id, t.context, t.candidates) for t in tasks]
            )
        for a in repo.list_arenas(conn):
            sink.register_arena(conn, a.slug, a.models, repo.arena_prompts(conn, a.id))
        conn.execute("INSERT INTO svc_meta(key, value) VALUES (?, '1')", (SYNC_KEY,))
    sink.sync_all(conn)
