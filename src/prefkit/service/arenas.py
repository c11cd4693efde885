"""Arena mode: the online engine per arena (matchmaking + instant belief updates) and its leaderboards.

Committed votes are the source of truth: at start-up each arena's engine replays its votes in commit order,
and every new vote updates the engine right after its COMMIT (in the writer thread, in commit order), so the
live state always equals a replay of the database.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from prefkit.errors import InputError, PrefkitError, StoreError, ValidationError
from prefkit.service import repo
from prefkit.service.hygiene import Hygiene
from prefkit.service.records import Arena, ArenaPrompt, ArenaVote

if TYPE_CHECKING:
    from prefkit.ranking.arena.engine import SkillTable
    from prefkit.ranking.leaderboard import Leaderboard, Rankings
    from prefkit.service.state import ServiceState

log = logging.getLogger("prefkit.service")
_MODEL_NAMES = {"pl": "Plackett-Luce", "bt": "Bradley-Terry", "tm": "Thurstone-Mosteller", "elo": "Elo"}
BT_PRIOR = 0.1
"""Precision of the Gaussian prior of the batch Bradley-Terry fit (MAP): a weak one, so that a model that has
not lost (or won) yet has a finite rating."""


@dataclass(frozen=True)
class BoardRow:
    """One row of a rendered table (page, plot, JSON API)."""

    rank: int
    name: str
    score: float
    lo: float
    hi: float
    games: int


@dataclass(frozen=True)
class BoardView:
    """A table as the pages and the API show it: a live :class:`~prefkit.ranking.arena.engine.SkillTable` or a
    batch :class:`~prefkit.ranking.leaderboard.Leaderboard`, with a title and its scale (no statistics here)."""

    method: str
    scale: str
    rows: list[BoardRow]
    n_votes: int


def skills_view(table: SkillTable, level: float = 0.95) -> BoardView:
    """The online engine's live beliefs: ``mu`` with its ``level`` credible interval, ranked by ``mu - 3 sigma``."""
    model = _MODEL_NAMES.get(table.model, table.model)
    rows = []
    for r in table.rows:
        lo, hi = r.interval(level)
        rows.append(BoardRow(rank=r.rank, name=r.item, score=r.mu, lo=lo, hi=hi, games=r.games))
    return BoardView(
        method=f"online {model} skills ({table.policy} matchmaking), mu with {level:.0%} belief intervals",
        scale="skill (sorted by mu - 3 sigma)",
        n_votes=table.n_votes,
        rows=rows,
    )


def leaderboard_view(lb: Leaderboard, games: np.ndarray, n_votes: int) -> BoardView:
    """A batch fit's rows, best first: rating, interval and displayed rank as :mod:`prefkit.ranking` gives them;
    ``games`` is the number of votes each model (in item-code order) was shown in."""
    model = _MODEL_NAMES.get(lb.method, lb.method)
    rows = [
        BoardRow(
            rank=int(lb.rank[k]),
            name=lb.names[k],
            score=float(lb.rating[k]),
            lo=float(lb.lower[k]),
            hi=float(lb.upper[k]),
            games=int(games[k]),
        )
        for k in lb.order()
    ]
    return BoardView(
        method=f"{model} (batch fit, {lb.level:.0%} {lb.ci} intervals)",
        scale="log-strength"
        if lb.scale.raw
        else f"Elo (scale {lb.scale.scale:g}, centre {lb.scale.center:g})",
        n_votes=n_votes,
        rows=rows,
    )


