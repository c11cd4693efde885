"""Plackett-Luce maximum likelihood for K-wise rankings, ties allowed (Breslow's convention).

A ranking is a sequence of tie groups, best first. At each stage the next group ``G`` is chosen from the items
``S`` not yet placed: ``P = prod_{i in G} e^{theta_i} / (sum_{k in S} e^{theta_k})^{|G|}`` (Breslow 1974; with
no ties it is the ordinary Plackett-Luce likelihood, and on pairs without ties it is Bradley-Terry). The
log-likelihood is concave; it is maximised by damped Newton with the exact Hessian. Standard errors are
sandwich (rankings are the independent units).

Input is CSR: ranking ``r`` has ``members[offsets[r]:offsets[r+1]]`` best first, ``level`` marks tie groups
(as :class:`prefkit.data.model.RankingTable`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking.resample import resample_counts


@dataclass(frozen=True)
class PLFit:
    """Centred natural-log strengths ``theta``, sandwich covariance ``cov``, inverse-information ``cov_model``."""

    theta: np.ndarray
    cov: np.ndarray
    cov_model: np.ndarray
    loglik: float
    n_iter: int
    prior: float

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))


class _Stages:
    """The choice stages of a set of rankings, flattened for vectorised likelihood computations."""

    def __init__(self, offsets: np.ndarray, members: np.ndarray, level: np.ndarray, n_items: int) -> None:
        offsets = np.asarray(offsets, dtype=np.int64)
        members = np.asarray(members, dtype=np.int64)
        level = np.asarray(level, dtype=np.int64)
        sizes = np.diff(offsets)
        rid = np.repeat(np.arange(len(sizes)), sizes)
        pos = np.arange(len(members))
        first = np.ones(len(members), dtype=bool)
        first[1:] = (rid[1:] != rid[:-1]) | (level[1:] != level[:-1])
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], len(members))  # group end (exclusive)
        rank_end = offsets[rid[starts] + 1]
        keep = ~((ends == rank_end) & (ends - starts == 1))  # a last group of one item carries no information
        starts, ends, rank_end = starts[keep], ends[keep], rank_end[keep]
        self.n_items = n_items
        self.n_rankings = len(sizes)
        self.stage_rank = rid[starts]
        self.gsize = (ends - starts).astype(np.float64)
        ns = len(starts)
        # chosen entries: members of each group
        glen = ends - starts
        self.chosen_stage = np.repeat(np.arange(ns), glen)
        self.chosen_item = members[_ranges(starts, glen)]
        # choice-set entries: members from the group start to the end of the ranking
        slen = rank_end - starts
        self.set_stage = np.repeat(np.arange(ns), slen)
        self.set_item = members[_ranges(starts, slen)]
        # pairs of entries inside each choice set (for the Hessian)
        ent_start = np.concatenate([[0], np.cumsum(slen)[:-1]])
        plen = slen * slen
        pstage = np.repeat(np.arange(ns), plen)
        local = np.arange(plen.sum()) - np.repeat(np.concatenate([[0], np.cumsum(plen)[:-1]]), plen)
        self.pair_u = ent_start[pstage] + local // slen[pstage]
        self.pair_v = ent_start[pstage] + local % slen[pstage]
        self.pair_stage = pstage
        del pos

    def probs(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(softmax probability of each choice-set entry, log-sum-exp of each stage)."""
        t = theta[self.set_item]
        mx = np.full(len(self.gsize), -np.inf)
        np.maximum.at(mx, self.set_stage, t)
        e = np.exp(t - mx[self.set_stage])
        z = np.bincount(self.set_stage, e, minlength=len(self.gsize))
        return e / z[self.set_stage], mx + np.log(z)

    def loglik(self, theta: np.ndarray, w_stage: np.ndarray, prior: float) -> float:
        _, lse = self.probs(theta)
        chosen = np.bincount(self.chosen_stage, theta[self.chosen_item], minlength=len(self.gsize))
        return float(np.dot(w_stage, chosen - self.gsize * lse) - 0.5 * prior * theta @ theta)

    def grad_hess(
        self, theta: np.ndarray, w_stage: np.ndarray, prior: float
    ) -> tuple[np.ndarray, np.ndarray]:
        n = self.n_items
        p, _ = self.probs(theta)
        wg = w_stage * self.gsize
        g = np.bincount(self.chosen_item, w_stage[self.chosen_stage], minlength=n).astype(np.float64)
        g -= np.bincount(self.set_item, wg[self.set_stage] * p, minlength=n)
        g -= prior * theta
        H = (
            np.bincount(
                self.set_item[self.pair_u] * n + self.set_item[self.pair_v],
                -wg[self.pair_stage] * p[self.pair_u] * p[self.pair_v],
                minlength=n * n,
            )
            .reshape(n, n)
            .astype(np.float64)
        )
        H[np.diag_indices(n)] += np.bincount(self.set_item, wg[self.set_stage] * p, minlength=n) + prior
        return g, H

    def scores(self, theta: np.ndarray) -> sp.csr_matrix:
        """Per-ranking score vectors (rows) as a sparse ``(n_rankings, n_items)`` matrix."""
        p, _ = self.probs(theta)
        rows = np.concatenate([self.stage_rank[self.chosen_stage], self.stage_rank[self.set_stage]])
        cols = np.concatenate([self.chosen_item, self.set_item])
        vals = np.concatenate([np.ones(len(self.chosen_item)), -self.gsize[self.set_stage] * p])
        return sp.csr_matrix((vals, (rows, cols)), shape=(self.n_rankings, self.n_items))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for each (s, l)."""
    total = int(lengths.sum())
    base = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return base + np.arange(total)


def _validate(
    offsets: np.ndarray, members: np.ndarray, n_items: int, weight: np.ndarray | None
) -> np.ndarray:
    n_r = len(offsets) - 1
    if n_r < 1 or len(members) == 0:
        raise DataProblemError("no rankings to fit (the input is empty)")
    if n_items < 2:
        raise DataProblemError(f"need at least two items to rank, got {n_items}")
    if members.min() < 0 or members.max() >= n_items:
        raise ValidationError(f"item codes must lie in 0..{n_items - 1}")
    w = np.ones(n_r) if weight is None else np.asarray(weight, dtype=np.float64)
    if len(w) != n_r:
        raise ValidationError(f"weight has {len(w)} entries for {n_r} rankings")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValidationError("weight must be finite and >= 0 (found NaN, infinite or negative values)")
    return w


def _newton(st: _Stages, w_stage: np.ndarray, theta0: np.ndarray, prior: float, tol: float, max_iter: int):
    n = st.n_items
    theta = theta0.copy()
    ll = st.loglik(theta, w_stage, prior)
    for it in range(1, max_iter + 1):
        g, H = st.grad_hess(theta, w_stage, prior)
        step = np.linalg.solve(H + 1.0 / n, g)
        alpha = 1.0
        for _ in range(40):
            cand = theta + alpha * step
            llc = st.loglik(cand, w_stage, prior)
            if np.isfinite(llc) and llc >= ll - 1e-10 * (1 + abs(ll)):
                break
            alpha *= 0.5
        else:
            return theta, ll, it, False
        theta, ll = cand, llc
        if np.max(np.abs(alpha * step)) < tol:
            return theta, ll, it, True
    return theta, ll, max_iter, False


def fit_pl(
    offsets: np.ndarray,
    members: np.ndarray,
    level: np.ndarray,
    n_items: int,
    *,
    weight: np.ndarray | None = None,
    prior: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> PLFit:
    """Plackett-Luce MLE (or MAP with Gaussian prior precision ``prior``) of K-wise rankings with ties."""
    offsets = np.asarray(offsets, dtype=np.int64)
    members = np.asarray(members, dtype=np.int64)
    w = _validate(offsets, members, n_items, weight)
    if prior < 0 or not np.isfinite(prior):
        raise ValidationError(f"prior must be a finite number >= 0, got {prior}")
    st = _Stages(offsets, members, np.asarray(level), n_items)
    w_stage = w[st.stage_rank]
    if prior == 0:
        _check_pl_graph(st, w_stage, n_items)
    theta, ll, it, ok = _newton(st, w_stage, np.zeros(n_items), prior, tol, max_iter)
    if not ok:
        raise DataProblemError("the Plackett-Luce fit did not converge; fit with a prior (prior=1.0)")
    theta -= theta.mean()
    g, H = st.grad_hess(theta, w_stage, prior)
    Ainv = np.linalg.inv(H + 1.0 / n_items)
    S = st.scores(theta)
    M = (S.T @ sp.diags(w) @ S).toarray()
    P = np.eye(n_items) - 1.0 / n_items
    return PLFit(
        theta=theta, cov=Ainv @ M @ Ainv, cov_model=P @ Ainv @ P, loglik=ll, n_iter=it, prior=float(prior)
    )


def _check_pl_graph(st: _Stages, w_stage: np.ndarray, n: int) -> None:
    """The PL MLE exists iff the graph 'i placed at or above j' is strongly connected (ties link both ways)."""
    from scipy.sparse.csgraph import connected_components

    # winner i (chosen) -> every other member k of the choice set
    ch_stage, ch_item = st.chosen_stage, st.chosen_item
    counts = np.bincount(st.set_stage, minlength=len(st.gsize))
    rep = counts[ch_stage]
    src = np.repeat(ch_item, rep)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    dst = st.set_item[_ranges(starts[ch_stage], rep)]
    keep = (src != dst) & (np.repeat(w_stage[ch_stage], rep) > 0)
    g = sp.csr_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n, n))
    ns, labels = connected_components(g, directed=True, connection="strong")
    if ns > 1:
        top = [int(k) for k in np.flatnonzero(np.asarray(g.sum(axis=0)).ravel() == 0)][:8]
        raise DataProblemError(
            f"the Plackett-Luce maximum-likelihood ratings diverge: the 'ranked above' graph splits into {ns} "
            f"groups (items never ranked below another: {top}). Fit with a Gaussian prior (prior=1.0, or "
            "--prior 1.0), or remove those items"
        )


def bootstrap_pl(
    offsets: np.ndarray,
    members: np.ndarray,
    level: np.ndarray,
    n_items: int,
    fit: PLFit,
    *,
    rounds: int = 200,
    rng: np.random.Generator,
    weight: np.ndarray | None = None,
    resampling: str = "poisson",
    progress: object | None = None,
) -> np.ndarray:
    """``(rounds, n_items)`` centred strengths refitted on rankings resampled with Poisson weights
    (``resampling="multinomial"``: the rankings drawn with replacement, integer weights only)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    w = _validate(offsets, np.asarray(members), n_items, weight)
    st = _Stages(offsets, np.asarray(members), np.asarray(level), n_items)
    W = resample_counts(w, rounds, rng, resampling)
    out = np.empty((rounds, n_items))
    for r in range(rounds):
        theta, _, _, _ = _newton(st, W[r][st.stage_rank], fit.theta, fit.prior, 1e-8, 50)
        out[r] = theta - theta.mean()
        if callable(progress):
            progress(1)
    return out
