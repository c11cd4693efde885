"""The data a judge works on and the two small protocols every judge backend satisfies.

* :class:`ChatBackend`: text in, text out (an OpenAI-compatible server, the packaged local model). A
  :class:`ChatRequest` is hashable and fully describes the call, so it is also the cache key.
* :class:`PairJudge`: pairwise tasks in, verdicts out. LLM judges (a backend plus a prompt pack), the
  reward-model judge and the scripted judge with planted biases all satisfy it, so runs, panels, audits and
  the relative-confidence ranking take any of them.

A :class:`PairTask` shows ``first`` before ``second`` (the judge sees them as A and B); a verdict's outcome
is in the shown order: ``OUTCOME_A`` means the first shown won. ``UNPARSED`` marks an answer the parser could
not read: it is kept (with the raw text), counted and reported, never turned into a default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

UNPARSED = -1
FAILED = -2  # the backend gave no answer (after retries): reported, and retried on the next run


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completion call: messages as ``(role, content)`` pairs and the sampling parameters."""

    messages: tuple[tuple[str, str], ...]
    max_tokens: int = 512
    temperature: float = 0.0
    top_logprobs: int = 0
    seed: int | None = 0


@dataclass(frozen=True)
class ChatReply:
    """The answer text, token counts, and (when asked and given) the top log-probabilities of each token."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    logprobs: tuple[tuple[tuple[str, float], ...], ...] = ()
    cached: bool = False


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that answers chat requests (one at a time; the runner adds concurrency, retries, caching)."""

    @property
    def key(self) -> str:
        """``backend:model`` (plus anything else that changes answers, e.g. the server URL): the cache key."""
        ...

    def complete(self, request: ChatRequest) -> ChatReply: ...


@dataclass(frozen=True)
class PairTask:
    """Judge ``first`` against ``second`` (shown in this order) as answers to ``prompt``."""

    prompt: str
    first: str
    second: str
    first_item: str = ""
    second_item: str = ""
    row: int = 0  # the source line, for messages


@dataclass(frozen=True)
class Verdict:
    """One judge decision in shown order: ``outcome`` is OUTCOME_A/B/TIE, UNPARSED or FAILED."""

    outcome: int
    strength: float = float("nan")
    raw: str = ""
    rationale: str | None = None
    flipped: bool = False  # both orders asked and the verdict followed the position: counted as a tie
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome >= 0


@runtime_checkable
class PairJudge(Protocol):
    """Anything that judges pairwise tasks; ``name`` is the annotator id its verdicts get."""

    @property
    def name(self) -> str: ...

    def judge_pairs(self, tasks: Sequence[PairTask]) -> list[Verdict]: ...


@runtime_checkable
class ReplyCache(Protocol):
    """Where replies are kept between runs (``prefkit.storage.judge_cache.JudgeCache`` on disk): opaque keys
    and JSON strings, written the moment a reply arrives."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, backend: str, request: str, reply: str) -> None: ...
