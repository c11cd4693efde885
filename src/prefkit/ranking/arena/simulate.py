"""Arena simulator: how many votes does a matchmaking rule need to recover a known ranking?

Ground truth is either an exact order (noise-free votes, each optionally corrupted with probability ``noise``:
two positions of the K-wise ranking swapped, or the "best" pick replaced by another item; with K = 2 both are
a flip) or strengths ``theta ~ N(0, sd)`` with votes drawn from Plackett-Luce ("pl"; "bt" is the same law, its
K-wise form) or Thurstone ("thurstone", Gaussian performances), with an optional position bias (a bonus to the
item shown first, positions shuffled as an arena does) and ties (performances closer than ``tie_margin``).

For each run we record, after every vote, Kendall's tau between the rule's scores and the truth (ties in the
scores count as discordant-free zeros), whether the true top item is the unique leader, and whether the ranking
is exactly right. ``votes to X`` is the first vote from which X held for ``confirm`` consecutive votes (default:
the number of items), so a lucky single vote does not count; a run stops once every criterion is confirmed (but
not before ``min_votes``, so that runs can be compared over a common number of votes), or at ``horizon`` (then
the unreached criteria are censored at +inf). A run is a deterministic function of its truth and ``seed``: a
longer run of the same seed repeats the shorter one vote for vote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prefkit.errors import ValidationError
from prefkit.ranking.arena.matchmaking import SkillState
from prefkit.ranking.arena.presets import ArenaPreset, get_preset
from prefkit.ranking.arena.skills import weng_lin_update

__all__ = ["RunResult", "Truth", "draw_vote", "kendall_tau", "make_truth", "run_policy"]

TRUTHS = ("exact", "pl", "bt", "thurstone")
MODES = ("rank", "best")


@dataclass(frozen=True)
class Truth:
    """The hidden truth: item strengths (higher is better) and how votes are drawn from them."""

    theta: np.ndarray
    kind: str = "pl"
    noise: float = 0.0
    position_bias: float = 0.0
    tie_margin: float = 0.0

    @property
    def noise_free(self) -> bool:
        return self.kind == "exact" and self.noise == 0.0 and self.position_bias == 0.0


def make_truth(
    n: int,
    kind: str = "pl",
    *,
    sd: float = 1.0,
    noise: float = 0.0,
    position_bias: float = 0.0,
    tie_margin: float = 0.0,
    rng: np.random.Generator,
) -> Truth:
    """Draw a ground truth for ``n`` items (exact order: a random permutation of ``0..n-1``)."""
    if kind not in TRUTHS:
        raise ValidationError(f"unknown truth {kind!r}: use one of {', '.join(TRUTHS)}")
    if n < 2:
        raise ValidationError(f"the simulation needs at least 2 items, got {n}")
    if not 0.0 <= noise <= 1.0:
        raise ValidationError(f"noise is a probability in [0, 1], got {noise}")
    if not sd > 0:
        raise ValidationError(f"sd must be > 0, got {sd}")
    theta = rng.permutation(n).astype(np.float64) if kind == "exact" else rng.normal(0.0, sd, n)
    return Truth(theta, kind, noise, position_bias, tie_margin)


def draw_vote(truth: Truth, items: np.ndarray, mode: str, rng: np.random.Generator) -> np.ndarray:
    """Ranks (0 = best, equal = tie) a simulated voter gives ``items`` (shown in a random order)."""
    k = items.size
    perf = truth.theta[items].copy()
    if truth.position_bias:
        perf[rng.integers(k)] += truth.position_bias  # the item the shuffled display shows first
    if truth.kind in ("pl", "bt"):
        perf += rng.gumbel(size=k)
    elif truth.kind == "thurstone":
        perf += rng.standard_normal(k)
    order = np.argsort(-perf, kind="stable")
    ranks = np.empty(k, dtype=np.int64)
    if truth.tie_margin > 0 and truth.kind != "exact":
        gaps = -np.diff(perf[order]) >= truth.tie_margin
        ranks[order] = np.concatenate(([0], np.cumsum(gaps)))
    else:
        ranks[order] = np.arange(k)
    if truth.noise and rng.random() < truth.noise:
        if mode == "best":
            winner = order[0]
            other = rng.choice(np.delete(np.arange(k), winner))
            ranks[winner], ranks[other] = ranks[other], ranks[winner]
        else:
            i, j = rng.choice(k, size=2, replace=False)
            ranks[i], ranks[j] = ranks[j], ranks[i]
    if mode == "best":
        best = ranks == ranks.min()
        ranks = np.where(best, 0, 1)
    return ranks


def kendall_tau(scores: np.ndarray, truth_sign: np.ndarray, iu: tuple[np.ndarray, np.ndarray]) -> float:
    """Kendall's tau-a of ``scores`` against the truth (precomputed signs over the pairs ``iu``)."""
    d = scores[iu[0]] - scores[iu[1]]
    return float(np.dot(np.sign(d), truth_sign)) / truth_sign.size


