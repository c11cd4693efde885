"""Routed campaigns: each instance goes to people or to a judge backend, and both answers land in one store.

A campaign file may be a routing plan (what ``prefkit route plan`` writes): each row a campaign row plus
``"route": "human" | "ai"`` and an optional ``"gain"`` (the predicted benefit of a human label). A campaign
with a judge (:class:`RoutingConfig`, set when the campaign is created) then works in one of two modes:

* ``plan``: human-bound rows are dealt to annotators; ai-bound rows wait for the judge, which answers them in
  the background (both orders, MT-Bench's rule: a verdict that follows the order is a tie);
* ``online``: every row not planned for people is first asked of the judge in both orders (and of each panel
  member); when the judge is swap-inconsistent (its verdict changes with the order) or the panel disagrees,
  the row goes to people; otherwise the judge's verdict is stored.

In both modes an instance the judge could not decide (a failed call after the retries, an unreadable answer,
a tie in a campaign without ties, no text to judge) goes to people, with the reason; a permanent backend
failure (unknown model, refused key) stops the judge, keeps the waiting instances waiting and reports the
error on the campaign's admin page (``POST .../routing/run`` tries again, ``.../routing/release`` hands them
to people). Nothing is lost: every route change and every judge answer is one committed write.

Judge answers are ordinary answers of the campaign by a ``model`` token (the judge's name, or
``panel:A+B`` for a panel), so they reach the project store's core tables with annotator kind ``model``, and
every export carries them beside the human answers, distinguishable by annotator and kind. Judge calls go
through the reply cache (``Settings.judge_cache``, default ``$PREFKIT_CACHE/judge-replies.sqlite``): a
restart, or the same instance in another campaign, costs nothing. The judge runs in its own thread (never on
the event loop); waiting instances are picked up again when the server starts.

The tables live in their own migration namespace (``service_routing``) in the project file; annotators are
never dealt a task whose route is not ``human`` (:data:`HIDDEN_SQL`), and an answer to one is refused.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from prefkit.errors import BackendError, ConflictError, InputError, ValidationError

if TYPE_CHECKING:
    from prefkit.annotation.types import PairJudge, Verdict
    from prefkit.service.campaigns import CampaignConfig, CampaignRow
    from prefkit.service.state import ServiceState

log = logging.getLogger("prefkit.service")

NAMESPACE = "service_routing"
MIGRATIONS: tuple[str, ...] = (
    """
