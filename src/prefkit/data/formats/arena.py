"""Chatbot Arena battle logs: ``model_a, model_b, winner`` (+ judge, question_id, id/battle_id, tstamp).

``winner`` is one of ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``; anything else is an error. The
one-hot columns ``winner_model_a, winner_model_b, winner_tie`` (exactly one of them 1) may stand in for it.

Optional texts: ``prompt``, ``response_a``, ``response_b`` as plain strings, or ``conversation_a`` /
``conversation_b`` as chat-message lists (``[{"role": "user", "content": ...}, {"role": "assistant", ...}]``,
the public Chatbot Arena conversation sets): the user turns give the prompt, the assistant turns the response.
The responses are kept per (context, model) in ``Dataset.responses``; the context is ``question_id`` when
given, else a content id of the prompt. An optional ``judge_kind`` (human or model) sets the kind of the
``judge`` annotator (LLM judges' verdicts written by ``prefkit judge run`` say "model").
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
from prefkit.data.formats._common import name, number, require, text_id
from prefkit.data.model import (
    ANNOTATOR_KINDS,
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
ONE_HOT = ("winner_model_a", "winner_model_b", "winner_tie")
TEXT_COLUMNS = ("prompt", "response_a", "response_b", "conversation_a", "conversation_b")


def required_columns(columns: list[str] | None) -> tuple[str, ...]:
    """The columns a file must have: ``winner`` or, when it has none, the three one-hot winner columns."""
    if columns is not None and "winner" not in columns and any(c in columns for c in ONE_HOT):
        return ("model_a", "model_b", *ONE_HOT)
    return REQUIRED


def needs_row_reader(columns: list[str]) -> bool:
    """Texts and one-hot winners are read row by row (the vectorised Parquet path reads battles only)."""
    return "winner" not in columns or any(c in columns for c in TEXT_COLUMNS)


def winner_problem(w: Any) -> str:
    return (
        f"unknown winner {w!r}; expected one of model_a, model_b, tie, tie (bothbad) "
        "(fix the label; prefkit never guesses)"
    )


def _one_hot(rec: dict[str, Any], line: int, b: Builder) -> int | None:
    flags = []
    for c in ONE_HOT:
        try:
            v = number(rec.get(c))
        except ValueError:
            v = None
        if v not in (0.0, 1.0):
            b.ctx.problem(
                line, f"{c} is {rec.get(c)!r}; winner_model_a/winner_model_b/winner_tie must be 0 or 1"
            )
            return None
        flags.append(v == 1.0)
    if sum(flags) != 1:
        b.ctx.problem(
            line,
            "exactly one of winner_model_a, winner_model_b, winner_tie must be 1; fix the row or drop it",
        )
        return None
    return (OUTCOME_A, OUTCOME_B, OUTCOME_TIE)[flags.index(True)]


def _outcome(rec: dict[str, Any], line: int, b: Builder) -> int | None:
    if "winner" not in rec and any(c in rec for c in ONE_HOT):
        return _one_hot(rec, line, b)
    w = rec.get("winner")
    outcome = WINNERS.get(w) if isinstance(w, str) else None
    if outcome is None:
        b.ctx.problem(line, winner_problem(w))
    return outcome


def _turns(conv: Any, role: str, line: int, b: Builder, column: str) -> str | None:
    """The ``role`` turns of a chat-message list joined by blank lines (None after reporting a bad list)."""
    if not isinstance(conv, list) or not all(isinstance(m, dict) and "role" in m for m in conv):
        b.ctx.problem(line, f"{column} must be a list of {{role, content}} messages")
        return None
    parts = []
    for m in conv:
        if m["role"] == role:
            c = m.get("content")
            if isinstance(c, list):  # multimodal content parts: keep the text ones
                c = "\n".join(str(p.get("text", "")) for p in c if isinstance(p, dict))
            parts.append("" if c is None else str(c))
    return "\n\n".join(parts)


def _texts(rec: dict[str, Any], line: int, b: Builder) -> tuple[str | None, str | None, str | None] | None:
    """``(prompt, response_a, response_b)`` of a row (None entries when absent); None after a problem."""
    prompt, ra, rb = rec.get("prompt"), rec.get("response_a"), rec.get("response_b")
    for col, side in (("conversation_a", "a"), ("conversation_b", "b")):
        conv = rec.get(col)
        if conv is None:
            continue
        user, answer = _turns(conv, "user", line, b, col), _turns(conv, "assistant", line, b, col)
        if user is None or answer is None:
            return None
        prompt = prompt if prompt is not None else user
        if side == "a":
            ra = answer
        else:
            rb = answer
    for col, v in (("prompt", prompt), ("response_a", ra), ("response_b", rb)):
        if v is not None and not isinstance(v, str):
            b.ctx.problem(line, f"{col} must be a string (or use conversation_a/_b for message lists)")
            return None
    return prompt, ra, rb


def _context(rec: dict[str, Any], prompt: str | None, line: int, b: Builder) -> tuple[str | None, bool]:
    """The row's context id (question_id, else the prompt's content id) and whether it is consistent."""
    qid = name(rec.get("question_id"))
    if prompt is None:
        return qid, True
    ctx = qid if qid is not None else "p" + text_id(prompt)
    known = b.t.context_text.get(ctx)
    if known is not None and known != prompt:
        b.ctx.problem(line, f"question_id {ctx!r} has a different prompt text on an earlier line; fix one")
        return ctx, False
    b.t.context_text[ctx] = prompt
    return ctx, True


def _responses(
    rec: dict[str, Any],
    texts: tuple[str | None, str | None, str | None],
    ctx: str | None,
    line: int,
    b: Builder,
) -> bool:
    for side, text in (("model_a", texts[1]), ("model_b", texts[2])):
        if text is None:
            continue
        if not b.response(ctx, str(rec[side]), text, line=line):
            return False
    return True


def parse(records: Iterator[tuple[int, dict[str, Any]]], b: Builder) -> Iterator[None]:
    for line, rec in records:
        if require(b, rec, line, ("model_a", "model_b"), "arena battle"):
            outcome = _outcome(rec, line, b)
            texts = _texts(rec, line, b) if outcome is not None else None
            context, ok = _context(rec, texts[0], line, b) if texts is not None else (None, False)
            if ok and texts is not None and outcome is not None:
                ident = name(rec.get("id")) or name(rec.get("battle_id"))
                ok = b.pair(
                    str(rec["model_a"]),
                    str(rec["model_b"]),
                    outcome,
                    line=line,
                    context=context,
                    annotator=name(rec.get("judge")),
                    ident=ident,
                ) and _responses(rec, texts, context, line, b)
                kind = rec.get("judge_kind")
                if ok and kind in ANNOTATOR_KINDS and name(rec.get("judge")) is not None:
                    b.t.annotator_kind[str(name(rec.get("judge")))] = kind
                if ok and "tstamp" in rec:
                    try:
                        t = number(rec["tstamp"])
                    except ValueError:
                        b.ctx.problem(line, f"tstamp {rec['tstamp']!r} is not a number (Unix seconds)")
                        t = None
                    b.extra("tstamp", math.nan if t is None else t)
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
        )
        meta = t.meta
        if "tstamp" in wanted:
            meta = {**t.meta, "tstamp": _seconds(batch.column("tstamp"))}
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
            meta=meta,
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
    ts = ds.meta.get("tstamp")
    if isinstance(ts, np.ndarray) and len(ts) == len(pw):
        cols["tstamp"] = pa.array(ts, pa.float64(), from_pandas=True)
    if "judge" in cols and ds.annotator_kind:
        kinds = [ds.annotator_kind.get(n) if n is not None else None for n in cols["judge"].to_pylist()]
        if any(k is not None for k in kinds):
            cols["judge_kind"] = pa.array(kinds, pa.string())
    if len(ds.responses):
        cols.update(_text_columns(ds))
    return pa.table(cols)


def _text_columns(ds: Dataset) -> dict[str, pa.Array]:
    """``prompt``, ``response_a``, ``response_b`` of each battle (null where the data have no text)."""
    pw = ds.pairwise
    ctx_names = ds.contexts.names
    prompts = [ds.context_text.get(ctx_names[c]) if c >= 0 else None for c in pw.context.tolist()]
    return {
        "prompt": pa.array(prompts, pa.string()),
        "response_a": pa.array(ds.responses.lookup(pw.context, pw.a), pa.string()),
        "response_b": pa.array(ds.responses.lookup(pw.context, pw.b), pa.string()),
    }


def write(ds: Dataset, path: str | Path, container: str) -> int:
    return _tabular.write_rows(path, to_table(ds), container)
