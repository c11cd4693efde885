"""Rating scales: natural-log strengths to the Elo scale (scale 400, base 10, centred at 1000) and anchors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.errors import ValidationError


@dataclass(frozen=True)
class EloScale:
    """``rating = center + scale / ln(base) * theta`` (theta centred); ``raw=True`` keeps natural logits."""

    scale: float = 400.0
    base: float = 10.0
    center: float = 1000.0
    raw: bool = False

    def __post_init__(self) -> None:
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValidationError(f"scale must be a positive number, got {self.scale}")
        if not (self.base > 1 and math.isfinite(self.base)):
            raise ValidationError(f"base must be a number > 1, got {self.base}")

    @property
    def factor(self) -> float:
        """Rating points per unit of natural-log strength."""
        return 1.0 if self.raw else self.scale / math.log(self.base)

    @property
    def offset(self) -> float:
        return 0.0 if self.raw else self.center

    def to_rating(self, theta: np.ndarray) -> np.ndarray:
        return self.offset + self.factor * np.asarray(theta)

    def to_theta(self, rating: np.ndarray) -> np.ndarray:
        return (np.asarray(rating) - self.offset) / self.factor


def parse_anchor(text: str) -> tuple[str, float]:
    """``"NAME=RATING"`` -> (name, rating). The name may itself contain ``=``; the last one splits."""
    name, sep, value = text.rpartition("=")
    if not sep or not name:
        raise ValidationError(f"anchor must look like NAME=RATING (e.g. gpt-4=1250), got {text!r}")
    try:
        rating = float(value)
    except ValueError:
        raise ValidationError(f"anchor rating {value!r} is not a number (expected NAME=RATING)") from None
    if not math.isfinite(rating):
        raise ValidationError(f"anchor rating must be finite, got {value!r}")
    return name, rating


def anchor_shift(ratings: np.ndarray, names: Sequence[str], anchor: tuple[str, float] | None) -> float:
    """The constant to add to every rating so that the anchor item gets its rating (0 without anchor)."""
    if anchor is None:
        return 0.0
    name, value = anchor
    try:
        k = list(names).index(name)
    except ValueError:
        close = [n for n in names if name.lower() in n.lower()][:5]
        hint = f"; did you mean one of {close}?" if close else "; check the spelling of the item name"
        raise ValidationError(f"anchor item {name!r} is not in the data{hint}") from None
    return float(value - ratings[k])
