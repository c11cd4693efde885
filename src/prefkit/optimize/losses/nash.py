"""Objectives of Nash-style iterative preference optimisation (general, possibly intransitive preferences).

Each iteration t samples K responses per prompt from the current policy ``pi_t``, has a judge (or a general
preference model) compare them, and trains ``pi_{t+1}`` with one of these losses; ``prev_*`` are the
log-probabilities under ``pi_t``.

* **DNO** (Rosset et al. 2024, Direct Nash Optimization, Alg. 1): a soft-label DPO against ``pi_t`` whose
  target is ``sigmoid(w_a - w_b)``, the win rates ``w = P(y beats pi_t)`` of the two responses.
* **INPO** (Zhang et al. 2024, Iterative Nash Policy Optimization, eq. 8): squared loss
  ``(h_t - (p - 1/2) / eta)^2`` with ``h_t = log pi(y)/pi(y') - (tau/eta) log pi_ref(y)/pi_ref(y') -
  ((eta - tau)/eta) log pi_t(y)/pi_t(y')``; ``p`` = P(y beats y') (1 for a judged winner).
* **SPPO** (Wu et al. 2024, Self-Play Preference Optimization, eq. 4.7): per response,
  ``(log pi(y)/pi_t(y) - eta (w - 1/2))^2`` with ``w`` the estimated win rate of y against pi_t.
"""

from __future__ import annotations

from typing import Any

from prefkit.errors import ValidationError
from prefkit.optimize.losses._common import positive, same_shape, torch
from prefkit.optimize.losses.soft import soft_label_dpo_loss


def _probs(t: Any, x: Any, like: Any, name: str) -> Any:
    p = t.as_tensor(x, dtype=like.dtype, device=like.device)
    if p.dim() == 0:
        p = p.expand_as(like)
    same_shape(reference=like, **{name: p})
    if bool(((p < 0) | (p > 1) | t.isnan(p)).any()):
        raise ValidationError(f"{name} must hold probabilities in [0, 1] (no NaN)")
    return p


def dno_loss(
    policy_a_logps: Any,
    policy_b_logps: Any,
    prev_a_logps: Any,
    prev_b_logps: Any,
    win_rate_a: Any,
    win_rate_b: Any,
    eta: float = 0.1,
) -> Any:
    """Per-pair DNO loss for responses a and b sampled from ``pi_t`` with win rates against ``pi_t``."""
    t = torch()
    wa = _probs(t, win_rate_a, policy_a_logps, "win_rate_a")
    wb = _probs(t, win_rate_b, policy_a_logps, "win_rate_b")
    return soft_label_dpo_loss(
        policy_a_logps, policy_b_logps, prev_a_logps, prev_b_logps, t.sigmoid(wa - wb), beta=eta
    )


def inpo_loss(
    policy_chosen_logps: Any,
    policy_rejected_logps: Any,
    ref_chosen_logps: Any,
    ref_rejected_logps: Any,
    prev_chosen_logps: Any,
    prev_rejected_logps: Any,
    eta: float = 0.1,
    tau: float = 0.01,
    preference: Any = 1.0,
) -> Any:
    """Per-pair INPO loss; ``preference`` = P(chosen beats rejected) (1.0 for judged pairs).

    ``tau = eta`` drops the previous policy and gives IPO's loss with ``beta = eta``.
    """
    t = torch()
    same_shape(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        ref_chosen_logps=ref_chosen_logps,
        ref_rejected_logps=ref_rejected_logps,
        prev_chosen_logps=prev_chosen_logps,
        prev_rejected_logps=prev_rejected_logps,
    )
    positive("eta", eta)
    if not 0 <= tau <= eta:
        raise ValidationError(f"tau must be in [0, eta] = [0, {eta}], got {tau}")
    p = _probs(t, preference, policy_chosen_logps, "preference")
    h = (
        (policy_chosen_logps - policy_rejected_logps)
        - (tau / eta) * (ref_chosen_logps - ref_rejected_logps)
        - ((eta - tau) / eta) * (prev_chosen_logps - prev_rejected_logps)
    )
    return (h - (p - 0.5) / eta) ** 2


def sppo_loss(policy_logps: Any, prev_logps: Any, win_rate: Any, eta: float = 1.0) -> Any:
    """Per-response SPPO loss ``(log pi(y)/pi_t(y) - eta (w - 1/2))^2``."""
    t = torch()
    same_shape(policy_logps=policy_logps, prev_logps=prev_logps)
    positive("eta", eta)
    w = _probs(t, win_rate, policy_logps, "win_rate")
    return (policy_logps - prev_logps - eta * (w - 0.5)) ** 2