CREATE TABLE svc_route_campaigns (
    campaign_id INTEGER PRIMARY KEY REFERENCES svc_campaigns(id),
    config TEXT NOT NULL,
    judge_token INTEGER NOT NULL REFERENCES svc_tokens(id),
    state TEXT NOT NULL,
    error TEXT,
    updated_at REAL NOT NULL
) STRICT;
CREATE TABLE svc_route_tasks (
    task_id INTEGER PRIMARY KEY REFERENCES svc_tasks(id),
    campaign_id INTEGER NOT NULL REFERENCES svc_campaigns(id),
    route TEXT NOT NULL CHECK (route IN ('human', 'ai', 'pending')),
    planned TEXT CHECK (planned IN ('human', 'ai')),
    gain REAL,
    reason TEXT NOT NULL,
    updated_at REAL NOT NULL
) STRICT;
CREATE INDEX svc_route_tasks_pending ON svc_route_tasks(campaign_id, route);
""",
)

HELD_SQL = "t.id IN (SELECT r.task_id FROM svc_route_tasks r WHERE r.campaign_id = ? AND r.route != 'human')"
"""The SQL condition (on ``svc_tasks t``; one parameter: the campaign id) of a task held for the judge. A
non-correlated subquery: SQLite builds the set once per statement, so a campaign without routes pays nothing."""
HIDDEN_SQL = "NOT " + HELD_SQL
"""The SQL condition (one parameter: the campaign id) of a task annotators may be dealt."""


def holds(conn: sqlite3.Connection, campaign_id: int) -> bool:
    """Whether any task of the campaign is held for the judge (an index lookup: the other campaigns' queries
    then skip :data:`HIDDEN_SQL` altogether)."""
    row = conn.execute(
        "SELECT 1 FROM svc_route_tasks WHERE campaign_id = ? AND route != 'human' LIMIT 1", (campaign_id,)
    ).fetchone()
    return row is not None


MODES = ("plan", "online")
ROUTES = ("human", "ai")
BATCH = 32
_URL = re.compile(r"^https?://[^\s\"'<>\\]+$")


@dataclass
class JudgeSpec:
    """One judge backend, as :func:`prefkit.annotation.factory.open_judge` takes it: ``model`` is a model name
    on an OpenAI-compatible server (``base_url``), ``local:smollm2``, ``scripted[:...]`` or ``reward:DIR``."""

    model: str
    base_url: str | None = None
    protocol: str = "mt-bench-pair-v2"


@dataclass
class RoutingConfig:
    """How a routed campaign uses its judge: ``mode`` (``plan`` or ``online``), one judge or a panel of 2-5,
    the backend's ``retries``, ``timeout`` (s) and ``concurrency``."""

    mode: str = "plan"
    judges: list[JudgeSpec] = field(default_factory=list)
    retries: int = 3
    timeout: float = 120.0
    concurrency: int = 4

    def validate(self) -> RoutingConfig:
        from prefkit.annotation.prompts import PAIRWISE

        if self.mode not in MODES:
            raise ValidationError(f"routing.mode: expected plan or online, got {self.mode!r}")
        if not 1 <= len(self.judges) <= 5:
            raise ValidationError("routing.judges: give one judge, or a panel of 2 to 5")
        for j in self.judges:
            if not j.model or len(j.model) > 200:
                raise ValidationError("routing.judges: each judge needs a model (1-200 characters)")
            if j.base_url is not None and not _URL.match(j.base_url):
                raise ValidationError(f"routing.judges: base_url {j.base_url!r} is not an http(s) URL")
            if j.protocol not in PAIRWISE:
                raise ValidationError(
                    f"routing.judges: unknown protocol {j.protocol!r}; choose one of {', '.join(PAIRWISE)}"
                )
        if not 0 <= self.retries <= 10 or not 0 < self.timeout <= 3600 or not 1 <= self.concurrency <= 64:
            raise ValidationError("routing: retries 0-10, timeout (0, 3600] s, concurrency 1-64")
        return self

    @property
    def judge_name(self) -> str:
        """The annotator name of the judge's answers: the model, or ``panel:A+B`` for a panel."""
        if len(self.judges) == 1:
            return self.judges[0].model[:80]
        return ("panel:" + "+".join(j.model for j in self.judges))[:80]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RoutingConfig:
        d = json.loads(text)
        d["judges"] = [JudgeSpec(**j) for j in d.get("judges", [])]
        return cls(**d)


# ---- the plan file -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanEntry:
    route: str | None
    gain: float | None
    line: int = 0


def parse_plan(data: bytes | str, source: str) -> dict[str, PlanEntry]:
    """The ``route`` / ``gain`` of each row id of a campaign file (rows without them: ``PlanEntry(None,
    None)``). Call after :func:`prefkit.service.campaigns.parse_rows` accepted the file (same line numbers,
    same ids); a bad value is an ``InputError`` FILE:LINE."""
    from prefkit.service.campaigns import decode_upload

    out: dict[str, PlanEntry] = {}
    for lineno, line in enumerate(decode_upload(data, source).splitlines(), start=1):
        if not line.strip():
            continue
        rec = json.loads(line)  # (parse_rows checked the nesting and the JSON)
        rid = str(rec.get("id", f"row{len(out) + 1}"))
        route = rec.get("route")
        if route is not None and route not in ROUTES:
            raise InputError(
                f'route: expected "human" or "ai", got {json.dumps(route)[:40]}', path=source, line=lineno
            )
        gain = rec.get("gain")
        if gain is not None and (
            isinstance(gain, bool) or not isinstance(gain, int | float) or not math.isfinite(gain)
        ):
            raise InputError(
                f"gain: expected a finite number, got {json.dumps(gain)[:40]}", path=source, line=lineno
            )
        out[rid] = PlanEntry(route, None if gain is None else float(gain), lineno)
    return out


