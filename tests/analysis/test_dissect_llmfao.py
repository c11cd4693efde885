"""Dissection on real data: llmfao crowd votes versus GPT-4 verdicts on the same pairs, with texts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prefkit.analysis.dissect import dissect
from prefkit.analysis.llmfao import read_llmfao
from prefkit.analysis.pairs import group_codes, property_differences

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def llmfao(shared_data: Path):
    return read_llmfao(shared_data / "llmfao")


def test_llmfao_pairs_and_texts(llmfao) -> None:
    crowd = sum(1 for n in llmfao.annotator_names if n.startswith("crowd:"))
    assert len(llmfao) == 8931 + 2139 and crowd == 124
    assert all(t is not None for t in llmfao.text_a)
    assert set(llmfao.category_names) == {"code", "creativity", "instruct", "knowledge", "reflexion"}


def test_crowd_and_gpt4_differ_on_length_with_intervals(llmfao) -> None:
    x, names = property_differences(llmfao)
    g, gn = group_codes(llmfao, "judge")
    res = dissect(x, llmfao.outcome, names, g, gn, ties="drop")
    crowd, gpt4 = res.group("human"), res.group("gpt-4")
    k = names.index("length_words")
    # llmfao's prompts ask for short answers: both penalise length, GPT-4 about twice as much, and the 95%
    # intervals do not overlap
    assert gpt4.weights[k].upper < crowd.weights[k].lower < crowd.weights[k].upper < 0
    # formatting: both dislike headers in these short tasks; only the crowd rewards lists
    h, li = names.index("header_density"), names.index("list_density")
    assert crowd.weights[h].upper < 0 and gpt4.weights[h].upper < 0
    assert crowd.weights[li].lower > 0 and gpt4.weights[li].lower < 0 < gpt4.weights[li].upper
    assert 0.5 < res.similarity[0, 1] < 1.0


def test_published_fitted_weights_have_the_same_shape(shared_data: Path, llmfao) -> None:
    """The Preference Dissection release: one weight vector per judge over 29 properties (shape only)."""
    path = shared_data / "preference_dissection" / "fitted_paras_comparison" / "model_Code_fitted_paras.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert rows[0]["model_name"] == "human" and len(rows) == 33
    assert {len(r["parameters"]) for r in rows} == {29}
    x, names = property_differences(llmfao)
    g, gn = group_codes(llmfao, "judge")
    ours = dissect(x, llmfao.outcome, names, g, gn).to_dict()
    assert {len(grp["weights"]) for grp in ours["groups"]} == {len(names)}
    published = np.array([r["parameters"] for r in rows])
    assert published.shape == (33, 29) and np.isfinite(published).all()
