"""Named arena configurations: a matchmaking policy + a skill update + the score that ranks items.

These are the rules the simulator compares and the ``policy=`` names :class:`prefkit.ranking.arena.Arena`
accepts. ``random-elo`` (LMArena's random pairs with online Elo, K-factor 4) and ``ksort`` (K-Sort Arena's
published rule: Thurstone-Mosteller updates with openskill's defaults, pivot + UCB opponents, conservative
score mu - 3 sigma) are the baselines; ``infogain`` is prefkit's rule (information-gain matchmaking on a
Thompson draw, the same Thurstone-Mosteller updates, ranked by the posterior mean); ``infogain-pl`` uses
Plackett-Luce updates without drift and with the full variance step (beliefs average votes: a decaying
learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prefkit.errors import ValidationError
from prefkit.ranking.arena.matchmaking import InfoGainPolicy, KSortPolicy, Policy, RandomPolicy
from prefkit.ranking.arena.skills import SkillParams

__all__ = ["PRESETS", "ArenaPreset", "get_preset"]


@dataclass(frozen=True)
class ArenaPreset:
    """One arena rule. ``model`` is "pl", "bt", "tm" or "elo"; ``z`` the score is ``mu - z * sigma``;
    ``pairwise_only`` forces K = 2 (random pairs); ``k_factor`` is Elo's step."""

    name: str
    policy: str
    model: str
    params: SkillParams = field(default_factory=SkillParams)
    z: float = 0.0
    pairwise_only: bool = False
    k_factor: float = 4.0
    description: str = ""

    def make_policy(self) -> Policy:
        if self.policy == "random":
            return RandomPolicy()
        if self.policy == "ksort":
            return KSortPolicy()
        if self.policy == "infogain":
            return InfoGainPolicy(beta=self.params.beta)
        raise ValidationError(f"unknown matchmaking policy {self.policy!r}")


_STATIC = SkillParams(tau=0.0, gamma=1.0)

PRESETS: dict[str, ArenaPreset] = {
    p.name: p
    for p in (
        ArenaPreset(
            "random-elo",
            "random",
            "elo",
            params=SkillParams(mu=1000.0, sigma=1.0),
            pairwise_only=True,
            description="LMArena baseline: random pairs, online Elo (K-factor 4)",
        ),
        ArenaPreset("random", "random", "pl", params=_STATIC, description="random K-subsets, Plackett-Luce"),
        ArenaPreset(
            "ksort",
            "ksort",
            "tm",
            z=3.0,
            description="K-Sort Arena: pivot + UCB, Thurstone-Mosteller, mu-3sigma",
        ),
        ArenaPreset("ksort-pl", "ksort", "pl", z=3.0, description="K-Sort's rule with Plackett-Luce updates"),
        ArenaPreset(
            "infogain",
            "infogain",
            "tm",
            description="prefkit: information-gain matchmaking, Thurstone-Mosteller, posterior mean",
        ),
        ArenaPreset(
            "infogain-pl",
            "infogain",
            "pl",
            params=_STATIC,
            description="prefkit: information-gain matchmaking, Plackett-Luce without drift",
        ),
    )
}


def get_preset(name: str) -> ArenaPreset:
    """The preset called ``name`` (see :data:`PRESETS`)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValidationError(f"unknown arena policy {name!r}: use one of {', '.join(PRESETS)}") from None
