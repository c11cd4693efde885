"""Arena mode: the online engine per arena (matchmaking + instant belief updates) and its leaderboards.

Committed votes are the source of truth: at start-up each arena's engine replays its votes in commit order,
and every new vote updates the engine right after its COMMIT (in the writer thread, in commit order), so the
live state always equals a replay of the database.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from prefkit.errors import InputError, ValidationError
from prefkit.service import repo

_MODEL_NAMES = {"pl": "Plackett-Luce", "bt": "Bradley-Terry", "tm": "Thurstone-Mosteller", "elo": "Elo"}

if TYPE_CHECKING:
    from prefkit.service.state import ServiceState


@dataclass(frozen=True)
class Rating:
    """One leaderboard row."""

    rank: int
    name: str
    score: float
    lo: float
    hi: float
    games: int


@dataclass(frozen=True)
class Leaderboard:
    method: str
    scale: str
    rows: list[Rating]
    n_votes: int


def parse_arena_rows(data: bytes | str, source: str = "<upload>") -> tuple[list[str], list[dict[str, Any]]]:
    """Read ``{"id", "prompt", "outputs": {model: text}}`` JSONL; return (models, prompts)."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    prompts: list[dict[str, Any]] = []
    models: dict[str, None] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", path=source, line=lineno) from None
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
            {
                "id": str(rec.get("id", f"p{len(prompts) + 1}")),
                "prompt": rec.get("prompt", ""),
                "outputs": {str(k): v for k, v in outs.items()},
            }
        )
    if not prompts:
        raise InputError("no rows: one JSON object per line", path=source)
    return list(models), prompts


class ArenaRuntime:
    """One arena's engine, prompts and a lock (the engine is touched from the loop and the writer thread)."""

    def __init__(self, arena: dict[str, Any], prompts: list[dict[str, Any]], seed: int) -> None:
        from prefkit.ranking.arena.engine import Arena, Vote

        self.arena = arena
        self.models: list[str] = arena["models"]
        self.k = int(arena["k"])
        self.prompts = prompts
        self.index = {m: i for i, m in enumerate(self.models)}
        self.has = np.array([[m in p["outputs"] for m in self.models] for p in prompts], dtype=bool)
        self.rng = np.random.default_rng(seed)
        self.lock = threading.Lock()
        self._vote = Vote
        self.engine = Arena(
            self.models, k=self.k, policy=arena["config"].get("policy", "infogain-pl"), seed=seed
        )
        self.votes: list[tuple[list[int], list[int]]] = []
        self._bt_cache: tuple[int, Leaderboard] | None = None

    def next_match(self) -> tuple[int, list[int]]:
        """(prompt index, models in shown order)."""
        with self.lock:
            for _ in range(20):
                chosen = [self.index[name] for name in self.engine.next_match(self.k).items]
                ok = np.flatnonzero(self.has[:, chosen].all(axis=1))
                if ok.size:
                    self.rng.shuffle(chosen)
                    return int(ok[self.rng.integers(ok.size)]), chosen
            # no prompt has outputs of every chosen model: fall back to a prompt and K of its models
            p = int(self.rng.integers(len(self.prompts)))
            avail = np.flatnonzero(self.has[p])
            return p, [int(i) for i in self.rng.choice(avail, size=min(self.k, avail.size), replace=False)]

    def record(self, models: list[int], ranks: list[int]) -> None:
        with self.lock:
            names = [self.models[m] for m in models]
            groups = [
                [n for n, r in zip(names, ranks, strict=True) if r == level] for level in sorted(set(ranks))
            ]
            self.engine.record(self._vote(names, ranking=groups))
            self.votes.append((models, ranks))

    def online(self) -> Leaderboard:
        with self.lock:
            board = self.engine.leaderboard()
            n = len(self.votes)
        model = _MODEL_NAMES.get(board.model, board.model)
        return Leaderboard(
            method=f"online {model} skills ({board.policy} matchmaking), mu with 95% belief intervals",
            scale="skill (sorted by mu - 3 sigma)",
            n_votes=n,
            rows=[
                Rating(
                    rank=r.rank,
                    name=r.item,
                    score=r.mu,
                    lo=r.mu - 1.96 * r.sigma,
                    hi=r.mu + 1.96 * r.sigma,
                    games=r.games,
                )
                for r in board.rows
            ],
        )

    def bradley_terry(self) -> Leaderboard | None:
        """Batch Bradley-Terry (MAP, weak prior) on the pairs implied by every vote, with 95% sandwich intervals."""
        from prefkit.ranking.bt import fit_bt
        from prefkit.ranking.counts import count_pairwise

        with self.lock:
            votes = list(self.votes)
        if self._bt_cache is not None and self._bt_cache[0] == len(votes):
            return self._bt_cache[1]
        a, b, out = [], [], []
        for models, ranks in votes:
            for i in range(len(models)):
                for j in range(i + 1, len(models)):
                    a.append(models[i])
                    b.append(models[j])
                    out.append(2 if ranks[i] == ranks[j] else (0 if ranks[i] < ranks[j] else 1))
        if not a:
            return None
        fit = fit_bt(count_pairwise(a, b, out, n_items=len(self.models)), prior=0.1)
        games = np.zeros(len(self.models), dtype=int)
        for models, _ in votes:
            games[models] += 1
        order = np.argsort(-fit.theta)
        rows = [
            Rating(
                rank=r + 1,
                name=self.models[i],
                score=float(fit.theta[i]),
                lo=float(fit.theta[i] - 1.96 * fit.se[i]),
                hi=float(fit.theta[i] + 1.96 * fit.se[i]),
                games=int(games[i]),
            )
            for r, i in enumerate(order)
        ]
        board = Leaderboard(
            method="Bradley-Terry (batch MAP, 95% sandwich intervals)",
            scale="log-strength",
            rows=rows,
            n_votes=len(votes),
        )
        self._bt_cache = (len(votes), board)
        return board


class ArenaHub:
    """The runtimes of every arena of the project (built lazily, replaying committed votes)."""

    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc
        self._runtimes: dict[int, ArenaRuntime] = {}
        self._lock = threading.Lock()

    def runtime(self, arena: dict[str, Any]) -> ArenaRuntime:
        with self._lock:
            rt = self._runtimes.get(arena["id"])
            if rt is None:
                conn = self.svc.db()
                seed = int(self.svc.secret[:8], 16) ^ arena["id"]
                rt = ArenaRuntime(arena, repo.arena_prompts(conn, arena["id"]), seed)
                for models, ranks in repo.arena_votes(conn, arena["id"]):
                    rt.record(models, ranks)
                self._runtimes[arena["id"]] = rt
            return rt


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
