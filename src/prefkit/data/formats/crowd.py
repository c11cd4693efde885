"""Crowd comparison logs (llmfao style): ``id,prompt,model_x,model_y,worker,winner,left,right``.

``a`` = left, ``b`` = right, winner in {left, right, tie}; annotator = worker (a crowd worker: kind human),
context = prompt; an optional ``tstamp`` column (Unix seconds or ISO-8601) gives the time of each vote. The
``id`` column numbers the *pair* shown (many workers judge one pair), so it is not a judgment id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from prefkit.data import _tabular
from prefkit.data._build import Builder
from prefkit.data.formats._common import name, require, seconds
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_BOTH_BAD, OUTCOME_TIE, Dataset
from prefkit.errors import DataProblemError

REQUIRED = ("left", "right", "winner")
WINNERS = {"left": OUTCOME_A, "right": OUTCOME_B, "tie": OUTCOME_TIE}


def parse(records: Iterator[tuple[int, dict[str, Any]]], b: Builder) -> Iterator[None]:
    for line, rec in records:
        if require(b, rec, line, REQUIRED, "crowd comparison"):
            w = rec["winner"]
            outcome = WINNERS.get(w) if isinstance(w, str) else None
            if outcome is None:
                b.ctx.problem(line, f"unknown winner {w!r}; expected one of left, right, tie (fix the label)")
            else:
                try:
                    t = seconds(rec.get("tstamp"))
                except ValueError as exc:
                    b.ctx.problem(line, f"tstamp: {exc}; give Unix seconds or an ISO-8601 date-time")
                    yield
                    continue
                worker = name(rec.get("worker"))
                if (
                    b.pair(
                        str(rec["left"]),
                        str(rec["right"]),
                        outcome,
                        line=line,
                        context=name(rec.get("prompt")),
                        annotator=worker,
                        tstamp=t,
                    )
                    and worker is not None
                ):
                    b.t.annotator_kind[worker] = "human"
        yield


def write(ds: Dataset, path: str | Path, container: str) -> int:
    pw = ds.pairwise
    if len(ds.rankings) or len(ds.ratings):
        raise DataProblemError(
            "a crowd log holds only pairwise votes; convert rankings/ratings to pairs first"
        )
    if (pw.outcome == OUTCOME_BOTH_BAD).any():
        raise DataProblemError(
            "a crowd log has no 'both bad' label; write this data as arena or prefkit JSONL"
        )
    labels = np.asarray(["left", "right", "tie"], dtype=object)
    pair_ids: dict[tuple[int, int, int], int] = {}
    rows = []
    timed = not np.isnan(pw.tstamp).all()
    for i in range(len(pw)):
        a, b, c = int(pw.a[i]), int(pw.b[i]), int(pw.context[i])
        rows.append(
            {
                "id": pair_ids.setdefault((a, b, c), len(pair_ids)),
                "prompt": ds.contexts.name(c) if c >= 0 else None,
                "model_x": a,
                "model_y": b,
                "worker": ds.annotators.name(int(pw.annotator[i])) if pw.annotator[i] >= 0 else None,
                "winner": labels[pw.outcome[i]],
                "left": ds.items.name(a),
                "right": ds.items.name(b),
                **({"tstamp": None if np.isnan(pw.tstamp[i]) else float(pw.tstamp[i])} if timed else {}),
            }
        )
    return _tabular.write_rows(path, rows, container)
