"""FastChat's ``compute_mle_elo`` (lm-sys/FastChat, fastchat/serve/monitor/elo_analysis.py), re-typed as an oracle.

Logistic regression without intercept on the design matrix +/-log(base), ties counted as one win for each
side with the wins doubled (i.e. half a win), fitted by scikit-learn. Used only by the tests and the benchmark.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def compute_mle_elo(
    df: pd.DataFrame, scale: float = 400, base: float = 10, init_rating: float = 1000
) -> pd.Series:
    from sklearn.linear_model import LogisticRegression

    ptbl_a_win = pd.pivot_table(
        df[df["winner"] == "model_a"], index="model_a", columns="model_b", aggfunc="size", fill_value=0
    )
    if sum(df["winner"].isin(["tie", "tie (bothbad)"])) == 0:
        ptbl_tie = pd.DataFrame(0, index=ptbl_a_win.index, columns=ptbl_a_win.columns)
    else:
        ptbl_tie = pd.pivot_table(
            df[df["winner"].isin(["tie", "tie (bothbad)"])],
            index="model_a",
            columns="model_b",
            aggfunc="size",
            fill_value=0,
        )
        ptbl_tie = ptbl_tie + ptbl_tie.T
    ptbl_b_win = pd.pivot_table(
        df[df["winner"] == "model_b"], index="model_a", columns="model_b", aggfunc="size", fill_value=0
    )
    ptbl_win = ptbl_a_win * 2 + ptbl_b_win.T * 2 + ptbl_tie

    models = pd.Series(np.arange(len(ptbl_win.index)), index=ptbl_win.index)
    p = len(models)
    X = np.zeros([p * (p - 1) * 2, p])
    Y = np.zeros(p * (p - 1) * 2)
    cur_row = 0
    sample_weights = []
    for m_a in ptbl_win.index:
        for m_b in ptbl_win.columns:
            if m_a == m_b:
                continue
            if math.isnan(ptbl_win.loc[m_a, m_b]) or math.isnan(ptbl_win.loc[m_b, m_a]):
                continue
            X[cur_row, models[m_a]] = +math.log(base)
            X[cur_row, models[m_b]] = -math.log(base)
            Y[cur_row] = 1.0
            sample_weights.append(ptbl_win.loc[m_a, m_b])
            X[cur_row + 1, models[m_a]] = math.log(base)
            X[cur_row + 1, models[m_b]] = -math.log(base)
            Y[cur_row + 1] = 0.0
            sample_weights.append(ptbl_win.loc[m_b, m_a])
            cur_row += 2
    X = X[:cur_row]
    Y = Y[:cur_row]
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6)
    lr.fit(X, Y, sample_weight=sample_weights)
    elo_scores = scale * lr.coef_[0] + init_rating
    return pd.Series(elo_scores, index=models.index).sort_values(ascending=False)


def get_bootstrap_result(battles: pd.DataFrame, rounds: int, seed: int = 0) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        idx = rng.integers(0, len(battles), len(battles))
        rows.append(compute_mle_elo(battles.iloc[idx]))
    return pd.DataFrame(rows)
