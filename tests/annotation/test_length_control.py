"""The length-controlled win rate: the GLM equals scikit-learn's LogisticRegression to 1e-6, and the LC win
rate removes a planted length effect."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from prefkit.analysis.length_control import fit_soft_logistic, lc_win_rate
from prefkit.errors import ValidationError


@pytest.mark.parametrize("c", [0.1, 1.0, 100.0])
def test_glm_equals_sklearn(c: float) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    n = 400
    x = np.column_stack([np.tanh(rng.normal(size=n)), rng.normal(size=n)])
    p = expit(0.3 + 1.2 * x[:, 0] - 0.7 * x[:, 1] + rng.normal(0, 0.5, n))
    p = np.where(rng.random(n) < 0.3, np.round(p), p)  # mix hard and soft labels
    b, w = fit_soft_logistic(x, p, c=c)
    # the soft labels as two weighted rows, as AlpacaEval does
    xx = np.vstack([x, x])
    yy = np.concatenate([np.ones(n), np.zeros(n)])
    ww = np.concatenate([p, 1 - p])
    ref = LogisticRegression(C=c, tol=1e-12, max_iter=100_000).fit(xx, yy, sample_weight=ww)
    assert b == pytest.approx(float(ref.intercept_[0]), abs=1e-6)
    np.testing.assert_allclose(w, ref.coef_[0], atol=1e-6)


def test_lc_removes_a_planted_length_effect() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    difficulty = rng.normal(size=n)
    # two models of equal quality: the verbose one wins more only through length
    res = {}
    for name, mean_len in (("verbose", 600.0), ("concise", 0.0)):
        dl = rng.normal(mean_len, 300.0, n)
        sd = dl.std(ddof=1)
        p = (rng.random(n) < expit(0.0 + 1.5 * np.tanh(dl / sd) - 0.5 * difficulty)).astype(float)
        res[name] = lc_win_rate(p, dl, difficulty, c=100.0)
    assert res["verbose"][0] > res["concise"][0] + 20  # raw win rates far apart
    assert abs(res["verbose"][1] - res["concise"][1]) < 6  # LC win rates close


def test_bad_inputs() -> None:
    with pytest.raises(ValidationError, match="probabilities"):
        fit_soft_logistic(np.zeros((2, 1)), np.array([0.5, 1.5]))
    with pytest.raises(ValidationError, match="C must be > 0"):
        fit_soft_logistic(np.zeros((2, 1)), np.array([0.5, 1.0]), c=0)
