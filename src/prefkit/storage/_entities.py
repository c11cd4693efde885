"""Upserting the named entities of a Dataset (items, contexts, annotators, criteria, attributes).

Set-based: the names of one index go to a TEMP staging table in code order, conflicting attribute values
are looked for with one join, new names are inserted in code order (so a fresh store numbers them like the
dataset does), and the map code -> store pk comes back as a numpy array. Entity attributes (text, kind,
groups) are write-once: a stored value is filled in when missing, never overwritten; a different value is
an error that names the entity.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.data.model import ANNOTATOR_KINDS, Dataset
from prefkit.errors import InputError, ValidationError


@dataclass(frozen=True)
class EntityMaps:
    """Store primary keys by dataset code, one array per index, and how many names were new."""

    items: np.ndarray
    contexts: np.ndarray
    annotators: np.ndarray
    criteria: np.ndarray
    attributes: np.ndarray
    new_items: int
    new_contexts: int
    new_annotators: int


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def upsert(
    conn: sqlite3.Connection,
    table: str,
    key: str,
    names: Sequence[str],
    values: dict[str, Sequence[str | None]],
    *,
    source: str | None,
) -> tuple[np.ndarray, int]:
    """Insert the missing ``names`` (with attribute ``values``); return (pk by code, number of new names)."""
    cols = list(values)
    stage = f"_stage_{table}"
    col_defs = "".join(f", {c} TEXT" for c in cols)
    conn.execute(f"CREATE TEMP TABLE {stage} (pos INTEGER PRIMARY KEY, {key} TEXT NOT NULL{col_defs})")
    try:
        marks = ", ".join("?" * (len(cols) + 2))
        rows = zip(range(len(names)), names, *(values[c] for c in cols), strict=True)
        conn.executemany(f"INSERT INTO {stage} VALUES ({marks})", rows)
        for c in cols:
            clash = conn.execute(
                f"SELECT s.{key}, t.{c}, s.{c} FROM {stage} s JOIN {table} t ON t.{key} = s.{key} "
                f"WHERE s.{c} IS NOT NULL AND t.{c} IS NOT NULL AND s.{c} != t.{c} LIMIT 1"
            ).fetchone()
            if clash:
                raise InputError(
                    f"{table[:-1] if table != 'criteria' else 'criterion'} {clash[0]!r} is already in the store "
                    f"with {c} {_short(clash[1])}, this source says {_short(clash[2])}; use a new id "
                    f"for the new one or make the two agree",
                    path=source,
                )
        before = _count(conn, table)
        col_list = "".join(f", {c}" for c in cols)
        update = ", ".join(f"{c} = coalesce({table}.{c}, excluded.{c})" for c in cols)
        conflict = f"DO UPDATE SET {update}" if cols else "DO NOTHING"
        conn.execute(
            f"INSERT INTO {table}({key}{col_list}) SELECT {key}{col_list} FROM {stage} WHERE true "
            f"ORDER BY pos ON CONFLICT({key}) {conflict}"
        )
        added = _count(conn, table) - before
        pks = np.zeros(len(names), dtype=np.int64)
        for pos, pk in conn.execute(f"SELECT s.pos, t.pk FROM {stage} s JOIN {table} t ON t.{key} = s.{key}"):
            pks[pos] = pk
    finally:
        conn.execute(f"DROP TABLE {stage}")
    return pks, added


def _short(v: str) -> str:
    return repr(v if len(v) <= 60 else v[:57] + "...")


def upsert_all(conn: sqlite3.Connection, ds: Dataset, *, source: str | None) -> EntityMaps:
    """Upsert every index of ``ds``; the caller holds the transaction."""
    items = ds.items.names
    contexts = ds.contexts.names
    annotators = ds.annotators.names
    bad_kind = {a: k for a, k in ds.annotator_kind.items() if k not in ANNOTATOR_KINDS}
    if bad_kind:
        a, k = next(iter(bad_kind.items()))
        raise ValidationError(f"annotator {a!r} has kind {k!r}; use one of {', '.join(ANNOTATOR_KINDS)}")
    groups = [ds.annotator_groups.get(a) for a in annotators]
    item_pk, new_items = upsert(
        conn, "items", "id", items, {"text": [ds.item_text.get(i) for i in items]}, source=source
    )
    ctx_pk, new_ctx = upsert(
        conn, "contexts", "id", contexts, {"text": [ds.context_text.get(c) for c in contexts]}, source=source
    )
    ann_pk, new_ann = upsert(
        conn,
        "annotators",
        "id",
        annotators,
        {
            "kind": [ds.annotator_kind.get(a) for a in annotators],
            "groups": [None if g is None else json.dumps(g, sort_keys=True) for g in groups],
        },
        source=source,
    )
    crit_pk, _ = upsert(conn, "criteria", "name", ds.criteria.names, {}, source=source)
    attr_pk, _ = upsert(conn, "attributes", "name", ds.attributes.names, {}, source=source)
    return EntityMaps(item_pk, ctx_pk, ann_pk, crit_pk, attr_pk, new_items, new_ctx, new_ann)


def pk_column(pks: np.ndarray, codes: np.ndarray) -> list[int | None]:
    """Store pks for dataset ``codes`` as a Python list, ``None`` where the code is -1 (absent)."""
    codes = np.asarray(codes, dtype=np.int64)
    absent = codes < 0
    if not len(codes):
        return []
    if absent.all():
        return [None] * len(codes)
    mapped = pks[np.where(absent, 0, codes)]
    if not absent.any():
        return mapped.tolist()
    out = mapped.astype(object)
    out[absent] = None
    return out.tolist()


def float_column(x: np.ndarray) -> list[float | None]:
    """A float column as a Python list, ``None`` for nan."""
    x = np.asarray(x, dtype=np.float64)
    nan = np.isnan(x)
    if not nan.any():
        return x.tolist()
    out = x.astype(object)
    out[nan] = None
    return out.tolist()
