"""PrefEval harness: reading, conversations, MCQ scoring by hand, generation checks with a scripted judge."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from prefkit.analysis.prefeval import (
    FILLER,
    GenerationCheck,
    conversation,
    load_templates,
    option_order,
    read_prefeval,
    run_prefeval,
    score_mcq,
    topics,
)
from prefkit.errors import InputError, ValidationError


@pytest.fixture
def root(shared_data: Path) -> Path:
    return shared_data / "prefeval"


class Remembers:
    """Knows the preference-respecting option of every question (``right``) and picks it when the preference is
    within ``memory`` exchanges of the question, else option A; free text echoes the preference when remembered."""

    def __init__(self, memory: int, right: dict[str, str] | None = None) -> None:
        self.memory = memory
        self.right = right or {}

    def chat(self, conversations: Sequence[Sequence[tuple[str, str]]]) -> list[str]:
        out = []
        for conv in conversations:
            distance = (len(conv) - 3) // 2  # preference exchange, filler exchanges, question
            question = conv[-1][1]
            if "\nA. " not in question:
                out.append(
                    f"Since you mentioned: {conv[0][1]} here is my advice."
                    if distance <= self.memory
                    else "Try the pasta."
                )
                continue
            if distance > self.memory:
                out.append("A")
                continue
            lines = [ln for ln in question.splitlines() if ln[:3] in ("A. ", "B. ", "C. ", "D. ")]
            good = self.right[question.split("\n")[0]]
            out.append(next(ln[0] for ln in lines if ln[3:] == good))
        return out


class KeywordJudge:
    """PrefEval's checks by rule: acknowledged when the reply says "you mentioned"; never violates; restates the
    preference faithfully; helpful unless it is the bare "Try the pasta."."""

    def complete(self, prompts: Sequence[str]) -> list[str]:
        out = []
        for p in prompts:
            if "acknowledges/mentions what the preference is" in p:
                said = "you mentioned" in p.split("Assistant response:")[-1]
                out.append(
                    f"<preference>{'x' if said else ''}</preference><answer>{'Yes' if said else 'No'}</answer>"
                )
            elif "violates the user's stated preference" in p:
                out.append("<answer>No</answer>")
            elif "hallucinated" in p:
                out.append("<answer>No</answer>")
            else:
                out.append("<answer>No</answer>" if "Try the pasta." in p else "<answer>Yes</answer>")
        return out


def test_topics_and_items(root: Path) -> None:
    assert len(topics(root)) == 20 and "travel_restaurant" in topics(root)
    items = read_prefeval(root, topic_names=["travel_restaurant"])
    assert len(items) == 56 and items[0].options[0].startswith("Gemma, a cozy gluten-free trattoria")
    imp = read_prefeval(root, form="implicit-choice", task="generation", topic_names=["travel_restaurant"])
    assert imp[0].history[0] == ("user", "What are some good lunch options near the office?")
    per = read_prefeval(root, form="implicit-persona", task="generation", topic_names=["travel_restaurant"])
    assert len(per[0].history) == 10


def test_conversation_and_mcq_scoring_by_hand(root: Path) -> None:
    item = read_prefeval(root, topic_names=["travel_restaurant"])[0]
    conv = conversation(item, 3, task="mcq", seed=7)
    assert conv[0] == ("user", item.preference) and conv[2] == ("user", FILLER[0][0]) and len(conv) == 9
    order = option_order(item, 7)
    right = "ABCD"[order.index(0)]
    wrong = "ABCD"[order.index(1)]
    assert score_mcq(item, right, 7) is True and score_mcq(item, f"{wrong}.", 7) is False
    assert score_mcq(item, "A or B", 7) is None
    assert option_order(item, 7) == order  # seeded


def test_accuracy_falls_with_distance(root: Path) -> None:
    items = read_prefeval(root, topic_names=["travel_restaurant", "lifestyle_dietary"])[:30]
    right = {it.question: it.options[0] for it in items}
    records, summary = run_prefeval(Remembers(2, right), items, task="mcq", turns=(0, 5), seed=0)
    by_d = {c["key"]: c for c in summary["by_distance"]}
    assert by_d["0"]["n"] == 30 and by_d["0"]["accuracy"] == 1.0
    # beyond its memory the model answers "A": correct exactly where the shuffle put the right option first
    expected = sum(option_order(it, 0)[0] == 0 for it in items) / len(items)
    assert by_d["5"]["accuracy"] == pytest.approx(expected)
    assert len(records) == 60 and {r["distance"] for r in records} == {0, 5}
    again = run_prefeval(Remembers(2, right), items, task="mcq", turns=(0, 5), seed=0)
    assert again == (records, summary)


def test_generation_checks(root: Path) -> None:
    items = read_prefeval(root, task="generation", topic_names=["pet_ownership"])[:4]
    records, summary = run_prefeval(
        Remembers(memory=1),
        items,
        task="generation",
        turns=(0, 3),
        judge=KeywordJudge(),
        templates=load_templates(root),
    )
    assert [r["error"] for r in records] == ["none"] * 4 + ["unhelpful"] * 4
    assert summary["errors"] == {"none": 4, "unhelpful": 4}
    assert GenerationCheck(True, True, False, True).error == "inconsistency"
    assert GenerationCheck(False, False, None, True).error == "unaware"


def test_bad_inputs(root: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no PrefEval topic 'astrology'; topics: education_learning_styles"):
        read_prefeval(root, topic_names=["astrology"])
    with pytest.raises(InputError, match="not a PrefEval data directory"):
        read_prefeval(tmp_path)
    with pytest.raises(ValidationError, match="form must be one of"):
        read_prefeval(root, form="telepathic")
    with pytest.raises(ValidationError, match="needs a judge"):
        run_prefeval(Remembers(1), read_prefeval(root, topic_names=["shop_home"])[:1], task="generation")
    with pytest.raises(InputError, match="error_type templates"):
        load_templates(tmp_path)
