"""f-divergence scores for DPO (f-DPO, Wang et al. 2023): ``f'(pi/pi_ref)`` in place of ``log(pi/pi_ref)``.

With a divergence ``D_f(pi || pi_ref)`` as the regulariser, the implicit reward of a response is
``beta * f'(pi(y)/pi_ref(y))`` (up to a term that cancels in chosen - rejected), so every pairwise loss that only
reads the difference of scores generalises by replacing the log-ratio with ``f'(exp(log-ratio))``:

==================  =====================================  ===================================
divergence          f(u)                                    f'(u) as a function of log u
==================  =====================================  ===================================
reverse_kl          u log u                                 log u (+1, which cancels)
forward_kl          -log u                                  1 - exp(-log u)
js_divergence       u log u - (u+1) log((u+1)/2)            log 2 + logsigmoid(log u)
alpha_divergence    (u^(1-a) - (1-a)u - a) / (a(a-1))       (exp((a-1) log u) - 1) / (a - 1)
==================  =====================================  ===================================

The names and the alpha parametrisation are TRL's (``f_divergence_type``, ``f_alpha_divergence_coef``).
"""

from __future__ import annotations

import math
from typing import Any

from prefkit.errors import ValidationError
from prefkit.optimize.losses._common import torch

F_DIVERGENCES = ("reverse_kl", "forward_kl", "js_divergence", "alpha_divergence")


def f_divergence_scores(logratios: Any, f_divergence_type: str = "reverse_kl", alpha: float = 0.5) -> Any:
    """``f'(pi/pi_ref)`` from ``logratios = log pi - log pi_ref`` (a tensor; any shape)."""
    t = torch()
    if f_divergence_type == "reverse_kl":
        return logratios
    if f_divergence_type == "forward_kl":
        return 1 - t.exp(-logratios)
    if f_divergence_type == "js_divergence":
        return math.log(2) + t.nn.functional.logsigmoid(logratios)
    if f_divergence_type == "alpha_divergence":
        if abs(alpha - 1.0) < 1e-6:
            return logratios
        return t.expm1((alpha - 1.0) * logratios) / (alpha - 1.0)
    raise ValidationError(
        f"unknown f_divergence_type {f_divergence_type!r}; choose one of {', '.join(F_DIVERGENCES)}"
    )
