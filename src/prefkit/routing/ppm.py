"""HyPER's performance-prediction model (PPM), fitted cheaply, and the budgeted top-gain plan.

HyPER simulates many mixes (subsets of instances routed to people), trains a reward model on each mix's labels,
and regresses the reward model's score on the mix's per-feature counts of human-routed instances; an instance's
predicted gain is then the sum of the coefficients of its features, and the plan sends the instances with the
largest gain to people until the budget is spent.

The cheap fit: when the outcome is a per-instance quality averaged over instances (here: agreement with
held-back human votes), the outcome of mix ``m`` is ``const + (1/n) sum_i m_i g_i`` with ``g_i`` the gain of
giving instance ``i`` a human label instead of the AI's. Regressing it on the counts ``(1/n) X^T m`` recovers the
same coefficients as regressing ``g`` on ``X`` directly, so :func:`fit_ppm` solves one ridge least-squares
problem over the instances (``p`` columns: milliseconds for 100,000 instances) instead of scoring hundreds of
mixes; :func:`fit_ppm_mixes` is the expensive way (simulate ``mixes`` random mixes, score each with ``outcome``,
regress) and the tests check both agree on a small case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prefkit.errors import ValidationError


def check_budget(budget: float) -> float:
    b = float(budget)
    if not np.isfinite(b) or b < 0.0 or b > 1.0:
        raise ValidationError(
            f"budget must be a fraction in [0, 1] (0.25 = a quarter of the instances), got {budget}"
        )
    return b


@dataclass
class PPM:
    """A fitted PPM: ``gain(X) = intercept + X @ coef`` (coef per binary feature, in ``names`` order)."""

    names: list[str]
    coef: np.ndarray
    intercept: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def gain(self, x: np.ndarray) -> np.ndarray:
        if x.shape[1] != self.coef.size:
            raise ValidationError(f"the model has {self.coef.size} features, the design {x.shape[1]}")
        return self.intercept + x @ self.coef

    def to_json(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "coef": [float(c) for c in self.coef],
            "intercept": float(self.intercept),
            "info": self.info,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PPM:
        return cls(
            [str(n) for n in d["names"]],
            np.asarray(d["coef"], dtype=np.float64),
            float(d["intercept"]),
            dict(d.get("info", {})),
        )


def _ridge(
    x: np.ndarray, y: np.ndarray, l2: float, weight: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    p = x.shape[1]
    if weight is None:
        xm, ym = x.mean(axis=0), float(y.mean())
        xc = x - xm
        xw = xc
    else:
        xm, ym = (weight @ x) / weight.sum(), float(weight @ y / weight.sum())
        xc = x - xm
        xw = xc * weight[:, None]
    coef = np.linalg.solve(xw.T @ xc + l2 * np.eye(p), xw.T @ (y - ym)) if p else np.zeros(0)
    return ym - float(xm @ coef), coef


def fit_ppm(x: np.ndarray, gain: np.ndarray, names: Sequence[str], *, l2: float = 1.0) -> PPM:
    """The cheap fit: ridge regression of the per-instance gains on the binary features (NaN gains skipped)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(gain, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != g.size or x.shape[1] != len(names):
        raise ValidationError(f"design {x.shape} does not match {g.size} gains and {len(names)} names")
    ok = np.isfinite(g)
    if ok.sum() < 2:
        raise ValidationError("need at least 2 instances with a measured gain (>= 2 human votes) to fit")
    b0, coef = _ridge(x[ok], g[ok], l2)
    return PPM(list(names), coef, b0, {"fit": "instances", "n": int(ok.sum()), "l2": l2})


def fit_ppm_mixes(
    x: np.ndarray,
    outcome: Callable[[np.ndarray], float],
    names: Sequence[str],
    *,
    mixes: int = 200,
    rng: np.random.Generator | int = 0,
    l2: float = 1e-6,
) -> PPM:
    """HyPER's (expensive) fit: ``mixes`` random mixes (a budget drawn uniformly, then a random subset), each
    scored by ``outcome(human_mask)``; the score regressed on the per-feature counts of human-routed instances
    (as fractions of ``n``). Coefficients are per instance routed, on the scale of :func:`fit_ppm`."""
    gen = np.random.default_rng(rng)
    n = x.shape[0]
    counts = np.zeros((mixes, x.shape[1]))
    y = np.zeros(mixes)
    for m in range(mixes):
        mask = np.asarray(gen.random(n) < gen.random())
        counts[m] = x[mask].sum(axis=0) / n
        y[m] = outcome(mask)
    # with one-hot feature blocks the instance model's intercept is absorbed in the coefficients (the counts of
    # a block add up to the fraction routed), so compare predicted gains, not coefficients
    b0, coef = _ridge(counts, y, l2)
    return PPM(list(names), coef, 0.0, {"fit": "mixes", "mixes": mixes, "baseline": b0})


def plan_mask(gain: np.ndarray, budget: float, rng: np.random.Generator | int = 0) -> np.ndarray:
    """Route the ``round(budget * n)`` instances of largest gain to people (ties broken at random by ``rng``)."""
    b = check_budget(budget)
    g = np.asarray(gain, dtype=np.float64)
    n = g.size
    k = int(round(b * n))
    gen = np.random.default_rng(rng)
    order = np.lexsort((gen.random(n), -np.nan_to_num(g, nan=-np.inf)))
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def random_mask(n: int, budget: float, rng: np.random.Generator | int = 0) -> np.ndarray:
    return plan_mask(np.zeros(n), budget, rng)
