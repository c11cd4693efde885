"""Length-controlled win rates (AlpacaEval 2.0's GLM), fitted from the user's own data.

For a model m against a baseline on instructions i, with preference ``p_i`` in [0, 1] (1: m won, 0: the
baseline won, 1/2: tie, or a judge's weighted probability), AlpacaEval fits

    logit P(m beats baseline on i) = theta + phi * tanh(delta_len_i / sd(delta_len)) + psi * d_i

where ``delta_len_i`` is the length of m's answer minus the baseline's and ``d_i`` the instruction's
difficulty, then reports the win rate with the length term switched off: ``100 * mean_i sigmoid(theta +
psi * d_i)``. Here ``d_i = -logit(clip(mean over models of p_mi))`` is estimated from the same data (no
downloaded table), the soft labels enter as two weighted rows (label 1 with weight p, label 0 with weight
1 - p), and the fit is L2-penalised logistic regression with the penalty ``1 / (2 C)`` on (phi, psi) and an
unpenalised intercept: the objective of scikit-learn's ``LogisticRegression(C=C)``, which the tests match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from prefkit.data.model import OUTCOME_A, OUTCOME_B, Dataset
from prefkit.errors import DataProblemError, ValidationError


def fit_soft_logistic(
    x: np.ndarray, p: np.ndarray, *, c: float = 1.0, weight: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """(intercept, coefficients) minimising ``0.5 |w|^2 + C * sum_i s_i * CE(p_i, sigmoid(b + x_i w))``."""
    x = np.asarray(x, np.float64)
    p = np.asarray(p, np.float64)
    s = np.ones(len(p)) if weight is None else np.asarray(weight, np.float64)
    if x.ndim != 2 or len(x) != len(p):
        raise ValidationError("x must be (n, k) with one row per preference p")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValidationError("preferences must be probabilities in [0, 1]")
    if c <= 0:
        raise ValidationError(f"C must be > 0, got {c}")
    k = x.shape[1]

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, w = theta[0], theta[1:]
        z = b + x @ w
        loss = -np.sum(s * (p * log_expit(z) + (1 - p) * log_expit(-z)))
        r = s * (expit(z) - p)
        grad = np.concatenate([[c * r.sum()], c * (x.T @ r) + w])
        return 0.5 * float(w @ w) + c * float(loss), grad

    res = minimize(f, np.zeros(k + 1), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15,
                   "maxiter": 10_000})  # fmt: skip
    return float(res.x[0]), res.x[1:]


@dataclass(frozen=True)
class LCResult:
    model: str
    n: int
    win_rate: float  # percent, ties counting one half
    lc_win_rate: float  # percent
    intercept: float
    length_coef: float
    difficulty_coef: float


def lc_win_rate(
    p: np.ndarray, delta_len: np.ndarray, difficulty: np.ndarray, *, c: float = 1.0
) -> tuple[float, float, np.ndarray]:
    """(raw win rate %, length-controlled win rate %, [intercept, phi, psi]) of one model."""
    p = np.asarray(p, np.float64)
    dl = np.asarray(delta_len, np.float64)
    sd = dl.std(ddof=1) if len(dl) > 1 else 0.0
    tl = np.tanh(dl / sd) if sd > 0 else np.zeros_like(dl)
    x = np.column_stack([tl, np.asarray(difficulty, np.float64)])
    b, w = fit_soft_logistic(x, p, c=c)
    lc = 100.0 * float(np.mean(expit(b + w[1] * x[:, 1])))
    return 100.0 * float(p.mean()), lc, np.concatenate([[b], w])


def lc_from_dataset(ds: Dataset, baseline: str, *, c: float = 1.0, clip: float = 0.02) -> list[LCResult]:
    """Length-controlled win rates of every model judged against ``baseline`` on the pairs of ``ds``."""
    if baseline not in ds.items:
        raise ValidationError(
            f"baseline {baseline!r} is not among the items; choose one of {ds.items.names[:10]}"
        )
    pw = ds.pairwise
    base = ds.items.code(baseline)
    rows = np.flatnonzero((pw.a == base) | (pw.b == base))
    if not len(rows):
        raise DataProblemError(f"no pair involves the baseline {baseline!r}")
    ta = ds.responses.lookup(pw.context[rows], pw.a[rows])
    tb = ds.responses.lookup(pw.context[rows], pw.b[rows])
    missing = [
        int(pw.line[r]) for r, x, y in zip(rows.tolist(), ta, tb, strict=True) if x is None or y is None
    ]
    if missing:
        raise DataProblemError(
            f"{len(missing)} pairs with the baseline have no response texts (first at line {missing[0]}); "
            "the length control needs both answers' texts"
        )
    a_is_base = pw.a[rows] == base
    model = np.where(a_is_base, pw.b[rows], pw.a[rows])
    o = pw.outcome[rows]
    won_a = np.where(o == OUTCOME_A, 1.0, np.where(o == OUTCOME_B, 0.0, 0.5))
    p = np.where(a_is_base, 1.0 - won_a, won_a)
    la = np.asarray([len(x) for x in ta], np.float64)  # type: ignore[arg-type]
    lb = np.asarray([len(y) for y in tb], np.float64)  # type: ignore[arg-type]
    dl = np.where(a_is_base, lb - la, la - lb)
    ctx = pw.context[rows]
    # instruction difficulty from all models' preferences on that instruction
    uctx, inv = np.unique(ctx, return_inverse=True)
    mean_p = np.bincount(inv, weights=p) / np.bincount(inv)
    q = np.clip(mean_p, clip, 1 - clip)
    difficulty = -np.log(q / (1 - q))[inv]
    out = []
    for m in np.unique(model).tolist():
        sel = model == m
        if sel.sum() < 3:
            continue
        wr, lc, coef = lc_win_rate(p[sel], dl[sel], difficulty[sel], c=c)
        out.append(LCResult(ds.items.name(m), int(sel.sum()), wr, lc, *map(float, coef)))
    if not out:
        raise DataProblemError("every model has fewer than 3 pairs with the baseline; the GLM needs more")
    return sorted(out, key=lambda r: -r.lc_win_rate)
