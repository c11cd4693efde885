"""The pairwise DPO family over per-sequence log-probabilities: every ``loss_type`` of TRL's DPOTrainer
that needs only log-probabilities, as one pure function returning per-example losses.

``dpo_loss`` takes TRL's argument names. ``delta = beta * (score(chosen) - score(rejected))`` with
``score = f'(pi/pi_ref)`` (reverse KL: the log-ratio; see :mod:`.fdiv`). ``ipo`` and ``sigmoid_norm`` divide the
scores by the completion lengths as TRL does (``chosen_lengths`` / ``rejected_lengths``, default 1).
``aot`` and ``aot_unpaired`` sort across the batch (optimal transport over the batch), so their i-th loss belongs
to the i-th smallest margin, not to example i. ``label_smoothing`` is the flip rate of cDPO for ``sigmoid``
(0 gives plain DPO), of ``robust``, ``aot``, ``aot_unpaired``, and the ``epsilon`` of ``exo_pair`` (must be > 0).
"""

from __future__ import annotations

from typing import Any

from prefkit.errors import ValidationError
from prefkit.optimize.losses._common import positive, same_shape, torch
from prefkit.optimize.losses.fdiv import f_divergence_scores

LOSS_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sigmoid_norm",
)
# losses that read only the difference of chosen and rejected scores: the f-divergences generalise them
F_DIVERGENCE_LOSS_TYPES = ("sigmoid", "sigmoid_norm", "hinge", "ipo", "exo_pair", "robust", "discopop")


def dpo_loss(
    policy_chosen_logps: Any,
    policy_rejected_logps: Any,
    ref_chosen_logps: Any,
    ref_rejected_logps: Any,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
    *,
    f_divergence_type: str = "reverse_kl",
    f_alpha_divergence_coef: float = 0.5,
    discopop_tau: float = 0.05,
    chosen_lengths: Any = None,
    rejected_lengths: Any = None,
) -> Any:
    """Per-example losses (a tensor of shape ``(batch,)``) of the DPO variant ``loss_type``.

    >>> import torch
    >>> z = torch.zeros(2, dtype=torch.float64)
    >>> dpo_loss(z, z, z, z).tolist()  # -log sigmoid(0) = log 2
    [0.6931471805599453, 0.6931471805599453]
    """
    t = torch()
    F = t.nn.functional
    same_shape(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        ref_chosen_logps=ref_chosen_logps,
        ref_rejected_logps=ref_rejected_logps,
    )
    positive("beta", beta)
    if loss_type not in LOSS_TYPES:
        raise ValidationError(f"unknown loss_type {loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")
    if f_divergence_type != "reverse_kl" and loss_type not in F_DIVERGENCE_LOSS_TYPES:
        raise ValidationError(
            f"f_divergence_type={f_divergence_type!r} applies only to {', '.join(F_DIVERGENCE_LOSS_TYPES)} "
            f"(the others read the chosen and rejected rewards separately); use reverse_kl with {loss_type!r}"
        )
    if not 0.0 <= label_smoothing < 0.5 and loss_type in ("sigmoid", "robust"):
        raise ValidationError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    if loss_type == "exo_pair" and not 0.0 < label_smoothing < 1.0:
        raise ValidationError("exo_pair needs 0 < label_smoothing < 1 (the EXO paper recommends 1e-3)")

    chosen_lr = policy_chosen_logps - ref_chosen_logps
    rejected_lr = policy_rejected_logps - ref_rejected_logps
    cs = f_divergence_scores(chosen_lr, f_divergence_type, f_alpha_divergence_coef)
    rs = f_divergence_scores(rejected_lr, f_divergence_type, f_alpha_divergence_coef)
    eps = label_smoothing

    if loss_type in ("ipo", "sigmoid_norm"):
        lc = _lengths(t, chosen_lengths, cs, "chosen_lengths")
        lr = _lengths(t, rejected_lengths, rs, "rejected_lengths")
        delta = cs / lc - rs / lr
        if loss_type == "ipo":
            return (delta - 1 / (2 * beta)) ** 2
        return -F.logsigmoid(beta * delta)
    z = beta * (cs - rs)
    if loss_type == "sigmoid":
        return -(1 - eps) * F.logsigmoid(z) - eps * F.logsigmoid(-z)
    if loss_type == "hinge":
        return t.relu(1 - z)
    if loss_type == "exo_pair":
        return t.sigmoid(z) * (F.logsigmoid(z) - t.log1p(t.tensor(-eps, dtype=z.dtype))) + t.sigmoid(-z) * (
            F.logsigmoid(-z) - t.log(t.tensor(eps, dtype=z.dtype))
        )
    if loss_type == "robust":
        return (-(1 - eps) * F.logsigmoid(z) + eps * F.logsigmoid(-z)) / (1 - 2 * eps)
    if loss_type == "discopop":
        positive("discopop_tau", discopop_tau)
        # exp(-z) * sigmoid(z / tau) as one exponent: finite where TRL's product gives inf * 0 = nan
        return -F.logsigmoid(z) * t.sigmoid(-z / discopop_tau) + t.exp(F.logsigmoid(z / discopop_tau) - z)
    cr, rr = beta * chosen_lr, beta * rejected_lr
    if loss_type == "nca_pair":
        return -F.logsigmoid(cr) - 0.5 * F.logsigmoid(-cr) - 0.5 * F.logsigmoid(-rr)
    if loss_type == "bco_pair":
        return -F.logsigmoid(cr) - F.logsigmoid(-rr)
    if loss_type == "sppo_hard":
        return (chosen_lr - 0.5 / beta) ** 2 + (rejected_lr + 0.5 / beta) ** 2
    if loss_type == "apo_zero":
        return 1 - t.sigmoid(cr) + t.sigmoid(rr)
    if loss_type == "apo_down":
        return t.sigmoid(cr) + 1 - t.sigmoid(cr - rr)
    if loss_type == "aot":
        a = t.sort(policy_chosen_logps - policy_rejected_logps, dim=0).values
        b = t.sort(ref_chosen_logps - ref_rejected_logps, dim=0).values
        d = beta * (a - b)
    else:  # aot_unpaired
        d = beta * (t.sort(chosen_lr, dim=0).values - t.sort(rejected_lr, dim=0).values)
    return -F.logsigmoid(d) * (1 - eps) - F.logsigmoid(-d) * eps


def _lengths(t: Any, lengths: Any, like: Any, name: str) -> Any:
    if lengths is None:
        return t.ones_like(like)
    n = t.as_tensor(lengths, dtype=like.dtype, device=like.device)
    if tuple(n.shape) != tuple(like.shape):
        raise ValidationError(f"{name} has shape {tuple(n.shape)}, expected {tuple(like.shape)}")
    return n.clamp(min=1.0)


def implicit_rewards(
    policy_chosen_logps: Any,
    policy_rejected_logps: Any,
    ref_chosen_logps: Any,
    ref_rejected_logps: Any,
    beta: float = 0.1,
) -> tuple[Any, Any]:
    """``beta * log(pi/pi_ref)`` of the chosen and the rejected responses (what TRL logs as rewards/*)."""
    return (
        beta * (policy_chosen_logps - ref_chosen_logps).detach(),
        beta * (policy_rejected_logps - ref_rejected_logps).detach(),
    )
