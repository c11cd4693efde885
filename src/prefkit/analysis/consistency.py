"""Consistency of preference labels: ratings versus rankings, cycles in the comparison graph, repeats.

* :func:`rating_vs_ranking`: "Peering Through Preferences" (Bansal et al. 2023) gives the same responses
  1-7 ratings and pairwise rankings; a pair's ratings imply a verdict (higher rating wins, equal is a tie)
  that can be compared with the ranking's verdict. Reported: the 3x3 table (implied x ranked over a / b /
  tie), the share of pairs where the two disagree (any mismatch, ties included, the paper's measure) and
  the share of opposite decisive verdicts.
* :func:`majority_digraph` + :func:`count_3cycles`: the comparison graph has an edge ``i -> j`` when ``i``
  beat ``j`` more often than the reverse (ties ignored, equal counts give no edge). Directed 3-cycles are
  counted exactly as ``trace(A^3) / 3`` with sparse products; :func:`triangles` counts the triples whose
  three pairs all have an edge, so ``cycles / triangles`` is the share of intransitive triads.
  :func:`cycle_examples` lists some.
* :func:`self_consistency`: an annotator who judged the same pair (same context) more than once; the share
  of agreeing repeat pairs, per annotator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from prefkit.data.model import OUTCOME_A, OUTCOME_B
from prefkit.errors import DataProblemError, ValidationError

LABELS = ("a", "b", "tie")


def _verdict(outcome: np.ndarray) -> np.ndarray:
    """0 = a, 1 = b, 2 = tie (both_bad counts as a tie)."""
    o = np.asarray(outcome)
    return np.where(o == OUTCOME_A, 0, np.where(o == OUTCOME_B, 1, 2)).astype(np.int64)


@dataclass(frozen=True, eq=False)
class RatingRankingConsistency:
    """``table[i, j]``: pairs whose ratings imply verdict ``LABELS[i]`` and whose ranking says ``LABELS[j]``."""

    table: np.ndarray
    n_pairs: int
    n_unmatched: int

    @property
    def disagreement(self) -> float:
        """Share of pairs where the rating-implied verdict differs from the ranking (ties included)."""
        return float(1.0 - np.trace(self.table) / max(self.n_pairs, 1))

    @property
    def opposite(self) -> float:
        """Share of pairs decisive under both where the two pick different winners."""
        dec = self.table[:2, :2]
        return float((dec[0, 1] + dec[1, 0]) / max(dec.sum(), 1))

    @property
    def ties_disagree(self) -> float:
        """Share of pairs where exactly one of the two protocols says tie."""
        t = self.table
        return float((t[2, :2].sum() + t[:2, 2].sum()) / max(self.n_pairs, 1))

    def to_dict(self) -> dict[str, object]:
        return {
            "n_pairs": self.n_pairs,
            "n_unmatched": self.n_unmatched,
            "disagreement": round(self.disagreement, 6),
            "opposite_decisive": round(self.opposite, 6),
            "one_side_tie": round(self.ties_disagree, 6),
            "table": {
                "rows_ratings_imply": list(LABELS),
                "cols_ranking_says": list(LABELS),
                "counts": self.table.tolist(),
            },
        }


def rating_vs_ranking(
    rated_item: np.ndarray,
    score: np.ndarray,
    pair_a: np.ndarray,
    pair_b: np.ndarray,
    outcome: np.ndarray,
    n_items: int,
) -> RatingRankingConsistency:
    """Compare the verdicts implied by ratings (mean score per item) with pairwise verdicts on the same items."""
    it = np.asarray(rated_item, dtype=np.int64)
    sc = np.asarray(score, dtype=np.float64)
    a, b = np.asarray(pair_a, dtype=np.int64), np.asarray(pair_b, dtype=np.int64)
    if it.shape != sc.shape or a.shape != b.shape or len(a) != len(outcome):
        raise ValidationError("rated_item/score and pair_a/pair_b/outcome: lengths must match")
    for name, arr in (("rated_item", it), ("pair_a", a), ("pair_b", b)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_items):
            raise ValidationError(f"{name}: codes must lie in 0..{n_items - 1}")
    total = np.bincount(it, weights=sc, minlength=n_items)
    count = np.bincount(it, minlength=n_items)
    rated = count > 0
    both = rated[a] & rated[b]
    if not both.any():
        raise DataProblemError(
            "the ratings and the rankings share no items: no ranked pair has both responses rated; check that "
            "both files describe the same responses (same ids / texts)"
        )
    mean = np.where(rated, total / np.maximum(count, 1), np.nan)
    diff = mean[a[both]] - mean[b[both]]
    implied = np.where(diff > 0, 0, np.where(diff < 0, 1, 2))
    table = np.zeros((3, 3), dtype=np.int64)
    np.add.at(table, (implied, _verdict(np.asarray(outcome)[both])), 1)
    return RatingRankingConsistency(table, int(both.sum()), int((~both).sum()))


# -- the comparison graph ---------------------------------------------------------------------------


def majority_digraph(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Boolean ``A[i, j] = 1`` when ``i`` beat ``j`` more often than ``j`` beat ``i`` (ties ignored)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    v = _verdict(outcome)
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_items):
        raise ValidationError(f"a, b: item codes must lie in 0..{n_items - 1}")
    win = v == 0
    lose = v == 1
    w = np.concatenate([a[win], b[lose]])
    loser = np.concatenate([b[win], a[lose]])
    keep = w != loser
    wins = sp.csr_matrix((np.ones(int(keep.sum())), (w[keep], loser[keep])), shape=(n_items, n_items))
    net = (wins - wins.T).tocsr()
    net.data = (net.data > 0).astype(np.float64)
    net.eliminate_zeros()
    return net.astype(np.int64).tocsr()


def count_3cycles(adj: sp.spmatrix) -> int:
    """Exact number of directed 3-cycles ``i -> j -> k -> i`` (each counted once): ``trace(A^3) / 3``."""
    a = sp.csr_matrix(adj, dtype=np.int64)
    a.data[:] = 1
    a.setdiag(0)
    a.eliminate_zeros()
    a2 = a @ a
    return int(a2.multiply(a.T).sum()) // 3


def triangles(adj: sp.spmatrix) -> int:
    """Number of item triples whose three pairs all carry an edge (either direction)."""
    a = sp.csr_matrix(adj, dtype=np.int64)
    u = ((a + a.T) > 0).astype(np.int64)
    u.setdiag(0)
    u.eliminate_zeros()
    return int((u @ u).multiply(u).sum()) // 6


def cycle_examples(adj: sp.spmatrix, limit: int = 10) -> list[tuple[int, int, int]]:
    """Up to ``limit`` directed 3-cycles ``(i, j, k)`` with ``i -> j -> k -> i`` and ``i`` the smallest code."""
    a = sp.csr_matrix(adj, dtype=np.int64)
    out: list[tuple[int, int, int]] = []
    rows, cols = a.nonzero()
    succ = [set(a.indices[a.indptr[i] : a.indptr[i + 1]].tolist()) for i in range(a.shape[0])]
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if j < i:
            continue
        for k in succ[j]:
            if k > i and i in succ[k]:
                out.append((i, j, k))
                if len(out) >= limit:
                    return out
    return out


@dataclass(frozen=True, eq=False)
class Transitivity:
    """3-cycles among the majority verdicts, overall and inside each annotator's own judgments."""

    n_items: int
    n_edges: int
    cycles: int
    triangles: int
    examples: tuple[tuple[int, int, int], ...]
    per_annotator: np.ndarray  # (n_annotators, 2): own 3-cycles, own triangles

    @property
    def cyclic_share(self) -> float:
        return self.cycles / self.triangles if self.triangles else float("nan")


