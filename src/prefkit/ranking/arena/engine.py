"""The online arena the web app drives: ask for a match, record the vote, read the leaderboard.

    >>> arena = Arena(["gpt", "claude", "llama", "qwen", "mistral"], k=4, seed=0)
    >>> match = arena.next_match()                   # Match(match_id="m1", items=(...4 names...))
    >>> arena.record(Vote(match.items, winner=match.items[2], match_id=match.match_id))   # "best" vote
    >>> arena.record(Vote(match.items, ranking=[[match.items[1]], [match.items[0], match.items[3]],
    ...                                          [match.items[2]]]))                   # ranking, ties allowed
    >>> table = arena.skill_table()                  # SkillTable(rows=(SkillRow(...), ...))
    >>> restored = Arena.from_json(arena.to_json())  # exact round trip, RNG included

Every public method takes the arena's lock, so concurrent requests are safe; all randomness comes from the
arena's own seeded generator, so the same calls in the same order give the same matches.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from prefkit.data.index import ItemIndex
from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking.arena.matchmaking import SkillState
from prefkit.ranking.arena.presets import ArenaPreset, get_preset
from prefkit.ranking.arena.skills import MODELS, SkillParams, weng_lin_update
from prefkit.ranking.intervals import normal_intervals

__all__ = ["Arena", "Match", "SkillRow", "SkillTable", "Vote"]

_STATE_VERSION = 1
_MAX_PENDING = 100_000


@dataclass(frozen=True)
class Match:
    """A match to show a voter: ``items`` in display order, and the id to send back with the vote."""

    match_id: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Vote:
    """A voter's judgment of ``items``: either ``winner`` ("pick the best") or ``ranking``.

    ``ranking`` lists tie groups best first (``[["a"], ["b", "c"], ["d"]]``: a first, b and c tied); a flat list of
    names (``["a", "b", "c", "d"]``) means no ties. It must use every item of ``items`` exactly once.
    ``match_id`` (from :meth:`Arena.next_match`) is optional; when given, ``items`` must be that match's items.
    """

    items: Sequence[str]
    winner: str | None = None
    ranking: Sequence[Sequence[str] | str] | None = None
    match_id: str | None = None


@dataclass(frozen=True)
class SkillRow:
    """One item's live Gaussian skill belief ``N(mu, sigma^2)``."""

    rank: int
    item: str
    score: float  # conservative: mu - 3 sigma
    mu: float
    sigma: float
    games: int

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The central ``level`` credible interval of the belief: ``mu -/+ z sigma``."""
        lo, hi = normal_intervals(np.array([self.mu]), np.array([self.sigma]), level)
        return float(lo[0]), float(hi[0])


@dataclass(frozen=True)
class SkillTable:
    """The online arena's live skill table: items sorted by the conservative score ``mu - 3 sigma`` (best
    first). (Batch fits with intervals are :class:`prefkit.ranking.leaderboard.Leaderboard`.)"""

    rows: tuple[SkillRow, ...]
    n_votes: int
    policy: str
    model: str

    def names(self) -> list[str]:
        return [r.item for r in self.rows]


class Arena:
    """An online K-wise arena: Gaussian skill beliefs, pluggable matchmaking, exact save/restore.

    Parameters: ``items`` (initial names), ``k`` (default match size), ``policy`` (a preset name:
    "infogain" (default), "ksort", "ksort-pl", "random", "random-elo"), ``model`` (override the preset's update:
    "pl", "bt", "tm"), ``seed``, ``k_min``/``k_max`` (the vote sizes accepted, default 2..k), ``params``
    (:class:`SkillParams`, default the preset's).
    """

    def __init__(
        self,
        items: Iterable[str] = (),
        *,
        k: int = 4,
        policy: str = "infogain",
        model: str | None = None,
        seed: int = 0,
        k_min: int = 2,
        k_max: int | None = None,
        params: SkillParams | None = None,
    ) -> None:
        preset = get_preset(policy)
        if model is not None and model not in MODELS:
            raise ValidationError(f"unknown skill model {model!r}: use one of {', '.join(MODELS)}")
        self._preset: ArenaPreset = preset
        self.model = model or preset.model
        self.params = params or preset.params
        self.k_max = k if k_max is None else k_max
        if not 2 <= k_min <= k <= self.k_max:
            raise ValidationError(
                f"need 2 <= k_min <= k <= k_max, got k_min={k_min}, k={k}, k_max={self.k_max}"
            )
        self.k, self.k_min, self.seed = k, k_min, seed
        self._policy = preset.make_policy()
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        self._index = ItemIndex()
        self._state = SkillState.new(0, self.params.mu, self.params.sigma)
        self._pending: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._next_id = 1
        self._log: list[tuple[list[int], list[int]]] = []
        for name in items:
            self.add_item(name)

    @property
    def policy(self) -> str:
        return self._preset.name

    @property
    def items(self) -> list[str]:
        with self._lock:
            return self._index.names

    @property
    def n_votes(self) -> int:
        return self._state.n_votes

    def add_item(self, name: str) -> None:
        """Add a new item with the prior belief; the matchmaking shows it first (it has the fewest games)."""
        if not isinstance(name, str) or not name:
            raise ValidationError(f"an item name must be a non-empty string, got {name!r}")
        with self._lock:
            if name in self._index:
                raise ValidationError(f"item {name!r} is already in the arena")
            self._index.add(name)
            self._state.add(self.params.mu, self.params.sigma)

    def next_match(self, k: int | None = None) -> Match:
        """Pick the next ``k`` items to compare (default the arena's k), in a shuffled display order."""
        with self._lock:
            chosen = self.deal_codes(k)
            match = Match(f"m{self._next_id}", tuple(self._index.name(int(i)) for i in chosen))
            self._next_id += 1
            self._pending[match.match_id] = match.items
            while len(self._pending) > _MAX_PENDING:
                self._pending.popitem(last=False)
            return match

    def deal_codes(self, k: int | None = None) -> np.ndarray:
        """:meth:`next_match` as item codes (positions in :attr:`items`), for a caller that keeps track of the
        matches it deals itself (a service signing them into tokens): same choice and draws, no names, no
        pending-match registry."""
        with self._lock:
            k = self.k if k is None else k
            if self._preset.pairwise_only:
                k = 2
            if not self.k_min <= k <= self.k_max:
                raise ValidationError(f"k={k} is outside the allowed range {self.k_min}..{self.k_max}")
            if k > self._state.n:
                raise DataProblemError(
                    f"a match of {k} needs {k} items, the arena has {self._state.n}: add items"
                )
            chosen = self._policy.select(self._state, k, self._rng)
            return chosen[self._rng.permutation(k)]

    def record_codes(self, codes: Sequence[int], ranks: Sequence[int]) -> None:
        """:meth:`record` for a caller holding item codes and ranks (0 = best, equal = tie; gaps allowed):
        the same update as the vote ``ranking=`` of those items; ValidationError (state unchanged) on a bad one."""
        c = [int(x) for x in codes]
        r = [int(x) for x in ranks]
        with self._lock:
            n = self._state.n
            if len(r) != len(c) or not self.k_min <= len(c) <= self.k_max:
                raise ValidationError(
                    f"a vote must cover {self.k_min}..{self.k_max} items with one rank each, got {len(c)} "
                    f"items and {len(r)} ranks"
                )
            if len(set(c)) != len(c) or not all(0 <= x < n for x in c):
                raise ValidationError(f"vote item codes {c} must be distinct codes 0..{n - 1}")
            levels = {v: i for i, v in enumerate(sorted(set(r)))}
            dense = [levels[v] for v in r]
            self._apply(np.asarray(c, dtype=np.int64), np.asarray(dense, dtype=np.int64))
            self._log.append((c, dense))

    def record(self, vote: Vote) -> None:
        """Update the beliefs of the vote's items; raises ValidationError (state unchanged) on a bad vote."""
        with self._lock:
            codes, ranks = self._validate(vote)
            if vote.match_id is not None:
                del self._pending[vote.match_id]
            self._apply(codes, ranks)
            self._log.append((codes.tolist(), ranks.tolist()))

    def _validate(self, vote: Vote) -> tuple[np.ndarray, np.ndarray]:
        items = list(vote.items)
        if len(set(items)) != len(items):
            raise ValidationError(f"vote items repeat an item: {items}; each item may appear once")
        if not self.k_min <= len(items) <= self.k_max:
            raise ValidationError(f"a vote must cover {self.k_min}..{self.k_max} items, got {len(items)}")
        unknown = [x for x in items if x not in self._index]
        if unknown:
            raise ValidationError(f"unknown item(s) {unknown}: add them with add_item first")
        if vote.match_id is not None:
            issued = self._pending.get(vote.match_id)
            if issued is None:
                raise ValidationError(f"match {vote.match_id!r} is unknown or already voted on")
            if set(issued) != set(items):
                raise ValidationError(
                    f"vote items {items} are not the items of match {vote.match_id}: {list(issued)}"
                )
        if (vote.winner is None) == (vote.ranking is None):
            raise ValidationError(
                "a vote needs exactly one of winner= (pick the best) or ranking= (full order)"
            )
        pos = {name: i for i, name in enumerate(items)}
        ranks = np.empty(len(items), dtype=np.int64)
        if vote.winner is not None:
            if vote.winner not in pos:
                raise ValidationError(f"winner {vote.winner!r} is not one of the match items {items}")
            ranks[:] = 1
            ranks[pos[vote.winner]] = 0
        else:
            assert vote.ranking is not None
            groups = [[g] if isinstance(g, str) else list(g) for g in vote.ranking]
            flat = [x for g in groups for x in g]
            if sorted(flat) != sorted(items):
                raise ValidationError(f"ranking {flat} must list each match item {items} exactly once")
            for level, group in enumerate(groups):
                for name in group:
                    ranks[pos[name]] = level
        codes = np.array([self._index.code(x) for x in items], dtype=np.int64)
        return codes, ranks

    def _apply(self, codes: np.ndarray, ranks: np.ndarray) -> None:
        st = self._state
        if self._preset.model == "elo" and self.model == "elo":
            for i in range(codes.size):
                for j in range(i + 1, codes.size):
                    a, b = codes[i], codes[j]
                    s = 1.0 if ranks[i] < ranks[j] else (0.5 if ranks[i] == ranks[j] else 0.0)
                    e = 1.0 / (1.0 + 10.0 ** ((st.mu[b] - st.mu[a]) / 400.0))
                    st.mu[a] += self._preset.k_factor * (s - e)
                    st.mu[b] -= self._preset.k_factor * (s - e)
        else:
            st.mu[codes], st.sigma[codes] = weng_lin_update(
                st.mu[codes], st.sigma[codes], ranks, self.model, self.params
            )
        st.count(codes)

    def skill_table(self) -> SkillTable:
        """Items by conservative score ``mu - 3 sigma`` (ties by mu, then name)."""
        with self._lock:
            st = self._state
            score = st.mu - 3.0 * st.sigma
            names = self._index.names
            order = sorted(range(st.n), key=lambda i: (-score[i], -st.mu[i], names[i]))
            rows = tuple(
                SkillRow(
                    r + 1, names[i], float(score[i]), float(st.mu[i]), float(st.sigma[i]), int(st.games[i])
                )
                for r, i in enumerate(order)
            )
            return SkillTable(rows, st.n_votes, self.policy, self.model)

    def votes(self) -> list[tuple[list[str], list[int]]]:
        """The recorded votes as (items, ranks) with ranks 0 = best, equal = tie (for batch refits)."""
        with self._lock:
            return [([self._index.name(c) for c in codes], list(ranks)) for codes, ranks in self._log]

    def published_table(self, **kwargs: Any) -> Any:
        """Batch Plackett-Luce / Bradley-Terry refit of all votes with intervals, for the published table."""
        from prefkit.ranking.arena.refit import batch_refit

        return batch_refit(self.votes(), self.items, **kwargs)

    # -- persistence -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot; :meth:`from_state` restores it exactly (RNG included)."""
        with self._lock:
            st = self._state
            nz = np.nonzero(np.triu(st.pair_counts, 1))
            p = self.params
            return {
                "version": _STATE_VERSION,
                "config": {
                    "k": self.k,
                    "k_min": self.k_min,
                    "k_max": self.k_max,
                    "policy": self.policy,
                    "model": self.model,
                    "seed": self.seed,
                    "params": {
                        f: getattr(p, f) for f in ("mu", "sigma", "beta", "kappa", "tau", "epsilon", "gamma")
                    },
                },
                "items": self._index.names,
                "mu": st.mu.tolist(),
                "sigma": st.sigma.tolist(),
                "games": st.games.tolist(),
                "pairs": [nz[0].tolist(), nz[1].tolist(), st.pair_counts[nz].tolist()],
                "n_votes": st.n_votes,
                "next_id": self._next_id,
                "pending": [[mid, list(items)] for mid, items in self._pending.items()],
                "log": [[c, r] for c, r in self._log],
                "rng": self._rng.bit_generator.state,
            }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Arena:
        """Rebuild an arena from :meth:`state_dict` output."""
        try:
            if state.get("version") != _STATE_VERSION:
                raise ValidationError(f"unsupported arena state version {state.get('version')!r}")
            cfg = state["config"]
            arena = cls(
                state["items"],
                k=cfg["k"],
                policy=cfg["policy"],
                model=cfg["model"] if cfg["model"] != "elo" else None,
                seed=cfg["seed"],
                k_min=cfg["k_min"],
                k_max=cfg["k_max"],
                params=SkillParams(**cfg["params"]),
            )
            st = arena._state
            st.mu = np.asarray(state["mu"], dtype=np.float64)
            st.sigma = np.asarray(state["sigma"], dtype=np.float64)
            st.games = np.asarray(state["games"], dtype=np.int64)
            a, b, c = (np.asarray(x, dtype=np.int64) for x in state["pairs"])
            st.pair_counts[a, b] = c
            st.pair_counts[b, a] = c
            st.n_votes = int(state["n_votes"])
            arena._next_id = int(state["next_id"])
            arena._pending = OrderedDict((mid, tuple(items)) for mid, items in state["pending"])
            arena._log = [(list(c), list(r)) for c, r in state["log"]]
            arena._rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(
                f"not a valid arena state ({exc}); pass the output of Arena.state_dict()"
            ) from exc
        return arena

    def to_json(self) -> str:
        return json.dumps(self.state_dict())

    @classmethod
    def from_json(cls, text: str) -> Arena:
        return cls.from_state(json.loads(text))
