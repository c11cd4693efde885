"""Every SQL statement of the service (all parametrised). Reads take any connection; writes are writer ops."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prefkit.errors import ConflictError, NotFoundError, StoreError, ValidationError
from prefkit.service.campaigns import CampaignConfig, NewTask
from prefkit.service.records import (
    Answer,
    Arena,
    ArenaPrompt,
    ArenaVote,
    Campaign,
    Progress,
    Task,
    TokenRow,
)
from prefkit.service.routing import HELD_SQL, HIDDEN_SQL, holds


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's row and what it may see."""

    token_id: int
    role: str
    annotator: str
    kind: str
    token_hash: str
    campaigns: frozenset[int] = field(default_factory=frozenset)
    arenas: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_campaign(self, campaign_id: int) -> bool:
        return self.is_admin or campaign_id in self.campaigns

    def may_arena(self, arena_id: int) -> bool:
        return self.is_admin or arena_id in self.arenas


# ---- meta and tokens -------------------------------------------------------------------------------


def meta_get_or_create(conn: sqlite3.Connection, key: str, make: Any) -> str:
    row = conn.execute("SELECT value FROM svc_meta WHERE key = ?", (key,)).fetchone()
    if row:
        return str(row[0])
    conn.execute("INSERT OR IGNORE INTO svc_meta(key, value) VALUES (?, ?)", (key, make()))
    return str(conn.execute("SELECT value FROM svc_meta WHERE key = ?", (key,)).fetchone()[0])


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def stored_admin_token(conn: sqlite3.Connection) -> str | None:
    """The project's own admin token, kept only as a hash (its ``svc_tokens`` row): a new one is created (and
    returned, to be shown once) on the first start; a plain-text one left by an older prefkit in ``svc_meta`` is
    moved to its hash (and returned this one last time); otherwise None (it was shown when it was created)."""
    row = conn.execute("SELECT value FROM svc_meta WHERE key = 'admin_token'").fetchone()
    if row is not None:
        conn.execute("DELETE FROM svc_meta WHERE key = 'admin_token'")
        token = str(row[0])
    elif conn.execute("SELECT 1 FROM svc_meta WHERE key = 'admin_token_created'").fetchone():
        return None
    else:
        token = new_secret()
    conn.execute(
        "INSERT OR REPLACE INTO svc_meta(key, value) VALUES ('admin_token_created', ?)", (str(time.time()),)
    )
    issue_token(conn, role="admin", annotator="admin", label="admin", secret=token)
    return token


def issue_token(
    conn: sqlite3.Connection,
    *,
    role: str,
    annotator: str,
    kind: str = "human",
    label: str = "",
    campaigns: list[int] = (),  # type: ignore[assignment]
    arenas: list[int] = (),  # type: ignore[assignment]
    secret: str | None = None,
) -> tuple[int, str]:
    """Create a token (or reuse the row of ``secret``) with its grants; return ``(token_id, secret)``. Only the
    token's SHA-256 is stored: the caller shows the secret once."""
    if role not in ("admin", "annotator") or kind not in ("human", "model"):
        raise ValidationError("role/kind: role is admin or annotator, kind is human or model")
    if not annotator or len(annotator) > 80:
        raise ValidationError("annotator: give a name of 1-80 characters")
    secret = secret or new_secret()
    th = token_hash(secret)
    conn.execute(
        "INSERT OR IGNORE INTO svc_tokens(token_hash, secret, role, annotator, kind, label, created_at) "
        "VALUES (?, '', ?, ?, ?, ?, ?)",
        (th, role, annotator, kind, label, time.time()),
    )
    tid = int(conn.execute("SELECT id FROM svc_tokens WHERE token_hash = ?", (th,)).fetchone()[0])
    for cid in campaigns:
        conn.execute("INSERT OR IGNORE INTO svc_grants VALUES (?, 'campaign', ?)", (tid, int(cid)))
    for aid in arenas:
        conn.execute("INSERT OR IGNORE INTO svc_grants VALUES (?, 'arena', ?)", (tid, int(aid)))
    return tid, secret


