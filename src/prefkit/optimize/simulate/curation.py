"""Self-consuming generative models with curated data (Ferbach et al. 2024).

A generative model over ``n`` outcomes (a discrete distribution ``p``) is retrained, round after round, on its
own samples curated by a reward model: each round draws ``n_samples`` groups of ``k`` candidates from ``p``,
a curator keeps one per group with Bradley-Terry / Luce probability ``softmax(reward_model / temperature)``
over the group, and the next model is the mixture ``(1 - real_fraction) * empirical(kept) + real_fraction *
p_0`` (retraining with a share of real data).

The paper shows that the expected reward rises and the distribution collapses on the reward model's maxima
(diversity falls), and that mixing in real data keeps it stable. When the curator's reward differs from the
true one (a reward model that over-rewards some feature), the feature's share is amplified: the loop
optimises the bias. :func:`expected_step` is the exact infinite-sample update for ``k = 2``:
``p'(x) = p(x) * sum_y p(y) * 2 sigmoid((r(x) - r(y)) / T)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prefkit.errors import ValidationError


@dataclass(frozen=True)
class CurationResult:
    """Per round (round 0 = the initial model): the distribution and its statistics."""

    p: np.ndarray  # (rounds + 1, n)
    true_reward: np.ndarray  # expected true reward
    curator_reward: np.ndarray  # expected reward under the curator's model
    entropy: np.ndarray  # nats
    bias_share: np.ndarray  # mass on the outcomes the curator over-rewards (NaN when no bias mask)


def _check(p0: np.ndarray, reward: np.ndarray) -> np.ndarray:
    p0 = np.asarray(p0, np.float64)
    if p0.ndim != 1 or len(p0) < 2:
        raise ValidationError("p0 must be a distribution over at least 2 outcomes")
    if len(reward) != len(p0):
        raise ValidationError(f"the reward has {len(reward)} entries but p0 has {len(p0)} outcomes")
    if np.isnan(p0).any() or (p0 < 0).any() or not np.isclose(p0.sum(), 1.0):
        raise ValidationError("p0 must be non-negative, without NaN, and sum to 1")
    if not np.all(np.isfinite(reward)):
        raise ValidationError("rewards must be finite numbers (no NaN)")
    return p0


def expected_step(p: np.ndarray, reward: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The exact infinite-sample curation update for pairs (k = 2)."""
    r = np.asarray(reward, np.float64) / temperature
    win = 1.0 / (1.0 + np.exp(-(r[:, None] - r[None, :])))
    return p * (2.0 * win @ p)


def simulate_curation(
    p0: np.ndarray,
    true_reward: np.ndarray,
    curator_reward: np.ndarray | None = None,
    *,
    k: int = 2,
    n_samples: int = 10_000,
    rounds: int = 10,
    temperature: float = 1.0,
    real_fraction: float = 0.0,
    bias_mask: np.ndarray | None = None,
    seed: int = 0,
) -> CurationResult:
    """Run the curated retraining loop (see the module docstring)."""
    p0 = _check(p0, np.asarray(true_reward))
    r_true = np.asarray(true_reward, np.float64)
    r_cur = r_true if curator_reward is None else np.asarray(curator_reward, np.float64)
    _check(p0, r_cur)
    if k < 2 or n_samples < 1 or rounds < 0:
        raise ValidationError("need k >= 2 candidates per choice, n_samples >= 1 and rounds >= 0")
    if not 0.0 <= real_fraction <= 1.0:
        raise ValidationError(f"real_fraction must be in [0, 1], got {real_fraction}")
    if not temperature > 0:
        raise ValidationError("temperature must be > 0")
    mask = None if bias_mask is None else np.asarray(bias_mask, bool)
    if mask is not None and len(mask) != len(p0):
        raise ValidationError(f"bias_mask has {len(mask)} entries but p0 has {len(p0)} outcomes")
    rng = np.random.default_rng(seed)
    ps = [p0]
    p = p0
    n = len(p0)
    for _ in range(rounds):
        cand = rng.choice(n, size=(n_samples, k), p=p)
        logits = r_cur[cand] / temperature
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(axis=1, keepdims=True)
        u = rng.random((n_samples, 1))
        pick = (w.cumsum(axis=1) < u).sum(axis=1).clip(max=k - 1)
        kept = cand[np.arange(n_samples), pick]
        emp = np.bincount(kept, minlength=n) / n_samples
        p = (1.0 - real_fraction) * emp + real_fraction * p0
        ps.append(p)
    P = np.array(ps)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1)
    share = P[:, mask].sum(axis=1) if mask is not None else np.full(len(P), np.nan)
    return CurationResult(P, P @ r_true, P @ r_cur, ent, share)


def plot_curation(result: CurationResult, path: str) -> None:
    """Reward gain, entropy and bias share per round, saved to ``path`` (needs matplotlib)."""
    from prefkit._optional import require

    require("matplotlib", "plot").use("Agg")
    plt = require("matplotlib.pyplot", "plot")
    rounds = np.arange(len(result.entropy))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    axes[0].plot(rounds, result.true_reward, label="true")
    axes[0].plot(rounds, result.curator_reward, "--", label="curator")
    axes[0].set_title("expected reward")
    axes[0].legend()
    axes[1].plot(rounds, result.entropy)
    axes[1].set_title("entropy (nats)")
    axes[2].plot(rounds, result.bias_share)
    axes[2].set_title("share of the over-rewarded feature")
    for ax in axes:
        ax.set_xlabel("round")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
