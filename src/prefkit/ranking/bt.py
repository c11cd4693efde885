"""Bradley-Terry maximum likelihood on the count table, with sandwich covariance and a vectorised bootstrap.

``P(i beats j) = sigmoid(theta_i - theta_j)`` with natural-log strengths ``theta`` (centred: sum zero).
Ties: ``"half"`` counts a tie as half a win for each side (the LMArena / FastChat convention, the default),
``"drop"`` ignores them. For ties modelled explicitly see :mod:`prefkit.ranking.ties`.

Example::

    table = count_pairwise(a, b, outcome)
    fit = fit_bt(table)                       # PairFit: theta, cov (sandwich), ...
    boot = bootstrap_pairs(table, fit, rounds=1000, rng=np.random.default_rng(0))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking._pairfit import PairModel, Terms, covariances, newton_batch
from prefkit.ranking.counts import CountTable
from prefkit.ranking.graph import check_mle_exists
from prefkit.ranking.resample import PoissonSampler, resample_counts

TIES_CONVENTIONS = ("half", "drop")


def bt_terms(d: np.ndarray, eta: np.ndarray | None = None) -> Terms:
    """Per-outcome terms of Bradley-Terry with ties as half a win and half a loss."""
    p = expit(d)
    lw, ll = log_expit(d), log_expit(-d)
    lp = np.stack([lw, ll, 0.5 * (lw + ll)])
    d1 = np.stack([1.0 - p, -p, 0.5 - p])
    v = -p * (1.0 - p)
    return Terms(lp=lp, d1=d1, d2=np.stack([v, v, v]))


def _bt_reduce(w: np.ndarray) -> np.ndarray:
    """(R, 3, P) cells -> (R, 2, P): wins + ties/2 and battles per pair (all Bradley-Terry-half needs)."""
    out = np.empty((w.shape[0], 2, w.shape[2]))
    np.multiply(w[:, 2], 0.5, out=out[:, 0])
    out[:, 0] += w[:, 0]
    np.add(w[:, 0], w[:, 1], out=out[:, 1])
    out[:, 1] += w[:, 2]
    return out


def _bt_fast(d: np.ndarray, w: np.ndarray, need: str) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Bradley-Terry (ties half) on reduced weights: ``need`` is "ll" (log-lik only) or "grad"."""
    s, tot = w[:, 0], w[:, 1]
    e = np.exp(-np.abs(d))
    if need == "ll":
        softplus = np.log1p(e)
        softplus += np.maximum(d, 0.0)
        ll = np.einsum("rp,rp->r", s, d) - np.einsum("rp,rp->r", tot, softplus)
        return ll, s, tot
    p = np.where(d >= 0, 1.0, e)
    p /= 1.0 + e
    hd = tot * p
    gd = s - hd
    hd *= 1.0 - p
    return None, gd, hd


BT_MODEL = PairModel(name="bt", terms=bt_terms, fast=_bt_fast, reduce=_bt_reduce, concave=True)


@dataclass(frozen=True)
class PairFit:
    """A fitted pairwise model. ``theta`` are centred natural-log strengths.

    ``tie_param`` is the fitted tie parameter on its log scale (``log nu`` for Davidson, ``log theta`` for
    Rao-Kupper; None for Bradley-Terry). ``cov`` is the sandwich (robust) covariance of ``(theta, tie_param)``,
    ``cov_model`` the inverse-information one.
    """

    model: str
    ties: str
    theta: np.ndarray
    tie_param: float | None
    cov: np.ndarray
    cov_model: np.ndarray
    loglik: float
    n_iter: int
    prior: float

    @property
    def n_items(self) -> int:
        return len(self.theta)

    @property
    def se(self) -> np.ndarray:
        """Sandwich standard errors of ``theta``."""
        return np.sqrt(np.clip(np.diag(self.cov)[: self.n_items], 0.0, None))

    @property
    def tie_param_se(self) -> float | None:
        if self.tie_param is None:
            return None
        return float(np.sqrt(max(self.cov[-1, -1], 0.0)))

    @property
    def x(self) -> np.ndarray:
        return self.theta if self.tie_param is None else np.append(self.theta, self.tie_param)


@dataclass(frozen=True)
class BootstrapSamples:
    """``theta[r]``: centred strengths refitted on bootstrap round ``r``; ``tie_param[r]`` when modelled."""

    theta: np.ndarray
    tie_param: np.ndarray | None
    converged: np.ndarray


def validate_table(table: CountTable) -> None:
    """Reject counts that are negative or not finite, and tables without two items."""
    cells = table.cells
    if not np.all(np.isfinite(cells)):
        raise ValidationError("the count table contains NaN or infinite counts; check the weights")
    if np.any(cells < 0):
        raise ValidationError("the count table contains negative counts; weights must be >= 0")
    if table.n_items < 2:
        raise DataProblemError(f"need at least two items to rank, got {table.n_items}")


