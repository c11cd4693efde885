"""The comparison graph: items are nodes, any judgment relating two items is an edge."""

from __future__ import annotations

import numpy as np

from prefkit.errors import ValidationError


def components(n_items: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label of each item ``0..n_items-1`` (0 = the largest component, then by size).

    ``a``/``b`` are the endpoints of the edges (any orientation, repeats allowed). Items in no edge are
    components of their own.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = np.asarray(a, dtype=np.int64).reshape(-1)
    b = np.asarray(b, dtype=np.int64).reshape(-1)
    if len(a) != len(b):
        raise ValidationError(f"a and b must have the same length, got {len(a)} and {len(b)}")
    if n_items < 0:
        raise ValidationError(f"n_items must be >= 0, got {n_items}")
    if n_items == 0:
        return np.zeros(0, dtype=np.int32)
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_items):
        raise ValidationError(f"edge endpoints must be item codes in 0..{n_items - 1}")
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_items, n_items))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    order = np.lexsort((np.arange(len(sizes)), -sizes))  # largest first, ties by first label
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels].astype(np.int32)


def is_connected(n_items: int, a: np.ndarray, b: np.ndarray) -> bool:
    """True when every item is reachable from every other one (vacuously true for 0 or 1 item)."""
    labels = components(n_items, a, b)
    return bool(len(labels) == 0 or labels.max() == 0)


def ranking_edges(offsets: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges linking consecutive members of each CSR ranking (enough for connectivity)."""
    members = np.asarray(members, dtype=np.int64)
    if len(members) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    same = np.ones(len(members) - 1, dtype=bool)
    starts = np.asarray(offsets[1:-1], dtype=np.int64)
    same[starts[(starts > 0) & (starts < len(members))] - 1] = False
    return members[:-1][same], members[1:][same]
