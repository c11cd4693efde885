"""Arena vote hygiene: does one voter's record of dealt and answered matches look like stuffing?

After LMArena's practice (Chiang et al. 2024, on detecting anomalous users): an attacker who keeps fetching new
battles until a favoured model shows up discards many matches, or votes far more often when that model is shown.
Pure counting rules over one voter's counters; the web service keeps the counters and acts on the verdict.
"""

from __future__ import annotations

import numpy as np

MIN_PER_SIDE = 5  # matches with and without a model before its vote rates are compared


def stuffing_reason(
    dealt: int,
    voted: int,
    dealt_with: np.ndarray,
    voted_with: np.ndarray,
    *,
    flag_share: float,
    min_deals: int,
) -> str | None:
    """Why the matches dealt so far (all answered or discarded) look like stuffing, or None.

    ``dealt_with[m]`` / ``voted_with[m]``: matches dealt / voted on that showed model ``m``. Flagged when more
    than ``flag_share`` of the matches were discarded, or when for some model the share voted on is
    ``flag_share`` higher with it shown than without (an honest voter's two rates are the same).
    """
    if dealt < min_deals:
        return None
    discarded = dealt - voted
    if discarded > flag_share * dealt:
        return f"discarded {discarded} of {dealt} matches (over {flag_share:.0%})"
    if discarded <= flag_share * MIN_PER_SIDE:
        # exact shortcut (the arena checks every deal): a gap over flag_share needs more than flag_share of the
        # >= MIN_PER_SIDE matches without the model discarded, and those discards are among all discards
        return None
    without = dealt - dealt_with
    enough = (dealt_with >= MIN_PER_SIDE) & (without >= MIN_PER_SIDE)
    if not enough.any():
        return None
    rate_with = voted_with / np.maximum(dealt_with, 1)
    rate_without = (voted - voted_with) / np.maximum(without, 1)
    gap = np.where(enough, rate_with - rate_without, -1.0)
    m = int(np.argmax(gap))
    if gap[m] > flag_share:
        return f"votes selectively: on {rate_with[m]:.0%} of matches showing model #{m}, {rate_without[m]:.0%} of the others"
    return None
