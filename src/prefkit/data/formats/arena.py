"""Chatbot Arena battle logs: ``model_a, model_b, winner`` (+ judge, question_id, id/battle_id, tstamp, weight).

The one arena reader. Its rules live here, once, and every path applies them: the row reader (JSON lines,
CSV), the vectorised Parquet reader below, and the DuckDB fast path of :mod:`prefkit.storage.arena_scan`
(which refers every row it cannot vouch for back to this reader, so errors and line numbers are the same).

* ``model_a`` and ``model_b`` are text with at least one non-whitespace character, and differ;
* ``winner`` is exactly one of ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)`` (no aliases, no case
  folding: prefkit never guesses);
* ``weight`` (optional; empty means 1) is a finite number >= 0;
* ``tstamp`` (optional; empty means unknown) is a finite number of Unix seconds (or a Parquet timestamp);
* ``id`` / ``battle_id`` (optional) is unique.

Numbers are JSON / Parquet numbers or text in plain decimal notation (:data:`NUMBER_RE`: ``12``, ``-0.5``,
``1.7e9``; not ``nan``, ``inf``, ``1_000`` or ``0x10``).

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

import datetime as _dt
import json
import math
import re
from collections.abc import Iterator
from decimal import Decimal
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
#: every column the reader looks at (the fast path reads exactly these)
COLUMNS = (*REQUIRED, "question_id", "judge", *ID_COLUMNS, "tstamp", "weight")
#: a number written as text (RE2 and Python ``re`` syntax alike, so SQL can use it too)
NUMBER_RE = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
#: the characters Python's ``str.isspace`` accepts (a name made only of these is blank)
SPACE_CHARS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
SPACE_CHARS += "\u2028\u2029\u202f\u205f\u3000"
_NUMBER = re.compile(NUMBER_RE)

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


def missing_problem(keys: list[str]) -> str:
    return f"missing value for {', '.join(keys)}; every arena battle needs {', '.join(REQUIRED)}"


def self_problem(a: str) -> str:
    return f"item {a!r} is compared with itself; fix one of the two names or drop the row"


def blank(v: Any) -> bool:
    """A missing cell: None, NaN, or text made only of whitespace."""
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _number(v: Any) -> float | None:
    """A cell as a float (None when missing); ValueError when it is not a number."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(v, int | float | Decimal):
        try:
            return float(v)
        except OverflowError:
            raise ValueError("out of range") from None
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        if _NUMBER.fullmatch(s):
            return float(s)
    raise ValueError("not a number")


def weight_of(v: Any) -> float:
    """The weight of a battle: 1 when missing; ValueError unless a finite number >= 0."""
    x = _number(v)
    if x is None:
        return 1.0
    if not (math.isfinite(x) and x >= 0):
        raise ValueError("weight must be finite and >= 0")
    return x


def tstamp_of(v: Any) -> float:
    """Unix seconds (NaN when missing); ValueError unless a finite number or a timestamp."""
    if isinstance(v, _dt.datetime):
        return v.timestamp() if v.tzinfo else v.replace(tzinfo=_dt.UTC).timestamp()
    x = _number(v)
    if x is None or math.isnan(x):
        return math.nan
    if math.isinf(x):
        raise ValueError("tstamp must be finite")
    return x


def name_ok(v: Any) -> bool:
    """A model name: text with at least one non-whitespace character."""
    return isinstance(v, str) and not blank(v)


def winner_ok(v: Any) -> bool:
    return isinstance(v, str) and v in WINNERS


def row_problem(rec: dict[str, Any]) -> str | None:
    """What is wrong with one battle record (None when nothing): the one definition every path applies."""
    missing = [k for k in REQUIRED if blank(rec.get(k))]
    if missing:
        return missing_problem(missing)
    for k in ("model_a", "model_b"):
        v = rec[k]
        if not name_ok(v):
            return f"{k} is {v!r}, not a name; model names must be text (write it as {json.dumps(str(v))})"
    w = rec["winner"]
    if not winner_ok(w):
        return winner_problem(w)
    if rec["model_a"] == rec["model_b"]:
        return self_problem(rec["model_a"])
    if "weight" in rec:
        try:
            weight_of(rec["weight"])
        except ValueError:
            return (
                f"weight {rec['weight']!r} is not a finite number >= 0; fix it (an empty weight counts as 1)"
            )
    if "tstamp" in rec:
        try:
            tstamp_of(rec["tstamp"])
        except ValueError:
            return f"tstamp {rec['tstamp']!r} is not a number (Unix seconds); fix it or leave it empty"
    return None


