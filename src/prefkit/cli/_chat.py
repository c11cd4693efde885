"""Adapters from the annotation backends to the small protocols of ``prefkit.analysis`` (layer 4 glue)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class RunnerChat:
    """``complete(prompts)`` / ``chat(conversations)`` over a ChatRunner (cache, retries, concurrency).

    A request that keeps failing answers "" (the caller scores it as unparsed); ``failed`` counts them.
    """

    def __init__(
        self,
        runner: Any,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        system: str | None = None,
        progress: Callable[[int], Any] | None = None,
    ) -> None:
        self.runner = runner
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.system = system
        self.progress = progress
        self.failed = 0

    def chat(self, conversations: Sequence[Sequence[tuple[str, str]]]) -> list[str]:
        from prefkit.annotation.types import ChatReply, ChatRequest

        requests = []
        for conv in conversations:
            msgs = tuple((str(r), str(c)) for r, c in conv)
            if self.system and not (msgs and msgs[0][0] == "system"):
                msgs = (("system", self.system), *msgs)
            requests.append(
                ChatRequest(msgs, max_tokens=self.max_tokens, temperature=self.temperature, seed=self.seed)
            )
        out = []
        for res in self.runner.run(requests, self.progress):
            if isinstance(res, ChatReply):
                out.append(res.text)
            else:
                self.failed += 1
                out.append("")
        return out

    def complete(self, prompts: Sequence[str]) -> list[str]:
        return self.chat([[("user", p)] for p in prompts])


def reward_p_first(model_dir: str) -> Callable[[Sequence[str], Sequence[str], Sequence[str]], np.ndarray]:
    """``p_first(prompts, firsts, seconds)`` from a saved reward model (``prefkit reward train --out DIR``)."""
    from prefkit.annotation.reward_judge import RewardModelJudge
    from prefkit.annotation.types import PairTask

    judge = RewardModelJudge(model_dir)

    def p_first(prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]) -> np.ndarray:
        tasks = [PairTask(p, f, s) for p, f, s in zip(prompts, firsts, seconds, strict=True)]
        return np.asarray(judge.p_first(tasks), dtype=np.float64)

    return p_first
