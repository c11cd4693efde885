"""Diagnostics of the comparison graph: when does an unpenalised maximum-likelihood fit exist?

The Bradley-Terry MLE exists (Ford 1957; Hunter 2004) iff the directed graph with an edge ``i -> j`` whenever
``i`` beat ``j`` at least once is strongly connected. Ties (under every tie convention) link both ways. When the
graph is not even weakly connected, ratings of different components are not comparable at all; when an item
never loses (never wins) its rating goes to +infinity (-infinity). A Gaussian prior (``prior > 0``) makes the
fit exist in every case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from prefkit.errors import DataProblemError
from prefkit.ranking.counts import CountTable, item_totals


@dataclass(frozen=True)
class GraphDiagnostics:
    """What stands between a count table and a finite unpenalised MLE."""

    n_components: int
    component: np.ndarray  # weakly connected component label per item
    n_strong_components: int
    strong_component: np.ndarray
    never_lost: tuple[int, ...]
    never_won: tuple[int, ...]
    unplayed: tuple[int, ...]

    @property
    def mle_exists(self) -> bool:
        return self.n_strong_components == 1


def diagnose(table: CountTable) -> GraphDiagnostics:
    """Connected components, strongly connected components and the items that never lose or never win."""
    n = table.n_items
    tot = item_totals(table)
    fwd = (table.win + table.tie) > 0  # i -> j
    bwd = (table.loss + table.tie) > 0  # j -> i
    rows = np.concatenate([table.i[fwd], table.j[bwd]])
    cols = np.concatenate([table.j[fwd], table.i[bwd]])
    g = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    nw, weak = connected_components(g, directed=True, connection="weak")
    ns, strong = connected_components(g, directed=True, connection="strong")
    played = tot.battles > 0
    return GraphDiagnostics(
        n_components=int(nw),
        component=weak,
        n_strong_components=int(ns),
        strong_component=strong,
        never_lost=tuple(int(k) for k in np.flatnonzero(played & (tot.losses + tot.ties == 0))),
        never_won=tuple(int(k) for k in np.flatnonzero(played & (tot.wins + tot.ties == 0))),
        unplayed=tuple(int(k) for k in np.flatnonzero(~played)),
    )


def _names(table: CountTable, codes: tuple[int, ...] | np.ndarray, limit: int = 8) -> str:
    names = table.item_names()
    shown = [names[int(c)] for c in list(codes)[:limit]]
    more = f" and {len(codes) - limit} more" if len(codes) > limit else ""
    return ", ".join(shown) + more


def describe_problem(table: CountTable, diag: GraphDiagnostics) -> str:
    """A message naming the items and components that make the unpenalised MLE diverge."""
    parts = []
    if diag.unplayed:
        parts.append(f"items with no comparisons: {_names(table, diag.unplayed)}")
    if diag.n_components > 1:
        comps = [np.flatnonzero(diag.component == c) for c in range(diag.n_components)]
        comps.sort(key=len, reverse=True)
        shown = "; ".join("{" + _names(table, c, 4) + "}" for c in comps[:4])
        parts.append(f"the comparison graph has {diag.n_components} disconnected components: {shown}")
    if diag.never_lost:
        parts.append(f"never lost: {_names(table, diag.never_lost)}")
    if diag.never_won:
        parts.append(f"never won: {_names(table, diag.never_won)}")
    if not parts and diag.n_strong_components > 1:
        parts.append(
            f"the win graph splits into {diag.n_strong_components} groups where one group beat the other "
            "every time they met"
        )
    return "; ".join(parts)


def check_mle_exists(table: CountTable) -> GraphDiagnostics:
    """Raise DataProblemError naming the culprits when the unpenalised MLE does not exist."""
    if table.n_items < 2:
        raise DataProblemError(f"need at least two items to rank, got {table.n_items}")
    if table.n_battles <= 0:
        raise DataProblemError("no comparisons to fit (the log is empty or every weight is zero)")
    diag = diagnose(table)
    if not diag.mle_exists:
        raise DataProblemError(
            "the maximum-likelihood ratings diverge: "
            + describe_problem(table, diag)
            + ". Fit with a Gaussian prior instead (prior=1.0, or --prior 1.0 on the command line), or remove "
            "those items"
        )
    return diag