def fit_pair_model(
    table: CountTable,
    model: PairModel,
    *,
    ties: str,
    prior: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> PairFit:
    """Fit any :class:`PairModel` by damped Newton; checks the MLE exists when ``prior == 0``."""
    validate_table(table)
    if prior < 0 or not np.isfinite(prior):
        raise ValidationError(f"prior must be a finite number >= 0, got {prior}")
    if prior == 0:
        check_mle_exists(table)
    elif table.n_battles <= 0:
        raise DataProblemError("no comparisons to fit (the log is empty or every weight is zero)")
    x0 = np.zeros((1, table.n_items + model.n_eta))
    if model.n_eta:
        x0[0, -1] = model.eta0
    res = newton_batch(table, model, table.cells[None], x0, prior=prior, tol=tol, max_iter=max_iter)
    x = res.x[0]
    if not res.converged[0] or not np.all(np.isfinite(x)):
        raise DataProblemError(
            f"the {model.name} fit did not converge in {max_iter} iterations; fit with a prior (prior=1.0)"
        )
    x[: table.n_items] -= x[: table.n_items].mean()
    cov, cov_model = covariances(table, model, x, prior=prior)
    return PairFit(
        model=model.name,
        ties=ties,
        theta=x[: table.n_items].copy(),
        tie_param=float(x[-1]) if model.n_eta else None,
        cov=cov,
        cov_model=cov_model,
        loglik=float(res.loglik[0]),
        n_iter=res.n_iter,
        prior=float(prior),
    )


def fit_bt(table: CountTable, *, ties: str = "half", prior: float = 0.0, tol: float = 1e-10) -> PairFit:
    """Bradley-Terry MLE (or MAP with a Gaussian prior of precision ``prior`` on the centred logits).

    ``ties``: ``"half"`` (default) or ``"drop"``. Raises DataProblemError when the unpenalised MLE does not exist
    (disconnected graph, an item that never loses or never wins), naming the items.
    """
    if ties not in TIES_CONVENTIONS:
        raise ValidationError(f"ties must be one of {TIES_CONVENTIONS} for Bradley-Terry, got {ties!r}")
    if ties == "drop":
        table = table.drop_ties()
    return fit_pair_model(table, BT_MODEL, ties=ties, prior=prior, tol=tol)


def bootstrap_weights(
    table: CountTable, rounds: int, rng: np.random.Generator, resampling: str = "poisson"
) -> np.ndarray:
    """``(rounds, 3, P)`` resampled cell counts (see :mod:`prefkit.ranking.resample`)."""
    w = resample_counts(table.cells.reshape(-1), rounds, rng, resampling)
    return w.reshape(rounds, 3, table.n_pairs)


def model_for(fit: PairFit) -> PairModel:
    if fit.model == "bt":
        return BT_MODEL
    from prefkit.ranking.ties import TIE_MODELS

    return TIE_MODELS[fit.model]


def bootstrap_pairs(
    table: CountTable,
    fit: PairFit,
    *,
    rounds: int = 1000,
    rng: np.random.Generator,
    chunk: int | None = None,
    resampling: str = "poisson",
    progress: object | None = None,
) -> BootstrapSamples:
    """Refit ``fit``'s model on ``rounds`` resamples of the count table, all rounds at once (batched Newton,
    warm-started at the full-data fit). ``chunk`` rounds are solved together (memory ~ chunk x pairs).
    ``progress``: optional callable ``advance(n)``.
    """
    if rounds < 1:
        raise ValidationError(f"rounds must be >= 1, got {rounds}")
    if fit.ties == "drop":
        table = table.drop_ties()
    model = model_for(fit)
    n = table.n_items
    if chunk is None:
        chunk = max(1, min(rounds, int(4e6 // max(table.n_pairs * 3, n * n, 1))))
    # weights are drawn in larger blocks (float32 holds integer counts exactly) with the tables built once
    block = max(chunk, min(rounds, int(6e7 // max(table.n_pairs * 3, 1))))
    sampler = PoissonSampler(table.cells.reshape(-1)) if resampling == "poisson" else None
    thetas, etas, conv = [], [], []
    for bstart in range(0, rounds, block):
        nb = min(block, rounds - bstart)
        if sampler is not None:
            wblock = sampler.draw(nb, rng, dtype=np.float32).reshape(nb, 3, table.n_pairs)
        else:
            wblock = bootstrap_weights(table, nb, rng, resampling)
        for start in range(0, nb, chunk):
            w = np.asarray(wblock[start : start + chunk], dtype=np.float64)
            r = len(w)
            x0 = np.tile(fit.x, (r, 1))
            res = newton_batch(
                table, model, w, x0, prior=fit.prior, tol=1e-8, max_iter=50, final_loglik=False
            )
            th = res.x[:, :n]
            thetas.append(th - th.mean(axis=1, keepdims=True))
            if model.n_eta:
                etas.append(res.x[:, n])
            conv.append(res.converged)
            if callable(progress):
                progress(r)
    return BootstrapSamples(
        theta=np.concatenate(thetas),
        tie_param=np.concatenate(etas) if etas else None,
        converged=np.concatenate(conv),
    )
