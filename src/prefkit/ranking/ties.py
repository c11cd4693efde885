"""Tie models for paired comparisons, fitted on the count table with their tie parameter estimated.

With ``d = theta_i - theta_j`` (natural logs, centred):

* **Davidson (1970)**: ``P(i) = e^{d/2} / D``, ``P(j) = e^{-d/2} / D``, ``P(tie) = nu / D`` with
  ``D = e^{d/2} + e^{-d/2} + nu``; fitted on ``eta = log nu``. Two equal items tie with probability
  ``nu / (2 + nu)``.
* **Rao-Kupper (1967)**: ``P(i) = sigmoid(d - eta)``, ``P(j) = sigmoid(-d - eta)``, ties take the rest,
  ``P(tie) = expm1(2 eta) sigmoid(d - eta) sigmoid(-d - eta)``; ``theta_RK = e^eta >= 1``.

Both need at least one tie and one decisive outcome for a finite tie parameter.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

from prefkit.errors import DataProblemError
from prefkit.ranking._pairfit import PairModel, Terms
from prefkit.ranking.bt import PairFit, fit_pair_model, validate_table
from prefkit.ranking.counts import CountTable


def davidson_terms(d: np.ndarray, eta: np.ndarray | None) -> Terms:
    """Per-outcome log-probabilities and derivatives of the Davidson model (stable for large ``|d|``)."""
    assert eta is not None
    m = 0.5 * np.abs(d)
    e2 = np.exp(-2.0 * m)
    q_num = np.exp(eta - m)  # nu e^{-m}
    den = 1.0 + e2 + q_num  # D e^{-m}
    log_d = m + np.log(den)
    a = np.sign(d) * (1.0 - e2) / (2.0 * den)  # d log D / dd
    c = (1.0 + e2) / (4.0 * den)  # (e^{d/2} + e^{-d/2}) / (4 D)
    q = q_num / den  # d log D / d eta
    half = 0.5 * d
    lp = np.stack([half - log_d, -half - log_d, eta - log_d])
    d1 = np.stack([0.5 - a, -0.5 - a, -a])
    v_dd = -(c - a * a)
    v_ee = -(q - q * q)
    v_de = a * q
    return Terms(
        lp=lp,
        d1=d1,
        d2=np.stack([v_dd, v_dd, v_dd]),
        e1=np.stack([-q, -q, 1.0 - q]),
        de=np.stack([v_de, v_de, v_de]),
        e2=np.stack([v_ee, v_ee, v_ee]),
    )


def rao_kupper_terms(d: np.ndarray, eta: np.ndarray | None) -> Terms:
    """Per-outcome log-probabilities and derivatives of the Rao-Kupper model (``eta = log theta > 0``)."""
    assert eta is not None
    eta = np.maximum(eta, 1e-300)
    u, v = expit(d - eta), expit(-d - eta)
    lu, lv = log_expit(d - eta), log_expit(-d - eta)
    with np.errstate(divide="ignore"):
        log_em1 = np.log(np.expm1(2.0 * eta))
    em = -np.expm1(-2.0 * eta)  # 1 - e^{-2 eta}
    l1 = 2.0 / em
    l2 = -4.0 * np.exp(-2.0 * eta) / (em * em)
    hu, hv = u * (1.0 - u), v * (1.0 - v)
    zero = np.zeros_like(d)
    return Terms(
        lp=np.stack([lu, lv, log_em1 + lu + lv]),
        d1=np.stack([1.0 - u, -(1.0 - v), (1.0 - u) - (1.0 - v)]),
        d2=np.stack([-hu, -hv, -hu - hv]),
        e1=np.stack([-(1.0 - u) + zero, -(1.0 - v) + zero, l1 - (1.0 - u) - (1.0 - v)]),
        de=np.stack([hu, -hv, hu - hv]),
        e2=np.stack([-hu, -hv, l2 - hu - hv]),
    )


DAVIDSON = PairModel(name="davidson", terms=davidson_terms, n_eta=1, eta0=0.0)
RAO_KUPPER = PairModel(name="rao-kupper", terms=rao_kupper_terms, n_eta=1, eta0=0.5, eta_min=0.0)
TIE_MODELS = {"davidson": DAVIDSON, "rao-kupper": RAO_KUPPER}


def _check_ties(table: CountTable, name: str) -> None:
    validate_table(table)
    ties = float(table.tie.sum())
    decisive = float((table.win + table.loss).sum())
    if ties <= 0:
        raise DataProblemError(
            f"the {name} model needs ties to estimate its tie parameter, and this log has none; "
            "use method 'bt' instead"
        )
    if decisive <= 0:
        raise DataProblemError(
            f"every comparison is a tie, so the {name} tie parameter is infinite; use method 'bt' with ties "
            "'half' (all ratings equal)"
        )


def fit_davidson(table: CountTable, *, prior: float = 0.0, tol: float = 1e-10) -> PairFit:
    """Davidson tie model; ``fit.tie_param`` is ``log nu`` (see :func:`davidson_tie_probability`)."""
    _check_ties(table, "Davidson")
    return fit_pair_model(table, DAVIDSON, ties="model", prior=prior, tol=tol)


def fit_rao_kupper(table: CountTable, *, prior: float = 0.0, tol: float = 1e-10) -> PairFit:
    """Rao-Kupper tie model; ``fit.tie_param`` is ``log theta`` (``theta = exp(tie_param) > 1``)."""
    _check_ties(table, "Rao-Kupper")
    return fit_pair_model(table, RAO_KUPPER, ties="model", prior=prior, tol=tol)


def outcome_probabilities(model: str, d: np.ndarray, eta: float | None) -> np.ndarray:
    """``(3, *d.shape)`` probabilities of win / loss / tie at strength difference ``d``."""
    if model == "bt":
        p = expit(d)
        return np.stack([p, 1.0 - p, np.zeros_like(p)])
    terms = TIE_MODELS[model].terms(np.asarray(d, dtype=np.float64), np.asarray(eta, dtype=np.float64))
    return np.exp(terms.lp)


def davidson_tie_probability(log_nu: float) -> float:
    """Probability that two equally strong items tie under Davidson's model."""
    nu = float(np.exp(log_nu))
    return nu / (2.0 + nu)
