"""Computed, user-supplied and judge-tagged response properties."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefkit.analysis.pairs import JudgedPairs, group_codes, property_differences
from prefkit.analysis.properties import (
    ALL_COMPUTED,
    Tagger,
    computed_properties,
    judge_properties,
    load_property_prompts,
    parse_tagging_reply,
    user_properties,
)
from prefkit.errors import DataProblemError, InputError, ValidationError

MD = "# Title\n\n## Part\n- one\n- two\n1. three\n**bold** and `code`\n```py\nx = 1\n```\nDone."
REFUSE = "I'm sorry, but I can't help with that. Maybe ask someone else?"
PLAIN = "The cat sat on the mat."


def _props(texts: Sequence[str], prompts: Sequence[str | None] | None = None) -> dict[str, np.ndarray]:
    t = computed_properties(texts, prompts, ALL_COMPUTED)
    return {n: t.values[:, k] for k, n in enumerate(t.names)}


def test_counts_on_hand_written_texts() -> None:
    p = _props([MD, REFUSE, PLAIN])
    assert p["length_words"].tolist() == [len(MD.split()), len(REFUSE.split()), 6]
    assert p["length_chars"].tolist() == [len(MD), len(REFUSE), len(PLAIN)]
    assert p["list_density"][0] == pytest.approx(3 / 11)
    assert p["header_density"][0] == pytest.approx(2 / 11)
    assert p["code_blocks"].tolist() == [1, 0, 0]
    assert p["bold"].tolist() == [1, 0, 0]
    assert p["markdown"][0] >= 2 and p["markdown"][2] == 0
    assert p["refusal"].tolist() == [0, 1, 0]
    assert p["questions"].tolist() == [0, 1, 0]
    assert p["hedging"][1] == pytest.approx(100 / len(REFUSE.split()))  # "Maybe"
    assert p["hedging"][2] == 0


def test_flesch_matches_the_formula_on_a_simple_text() -> None:
    # 6 words, 1 sentence, 6 vowel groups (one syllable each): 206.835 - 1.015 * 6 - 84.6 * 1
    assert _props([PLAIN])["flesch"][0] == pytest.approx(206.835 - 1.015 * 6 - 84.6)


def test_flesch_ranks_simple_above_complex_text() -> None:
    simple = "The dog ran. The cat sat. We had fun."
    hard = "Institutionalised organisational considerations necessitate comprehensive reevaluation."
    f = _props([simple, hard])["flesch"]
    assert f[0] > 90 > 0 > f[1]


def test_prompt_overlap_and_answers_question() -> None:
    prompt = "Explain photosynthesis in green plants"
    early = "Photosynthesis lets green plants turn light into sugar. " + "filler " * 100
    late = "filler " * 100 + "photosynthesis green plants"
    p = _props([early, late, "nothing relevant"], [prompt, prompt, prompt])
    # content words of the prompt: explain, photosynthesis, green, plants
    assert p["prompt_overlap"].tolist() == [0.75, 0.75, 0.0]
    assert p["answers_question"].tolist() == [0.75, 0.0, 0.0]
    assert _props([early])["prompt_overlap"][0] == 0  # no prompt given


def test_vectorised_over_many_texts_equals_one_by_one() -> None:
    texts = [MD, REFUSE, PLAIN, "", "?" * 3] * 20
    together = computed_properties(texts, None, ALL_COMPUTED).values
    alone = np.vstack([computed_properties([t], None, ALL_COMPUTED).values for t in texts])
    np.testing.assert_allclose(together, alone)


def test_bad_inputs_for_computed_properties() -> None:
    with pytest.raises(ValidationError, match="missing text"):
        computed_properties(["a", None])
    with pytest.raises(ValidationError, match="unknown computed"):
        computed_properties(["a"], names=["length", "vibes"])
    with pytest.raises(ValidationError, match="prompts"):
        computed_properties(["a", "b"], ["p"])


def test_user_properties() -> None:
    t = user_properties({"helpful": [1, 2, 3], "safe": np.array([0.0, 1.0, 1.0])})
    assert t.names == ("helpful", "safe") and t.values.shape == (3, 2)
    assert t.select(["safe"]).values[:, 0].tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ValidationError, match="missing"):
        user_properties({"x": [1.0, np.nan]})
    with pytest.raises(ValidationError, match="numeric"):
        user_properties({"x": ["high", "low"]})
    with pytest.raises(ValidationError, match="unknown properties"):
        t.select(["nope"])


def test_property_differences_need_texts() -> None:
    pairs = JudgedPairs(
        a=np.array([0]),
        b=np.array([1]),
        outcome=np.array([0]),
        annotator=np.array([-1]),
        context=np.array([-1]),
        item_names=("x", "y"),
    )
    with pytest.raises(DataProblemError, match="no response texts"):
        property_differences(pairs)
    with_gap = JudgedPairs(
        a=np.array([0, 1]),
        b=np.array([1, 0]),
        outcome=np.array([0, 1]),
        annotator=np.array([-1, -1]),
        context=np.array([-1, -1]),
        item_names=("x", "y"),
        text_a=["long text here", None],
        text_b=["s", "t"],
    )
    with pytest.raises(DataProblemError, match="1 of 2 judgments lack"):
        property_differences(with_gap)


def test_group_codes_unknown_column_is_a_clear_error() -> None:
    pairs = JudgedPairs(
        a=np.array([0, 1]),
        b=np.array([1, 0]),
        outcome=np.array([0, 1]),
        annotator=np.array([0, 1]),
        context=np.array([-1, -1]),
        item_names=("x", "y"),
        annotator_names=("ann", "gpt"),
        annotator_kind={"gpt": "model"},
        annotator_groups={"ann": {"country": "FR"}},
    )
    codes, names = group_codes(pairs, "judge")
    assert [names[c] for c in codes] == ["human", "gpt"]
    codes, names = group_codes(pairs, "country")
    assert [names[c] for c in codes] == ["FR", "(none)"]
    with pytest.raises(ValidationError, match="unknown group column 'age'.*country"):
        group_codes(pairs, "age")


# -- judge-tagged ------------------------------------------------------------------------------------


class ScriptedTagger:
    """Rates from the rendered prompt itself: 'lengthy'-like counts and formatting, as an LLM judge would."""

    def __init__(self, broken_every: int = 0) -> None:
        self.calls = 0
        self.broken_every = broken_every

    def complete(self, prompts: Sequence[str]) -> list[str]:
        out = []
        for p in prompts:
            self.calls += 1
            if self.broken_every and self.calls % self.broken_every == 0:
                out.append("I refuse to answer in JSON.")
                continue
            r1 = re.search(r"\[Response 1 Start\]\n(.*?)\n\[Response 1 End\]", p, re.S)
            r2 = re.search(r"\[Response 2 Start\]\n(.*?)\n\[Response 2 End\]", p, re.S)
            chars = re.search(r"\[Characteristics Start\]\n(.*?)\n\[Characteristics End\]", p, re.S)
            assert r1 and r2 and chars, "the template was not filled in"
            names = [line.split(":", 1)[0] for line in chars.group(1).splitlines()]
            doc = {}
            for n in names:

                def rate(t: str, n: str = n) -> str:
                    if n == "well formatted":
                        return str(min(3, t.count("\n- ")))
                    return str(min(3, len(t.split()) // 5))

                doc[n] = {"response 1": rate(r1.group(1)), "response 2": rate(r2.group(1))}
            out.append("Here you go:\n" + json.dumps(doc, indent=1))
        return out


def test_scripted_tagger_satisfies_the_protocol_and_drives_the_dissection(shared_data: Path) -> None:
    prompts = load_property_prompts(shared_data / "preference_dissection" / "prompts")
    assert "well formatted" in prompts.characteristics and len(prompts.characteristics) >= 15
    tagger = ScriptedTagger()
    assert isinstance(tagger, Tagger)
    a = ["short", "one two three four five six seven eight nine ten", "x\n- a\n- b\n- c"]
    b = ["one two three four five six", "tiny", "plain"]
    tags = judge_properties(
        tagger, prompts, ["q"] * 3, a, b, ["well formatted", "persuade user"], batch_size=2
    )
    assert tags.n_unreadable == 0 and tagger.calls == 3
    assert tags.a.values[:, 0].tolist() == [0, 0, 3] and tags.b.values[:, 0].tolist() == [0, 0, 0]
    assert tags.a.values[:, 1].tolist() == [0, 2, 1] and tags.b.values[:, 1].tolist() == [1, 0, 0]


def test_unreadable_replies_become_nan(shared_data: Path) -> None:
    prompts = load_property_prompts(shared_data / "preference_dissection" / "prompts")
    tags = judge_properties(
        ScriptedTagger(broken_every=2), prompts, ["q"] * 4, ["a"] * 4, ["b"] * 4, ["friendly"]
    )
    assert tags.n_unreadable == 2
    assert np.isnan(tags.a.values[[1, 3], 0]).all() and not np.isnan(tags.a.values[[0, 2], 0]).any()


def test_parse_tagging_reply_edge_cases() -> None:
    names = ["friendly", "polite"]
    reply = 'sure {"Friendly": {"response 1": "2", "response 2": 3}, "polite": {"response 1": "9"},}'
    out = parse_tagging_reply(reply, names)
    assert out[0].tolist() == [2.0, 3.0]
    assert np.isnan(out[1]).all()  # 9 is off the 0-3 scale; response 2 absent
    assert np.isnan(parse_tagging_reply("no json", names)).all()


def test_bad_tagger_and_prompt_dir(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="property prompt file not found"):
        load_property_prompts(tmp_path)
    (tmp_path / "query-free_pairwise.yaml").write_text("template: [unclosed\n")
    (tmp_path / "query_free_characteristics.yaml").write_text("a:\n  content: b\n")
    with pytest.raises(InputError, match="YAML"):
        load_property_prompts(tmp_path)
    from prefkit.analysis.properties import PropertyPrompts

    pp = PropertyPrompts("{response_1} {response_2} {characteristics}", {"friendly": "warm"})
    with pytest.raises(ValidationError, match="tagger"):
        judge_properties(object(), pp, ["q"], ["a"], ["b"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown characteristics"):
        judge_properties(ScriptedTagger(), pp, ["q"], ["a"], ["b"], ["rude"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(max_codepoint=127), max_size=40), min_size=1, max_size=8))
def test_word_count_equals_python_split(texts: list[str]) -> None:
    import pyarrow as pa

    arr = pa.array(["pad"] + texts).slice(1)  # a sliced array: non-zero offset into the buffers
    got = computed_properties(arr, None, ["length_words"]).values[:, 0]
    assert got.tolist() == [len(t.split()) for t in texts]


def test_judgments_without_annotators_form_one_group() -> None:
    pairs = JudgedPairs(
        a=np.array([0, 1, 0]), b=np.array([1, 0, 1]), outcome=np.array([0, 1, 0]), annotator=np.array([-1, 0, -1]),
        context=np.array([-1, -1, -1]), item_names=("x", "y"), annotator_names=("gpt",), annotator_kind={"gpt": "model"},
    )  # fmt: skip
    for by in ("judge", "kind", "annotator"):
        codes, names = group_codes(pairs, by)
        assert [names[c] for c in codes][0::2] == ["(no annotator)", "(no annotator)"]
    codes, names = group_codes(pairs, "annotator")
    assert names == ["gpt", "(no annotator)"] and codes.tolist() == [1, 0, 1]
