"""Routing signals HyPER does not use but prefkit has: each is a per-instance score (larger: more worth a human).

* :func:`swap_inconsistency`: the judge's verdict changes when the two responses are shown the other way round;
* :func:`panel_disagreement`: ``1 - `` the share of the panel's most common verdict;
* :func:`reward_uncertainty`: ``1 - |2p - 1|`` for a reward model's probability that ``a`` wins;
* :func:`leaderboard_value`: how much the pair's outcome would move the ranking: the expected Fisher information
  of the pair's skill difference times its variance, ``p (1 - p) Var(theta_a - theta_b)``, the quantity the
  arena's ``infogain`` matchmaking maximises (its :func:`~prefkit.ranking.arena.matchmaking.expected_information`),
  on a Bradley-Terry fit of the labels at hand
  (:func:`prefkit.ranking.bt.fit_bt`, MAP with a small prior so that every item has a finite skill).

Each can be used alone as the gain of :func:`prefkit.routing.ppm.plan_mask`, or as a feature column of the PPM.
"""

from __future__ import annotations

import numpy as np

from prefkit.errors import ValidationError
from prefkit.ranking.arena.matchmaking import expected_information
from prefkit.ranking.bt import fit_bt
from prefkit.ranking.counts import count_pairwise
from prefkit.routing.features import Features
from prefkit.routing.instances import Instances


def swap_inconsistency(first: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """1.0 where the verdict in the original order (``first``: 0 a, 1 b, 2 tie) and the verdict with the order
    swapped (``swapped``, in its shown order: 0 means the response shown first, i.e. ``b``, won) disagree."""
    f = np.asarray(first, dtype=np.int64)
    s = np.asarray(swapped, dtype=np.int64)
    if f.shape != s.shape:
        raise ValidationError(f"first and swapped verdicts differ in length ({f.size}, {s.size})")
    back = np.where(s == 0, 1, np.where(s == 1, 0, s))  # into the original order
    return (f != back).astype(np.float64)


def panel_disagreement(verdicts: np.ndarray) -> np.ndarray:
    """``(n, m)`` verdicts of ``m`` judges (-1: missing) -> ``1 - max share`` per instance (0: unanimous)."""
    v = np.asarray(verdicts, dtype=np.int64)
    if v.ndim != 2:
        raise ValidationError("panel verdicts must be an (instances, judges) matrix")
    counts = np.stack([(v == k).sum(axis=1) for k in range(3)], axis=1)
    tot = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, 1.0 - counts.max(axis=1) / np.maximum(tot, 1), 0.0)


def reward_uncertainty(p_a: np.ndarray) -> np.ndarray:
    """``1 - |2 p - 1|``: 1 when the reward model is at a coin flip, 0 when certain."""
    p = np.asarray(p_a, dtype=np.float64)
    if np.any((p < 0) | (p > 1)):
        raise ValidationError("reward probabilities must lie in [0, 1]")
    return 1.0 - np.abs(2.0 * p - 1.0)


def leaderboard_value(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_items: int, *, prior: float = 0.1
) -> np.ndarray:
    """``p (1 - p) Var(theta_a - theta_b)`` per instance on a Bradley-Terry fit of ``outcome`` (ties half)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    o = np.asarray(outcome, dtype=np.int64)
    ok = o >= 0
    fit = fit_bt(count_pairwise(a[ok], b[ok], o[ok], n_items=n_items), prior=prior)
    theta = fit.theta
    cov = fit.cov_model[:n_items, :n_items]
    var = np.clip(cov[a, a] + cov[b, b] - 2.0 * cov[a, b], 0.0, None)
    return expected_information(theta[a] - theta[b], var, 1.0)  # Bradley-Terry: logistic on the logit scale


def judge_features(inst: Instances, swap: np.ndarray | None = None) -> Features:
    """Features the AI's own labels give before any routing: its verdict (``ai_verdict`` = a / b / tie), the
    leaderboard value of the pair on the AI's leaderboard (``leaderboard_value``) and, when the judge was asked
    both orders (``swap``: 1.0 where its verdict changed with the order, per instance), ``swap_inconsistent``."""
    if (inst.ai < 0).any():
        raise ValidationError("judge features need the AI verdict of every instance")
    item_of: dict[str, int] = {}
    a = np.array([item_of.setdefault(k[1], len(item_of)) for k in inst.keys])
    b = np.array([item_of.setdefault(k[2], len(item_of)) for k in inst.keys])
    f = Features(len(inst))
    f.categorical["ai_verdict"] = [("a", "b", "tie")[int(o)] for o in inst.ai]
    f.numeric["leaderboard_value"] = leaderboard_value(a, b, inst.ai, len(item_of))
    if swap is not None:
        if len(swap) != len(inst):
            raise ValidationError(f"swap flags: expected one per instance ({len(inst)}), got {len(swap)}")
        f.categorical["swap_inconsistent"] = ["yes" if x > 0 else "no" for x in np.asarray(swap).tolist()]
    return f
