"""Rank models with a pairwise judge under a call budget: the relative-confidence ranking of
:mod:`prefkit.ranking.arena.relative` driven by any :class:`PairJudge` (a real backend included).

Each call gets two model names from the arena's matchmaking; :class:`TextPairCallback` picks (with its rng) a
prompt both models answered, asks the judge, and returns the winner's name, or both names as one tie group.
A verdict that is unparsed or failed is asked again on another prompt (up to ``tries`` times), then the call
fails with a BackendError: never a guessed answer.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from prefkit.annotation.types import PairJudge, PairTask
from prefkit.data.model import OUTCOME_A, OUTCOME_B, Dataset
from prefkit.errors import BackendError, DataProblemError
from prefkit.ranking.arena.engine import SkillTable
from prefkit.ranking.arena.relative import JudgeAnswer, rank_with_judge


class TextPairCallback:
    """``callback((m1, m2)) -> answer`` for :func:`rank_with_judge`, judging the models' texts."""

    def __init__(self, ds: Dataset, judge: PairJudge, *, rng: np.random.Generator, tries: int = 3) -> None:
        self.judge = judge
        self.rng = rng
        self.tries = tries
        self.by_model: dict[str, dict[str, str]] = defaultdict(dict)  # model -> context -> text
        r = ds.responses
        for c, i, t in zip(r.context.tolist(), r.item.tolist(), r.text.to_pylist(), strict=True):
            if c >= 0 and t and t.strip() and ds.contexts.name(c) in ds.context_text:
                self.by_model[ds.items.name(i)][ds.contexts.name(c)] = t
        self.prompts = ds.context_text
        self.calls = 0

    def models(self) -> list[str]:
        return sorted(self.by_model)

    def __call__(self, items: tuple[str, ...]) -> JudgeAnswer:
        m1, m2 = items[0], items[1]
        common = sorted(set(self.by_model[m1]) & set(self.by_model[m2]))
        if not common:
            raise DataProblemError(f"models {m1!r} and {m2!r} answered no prompt in common")
        for _ in range(self.tries):
            ctx = common[int(self.rng.integers(len(common)))]
            task = PairTask(self.prompts[ctx], self.by_model[m1][ctx], self.by_model[m2][ctx], m1, m2)
            (v,) = self.judge.judge_pairs([task])
            self.calls += 1
            if v.outcome == OUTCOME_A:
                return m1
            if v.outcome == OUTCOME_B:
                return m2
            if v.ok:
                return [[m1, m2]]
        raise BackendError(
            f"judge {self.judge.name!r} gave no usable verdict on {m1!r} vs {m2!r} in {self.tries} tries"
        )


def rank_models(
    ds: Dataset, judge: PairJudge, *, budget: int, seed: int = 0, policy: str = "infogain"
) -> tuple[SkillTable, TextPairCallback]:
    """Rank the models of ``ds`` (those with response texts) with at most ``budget`` judge calls."""
    cb = TextPairCallback(ds, judge, rng=np.random.default_rng(seed))
    models = cb.models()
    if len(models) < 2:
        raise DataProblemError("need at least 2 models with response texts to rank")
    return rank_with_judge(models, cb, budget=budget, k=2, policy=policy, seed=seed), cb
