"""The service's row records: what :mod:`prefkit.service.repo` reads and writes, typed.

Contexts, candidates and answers keep their JSON content (``{"text": ...}`` or a media URL; an answer per
criterion), validated where they enter (:mod:`prefkit.service.campaigns`); everything around them is a field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefkit.service.campaigns import CampaignConfig

__all__ = [
    "Answer",
    "Arena",
    "ArenaPrompt",
    "ArenaVote",
    "Campaign",
    "MatchTicket",
    "Progress",
    "Task",
    "TokenRow",
]


@dataclass(frozen=True)
class Campaign:
    id: int
    slug: str
    name: str
    shape: str
    config: CampaignConfig
    guidelines: str


@dataclass(frozen=True)
class Task:
    """One task of a campaign: a context and its candidates (indices in this order are the task's own)."""

    id: int
    campaign_id: int
    seq: int
    context_id: str
    context: dict[str, str]
    candidates: list[dict[str, str]]
    n_done: int = 0


@dataclass(frozen=True)
class Answer:
    """One done answer with its annotator, the order the candidates were shown in, and its time."""

    id: int
    task_id: int
    token_id: int
    annotator: str
    kind: str
    answer: dict[str, Any]
    positions: list[int]
    rationale: str | None
    time: float


@dataclass(frozen=True)
class Progress:
    """Answers needed and done (``mine`` (done answers, skips not counted), ``left`` and ``skipped`` only for one
    annotator's view)."""

    tasks: int
    needed: int
    done: int
    mine: int | None = None
    left: int | None = None
    skipped: int | None = None

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Arena:
    id: int
    slug: str
    name: str
    k: int
    policy: str
    models: list[str]


@dataclass(frozen=True)
class ArenaPrompt:
    """A prompt of an arena with each model's output (``pk`` is its row id once stored)."""

    id: str
    prompt: str
    outputs: dict[str, str]
    pk: int = 0


@dataclass(frozen=True)
class ArenaVote:
    """A committed vote: model codes in shown order and their ranks (0 = best, equal = tie), and its token."""

    models: list[int]
    ranks: list[int]
    token_id: int = 0


@dataclass(frozen=True)
class MatchTicket:
    """What a signed match token carries: the arena, the prompt (index), the models in shown order, the token
    it was dealt to and a nonce (the vote's idempotency key)."""

    arena: int
    prompt: int
    models: list[int]
    token: int
    nonce: str

    def to_wire(self) -> dict[str, Any]:
        return {"a": self.arena, "p": self.prompt, "m": self.models, "t": self.token, "n": self.nonce}

    @classmethod
    def from_wire(cls, obj: Any) -> MatchTicket | None:
        """The ticket of a decoded token body (None when it is not one)."""
        try:
            return cls(
                arena=int(obj["a"]),
                prompt=int(obj["p"]),
                models=[int(m) for m in obj["m"]],
                token=int(obj["t"]),
                nonce=str(obj["n"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class TokenRow:
    """An annotator token as the admin page lists it (its secret is not stored: it was shown once)."""

    id: int
    created_at: float
    role: str
    annotator: str
    kind: str
    label: str
    revoked: bool
    grants: str = field(default="")
