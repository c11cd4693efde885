"""Annotators: reliability without gold labels, agreement, clusters of systematic disagreement, spam.

* :func:`dawid_skene`: Dawid & Skene (1979) EM. Each task (an item pair in a context) has an unknown true
  class; each annotator has a confusion matrix ``pi[j, true, given]``; EM alternates the task posteriors and
  the (Dirichlet-smoothed) confusion matrices and class priors, starting from the majority vote.
  ``accuracy[j] = sum_c prior_c pi[j, c, c]``.
* :func:`pairwise_tasks`: turns pairwise judgments into tasks and labels (0: the lower item code wins,
  1: the higher wins, 2: tie), so that the same pair shown in either order is one task.
* :func:`agreement_with_others`: per annotator, the share of other annotators' labels on the same tasks that
  equal theirs (leave-one-out observed agreement); :func:`group_alpha` is Krippendorff's nominal alpha of a
  group of annotators (reusing :mod:`prefkit.analysis.agreement`).
* :func:`annotator_clusters`: the annotator x annotator agreement on shared tasks, clustered (average
  linkage on ``1 - agreement``): camps that disagree systematically (pluralism) show a between-cluster
  agreement well below the within-cluster one.
* :func:`spam_flags`: always-left (side a), always-right, always-tie, and too fast (median seconds per
  judgment below a threshold) when timings exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from prefkit.analysis.agreement import krippendorff_alpha, reliability_matrix
from prefkit.data.model import OUTCOME_A, OUTCOME_B
from prefkit.errors import DataProblemError, ValidationError


def pairwise_tasks(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, context: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(task, label, n_tasks)``: one task per (context, unordered pair); labels 0 lower code wins, 1 higher, 2 tie."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    o = np.asarray(outcome)
    ctx = np.zeros_like(a) if context is None else np.asarray(context, dtype=np.int64)
    v = np.where(o == OUTCOME_A, 0, np.where(o == OUTCOME_B, 1, 2))
    v = np.where((a > b) & (v < 2), 1 - v, v)
    keys = np.stack([ctx, np.minimum(a, b), np.maximum(a, b)], axis=1)
    if not len(keys):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    _, task = np.unique(keys, axis=0, return_inverse=True)
    task = task.reshape(-1)
    return task.astype(np.int64), v.astype(np.int64), int(task.max()) + 1


def _check_labels(
    task: np.ndarray, annotator: np.ndarray, label: np.ndarray, n_tasks: int, n_ann: int, k: int
) -> None:
    if not (task.shape == annotator.shape == label.shape):
        raise ValidationError("task, annotator, label: must have the same length")
    if not task.size:
        raise DataProblemError("no labels to analyse")
    for name, arr, hi in (("task", task, n_tasks), ("annotator", annotator, n_ann), ("label", label, k)):
        if arr.min() < 0 or arr.max() >= hi:
            raise ValidationError(f"{name}: codes must lie in 0..{hi - 1}")


@dataclass(frozen=True, eq=False)
class DawidSkene:
    """EM result: task posteriors ``(n_tasks, K)``, confusion ``(n_annotators, K, K)``, priors, accuracy."""

    posterior: np.ndarray
    confusion: np.ndarray
    prior: np.ndarray
    accuracy: np.ndarray
    n_labels: np.ndarray
    iterations: int
    converged: bool

    @property
    def labels(self) -> np.ndarray:
        return self.posterior.argmax(axis=1)


def dawid_skene(
    task: np.ndarray,
    annotator: np.ndarray,
    label: np.ndarray,
    n_tasks: int,
    n_annotators: int,
    n_classes: int,
    *,
    smoothing: float = 0.01,
    tol: float = 1e-6,
    max_iter: int = 1000,
) -> DawidSkene:
    """Dawid-Skene EM over long-format integer ``(task, annotator, label)`` columns (see module docstring)."""
    t = np.asarray(task, dtype=np.int64)
    j = np.asarray(annotator, dtype=np.int64)
    y = np.asarray(label, dtype=np.int64)
    _check_labels(t, j, y, n_tasks, n_annotators, n_classes)
    k = n_classes
    post = np.zeros((n_tasks, k))
    np.add.at(post, (t, y), 1.0)
    post += 1e-3
    post /= post.sum(axis=1, keepdims=True)
    iterations, converged = 0, False
    conf = np.full((n_annotators, k, k), 1.0 / k)
    prior = np.full(k, 1.0 / k)
    index: tuple = (j, slice(None), y)
    while iterations < max_iter:
        iterations += 1
        counts = np.full((n_annotators, k, k), smoothing)
        np.add.at(counts, index, post[t])
        # a little mass on the diagonal keeps label-switching away when an annotator has few labels
        counts[:, np.arange(k), np.arange(k)] += smoothing
        conf = counts / counts.sum(axis=2, keepdims=True)
        prior = (post.sum(axis=0) + smoothing) / (n_tasks + k * smoothing)
        logp = np.tile(np.log(prior), (n_tasks, 1))
        np.add.at(logp, t, np.log(conf[j, :, y]))
        logp -= logp.max(axis=1, keepdims=True)
        new = np.exp(logp)
        new /= new.sum(axis=1, keepdims=True)
        change = float(np.abs(new - post).max())
        post = new
        if change < tol:
            converged = True
            break
    acc = (prior[None, :] * conf[:, np.arange(k), np.arange(k)]).sum(axis=1)
    return DawidSkene(post, conf, prior, acc, np.bincount(j, minlength=n_annotators), iterations, converged)


def majority_vote(task: np.ndarray, label: np.ndarray, n_tasks: int, n_classes: int) -> np.ndarray:
    """The most frequent label of each task (lowest label on a tie; -1 for unlabelled tasks)."""
    c = np.zeros((n_tasks, n_classes))
    np.add.at(c, (np.asarray(task), np.asarray(label)), 1.0)
    return np.where(c.sum(axis=1) > 0, c.argmax(axis=1), -1)


def agreement_with_others(
    task: np.ndarray,
    annotator: np.ndarray,
    label: np.ndarray,
    n_tasks: int,
    n_annotators: int,
    n_classes: int,
) -> np.ndarray:
    """Per annotator: mean share of the other labels on the same task equal to theirs (``nan``: no overlap)."""
    t, j, y = (np.asarray(x, dtype=np.int64) for x in (task, annotator, label))
    _check_labels(t, j, y, n_tasks, n_annotators, n_classes)
    c = np.zeros((n_tasks, n_classes))
    np.add.at(c, (t, y), 1.0)
    size = c.sum(axis=1)
    others = size[t] - 1
    ok = others > 0
    share = np.where(ok, (c[t, y] - 1) / np.maximum(others, 1), 0.0)
    num = np.bincount(j[ok], weights=share[ok], minlength=n_annotators)
    den = np.bincount(j[ok], minlength=n_annotators)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def group_alpha(
    task: np.ndarray, annotator: np.ndarray, label: np.ndarray, members: np.ndarray, n_tasks: int
) -> float:
    """Krippendorff's nominal alpha among the annotators ``members`` (``nan`` when it is undefined)."""
    t, j, y = (np.asarray(x, dtype=np.int64) for x in (task, annotator, label))
    sel = np.isin(j, members)
    if not sel.any():
        return float("nan")
    _, coder = np.unique(j[sel], return_inverse=True)
    m = reliability_matrix(
        t[sel], coder.reshape(-1), y[sel].astype(np.float64), n_tasks, int(coder.max()) + 1
    )
    try:
        return krippendorff_alpha(m, "nominal")
    except DataProblemError:
        return float("nan")


