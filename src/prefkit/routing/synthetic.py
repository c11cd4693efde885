"""A synthetic routing problem with known per-feature judge accuracy, where the oracle routing is known.

Each instance has binary features ``f0..f{k-1}`` (each on with probability 1/2) and numeric ones ``u0..``
(uniform on [0, 1]). The judge is right with probability ``base + sum_j delta_j f_j - drop * [u0 > 0.7]``
(clipped to [0.02, 0.98]); a person is right with probability ``human``. The gain of routing instance ``i`` to a
person is ``human - judge_accuracy_i``: the oracle routes the largest true gains. :func:`draw` also draws what one
observes on instances labelled both ways: whether the one human vote and the judge's verdict were right
(Bernoulli draws), whose difference is an unbiased, noisy gain to fit the PPM on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prefkit.errors import ValidationError
from prefkit.routing.features import Features
from prefkit.routing.ppm import check_budget, plan_mask


@dataclass
class SyntheticProblem:
    features: Features
    judge_accuracy: np.ndarray
    human_accuracy: float
    observed_gain: np.ndarray  # (human vote right) - (judge right), one draw each

    @property
    def true_gain(self) -> np.ndarray:
        return self.human_accuracy - self.judge_accuracy


def draw(
    n: int,
    *,
    deltas: tuple[float, ...] = (-0.25, 0.15, -0.1, 0.0, 0.05),
    numeric: int = 2,
    drop: float = 0.3,
    base: float = 0.75,
    human: float = 0.8,
    rng: np.random.Generator | int = 0,
) -> SyntheticProblem:
    if n < 1:
        raise ValidationError(f"n must be >= 1, got {n}")
    gen = np.random.default_rng(rng)
    f = Features(n)
    acc = np.full(n, base)
    for j, d in enumerate(deltas):
        on = gen.random(n) < 0.5
        f.categorical[f"f{j}"] = np.where(on, "yes", "no").tolist()
        acc += d * on
    for j in range(numeric):
        u = gen.random(n)
        f.numeric[f"u{j}"] = u
        if j == 0:
            acc -= drop * (u > 0.7)
    acc = np.clip(acc, 0.02, 0.98)
    obs = (gen.random(n) < human).astype(float) - (gen.random(n) < acc).astype(float)
    return SyntheticProblem(f, acc, human, obs)


def expected_quality(problem: SyntheticProblem, mask: np.ndarray) -> float:
    """The expected share of correct labels when ``mask`` goes to people and the rest to the judge."""
    return float(np.where(mask, problem.human_accuracy, problem.judge_accuracy).mean())


def oracle_fraction(problem: SyntheticProblem, gain: np.ndarray, budget: float, rng: int = 0) -> float:
    """``(Q(plan by gain) - Q(random)) / (Q(oracle) - Q(random))`` at ``budget`` (expected qualities)."""
    b = check_budget(budget)
    k = int(round(b * len(gain)))
    q_random = float(problem.judge_accuracy.mean() + k / len(gain) * problem.true_gain.mean())
    q_oracle = expected_quality(problem, plan_mask(problem.true_gain, b, rng))
    q_plan = expected_quality(problem, plan_mask(gain, b, rng))
    if q_oracle - q_random <= 0:
        raise ValidationError("the oracle gains nothing over random routing at this budget")
    return (q_plan - q_random) / (q_oracle - q_random)
