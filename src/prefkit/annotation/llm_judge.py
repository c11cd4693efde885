"""An LLM judge: a chat backend (through a :class:`ChatRunner`) plus a prompt pack, as a :class:`PairJudge`.

With ``both_orders`` (the default, MT-Bench's rule) every pair is asked twice, A/B and B/A. The two answers,
put back in the shown order of the first, agree: that verdict; they disagree: a tie, and when each answer picked
the response in the same *position* the verdict is marked ``flipped`` (the judge followed the order, not the
content). An unparsed or failed answer in either order makes the verdict unparsed or failed (reported).

Packs with ``logprob_labels`` (AlpacaEval's classifier) ask for the top log-probabilities of the first token
and give the weighted verdict ``p_first = P(A) / (P(A) + P(B))`` (kept in ``Verdict.extra``), reading the text
only when the server gives no log-probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from prefkit.annotation.prompts import PairPack, ParsedPair
from prefkit.annotation.runner import ChatRunner
from prefkit.annotation.types import FAILED, UNPARSED, ChatReply, ChatRequest, PairTask, Verdict
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import BackendError

SWAP = {OUTCOME_A: OUTCOME_B, OUTCOME_B: OUTCOME_A, OUTCOME_TIE: OUTCOME_TIE}


def swap(v: Verdict) -> Verdict:
    """``v`` seen from the other order (A and B exchanged)."""
    if not v.ok:
        return v
    extra = {**v.extra}
    if "p_first" in extra:
        extra["p_first"] = 1.0 - extra["p_first"]
    return Verdict(
        SWAP[v.outcome], -v.strength, v.raw, v.rationale, v.flipped, v.prompt_tokens, v.completion_tokens,
        v.cached, extra,
    )  # fmt: skip


def combine_orders(first: Verdict, second_swapped_back: Verdict) -> Verdict:
    """MT-Bench's rule for the two orders of one pair (both verdicts in the first order's terms)."""
    v1, v2 = first, second_swapped_back
    tokens = {
        "prompt_tokens": v1.prompt_tokens + v2.prompt_tokens,
        "completion_tokens": v1.completion_tokens + v2.completion_tokens,
        "cached": v1.cached and v2.cached,
    }
    raw = f"{v1.raw}\n---\n{v2.raw}"
    if not v1.ok or not v2.ok:
        code = FAILED if FAILED in (v1.outcome, v2.outcome) else UNPARSED
        return Verdict(code, raw=raw, **tokens)  # type: ignore[arg-type]
    extra = {}
    if "p_first" in v1.extra and "p_first" in v2.extra:
        extra["p_first"] = 0.5 * (v1.extra["p_first"] + v2.extra["p_first"])
    extra["order1"] = float(v1.outcome)
    extra["order2"] = float(v2.outcome)
    if v1.outcome == v2.outcome:
        strength = 0.5 * (v1.strength + v2.strength)
        return Verdict(v1.outcome, strength, raw, v1.rationale, False, extra=extra, **tokens)  # type: ignore[arg-type]
    flipped = {v1.outcome, v2.outcome} == {OUTCOME_A, OUTCOME_B}
    return Verdict(OUTCOME_TIE, 0.0, raw, v1.rationale, flipped, extra=extra, **tokens)  # type: ignore[arg-type]


def weighted_first(reply: ChatReply, labels: tuple[str, str]) -> float | None:
    """P(first label) / (P(first) + P(second)) from the first token's top log-probabilities, or None."""
    if not reply.logprobs:
        return None
    pa = sum(math.exp(lp) for tok, lp in reply.logprobs[0] if tok.strip() == labels[0])
    pb = sum(math.exp(lp) for tok, lp in reply.logprobs[0] if tok.strip() == labels[1])
    if pa + pb <= 0:
        return None
    return pa / (pa + pb)


class LLMPairJudge:
    """Pairwise verdicts from ``runner``'s backend with prompt pack ``pack``."""

    def __init__(
        self,
        runner: ChatRunner,
        pack: PairPack,
        *,
        name: str | None = None,
        both_orders: bool = True,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.runner = runner
        self.pack = pack
        self._name = name or runner.backend.key
        self.both_orders = both_orders
        self.temperature = temperature
        self.max_tokens = max_tokens or pack.max_tokens
        self.progress = progress

    @property
    def name(self) -> str:
        return self._name

    def request(self, question: str, a: str, b: str) -> ChatRequest:
        return ChatRequest(
            messages=self.pack.messages(question, a, b),
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_logprobs=20 if self.pack.logprob_labels else 0,
        )

    def _verdict(self, res: ChatReply | BackendError) -> Verdict:
        if isinstance(res, BackendError):
            return Verdict(FAILED, raw=str(res))
        pt, ct = res.prompt_tokens, res.completion_tokens
        if self.pack.logprob_labels:
            p = weighted_first(res, self.pack.logprob_labels)
            if p is not None:
                out = OUTCOME_A if p > 0.5 else OUTCOME_B if p < 0.5 else OUTCOME_TIE
                return Verdict(
                    out, 2 * p - 1, res.text, None, prompt_tokens=pt, completion_tokens=ct, cached=res.cached,
                    extra={"p_first": p},
                )  # fmt: skip
        parsed: ParsedPair = self.pack.parse(res.text)
        return Verdict(
            parsed.outcome, parsed.strength, res.text, res.text, prompt_tokens=pt, completion_tokens=ct,
            cached=res.cached,
        )  # fmt: skip

    def judge_pairs(self, tasks: Sequence[PairTask]) -> list[Verdict]:
        reqs = [self.request(t.prompt, t.first, t.second) for t in tasks]
        if self.both_orders:
            reqs += [self.request(t.prompt, t.second, t.first) for t in tasks]
        replies = self.runner.run(reqs, self.progress)
        first = [self._verdict(r) for r in replies[: len(tasks)]]
        if not self.both_orders:
            return first
        second = [swap(self._verdict(r)) for r in replies[len(tasks) :]]
        return [combine_orders(v1, v2) for v1, v2 in zip(first, second, strict=True)]
