"""Upserting the named entities of a Dataset (items, contexts, annotators, criteria, attributes).

One upsert for every batch size: the stored rows of the names are looked up with the given
:class:`~prefkit.storage.lookup.Lookup` strategy, a conflicting attribute value is an error that names the
entity (entity attributes -- text, kind, groups -- are write-once: a stored value is filled in when missing,
never overwritten), and the new names are inserted in code order with explicit primary keys following the
largest one (so a fresh store numbers them like the dataset does). Returns the map code -> store pk.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.data.model import ANNOTATOR_KINDS, Dataset
from prefkit.errors import InputError, ValidationError
from prefkit.storage.lookup import Lookup


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


def upsert(
    conn: sqlite3.Connection,
    lookup: Lookup,
    table: str,
    key: str,
    names: Sequence[str],
    values: dict[str, Sequence[str | None]],
    *,
    source: str | None,
) -> tuple[np.ndarray, int]:
    """Insert the missing ``names`` (with attribute ``values``); return (pk by code, number of new names)."""
    cols = list(values)
    col_list = "".join(f", {c}" for c in cols)
    stored = {r[0]: r[1:] for r in lookup.rows(conn, f"SELECT {key}, pk{col_list} FROM {table}", key, names)}
    pk_list: list[int] = [0] * len(names)
    new: list[int] = []
    fills: dict[str, list[tuple[str, int]]] = {c: [] for c in cols}
    for pos, name in enumerate(names):
        row = stored.get(name)
        if row is None:
            new.append(pos)
            continue
        pk_list[pos] = row[0]
        for c, old in zip(cols, row[1:], strict=True):
            value = values[c][pos]
            if value is None or value == old:
                continue
            if old is not None:
                what = "criterion" if table == "criteria" else table[:-1]
                raise InputError(
                    f"{what} {name!r} is already in the store with {c} {_short(old)}, this source says "
                    f"{_short(value)}; use a new id for the new one or make the two agree",
                    path=source,
                )
            fills[c].append((value, int(row[0])))
    for c, rows in fills.items():
        if rows:
            conn.executemany(f"UPDATE {table} SET {c} = ? WHERE pk = ?", rows)
    pks = np.asarray(pk_list, dtype=np.int64)
    if new:
        first = int(conn.execute(f"SELECT coalesce(max(pk), 0) + 1 FROM {table}").fetchone()[0])
        new_pks = range(first, first + len(new))
        pks[new] = np.asarray(new_pks, dtype=np.int64)
        marks = ", ".join("?" * (len(cols) + 2))
        columns = [new_pks, [names[p] for p in new], *([values[c][p] for p in new] for c in cols)]
        conn.executemany(
            f"INSERT INTO {table}(pk, {key}{col_list}) VALUES ({marks})", zip(*columns, strict=True)
        )
    return pks, len(new)


def _short(v: str) -> str:
    return repr(v if len(v) <= 60 else v[:57] + "...")


def upsert_all(conn: sqlite3.Connection, ds: Dataset, lookup: Lookup, *, source: str | None) -> EntityMaps:
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
        conn, lookup, "items", "id", items, {"text": [ds.item_text.get(i) for i in items]}, source=source
    )
    ctx_pk, new_ctx = upsert(
        conn,
        lookup,
        "contexts",
        "id",
        contexts,
        {
            "text": [ds.context_text.get(c) for c in contexts],
            "condition": [ds.context_condition.get(c) for c in contexts],
        },
        source=source,
    )
    ann_pk, new_ann = upsert(
        conn,
        lookup,
        "annotators",
        "id",
        annotators,
        {
            "kind": [ds.annotator_kind.get(a) for a in annotators],
            "groups": [None if g is None else json.dumps(g, sort_keys=True) for g in groups],
        },
        source=source,
    )
    crit_pk, _ = upsert(conn, lookup, "criteria", "name", ds.criteria.names, {}, source=source)
    attr_pk, _ = upsert(conn, lookup, "attributes", "name", ds.attributes.names, {}, source=source)
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
