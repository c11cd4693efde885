"""Arena vote hygiene: per-token caps, a cost for discarded matches, and flags (after LMArena's practice).

LMArena's published practice (Chiang et al. 2024, "Chatbot Arena", on detecting anomalous users; its rate limits
per user) caps what one user may cast and drops the votes of users whose behaviour is anomalous. An attacker who
keeps fetching new battles until a favoured model shows up leaves a tell: the matches it discards. Here:

* every match dealt to a token counts against its ``cap`` per arena, voted or not, so discarding is not free;
* once a token has been dealt ``min_deals`` matches it is flagged when it discarded more than ``flag_share`` of
  them, or when it votes selectively: for some model, the share of matches it voted on is ``flag_share`` higher
  when that model was shown than when it was not (an honest voter's rates are the same);
* a flagged token's votes (past and future) stay stored but leave the arena's leaderboards (the engine is
  replayed without them), and the admin page lists the flag and its reason.

Counts of dealt matches live in memory (a restart starts them from the token's stored votes); flags are stored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from prefkit.analysis.vote_hygiene import stuffing_reason
from prefkit.errors import PermissionDeniedError


@dataclass(frozen=True)
class TokenActivity:
    """What one token did in one arena: matches dealt, votes cast, and its flag (None if clean)."""

    token_id: int
    dealt: int
    voted: int
    flag: str | None

    @property
    def discarded(self) -> int:
        """Matches dealt and not voted on (the one dealt last may still be voted on)."""
        return max(0, self.dealt - self.voted)


class _Counts:
    """One token's matches: dealt and voted, in all and per model shown."""

    def __init__(self, n_models: int) -> None:
        self.dealt = 0
        self.voted = 0
        self.dealt_with = np.zeros(n_models, dtype=np.int64)
        self.voted_with = np.zeros(n_models, dtype=np.int64)


class Hygiene:
    """The per-token counters and flags of one arena (thread-safe)."""

    def __init__(self, cap: int, flag_share: float, min_deals: int, n_models: int = 0) -> None:
        self.cap = cap
        self.flag_share = flag_share
        self.min_deals = min_deals
        self.n_models = n_models
        self._tokens: dict[int, _Counts] = {}
        self.flags: dict[int, str] = {}
        self._lock = threading.Lock()

    def _counts(self, token_id: int) -> _Counts:
        c = self._tokens.get(token_id)
        if c is None:
            c = self._tokens[token_id] = _Counts(self.n_models)
        return c

    def load(self, votes: list[tuple[int, list[int]]], flags: dict[int, str]) -> None:
        """Start from the stored votes (token, models shown) and flags."""
        with self._lock:
            for token_id, models in votes:
                c = self._counts(token_id)
                c.dealt += 1
                c.voted += 1
                c.dealt_with[models] += 1
                c.voted_with[models] += 1
            self.flags = dict(flags)

    def deal(self, token_id: int, models: list[int]) -> str | None:
        """Count a match of ``models`` dealt to ``token_id`` (PermissionDeniedError past the cap); return a new
        flag's reason when the token's record is now anomalous, else None."""
        with self._lock:
            c = self._counts(token_id)
            if c.dealt >= self.cap:
                raise PermissionDeniedError(
                    f"this token has been dealt its {self.cap} matches in this arena (votes and discarded "
                    "matches both count): ask the arena admin for more"
                )
            reason = None if token_id in self.flags else self._anomaly(c)
            c.dealt += 1
            c.dealt_with[models] += 1
            if reason is not None:
                self.flags[token_id] = reason
            return reason

    def _anomaly(self, c: _Counts) -> str | None:
        """Why the matches dealt so far (all answered or discarded by now) look like stuffing, or None."""
        return stuffing_reason(
            c.dealt, c.voted, c.dealt_with, c.voted_with, flag_share=self.flag_share, min_deals=self.min_deals
        )

    def voted(self, token_id: int, models: list[int]) -> None:
        with self._lock:
            c = self._counts(token_id)
            c.voted += 1
            c.voted_with[models] += 1

    def clear(self, token_id: int) -> None:
        """Forget a token's flag and counters (the admin cleared it: it starts afresh, cap included)."""
        with self._lock:
            self.flags.pop(token_id, None)
            self._tokens.pop(token_id, None)

    def flagged(self, token_id: int) -> bool:
        return token_id in self.flags

    def activity(self) -> list[TokenActivity]:
        with self._lock:
            ids = sorted(set(self._tokens) | set(self.flags))
            out = []
            for t in ids:
                c = self._tokens.get(t)
                out.append(TokenActivity(t, c.dealt if c else 0, c.voted if c else 0, self.flags.get(t)))
            return out
