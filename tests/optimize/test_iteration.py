"""DNO / INPO / SPPO iteration data with a scripted judge whose truth is known (Bradley-Terry over hidden
qualities, plus a position bias that the two-position averaging must cancel)."""

from __future__ import annotations

import numpy as np
import pytest

from prefkit.errors import DataProblemError, ValidationError
from prefkit.optimize.iteration import iteration_data, sample_and_judge, win_matrices
from prefkit.optimize.trl_format import validate_example


class BiasedBTJudge:
    """P(first better) = sigmoid(q_first - q_second + bias): quality is the number after 'q='."""

    def __init__(self, bias: float = 0.8) -> None:
        self.bias = bias
        self.calls = 0

    def __call__(self, prompts, first, second):
        self.calls += 1
        q = np.array([float(s.split("q=")[1]) for s in first])
        r = np.array([float(s.split("q=")[1]) for s in second])
        return 1 / (1 + np.exp(-(q - r + self.bias)))


def test_win_matrix_cancels_position_bias():
    ys = [["q=0.0", "q=1.0", "q=-0.5"]]
    (m,) = win_matrices(["p"], ys, BiasedBTJudge(bias=0.8))
    np.testing.assert_allclose(m + m.T, 1.0)
    # symmetrised: (s(d + b) + s(d - b)) / 2 with d = q_i - q_j
    s = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert m[1, 0] == pytest.approx((s(1.8) + s(0.2)) / 2)


def test_iteration_pairs_follow_the_true_quality():
    rng = np.random.default_rng(0)
    prompts = [f"p{i}" for i in range(30)]
    qualities = [rng.normal(size=5) for _ in prompts]
    samples = [[f"y{j} q={q:.6f}" for j, q in enumerate(qs)] for qs in qualities]
    judge = BiasedBTJudge()
    data = iteration_data(prompts, samples, judge, min_margin=0.05)
    assert judge.calls == 1  # one batched call
    for row in data.pairs:
        validate_example({k: row[k] for k in ("prompt", "chosen", "rejected")})
        i = prompts.index(row["prompt"])
        q = qualities[i]
        assert row["chosen"].startswith(f"y{int(np.argmax(q))} ")
        assert row["rejected"].startswith(f"y{int(np.argmin(q))} ")
        assert row["chosen_win_rate"] - row["rejected_win_rate"] > 0.05
    assert len(data.sppo) == 150
    # win rates rank the samples like the hidden qualities (a BT judge is transitive)
    for w, q in zip(data.win_rate, qualities, strict=True):
        assert np.argsort(w).tolist() == np.argsort(q).tolist()


def test_sample_and_judge_and_bad_input():
    def sampler(prompts, k):
        return [[f"s{j} q={j}" for j in range(k)] for _ in prompts]

    data = sample_and_judge(["a", "b"], sampler, BiasedBTJudge(), k=3)
    assert len(data.pairs) == 2
    with pytest.raises(ValidationError, match="k must be"):
        sample_and_judge(["a"], sampler, BiasedBTJudge(), k=1)
    with pytest.raises(DataProblemError, match="two or more samples"):
        iteration_data(["a"], [["only q=1"]], BiasedBTJudge())
    with pytest.raises(DataProblemError, match=r"probabilities in \[0, 1\]"):
        iteration_data(["a"], [["x q=1", "y q=2"]], lambda p, f, s: np.full(len(p), np.nan))
