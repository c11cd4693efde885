"""TRL preference rows: ``{prompt?, chosen, rejected}`` as plain text or as conversational message lists.

Conversational rows may carry the prompt explicitly (``prompt: [msgs]``) or implicitly, as the leading
messages that ``chosen`` and ``rejected`` share. Items are (prompt, response) pairs with a content id;
``item_text`` holds the response (for conversational rows: the JSON of the message list) and ``context_text``
the prompt. Pairwise ``a`` = chosen, ``b`` = rejected, outcome ``a``. An optional ``system`` string (a system
message / stated preference, as in Janus) must be on every row or on none; it goes to ``context_condition``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from prefkit.data import _tabular
from prefkit.data._build import Builder
from prefkit.data.formats._common import text_id
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_BOTH_BAD, OUTCOME_TIE, Dataset
from prefkit.errors import DataProblemError

REQUIRED = ("chosen", "rejected")


def _is_messages(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(m, dict) and "content" in m for m in v)


def dump_messages(msgs: list[dict[str, Any]]) -> str:
    return json.dumps(msgs, ensure_ascii=False)


def add_pair(
    b: Builder, line: int, prompt: str | None, chosen: str, rejected: str, condition: str | None = None
) -> bool:
    """Add one chosen/rejected pair of texts (shared by TRL and hh-rlhf); ``condition``: the row's system
    message / stated preference (Janus), which makes its own context."""
    ctx = None
    if prompt is not None or condition is not None:
        ctx = text_id(prompt or "") if condition is None else text_id(condition, prompt or "")
        b.t.contexts.add(ctx)
        if prompt is not None:
            b.t.context_text[ctx] = prompt
        if condition is not None:
            b.t.context_condition[ctx] = condition
    ia, ib = text_id(prompt or "", chosen), text_id(prompt or "", rejected)
    if ia == ib:
        b.ctx.problem(line, "chosen and rejected are identical; a preference needs two different responses")
        return False
    if b.pair(ia, ib, OUTCOME_A, line=line, context=ctx):
        b.t.item_text[ia] = chosen
        b.t.item_text[ib] = rejected
        return True
    return False


def parse(records: Iterator[tuple[int, dict[str, Any]]], b: Builder) -> Iterator[None]:
    mode: bool | None = b.t.meta.get("conversational")
    with_system: bool | None = None  # whether the rows carry a "system" field: all of them or none
    for line, rec in records:
        system: Any = rec.get("system")
        if system is not None and not isinstance(system, str):
            b.ctx.problem(line, f"system must be a string (the system message / stated preference), found {type(system).__name__}")
            yield
            continue
        if with_system is None:
            with_system = system is not None
        elif with_system != (system is not None):
            b.ctx.problem(
                line,
                "this row has no \"system\" field but earlier rows have one"
                if with_system
                else "this row has a \"system\" field but earlier rows have none",
            )
            yield
            continue
        chosen: Any = rec.get("chosen")
        rejected: Any = rec.get("rejected")
        prompt: Any = rec.get("prompt")
        conv = _is_messages(chosen) and _is_messages(rejected)
        text = isinstance(chosen, str) and isinstance(rejected, str)
        if not (conv or text):
            b.ctx.problem(
                line,
                "chosen and rejected must both be strings or both be lists of {role, content} messages "
                f"(found {type(chosen).__name__} and {type(rejected).__name__})",
            )
        elif mode is not None and mode != conv:
            b.ctx.problem(line, "the file mixes plain-text and conversational rows; use one kind throughout")
        elif text:
            if prompt is not None and not isinstance(prompt, str):
                b.ctx.problem(line, "prompt must be a string when chosen/rejected are strings")
            else:
                mode = False
                add_pair(b, line, prompt, chosen, rejected, system)
        else:
            if prompt is None:
                k = 0
                while k < min(len(chosen), len(rejected)) and chosen[k] == rejected[k]:
                    k += 1
                if k == len(chosen) or k == len(rejected):
                    b.ctx.problem(line, "one conversation is a prefix of the other: nothing to prefer")
                    yield
                    continue
                prompt, chosen, rejected = chosen[:k], chosen[k:], rejected[k:]
            if not _is_messages(prompt):
                b.ctx.problem(
                    line, "prompt must be a list of {role, content} messages in a conversational row"
                )
            else:
                mode = True
                add_pair(
                    b,
                    line,
                    dump_messages(prompt) if prompt else None,
                    dump_messages(chosen),
                    dump_messages(rejected),
                    system,
                )
        b.t.meta["conversational"] = bool(mode)
        yield


def to_rows(ds: Dataset) -> tuple[list[dict[str, Any]], int, int]:
    """TRL rows of the pairwise judgments (ties and both_bad dropped): ``(rows, n_ties, n_both_bad)``."""
    if len(ds.rankings) or len(ds.ratings):
        raise DataProblemError(
            "TRL rows are pairs; convert rankings/ratings to pairs first "
            "(prefkit.data.convert.ranking_to_pairs / ratings_to_pairs, or `prefkit convert`)"
        )
    pw = ds.pairwise
    if len(pw) and not ds.item_text:
        raise DataProblemError(
            "the items have no texts (arena and crowd logs name models, not responses): TRL rows need the "
            "chosen and rejected response texts"
        )
    conv = bool(ds.meta.get("conversational"))
    names = ds.items.names
    has_prompt = bool((pw.context >= 0).any())

    def content(tid: str, kind: str, table: dict[str, str]) -> Any:
        txt = table.get(tid)
        if txt is None:
            raise DataProblemError(
                f"{kind} {tid!r} has no text: TRL rows need response and prompt texts "
                "(arena logs name models, not texts)"
            )
        return json.loads(txt) if conv else txt

    rows = []
    for i in np.flatnonzero(pw.outcome <= OUTCOME_B):
        a, b = names[pw.a[i]], names[pw.b[i]]
        if pw.outcome[i] == OUTCOME_B:
            a, b = b, a
        row: dict[str, Any] = {}
        if ds.context_condition and pw.context[i] >= 0:
            cond = ds.context_condition.get(ds.contexts.name(int(pw.context[i])))
            if cond is not None:
                row["system"] = cond
        if has_prompt:
            c = int(pw.context[i])
            row["prompt"] = (
                content(ds.contexts.name(c), "context", ds.context_text) if c >= 0 else ([] if conv else "")
            )
        row["chosen"] = content(a, "item", ds.item_text)
        row["rejected"] = content(b, "item", ds.item_text)
        rows.append(row)
    return rows, int((pw.outcome == OUTCOME_TIE).sum()), int((pw.outcome == OUTCOME_BOTH_BAD).sum())


def write(ds: Dataset, path: str | Path, container: str) -> tuple[int, int, int]:
    rows, ties, both_bad = to_rows(ds)
    if container == "csv" and ds.meta.get("conversational"):
        raise DataProblemError("conversational TRL rows cannot be written as CSV; use .jsonl or .parquet")
    return _tabular.write_rows(path, rows, container), ties, both_bad
