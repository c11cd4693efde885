"""Matchmaking: which K items should the next voter compare? One interface, pluggable policies.

A policy is an object with a ``name`` and ``select(state, k, rng) -> int array of k distinct items``, where
``state`` is the :class:`SkillState` of the arena (beliefs, per-item and per-pair comparison counts). Policies:

- ``random``: K items uniformly at random (with K = 2, LMArena's random pairs);
- ``ksort``: K-Sort Arena's rule (Li et al., 2024): the pivot is the least-compared item, the K-1 opponents
  maximise the upper-confidence score ``U(i, q) = -|S_i - S_q| + alpha * sqrt(ln n / n_iq)`` with the
  conservative score ``S = mu - 3 sigma``, ``n`` the number of votes so far and ``n_iq`` the pair's comparison
  count (a pair never compared scores +inf);
- ``infogain``: prefkit's rule: the pivot is the least-compared item (so new items catch up first), the
  opponents are added greedily to maximise the expected information of the match, the sum over its pairs of
  ``p (1 - p) (sigma_i^2 + sigma_q^2) / c^2`` (the Fisher information of the skill difference times its prior
  variance), evaluated on a Thompson draw of the skills so that near-ties do not absorb every vote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from prefkit.errors import ValidationError

__all__ = [
    "POLICIES",
    "expected_information",
    "InfoGainPolicy",
    "KSortPolicy",
    "Policy",
    "RandomPolicy",
    "SkillState",
    "make_policy",
]


@dataclass
class SkillState:
    """Beliefs and comparison counts of n items (integer-indexed ``0..n-1``)."""

    mu: np.ndarray
    sigma: np.ndarray
    games: np.ndarray  # votes each item took part in
    pair_counts: np.ndarray  # (n, n) int32: times i and q met in a vote
    n_votes: int = 0

    @classmethod
    def new(cls, n: int, mu0: float, sigma0: float) -> SkillState:
        return cls(
            mu=np.full(n, mu0, dtype=np.float64),
            sigma=np.full(n, sigma0, dtype=np.float64),
            games=np.zeros(n, dtype=np.int64),
            pair_counts=np.zeros((n, n), dtype=np.int32),
        )

    @property
    def n(self) -> int:
        return int(self.mu.size)

    def add(self, mu0: float, sigma0: float) -> int:
        """Add one item with the prior belief; returns its index."""
        n = self.n
        self.mu = np.append(self.mu, mu0)
        self.sigma = np.append(self.sigma, sigma0)
        self.games = np.append(self.games, 0)
        pc = np.zeros((n + 1, n + 1), dtype=np.int32)
        pc[:n, :n] = self.pair_counts
        self.pair_counts = pc
        return n

    def count(self, items: np.ndarray) -> None:
        """Record that ``items`` met in one vote."""
        if items.size <= 4:  # (a live arena's vote: scalar updates beat building the index grid)
            codes = items.tolist()
            for i in codes:
                self.games[i] += 1
                for q in codes:
                    if q != i:
                        self.pair_counts[i, q] += 1
        else:
            self.games[items] += 1
            self.pair_counts[np.ix_(items, items)] += 1
            self.pair_counts[items, items] -= 1
        self.n_votes += 1


class Policy(Protocol):
    """The matchmaking interface: pick ``k`` distinct items from ``state`` with ``rng``."""

    name: str

    def select(self, state: SkillState, k: int, rng: np.random.Generator) -> np.ndarray: ...


def _argmin_random(values: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the minimum, ties broken uniformly at random."""
    if (
        values.size <= _SMALL_N
    ):  # (the same choice and draws on Python numbers: numpy's overhead dominates here)
        v = values.tolist()
        lo = min(v)
        small = [i for i, x in enumerate(v) if x == lo]
        return small[int(rng.integers(len(small)))] if len(small) > 1 else small[0]
    ties = np.flatnonzero(values == values.min())
    return int(ties[rng.integers(ties.size)]) if ties.size > 1 else int(ties[0])


_SMALL_N = 32
"""Up to this many items, matchmaking runs its loops on Python floats (same draws, same choices): a live arena
deals one match per request, and on a few items numpy's per-call overhead is most of the cost."""


