"""The OpenAI-compatible path over real HTTP on loopback: verdicts, both orders, cache, retries, failures.

A server that answers 429, 500, garbage or too slowly is retried and then reported; the run never crashes
and never loses the verdicts already obtained; an unknown model stops the run with a clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefkit.annotation.llm_judge import LLMPairJudge
from prefkit.annotation.openai_backend import OpenAIChat
from prefkit.annotation.prompts import pair_pack
from prefkit.annotation.run import judge_dataset
from prefkit.annotation.runner import ChatRunner
from prefkit.annotation.types import FAILED, UNPARSED
from prefkit.data import io
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import BackendError
from prefkit.storage.judge_cache import JudgeCache


def _judge(url: str, cache: JudgeCache | None = None, *, model: str = "judge-1", timeout: float = 5.0,
           both: bool = True) -> LLMPairJudge:  # fmt: skip
    backend = OpenAIChat(model, base_url=url, timeout=timeout)
    runner = ChatRunner(backend, cache=cache, concurrency=3, retries=2, backoff=0.01)
    return LLMPairJudge(runner, pair_pack("mt-bench-pair-v2"), name="fake", both_orders=both)


def test_verdicts_both_orders_and_cache(tmp_path: Path, fake_server: Any, battles: Any) -> None:
    ds = io.read(battles(tmp_path / "b.jsonl", [("a good answer", "meh"), ("meh", "good"), ("meh", "bleh")]))
    cache = JudgeCache(tmp_path / "cache.sqlite")
    judge = _judge(fake_server.url, cache)
    run = judge_dataset(ds, judge)
    assert run.dataset.pairwise.outcome.tolist() == [OUTCOME_A, OUTCOME_B, OUTCOME_TIE]
    assert run.dataset.annotator_kind == {"fake": "model"}
    assert len(fake_server.requests) == 6  # both orders
    stats = judge.runner.stats
    assert stats.calls == 6 and stats.prompt_tokens > 0 and stats.completion_tokens == 18
    # the second run is answered from the cache: no request reaches the server
    judge2 = _judge(fake_server.url, cache)
    again = judge_dataset(ds, judge2)
    assert len(fake_server.requests) == 6 and judge2.runner.stats.cached == 6
    assert again.dataset.pairwise.outcome.tolist() == run.dataset.pairwise.outcome.tolist()


def test_rate_limits_are_retried(tmp_path: Path, fake_server: Any, battles: Any) -> None:
    ds = io.read(battles(tmp_path / "b.jsonl", [("good RATE-LIMIT-2", "meh")]))
    judge = _judge(fake_server.url, both=False)
    run = judge_dataset(ds, judge)
    assert run.dataset.pairwise.outcome.tolist() == [OUTCOME_A]
    assert judge.runner.stats.retries == 2 and judge.runner.stats.failed == 0


@pytest.mark.parametrize("marker", ["GARBAGE", "SERVER-ERROR", "SLOW"])
def test_failures_are_reported_and_nothing_is_lost(
    tmp_path: Path, fake_server: Any, battles: Any, marker: str
) -> None:
    answers = [("good", "meh"), (f"good {marker}", "meh"), ("meh", "good")]
    ds = io.read(battles(tmp_path / "b.jsonl", answers))
    cache = JudgeCache(tmp_path / "cache.sqlite")
    judge = _judge(fake_server.url, cache, timeout=0.5, both=False)
    run = judge_dataset(ds, judge)
    assert [v.outcome for v in run.verdicts] == [OUTCOME_A, FAILED, OUTCOME_B]
    assert run.failed == [2] and run.decided == 2
    assert judge.runner.stats.failed == 1 and judge.runner.stats.retries == 2
    assert judge.runner.stats.errors and "127.0.0.1" in judge.runner.stats.errors[0]
    # a re-run retries only the failed call: the two verdicts obtained were kept in the cache
    before = len(fake_server.requests)
    judge2 = _judge(fake_server.url, cache, timeout=0.5, both=False)
    judge_dataset(ds, judge2)
    assert judge2.runner.stats.cached == 2
    assert len(fake_server.requests) - before == 3  # one call, retried twice


def test_unparsed_answers_are_counted_not_guessed(tmp_path: Path, fake_server: Any, battles: Any) -> None:
    ds = io.read(battles(tmp_path / "b.jsonl", [("good", "meh"), ("MUMBLE", "good")]))
    run = judge_dataset(ds, _judge(fake_server.url))
    assert [v.outcome for v in run.verdicts] == [OUTCOME_A, UNPARSED]
    assert run.unparsed == [2] and run.decided == 1


def test_unknown_model_is_a_clear_error(tmp_path: Path, fake_server: Any, battles: Any) -> None:
    ds = io.read(battles(tmp_path / "b.jsonl", [("good", "meh")]))
    with pytest.raises(BackendError, match=r"model 'gpt-17' not found .*--model"):
        judge_dataset(ds, _judge(fake_server.url, model="gpt-17"))


def test_unreachable_server_is_reported(tmp_path: Path, battles: Any) -> None:
    ds = io.read(battles(tmp_path / "b.jsonl", [("good", "meh")]))
    judge = _judge("http://127.0.0.1:9/v1", timeout=0.5, both=False)
    run = judge_dataset(ds, judge)
    assert run.failed == [1] and "APIConnectionError" in judge.runner.stats.errors[0]


def test_a_crashed_run_resumes_from_the_cache(tmp_path: Path, fake_server: Any, battles: Any) -> None:
    ds = io.read(battles(tmp_path / "b.jsonl", [("good", f"meh {i}") for i in range(6)]))
    cache = JudgeCache(tmp_path / "cache.sqlite")
    seen = []

    def crash(n: int) -> None:
        seen.append(n)
        if len(seen) == 4:
            raise KeyboardInterrupt  # the process dies after 4 replies

    backend = OpenAIChat("judge-1", base_url=fake_server.url, timeout=5)
    judge = LLMPairJudge(ChatRunner(backend, cache=cache, concurrency=1), pair_pack("mt-bench-pair-v2"),
                         progress=crash)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        judge_dataset(ds, judge)
    kept = len(JudgeCache(tmp_path / "cache.sqlite"))
    assert kept >= 4
    before = len(fake_server.requests)
    judge2 = _judge(fake_server.url, JudgeCache(tmp_path / "cache.sqlite"))
    run = judge_dataset(ds, judge2)
    assert run.decided == 6 and judge2.runner.stats.cached == kept
    assert len(fake_server.requests) - before == 12 - kept