def parse_arena_rows(data: bytes | str, source: str = "<upload>") -> tuple[list[str], list[ArenaPrompt]]:
    """Read ``{"id", "prompt", "outputs": {model: text}}`` JSONL; return (models, prompts)."""
    from prefkit.service.campaigns import decode_upload, load_json_line

    text = decode_upload(data, source)
    prompts: list[ArenaPrompt] = []
    models: dict[str, None] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = load_json_line(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", path=source, line=lineno) from None
        except (ValueError, RecursionError) as exc:
            raise InputError(f"not a usable JSON object ({exc})", path=source, line=lineno) from None
        outs = rec.get("outputs") if isinstance(rec, dict) else None
        if not isinstance(outs, dict) or len(outs) < 2 or not all(isinstance(v, str) for v in outs.values()):
            raise InputError(
                'expected {"id": ..., "prompt": ..., "outputs": {model: text, ...}} with 2+ models',
                path=source,
                line=lineno,
            )
        if not isinstance(rec.get("prompt", ""), str):
            raise InputError("'prompt' must be a string", path=source, line=lineno)
        for m in outs:
            models.setdefault(str(m))
        prompts.append(
            ArenaPrompt(
                id=str(rec.get("id", f"p{len(prompts) + 1}")),
                prompt=rec.get("prompt", ""),
                outputs={str(k): v for k, v in outs.items()},
            )
        )
    if not prompts:
        raise InputError("no rows: one JSON object per line", path=source)
    return list(models), prompts


def votes_rankings(votes: list[ArenaVote], models: list[str]) -> Rankings:
    """The committed votes as the CSR rankings :mod:`prefkit.ranking` fits (model codes, ranks as levels)."""
    from prefkit.ranking.arena.refit import coded_votes_to_rankings

    return coded_votes_to_rankings([v.models for v in votes], [v.ranks for v in votes], models)


def batch_leaderboard(rankings: Rankings) -> Leaderboard:
    """The published batch table: Bradley-Terry (ties half) on the pairs the votes imply, MAP with
    :data:`BT_PRIOR`, sandwich intervals, on the natural-log scale: :class:`prefkit.ranking.leaderboard.RatingModel`."""
    from prefkit.ranking.leaderboard import RatingModel
    from prefkit.ranking.scale import EloScale

    model = RatingModel("bt", ties="half", ci="sandwich", prior=BT_PRIOR, scale=EloScale(raw=True))
    return model.fit(rankings).leaderboard_


class ArenaRuntime:
    """One arena's engine, prompts and a lock (the engine is touched from the loop and the writer thread)."""

    def __init__(
        self, arena: Arena, prompts: list[ArenaPrompt], seed: int, hygiene: Hygiene | None = None
    ) -> None:
        from prefkit.ranking.arena.engine import Arena as Engine

        self.arena = arena
        self.models: list[str] = arena.models
        self.k = arena.k
        self.prompts = prompts
        self.index = {m: i for i, m in enumerate(self.models)}
        self.has = np.array([[m in p.outputs for m in self.models] for p in prompts], dtype=bool)
        self.full = bool(self.has.all())  # every prompt has every model's output (the usual case)
        self.rng = np.random.default_rng(seed)
        self.lock = threading.Lock()
        self._engine = Engine
        self.seed = seed
        self.engine = Engine(self.models, k=self.k, policy=arena.policy, seed=seed)
        self.hygiene = hygiene or Hygiene(cap=10**9, flag_share=1.0, min_deals=1, n_models=len(self.models))
        self.votes: list[ArenaVote] = []  # every committed vote, flagged tokens' included
        self.counted: list[ArenaVote] = []  # the votes the leaderboards count
        self._batch_cache: tuple[int, BoardView] | None = None

    def next_match(self) -> tuple[int, list[int]]:
        """(prompt index, models in shown order)."""
        with self.lock:
            if self.full:  # any prompt will do: no scan of the prompts
                chosen = self.engine.deal_codes(self.k).tolist()  # engine codes = positions in self.models
                self.rng.shuffle(chosen)
                return int(self.rng.integers(len(self.prompts))), chosen
            for _ in range(20):
                chosen = self.engine.deal_codes(self.k).tolist()
                ok = np.flatnonzero(self.has[:, chosen].all(axis=1))
                if ok.size:
                    self.rng.shuffle(chosen)
                    return int(ok[self.rng.integers(ok.size)]), chosen
            # no prompt has outputs of every chosen model: fall back to a prompt and K of its models
            p = int(self.rng.integers(len(self.prompts)))
            avail = np.flatnonzero(self.has[p])
            return p, [int(i) for i in self.rng.choice(avail, size=min(self.k, avail.size), replace=False)]

    def record(self, models: list[int], ranks: list[int], token_id: int = 0) -> None:
        """A committed vote: into the engine unless its token is flagged (it is kept either way)."""
        with self.lock:
            vote = ArenaVote(list(models), list(ranks), token_id)
            self.votes.append(vote)
            if not self.hygiene.flagged(token_id):
                self._count(vote)

    def _count(self, vote: ArenaVote) -> None:
        self.engine.record_codes(vote.models, vote.ranks)
        self.counted.append(vote)

    def replay(self) -> None:
        """Rebuild the engine from the committed votes of unflagged tokens (after a token is flagged)."""
        with self.lock:
            self.engine = self._engine(self.models, k=self.k, policy=self.arena.policy, seed=self.seed)
            self.counted = []
            for v in self.votes:
                if not self.hygiene.flagged(v.token_id):
                    self._count(v)
            self._batch_cache = None

    def online(self) -> BoardView:
        """The engine's live skill table."""
        with self.lock:
            table = self.engine.skill_table()
        return skills_view(table)

    def rankings(self) -> Rankings:
        """Every counted vote, as rankings (what the batch table is fitted on)."""
        with self.lock:
            votes = list(self.counted)
        return votes_rankings(votes, self.models)

    def batch(self) -> BoardView | None:
        """The batch Bradley-Terry table of every counted vote so far (None before the first); refitted only when
        votes have come in since the last call."""
        with self.lock:
            votes = list(self.counted)
        cached = self._batch_cache
        if cached is not None and cached[0] == len(votes):
            return cached[1]
        if not votes:
            return None
        rankings = votes_rankings(votes, self.models)
        games = np.bincount(rankings.members, minlength=len(self.models))
        view = leaderboard_view(batch_leaderboard(rankings), games, len(votes))
        self._batch_cache = (len(votes), view)
        return view

    def boards(self) -> list[BoardView]:
        """What the leaderboard page and API show: the live skills, then the batch table once there are votes."""
        return [b for b in (self.online(), self.batch()) if b is not None]


class ArenaHub:
    """The runtimes of every arena of the project (built lazily, replaying committed votes)."""

    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc
        self._runtimes: dict[int, ArenaRuntime] = {}
        self._lock = threading.Lock()
        self.broken: dict[int, str] = {}

    def runtime(self, arena: Arena) -> ArenaRuntime:
        """The arena's engine (built on first use); a row that cannot be served is a ``StoreError`` (503) naming
        it, and the other arenas keep working."""
        with self._lock:
            rt = self._runtimes.get(arena.id)
            if rt is None:
                try:
                    rt = self._build(arena)
                except (ValueError, TypeError, KeyError, PrefkitError) as exc:
                    self.broken[arena.id] = f"arena {arena.slug!r} cannot be served: {exc}"
                    raise StoreError(self.broken[arena.id] + " (fix or delete its row)") from None
                self._runtimes[arena.id] = rt
            return rt

    def _build(self, arena: Arena) -> ArenaRuntime:
        conn = self.svc.db()
        seed = int(self.svc.secret[:8], 16) ^ arena.id
        st = self.svc.settings
        hygiene = Hygiene(st.arena_cap, st.discard_flag, st.discard_min, len(arena.models))
        votes = repo.arena_votes(conn, arena.id)
        hygiene.load([(v.token_id, v.models) for v in votes], repo.arena_flags(conn, arena.id))
        rt = ArenaRuntime(arena, repo.arena_prompts(conn, arena.id), seed, hygiene)
        for v in votes:
            rt.record(v.models, v.ranks, v.token_id)
        return rt

    def warm(self) -> list[str]:
        """Build every arena's engine now; return (and log) the problems of those that cannot be served."""
        problems: list[str] = []
        conn = self.svc.db()
        for arena in repo.list_arenas(conn, problems):
            try:
                self.runtime(arena)
            except StoreError as exc:
                problems.append(str(exc))
        for p in problems:
            log.error("%s", p)
        return problems


def ranks_from_choice(k: int, choice: str) -> list[int]:
    """Ranks (0 = best) of the shown models from a form value: "1".."k" (that one best, others tied), "0" (all tied),
    or a comma list of shown positions best first ("2,1,3")."""
    choice = choice.strip()
    if choice == "0":
        return [0] * k
    parts = choice.split(",")
    try:
        pos = [int(p) for p in parts]
    except ValueError:
        raise ValidationError(
            "choice: a shown position 1..K, 0 for a tie, or an order like '2,1,3'"
        ) from None
    if len(pos) == 1:
        if not 1 <= pos[0] <= k:
            raise ValidationError(f"choice: position must be 1..{k}")
        return [0 if i == pos[0] - 1 else 1 for i in range(k)]
    if sorted(pos) != list(range(1, k + 1)):
        raise ValidationError(f"choice: an order must list the positions 1..{k} once each")
    ranks = [0] * k
    for r, p in enumerate(pos):
        ranks[p - 1] = r
    return ranks