def ident_of(rec: dict[str, Any]) -> str | None:
    return name(rec.get("id")) or name(rec.get("battle_id"))


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
        if "winner" not in rec and any(c in rec for c in ONE_HOT):
            if not require(b, rec, line, ("model_a", "model_b"), "arena battle"):
                yield
                continue
            outcome = _one_hot(rec, line, b)
            if outcome is None:
                yield
                continue
            rec = {**rec, "winner": LABELS[outcome]}
        problem = row_problem(rec)
        if problem is not None:
            b.ctx.problem(line, problem)
        else:
            texts = _texts(rec, line, b)
            context, ok = _context(rec, texts[0], line, b) if texts is not None else (None, False)
            if ok and texts is not None:
                ok = b.pair(
                    rec["model_a"],
                    rec["model_b"],
                    WINNERS[rec["winner"]],
                    line=line,
                    context=context,
                    annotator=name(rec.get("judge")),
                    ident=ident_of(rec),
                    weight=weight_of(rec.get("weight")),
                    tstamp=tstamp_of(rec.get("tstamp")),
                ) and _responses(rec, texts, context, line, b)
                kind = rec.get("judge_kind")
                if ok and kind in ANNOTATOR_KINDS and name(rec.get("judge")) is not None:
                    b.t.annotator_kind[str(name(rec.get("judge")))] = kind
        yield


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def _name_suspect(col: pa.Array) -> np.ndarray:
    """Rows whose name may be bad (missing, blank or not text); the exact rule decides."""
    if not _is_text(col.type):
        return np.ones(len(col), dtype=bool)
    return np.asarray(pc.fill_null(pc.invert(_has_text(col)), True), dtype=bool)


def _has_text(col: pa.Array) -> pa.Array:
    """True where a text cell holds a non-whitespace character (dictionary columns: tested once per value)."""
    if isinstance(col, pa.DictionaryArray):
        return pc.take(_has_text(col.dictionary), col.indices)
    return pc.match_substring_regex(pc.cast(col, pa.string()), "[^" + re.escape(SPACE_CHARS) + "]")


def _number_column(col: pa.Array, default: float) -> tuple[np.ndarray, np.ndarray]:
    """(values, by_rule): a numeric or timestamp column as floats (missing: ``default``); other columns
    (text, booleans ...) give ``by_rule`` True on every row: the exact rule reads those cells one by one."""
    n = len(col)
    if pa.types.is_null(col.type):
        return np.full(n, default), np.zeros(n, dtype=bool)
    if pa.types.is_timestamp(col.type):
        unit = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[col.type.unit]
        secs = pc.divide(pc.cast(pc.cast(col, pa.int64()), pa.float64()), unit)
        return np.asarray(pc.fill_null(secs, default).to_numpy(zero_copy_only=False)), np.zeros(n, bool)
    if _is_number(col.type):
        x = pc.fill_null(pc.cast(col, pa.float64()), default).to_numpy(zero_copy_only=False)
        return np.array(x, dtype=np.float64), np.zeros(n, dtype=bool)
    return np.full(n, default), np.ones(n, dtype=bool)


