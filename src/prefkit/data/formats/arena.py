"""Chatbot Arena battle logs: ``model_a, model_b, winner`` (+ judge, question_id, id/battle_id, tstamp).

``winner`` is one of ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``; anything else is an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prefkit.data import _tabular
from prefkit.data._build import Builder, Context
from prefkit.data.formats._common import name, number, require
from prefkit.data.model import (
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_BOTH_BAD,
    OUTCOME_TIE,
    Dataset,
    PairwiseTable,
)
from prefkit.errors import DataProblemError

REQUIRED = ("model_a", "model_b", "winner")
WINNERS = {"model_a": OUTCOME_A, "model_b": OUTCOME_B, "tie": OUTCOME_TIE, "tie (bothbad)": OUTCOME_BOTH_BAD}
LABELS = {v: k for k, v in WINNERS.items()}
ID_COLUMNS = ("id", "battle_id")


def winner_problem(w: Any) -> str:
    return (
        f"unknown winner {w!r}; expected one of model_a, model_b, tie, tie (bothbad) "
        "(fix the label; prefkit never guesses)"
    )


def parse(records: Iterator[tuple[int, dict[str, Any]]], b: Builder) -> Iterator[None]:
    for line, rec in records:
        if require(b, rec, line, REQUIRED, "arena battle"):
            w = rec["winner"]
            outcome = WINNERS.get(w) if isinstance(w, str) else None
            if outcome is None:
                b.ctx.problem(line, winner_problem(w))
            else:
                try:
                    t = number(rec.get("tstamp"))
                except ValueError:
                    b.ctx.problem(line, f"tstamp {rec['tstamp']!r} is not a number (Unix seconds)")
                    yield
                    continue
                ident = name(rec.get("id")) or name(rec.get("battle_id"))
                b.pair(
                    str(rec["model_a"]),
                    str(rec["model_b"]),
                    outcome,
                    line=line,
                    context=name(rec.get("question_id")),
                    annotator=name(rec.get("judge")),
                    ident=ident,
                    tstamp=math.nan if t is None else t,
                )
        yield


def parquet_chunks(path: str | Path, t: Dataset, ctx: Context, chunk_rows: int) -> Iterator[Dataset]:
    """Vectorised reading of a (possibly huge) Parquet battle log, one record batch at a time."""
    names = _tabular.columns(path, "parquet") or []
    id_col = next((c for c in ID_COLUMNS if c in names), None)
    wanted = [
        c for c in (*REQUIRED, "question_id", "judge", id_col, "tstamp") if c is not None and c in names
    ]
    labels = pa.array(list(WINNERS))
    row0 = 0
    for batch in _tabular.parquet_batches(path, chunk_rows, wanted):
        n = batch.num_rows
        line = np.arange(row0 + 1, row0 + n + 1, dtype=np.int64)
        row0 += n
        ma = pc.cast(batch.column("model_a"), pa.string())
        mb = pc.cast(batch.column("model_b"), pa.string())
        w = batch.column("winner")
        code = pc.index_in(pc.cast(w, pa.string()), value_set=labels)
        bad = pc.or_(pc.or_(pc.is_null(code), pc.is_null(ma)), pc.or_(pc.is_null(mb), pc.equal(ma, mb)))
        bad_np = np.asarray(pc.fill_null(bad, True))
        keep = None
        if bad_np.any():
            for i in np.flatnonzero(bad_np):
                a_i, b_i, w_i = ma[i].as_py(), mb[i].as_py(), w[i].as_py()
                if a_i is None or b_i is None:
                    ctx.problem(int(line[i]), "missing value for model_a or model_b; every battle needs both")
                elif WINNERS.get(w_i) is None:
                    ctx.problem(int(line[i]), winner_problem(w_i))
                else:
                    ctx.problem(
                        int(line[i]),
                        f"item {a_i!r} is compared with itself; fix one of the two names or drop the row",
                    )
            keep = pa.array(~bad_np)
            batch = batch.filter(keep)
            ma, mb, code, line = ma.filter(keep), mb.filter(keep), code.filter(keep), line[~bad_np]
        ids = None
        if id_col is not None:
            ids = pc.cast(batch.column(id_col), pa.string())
            dup = [not ctx.check_id(v, int(ln)) for v, ln in zip(ids.to_pylist(), line.tolist(), strict=True)]
            if any(dup):  # only reachable when lenient
                ok = pa.array(~np.asarray(dup))
                batch, ma, mb, code, ids = (x.filter(ok) for x in (batch, ma, mb, code, ids))
                line = line[~np.asarray(dup)]
        pw = PairwiseTable.build(
            t.items.encode(ma),
            t.items.encode(mb),
            np.asarray(code, dtype=np.int8),
            context=t.contexts.encode(batch.column("question_id")) if "question_id" in wanted else None,
            annotator=t.annotators.encode(batch.column("judge")) if "judge" in wanted else None,
            ids=ids,
            line=line,
            tstamp=_seconds(batch.column("tstamp")) if "tstamp" in wanted else None,
        )
        yield Dataset(
            items=t.items,
            contexts=t.contexts,
            annotators=t.annotators,
            criteria=t.criteria,
            attributes=t.attributes,
            pairwise=pw,
            item_text=t.item_text,
            context_text=t.context_text,
            annotator_kind=t.annotator_kind,
            annotator_groups=t.annotator_groups,
            meta=t.meta,
            source=t.source,
        )


def _seconds(col: pa.Array) -> np.ndarray:
    if pa.types.is_timestamp(col.type):
        unit = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[col.type.unit]
        col = pc.divide(pc.cast(pc.cast(col, pa.int64()), pa.float64()), unit)
    return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def to_table(ds: Dataset) -> pa.Table:
    """The battle log of ``ds``'s pairwise judgments as an Arrow table (model_a, model_b, winner, ...)."""
    if len(ds.rankings) or len(ds.ratings):
        raise DataProblemError(
            "an arena log holds only pairwise battles; convert rankings/ratings to pairs first "
            "(prefkit.data.convert.ranking_to_pairs / ratings_to_pairs, or `prefkit convert`)"
        )
    pw = ds.pairwise
    names = np.asarray(ds.items.names + [""], dtype=object)
    cols: dict[str, Any] = {
        "model_a": pa.array(names[pw.a], pa.string()),
        "model_b": pa.array(names[pw.b], pa.string()),
        "winner": pa.array(np.asarray([LABELS[i] for i in range(4)], dtype=object)[pw.outcome], pa.string()),
    }
    if (pw.context >= 0).any():
        cols["question_id"] = pa.array(ds.contexts.decode(pw.context), pa.string())
    if (pw.annotator >= 0).any():
        cols["judge"] = pa.array(ds.annotators.decode(pw.annotator), pa.string())
    if pw.ids.null_count < len(pw):
        cols["id"] = pw.ids
    if not np.isnan(pw.tstamp).all():
        cols["tstamp"] = pa.array(pw.tstamp, pa.float64(), from_pandas=True)
    return pa.table(cols)


def write(ds: Dataset, path: str | Path, container: str) -> int:
    return _tabular.write_rows(path, to_table(ds), container)
