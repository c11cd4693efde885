"""Rows for TRL's ``RewardTrainer``: ``{prompt, chosen, rejected}`` (+ ``margin`` where strengths exist).

Full fine-tuning of a reward model stays with TRL; prefkit prepares its data. Ties carry no preference and
are left out; pairs won by ``b`` are swapped so that ``chosen`` is always the preferred response.
Conversational data stay conversational (message lists), as TRL expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from prefkit.data.model import OUTCOME_A, OUTCOME_B, Dataset
from prefkit.errors import DataProblemError


@dataclass
class TRLExport:
    rows: list[dict[str, Any]]
    n_ties: int
    has_margin: bool


def _content(text: str, conversational: bool) -> Any:
    if conversational:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def trl_rows(ds: Dataset) -> TRLExport:
    """The decisive pairs of ``ds`` as TRL reward rows."""
    pw = ds.pairwise
    if len(pw) == 0:
        raise DataProblemError(f"{ds.source or 'the input'} has no pairwise preferences to export")
    conv = bool(ds.meta.get("conversational"))
    decisive = (pw.outcome == OUTCOME_A) | (pw.outcome == OUTCOME_B)
    has_margin = bool(np.isfinite(pw.strength[decisive]).any())
    rows = []
    for i in np.flatnonzero(decisive).tolist():
        a, b = ds.items.name(int(pw.a[i])), ds.items.name(int(pw.b[i]))
        if pw.outcome[i] == OUTCOME_B:
            a, b = b, a
        if a not in ds.item_text or b not in ds.item_text:
            raise DataProblemError(
                "the pairs have no response texts (battle logs name models, not responses); TRL needs TRL rows "
                "or hh-rlhf transcripts"
            )
        c = int(pw.context[i])
        row: dict[str, Any] = {}
        if c >= 0:
            row["prompt"] = _content(ds.context_text.get(ds.contexts.name(c), ""), conv)
        row["chosen"] = _content(ds.item_text[a], conv)
        row["rejected"] = _content(ds.item_text[b], conv)
        if has_margin:
            s = float(pw.strength[i])
            row["margin"] = abs(s) if np.isfinite(s) else 0.0
        rows.append(row)
    return TRLExport(rows, int((~decisive).sum()), has_margin)
