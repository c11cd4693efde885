"""Score routing policies on data with both labels: human votes and an AI verdict on the same pairs.

Each seed draws, for every instance with at least two human votes, the one vote a person would give when the
instance is routed to people; the instance's other votes are held back as the reference. A policy at budget ``B``
routes ``round(B n)`` instances to people (their drawn vote) and the rest to the AI (its verdict):

* ``routed``: the PPM's top-gain plan; the PPM is cross-fitted (``folds``-fold: fitted on the per-instance
  expected gains of the other folds, so an instance's own votes never choose its route);
* ``random``: a random subset of the same size; ``all-ai`` and ``all-human``: the budget ignored (0 and 1).

Agreement: the share of held-back votes that equal the instance's label, per instance, averaged over instances
(and seeds); its interval is a percentile bootstrap over instances of the per-instance agreement averaged over
seeds, and the routed-random difference gets a paired bootstrap the same way. Tau: Kendall's tau between the
Bradley-Terry leaderboard of the mixed labels and the one of the held-back votes (both fitted on all instances;
MAP with a small prior), averaged over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import kendalltau

from prefkit._progress import ProgressFactory, no_progress
from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking.bt import fit_bt
from prefkit.ranking.counts import count_pairwise
from prefkit.routing.instances import Instances, expected_agreement
from prefkit.routing.ppm import check_budget, fit_ppm, plan_mask, random_mask

POLICIES = ("routed", "random", "all-ai", "all-human")


@dataclass
class PolicyScore:
    policy: str
    agreement: float
    agreement_lower: float
    agreement_upper: float
    tau: float
    per_instance: np.ndarray = field(repr=False)  # agreement of each instance, averaged over seeds
    taus: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))  # tau of each seed

    def to_json(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "agreement": self.agreement,
            "agreement_lower": self.agreement_lower,
            "agreement_upper": self.agreement_upper,
            "tau": self.tau,
        }


@dataclass
class BudgetResult:
    budget: float
    policies: list[PolicyScore]
    diff: tuple[float, float, float]  # routed - random agreement: mean, lower, upper

    def to_json(self) -> dict[str, object]:
        return {"budget": self.budget, "policies": [p.to_json() for p in self.policies]}

    def score(self, policy: str) -> PolicyScore:
        return next(p for p in self.policies if p.policy == policy)


def _bt_theta(a: np.ndarray, b: np.ndarray, o: np.ndarray, n_items: int) -> np.ndarray:
    return fit_bt(count_pairwise(a, b, o, n_items=n_items), prior=0.1).theta[:n_items]


def _score(
    labels: np.ndarray,
    held: np.ndarray,
    denom: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    m: int,
    ref: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Per-instance agreement of ``labels`` with the held-back votes, and tau of their leaderboard to ``ref``."""
    agree = held[np.arange(labels.size), labels] / denom
    return agree, float(kendalltau(_bt_theta(a, b, labels, m), ref).statistic)


def _boot(values: np.ndarray, idx: np.ndarray) -> tuple[float, float, float]:
    means = values[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(lo), float(hi)


def simulate(
    inst: Instances,
    x: np.ndarray,
    names: Sequence[str],
    budgets: Sequence[float],
    *,
    seeds: int = 20,
    folds: int = 2,
    l2: float = 1.0,
    boot: int = 2000,
    seed: int = 0,
    progress: ProgressFactory = no_progress,
) -> tuple[list[BudgetResult], dict[str, int]]:
    """Score the four policies at every budget; returns the results and counts (instances used, dropped)."""
    bs = [check_budget(b) for b in budgets]
    if seeds < 1:
        raise ValidationError(f"seeds must be >= 1, got {seeds}")
    if folds < 2:
        raise ValidationError(f"folds must be >= 2, got {folds}")
    counts = inst.vote_counts
    if (inst.ai < 0).any():
        raise DataProblemError("every instance needs an AI verdict to simulate (give AI_FILE)")
    keep = np.nonzero(counts.sum(axis=1) >= 2)[0]
    if keep.size < 2 * folds:
        raise DataProblemError(
            f"only {keep.size} instance(s) have two or more human votes; the simulation holds one vote back per "
            "instance, so it needs pairs with several human votes"
        )
    sub = inst.take(keep)
    x = np.asarray(x, dtype=np.float64)[keep]
    counts = counts[keep]
    ai = sub.ai.astype(np.int64)
    n = keep.size
    item_of: dict[str, int] = {}
    a = np.array([item_of.setdefault(k[1], len(item_of)) for k in sub.keys])
    b = np.array([item_of.setdefault(k[2], len(item_of)) for k in sub.keys])
    m = len(item_of)
    g_h, g_ai = expected_agreement(counts, ai)
    gain = g_h - g_ai
    nvotes = counts.sum(axis=1)
    flat_inst = np.repeat(np.arange(n), nvotes)
    flat_vote = np.concatenate([v.astype(np.int64) for v in sub.votes])
    start = np.concatenate(([0], np.cumsum(nvotes)[:-1]))
    gen = np.random.default_rng(seed)
    pols = ("routed", "random")
    sums = {(bi, p): np.zeros(n) for bi in range(len(bs)) for p in pols}
    taus: dict[tuple[int, str], list[float]] = {(bi, p): [] for bi in range(len(bs)) for p in pols}
    base_sum = {p: np.zeros(n) for p in ("all-ai", "all-human")}
    base_tau: dict[str, list[float]] = {"all-ai": [], "all-human": []}
    with progress("simulating seeds", seeds) as advance:
        for _ in range(seeds):
            pick = start + (gen.random(n) * nvotes).astype(np.int64)
            human = flat_vote[pick]
            held = counts.copy()
            held[np.arange(n), human] -= 1
            denom = (nvotes - 1).astype(np.float64)
            rest = np.ones(flat_vote.size, dtype=bool)
            rest[pick] = False
            ref = _bt_theta(a[flat_inst[rest]], b[flat_inst[rest]], flat_vote[rest], m)
            fold = gen.permutation(n) % folds
            pred = np.zeros(n)
            for f in range(folds):
                tr = fold != f
                model = fit_ppm(x[tr], gain[tr], names, l2=l2)
                pred[~tr] = model.gain(x[~tr])

            for name, labels in (("all-ai", ai), ("all-human", human)):
                ag, t = _score(labels, held, denom, a, b, m, ref)
                base_sum[name] += ag
                base_tau[name].append(t)
            sub_seed = int(gen.integers(2**31))
            for bi, bud in enumerate(bs):
                for p in pols:
                    mask = plan_mask(pred, bud, sub_seed) if p == "routed" else random_mask(n, bud, sub_seed)
                    ag, t = _score(np.where(mask, human, ai), held, denom, a, b, m, ref)
                    sums[(bi, p)] += ag
                    taus[(bi, p)].append(t)
            advance(1)
    idx = np.random.default_rng(seed + 1).integers(0, n, size=(boot, n))
    out = []
    for bi, bud in enumerate(bs):
        scores = []
        per: dict[str, np.ndarray] = {}
        for p in POLICIES:
            if p in pols:
                v, ts = sums[(bi, p)] / seeds, np.asarray(taus[(bi, p)])
            else:
                v, ts = base_sum[p] / seeds, np.asarray(base_tau[p])
            per[p] = v
            mean, lo, hi = _boot(v, idx)
            scores.append(PolicyScore(p, mean, lo, hi, float(ts.mean()), v, ts))
        out.append(BudgetResult(bud, scores, _boot(per["routed"] - per["random"], idx)))
    return out, {"instances": int(n), "dropped": int(len(inst) - n), "items": m}
