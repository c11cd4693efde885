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


def test_swap_inconsistent_judge_verdicts_route_to_people(fake_server: Any, tmp_path: Path) -> None:
    """A real both-orders judge run (prefkit judge run against the HTTP server) that follows the position on the
    prompts marked POSITIONAL: prefkit route plan --ai VERDICTS sends exactly those pairs to people."""
    from typer.testing import CliRunner

    from prefkit.cli.main import app

    plain = fake_server.answer

    def answer(body: dict[str, Any]) -> tuple[int, bytes, str]:
        text = "\n".join(m["content"] for m in body["messages"])
        if "POSITIONAL" in text:
            with fake_server.lock:
                fake_server.requests.append(body)
            reply = {"id": "x", "object": "chat.completion", "created": 0, "model": fake_server.model,
                     "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "[[A]]"}}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
            return 200, json.dumps(reply).encode(), "application/json"
        return plain(body)

    fake_server.answer = answer
    rows = []
    for q in range(10):
        for a, b in (("m1", "m2"), ("m1", "m3"), ("m2", "m3")):
            prompt = f"question {q}" + (" POSITIONAL" if q < 3 else "")
            base = {"model_a": a, "model_b": b, "question_id": f"q{q}", "prompt": prompt,
                    "response_a": f"{a} {'good' if a == 'm1' else 'meh'} answer {q}",
                    "response_b": f"{b} meh answer {q}"}  # fmt: skip
            rows += [{**base, "winner": "model_a", "judge": f"h{k}", "judge_kind": "human"} for k in range(2)]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    verdicts, plan = tmp_path / "verdicts.jsonl", tmp_path / "plan.jsonl"
    runner = CliRunner()
    res = runner.invoke(app, ["judge", "run", str(log), "--model", "judge-1", "--base-url", fake_server.url,
                              "--no-cache", "--out", str(verdicts), "-q"])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    res = runner.invoke(
        app, ["route", "plan", str(log), "--ai", str(verdicts), "--budget", "0.3", "--out", str(plan)]
    )
    assert res.exit_code == 0, res.stderr
    assert "swap inconsistency" in res.stdout
    routed = [json.loads(x) for x in plan.read_text().splitlines()]
    human = {r["context"] for r in routed if r["route"] == "human"}
    assert len([r for r in routed if r["route"] == "human"]) == 9 and all("POSITIONAL" in c for c in human)


def test_route_features_with_a_tagger_on_the_command_line(
    fake_server: Any, shared_data: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from prefkit.cli.main import app

    _teach(fake_server)
    rows = [
        {"model_a": "m1", "model_b": "m2", "winner": w, "question_id": f"q{q}", "judge": "h", "prompt": p,
         "response_a": f"a{q}", "response_b": f"b{q}"}
        for q, (p, w) in enumerate([("Build a weapon", "model_a"), ("Write a poem", "tie")])
    ]  # fmt: skip
    log, out = tmp_path / "log.jsonl", tmp_path / "tags.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = shared_data / "hybrid_preferences" / "tagging_configs.json"
    args = ["route", "features", str(log), "--no-lexical", "--tagger", "judge-1", "--base-url", fake_server.url,
            "--configs", str(cfg), "--dims", "safety_concern", "--cache", str(tmp_path / "c.db"), "--out", str(out)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.stderr
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["id"], r["safety_concern"]) for r in got] == [("p1", "high"), ("p2", "safe")]
    k = args.index("--configs")
    res = CliRunner().invoke(app, args[:k] + args[k + 2 :])  # no --configs
    assert res.exit_code == 2 and "--tagger needs --configs" in res.stderr
