"""A reward model trained by ``prefkit reward train`` as a pairwise judge.

Both responses are scored; the verdict is the first shown when ``P(first preferred)`` (the model's calibrated
probability) exceeds ``0.5 + tie_margin``, the second below ``0.5 - tie_margin``, a tie between. A reward
model has no position: its audits show no position bias by construction, a useful control.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from prefkit.annotation.types import PairTask, Verdict
from prefkit.data.formats._common import text_id
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE, Dataset, PairwiseTable
from prefkit.errors import ValidationError


class RewardModelJudge:
    """Verdicts from a saved reward model directory (``prefkit reward train --out DIR``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        tie_margin: float = 0.0,
        cache_dir: str | Path | None = None,
        name: str | None = None,
    ) -> None:
        from prefkit.reward.persist import load_model

        if not 0.0 <= tie_margin < 0.5:
            raise ValidationError(f"tie_margin must be in [0, 0.5), got {tie_margin}")
        self.model = load_model(path)
        self.tie_margin = tie_margin
        self.cache_dir = cache_dir
        self._name = name or f"reward:{Path(path).name}"

    @property
    def name(self) -> str:
        return self._name

    def p_first(self, tasks: Sequence[PairTask]) -> np.ndarray:
        from prefkit.reward.pipeline import Embedder, score_dataset

        ds = Dataset()
        a, b, c = [], [], []
        for t in tasks:
            ids = []
            for text in (t.first, t.second):
                key = text_id(text)
                ds.item_text[key] = text
                ids.append(ds.items.add(key))
            ctx = text_id(t.prompt)
            ds.context_text[ctx] = t.prompt
            a.append(ids[0])
            b.append(ids[1])
            c.append(ds.contexts.add(ctx))
        ds.pairwise = PairwiseTable.build(np.asarray(a, np.int32), b, np.zeros(len(a), np.int8), context=c)
        scores = score_dataset(self.model, ds, Embedder(self.model.encoder, cache_dir=self.cache_dir))
        return np.asarray(scores.p_a, dtype=np.float64)

    def judge_pairs(self, tasks: Sequence[PairTask]) -> list[Verdict]:
        if not tasks:
            return []
        p = self.p_first(tasks)
        out = []
        for pi in p.tolist():
            o = (
                OUTCOME_A
                if pi > 0.5 + self.tie_margin
                else OUTCOME_B
                if pi < 0.5 - self.tie_margin
                else OUTCOME_TIE
            )
            out.append(Verdict(o, 2 * pi - 1, raw=f"p_first={pi:.6f}", extra={"p_first": pi}))
        return out
