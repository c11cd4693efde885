"""The response texts of the store: one row per (context, item), the text of a model's answer to a prompt.

Kept apart from the judgment write path: :func:`save` runs inside the import's transaction after the entities
are upserted, :func:`load` fills ``Dataset.responses`` for the items and contexts a loaded dataset keeps. A
stored text is write-once: the same text again is a no-op, a different one aborts the import (nothing stored).
"""

from __future__ import annotations

import sqlite3

import numpy as np

from prefkit.data.index import ItemIndex
from prefkit.data.model import Dataset, ResponseTable
from prefkit.errors import StoreError


def save(conn: sqlite3.Connection, ds: Dataset, item_pks: np.ndarray, context_pks: np.ndarray) -> int:
    """Store ``ds.responses`` (pks by dataset code from the entity upsert); return the number of new texts."""
    r = ds.responses
    if not len(r):
        return 0
    ctx = [int(context_pks[c]) if c >= 0 else None for c in r.context.tolist()]
    item = [int(item_pks[i]) for i in r.item.tolist()]
    text = r.text.to_pylist()
    before = conn.total_changes
    conn.executemany(
        "INSERT INTO responses(context, item, text) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        zip(ctx, item, text, strict=True),
    )
    added = conn.total_changes - before
    if added < len(r):
        for k, (c, i, t) in enumerate(zip(ctx, item, text, strict=True)):
            row = conn.execute(
                "SELECT text FROM responses WHERE coalesce(context, 0) = ? AND item = ?", (c or 0, i)
            ).fetchone()
            if row is not None and row[0] != t:
                cname = ds.contexts.name(int(r.context[k])) if r.context[k] >= 0 else None
                raise StoreError(
                    f"the store already has a different response of item {ds.items.name(int(r.item[k]))!r} "
                    f"in context {cname!r}; nothing was imported (give the new answers another question_id)"
                )
    return added


def load(conn: sqlite3.Connection, items: ItemIndex, contexts: ItemIndex) -> ResponseTable:
    """The stored responses whose item (and context) are in the given indexes, as a ResponseTable."""
    rows = conn.execute(
        "SELECT c.id, i.id, r.text FROM responses r JOIN items i ON i.pk = r.item "
        "LEFT JOIN contexts c ON c.pk = r.context ORDER BY r.rowid"
    ).fetchall()
    cs, its, texts = [], [], []
    for cname, iname, text in rows:
        if iname not in items or (cname is not None and cname not in contexts):
            continue
        cs.append(contexts.code(cname) if cname is not None else -1)
        its.append(items.code(iname))
        texts.append(text)
    return ResponseTable.build(np.asarray(cs, np.int32), np.asarray(its, np.int32), texts)
