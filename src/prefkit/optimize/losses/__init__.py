"""Preference-optimisation losses as pure functions over per-sequence log-probabilities (torch).

* :func:`dpo_loss` (:mod:`.pairwise`): every log-probability-only ``loss_type`` of TRL's DPOTrainer, with
  TRL's argument names and the f-divergence variants (:mod:`.fdiv`);
* :func:`plackett_luce_dpo_loss` (:mod:`.listwise`): listwise DPO for K-wise rankings;
* :func:`weighted_dpo_loss`, :func:`soft_label_dpo_loss` (:mod:`.soft`);
* :func:`dno_loss`, :func:`inpo_loss`, :func:`sppo_loss` (:mod:`.nash`): Nash-style iteration objectives;
* :func:`general_preference_loss`, :func:`fit_general_preference` (:mod:`.general`): a skew-symmetric
  preference model for intransitive preferences.

All return per-example losses (reduce them yourself) and work in float64 for testing.
"""

from prefkit.optimize.losses.fdiv import F_DIVERGENCES, f_divergence_scores
from prefkit.optimize.losses.general import (
    GeneralPreferenceFit,
    fit_general_preference,
    general_preference_loss,
    skew_score,
)
from prefkit.optimize.losses.listwise import plackett_luce_dpo_loss
from prefkit.optimize.losses.nash import dno_loss, inpo_loss, sppo_loss
from prefkit.optimize.losses.pairwise import F_DIVERGENCE_LOSS_TYPES, LOSS_TYPES, dpo_loss, implicit_rewards
from prefkit.optimize.losses.soft import soft_label_dpo_loss, weighted_dpo_loss

__all__ = [
    "F_DIVERGENCES",
    "F_DIVERGENCE_LOSS_TYPES",
    "LOSS_TYPES",
    "GeneralPreferenceFit",
    "dno_loss",
    "dpo_loss",
    "f_divergence_scores",
    "fit_general_preference",
    "general_preference_loss",
    "implicit_rewards",
    "inpo_loss",
    "plackett_luce_dpo_loss",
    "skew_score",
    "soft_label_dpo_loss",
    "sppo_loss",
    "weighted_dpo_loss",
]
