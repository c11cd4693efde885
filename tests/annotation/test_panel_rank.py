"""Panels (majority and weighted votes, agreement) and ranking models with a judge under a budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from prefkit.annotation.panel import Panel, panel_agreement
from prefkit.annotation.rank import rank_models
from prefkit.annotation.scripted import ScriptedJudge
from prefkit.annotation.types import UNPARSED, PairTask, Verdict
from prefkit.data import io
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import ValidationError


class Fixed:
    def __init__(self, outcomes: list[int], name: str) -> None:
        self.outcomes, self._name = outcomes, name

    @property
    def name(self) -> str:
        return self._name

    def judge_pairs(self, tasks: Any) -> list[Verdict]:
        return [Verdict(o) for o in self.outcomes[: len(tasks)]]


TASKS = [PairTask("q", "x", "y")] * 4


def test_majority_and_weighted_votes() -> None:
    j1 = Fixed([OUTCOME_A, OUTCOME_A, OUTCOME_B, UNPARSED], "j1")
    j2 = Fixed([OUTCOME_A, OUTCOME_B, OUTCOME_B, UNPARSED], "j2")
    j3 = Fixed([OUTCOME_B, OUTCOME_TIE, OUTCOME_A, UNPARSED], "j3")
    v = Panel([j1, j2, j3]).judge_pairs(TASKS)
    assert [x.outcome for x in v] == [OUTCOME_A, OUTCOME_TIE, OUTCOME_B, UNPARSED]
    w = Panel([j1, j2, j3], weights=[1, 1, 3]).judge_pairs(TASKS)
    assert [x.outcome for x in w[:3]] == [OUTCOME_B, OUTCOME_TIE, OUTCOME_A]
    with pytest.raises(ValidationError, match="at least 2 judges"):
        Panel([j1])
    with pytest.raises(ValidationError, match="weights"):
        Panel([j1, j2], weights=[1, -1])


def test_panel_of_noisy_judges_beats_its_members() -> None:
    rng = np.random.default_rng(0)
    quality = {f"m{i}": float(q) for i, q in enumerate(np.linspace(-2, 2, 10))}
    names = list(quality)
    tasks = []
    for _ in range(2000):
        i, j = rng.choice(10, 2, replace=False)
        tasks.append(PairTask("q", "x", "y", names[i], names[j]))
    truth = np.asarray([quality[t.first_item] > quality[t.second_item] for t in tasks])
    members = [
        ScriptedJudge(quality, noise=1.0, rng=np.random.default_rng(s), name=f"j{s}") for s in range(5)
    ]
    panel = Panel(members)
    verdicts = panel.judge_pairs(tasks)
    acc = np.mean([(v.outcome == OUTCOME_A) == t for v, t in zip(verdicts, truth, strict=True)])
    member_acc = [
        np.mean([(v.outcome == OUTCOME_A) == t for v, t in zip(vs, truth, strict=True)])
        for vs in panel.member_verdicts
    ]
    assert acc > max(member_acc) + 0.02
    ag = panel_agreement(panel.member_verdicts)
    from sklearn.metrics import cohen_kappa_score

    a = [v.outcome for v in panel.member_verdicts[0]]
    b = [v.outcome for v in panel.member_verdicts[1]]
    assert ag.cohen[0, 1] == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert ag.n_complete == 2000 and 0 < ag.fleiss_kappa < 1


def test_rank_models_with_a_judge_recovers_the_order(tmp_path: Path, battles: Any) -> None:
    # 8 models answer 5 prompts; a scripted judge knows their quality
    rows = []
    models = [f"m{i}" for i in range(8)]
    import json

    for q in range(5):
        for i in range(0, 8, 2):
            rows.append({"model_a": models[i], "model_b": models[i + 1], "winner": "tie", "question_id": f"q{q}",
                         "prompt": f"prompt {q}", "response_a": f"answer {q} {i}", "response_b": f"answer {q} {i + 1}"})  # fmt: skip
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = io.read(path)
    quality = {m: float(i) for i, m in enumerate(models)}
    judge = ScriptedJudge(quality, noise=0.5, rng=np.random.default_rng(1))
    board, cb = rank_models(ds, judge, budget=150, seed=0)
    order = board.names()
    rho = stats.spearmanr([quality[m] for m in order], list(range(len(order), 0, -1)))[0]
    assert rho > 0.9 and cb.calls == 150
