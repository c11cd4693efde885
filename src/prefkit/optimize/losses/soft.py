"""Weighted and soft-label DPO.

* ``weighted_dpo_loss``: the sigmoid DPO loss times a per-example weight (annotator agreement, a curriculum
  weight, an importance weight).
* ``soft_label_dpo_loss``: cross-entropy between a target preference probability ``p`` (that chosen beats
  rejected: a vote share, a judge's probability, a win-rate difference) and the Bradley-Terry probability of
  the implicit rewards, ``-(p log sigmoid(z) + (1 - p) log sigmoid(-z))`` with ``z = beta * (log-ratio chosen -
  log-ratio rejected)``. ``p = 1`` is DPO; ``p = 1 - eps`` is cDPO (TRL's label smoothing).
"""

from __future__ import annotations

from typing import Any

from prefkit.errors import ValidationError
from prefkit.optimize.losses._common import positive, same_shape, torch


def _z(pc: Any, pr: Any, rc: Any, rr: Any, beta: float) -> Any:
    same_shape(policy_chosen_logps=pc, policy_rejected_logps=pr, ref_chosen_logps=rc, ref_rejected_logps=rr)
    positive("beta", beta)
    return beta * ((pc - rc) - (pr - rr))


def soft_label_dpo_loss(
    policy_chosen_logps: Any,
    policy_rejected_logps: Any,
    ref_chosen_logps: Any,
    ref_rejected_logps: Any,
    target: Any,
    beta: float = 0.1,
) -> Any:
    """Per-example cross-entropy against ``target`` = P(chosen preferred), values in [0, 1]."""
    t = torch()
    F = t.nn.functional
    z = _z(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)
    p = t.as_tensor(target, dtype=z.dtype, device=z.device)
    same_shape(policy_chosen_logps=z, target=p)
    if bool(((p < 0) | (p > 1) | t.isnan(p)).any()):
        raise ValidationError("target must hold probabilities in [0, 1] (no NaN)")
    return -(p * F.logsigmoid(z) + (1 - p) * F.logsigmoid(-z))


def weighted_dpo_loss(
    policy_chosen_logps: Any,
    policy_rejected_logps: Any,
    ref_chosen_logps: Any,
    ref_rejected_logps: Any,
    weight: Any,
    beta: float = 0.1,
) -> Any:
    """Per-example ``weight * -log sigmoid(z)``; weights must be finite and >= 0."""
    t = torch()
    z = _z(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)
    w = t.as_tensor(weight, dtype=z.dtype, device=z.device)
    same_shape(policy_chosen_logps=z, weight=w)
    if bool((~t.isfinite(w) | (w < 0)).any()):
        raise ValidationError("weight must be finite and >= 0")
    return -w * t.nn.functional.logsigmoid(z)
