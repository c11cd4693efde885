"""Prompt packs: the parsers read the documented formats and never guess; the MT-Bench templates are the
published ones (checked against FastChat's judge_prompts.jsonl in the shared data)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from prefkit.annotation.llm_judge import combine_orders, swap, weighted_first
from prefkit.annotation.prompts import (
    GRADING,
    PAIRWISE,
    UNPARSED,
    grade_pack,
    pair_pack,
    parse_bracket_abc,
    parse_bracket_rating,
    parse_five_way,
    parse_identifier_mM,
    parse_only_ab_tie,
    parse_result_ab,
    parse_result_score,
)
from prefkit.annotation.types import ChatReply, Verdict
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import ValidationError


@pytest.mark.parametrize(
    ("parser", "text", "outcome"),
    [
        (parse_bracket_abc, "B is clearer. [[B]]", OUTCOME_B),
        (parse_bracket_abc, "Final verdict: [[C]]", OUTCOME_TIE),
        (parse_bracket_abc, "[[A]] ... on reflection [[B]]", UNPARSED),
        (parse_bracket_abc, "A is better", UNPARSED),
        (parse_bracket_abc, "[[A]] and again [[A]]", OUTCOME_A),
        (parse_five_way, "My final verdict is: [[B>>A]]", OUTCOME_B),
        (parse_five_way, "[[A = B]]", OUTCOME_TIE),
        (parse_five_way, "[[A>B]] or maybe [[B>A]]", UNPARSED),
        (parse_five_way, "[[A>>>B]]", UNPARSED),
        (parse_result_ab, "Feedback... [RESULT] B", OUTCOME_B),
        (parse_result_ab, "[RESULT] C", UNPARSED),
        (parse_only_ab_tie, " tie.", OUTCOME_TIE),
        (parse_only_ab_tie, "A because", UNPARSED),
        (parse_identifier_mM, "M", OUTCOME_B),
        (parse_identifier_mM, "model m", UNPARSED),
    ],
)
def test_pair_parsers(parser, text: str, outcome: int) -> None:
    assert parser(text).outcome == outcome


def test_five_way_strength() -> None:
    assert parse_five_way("[[A>>B]]").strength == 2.0 and parse_five_way("[[B>A]]").strength == -1.0


def test_grade_parsers() -> None:
    assert parse_bracket_rating("Rating: [[7]]") == 7.0
    assert math.isnan(parse_bracket_rating("Rating: [[11]]"))
    assert math.isnan(parse_bracket_rating("[[3]] then [[4]]"))
    assert parse_result_score("good. [RESULT] 4") == 4.0
    assert math.isnan(parse_result_score("[RESULT] 6"))


def test_pack_lookup_errors() -> None:
    assert set(PAIRWISE) >= {"mt-bench-pair-v2", "arena-hard-v1", "alpaca-eval-clf", "prometheus-relative"}
    assert set(GRADING) >= {"mt-bench-single-v1", "prometheus-absolute"}
    with pytest.raises(ValidationError, match="unknown pairwise protocol"):
        pair_pack("mt-bench-pair-v9")
    with pytest.raises(ValidationError, match="unknown grading protocol"):
        grade_pack("x")


def test_both_orders_rule() -> None:
    a, b, t = Verdict(OUTCOME_A), Verdict(OUTCOME_B), Verdict(OUTCOME_TIE)
    assert combine_orders(a, a).outcome == OUTCOME_A
    # picked the first shown both times: A in order 1, and in order 2 (B first) "A" means B, swapped back = B
    v = combine_orders(a, swap(Verdict(OUTCOME_A)))
    assert v.outcome == OUTCOME_TIE and v.flipped
    v = combine_orders(a, t)
    assert v.outcome == OUTCOME_TIE and not v.flipped
    assert combine_orders(a, Verdict(UNPARSED)).outcome == UNPARSED
    assert combine_orders(b, b).outcome == OUTCOME_B


def test_weighted_verdict_from_logprobs() -> None:
    reply = ChatReply("m", logprobs=((("m", math.log(0.6)), ("M", math.log(0.2)), ("The", math.log(0.1))),))
    assert weighted_first(reply, ("m", "M")) == pytest.approx(0.75)
    assert weighted_first(ChatReply("x"), ("m", "M")) is None


@pytest.mark.shared_data
def test_mt_bench_templates_are_the_published_ones(shared_data: Path) -> None:
    published = {}
    for line in (shared_data / "mt_bench" / "judge_prompts.jsonl").read_text().splitlines():
        r = json.loads(line)
        published[r["name"]] = r
    pair = PAIRWISE["mt-bench-pair-v2"]
    assert pair.system == published["pair-v2"]["system_prompt"]
    assert pair.template == published["pair-v2"]["prompt_template"]
    single = GRADING["mt-bench-single-v1"]
    assert single.template == published["single-v1"]["prompt_template"]
    assert single.system == published["single-v1"]["system_prompt"]
    clf = (shared_data / "alpaca_eval" / "alpaca_eval_clf_prompt.txt").read_text()
    user = PAIRWISE["alpaca-eval-clf"].template.replace("{question}", "{instruction}")
    user = user.replace("{answer_a}", "{output_1}").replace("{answer_b}", "{output_2}")
    assert user in clf and PAIRWISE["alpaca-eval-clf"].system in clf
