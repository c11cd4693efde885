"""A reward model trained by ``prefkit reward train`` as a pairwise judge (hashing encoder: no model download)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prefkit.cli.main import main
from prefkit.data.model import OUTCOME_A, OUTCOME_B

pytest.importorskip("torch")


def test_reward_model_judges_like_its_training_data(tmp_path: Path, capsys: Any) -> None:
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
    rows = []
    for i in range(300):
        filler = " ".join(rng.choice(words, 6))
        rows.append(
            {
                "prompt": f"q{i}",
                "chosen": f"{filler} excellent thorough",
                "rejected": f"{filler} sloppy wrong",
            }
        )
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = tmp_path / "rm"
    try:
        main(["reward", "train", str(data), "--encoder", "hashing:256", "--out", str(model), "--no-cache"])
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    from prefkit.annotation.reward_judge import RewardModelJudge
    from prefkit.annotation.types import PairTask

    judge = RewardModelJudge(model, tie_margin=0.01)
    tasks = [
        PairTask("q", "beta excellent thorough", "beta sloppy wrong"),
        PairTask("q", "gamma sloppy wrong", "gamma excellent thorough"),
    ]
    v = judge.judge_pairs(tasks)
    assert [x.outcome for x in v] == [OUTCOME_A, OUTCOME_B]
    # no position: swapping the order swaps the verdict exactly
    swapped = judge.judge_pairs([PairTask("q", t.second, t.first) for t in tasks])
    assert [x.extra["p_first"] for x in swapped] == pytest.approx(
        [1 - x.extra["p_first"] for x in v], abs=1e-9
    )
