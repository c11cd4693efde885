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
from prefkit.errors import DataProblemError, ValidationError
from prefkit.storage import responses
from prefkit.storage.sources import match_sources

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
        sources = match_sources(conn, source)
        clauses.append(
            f"import_id IN (SELECT pk FROM imports WHERE source IN ({', '.join('?' * len(sources))}))"
        )
        params.extend(sources)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _require_match(
    conn: sqlite3.Connection,
    where: str,
    params: list[Any],
    wanted: set[str],
    criterion: str | Sequence[str] | None,
    annotator_kind: str | None,
    source: str | None,
) -> None:
    """DataProblemError listing what the store holds when no judgment of ``wanted`` passes the filters."""
    for table in SHAPES:
        if table in wanted and conn.execute(f"SELECT 1 FROM {table}{where} LIMIT 1", params).fetchone():
            return
    asked = [
        f"{name} {v if isinstance(v, str) else ', '.join(v)!s}"
        for name, v in (("criterion", criterion), ("annotator kind", annotator_kind), ("source", source))
        if v is not None
    ]
    if len(wanted) < len(SHAPES):
        asked.append("shapes " + ", ".join(sorted(wanted)))
    what = f"no judgments match {' and '.join(asked)}" if asked else "nothing to read"
    raise DataProblemError(f"{what}: {holdings(conn)}")


def _columns(rows: list[tuple[Any, ...]], n_cols: int) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(n_cols)]


def _ints(col: Iterable[Any]) -> np.ndarray:
    return np.asarray(col, dtype=np.int64)


def _floats(col: Sequence[Any]) -> np.ndarray:
    """A REAL column with NULLs as a float array, nan for NULL."""
    return np.array([np.nan if v is None else v for v in col], dtype=np.float64)


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


def holdings(conn: sqlite3.Connection) -> str:
    """What the store holds, by shape, annotator kind, criterion and source: for "nothing matched" errors."""
    parts: list[str] = []
    kinds: dict[str, int] = {}
    crits: dict[str, int] = {}
    sources: dict[str, int] = {}
    shapes: list[str] = []
    for table in SHAPES:
        n = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        if not n:
            continue
        shapes.append(f"{n:,} {table}")
        for k, c in conn.execute(
            "SELECT CASE WHEN t.annotator IS NULL THEN 'no annotator' ELSE coalesce(a.kind, 'kind unknown') "
            f"END, count(*) FROM {table} t LEFT JOIN annotators a ON a.pk = t.annotator GROUP BY 1"
        ):
            kinds[k] = kinds.get(k, 0) + int(c)
        for name, c in conn.execute(
            f"SELECT c.name, count(*) FROM {table} t JOIN criteria c ON c.pk = t.criterion GROUP BY 1"
        ):
            crits[name] = crits.get(name, 0) + int(c)
        for src, c in conn.execute(
            f"SELECT i.source, count(*) FROM {table} t LEFT JOIN imports i ON i.pk = t.import_id GROUP BY 1"
        ):
            sources[str(src)] = sources.get(str(src), 0) + int(c)
    if not shapes:
        return "the store holds no judgments; import some first (prefkit import FILE --db STORE)"

    def listing(d: dict[str, int]) -> str:
        items = sorted(d.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{k} {v:,}" for k, v in items[:10])
        return shown + (f", ... ({len(items) - 10} more)" if len(items) > 10 else "")

    parts.append("the store holds " + ", ".join(shapes))
    parts.append("by annotator kind: " + listing(kinds))
    parts.append("by criterion: " + listing(crits))
    parts.append("by source: " + listing(sources))
    return "; ".join(parts)


def load_dataset(
    store: ProjectStore,
    *,
    criterion: str | Sequence[str] | None = None,
    annotator_kind: str | None = None,
    source: str | None = None,
    shapes: Iterable[str] = SHAPES,
    empty_ok: bool = True,
) -> Dataset:
    conn = store.conn
    wanted = set(shapes)
    if not wanted <= set(SHAPES):
        raise ValidationError(f"shapes={sorted(wanted)}; use a subset of {', '.join(SHAPES)}")
    where, params = _where(conn, criterion, annotator_kind, source)
    filtered = bool(where) or wanted != set(SHAPES)
    if not empty_ok:
        _require_match(conn, where, params, wanted, criterion, annotator_kind, source)

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
            "SELECT pk, coalesce(context, 0), coalesce(annotator, 0), criterion, id, line, tstamp "
            f"FROM rankings{where} ORDER BY pk",
            params,
        ).fetchall()
        if "rankings" in wanted
        else [],
        7,
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
            f"coalesce(annotator, 0), criterion, id, line, coalesce(import_id, 0), seq, tstamp FROM ratings{where} "
            "ORDER BY pk",
            params,
        ).fetchall()
        if "ratings" in wanted
        else [],
        13,
    )

    def used(*cols: Any) -> np.ndarray | None:
        return np.unique(np.concatenate([_ints(c) for c in cols])) if filtered else None

    items, item_lut, item_rows = _index(conn, "items", "id", ["text"], used(pw[0], pw[1], mem[1], rt[0]))
    contexts, ctx_lut, ctx_rows = _index(conn, "contexts", "id", ["text", "condition"], used(pw[4], rk[1], rt[5]))
    annotators, ann_lut, ann_rows = _index(
        conn, "annotators", "id", ["kind", "groups"], used(pw[5], rk[2], rt[6])
    )
    criteria, crit_lut, _ = _index(conn, "criteria", "name", [], used(pw[6], rk[3], rt[7]))
    attributes, attr_lut, _ = _index(conn, "attributes", "name", [], used(rt[4]))

    pairwise, _ = _source_order(
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
            tstamp=_floats(pw[13]),
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
        tstamp=_floats(rk[6]),
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
            tstamp=_floats(rt[12]),
        ),
        rt[10],
        rt[11],
    )
    meta: dict[str, Any] = {}
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
        context_condition={r[0]: r[2] for r in ctx_rows if r[2] is not None},
        annotator_kind={r[0]: r[1] for r in ann_rows if r[1] is not None},
        annotator_groups={r[0]: json.loads(r[2]) for r in ann_rows if r[2] is not None},
        meta=meta,
        source=str(store.path),
    )