@dataclass(frozen=True)
class TaskRoute:
    """Where one task starts: ``route`` (``human`` or ``pending``: waiting for the judge), the plan's route
    and gain, and why."""

    route: str
    planned: str | None
    gain: float | None
    reason: str


def plan_tasks(
    cfg: CampaignConfig,
    routing: RoutingConfig | None,
    rows: Sequence[CampaignRow],
    data: bytes | str,
    source: str,
) -> list[TaskRoute] | None:
    """The start route of every task (in :func:`prefkit.service.campaigns.build_tasks` order), or None for an
    ordinary campaign (no judge, no routes in the file). Refuses, before anything is stored, a plan row
    without a route, ai-bound rows without a judge, and a judge on a campaign it cannot answer."""
    if routing is None and ('"route"' not in data if isinstance(data, str) else b'"route"' not in data):
        return None  # (an ordinary campaign file: not read again)
    plan = parse_plan(data, source)
    has_routes = any(p.route is not None for p in plan.values())
    if routing is None:
        if not has_routes:
            return None
        first_ai = next((r.id for r in rows if plan[r.id].route == "ai"), None)
        if first_ai is not None:
            raise InputError(
                'route "ai" needs a judge: create the campaign with a judge (routing) or route every row to '
                '"human"',
                path=source,
                line=plan[first_ai].line,
            )
    else:
        routing.validate()
        if cfg.shape != "pairwise":
            raise ValidationError("routing: a judge answers pairs; a routed campaign must be pairwise")
        if len(cfg.criteria) != 1:
            raise ValidationError(
                "routing: the judge gives one verdict; a routed campaign asks one criterion"
            )
        if routing.mode == "plan" and has_routes:
            missing = next((r.id for r in rows if plan[r.id].route is None), None)
            if missing is not None:
                raise InputError(
                    'route: missing; in a plan every row has "route": "human" or "ai"',
                    path=source,
                    line=plan[missing].line,
                )
        if routing.mode == "plan" and not has_routes:
            raise InputError(
                'mode plan needs a routing plan: rows with "route": "human" | "ai" (prefkit route plan '
                "writes one), or choose mode online",
                path=source,
            )
    out: list[TaskRoute] = []
    for r in rows:
        p = plan[r.id]
        start = "human" if p.route == "human" else "pending"
        reason = "plan" if p.route is not None else "online check"
        if routing is not None and routing.mode == "online" and p.route == "ai":
            reason = "online check"
        n = len(r.candidates)
        for _ in range(n * (n - 1) // 2 if cfg.shape == "pairwise" else 1):
            out.append(TaskRoute(start, p.route, p.gain, reason))
    return out


# ---- the store ---------------------------------------------------------------------------------------


def store_routes(
    conn: sqlite3.Connection,
    campaign_id: int,
    routing: RoutingConfig | None,
    routes: list[TaskRoute],
    judge_token: int | None,
) -> None:
    """Record the start route of each task (in the campaign's writer transaction)."""
    now = time.time()
    ids = [
        int(t)
        for (t,) in conn.execute(
            "SELECT id FROM svc_tasks WHERE campaign_id = ? ORDER BY seq", (campaign_id,)
        )
    ]
    if len(ids) != len(routes):  # pragma: no cover - build_tasks and plan_tasks count alike
        raise ValidationError(f"routing: {len(routes)} routes for {len(ids)} tasks")
    conn.executemany(
        "INSERT INTO svc_route_tasks(task_id, campaign_id, route, planned, gain, reason, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (t, campaign_id, r.route, r.planned, r.gain, r.reason, now)
            for t, r in zip(ids, routes, strict=True)
        ],
    )
    if routing is not None and judge_token is not None:
        conn.execute(
            "INSERT INTO svc_route_campaigns(campaign_id, config, judge_token, state, error, updated_at) "
            "VALUES (?, ?, ?, 'waiting', NULL, ?)",
            (campaign_id, routing.to_json(), judge_token, now),
        )


