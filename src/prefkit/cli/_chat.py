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


class ScriptedChat:
    """``--model scripted``: a deterministic stand-in for a chat model (no server), for dry runs and tests.

    The reply depends only on ``seed`` and the last user message: "Action 1" / "Action 2" for DailyDilemmas
    prompts, a letter for multiple-choice questions, "<answer>Yes</answer>" / "<answer>No</answer>" for judge
    check prompts, and a fixed sentence otherwise.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _h(self, text: str) -> int:
        import hashlib

        return int.from_bytes(
            hashlib.blake2b(f"{self.seed}:{text}".encode(), digest_size=8).digest(), "little"
        )

    def chat(self, conversations: Sequence[Sequence[tuple[str, str]]]) -> list[str]:
        out = []
        for conv in conversations:
            last = next((c for r, c in reversed(conv) if r == "user"), "")
            h = self._h(last)
            if "'Action 1'" in last:
                out.append(f"Action {1 + h % 2}")
            elif "\nA. " in last:
                out.append("ABCD"[h % 4])
            elif "<answer>" in last:
                out.append(f"<answer>{'Yes' if h % 2 else 'No'}</answer>")
            else:
                out.append("Here is a suggestion.")
        return out

    def complete(self, prompts: Sequence[str]) -> list[str]:
        return self.chat([[("user", p)] for p in prompts])


def open_chat(
    stack: Any,
    model: str,
    *,
    base_url: str | None,
    cache: Any,
    no_cache: bool,
    max_tokens: int,
    seed: int,
    progress: Callable[[int], Any] | None = None,
    scripted: bool = True,
) -> Any:
    """A chat model for ``--model``: ``scripted`` (:class:`ScriptedChat`), ``local:NAME`` or a server's model
    (a :class:`RunnerChat` over ``annotation.factory.open_runner``, replies cached so a re-run resumes).
    ``scripted=False`` leaves ``scripted`` to the factory (whose scripted judge is not a chat model)."""
    if scripted and (model == "scripted" or model.startswith("scripted:")):
        return ScriptedChat(seed)
    from prefkit.annotation.factory import JudgeOptions, open_runner
    from prefkit.cli.judge import _cache

    opts = JudgeOptions(base_url=base_url, cache=_cache(cache, no_cache, model), seed=seed)
    runner = stack.enter_context(open_runner(model, opts))
    return RunnerChat(runner, max_tokens=max_tokens, seed=seed, progress=progress)
