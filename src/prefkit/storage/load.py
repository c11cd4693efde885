"""Reading the store back as a columnar :class:`~prefkit.data.model.Dataset`.

Judgments come back in insertion order, entities in store order (so a dataset imported into a fresh store
comes back with the same codes). Without filters every entity is kept; with filters only the entities the
selected judgments use.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa

from prefkit.data.index import ItemIndex
from prefkit.data.model import ANNOTATOR_KINDS, Dataset, PairwiseTable, RankingTable, RatingTable
from prefkit.errors import ValidationError
from prefkit.storage import responses

if TYPE_CHECKING:
    from prefkit.storage.store import ProjectStore

SHAPES = ("pairwise", "rankings", "ratings")
T = TypeVar("T", PairwiseTable, RatingTable)


def _where(
    conn: sqlite3.Connection,
    criterion: str | Sequence[str] | None,
    annotator_kind: str | None,
    source: str | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if criterion is not None:
        wanted = [criterion] if isinstance(criterion, str) else list(criterion)
        known = dict(conn.execute("SELECT name, pk FROM criteria ORDER BY pk").fetchall())
        unknown = [c for c in wanted if c not in known]
        if unknown:
            raise ValidationError(
                f"criterion {unknown[0]!r} is not in the store; known criteria: {', '.join(known) or '(none)'}"
            )
        clauses.append(f"criterion IN ({', '.join('?' * len(wanted))})")
        params.extend(known[c] for c in wanted)
    if annotator_kind is not None:
        if annotator_kind not in ANNOTATOR_KINDS:
            raise ValidationError(
                f"annotator_kind={annotator_kind!r}; use one of {', '.join(ANNOTATOR_KINDS)}"
            )
        clauses.append("annotator IN (SELECT pk FROM annotators WHERE kind = ?)")
        params.append(annotator_kind)
    if source is not None:
        known_sources = [r[0] for r in conn.execute("SELECT DISTINCT source FROM imports ORDER BY pk")]
        if source not in known_sources:
            listed = ", ".join(str(s) for s in known_sources[:10]) or "(none)"
            raise ValidationError(f"source {source!r} was never imported; imported sources: {listed}")
        clauses.append("import_id IN (SELECT pk FROM imports WHERE source = ?)")
        params.append(source)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _columns(rows: list[tuple[Any, ...]], n_cols: int) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(n_cols)]


def _ints(col: Iterable[Any]) -> np.ndarray:
    return np.asarray(col, dtype=np.int64)


def _index(
    conn: sqlite3.Connection, table: str, key: str, extra: Sequence[str], used: np.ndarray | None
) -> tuple[ItemIndex, np.ndarray, list[tuple[Any, ...]]]:
    """(index of kept names, lookup pk -> code (pk 0 -> -1), rows of (name, *extra) kept)."""
    cols = "".join(f", {c}" for c in extra)
    rows = conn.execute(f"SELECT pk, {key}{cols} FROM {table} ORDER BY pk").fetchall()
    pks = np.asarray([r[0] for r in rows], dtype=np.int64)
    keep = np.ones(len(rows), dtype=bool) if used is None else np.isin(pks, used)
    kept = [r[1:] for r, k in zip(rows, keep.tolist(), strict=True) if k]
    lut = np.full(int(pks.max()) + 1 if len(pks) else 1, -1, dtype=np.int32)
    lut[pks[keep]] = np.arange(int(keep.sum()), dtype=np.int32)
    lut[0] = -1
    return ItemIndex(r[0] for r in kept), lut, kept


def _source_order(table: T, import_id: Sequence[int], seq: Sequence[int]) -> tuple[T, np.ndarray]:
    """Rows are stored in key order (fast inserts); put them back in the order of their sources."""
    order = np.lexsort((_ints(seq), _ints(import_id)))
    if np.array_equal(order, np.arange(len(order))):
        return table, order
    return table.take(order), order


def load_dataset(
    store: ProjectStore,
    *,
    criterion: str | Sequence[str] | None = None,
    annotator_kind: str | None = None,
    source: str | None = None,
    shapes: Iterable[str] = SHAPES,
) -> Dataset:
    conn = store.conn
    wanted = set(shapes)
    if not wanted <= set(SHAPES):
        raise ValidationError(f"shapes={sorted(wanted)}; use a subset of {', '.join(SHAPES)}")
    where, params = _where(conn, criterion, annotator_kind, source)
    filtered = bool(where) or wanted != set(SHAPES)

    pw = _columns(
        conn.execute(
            "SELECT a, b, outcome, strength, coalesce(context, 0), coalesce(annotator, 0), criterion, weight, "
            f"id, rationale, line, coalesce(import_id, 0), seq, tstamp FROM pairwise{where} ORDER BY pk",
            params,
        ).fetchall()
        if "pairwise" in wanted
        else [],
        14,
    )
    rk = _columns(
        conn.execute(
            "SELECT pk, coalesce(context, 0), coalesce(annotator, 0), criterion, id, line "
            f"FROM rankings{where} ORDER BY pk",
            params,
        ).fetchall()
        if "rankings" in wanted
        else [],
        6,
    )
    mem = _columns(
        conn.execute(
            "SELECT ranking, item, level FROM ranking_members "
            f"WHERE ranking IN (SELECT pk FROM rankings{where}) ORDER BY ranking, pos",
            params,
        ).fetchall()
        if "rankings" in wanted
        else [],
        3,
    )
    rt = _columns(
        conn.execute(
            "SELECT item, score, scale_min, scale_max, coalesce(attribute, 0), coalesce(context, 0), "
            f"coalesce(annotator, 0), criterion, id, line, coalesce(import_id, 0), seq FROM ratings{where} "
            "ORDER BY pk",
            params,
        ).fetchall()
        if "ratings" in wanted
        else [],
        12,
    )

    def used(*cols: Any) -> np.ndarray | None:
        return np.unique(np.concatenate([_ints(c) for c in cols])) if filtered else None

    items, item_lut, item_rows = _index(conn, "items", "id", ["text"], used(pw[0], pw[1], mem[1], rt[0]))
    contexts, ctx_lut, ctx_rows = _index(conn, "contexts", "id", ["text"], used(pw[4], rk[1], rt[5]))
    annotators, ann_lut, ann_rows = _index(
        conn, "annotators", "id", ["kind", "groups"], used(pw[5], rk[2], rt[6])
    )
    criteria, crit_lut, _ = _index(conn, "criteria", "name", [], used(pw[6], rk[3], rt[7]))
    attributes, attr_lut, _ = _index(conn, "attributes", "name", [], used(rt[4]))

    pairwise, pw_order = _source_order(
        PairwiseTable.build(
            item_lut[_ints(pw[0])],
            item_lut[_ints(pw[1])],
            np.asarray(pw[2], dtype=np.int8),
            strength=np.asarray(pw[3], dtype=np.float64),
            context=ctx_lut[_ints(pw[4])],
            annotator=ann_lut[_ints(pw[5])],
            criterion=crit_lut[_ints(pw[6])],
            weight=np.asarray(pw[7], dtype=np.float64),
            ids=pa.array(pw[8], type=pa.string()),
            rationale=pa.array(pw[9], type=pa.string()),
            line=_ints(pw[10]),
        ),
        pw[11],
        pw[12],
    )
    ranking_pks = _ints(rk[0])
    sizes = np.bincount(np.searchsorted(ranking_pks, _ints(mem[0])), minlength=len(ranking_pks))
    offsets = np.zeros(len(ranking_pks) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    rankings = RankingTable(
        offsets=offsets,
        members=item_lut[_ints(mem[1])].astype(np.int32),
        level=np.asarray(mem[2], dtype=np.int32),
        context=ctx_lut[_ints(rk[1])],
        annotator=ann_lut[_ints(rk[2])],
        criterion=crit_lut[_ints(rk[3])],
        ids=pa.array(rk[4], type=pa.string()),
        line=_ints(rk[5]),
    )
    ratings, _ = _source_order(
        RatingTable.build(
            item_lut[_ints(rt[0])],
            np.asarray(rt[1], dtype=np.float64),
            np.asarray(rt[2], dtype=np.float64),
            np.asarray(rt[3], dtype=np.float64),
            attribute=attr_lut[_ints(rt[4])],
            context=ctx_lut[_ints(rt[5])],
            annotator=ann_lut[_ints(rt[6])],
            criterion=crit_lut[_ints(rt[7])],
            ids=pa.array(rt[8], type=pa.string()),
            line=_ints(rt[9]),
        ),
        rt[10],
        rt[11],
    )
    meta: dict[str, Any] = {}
    tstamp = np.asarray(pw[13], dtype=np.float64)[pw_order]
    if len(tstamp) and not np.isnan(tstamp).all():
        meta["tstamp"] = tstamp
    for (m,) in conn.execute("SELECT meta FROM imports WHERE meta IS NOT NULL ORDER BY pk"):
        meta.update(json.loads(m))
    return Dataset(
        items=items,
        contexts=contexts,
        annotators=annotators,
        criteria=criteria,
        attributes=attributes,
        pairwise=pairwise,
        rankings=rankings,
        ratings=ratings,
        responses=responses.load(conn, items, contexts),
        item_text={r[0]: r[1] for r in item_rows if r[1] is not None},
        context_text={r[0]: r[1] for r in ctx_rows if r[1] is not None},
        annotator_kind={r[0]: r[1] for r in ann_rows if r[1] is not None},
        annotator_groups={r[0]: json.loads(r[2]) for r in ann_rows if r[2] is not None},
        meta=meta,
        source=str(store.path),
    )