def check_open(conn: sqlite3.Connection, task_id: int) -> None:
    """ConflictError when task ``task_id`` is not for people (routed to the judge, or waiting for it)."""
    row = conn.execute("SELECT route FROM svc_route_tasks WHERE task_id = ?", (task_id,)).fetchone()
    if row is not None and row[0] != "human":
        raise ConflictError(f"task {task_id} is routed to the judge, not to annotators: fetch the next task")


@dataclass(frozen=True)
class RoutedCampaign:
    campaign_id: int
    config: RoutingConfig
    judge_token: int
    state: str
    error: str | None


def routed_campaign(conn: sqlite3.Connection, campaign_id: int) -> RoutedCampaign | None:
    row = conn.execute(
        "SELECT config, judge_token, state, error FROM svc_route_campaigns WHERE campaign_id = ?",
        (campaign_id,),
    ).fetchone()
    if row is None:
        return None
    return RoutedCampaign(campaign_id, RoutingConfig.from_json(row[0]), int(row[1]), str(row[2]), row[3])


def status(conn: sqlite3.Connection, campaign_id: int) -> dict[str, Any] | None:
    """A routed campaign's state: mode, judge, its state and last error, and tasks by route and reason
    (None for a campaign without routes)."""
    counts = conn.execute(
        "SELECT route, reason, count(*) FROM svc_route_tasks WHERE campaign_id = ? GROUP BY route, reason "
        "ORDER BY route, reason",
        (campaign_id,),
    ).fetchall()
    if not counts:
        return None
    rc = routed_campaign(conn, campaign_id)
    by_route = {r: 0 for r in ("human", "ai", "pending")}
    for route, _reason, n in counts:
        by_route[route] += int(n)
    return {
        "mode": rc.config.mode if rc else None,
        "judge": rc.config.judge_name if rc else None,
        "judges": [asdict(j) for j in rc.config.judges] if rc else [],
        "state": rc.state if rc else "no judge",
        "error": rc.error if rc else None,
        "tasks": by_route,
        "reasons": [{"route": r, "reason": why, "tasks": int(n)} for r, why, n in counts],
    }


def task_routes(conn: sqlite3.Connection, campaign_id: int) -> dict[int, tuple[str, str]]:
    """task id -> (route, reason), for exports and tests."""
    rows = conn.execute(
        "SELECT task_id, route, reason FROM svc_route_tasks WHERE campaign_id = ?", (campaign_id,)
    )
    return {int(t): (str(r), str(why)) for t, r, why in rows}


def release(conn: sqlite3.Connection, campaign_id: int, reason: str = "released by the admin") -> int:
    """Hand every waiting task of the campaign to people; return how many."""
    cur = conn.execute(
        "UPDATE svc_route_tasks SET route = 'human', reason = ?, updated_at = ? "
        "WHERE campaign_id = ? AND route = 'pending'",
        (reason, time.time(), campaign_id),
    )
    return int(cur.rowcount)


def _set_state(conn: sqlite3.Connection, campaign_id: int, state: str, error: str | None) -> None:
    conn.execute(
        "UPDATE svc_route_campaigns SET state = ?, error = ?, updated_at = ? WHERE campaign_id = ?",
        (state, error, time.time(), campaign_id),
    )


# ---- the decision ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """``route`` ``ai`` with the ``winner`` (0, 1 or ``"tie"``, in the task's order), or ``human``; and why."""

    route: str
    reason: str
    winner: int | str | None = None
    rationale: str | None = None


