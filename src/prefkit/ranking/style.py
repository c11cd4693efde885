"""Bradley-Terry with per-battle covariates ("style control"), fitted by Newton on per-battle rows.

``logit P(a beats b) = theta_a - theta_b + x . beta`` where ``x`` are per-battle features, typically
differences between the two answers (length, markdown headers, lists, bold; see
:func:`arena_style_features`), standardised to mean 0 and variance 1. Ties count as half a win (or are
dropped). ``beta`` are reported on the standardised scale with sandwich standard errors, as LMArena does.
Optional Gaussian priors: ``prior`` on ``theta``, ``coef_prior`` on ``beta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from prefkit.data.model import OUTCOME_A, OUTCOME_B
from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking.counts import count_pairwise
from prefkit.ranking.graph import check_mle_exists


@dataclass(frozen=True)
class StyleFit:
    """Centred strengths ``theta``, standardised coefficients ``coef``, and the sandwich covariance of both."""

    theta: np.ndarray
    coef: np.ndarray
    feature_names: tuple[str, ...]
    feature_mean: np.ndarray
    feature_std: np.ndarray
    cov: np.ndarray
    loglik: float
    n_iter: int
    prior: float

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov)[: len(self.theta)], 0.0, None))

    @property
    def coef_se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov)[len(self.theta) :], 0.0, None))


@dataclass
class _Data:
    a: np.ndarray
    b: np.ndarray
    y: np.ndarray
    w: np.ndarray
    X: np.ndarray
    n: int


def style_loglik_grad_hess(
    x: np.ndarray, d: _Data, prior: float, coef_prior: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """Penalised log-likelihood, gradient and negative Hessian (without centring) over ``(theta, beta)``."""
    n, f = d.n, d.X.shape[1]
    theta, beta = x[:n], x[n:]
    z = theta[d.a] - theta[d.b] + d.X @ beta
    p = expit(z)
    ll = float(np.dot(d.w, d.y * z - np.logaddexp(0.0, z)))
    ll -= 0.5 * prior * theta @ theta + 0.5 * coef_prior * beta @ beta
    r = d.w * (d.y - p)
    g = np.concatenate([np.bincount(d.a, r, minlength=n) - np.bincount(d.b, r, minlength=n), d.X.T @ r])
    g[:n] -= prior * theta
    g[n:] -= coef_prior * beta
    h = d.w * p * (1.0 - p)
    A = np.zeros((n + f, n + f))
    A[:n, :n] = _laplacian(d.a, d.b, h, n)
    hx = h[:, None] * d.X
    cross = _signed_sum(d.a, d.b, hx, n)
    A[:n, n:] = cross
    A[n:, :n] = cross.T
    A[n:, n:] = d.X.T @ hx
    A[np.diag_indices(n)] += prior
    A[n + np.arange(f), n + np.arange(f)] += coef_prior
    return ll, g, A


def _laplacian(a: np.ndarray, b: np.ndarray, h: np.ndarray, n: int) -> np.ndarray:
    L = np.bincount(a * n + b, h, minlength=n * n).reshape(n, n)
    L = -(L + L.T)
    L[np.diag_indices(n)] = np.bincount(a, h, minlength=n) + np.bincount(b, h, minlength=n)
    return L


def _signed_sum(a: np.ndarray, b: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, v.shape[1]))
    for k in range(v.shape[1]):
        out[:, k] = np.bincount(a, v[:, k], minlength=n) - np.bincount(b, v[:, k], minlength=n)
    return out


def _prepare(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    features: np.ndarray,
    n_items: int,
    ties: str,
    weight: np.ndarray | None,
    standardize: bool,
) -> tuple[_Data, np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    outcome = np.asarray(outcome, dtype=np.int64)
    X = np.asarray(features, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if not (len(a) == len(b) == len(outcome) == len(X)):
        raise ValidationError("a, b, outcome and features must have one row per battle")
    if len(a) == 0:
        raise DataProblemError("no battles to fit (the log is empty)")
    if not np.all(np.isfinite(X)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(X), axis=1))[0])
        raise ValidationError(f"style features of battle {bad} are NaN or infinite; fill or drop those rows")
    w = np.ones(len(a)) if weight is None else np.asarray(weight, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValidationError("weight must be finite and >= 0 (found NaN, infinite or negative values)")
    if ties not in ("half", "drop"):
        raise ValidationError(f"ties must be 'half' or 'drop' with style control, got {ties!r}")
    keep = np.ones(len(a), dtype=bool) if ties == "half" else outcome <= OUTCOME_B
    y = np.where(outcome == OUTCOME_A, 1.0, np.where(outcome == OUTCOME_B, 0.0, 0.5))
    mean = X[keep].mean(axis=0)
    std = X[keep].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    if standardize:
        X = (X - mean) / std
    else:
        mean, std = np.zeros(X.shape[1]), np.ones(X.shape[1])
    return _Data(a[keep], b[keep], y[keep], w[keep], X[keep], n_items), mean, std


def _check_identifiable(X: np.ndarray, names: Sequence[str]) -> None:
    """DataProblemError naming the style features whose coefficients the battles cannot determine."""
    const = [names[k] for k in range(X.shape[1]) if len(X) and np.ptp(X[:, k]) == 0]
    if const:
        raise DataProblemError(
            (f"style feature {const[0]} has" if len(const) == 1 else f"style features {', '.join(const)} have")
            + " the same value in every battle, so the coefficient cannot be estimated; drop the column (in Python, "
            "or give the coefficients a prior: coef_prior > 0)"
        )
    if X.shape[1] > 1 and np.linalg.matrix_rank(X - X.mean(axis=0)) < X.shape[1]:
        raise DataProblemError(
            f"the style features {', '.join(names)} are linearly dependent (one is a combination of the "
            "others), so their coefficients cannot be estimated; drop the redundant columns (in Python, or give "
            "the coefficients a prior: coef_prior > 0)"
        )


def fit_bt_style(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    features: np.ndarray,
    n_items: int,
    *,
    feature_names: Sequence[str] = (),
    ties: str = "half",
    weight: np.ndarray | None = None,
    prior: float = 0.0,
    coef_prior: float = 0.0,
    standardize: bool = True,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> StyleFit:
    """Bradley-Terry with covariates. ``features`` is ``(n_battles, n_features)``."""
    d, mean, std = _prepare(a, b, outcome, features, n_items, ties, weight, standardize)
    f = d.X.shape[1]
    names = tuple(feature_names) or tuple(f"x{k}" for k in range(f))
    if len(names) != f:
        raise ValidationError(f"feature_names has {len(names)} names for {f} features")
    if coef_prior == 0:
        _check_identifiable(d.X, names)
    if prior == 0:
        check_mle_exists(
            count_pairwise(
                d.a, d.b, np.where(d.y == 1, 0, np.where(d.y == 0, 1, 2)), n_items=n_items, weight=d.w
            )
        )
    n = n_items
    J = np.zeros((n + f, n + f))
    J[:n, :n] = 1.0 / n
    x = np.zeros(n + f)
    ll, g, A = style_loglik_grad_hess(x, d, prior, coef_prior)
    it, ok = 0, False
    for it in range(1, max_iter + 1):  # noqa: B007
        step = np.linalg.solve(A + J, g)
        alpha = 1.0
        for _ in range(40):
            cand = x + alpha * step
            llc, gc, Ac = style_loglik_grad_hess(cand, d, prior, coef_prior)
            if np.isfinite(llc) and llc >= ll - 1e-10 * (1 + abs(ll)):
                break
            alpha *= 0.5
        x, ll, g, A = cand, llc, gc, Ac
        if np.max(np.abs(alpha * step)) < tol:
            ok = True
            break
    if not ok:
        raise DataProblemError("the style-control fit did not converge; add a prior (prior=1.0)")
    Ainv = np.linalg.inv(A + J)
    M = _meat(x, d)
    x[:n] -= x[:n].mean()
    return StyleFit(
        theta=x[:n],
        coef=x[n:],
        feature_names=names,
        feature_mean=mean,
        feature_std=std,
        cov=Ainv @ M @ Ainv,
        loglik=ll,
        n_iter=it,
        prior=float(prior),
    )


def _meat(x: np.ndarray, d: _Data) -> np.ndarray:
    n, f = d.n, d.X.shape[1]
    z = x[:n][d.a] - x[:n][d.b] + d.X @ x[n:]
    s2 = (d.w * (d.y - expit(z))) ** 2
    M = np.zeros((n + f, n + f))
    M[:n, :n] = _laplacian(d.a, d.b, s2, n)
    sx = s2[:, None] * d.X
    cross = _signed_sum(d.a, d.b, sx, n)
    M[:n, n:] = cross
    M[n:, :n] = cross.T
    M[n:, n:] = d.X.T @ sx
    return M


STYLE_FEATURES = ("length", "headers", "lists", "bold")


def arena_style_features(
    tokens_a: np.ndarray, tokens_b: np.ndarray, counts_a: Sequence[np.ndarray], counts_b: Sequence[np.ndarray]
) -> np.ndarray:
    """LMArena's style features: ``(a - b) / (a + b)`` for the answer lengths and each markdown count
    (headers, lists, bold), 0 where both are 0. Returns ``(n_battles, 1 + len(counts_a))``."""
    cols = [(np.asarray(tokens_a, float), np.asarray(tokens_b, float))]
    cols += [(np.asarray(x, float), np.asarray(y, float)) for x, y in zip(counts_a, counts_b, strict=True)]
    out = []
    for x, y in cols:
        s = x + y
        out.append(np.divide(x - y, s, out=np.zeros_like(s), where=s > 0))
    return np.stack(out, axis=1)
