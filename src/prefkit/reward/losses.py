"""Loss functions of the reward heads, standalone (torch tensors in, a scalar tensor out).

Each takes rewards already computed by a head, so any head (linear, MLP, gated mixture) can use it, and
each is tested on its own against hand-computed values and ``torch.autograd.gradcheck``.

* :func:`bt_loss` - Bradley-Terry ``-log sigmoid(r_c - r_r - margin)`` with per-pair weights and the
  reward-centring term ``eta * (r_c + r_r)^2`` (Eisenstein et al. 2023);
* :func:`scaled_bt_loss` - Scaled Bradley-Terry (HelpSteer2-Preference): each pair's loss multiplied by
  its preference strength ``|s|`` in 1..3;
* :func:`pl_loss` - Plackett-Luce listwise loss on padded K-wise rankings (ties: Breslow's rule);
* :func:`mixture_bt_nll` - negative log-likelihood of a per-pair mixture of Bradley-Terry models.
"""

from __future__ import annotations

from typing import Any

Tensor = Any  # torch.Tensor; torch is imported lazily by the callers


def _torch() -> Any:
    from prefkit._optional import require

    return require("torch")


def _weighted_mean(values: Tensor, weight: Tensor | None) -> Tensor:
    if weight is None:
        return values.mean()
    return (values * weight).sum() / weight.sum()


def bt_loss(
    r_c: Tensor,
    r_r: Tensor,
    *,
    margin: Tensor | None = None,
    weight: Tensor | None = None,
    centring: float = 0.0,
) -> Tensor:
    """Bradley-Terry loss of chosen rewards ``r_c`` over rejected ``r_r`` (weighted mean over pairs)."""
    F = _torch().nn.functional
    d = r_c - r_r
    if margin is not None:
        d = d - margin
    loss = _weighted_mean(F.softplus(-d), weight)
    if centring:
        loss = loss + centring * _weighted_mean((r_c + r_r) ** 2, weight)
    return loss


def scaled_bt_loss(
    r_c: Tensor, r_r: Tensor, strength: Tensor, *, weight: Tensor | None = None, centring: float = 0.0
) -> Tensor:
    """Scaled Bradley-Terry: ``-|s| log sigmoid(r_c - r_r)``, mean over pairs weighted by ``weight``."""
    F = _torch().nn.functional
    w = strength.abs() if weight is None else strength.abs() * weight
    loss = (F.softplus(-(r_c - r_r)) * w).sum() / (weight.sum() if weight is not None else len(r_c))
    if centring:
        loss = loss + centring * _weighted_mean((r_c + r_r) ** 2, weight)
    return loss


def pl_loss(scores: Tensor, level: Tensor, mask: Tensor, *, weight: Tensor | None = None) -> Tensor:
    """Plackett-Luce negative log-likelihood per ranking, averaged (weighted by ``weight`` per ranking).

    ``scores[r, j]`` is the reward of the j-th listed member of ranking r (best first), ``level[r, j]`` its
    tie group (0 = best), ``mask[r, j]`` whether the slot is used (rankings are padded to the longest).
    Member j's choice set is every used member with ``level >= level[r, j]``.
    """
    torch = _torch()
    neg = torch.finfo(scores.dtype).min / 4
    s = torch.where(mask, scores, torch.full_like(scores, neg))
    # choice[r, j, k]: member k is still available when member j is chosen
    choice = (level.unsqueeze(1) >= level.unsqueeze(2)) & mask.unsqueeze(1) & mask.unsqueeze(2)
    expanded = torch.where(
        choice, s.unsqueeze(1).expand_as(choice), torch.full_like(choice, neg, dtype=s.dtype)
    )
    lse = torch.logsumexp(expanded, dim=2)
    terms = torch.where(mask, lse - s, torch.zeros_like(s))
    return _weighted_mean(terms.sum(dim=1), weight)


def mixture_bt_nll(d: Tensor, log_mix: Tensor, *, weight: Tensor | None = None) -> Tensor:
    """``-log sum_k pi_k sigmoid(d_k)`` per pair, weighted mean.

    ``d[i, k]`` is ``r_c - r_r`` under component k, ``log_mix[i, k]`` the log mixing weight of pair i.
    """
    torch = _torch()
    F = torch.nn.functional
    ll = torch.logsumexp(log_mix - F.softplus(-d), dim=1)
    return _weighted_mean(-ll, weight)
