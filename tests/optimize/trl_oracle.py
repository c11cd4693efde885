"""TRL's own DPO loss code, called without a trainer.

TRL (1.x) computes the DPO losses inline in ``DPOTrainer._compute_loss(self, model, inputs, return_outputs)``.
We call that function unbound on a minimal object carrying the attributes it reads, with a stand-in model whose
per-token log-probabilities sum to the per-sequence log-probabilities we choose (all mass on the first
completion token) and with the reference log-probabilities passed as precomputed inputs. What comes back is
TRL's batch-mean loss, differentiable with respect to our inputs.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import torch
from trl import DPOTrainer


class _Accelerator:
    device = torch.device("cpu")

    @staticmethod
    def gather_for_metrics(x: Any) -> Any:
        return x

    gather = gather_for_metrics


class _Model:
    training = True

    def __init__(self, logps: torch.Tensor, width: int) -> None:
        self.logps = logps
        self.width = width

    def __call__(self, **kwargs: Any) -> Any:
        n = self.logps.shape[0]
        per_token = torch.zeros(n, self.width - 1, dtype=self.logps.dtype)
        per_token = per_token + torch.nn.functional.pad(self.logps[:, None], (0, self.width - 2))
        z = torch.zeros(n, self.width - 1, dtype=self.logps.dtype)
        return SimpleNamespace(
            log_probs=per_token,
            entropy=z,
            mean_logits=z,
            is_top1=torch.zeros(n, self.width - 1, dtype=torch.bool),
        )


def trl_dpo_loss(
    pc: torch.Tensor,
    pr: torch.Tensor,
    rc: torch.Tensor,
    rr: torch.Tensor,
    *,
    beta: float,
    loss_type: str,
    label_smoothing: float = 0.0,
    f_divergence_type: str = "reverse_kl",
    f_alpha_divergence_coef: float = 0.5,
    discopop_tau: float = 0.05,
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """TRL's batch-mean loss for per-sequence log-probabilities (lengths: completion tokens, default 1)."""
    b = pc.shape[0]
    lc = torch.ones(b, dtype=torch.long) if chosen_lengths is None else chosen_lengths.long()
    lr = torch.ones(b, dtype=torch.long) if rejected_lengths is None else rejected_lengths.long()
    lengths = torch.cat([lc, lr])
    width = int(lengths.max()) + 2
    completion_mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
    model = _Model(torch.cat([pc, pr]), width)
    fake = SimpleNamespace(
        model=model,
        accelerator=_Accelerator(),
        aux_loss_enabled=False,
        ld_alpha=None,
        precompute_ref_logps=True,
        f_divergence_type=f_divergence_type,
        f_alpha_divergence_coef=f_alpha_divergence_coef,
        loss_types=[loss_type],
        loss_weights=[1.0],
        beta=beta,
        label_smoothing=label_smoothing,
        use_weighting=False,
        args=SimpleNamespace(discopop_tau=discopop_tau),
        _metrics=defaultdict(lambda: defaultdict(list)),
        _total_train_tokens=0,
        _tp_size=1,
    )
    inputs = {
        "input_ids": torch.zeros(2 * b, width, dtype=torch.long),
        "attention_mask": torch.ones(2 * b, width, dtype=torch.long),
        "completion_mask": completion_mask,
        "ref_chosen_logps": rc,
        "ref_rejected_logps": rr,
    }
    return DPOTrainer._compute_loss(fake, model, inputs, return_outputs=False)
