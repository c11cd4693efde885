"""Single-answer grading, multi-criteria rubrics over K responses and constitution judges, over real HTTP
against the loopback fake server; unparsed answers are recorded, never partly read."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from prefkit.annotation.grading import LLMGrader, grade_dataset
from prefkit.annotation.openai_backend import OpenAIChat
from prefkit.annotation.prompts import grade_pack
from prefkit.annotation.rubric import ConstitutionJudge, RubricJudge, parse_constitution, parse_rubric
from prefkit.annotation.runner import ChatRunner
from prefkit.annotation.types import UNPARSED, PairTask
from prefkit.data import io
from prefkit.data.model import OUTCOME_A, OUTCOME_TIE
from prefkit.errors import ValidationError


def _runner(url: str) -> ChatRunner:
    return ChatRunner(OpenAIChat("judge-1", base_url=url, timeout=5), retries=0)


def test_grade_dataset_gives_ratings(tmp_path: Path, fake_server: Any, battles: Any) -> None:
    ds = io.read(battles(tmp_path / "b.jsonl", [("a good one", "poor"), ("MUMBLE", "x")]))
    run = grade_dataset(ds, LLMGrader(_runner(fake_server.url), grade_pack("mt-bench-single-v1"), name="g"))
    rt = run.dataset.ratings
    assert sorted(rt.score.tolist()) == [2.0, 2.0, 8.0] and set(rt.scale_max.tolist()) == {10.0}
    assert run.unparsed == [("q1", "m1a")] and run.dataset.annotator_kind == {"g": "model"}


def test_rubric_over_k_responses(fake_server: Any) -> None:
    judge = RubricJudge(_runner(fake_server.url), {"correct": "is it right", "clear": "is it clear"})
    (scores, bad) = judge.score([("task", ["r1", "r2", "r3"]), ("MUMBLE", ["r1", "r2"])])
    assert scores is not None and len(scores) == 6
    assert [s.score for s in scores if s.criterion == "correct"] == [4.0, 3.0, 3.0]
    assert bad is None  # one entry missing: the whole answer is unparsed


def test_rubric_parser_never_guesses() -> None:
    ok = '{"scores": [{"response": 1, "criterion": "c", "score": 2}, {"response": 2, "criterion": "c", "score": 5}]}'
    assert parse_rubric(ok, 2, ["c"], 1, 5) is not None
    assert parse_rubric(ok.replace(": 5", ": 6"), 2, ["c"], 1, 5) is None  # off the scale
    assert parse_rubric(ok.replace('"response": 2', '"response": 1'), 2, ["c"], 1, 5) is None  # duplicate
    assert parse_rubric("no json here", 2, ["c"], 1, 5) is None


def test_constitution_verdicts_per_principle(fake_server: Any) -> None:
    judge = ConstitutionJudge(_runner(fake_server.url), {"helpful": "be helpful", "harmless": "do no harm"})
    (v, bad) = judge.judge_principles([PairTask("q", "x", "y"), PairTask("MUMBLE", "x", "y")])
    assert v["helpful"].outcome == OUTCOME_A and v["harmless"].outcome == OUTCOME_TIE
    assert bad["helpful"].outcome == UNPARSED and bad["harmless"].outcome == UNPARSED
    assert parse_constitution("- helpful: **B**", ["helpful"]) == {"helpful": 1}
    with pytest.raises(ValidationError, match="no ':'"):
        ConstitutionJudge(_runner(fake_server.url), {"a:b": "x"})


def test_grade_parsing_is_strict() -> None:
    pack = grade_pack("prometheus-absolute")
    assert pack.parse("[RESULT] 5") == 5.0 and math.isnan(pack.parse("[RESULT] five"))


def test_constitution_verdicts_become_judgments_per_criterion(
    tmp_path: Path, fake_server: Any, battles: Any
) -> None:
    from prefkit.annotation.run import judge_principles

    ds = io.read(battles(tmp_path / "b.jsonl", [("x", "y"), ("MUMBLE", "z")]))
    judge = ConstitutionJudge(_runner(fake_server.url), {"helpful": "be helpful", "harmless": "do no harm"})
    out = judge_principles(ds, judge, name="const")
    pw = out.pairwise
    assert len(pw) == 2  # the second pair's answer was unparsed: no judgment for it
    assert out.criteria.decode(pw.criterion) == ["helpful", "harmless"]
    assert pw.outcome.tolist() == [OUTCOME_A, OUTCOME_TIE] and out.annotator_kind == {"const": "model"}