def lookup_token(conn: sqlite3.Connection, th: str) -> Principal | None:
    row = conn.execute(
        "SELECT id, role, annotator, kind FROM svc_tokens WHERE token_hash = ? AND revoked = 0", (th,)
    ).fetchone()
    if row is None:
        return None
    grants = conn.execute(
        "SELECT resource, resource_id FROM svc_grants WHERE token_id = ?", (row[0],)
    ).fetchall()
    return Principal(
        token_id=int(row[0]),
        role=str(row[1]),
        annotator=str(row[2]),
        kind=str(row[3]),
        token_hash=th,
        campaigns=frozenset(int(r) for k, r in grants if k == "campaign"),
        arenas=frozenset(int(r) for k, r in grants if k == "arena"),
    )


def list_tokens(conn: sqlite3.Connection) -> list[TokenRow]:
    rows = conn.execute(
        "SELECT t.id, t.created_at, t.role, t.annotator, t.kind, t.label, t.revoked, "
        "(SELECT group_concat(resource || ':' || resource_id) FROM svc_grants g WHERE g.token_id = t.id) "
        "FROM svc_tokens t WHERE t.role = 'annotator' ORDER BY t.id"
    ).fetchall()
    return [
        TokenRow(
            id=int(r[0]),
            created_at=float(r[1]),
            role=r[2],
            annotator=r[3],
            kind=r[4],
            label=r[5],
            revoked=bool(r[6]),
            grants=r[7] or "",
        )
        for r in rows
    ]


def revoke_token(conn: sqlite3.Connection, token_id: int) -> None:
    """Revoke an annotator token (NotFoundError when there is none with that id)."""
    cur = conn.execute("UPDATE svc_tokens SET revoked = 1 WHERE id = ? AND role = 'annotator'", (token_id,))
    if cur.rowcount != 1:
        raise NotFoundError(f"no annotator token {token_id}")


# ---- campaigns and tasks ---------------------------------------------------------------------------


def insert_campaign(
    conn: sqlite3.Connection,
    slug: str,
    name: str,
    cfg: CampaignConfig,
    guidelines: str,
    tasks: list[NewTask],
) -> int:
    if conn.execute("SELECT 1 FROM svc_campaigns WHERE slug = ?", (slug,)).fetchone():
        raise ValidationError(f"slug: a campaign called {slug!r} exists already; choose another slug")
    cur = conn.execute(
        "INSERT INTO svc_campaigns(slug, name, shape, config, guidelines, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (slug, name, cfg.shape, cfg.to_json(), guidelines, time.time()),
    )
    cid = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT INTO svc_tasks(campaign_id, seq, context_id, context, candidates) VALUES (?, ?, ?, ?, ?)",
        [
            (cid, i, t.context_id, json.dumps(t.context), json.dumps(t.candidates))
            for i, t in enumerate(tasks)
        ],
    )
    return cid


def _campaign(row: Any) -> Campaign:
    try:
        cfg = CampaignConfig.from_json(row[4]).validate()
    except (ValueError, TypeError, KeyError) as exc:
        raise StoreError(
            f"campaign {row[1]!r} (row {row[0]}) has an unreadable config ({exc}): fix or delete its row"
        ) from None
    return Campaign(id=int(row[0]), slug=row[1], name=row[2], shape=row[3], config=cfg, guidelines=row[5])