@dataclass(frozen=True)
class RunResult:
    """One simulated run: votes to each criterion (+inf: not reached) and the tau trajectory."""

    policy: str
    seed: int
    votes_to_tau90: float
    votes_to_top1: float
    votes_to_exact: float | None
    tau: np.ndarray  # tau after each vote


def _scores(state: SkillState, preset: ArenaPreset) -> np.ndarray:
    return state.mu - preset.z * state.sigma if preset.z else state.mu.copy()


def run_policy(
    preset: ArenaPreset | str,
    truth: Truth,
    *,
    k: int = 4,
    mode: str = "rank",
    horizon: int = 20000,
    seed: int = 0,
    tau_target: float = 0.9,
    confirm: int | None = None,
    min_votes: int = 0,
) -> RunResult:
    """Simulate one arena run of ``preset`` against ``truth`` until convergence, at least ``min_votes`` votes
    (capped at ``horizon``) and at most ``horizon`` (see module doc)."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    if mode not in MODES:
        raise ValidationError(f"unknown vote mode {mode!r}: use one of {', '.join(MODES)}")
    if horizon < 1 or min_votes < 0:
        raise ValidationError(f"need horizon >= 1 and min_votes >= 0, got {horizon} and {min_votes}")
    n = truth.theta.size
    k = 2 if preset.pairwise_only else k
    if not 2 <= k <= n:
        raise ValidationError(f"k must be between 2 and the number of items ({n}), got {k}")
    rng = np.random.default_rng(seed)
    policy = preset.make_policy()
    p = preset.params
    state = SkillState.new(n, p.mu, p.sigma)
    iu = np.triu_indices(n, 1)
    truth_sign = np.sign(truth.theta[iu[0]] - truth.theta[iu[1]])
    top = int(np.argmax(truth.theta))
    track_exact = truth.noise_free
    keys = ("tau", "top", "exact") if track_exact else ("tau", "top")
    window = max(1, n if confirm is None else confirm)
    since: dict[str, int | None] = dict.fromkeys(keys)
    reached: dict[str, float] = dict.fromkeys(keys, float("inf"))
    taus = np.empty(horizon)
    t = 0
    for t in range(1, horizon + 1):
        items = policy.select(state, k, rng)
        ranks = draw_vote(truth, items, mode, rng)
        if preset.model == "elo":
            a, b = items
            s = 1.0 if ranks[0] < ranks[1] else (0.5 if ranks[0] == ranks[1] else 0.0)
            e = 1.0 / (1.0 + 10.0 ** ((state.mu[b] - state.mu[a]) / 400.0))
            state.mu[a] += preset.k_factor * (s - e)
            state.mu[b] -= preset.k_factor * (s - e)
        else:
            state.mu[items], state.sigma[items] = weng_lin_update(
                state.mu[items], state.sigma[items], ranks, preset.model, p
            )
        state.count(items)
        sc = _scores(state, preset)
        tau = kendall_tau(sc, truth_sign, iu)
        taus[t - 1] = tau
        lead = sc[top]
        sc[top] = -np.inf
        ok = {"tau": tau >= tau_target, "top": bool(lead > sc.max()), "exact": tau >= 1.0}
        for key in keys:
            if reached[key] < np.inf:
                continue
            if not ok[key]:
                since[key] = None
                continue
            start = since[key] = since[key] or t
            if t - start + 1 >= window:
                reached[key] = float(start)
        if t >= min_votes and all(reached[key] < np.inf for key in keys):
            break

    return RunResult(
        policy=preset.name,
        seed=seed,
        votes_to_tau90=reached["tau"],
        votes_to_top1=reached["top"],
        votes_to_exact=reached["exact"] if track_exact else None,
        tau=taus[:t].copy(),
    )