def transitivity(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    n_items: int,
    annotator: np.ndarray | None = None,
    n_annotators: int = 0,
    *,
    examples: int = 10,
) -> Transitivity:
    """Cycles of the pooled majority graph and of each annotator's own graph (``annotator = -1``: skipped)."""
    adj = majority_digraph(a, b, outcome, n_items)
    per = np.zeros((n_annotators, 2), dtype=np.int64)
    if annotator is not None and n_annotators:
        ann = np.asarray(annotator, dtype=np.int64)
        order = np.argsort(ann, kind="stable")
        bounds = np.searchsorted(ann[order], np.arange(n_annotators + 1))
        a_, b_, o_ = np.asarray(a)[order], np.asarray(b)[order], np.asarray(outcome)[order]
        for k in range(n_annotators):
            lo, hi = bounds[k], bounds[k + 1]
            if hi - lo >= 3:
                g = majority_digraph(a_[lo:hi], b_[lo:hi], o_[lo:hi], n_items)
                per[k] = (count_3cycles(g), triangles(g))
    return Transitivity(
        n_items=n_items,
        n_edges=int(adj.nnz),
        cycles=count_3cycles(adj),
        triangles=triangles(adj),
        examples=tuple(cycle_examples(adj, examples)),
        per_annotator=per,
    )


# -- self-consistency -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SelfConsistency:
    """Per annotator: ``repeats`` = repeated (pair, context) groups, ``agree`` / ``pairs`` = agreeing repeat pairs."""

    repeats: np.ndarray
    agree: np.ndarray
    pairs: np.ndarray

    @property
    def rate(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.pairs > 0, self.agree / np.maximum(self.pairs, 1), np.nan)

    @property
    def overall(self) -> float:
        return float(self.agree.sum() / self.pairs.sum()) if self.pairs.sum() else float("nan")


def self_consistency(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    annotator: np.ndarray,
    n_annotators: int,
    context: np.ndarray | None = None,
) -> SelfConsistency:
    """How often an annotator gives the same verdict when shown the same pair again (either order)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ann = np.asarray(annotator, dtype=np.int64)
    ctx = np.zeros_like(a) if context is None else np.asarray(context, dtype=np.int64)
    v = _verdict(outcome)
    swap = a > b
    v = np.where(swap & (v < 2), 1 - v, v)  # orient: verdict about (min, max)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    ok = ann >= 0
    keys = np.stack([ann[ok], ctx[ok], lo[ok], hi[ok]], axis=1)
    _, grp = np.unique(keys, axis=0, return_inverse=True)
    grp = grp.reshape(-1)
    n_groups = int(grp.max()) + 1 if grp.size else 0
    counts = np.zeros((n_groups, 3), dtype=np.int64)
    np.add.at(counts, (grp, v[ok]), 1)
    size = counts.sum(axis=1)
    agree_pairs = (counts * (counts - 1) // 2).sum(axis=1)
    all_pairs = size * (size - 1) // 2
    owner = np.zeros(n_groups, dtype=np.int64)
    owner[grp] = ann[ok]
    rep = size >= 2
    return SelfConsistency(
        repeats=np.bincount(owner[rep], minlength=n_annotators),
        agree=np.bincount(owner, weights=agree_pairs, minlength=n_annotators).astype(np.int64),
        pairs=np.bincount(owner, weights=all_pairs, minlength=n_annotators).astype(np.int64),
    )