def get_campaign(conn: sqlite3.Connection, slug: str) -> Campaign:
    row = conn.execute(
        "SELECT id, slug, name, shape, config, guidelines FROM svc_campaigns WHERE slug = ?", (slug,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no campaign {slug!r}")
    return _campaign(row)


def list_campaigns(conn: sqlite3.Connection, problems: list[str] | None = None) -> list[Campaign]:
    """Every readable campaign; an unreadable row is left out (its message appended to ``problems``)."""
    rows = conn.execute(
        "SELECT id, slug, name, shape, config, guidelines FROM svc_campaigns ORDER BY id"
    ).fetchall()
    return _readable(rows, _campaign, problems)


def _readable(rows: Any, parse: Any, problems: list[str] | None) -> list[Any]:
    out = []
    for r in rows:
        try:
            out.append(parse(r))
        except StoreError as exc:
            if problems is not None:
                problems.append(str(exc))
    return out


def campaign_progress(
    conn: sqlite3.Connection, cid: int, overlap: int, token_id: int | None = None
) -> Progress:
    held = holds(conn, cid)  # a routed campaign: tasks held for the judge need their one answer
    n_tasks, full, needed = conn.execute(
        "SELECT count(*), coalesce(sum(min(n_done, w)), 0), coalesce(sum(w), 0) FROM (SELECT t.n_done, "
        f"CASE WHEN {HELD_SQL if held else '0'} THEN 1 ELSE ? END AS w FROM svc_tasks t WHERE t.campaign_id = ?)",
        ((cid,) if held else ()) + (overlap, cid),
    ).fetchone()
    if token_id is None:
        return Progress(tasks=int(n_tasks), needed=int(needed), done=int(full))
    mine, skipped = conn.execute(
        "SELECT coalesce(sum(status = 'done'), 0), coalesce(sum(status = 'skipped'), 0) FROM svc_answers "
        "WHERE campaign_id = ? AND token_id = ?",
        (cid, token_id),
    ).fetchone()
    left = conn.execute(
        f"SELECT count(*) FROM svc_tasks t WHERE t.campaign_id = ? AND (t.n_done < ? OR {_GOLD}) AND NOT "
        "EXISTS (SELECT 1 FROM svc_answers a WHERE a.task_id = t.id AND a.token_id = ?)"
        f" AND {HIDDEN_SQL if held else '1'}",
        (cid, overlap, token_id) + ((cid,) if held else ()),
    ).fetchone()[0]
    return Progress(
        tasks=int(n_tasks),
        needed=int(needed),
        done=int(full),
        mine=int(mine),
        left=int(left),
        skipped=int(skipped),
    )


def _task(row: Any) -> Task:
    return Task(
        id=int(row[0]),
        campaign_id=int(row[1]),
        seq=int(row[2]),
        context_id=row[3],
        context=json.loads(row[4]),
        candidates=json.loads(row[5]),
        n_done=int(row[6]),
    )


_TASK_COLS = "id, campaign_id, seq, context_id, context, candidates, n_done"
_GOLD = "EXISTS (SELECT 1 FROM svc_gold g WHERE g.task_id = t.id)"
"""A gold or attention task (:mod:`prefkit.service.lead`): dealt to every annotator, whatever the overlap."""


def open_tasks(conn: sqlite3.Connection, cid: int, overlap: int, token_id: int) -> Iterator[Task]:
    """The tasks this token has not answered (nor skipped) and that still need answers, in campaign order."""
    held = holds(conn, cid)  # tasks routed to the judge (prefkit.service.routing) are never dealt
    cur = conn.execute(
        f"SELECT {_TASK_COLS} FROM svc_tasks t WHERE t.campaign_id = ? AND (t.n_done < ? OR {_GOLD}) AND NOT "
        "EXISTS (SELECT 1 FROM svc_answers a WHERE a.task_id = t.id AND a.token_id = ?)"
        f"{' AND ' + HIDDEN_SQL if held else ''} ORDER BY t.seq",
        (cid, overlap, token_id) + ((cid,) if held else ()),
    )
    for row in cur:
        yield _task(row)


def next_task(conn: sqlite3.Connection, cid: int, overlap: int, token_id: int) -> Task | None:
    return next(open_tasks(conn, cid, overlap, token_id), None)


def get_task(conn: sqlite3.Connection, task_id: int) -> Task:
    row = conn.execute(f"SELECT {_TASK_COLS} FROM svc_tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no task {task_id}")
    return _task(row)


def save_answer(
    conn: sqlite3.Connection,
    *,
    task_id: int,
    overlap: int,
    campaign_id: int,
    token_id: int,
    status: str,
    answer: dict[str, Any],
    positions: list[int],
    rationale: str | None,
) -> tuple[int, bool]:
    """Insert one answer; return ``(answer_id, duplicate)``. Same answer again is a no-op; a different one is a ConflictError."""
    body = json.dumps(answer, sort_keys=True)
    row = conn.execute(
        "SELECT id, status, answer, coalesce(rationale, '') FROM svc_answers WHERE task_id = ? AND token_id = ?",
        (task_id, token_id),
    ).fetchone()
    if row is not None:
        if row[1] == status and row[2] == body and row[3] == (rationale or ""):
            return int(row[0]), True
        raise ConflictError(
            f"task {task_id} already has a different answer from this annotator; answers are final"
        )
    cur = conn.execute(
        "INSERT INTO svc_answers(task_id, campaign_id, token_id, status, answer, positions, rationale, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (task_id, campaign_id, token_id, status, body, json.dumps(positions), rationale, time.time()),
    )
    if status == "done":
        cur2 = conn.execute(
            f"UPDATE svc_tasks AS t SET n_done = n_done + 1 WHERE id = ? AND (n_done < ? OR {_GOLD})",
            (task_id, overlap),
        )
        if cur2.rowcount != 1:  # (the caller's savepoint drops the answer row)
            raise ConflictError(f"task {task_id} has all its {overlap} answers already: fetch the next task")
    return int(cur.lastrowid or 0), False


def undo_answer(
    conn: sqlite3.Connection, *, answer_id: int, token_id: int, window_s: float, final_through: int
) -> int:
    """Take back one of ``token_id``'s answers (or skips) within ``window_s`` seconds, while it is not yet
    copied into the core tables (id above ``final_through``); return its task id. ConflictError after that."""
    row = conn.execute(
        "SELECT task_id, status, created_at FROM svc_answers WHERE id = ? AND token_id = ?",
        (answer_id, token_id),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no answer {answer_id} of this annotator")
    if answer_id <= final_through or time.time() - float(row[2]) > window_s:
        raise ConflictError(f"answer {answer_id} is final: answers can be taken back for {window_s:g} s")
    conn.execute("DELETE FROM svc_answers WHERE id = ?", (answer_id,))
    if row[1] == "done":
        conn.execute("UPDATE svc_tasks SET n_done = n_done - 1 WHERE id = ?", (row[0],))
    return int(row[0])


def campaign_answers(conn: sqlite3.Connection, cid: int) -> list[Answer]:
    rows = conn.execute(
        "SELECT a.id, a.task_id, a.token_id, tk.annotator, tk.kind, a.answer, a.positions, a.rationale, a.created_at "
        "FROM svc_answers a JOIN svc_tokens tk ON tk.id = a.token_id "
        "WHERE a.campaign_id = ? AND a.status = 'done' ORDER BY a.id",
        (cid,),
    ).fetchall()
    return [
        Answer(
            id=int(r[0]),
            task_id=int(r[1]),
            token_id=int(r[2]),
            annotator=r[3],
            kind=r[4],
            answer=json.loads(r[5]),
            positions=json.loads(r[6]),
            rationale=r[7],
            time=float(r[8]),
        )
        for r in rows
    ]


def campaign_tasks(conn: sqlite3.Connection, cid: int) -> dict[int, Task]:
    rows = conn.execute(f"SELECT {_TASK_COLS} FROM svc_tasks WHERE campaign_id = ?", (cid,)).fetchall()
    return {int(r[0]): _task(r) for r in rows}


# ---- arenas -----------------------------------------------------------------------------------------


def insert_arena(
    conn: sqlite3.Connection,
    slug: str,
    name: str,
    k: int,
    policy: str,
    models: list[str],
    prompts: list[ArenaPrompt],
) -> int:
    if conn.execute("SELECT 1 FROM svc_arenas WHERE slug = ?", (slug,)).fetchone():
        raise ValidationError(f"slug: an arena called {slug!r} exists already; choose another slug")
    cur = conn.execute(
        "INSERT INTO svc_arenas(slug, name, k, config, models, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (slug, name, k, json.dumps({"policy": policy}), json.dumps(models), time.time()),
    )
    aid = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT INTO svc_arena_prompts(arena_id, seq, prompt_id, prompt, outputs) VALUES (?, ?, ?, ?, ?)",
        [(aid, i, p.id, p.prompt, json.dumps(p.outputs)) for i, p in enumerate(prompts)],
    )
    return aid


def _arena(r: Any) -> Arena:
    from prefkit.ranking.arena.presets import get_preset

    try:
        policy = str(json.loads(r[4]).get("policy", "infogain-pl"))
        get_preset(policy)
        models = json.loads(r[5])
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise ValueError("models is not a list of names")
    except (ValueError, TypeError, AttributeError) as exc:
        raise StoreError(
            f"arena {r[1]!r} (row {r[0]}) cannot be served ({exc}): fix or delete its row"
        ) from None
    return Arena(id=int(r[0]), slug=r[1], name=r[2], k=int(r[3]), policy=policy, models=models)


def get_arena(conn: sqlite3.Connection, slug: str) -> Arena:
    r = conn.execute(
        "SELECT id, slug, name, k, config, models FROM svc_arenas WHERE slug = ?", (slug,)
    ).fetchone()
    if r is None:
        raise NotFoundError(f"no arena {slug!r}")
    return _arena(r)


def list_arenas(conn: sqlite3.Connection, problems: list[str] | None = None) -> list[Arena]:
    """Every servable arena; an unreadable row is left out (its message appended to ``problems``)."""
    rows = conn.execute("SELECT id, slug, name, k, config, models FROM svc_arenas ORDER BY id")
    return _readable(rows, _arena, problems)


def arena_prompts(conn: sqlite3.Connection, aid: int) -> list[ArenaPrompt]:
    rows = conn.execute(
        "SELECT id, prompt_id, prompt, outputs FROM svc_arena_prompts WHERE arena_id = ? ORDER BY seq", (aid,)
    )
    return [ArenaPrompt(id=r[1], prompt=r[2], outputs=json.loads(r[3]), pk=int(r[0])) for r in rows]


def arena_votes(conn: sqlite3.Connection, aid: int) -> list[ArenaVote]:
    rows = conn.execute(
        "SELECT models, ranks, token_id FROM svc_arena_votes WHERE arena_id = ? ORDER BY id", (aid,)
    )
    return [ArenaVote(json.loads(m), json.loads(r), int(t)) for m, r, t in rows]


def arena_flags(conn: sqlite3.Connection, aid: int) -> dict[int, str]:
    rows = conn.execute("SELECT token_id, reason FROM svc_arena_flags WHERE arena_id = ?", (aid,))
    return {int(t): str(r) for t, r in rows}


def flag_token(conn: sqlite3.Connection, aid: int, token_id: int, reason: str) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO svc_arena_flags(arena_id, token_id, reason, created_at) VALUES (?, ?, ?, ?)",
        (aid, token_id, reason, time.time()),
    )


def count_arena_votes(conn: sqlite3.Connection, aid: int) -> int:
    return int(conn.execute("SELECT count(*) FROM svc_arena_votes WHERE arena_id = ?", (aid,)).fetchone()[0])


def save_arena_vote(
    conn: sqlite3.Connection,
    *,
    arena_id: int,
    match_key: str,
    token_id: int,
    prompt_pk: int,
    models: list[int],
    ranks: list[int],
) -> tuple[int, bool]:
    m, r = json.dumps(models), json.dumps(ranks)
    # one statement on the common path (a new match); the match key's UNIQUE index finds a repeat
    cur = conn.execute(
        "INSERT INTO svc_arena_votes(arena_id, match_key, token_id, prompt_id, models, ranks, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(match_key) DO NOTHING",
        (arena_id, match_key, token_id, prompt_pk, m, r, time.time()),
    )
    if cur.rowcount == 1:
        return int(cur.lastrowid or 0), False
    row = conn.execute("SELECT id, ranks FROM svc_arena_votes WHERE match_key = ?", (match_key,)).fetchone()
    if row is not None and row[1] == r:
        return int(row[0]), True
    raise ConflictError("this match already has a different vote; votes are final")


def check_writable(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("SELECT count(*) FROM svc_meta").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"the service tables are not readable: {exc}") from exc
