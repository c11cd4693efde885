"""The one Newton solver behind every pairwise model (Bradley-Terry, Davidson, Rao-Kupper).

A pairwise model is described by the log-probability of each outcome (win, loss, tie) of a pair as a function
of the strength difference ``d = theta_i - theta_j`` and, for tie models, one tie parameter ``eta``, with its
first and second derivatives (:class:`Terms`). From these the solver assembles, for ``R`` weightings of the same
count table at once, the log-likelihood, gradient and Hessian over ``x = (theta, eta)`` and takes damped Newton
steps. ``R = 1`` is the ordinary fit; ``R = 1000`` is a bootstrap, vectorised across rounds.

Identifiability: ``theta`` is centred (sum zero). The gradient in ``theta`` always sums to zero, so adding
``11'/n`` to the negative Hessian makes it invertible without moving the solution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from prefkit.ranking.counts import CountTable


@dataclass
class Terms:
    """Per-outcome log-probabilities and derivatives, each shaped ``(3, *d.shape)`` (win, loss, tie)."""

    lp: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    e1: np.ndarray | None = None
    de: np.ndarray | None = None
    e2: np.ndarray | None = None


TermsFn = Callable[[np.ndarray, np.ndarray | None], Terms]
# optional fast path for models without tie parameter: (d (R,P), w (R,3,P), need "ll" | "grad")
# -> (ll (R,) or None, gd (R,P), hd (R,P)); with need="ll" only ll is meaningful
FastFn = Callable[[np.ndarray, np.ndarray, str], tuple[np.ndarray | None, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PairModel:
    """A pairwise outcome model: its terms, number of tie parameters (0 or 1) and their domain."""

    name: str
    terms: TermsFn
    n_eta: int = 0
    eta0: float = 0.0
    eta_min: float = -np.inf
    fast: FastFn | None = None
    reduce: Callable[[np.ndarray], np.ndarray] | None = None  # weights (R,3,P) -> what ``fast`` takes
    concave: bool = False  # small Newton steps (max |step| <= 0.25) are taken without a line search


@dataclass(frozen=True)
class BatchResult:
    x: np.ndarray  # (R, n + k)
    loglik: np.ndarray  # (R,)
    converged: np.ndarray  # (R,) bool
    n_iter: int


def incidence(table: CountTable) -> sp.csr_matrix:
    """``(n_items, n_pairs)`` sparse matrix with +1 at ``i[p]`` and -1 at ``j[p]``."""
    p = np.arange(table.n_pairs)
    data = np.concatenate([np.ones(table.n_pairs), -np.ones(table.n_pairs)])
    rows = np.concatenate([table.i, table.j])
    return sp.csr_matrix((data, (rows, np.concatenate([p, p]))), shape=(table.n_items, table.n_pairs))


class _Problem:
    """Precomputed structure of one count table for a model and a prior."""

    def __init__(self, table: CountTable, model: PairModel, prior: float) -> None:
        self.table, self.model, self.prior = table, model, float(prior)
        self.n, self.k = table.n_items, model.n_eta
        self.B = incidence(table)
        self.Babs = abs(self.B).tocsr()

    def prep(self, w: np.ndarray) -> np.ndarray:
        """Cell weights ``(R, 3, P)`` in the form ``loglik`` / ``grad_hess`` take (reduced for fast models)."""
        if self.model.fast is not None and self.model.reduce is not None and not self.k:
            return self.model.reduce(w)
        return w

    def _terms(self, x: np.ndarray) -> Terms:
        theta = x[:, : self.n]
        d = theta[:, self.table.i] - theta[:, self.table.j]
        eta = x[:, self.n :] if self.k else None
        return self.model.terms(d, eta)

    def _diff(self, x: np.ndarray) -> np.ndarray:
        theta = x[:, : self.n]
        return theta[:, self.table.i] - theta[:, self.table.j]

    def loglik(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Log-likelihood of each round; ``w`` is ``(R, 3, P)`` cell weights."""
        if self.model.fast is not None:
            ll = self.model.fast(self._diff(x), w, "ll")[0]
            assert ll is not None
        else:
            t = self._terms(x)
            ll = np.einsum("rop,orp->r", w, _safe(t.lp, w))
        theta = x[:, : self.n]
        return ll - 0.5 * self.prior * np.einsum("ri,ri->r", theta, theta)

    def grad_hess(
        self, x: np.ndarray, w: np.ndarray, need_ll: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """(loglik (R,) or None, gradient (R, m), negative Hessian + centring (R, m, m))."""
        R, n, k = x.shape[0], self.n, self.k
        m = n + k
        ll: np.ndarray | None
        if self.model.fast is not None and not k:
            ll = self.loglik(x, w) if need_ll else None
            _, gd, hd = self.model.fast(self._diff(x), w, "grad")
        else:
            t = self._terms(x)
            ll = np.einsum("rop,orp->r", w, _safe(t.lp, w))
            gd = np.einsum("rop,orp->rp", w, t.d1)
            hd = -np.einsum("rop,orp->rp", w, t.d2)
            theta = x[:, :n]
            ll = ll - 0.5 * self.prior * np.einsum("ri,ri->r", theta, theta)
        g = np.empty((R, m))
        g[:, :n] = (self.B @ gd.T).T
        A = np.zeros((R, m, m))
        ti, tj = self.table.i, self.table.j
        A[:, ti, tj] = -hd
        A[:, tj, ti] = -hd
        diag = np.arange(n)
        A[:, diag, diag] = (self.Babs @ hd.T).T + self.prior
        A[:, :n, :n] += 1.0 / n
        if k:
            assert t.e1 is not None and t.de is not None and t.e2 is not None
            g[:, n] = np.einsum("rop,orp->r", w, t.e1)
            cross = -(self.B @ np.einsum("rop,orp->rp", w, t.de).T).T
            A[:, :n, n] = cross
            A[:, n, :n] = cross
            A[:, n, n] = -np.einsum("rop,orp->r", w, t.e2)
        g[:, :n] -= self.prior * x[:, :n]
        return ll, g, A

    def meat(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Sum over battles of the outer products of the per-battle scores, from the cell counts (R=1)."""
        t = self._terms(x)
        n, k = self.n, self.k
        c = w[0]  # (3, P)
        M = np.zeros((n + k, n + k))
        s2 = np.einsum("op,op->p", c, t.d1[:, 0] ** 2)
        M[self.table.i, self.table.j] = -s2
        M[self.table.j, self.table.i] = -s2
        M[np.arange(n), np.arange(n)] = self.Babs @ s2
        if k:
            assert t.e1 is not None
            cross = self.B @ np.einsum("op,op->p", c, t.d1[:, 0] * t.e1[:, 0])
            M[:n, n] = cross
            M[n, :n] = cross
            M[n, n] = np.einsum("op,op->", c, t.e1[:, 0] ** 2)
        return M


def _safe(lp: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Log-probabilities with -inf replaced where the weight is zero (0 * -inf would be nan)."""
    if np.all(np.isfinite(lp)):
        return lp
    return np.where(np.isfinite(lp), lp, -1e300)


def newton_batch(
    table: CountTable,
    model: PairModel,
    weights: np.ndarray,
    x0: np.ndarray,
    *,
    prior: float = 0.0,
    tol: float = 1e-9,
    max_iter: int = 100,
    final_loglik: bool = True,
) -> BatchResult:
    """Maximise the (penalised) log-likelihood for each of ``R`` weightings ``weights`` ``(R, 3, P)``."""
    prob = _Problem(table, model, prior)
    weights = prob.prep(weights)
    x = np.array(x0, dtype=np.float64, copy=True)
    R = x.shape[0]
    active = np.ones(R, dtype=bool)
    ll_all = np.zeros(R)
    ll_known = np.zeros(R, dtype=bool)
    failed = np.zeros(R, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        xa = x[idx]
        wa = weights if idx.size == R else weights[idx]
        _, g, A = prob.grad_hess(xa, wa, need_ll=False)
        try:
            step = np.linalg.solve(A, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(a, gg, rcond=None)[0] for a, gg in zip(A, g, strict=True)])
        size = np.max(np.abs(step), axis=1)
        tiny = (size < tol) | ((size <= 0.25) & model.concave & (it > 1))
        if tiny.any():  # converged, or a small step on a concave problem: no line search needed
            x[idx[tiny]] = xa[tiny] + step[tiny]
            done = tiny & (size < tol)
            active[idx[done]] = False
            ll_known[idx[tiny & ~done]] = False
        rest = np.flatnonzero(~tiny)
        alpha = np.ones(len(rest))
        pending = np.ones(len(rest), dtype=bool)
        wr = wa if len(rest) == len(idx) else wa[rest]
        unknown = np.flatnonzero(~ll_known[idx[rest]])
        if unknown.size:
            ll_all[idx[rest[unknown]]] = prob.loglik(xa[rest[unknown]], wr[unknown])
            ll_known[idx[rest[unknown]]] = True
        ll = ll_all[idx]
        for _ in range(40):
            if not pending.any():
                break
            pidx = np.flatnonzero(pending)
            cand = xa[rest[pidx]] + alpha[pidx, None] * step[rest[pidx]]
            ok = np.ones(len(cand), dtype=bool)
            if model.n_eta:
                ok = cand[:, prob.n] > model.eta_min
            llc = np.full(len(cand), -np.inf)
            if ok.any():
                llc[ok] = prob.loglik(cand[ok], wr[pidx[ok]])
            old = ll[rest[pidx]]
            good = ok & np.isfinite(llc) & (llc >= old - 1e-10 * (1 + np.abs(old)))
            x[idx[rest[pidx[good]]]] = cand[good]
            ll_all[idx[rest[pidx[good]]]] = llc[good]
            pending[pidx[good]] = False
            alpha[pidx[~good]] *= 0.5
        failed[idx[rest[pending]]] = True
        active[idx[rest[pending | (alpha * size[rest] < tol)]]] = False
    if final_loglik and not ll_known.all():
        ll_all[~ll_known] = prob.loglik(x[~ll_known], weights[~ll_known])
    converged = ~active & ~failed
    return BatchResult(x=x, loglik=ll_all, converged=converged, n_iter=it)


def covariances(
    table: CountTable, model: PairModel, x: np.ndarray, *, prior: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(sandwich covariance, inverse-information covariance) of ``x = (theta, eta)`` at the fit ``x``."""
    prob = _Problem(table, model, prior)
    w = table.cells[None]
    _, _, A = prob.grad_hess(x[None], prob.prep(w))
    Ainv = np.linalg.inv(A[0])
    M = prob.meat(x[None], w)
    sandwich = Ainv @ M @ Ainv
    n = table.n_items
    # remove the centring term from the model-based covariance (project onto sum-zero theta)
    P = np.eye(len(x))
    P[:n, :n] -= 1.0 / n
    return sandwich, P @ Ainv @ P.T


def loglik_and_grad(
    table: CountTable, model: PairModel, x: np.ndarray, prior: float = 0.0
) -> tuple[float, np.ndarray]:
    """Log-likelihood and gradient at ``x`` (for checks; the solver uses the batched versions)."""
    prob = _Problem(table, model, prior)
    ll, g, _ = prob.grad_hess(np.asarray(x, dtype=np.float64)[None], prob.prep(table.cells[None]))
    assert ll is not None
    return float(ll[0]), g[0]


def neg_hessian(table: CountTable, model: PairModel, x: np.ndarray, prior: float = 0.0) -> np.ndarray:
    """Negative Hessian of the log-likelihood at ``x`` (without the centring term)."""
    prob = _Problem(table, model, prior)
    _, _, A = prob.grad_hess(np.asarray(x, dtype=np.float64)[None], prob.prep(table.cells[None]))
    out = A[0]
    out[: table.n_items, : table.n_items] -= 1.0 / table.n_items
    return out
