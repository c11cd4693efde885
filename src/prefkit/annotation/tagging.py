"""The backend side of routing's LLM tagger: HyPER's tagging prompts answered by any chat backend, cached.

:class:`ChatTagger` satisfies :class:`prefkit.routing.features.Tagger` (``complete(prompts) -> completions``)
over a :class:`~prefkit.annotation.runner.ChatRunner`, so tagging goes through the same cache, retries and
concurrency as every judge call (a re-run answers from the cache). A request that keeps failing answers ""
(parsed as ``(unparsed)``) and is counted in ``failed``. :func:`read_tagging_configs` reads HyPER's
``tagging_configs.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefkit.annotation.runner import ChatRunner
from prefkit.annotation.types import ChatReply, ChatRequest
from prefkit.errors import InputError


class ChatTagger:
    """``complete(prompts)`` through ``runner`` (one user turn per prompt, greedy, ``max_tokens`` tokens)."""

    def __init__(
        self,
        runner: ChatRunner,
        *,
        max_tokens: int = 128,
        seed: int = 0,
        progress: Callable[[int], Any] | None = None,
    ) -> None:
        self.runner = runner
        self.max_tokens = max_tokens
        self.seed = seed
        self.progress = progress
        self.failed = 0

    def complete(self, prompts: Sequence[str]) -> list[str]:
        reqs = [
            ChatRequest((("user", p),), max_tokens=self.max_tokens, temperature=0.0, seed=self.seed)
            for p in prompts
        ]
        out = []
        for res in self.runner.run(reqs, self.progress):
            if isinstance(res, ChatReply):
                out.append(res.text)
            else:
                self.failed += 1
                out.append("")
        return out


def read_tagging_configs(path: str | Path) -> list[dict[str, Any]]:
    """HyPER's tagging configs: a JSON list of ``{"dimension", "tagging_instruction", "options"?}``."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=p) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a JSON file ({exc})", path=p) from None
    if not isinstance(data, list) or not all(isinstance(d, dict) and "dimension" in d for d in data):
        raise InputError(
            "expected a JSON list of {'dimension', 'tagging_instruction', 'options'} objects", path=p
        )
    return data
