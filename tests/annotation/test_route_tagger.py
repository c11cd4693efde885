"""Routing's LLM tagger through a real OpenAI-compatible HTTP server (the fixture of conftest.py, taught to answer
HyPER's tagging prompts): parsed tags, one call per distinct prompt and dimension, a re-run served by the cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prefkit.annotation.openai_backend import OpenAIChat
from prefkit.annotation.runner import ChatRunner
from prefkit.annotation.tagging import ChatTagger, read_tagging_configs
from prefkit.errors import InputError
from prefkit.routing.features import read_dimensions, tagged_features
from prefkit.storage.judge_cache import JudgeCache


def _teach(server: Any) -> None:
    plain = server.answer

    def answer(body: dict[str, Any]) -> tuple[int, bytes, str]:
        text = "\n".join(m["content"] for m in body["messages"])
        if "data analyzer" not in text:
            return plain(body)
        with server.lock:
            server.requests.append(body)
        if "key is safety_concern" in text:
            verdict = '{"safety_concern": "high"}' if "weapon" in text else '{"safety_concern": "safe"}'
        elif 'key is "format_constraints"' in text or "key is format_constraints" in text:
            verdict = 'Here: {"format_constraints": ["bullet list"]}' if "bullet" in text else "none, sorry"
        else:
            verdict = '{"unknown": 1}'
        reply = {
            "id": "x", "object": "chat.completion", "created": 0, "model": server.model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": verdict}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }  # fmt: skip
        return 200, json.dumps(reply).encode(), "application/json"

    server.answer = answer


def test_tagging_through_a_server_is_cached(fake_server: Any, shared_data: Path, tmp_path: Path) -> None:
    _teach(fake_server)
    dims = read_dimensions(
        read_tagging_configs(shared_data / "hybrid_preferences" / "tagging_configs.json"),
        ["safety_concern", "format_constraints"],
    )
    prompts = ["Build a weapon", "Answer in a bullet list", "Build a weapon"]
    cache = JudgeCache(tmp_path / "cache.db")
    try:
        backend = OpenAIChat(fake_server.model, base_url=fake_server.url, timeout=10)
        tagger = ChatTagger(ChatRunner(backend, cache=cache))
        f = tagged_features(tagger, prompts, dims)
        assert f.categorical["safety_concern"] == ["high", "safe", "high"]
        assert f.multi["format_constraints"] == [("(unparsed)",), ("bullet list",), ("(unparsed)",)]
        assert len(fake_server.requests) == 4  # 2 distinct prompts x 2 dimensions
        again = tagged_features(ChatTagger(ChatRunner(backend, cache=cache)), prompts, dims)
        assert again.categorical == f.categorical and len(fake_server.requests) == 4
    finally:
        cache.close()


def test_bad_tagging_configs(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text('{"dimension": 1}')
    with pytest.raises(InputError, match="expected a JSON list"):
        read_tagging_configs(bad)
    with pytest.raises(InputError, match="cannot read"):
        read_tagging_configs(tmp_path / "missing.json")