def _top_random(scores: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the ``m`` largest scores (+inf allowed), ties broken uniformly at random."""
    order = np.lexsort((rng.random(scores.size), -scores))
    return order[:m]


def expected_information(delta: np.ndarray, var_sum: np.ndarray, c2: np.ndarray | float) -> np.ndarray:
    """``p (1 - p) var_sum / c2`` with ``p = logistic(delta / sqrt(c2))``: the Fisher information of a skill
    difference ``delta`` (prior variance ``var_sum``, outcome scale ``c2``) times its variance, i.e. how much one
    comparison of the pair is expected to move the ranking (``infogain``'s score; routing's leaderboard value)."""
    p = 1.0 / (1.0 + np.exp(-delta / np.sqrt(c2)))
    return p * (1.0 - p) * var_sum / c2


@dataclass
class RandomPolicy:
    """K distinct items uniformly at random (K = 2: LMArena's random pairs)."""

    name: str = "random"

    def select(self, state: SkillState, k: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(state.n, size=k, replace=False)


@dataclass
class KSortPolicy:
    """K-Sort Arena's exploration-exploitation rule (pivot = least compared, K-1 opponents by UCB)."""

    alpha: float = 1.0
    z: float = 3.0
    name: str = "ksort"

    def select(self, state: SkillState, k: int, rng: np.random.Generator) -> np.ndarray:
        pivot = _argmin_random(state.games, rng)
        score = state.mu - self.z * state.sigma
        n_iq = state.pair_counts[pivot].astype(np.float64)
        log_n = np.log(max(state.n_votes, 1))
        with np.errstate(divide="ignore"):
            bonus = np.where(n_iq > 0, np.sqrt(log_n / np.where(n_iq > 0, n_iq, 1.0)), np.inf)
        u = -np.abs(score[pivot] - score) + self.alpha * bonus
        u[pivot] = -np.inf
        return np.concatenate(([pivot], _top_random(u, k - 1, rng)))


@dataclass
class InfoGainPolicy:
    """Greedy expected-information matchmaking on a Thompson draw of the skills (prefkit's default).

    ``beta`` is the per-vote performance noise of the skill model (same scale as mu); ``candidates`` caps the
    number of items scored per step (the nearest on the draw), so a step costs O(n) for any arena size.
    """

    beta: float = 25.0 / 6.0
    candidates: int = 64
    name: str = "infogain"

    def select(self, state: SkillState, k: int, rng: np.random.Generator) -> np.ndarray:
        var = state.sigma**2
        pivot = _argmin_random(state.games, rng)
        draw = state.mu + state.sigma * rng.standard_normal(state.n)
        m = min(self.candidates, state.n)
        near = np.argpartition(np.abs(draw - draw[pivot]), m - 1)[:m]
        near = near[near != pivot]
        chosen = [pivot]
        gain = rng.random(near.size) * 1e-12  # random tie-break
        if near.size <= _SMALL_N:
            return self._greedy_small(chosen, near, draw, var, gain, k)
        for _ in range(k - 1):
            last = chosen[-1]
            c2 = var[last] + var[near] + 2.0 * self.beta**2
            gain += expected_information(draw[last] - draw[near], var[last] + var[near], c2)
            j = int(np.argmax(gain))
            chosen.append(int(near[j]))
            gain[j] = -np.inf
        return np.asarray(chosen, dtype=np.int64)

    def _greedy_small(
        self, chosen: list[int], near: np.ndarray, draw: np.ndarray, var: np.ndarray, gain: np.ndarray, k: int
    ) -> np.ndarray:
        """The greedy steps of :meth:`select` on Python floats (same formulas, same first-maximum choice)."""
        nb = near.tolist()
        g = gain.tolist()
        d = draw.tolist()
        v = var.tolist()
        b2 = 2.0 * self.beta**2
        for _ in range(k - 1):
            last = chosen[-1]
            for j, q in enumerate(nb):
                if g[j] == -math.inf:
                    continue
                c2 = v[last] + v[q] + b2
                x = -(d[last] - d[q]) / math.sqrt(c2)
                p = 0.0 if x > 700.0 else 1.0 / (1.0 + math.exp(x))
                g[j] += p * (1.0 - p) * (v[last] + v[q]) / c2
            j = max(range(len(g)), key=g.__getitem__)
            chosen.append(int(nb[j]))
            g[j] = -math.inf
        return np.asarray(chosen, dtype=np.int64)


POLICIES = ("random", "ksort", "infogain")


def make_policy(name: str, **kwargs) -> Policy:
    """Build a policy by name (``random``, ``ksort``, ``infogain``)."""
    if name == "random":
        return RandomPolicy(**kwargs)
    if name == "ksort":
        return KSortPolicy(**kwargs)
    if name == "infogain":
        return InfoGainPolicy(**kwargs)
    raise ValidationError(f"unknown matchmaking policy {name!r}: use one of {', '.join(POLICIES)}")
