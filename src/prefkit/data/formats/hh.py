"""Anthropic hh-rlhf transcripts: ``{"chosen", "rejected"}`` whole ``\\n\\nHuman: ...\\n\\nAssistant: ...`` texts.

The prompt is everything up to and including the last ``\\n\\nAssistant:`` (it must be the same in both
transcripts); the two answers are what follows. Rows whose prefixes differ are skipped and listed in
``ds.meta["skipped"]`` (the CLI prints them), never guessed; a file where every row differs is an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefkit.data import _tabular
from prefkit.data._build import Builder
from prefkit.data.formats import trl
from prefkit.data.model import Dataset

REQUIRED = ("chosen", "rejected")
TURN = "\n\nAssistant:"


def split(chosen: str, rejected: str) -> tuple[str, str, str] | str:
    """``(prompt, chosen_answer, rejected_answer)``, or the reason the pair cannot be split."""
    i, j = chosen.rfind(TURN), rejected.rfind(TURN)
    if i < 0 or j < 0:
        which = "chosen" if i < 0 else "rejected"
        return f"the {which} transcript has no '\\n\\nAssistant:' turn; is this an hh-rlhf file?"
    i, j = i + len(TURN), j + len(TURN)
    if chosen[:i] != rejected[:j]:
        k = next((n for n, (x, y) in enumerate(zip(chosen, rejected, strict=False)) if x != y), min(i, j))
        return (
            f"chosen and rejected transcripts differ before their last Assistant turn (from character {k}), "
            "so the shared prompt is ambiguous; fix or drop the row"
        )
    return chosen[:i], chosen[i:], rejected[j:]


def _is_prefix_mismatch(reason: str) -> bool:
    return reason.startswith("chosen and rejected transcripts differ")


def parse(records: Iterator[tuple[int, dict[str, Any]]], b: Builder) -> Iterator[None]:
    b.t.meta["conversational"] = False
    for line, rec in records:
        chosen, rejected = rec.get("chosen"), rec.get("rejected")
        if not isinstance(chosen, str) or not isinstance(rejected, str):
            b.ctx.problem(line, "chosen and rejected must both be transcript strings")
        else:
            parts = split(chosen, rejected)
            if isinstance(parts, str) and _is_prefix_mismatch(parts):
                b.ctx.report(line, parts)  # skipped and listed in meta["skipped"], in strict mode too
            elif isinstance(parts, str):
                b.ctx.problem(line, parts)
            else:
                trl.add_pair(b, line, *parts)
        yield


def write(ds: Dataset, path: str | Path, container: str) -> tuple[int, int, int]:
    rows, ties, both_bad = trl.to_rows(ds)
    out = [
        {"chosen": r.get("prompt", "") + r["chosen"], "rejected": r.get("prompt", "") + r["rejected"]}
        for r in rows
    ]
    return _tabular.write_rows(path, out, container), ties, both_bad
