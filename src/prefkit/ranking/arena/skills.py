"""Online Gaussian skill beliefs: Weng and Lin's moment-matching updates, and online Elo.

Each item carries a Gaussian belief ``N(mu, sigma^2)`` about its skill. One vote over K items (a pairwise
outcome, a K-wise "pick the best", or a full K-wise ranking with ties) updates the K beliefs at once with the
closed-form approximate Bayesian updates of Weng and Lin (JMLR 12, 2011):

- ``pl``: Plackett-Luce (Algorithm 4),
- ``bt``: Bradley-Terry with full pairing (Algorithm 1),
- ``tm``: Thurstone-Mosteller with full pairing (Algorithm 2, draw margin ``epsilon``).

The functions take the K beliefs of one match and the ranks (0 = best; equal ranks are ties) and return the
new beliefs; they reproduce openskill's single-player-team numbers (``openskill.models.PlackettLuce``,
``BradleyTerryFull``, ``ThurstoneMostellerFull``) with the same ``beta``, ``kappa``, ``tau`` and ``epsilon``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from prefkit.errors import ValidationError

__all__ = [
    "MODELS",
    "SkillParams",
    "elo_pairwise",
    "ranks_from_best",
    "weng_lin_bt",
    "weng_lin_pl",
    "weng_lin_tm",
    "weng_lin_update",
]

MODELS = ("pl", "bt", "tm")
_EPS = sys.float_info.epsilon
_SQRT_2PI = np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class SkillParams:
    """Hyperparameters of the Gaussian skill model (openskill's defaults).

    ``gamma`` scales the variance reduction: None is openskill's ``sigma / c`` (sigma then shrinks slowly, so
    beliefs keep moving), a number such as 1.0 is the full moment-matching step (a decaying learning rate, best
    for static items). ``tau`` is the additive dynamics (added to sigma^2 before each update, so beliefs never freeze; use 0 for
    items whose quality does not drift), ``kappa`` the floor of the variance shrink factor, ``epsilon`` the
    Thurstone-Mosteller draw margin.
    """

    mu: float = 25.0
    sigma: float = 25.0 / 3.0
    beta: float = 25.0 / 6.0
    kappa: float = 1e-4
    tau: float = 25.0 / 300.0
    epsilon: float = 0.1
    gamma: float | None = None

    def __post_init__(self) -> None:
        for name in ("sigma", "beta", "kappa"):
            if not getattr(self, name) > 0:
                raise ValidationError(f"SkillParams.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("tau", "epsilon"):
            if not getattr(self, name) >= 0:
                raise ValidationError(f"SkillParams.{name} must be >= 0, got {getattr(self, name)!r}")


def ranks_from_best(k: int, winner: int) -> np.ndarray:
    """Ranks of a "pick the best" vote: the winner (position ``winner``) first, the other K-1 tied second."""
    ranks = np.ones(k, dtype=np.int64)
    ranks[winner] = 0
    return ranks


def _pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def _v(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    xt = x - t
    den = ndtr(xt)
    small = den < _EPS
    return np.where(small, -xt, _pdf(xt) / np.where(small, 1.0, den))


def _w(x: np.ndarray, t: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
    xt = x - t
    den = ndtr(xt)
    v = _v(x, t) if v is None else v
    return np.where(den < _EPS, np.where(x < 0, 1.0, 0.0), v * (v + xt))


def _vt(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    xx = np.abs(x)
    b = ndtr(t - xx) - ndtr(-t - xx)
    a = _pdf(-t - xx) - _pdf(t - xx)
    safe = np.where(b < 1e-5, 1.0, b)
    out = np.where(x < 0, -a, a) / safe
    return np.where(b < 1e-5, np.where(x < 0, -x - t, -x + t), out)


def _wt(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    xx = np.abs(x)
    b = ndtr(t - xx) - ndtr(-t - xx)
    safe = np.where(b < _EPS, 1.0, b)
    vt = _vt(x, t)
    out = ((t - xx) * _pdf(t - xx) + (t + xx) * _pdf(-t - xx)) / safe + vt * vt
    return np.where(b < _EPS, 1.0, out)


def _prepare(mu, sigma, ranks, tau):
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    ranks = np.asarray(ranks)
    if mu.ndim != 1 or mu.shape != sigma.shape or mu.shape != ranks.shape:
        raise ValidationError("mu, sigma and ranks must be 1-d arrays of the same length (one per item)")
    if mu.size < 2:
        raise ValidationError("a vote needs at least 2 items")
    return mu, sigma * sigma + tau * tau, ranks


def _finish(mu, s2, omega, delta, kappa):
    return mu + omega, np.sqrt(s2) * np.sqrt(np.maximum(1.0 - delta, kappa))


def weng_lin_pl(mu, sigma, ranks, *, beta=25.0 / 6.0, kappa=1e-4, tau=25.0 / 300.0, gamma=None):
    """Plackett-Luce update of K beliefs from one ranking (ranks: 0 = best, equal = tie).

    Returns ``(mu_new, sigma_new)``. For K = 2 and no tie this is the closed form
    ``mu_w += s_w^2/c * (1 - p_w)``, ``p_w = e^{mu_w/c} / (e^{mu_w/c} + e^{mu_l/c})``, ``c^2 = sum(s^2 + beta^2)``.
    """
    mu, s2, ranks = _prepare(mu, sigma, ranks, tau)
    if mu.size <= _SMALL_K:
        return _weng_lin_pl_small(mu, s2, ranks, beta, kappa, gamma)
    c = np.sqrt(np.sum(s2 + beta * beta))
    e = np.exp((mu - mu.max()) / c)
    later = ranks[None, :] >= ranks[:, None]  # later[q, i]: i ranked at or after q
    sum_q = later.astype(np.float64) @ e  # sum over the items still "in the race" at q's stage
    a = np.sum(ranks[None, :] == ranks[:, None], axis=1).astype(np.float64)
    m = (ranks[None, :] <= ranks[:, None]).astype(np.float64)  # m[i, q]: q ranked at or before i
    p = e[:, None] / sum_q[None, :]
    eye = np.eye(mu.size)
    omega = np.sum(m * (eye - p) / a[None, :], axis=1) * s2 / c
    delta = np.sum(m * p * (1.0 - p) / a[None, :], axis=1) * s2 / c**2
    delta *= np.sqrt(s2) / c if gamma is None else gamma  # None: openskill's default gamma
    return _finish(mu, s2, omega, delta, kappa)


_SMALL_K = 4
"""Votes of up to this many items take :func:`_weng_lin_pl_small` (the same sums on Python floats: on a handful of
items numpy's per-call overhead is most of the cost; a live arena applies one such vote per request)."""


def _weng_lin_pl_small(mu, s2, ranks, beta, kappa, gamma):
    """:func:`weng_lin_pl` term by term for a few items (same formulas, same results up to rounding)."""
    m_ = mu.tolist()
    v = s2.tolist()
    r = ranks.tolist()
    k = len(m_)
    c = math.sqrt(sum(x + beta * beta for x in v))
    top = max(m_)
    e = [math.exp((x - top) / c) for x in m_]
    sum_q = [sum(e[i] for i in range(k) if r[i] >= r[q]) for q in range(k)]
    a = [sum(1 for i in range(k) if r[i] == r[q]) for q in range(k)]
    mu_new, sigma_new = [], []
    for i in range(k):
        om = de = 0.0
        for q in range(k):
            if r[q] <= r[i]:
                pq = e[i] / sum_q[q]
                om += ((1.0 if i == q else 0.0) - pq) / a[q]
                de += pq * (1.0 - pq) / a[q]
        om *= v[i] / c
        de *= v[i] / (c * c)
        de *= math.sqrt(v[i]) / c if gamma is None else gamma
        mu_new.append(m_[i] + om)
        sigma_new.append(math.sqrt(v[i]) * math.sqrt(max(1.0 - de, kappa)))
    return np.array(mu_new), np.array(sigma_new)


def _pairwise_terms(mu, s2, beta):
    cc = np.sqrt(s2[:, None] + s2[None, :] + 2.0 * beta * beta)
    off = ~np.eye(mu.size, dtype=bool)
    return cc, off


def weng_lin_bt(mu, sigma, ranks, *, beta=25.0 / 6.0, kappa=1e-4, tau=25.0 / 300.0, gamma=None):
    """Bradley-Terry (full pairing) update of K beliefs from one ranking; returns ``(mu_new, sigma_new)``."""
    mu, s2, ranks = _prepare(mu, sigma, ranks, tau)
    cc, off = _pairwise_terms(mu, s2, beta)
    p = 1.0 / (1.0 + np.exp((mu[None, :] - mu[:, None]) / cc))  # p[i, q] = P(i beats q)
    s = np.where(ranks[None, :] > ranks[:, None], 1.0, np.where(ranks[None, :] == ranks[:, None], 0.5, 0.0))
    ratio = s2[:, None] / cc
    omega = np.sum(np.where(off, ratio * (s - p), 0.0), axis=1)
    g = np.sqrt(s2)[:, None] / cc if gamma is None else gamma
    delta = np.sum(np.where(off, g * ratio / cc * p * (1.0 - p), 0.0), axis=1)
    return _finish(mu, s2, omega, delta, kappa)


def weng_lin_tm(mu, sigma, ranks, *, beta=25.0 / 6.0, kappa=1e-4, tau=25.0 / 300.0, epsilon=0.1, gamma=None):
    """Thurstone-Mosteller (full pairing) update of K beliefs from one ranking; returns ``(mu_new, sigma_new)``."""
    mu, s2, ranks = _prepare(mu, sigma, ranks, tau)
    cc, off = _pairwise_terms(mu, s2, beta)
    x = (mu[:, None] - mu[None, :]) / cc
    t = epsilon / cc
    ratio = s2[:, None] / cc
    g = np.sqrt(s2)[:, None] / cc if gamma is None else gamma
    win = ranks[None, :] > ranks[:, None]
    lose = ranks[None, :] < ranks[:, None]
    sx = np.where(lose, -x, x)
    v = _v(sx, t)
    om = np.where(lose, -v, v)
    de = _w(sx, t, v)
    tie = ~(win | lose) & off
    if tie.any():
        om = np.where(tie, _vt(x, t), om)
        de = np.where(tie, _wt(x, t), de)
    omega = np.sum(np.where(off, ratio * om, 0.0), axis=1)
    delta = np.sum(np.where(off, g * ratio / cc * de, 0.0), axis=1)
    return _finish(mu, s2, omega, delta, kappa)


def weng_lin_update(mu, sigma, ranks, model: str = "pl", params: SkillParams | None = None):
    """Dispatch to the ``model`` update ("pl", "bt" or "tm") with the hyperparameters of ``params``."""
    p = params or SkillParams()
    if model == "pl":
        return weng_lin_pl(mu, sigma, ranks, beta=p.beta, kappa=p.kappa, tau=p.tau, gamma=p.gamma)
    if model == "bt":
        return weng_lin_bt(mu, sigma, ranks, beta=p.beta, kappa=p.kappa, tau=p.tau, gamma=p.gamma)
    if model == "tm":
        return weng_lin_tm(
            mu, sigma, ranks, beta=p.beta, kappa=p.kappa, tau=p.tau, epsilon=p.epsilon, gamma=p.gamma
        )
    raise ValidationError(f"unknown skill model {model!r}: use one of {', '.join(MODELS)}")


def elo_pairwise(
    rating_a: float, rating_b: float, score_a: float, *, k_factor: float = 4.0, scale: float = 400.0
):
    """One online Elo update; ``score_a`` is 1 (a wins), 0 (b wins) or 0.5 (tie). Returns the new ratings."""
    expected_a = 1.0 / (1.0 + 10.0 ** ((rating_b - rating_a) / scale))
    change = k_factor * (score_a - expected_a)
    return rating_a + change, rating_b - change