def _batch_problems(batch: pa.RecordBatch, line: np.ndarray) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Exact per-row problems of a record batch: (bad mask, [(line, message)] in file order)."""
    cols = batch.schema.names
    ma, mb, w = batch.column("model_a"), batch.column("model_b"), batch.column("winner")
    code = _winner_codes(w) if _is_text(w.type) else None
    suspect = _name_suspect(ma) | _name_suspect(mb)
    suspect |= np.ones(len(line), bool) if code is None else np.asarray(pc.is_null(code), dtype=bool)
    if _is_text(ma.type) and _is_text(mb.type):
        suspect |= np.asarray(pc.fill_null(_same(ma, mb), False), dtype=bool)
    if "weight" in cols:
        x, by_rule = _number_column(batch.column("weight"), 1.0)
        suspect |= by_rule | ~np.isfinite(x) | (x < 0)
    if "tstamp" in cols:
        x, by_rule = _number_column(batch.column("tstamp"), math.nan)
        suspect |= by_rule | np.isinf(x)
    bad = np.zeros(len(line), dtype=bool)
    problems: list[tuple[int, str]] = []
    for i in np.flatnonzero(suspect):
        msg = row_problem(batch.slice(int(i), 1).to_pylist()[0])
        if msg is not None:
            bad[i] = True
            problems.append((int(line[i]), msg))
    return bad, problems


def _weights(col: pa.Array) -> np.ndarray:
    x, by_rule = _number_column(col, 1.0)
    if by_rule.any():  # rows that passed the exact rule: numbers written as text
        x = np.array([weight_of(v) for v in col.to_pylist()], dtype=np.float64)
    return x


def _seconds(col: pa.Array) -> np.ndarray:
    x, by_rule = _number_column(col, math.nan)
    if by_rule.any():
        x = np.array([tstamp_of(v) for v in col.to_pylist()], dtype=np.float64)
    return x


def parquet_chunks(path: str | Path, t: Dataset, ctx: Context, chunk_rows: int) -> Iterator[Dataset]:
    """Vectorised reading of a (possibly huge) Parquet battle log, one record batch at a time.

    The same rules as :func:`parse`: cheap array tests pick the rows that may be bad, and
    :func:`row_problem` decides each of them.
    """
    names = _tabular.columns(path, "parquet") or []
    id_col = next((c for c in ID_COLUMNS if c in names), None)
    wanted = [c for c in COLUMNS if c in names]
    row0 = 0
    for batch in _tabular.parquet_batches(path, chunk_rows, wanted):
        n = batch.num_rows
        line = np.arange(row0 + 1, row0 + n + 1, dtype=np.int64)
        row0 += n
        bad, problems = _batch_problems(batch, line)
        listed = len(ctx.skipped)
        if problems and ctx.strict:
            _ids_before(batch, line, bad, ctx, problems[0][0])
        for ln, msg in problems:
            ctx.problem(ln, msg)
        if bad.any():
            keep = pa.array(~bad)
            batch, line = batch.filter(keep), line[~bad]
        ids = None
        if id_col is not None:
            ids = pa.array([ident_of(r) for r in batch.select(_id_cols(batch)).to_pylist()], pa.string())
            dup = [not ctx.check_id(v, int(ln)) for v, ln in zip(ids.to_pylist(), line.tolist(), strict=True)]
            if any(dup):  # only reachable when lenient
                ok = pa.array(~np.asarray(dup))
                batch, ids = batch.filter(ok), ids.filter(ok)
                line = line[~np.asarray(dup)]
        ctx.skipped[listed:] = sorted(ctx.skipped[listed:])  # in file order, as the row reader lists them
        pw = PairwiseTable.build(
            t.items.encode(pc.cast(batch.column("model_a"), pa.string())),
            t.items.encode(pc.cast(batch.column("model_b"), pa.string())),
            np.asarray(_winner_codes(batch.column("winner")), dtype=np.int8),
            context=t.contexts.encode(_names(batch.column("question_id")))
            if "question_id" in wanted
            else None,
            annotator=t.annotators.encode(_names(batch.column("judge"))) if "judge" in wanted else None,
            weight=_weights(batch.column("weight")) if "weight" in wanted else None,
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


def _same(ma: pa.Array, mb: pa.Array) -> pa.Array:
    """Rows where the two names are equal (dictionary columns sharing a dictionary: compared by index)."""
    if isinstance(ma, pa.DictionaryArray) and isinstance(mb, pa.DictionaryArray):
        if ma.dictionary.equals(mb.dictionary):
            return pc.equal(ma.indices, mb.indices)
    return pc.equal(pc.cast(ma, pa.string()), pc.cast(mb, pa.string()))


def _winner_codes(col: pa.Array) -> pa.Array:
    """Outcome codes of a text winner column (null where the label is not one of :data:`WINNERS`)."""
    if isinstance(col, pa.DictionaryArray):
        return pc.take(_winner_codes(col.dictionary), col.indices)
    pos = pc.index_in(pc.cast(col, pa.string()), value_set=pa.array(list(WINNERS)))
    return pc.take(pa.array(list(WINNERS.values()), pa.int8()), pos)


def _id_cols(batch: pa.RecordBatch) -> list[str]:
    return [c for c in ID_COLUMNS if c in batch.schema.names]


def _ids_before(
    batch: pa.RecordBatch, line: np.ndarray, bad: np.ndarray, ctx: Context, first_bad: int
) -> None:
    """Strict reading: a duplicate id on a good row before the first bad row is the first problem."""
    cols = _id_cols(batch)
    if not cols:
        return
    rows = batch.select(cols).to_pylist()
    for i in np.flatnonzero(~bad & (line < first_bad)):
        ctx.check_id(ident_of(rows[i]), int(line[i]))


def _names(col: pa.Array) -> pa.Array | list[str | None]:
    """An optional name column (question_id, judge) by the row reader's rule (:func:`name`)."""
    if _is_text(col.type):
        s = pc.cast(col, pa.string())
        return pc.if_else(pc.fill_null(_has_text(col), False), s, pa.scalar(None, pa.string()))
    return [name(v) for v in col.to_pylist()]


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
    if (pw.weight != 1.0).any():
        cols["weight"] = pa.array(pw.weight, pa.float64())
    if not np.isnan(pw.tstamp).all():
        cols["tstamp"] = pa.array(pw.tstamp, pa.float64(), from_pandas=True)
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