def decide(mode: str, members: Sequence[Verdict], allow_tie: bool) -> Decision:
    """What to do with one instance given each judge's verdict (both orders asked): see the module doc."""
    from prefkit.annotation.types import FAILED
    from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE

    if any(v.outcome == FAILED for v in members):
        return Decision("human", "judge failed")
    if any(not v.ok for v in members):
        return Decision("human", "judge answer unreadable")
    if mode == "online":
        if any(
            v.flipped or v.extra.get("order1", v.outcome) != v.extra.get("order2", v.outcome) for v in members
        ):
            return Decision("human", "swap-inconsistent")
        if len({v.outcome for v in members}) > 1:
            return Decision("human", "panel disagrees")
        outcome = members[0].outcome
    else:
        votes = [sum(1 for v in members if v.outcome == o) for o in (OUTCOME_A, OUTCOME_B, OUTCOME_TIE)]
        top = [o for o, n in zip((OUTCOME_A, OUTCOME_B, OUTCOME_TIE), votes, strict=True) if n == max(votes)]
        outcome = top[0] if len(top) == 1 else OUTCOME_TIE
    if outcome == OUTCOME_TIE and not allow_tie:
        return Decision("human", "judge tie (the campaign allows no ties)")
    winner: int | str = "tie" if outcome == OUTCOME_TIE else (0 if outcome == OUTCOME_A else 1)
    why = next((v.rationale for v in members if v.rationale), None)
    return Decision("ai", "judged", winner, (why or "")[:5000] or None)


# ---- the background judge ----------------------------------------------------------------------------


class RoutingHub:
    """Runs the judges of routed campaigns in one background thread (a queue of campaigns to work on)."""

    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc
        self._wanted: set[int] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._cache: Any = None
        self._thread = threading.Thread(target=self._run, name="prefkit-routing", daemon=True)
        self._thread.start()

    def resume(self) -> None:
        """Queue every routed campaign with waiting tasks (at start-up), unless its judge stopped on an error."""
        rows = (
            self.svc.db()
            .execute(
                "SELECT c.campaign_id FROM svc_route_campaigns c WHERE c.state != 'error' AND EXISTS "
                "(SELECT 1 FROM svc_route_tasks t WHERE t.campaign_id = c.campaign_id AND t.route = 'pending')"
            )
            .fetchall()
        )
        for (cid,) in rows:
            self.kick(int(cid))

    def kick(self, campaign_id: int) -> None:
        with self._cond:
            self._wanted.add(campaign_id)
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._wanted and not self._busy

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=5)  # (a judge call in flight may outlive this: the thread is a daemon)
        if self._cache is not None and not self._thread.is_alive():
            self._cache.close()
            self._cache = None

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            conn = getattr(self.svc._local, "conn", None)  # this thread's read connection
            if conn is not None:
                conn.close()
                self.svc._local.conn = None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._wanted and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                cid = min(self._wanted)
                self._wanted.discard(cid)
                self._busy = True
            try:
                self._work(cid)
            except Exception as exc:  # reported on the admin page; the waiting tasks stay waiting
                log.exception("the judge of campaign %s stopped", cid)
                stopped = partial(_set_state, campaign_id=cid, state="error", error=_message(exc))
                try:
                    self.svc.writer.call(stopped)
                except Exception:  # pragma: no cover - the writer is gone (shutting down)
                    pass
            finally:
                with self._cond:
                    self._busy = False

    def _reply_cache(self) -> Any:
        if self._cache is None:
            from prefkit.storage.judge_cache import JudgeCache, default_cache_path

            path = self.svc.settings.judge_cache
            self._cache = JudgeCache(path if path is not None else default_cache_path())
        return self._cache

    def _work(self, cid: int) -> None:
        from contextlib import ExitStack

        from prefkit.annotation.factory import JudgeOptions, open_judge
        from prefkit.service import repo

        rc = routed_campaign(self.svc.db(), cid)
        if rc is None:
            return
        slug = self.svc.db().execute("SELECT slug FROM svc_campaigns WHERE id = ?", (cid,)).fetchone()[0]
        campaign = repo.get_campaign(self.svc.db(), slug)
        todo = self._pending(cid)  # in order (highest gain first), read once
        if not todo:  # (nothing for the judge: no backend started)
            self.svc.writer.call(lambda conn: _set_state(conn, cid, "idle", None))
            return
        self.svc.writer.call(lambda conn: _set_state(conn, cid, "running", None))
        with ExitStack() as stack:
            judges: list[PairJudge] = []
            for spec in rc.config.judges:
                calls = not spec.model.startswith(("scripted", "reward:"))
                opts = JudgeOptions(
                    protocol=spec.protocol,
                    base_url=spec.base_url,
                    both_orders=True,
                    cache=self._reply_cache() if calls else None,
                    concurrency=rc.config.concurrency,
                    retries=rc.config.retries,
                    timeout=rc.config.timeout,
                    name=spec.model,
                )
                judge, _runner = stack.enter_context(open_judge(spec.model, opts))
                judges.append(judge)
            for start in range(0, len(todo), BATCH):
                if self._stop:
                    return  # (left waiting: picked up again at the next start)
                batch = [repo.get_task(self.svc.db(), t) for t in todo[start : start + BATCH]]
                self._judge_batch(campaign, rc, judges, batch)
        self.svc.writer.call(lambda conn: _set_state(conn, cid, "idle", None))

    def _pending(self, cid: int) -> list[int]:
        """The tasks waiting for the judge, highest gain first, then in campaign order."""
        rows = self.svc.db().execute(
            "SELECT t.task_id FROM svc_route_tasks t JOIN svc_tasks k ON k.id = t.task_id "
            "WHERE t.campaign_id = ? AND t.route = 'pending' ORDER BY coalesce(t.gain, 0) DESC, k.seq",
            (cid,),
        )
        return [int(t) for (t,) in rows.fetchall()]

    def _judge_batch(
        self, campaign: Any, rc: RoutedCampaign, judges: list[PairJudge], tasks: list[Any]
    ) -> None:
        from prefkit.annotation.types import PairTask

        decisions: dict[int, Decision] = {}
        asked = []
        for task in tasks:
            texts = [task.context.get("text")] + [c.get("text") for c in task.candidates]
            if any(not isinstance(x, str) for x in texts[1:]) or len(task.candidates) != 2:
                decisions[task.id] = Decision("human", "no text for the judge")
                continue
            asked.append(task)
        if asked:
            pairs = [
                PairTask(
                    prompt=t.context.get("text") or "",
                    first=t.candidates[0]["text"],
                    second=t.candidates[1]["text"],
                    first_item=t.candidates[0]["id"],
                    second_item=t.candidates[1]["id"],
                    row=t.seq,
                )
                for t in asked
            ]
            members = [j.judge_pairs(pairs) for j in judges]  # a BackendError (permanent) stops here
            allow_tie = campaign.config.allow_tie
            for i, t in enumerate(asked):
                decisions[t.id] = decide(rc.config.mode, [m[i] for m in members], allow_tie)
        self.svc.writer.call(lambda conn: _apply(conn, campaign, rc.judge_token, decisions))


