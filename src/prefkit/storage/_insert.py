"""Writing judgment rows: the id check against the store, and chunked inserts (one transaction, held by the
caller; see :mod:`prefkit.storage.write`).

Rows of pairwise and rating tables are inserted in key order (anonymous rows by digest, rows with ids by
id) so the unique indexes grow almost sequentially; ``seq`` keeps each row's position in its source.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from prefkit.data.model import Dataset
from prefkit.errors import InputError
from prefkit.storage import keys as K
from prefkit.storage._entities import EntityMaps, float_column, pk_column
from prefkit.storage.lookup import Lookup

CHUNK = 50_000
Progress = Callable[[int], Any]


def check_known_ids(
    conn: sqlite3.Connection,
    lookup: Lookup,
    table: str,
    jk: K.JudgmentKeys,
    lines: np.ndarray,
    *,
    source: str | None,
) -> None:
    """A judgment id already in the store must come with the same content (the first clash, by line, is
    reported)."""
    named = np.flatnonzero(jk.occurrence < 0)
    if not len(named):
        return
    ids = jk.ids.take(pa.array(named)).to_pylist()
    stored = lookup.rows(
        conn,
        f"SELECT t.id, t.d1, t.d2, t.line, i.source FROM {table} t LEFT JOIN imports i ON i.pk = t.import_id",
        "t.id",
        ids,
    )
    if not stored:
        return
    by_id = {r[0]: r[1:] for r in stored}
    d1, d2, ln = jk.d1[named].tolist(), jk.d2[named].tolist(), lines[named].tolist()
    clashes = [
        j
        for j, ident in enumerate(ids)
        if (row := by_id.get(ident)) is not None and (row[0] != d1[j] or row[1] != d2[j])
    ]
    if not clashes:
        return
    j = min(clashes, key=lambda j: ln[j])
    _, _, old_line, old_source = by_id[ids[j]]
    where = f" (from {old_source or 'an earlier import'}" + (f" line {old_line})" if old_line else ")")
    raise InputError(
        f"judgment id {ids[j]!r} is already in the store with different content{where}; "
        f"give the new judgment its own id, or fix the row",
        path=source,
        line=int(ln[j]) or None,
    )


def _executemany(conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    conn.executemany(sql, rows)


def _insert_chunked(
    conn: sqlite3.Connection, sql: str, rows: Iterable[tuple[Any, ...]], advance: Progress
) -> int:
    """``executemany`` in chunks of CHUNK rows; returns how many rows were inserted."""
    it = iter(rows)
    added = 0
    while chunk := list(itertools.islice(it, CHUNK)):
        before = conn.total_changes
        _executemany(conn, sql, chunk)
        added += conn.total_changes - before
        advance(len(chunk))
    return added


def _identity(jk: K.JudgmentKeys, order: np.ndarray, seq0: int) -> list[list[Any]]:
    """Columns id, d1, d2, occurrence, seq (``seq0`` + row position) in ``order``."""
    occ = jk.occurrence[order]
    occ_col = occ.astype(object)
    occ_col[occ < 0] = None
    return [
        jk.ids.take(pa.array(order)).to_pylist(),
        jk.d1[order].tolist(),
        jk.d2[order].tolist(),
        occ_col.tolist(),
        (order + seq0).tolist(),
    ]


def insert_pairwise(
    conn: sqlite3.Connection,
    ds: Dataset,
    jk: K.JudgmentKeys,
    m: EntityMaps,
    imp: int,
    seq0: int,
    advance: Progress,
) -> int:
    t = ds.pairwise
    n = len(t)
    if not n:
        return 0
    o = jk.insert_order()
    rows = zip(
        *_identity(jk, o, seq0),
        m.items[t.a[o]].tolist(),
        m.items[t.b[o]].tolist(),
        t.outcome[o].tolist(),
        float_column(t.strength[o]),
        pk_column(m.contexts, t.context[o]),
        pk_column(m.annotators, t.annotator[o]),
        m.criteria[t.criterion[o]].tolist(),
        np.asarray(t.weight, dtype=np.float64)[o].tolist(),
        t.rationale.cast(pa.string()).take(pa.array(o)).to_pylist(),
        float_column(t.tstamp[o]),
        itertools.repeat(imp, n),
        t.line[o].tolist(),
        strict=False,
    )
    sql = (
        "INSERT OR IGNORE INTO pairwise(id, d1, d2, occurrence, seq, a, b, outcome, strength, context, "
        "annotator, criterion, weight, rationale, tstamp, import_id, line) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    return _insert_chunked(conn, sql, rows, advance)


def insert_rankings(
    conn: sqlite3.Connection,
    ds: Dataset,
    jk: K.JudgmentKeys,
    m: EntityMaps,
    imp: int,
    seq0: int,
    advance: Progress,
) -> int:
    t = ds.rankings
    n = len(t)
    if not n:
        return 0
    members = m.items[t.members].tolist()
    level = t.level.tolist()
    offsets = t.offsets.tolist()
    ident = list(zip(*_identity(jk, np.arange(n), seq0), strict=True))
    ctx, ann = pk_column(m.contexts, t.context), pk_column(m.annotators, t.annotator)
    crit, lines, tstamp = m.criteria[t.criterion].tolist(), t.line.tolist(), float_column(t.tstamp)
    sql = (
        "INSERT OR IGNORE INTO rankings(id, d1, d2, occurrence, seq, context, annotator, criterion, "
        "tstamp, import_id, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    added = 0
    member_rows: list[tuple[int, int, int, int]] = []
    for r in range(n):
        cur = conn.execute(sql, (*ident[r], ctx[r], ann[r], crit[r], tstamp[r], imp, lines[r]))
        if cur.rowcount == 1:
            added += 1
            pk = int(cur.lastrowid or 0)
            lo = offsets[r]
            member_rows.extend((pk, j - lo, members[j], level[j]) for j in range(lo, offsets[r + 1]))
        if (r + 1) % CHUNK == 0:
            advance(CHUNK)
    sql = "INSERT INTO ranking_members(ranking, pos, item, level) VALUES (?, ?, ?, ?)"
    _executemany(conn, sql, member_rows)
    advance(n % CHUNK)
    return added


def insert_ratings(
    conn: sqlite3.Connection,
    ds: Dataset,
    jk: K.JudgmentKeys,
    m: EntityMaps,
    imp: int,
    seq0: int,
    advance: Progress,
) -> int:
    t = ds.ratings
    n = len(t)
    if not n:
        return 0
    o = jk.insert_order()
    rows = zip(
        *_identity(jk, o, seq0),
        m.items[t.item[o]].tolist(),
        np.asarray(t.score, dtype=np.float64)[o].tolist(),
        float_column(t.scale_min[o]),
        float_column(t.scale_max[o]),
        pk_column(m.attributes, t.attribute[o]),
        pk_column(m.contexts, t.context[o]),
        pk_column(m.annotators, t.annotator[o]),
        m.criteria[t.criterion[o]].tolist(),
        float_column(t.tstamp[o]),
        itertools.repeat(imp, n),
        t.line[o].tolist(),
        strict=False,
    )
    sql = (
        "INSERT OR IGNORE INTO ratings(id, d1, d2, occurrence, seq, item, score, scale_min, scale_max, "
        "attribute, context, annotator, criterion, tstamp, import_id, line) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    return _insert_chunked(conn, sql, rows, advance)
