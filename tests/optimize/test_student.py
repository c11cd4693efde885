"""ARTE-style selection with a scripted student whose gains are known."""

from __future__ import annotations

import numpy as np
import pytest

from prefkit.errors import DataProblemError, ValidationError
from prefkit.optimize.student import student_aligned_pairs


def gain_from_steps(prompts, candidates):
    # a student that learns most from demonstrations that show their steps, a little from short answers
    return [c.count("step") * 0.1 + (0.02 if len(c) < 10 else 0.0) for c in candidates]


def test_pairs_prefer_what_helps_the_student():
    prompts = ["2+3?", "7*6?", "capital?"]
    cands = [
        ["5", "step: 2+3, step: =5", "6"],
        ["step: 7*6=42", "42", "step: 7*6, step: 42, step: check"],
        ["Paris", "Paris"],  # no gain difference: skipped
    ]
    res = student_aligned_pairs(prompts, cands, gain_from_steps)
    assert [r["prompt"] for r in res.rows] == ["7*6?", "2+3?"]  # largest margin first
    assert res.rows[0]["chosen"].count("step") == 3 and res.rows[0]["rejected"] == "42"
    assert res.rows[1]["chosen"] == "step: 2+3, step: =5"
    assert res.skipped == 1
    np.testing.assert_allclose(res.gains[0], [0.02, 0.2, 0.02])
    assert len(student_aligned_pairs(prompts, cands, gain_from_steps, top=1).rows) == 1


def test_bad_student():
    with pytest.raises(DataProblemError, match="NaN"):
        student_aligned_pairs(["a"], [["x", "y"]], lambda p, c: [np.nan, 1.0])
    with pytest.raises(ValidationError, match="gains for"):
        student_aligned_pairs(["a"], [["x", "y"]], lambda p, c: [1.0])