def _apply(conn: sqlite3.Connection, campaign: Any, judge_token: int, decisions: dict[int, Decision]) -> Any:
    """Store one batch of decisions (in the writer): routes, and the judge's answers as campaign answers."""
    from prefkit.service import repo
    from prefkit.service.writer import AfterCommit

    cfg = campaign.config
    now = time.time()
    answered = False
    for task_id, d in decisions.items():
        cur = conn.execute(
            "UPDATE svc_route_tasks SET route = ?, reason = ?, updated_at = ? WHERE task_id = ? AND route = 'pending'",
            (d.route, d.reason, now, task_id),
        )
        if cur.rowcount != 1 or d.route != "ai":
            continue  # (released meanwhile, or for people)
        answer = {cfg.criteria[0]: {"winner": d.winner, "strength": None}}
        rationale = d.rationale or ("judge verdict" if cfg.rationale_required else None)
        repo.save_answer(
            conn,
            task_id=task_id,
            overlap=max(cfg.overlap, 1),
            campaign_id=campaign.id,
            token_id=judge_token,
            status="done",
            answer=answer,
            positions=[0, 1],
            rationale=rationale,
        )
        answered = True
    return AfterCommit(None, follow_up=True) if answered else None


def _message(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    kind = "backend" if isinstance(exc, BackendError) else type(exc).__name__
    return f"{kind}: {text[:500]}"