@dataclass(frozen=True, eq=False)
class Clusters:
    """``labels[j]`` cluster of annotator ``j`` (-1: too little overlap to place); agreement matrices."""

    labels: np.ndarray
    agreement: np.ndarray
    shared: np.ndarray
    within: float
    between: float


def annotator_clusters(
    task: np.ndarray,
    annotator: np.ndarray,
    label: np.ndarray,
    n_tasks: int,
    n_annotators: int,
    n_classes: int,
    *,
    n_clusters: int = 2,
    min_shared: int = 5,
) -> Clusters:
    """Cluster annotators by how often they agree on shared tasks (average linkage on ``1 - agreement``)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    t, j, y = (np.asarray(x, dtype=np.int64) for x in (task, annotator, label))
    _check_labels(t, j, y, n_tasks, n_annotators, n_classes)
    if n_clusters < 1:
        raise ValidationError(f"n_clusters must be >= 1, got {n_clusters}")
    # one label per (annotator, task): the last one
    key = j * n_tasks + t
    _, last = np.unique(key[::-1], return_index=True)
    last = len(key) - 1 - last
    j, t, y = j[last], t[last], y[last]
    onehot = sp.csr_matrix(
        (np.ones(len(j)), (j, t * n_classes + y)), shape=(n_annotators, n_tasks * n_classes)
    )
    pres = sp.csr_matrix((np.ones(len(j)), (j, t)), shape=(n_annotators, n_tasks))
    same = (onehot @ onehot.T).toarray()
    shared = (pres @ pres.T).toarray()
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.where(shared >= min_shared, same / np.maximum(shared, 1), np.nan)
    np.fill_diagonal(agree, 1.0)
    placed = np.flatnonzero((shared >= min_shared).sum(axis=1) > 1)
    labels = np.full(n_annotators, -1, dtype=np.int64)
    if len(placed) < max(2, n_clusters):
        raise DataProblemError(
            f"only {len(placed)} annotators share at least min_shared={min_shared} tasks with another; "
            "lower min_shared or collect overlapping judgments"
        )
    sub = agree[np.ix_(placed, placed)]
    fill = np.nanmean(sub[~np.eye(len(placed), dtype=bool)])
    dist = 1.0 - np.where(np.isnan(sub), fill, sub)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    z = linkage(squareform(np.clip(dist, 0.0, None), checks=False), method="average")
    labels[placed] = fcluster(z, t=n_clusters, criterion="maxclust") - 1
    lab = labels[placed]
    same_c = lab[:, None] == lab[None, :]
    off = ~np.eye(len(placed), dtype=bool)
    w_vals = sub[same_c & off]
    b_vals = sub[~same_c]
    return Clusters(
        labels=labels,
        agreement=agree,
        shared=shared,
        within=float(np.nanmean(w_vals)) if np.isfinite(w_vals).any() else float("nan"),
        between=float(np.nanmean(b_vals)) if np.isfinite(b_vals).any() else float("nan"),
    )


@dataclass(frozen=True, eq=False)
class SpamReport:
    """Per annotator: counts, side shares, median seconds, and the flags raised."""

    n: np.ndarray
    share_a: np.ndarray
    share_b: np.ndarray
    share_tie: np.ndarray
    median_seconds: np.ndarray
    flags: tuple[tuple[str, ...], ...]

    def flagged(self) -> list[int]:
        return [k for k, f in enumerate(self.flags) if f]


def spam_flags(
    outcome: np.ndarray,
    annotator: np.ndarray,
    n_annotators: int,
    *,
    seconds: np.ndarray | None = None,
    min_n: int = 10,
    threshold: float = 0.9,
    fast_seconds: float = 3.0,
) -> SpamReport:
    """Flag annotators with at least ``min_n`` judgments who pick side a / side b / tie in more than
    ``threshold`` of them, or whose median time per judgment is under ``fast_seconds``."""
    if not 0.5 < threshold <= 1.0:
        raise ValidationError(f"threshold must lie in (0.5, 1], got {threshold}")
    o = np.asarray(outcome)
    j = np.asarray(annotator, dtype=np.int64)
    if len(o) != len(j):
        raise ValidationError("outcome, annotator: must have the same length")
    ok = j >= 0
    n = np.bincount(j[ok], minlength=n_annotators).astype(np.float64)
    safe = np.maximum(n, 1.0)
    sa = np.bincount(j[ok], weights=(o[ok] == OUTCOME_A).astype(float), minlength=n_annotators) / safe
    sb = np.bincount(j[ok], weights=(o[ok] == OUTCOME_B).astype(float), minlength=n_annotators) / safe
    st = 1.0 - sa - sb
    st[n == 0] = 0.0
    med = np.full(n_annotators, np.nan)
    if seconds is not None:
        s = np.asarray(seconds, dtype=np.float64)
        if len(s) != len(o):
            raise ValidationError("seconds: expected one timing per judgment")
        for k in np.unique(j[ok]).tolist():
            v = s[ok & (j == k) & np.isfinite(s)]
            if v.size:
                med[k] = float(np.median(v))
    flags = []
    for k in range(n_annotators):
        f: list[str] = []
        if n[k] >= min_n:
            if sa[k] >= threshold:
                f.append("always-left")
            if sb[k] >= threshold:
                f.append("always-right")
            if st[k] >= threshold:
                f.append("always-tie")
            if np.isfinite(med[k]) and med[k] < fast_seconds:
                f.append("too-fast")
        flags.append(tuple(f))
    return SpamReport(n.astype(np.int64), sa, sb, st, med, tuple(flags))
