"""Optimal policies of f-divergence-regularised reward maximisation (f-DPO, Wang et al. 2023; f-DPG, Go et al.
2023): ``max_pi E_pi[r] - beta * D_f(pi || pi_ref)`` over distributions on a finite set.

The KKT conditions give ``f'(pi(y) / pi_ref(y)) = (r(y) - lam) / beta`` on the support, so
``pi(y) = pi_ref(y) * g((r(y) - lam) / beta)`` with ``g`` the inverse of ``f'`` and ``lam`` the normaliser
(found by bracketing). With TRL's parametrisation of ``f'`` (see :mod:`prefkit.optimize.losses.fdiv`):

==================  ===========================  ==================================================
divergence          f'(u)                        g(v) = (f')^-1(v)
==================  ===========================  ==================================================
reverse_kl          log u (+1)                   exp(v)  ->  pi proportional to pi_ref exp(r / beta)
forward_kl          1 - 1/u                      1 / (1 - v),  v < 1
js_divergence       log 2 + logsigmoid(log u)    e^(v - log 2) / (1 - e^(v - log 2)),  v < log 2
alpha_divergence    (u^(a-1) - 1) / (a - 1)      (1 + (a - 1) v)^(1 / (a - 1))
==================  ===========================  ==================================================
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from prefkit.errors import ValidationError
from prefkit.optimize.losses.fdiv import F_DIVERGENCES


def _g(v: np.ndarray, f: str, alpha: float) -> np.ndarray:
    if f == "reverse_kl" or (f == "alpha_divergence" and abs(alpha - 1) < 1e-9):
        return np.exp(v)
    if f == "forward_kl":
        return 1.0 / (1.0 - v)
    if f == "js_divergence":
        e = np.exp(v - math.log(2))
        return e / (1.0 - e)
    if f == "alpha_divergence":
        base = 1.0 + (alpha - 1.0) * v
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.where(base > 0, np.abs(base) ** (1.0 / (alpha - 1.0)), 0.0 if alpha > 1 else np.inf)
        return out
    raise ValidationError(f"unknown divergence {f!r}; choose one of {', '.join(F_DIVERGENCES)}")


def _upper(f: str, alpha: float) -> float:
    """Sup of the domain of g (where it blows up), for the bracket."""
    if f == "forward_kl":
        return 1.0
    if f == "js_divergence":
        return math.log(2)
    if f == "alpha_divergence" and alpha < 1:
        return 1.0 / (1.0 - alpha)
    return math.inf


def optimal_policy(
    ref: np.ndarray,
    reward: np.ndarray,
    beta: float = 1.0,
    f_divergence_type: str = "reverse_kl",
    alpha: float = 0.5,
) -> np.ndarray:
    """``argmax_pi E_pi[r] - beta D_f(pi || ref)`` on a finite set (``ref`` > 0, sums to 1)."""
    ref = np.asarray(ref, np.float64)
    r = np.asarray(reward, np.float64)
    if ref.shape != r.shape or ref.ndim != 1:
        raise ValidationError("ref and reward must be 1-D arrays of the same length")
    if (ref <= 0).any() or not np.isclose(ref.sum(), 1.0) or np.isnan(r).any():
        raise ValidationError("ref must be positive and sum to 1; rewards must not be NaN")
    if not beta > 0:
        raise ValidationError("beta must be > 0")
    if f_divergence_type not in F_DIVERGENCES:
        raise ValidationError(
            f"unknown divergence {f_divergence_type!r}; choose one of {', '.join(F_DIVERGENCES)}"
        )
    if f_divergence_type == "reverse_kl" or (
        f_divergence_type == "alpha_divergence" and abs(alpha - 1) < 1e-6
    ):
        z = r / beta
        w = ref * np.exp(z - z.max())
        return w / w.sum()

    def mass(lam: float) -> float:
        return float((ref * _g((r - lam) / beta, f_divergence_type, alpha)).sum() - 1.0)

    up = _upper(f_divergence_type, alpha)
    # mass decreases in lam; the smallest admissible lam puts the best outcome at the pole of g
    lo = (
        float(r.max() - beta * up) + 1e-12 * max(1.0, abs(r.max()))
        if math.isfinite(up)
        else float(r.min()) - 1.0
    )
    while math.isfinite(up) is False and mass(lo) < 0:
        lo -= 2 * (1 + abs(lo))
    hi = float(r.max()) + beta * 10 + 1.0
    while mass(hi) > 0:
        hi += 2 * (1 + abs(hi))
    if mass(lo) < 0:
        raise ValidationError("no normalising constant found; try a larger beta")
    lam = brentq(mass, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=500)
    pi = ref * _g((r - lam) / beta, f_divergence_type, alpha)
    return pi / pi.sum()


def f_prime(u: np.ndarray, f_divergence_type: str, alpha: float = 0.5) -> np.ndarray:
    """``f'(u)`` in TRL's parametrisation (the stationarity check: ``f'(pi/ref) - r/beta`` is constant)."""
    u = np.asarray(u, np.float64)
    if f_divergence_type == "reverse_kl":
        return np.log(u)
    if f_divergence_type == "forward_kl":
        return 1.0 - 1.0 / u
    if f_divergence_type == "js_divergence":
        return math.log(2) + np.log(u / (1.0 + u))
    if f_divergence_type == "alpha_divergence":
        return np.log(u) if abs(alpha - 1) < 1e-9 else (u ** (alpha - 1.0) - 1.0) / (alpha - 1.0)
    raise ValidationError(f"unknown divergence {f_divergence_type!r}")
