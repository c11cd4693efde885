"""Turn a ``--model`` string into a judge: the one place that knows every backend.

* ``local:smollm2``: the packaged SmolLM2-135M-Instruct served by xllamacpp on 127.0.0.1 (started and stopped);
* ``scripted`` or ``scripted:position=0.3,length=0.2,tie=0.1,self=0.2,self_items=A|B,noise=1``: the
  planted-bias judge (no texts needed beyond the pair);
* ``reward:DIR``: a reward model trained by ``prefkit reward train --out DIR``;
* anything else: a model name on an OpenAI-compatible server (``base_url``; the key from ``OPENAI_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from prefkit.annotation.llm_judge import LLMPairJudge
from prefkit.annotation.prompts import pair_pack
from prefkit.annotation.runner import ChatRunner
from prefkit.annotation.types import ChatBackend, PairJudge, ReplyCache
from prefkit.errors import ValidationError


@dataclass
class JudgeOptions:
    protocol: str = "mt-bench-pair-v2"
    base_url: str | None = None
    both_orders: bool = True
    cache: ReplyCache | None = None  # where replies are kept between runs (storage.judge_cache.JudgeCache)
    concurrency: int = 4
    retries: int = 3
    timeout: float = 120.0
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int = 0
    name: str | None = None
    # where the calls run: None = this process; else spread(backend, factory) returns the backend to use
    # (e.g. the Ray engine's, calling factory-built backends on the workers under one rate limit)
    spread: Callable[[ChatBackend, Callable[[], ChatBackend]], ChatBackend] | None = None


def _scripted(spec: str, seed: int, name: str | None) -> PairJudge:
    from prefkit.annotation.scripted import ScriptedJudge

    kw: dict[str, float] = {}
    self_items: list[str] = []
    keys = {
        "position": "position",
        "length": "length",
        "tie": "tie",
        "self": "self_preference",
        "noise": "noise",
    }
    for part in filter(None, spec.split(",")):
        k, sep, v = part.partition("=")
        if not sep or (k not in keys and k != "self_items"):
            raise ValidationError(
                f"bad scripted judge setting {part!r}; use scripted:position=P,length=P,self=P,self_items=A|B,"
                "tie=P,noise=S"
            )
        if k == "self_items":
            self_items = v.split("|")
            continue
        try:
            kw[keys[k]] = float(v)
        except ValueError:
            raise ValidationError(f"scripted judge setting {k}={v!r} is not a number") from None
    return ScriptedJudge(
        None,
        position=kw.get("position", 0.0),
        length=kw.get("length", 0.0),
        self_preference=kw.get("self_preference", 0.0),
        tie=kw.get("tie", 0.0),
        noise=kw.get("noise", 1.0),
        self_items=self_items,
        rng=seed,
        name=name or f"scripted:{spec}".rstrip(":"),
    )


@contextmanager
def open_judge(
    model: str, options: JudgeOptions, progress: Callable[[int], None] | None = None
) -> Iterator[tuple[PairJudge, ChatRunner | None]]:
    """``with open_judge("local:smollm2", opts) as (judge, runner):`` (runner is None for non-LLM judges)."""
    if not model:
        raise ValidationError(
            "--model is empty; give local:smollm2, scripted, reward:DIR or a server's model"
        )
    if model == "scripted" or model.startswith("scripted:"):
        yield _scripted(model.partition(":")[2], options.seed, options.name), None
        return
    if model.startswith("reward:"):
        from prefkit.annotation.reward_judge import RewardModelJudge

        yield RewardModelJudge(model.partition(":")[2], name=options.name), None
        return
    pack = pair_pack(options.protocol)
    with open_runner(model, options) as runner:
        judge = LLMPairJudge(
            runner, pack, name=options.name or model, both_orders=options.both_orders,
            temperature=options.temperature, max_tokens=options.max_tokens, progress=progress,
        )  # fmt: skip
        yield judge, runner


@contextmanager
def open_runner(model: str, options: JudgeOptions) -> Iterator[ChatRunner]:
    """A ChatRunner on an LLM backend: ``local:NAME`` (started and stopped here) or a server's model."""
    if model == "scripted" or model.startswith(("scripted:", "reward:")):
        raise ValidationError(
            f"{model} is not a chat model; this protocol needs an LLM (local:smollm2 or a server)"
        )
    with ExitStack() as stack:
        from functools import partial

        from prefkit.annotation.openai_backend import OpenAIChat

        if model.startswith("local:"):
            from prefkit.annotation.local import LocalServer

            if options.base_url:
                raise ValidationError("--base-url goes with a server's model, not with local:NAME")
            local = model.partition(":")[2]
            server = LocalServer(local, parallel=min(options.concurrency, 4))
            url = stack.enter_context(server)
            factory = partial(OpenAIChat, local, base_url=url, timeout=options.timeout, key=model)
        else:
            factory = partial(OpenAIChat, model, base_url=options.base_url, timeout=options.timeout)
        backend: ChatBackend = factory()
        if options.spread is not None:
            backend = options.spread(backend, factory)
        yield ChatRunner(
            backend, cache=options.cache, concurrency=options.concurrency, retries=options.retries
        )
