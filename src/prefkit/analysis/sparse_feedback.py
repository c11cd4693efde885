"""sparse_feedback-specific adapter (Hritikbansal/sparse_feedback, MIT): ratings and rankings of the same responses.

Headerless CSVs: ratings ``instruction,input,output,rating`` (1-7) and rankings
``instruction,input,output1,output2,ranking`` with ranking in ``(a)``, ``(b)``, ``equal``. A response is
identified by its ``(instruction, input, output)`` text, so the two files meet on identical texts.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import InputError

_RANK = {"(a)": OUTCOME_A, "(b)": OUTCOME_B, "equal": OUTCOME_TIE}


@dataclass(frozen=True, eq=False)
class RatingsAndRankings:
    """Integer-coded ratings (item, score) and pairwise rankings (a, b, outcome) over one item index."""

    n_items: int
    rated_item: np.ndarray
    score: np.ndarray
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray


def _rows(path: Path, width: int) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise InputError("no such file; check the path", path=path)
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.reader(fh), 1):
            if not row:
                continue
            if len(row) != width:
                raise InputError(f"expected {width} columns, got {len(row)}", path=path, line=line)
            out.append((line, row))
    return out


def read_sparse_feedback(ratings: Sequence[str | Path], rankings: str | Path) -> RatingsAndRankings:
    """Read one or more ratings CSVs and one rankings CSV onto one item index (keyed by the texts)."""
    key_of: dict[tuple[str, str, str], int] = {}
    items, scores = [], []
    for rp in ratings:
        for line, (ins, inp, out, rating) in _rows(Path(rp), 4):
            try:
                s = float(rating)
            except ValueError:
                raise InputError(
                    f"rating {rating!r} is not a number (expected 1-7)", path=rp, line=line
                ) from None
            items.append(key_of.setdefault((ins, inp, out), len(key_of)))
            scores.append(s)
    a, b, o = [], [], []
    for line, (ins, inp, out1, out2, rank) in _rows(Path(rankings), 5):
        if rank.strip() not in _RANK:
            raise InputError(f"ranking {rank!r}: expected (a), (b) or equal", path=rankings, line=line)
        a.append(key_of.setdefault((ins, inp, out1), len(key_of)))
        b.append(key_of.setdefault((ins, inp, out2), len(key_of)))
        o.append(_RANK[rank.strip()])
    return RatingsAndRankings(
        len(key_of),
        np.asarray(items, dtype=np.int64),
        np.asarray(scores, dtype=np.float64),
        np.asarray(a, dtype=np.int64),
        np.asarray(b, dtype=np.int64),
        np.asarray(o, dtype=np.int8),
    )
