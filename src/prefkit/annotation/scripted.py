"""A scripted judge with planted biases, for simulations and for testing audits against a known truth.

Each verdict is drawn from a mixture: with probability ``position`` the judge picks the response shown first;
else with probability ``length`` the longer one (by characters; pairs of equal length fall through); else,
when exactly one of the two items is in ``self_items``, with probability ``self_preference`` that one; else it
judges on content: a tie with probability ``tie``, otherwise the first wins with probability
``sigmoid((q_first - q_second) / noise)`` where ``q`` is the item's latent quality (0 for unknown items).

So, on pairs shown in random order with content unrelated to position and length, the share of decisive
verdicts picking the first shown is ``position + (1 - position) / 2`` and, on pairs of different length,
the share picking the longer is ``length + (1 - length) / 2`` (when position is 0): closed forms the audit
tests recover.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from prefkit.annotation.types import PairTask, Verdict
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import ValidationError


class ScriptedJudge:
    """Verdicts from a planted-bias mixture (see the module doc); randomness only from ``rng``."""

    def __init__(
        self,
        quality: Mapping[str, float] | None = None,
        *,
        position: float = 0.0,
        length: float = 0.0,
        self_items: Sequence[str] = (),
        self_preference: float = 0.0,
        tie: float = 0.0,
        noise: float = 1.0,
        rng: np.random.Generator | int = 0,
        name: str = "scripted",
    ) -> None:
        for arg, v in (("position", position), ("length", length), ("self_preference", self_preference),
                       ("tie", tie)):  # fmt: skip
            if not 0.0 <= v <= 1.0:
                raise ValidationError(f"{arg} must be a probability in [0, 1], got {v}")
        if position + length + self_preference > 1.0:
            raise ValidationError(
                "position + length + self_preference must be <= 1 (they are mixture weights)"
            )
        if noise <= 0:
            raise ValidationError(f"noise must be > 0, got {noise}")
        self.quality = dict(quality or {})
        self.position, self.length, self.self_preference = position, length, self_preference
        self.self_items = frozenset(self_items)
        self.tie, self.noise = tie, noise
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def _one(self, t: PairTask) -> int:
        u = self.rng.random()
        if u < self.position:
            return OUTCOME_A
        u -= self.position
        if u < self.length and len(t.first) != len(t.second):
            return OUTCOME_A if len(t.first) > len(t.second) else OUTCOME_B
        u -= self.length
        own = (t.first_item in self.self_items, t.second_item in self.self_items)
        if u < self.self_preference and own[0] != own[1]:
            return OUTCOME_A if own[0] else OUTCOME_B
        if self.rng.random() < self.tie:
            return OUTCOME_TIE
        d = (self.quality.get(t.first_item, 0.0) - self.quality.get(t.second_item, 0.0)) / self.noise
        return OUTCOME_A if self.rng.random() < 1.0 / (1.0 + math.exp(-d)) else OUTCOME_B

    def judge_pairs(self, tasks: Sequence[PairTask]) -> list[Verdict]:
        return [Verdict(self._one(t), raw="scripted") for t in tasks]
