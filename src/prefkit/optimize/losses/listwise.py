"""Listwise DPO for K-wise rankings under the Plackett-Luce model (DPO paper, appendix A.3).

The implicit reward of response k is ``r_k = beta * (log pi(y_k) - log pi_ref(y_k))``; a ranking best first has
Plackett-Luce probability ``prod_k exp(r_k) / sum_{j >= k} exp(r_j)``, and the loss is its negative log. With
K = 2 this is the sigmoid DPO loss. Rankings of different lengths share one padded ``(batch, K)`` tensor with a
boolean ``mask`` (False = padding, which must come after the real entries).
"""

from __future__ import annotations

from typing import Any

from prefkit.errors import ValidationError
from prefkit.optimize.losses._common import positive, same_shape, torch


def plackett_luce_dpo_loss(policy_logps: Any, ref_logps: Any, beta: float = 0.1, mask: Any = None) -> Any:
    """Per-ranking losses: ``policy_logps`` / ``ref_logps`` have shape ``(batch, K)``, columns best first."""
    t = torch()
    same_shape(policy_logps=policy_logps, ref_logps=ref_logps, mask=mask)
    positive("beta", beta)
    if policy_logps.dim() != 2:
        raise ValidationError(f"policy_logps must have shape (batch, K), got {tuple(policy_logps.shape)}")
    r = beta * (policy_logps - ref_logps)
    if mask is None:
        mask = t.ones_like(r, dtype=t.bool)
    else:
        mask = mask.to(t.bool)
        if (mask[:, 1:] & ~mask[:, :-1]).any():
            raise ValidationError("mask must be True for the real entries first, then False for the padding")
    if (mask.sum(dim=1) < 2).any():
        raise ValidationError(
            "each ranking needs at least 2 responses (a single response carries no preference)"
        )
    neg_inf = t.tensor(float("-inf"), dtype=r.dtype, device=r.device)
    rm = t.where(mask, r, neg_inf)
    # log sum_{j >= k} exp(r_j): reverse cumulative logsumexp
    tail = t.flip(t.logcumsumexp(t.flip(rm, dims=[1]), dim=1), dims=[1])
    terms = t.where(mask, rm - tail, t.zeros_like(r))
    return -terms.sum(dim=1)
