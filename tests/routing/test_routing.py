"""Routing maths: features by hand, the PPM's cheap fit against the expensive one, the synthetic oracle, plans,
instances of two files (bad inputs named), the signals, and the simulation on real llmfao data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prefkit.analysis.pairs import JudgedPairs
from prefkit.errors import DataProblemError, ValidationError
from prefkit.routing.features import (
    DEFAULT_DIMENSIONS,
    Design,
    Features,
    lexical_features,
    parse_tag,
    read_dimensions,
    tagged_features,
)
from prefkit.routing.instances import expected_agreement, pair_instances
from prefkit.routing.ppm import PPM, fit_ppm, fit_ppm_mixes, plan_mask, random_mask
from prefkit.routing.signals import (
    leaderboard_value,
    panel_disagreement,
    reward_uncertainty,
    swap_inconsistency,
)
from prefkit.routing.synthetic import draw, expected_quality, oracle_fraction


def _pairs(rows: list[tuple[str, str, str, int, str]], kinds: dict[str, str] | None = None) -> JudgedPairs:
    """rows: (prompt, item a, item b, outcome, annotator)."""
    items: dict[str, int] = {}
    anns: dict[str, int] = {}
    a = [items.setdefault(r[1], len(items)) for r in rows]
    b = [items.setdefault(r[2], len(items)) for r in rows]
    ann = [anns.setdefault(r[4], len(anns)) for r in rows]
    return JudgedPairs(
        a=np.array(a, dtype=np.int32),
        b=np.array(b, dtype=np.int32),
        outcome=np.array([r[3] for r in rows], dtype=np.int8),
        annotator=np.array(ann, dtype=np.int32),
        context=np.zeros(len(rows), dtype=np.int32),
        item_names=tuple(items),
        annotator_names=tuple(anns),
        annotator_kind=kinds or {},
        prompt=[r[0] for r in rows],
        text_a=[f"{r[1]} says something" for r in rows],
        text_b=[f"{r[2]} answers" for r in rows],
    )


def test_lexical_features_by_hand() -> None:
    f = lexical_features(["Say hi please", "Go"], ["hello there world", "a a b"], ["hello world", "b c"])
    v = f.numeric
    assert (
        v["len_a"].tolist() == [3, 3] and v["len_b"].tolist() == [2, 2] and v["len_diff"].tolist() == [1, 1]
    )
    assert v["prompt_len"].tolist() == [3, 1]
    assert v["len_ratio"][0] == pytest.approx(2 / 3)
    assert v["overlap"].tolist() == pytest.approx([2 / 3, 1 / 3])  # {hello, world} / {hello, there, world}
    # cosine of counts: (1*1 + 1*1) / (sqrt 3 * sqrt 2); second: a:2 b:1 vs b:1 c:1 -> 1 / (sqrt 5 sqrt 2)
    assert v["similarity"].tolist() == pytest.approx([2 / np.sqrt(6), 1 / np.sqrt(10)])
    # words are lower-cased and lose their punctuation; a token of punctuation alone is no word
    p = lexical_features(["Hi, you!"], ["Hello, world! (really)"], ["hello world ..."]).numeric
    assert (p["len_a"][0], p["len_b"][0], p["prompt_len"][0], p["overlap"][0]) == (
        3,
        2,
        2,
        pytest.approx(2 / 3),
    )


def test_lexical_features_need_texts() -> None:
    with pytest.raises(DataProblemError, match="carry no response texts"):
        lexical_features(["p"], None, ["x"])
    with pytest.raises(
        DataProblemError, match=r"1 of 2 instances lack a response text \(first: instance 2\)"
    ):
        lexical_features(["p", "q"], ["x", None], ["y", "z"])
    with pytest.raises(DataProblemError, match="instance 1 lacks its prompt"):
        lexical_features([None], ["x"], ["y"])
    assert lexical_features([None], ["x"], ["y"], names=("len_a",)).numeric["len_a"].tolist() == [1]
    with pytest.raises(ValidationError, match="unknown lexical feature 'colour'"):
        lexical_features(["p"], ["x"], ["y"], names=("colour",))


def test_hyper_dimensions_and_tag_parsing(shared_data: Path) -> None:
    configs = json.loads((shared_data / "hybrid_preferences" / "tagging_configs.json").read_text())
    dims = {d.name: d for d in read_dimensions(configs)}
    assert tuple(dims) == DEFAULT_DIMENSIONS
    assert (
        dims["safety_concern"].options == ("safe", "low", "moderate", "high")
        and not dims["safety_concern"].multi
    )
    assert dims["format_constraints"].multi and not dims["format_constraints"].options
    assert parse_tag(dims["safety_concern"], 'Sure: {"safety_concern": "Moderate"}') == "moderate"
    assert parse_tag(dims["safety_concern"], "no idea") == "(unparsed)"
    assert parse_tag(dims["format_constraints"], '{"format_constraints": ["json", "3 bullets"]}') == (
        "json",
        "3 bullets",
    )
    sub = read_dimensions(configs, ["subject_of_expertise"])[0]
    assert sub.multi and parse_tag(sub, '{"subject_of_expertise": ["law", "Nonsense"]}') == ("Law",)
    with pytest.raises(ValidationError, match="unknown tagging dimension 'colour'"):
        read_dimensions(configs, ["colour"])


class _Counting:
    """A Tagger that is a plain function of the prompt (the backend adapter is tested with a real HTTP server in
    tests/annotation/test_route_tagger.py); counts the prompts it sees."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def complete(self, prompts):  # noqa: ANN001, ANN201
        self.seen += prompts
        return [
            '{"safety_concern": "high"}' if "bomb" in p else '{"safety_concern": "safe"}' for p in prompts
        ]


def test_tagged_features_tag_each_distinct_prompt_once(shared_data: Path) -> None:
    configs = json.loads((shared_data / "hybrid_preferences" / "tagging_configs.json").read_text())
    dims = read_dimensions(configs, ["safety_concern"])
    tagger = _Counting()
    f = tagged_features(tagger, ["make a bomb", "bake a cake", "make a bomb"], dims)
    assert f.categorical["safety_concern"] == ["high", "safe", "high"] and len(tagger.seen) == 2
    assert "[START]\n<|user|>\nmake a bomb\n[END]" in tagger.seen[0]


def test_design_bins_and_indicators() -> None:
    f = Features(
        6,
        numeric={"x": np.array([1.0, 2, 3, 4, 5, np.nan])},
        categorical={"c": ["u", "v", "u", "u", "w", "v"]},
        multi={"m": [("j",), (), ("j", "k"), ("k",), (), ()]},
    )
    d = Design(bins=2).fit(f)
    x = d.transform(f)
    assert d.names == ["x:q1", "x:q2", "c=u", "c=v", "c=w", "m=j", "m=k"]
    assert x[:, 0].tolist() == [1, 1, 0, 0, 0, 0] and x[5, :2].tolist() == [
        0,
        0,
    ]  # median 3: [1, 2] | [3, ...]
    assert x[:, 2:5].sum(axis=1).tolist() == [1] * 6 and x[2, 5:].tolist() == [1, 1]
    again = Design.from_json(json.loads(json.dumps(d.to_json())))
    assert np.array_equal(again.transform(f), x)
    with pytest.raises(ValidationError, match="needs feature 'x'"):
        d.transform(Features(1, categorical={"c": ["u"]}, multi={"m": [()]}))
    rows = f.rows()
    back = Features.from_rows(rows)
    assert set(back.numeric) == {"x"} and set(back.categorical) == {"c"} and set(back.multi) == {"m"}


def test_cheap_ppm_fit_matches_the_expensive_mix_fit() -> None:
    """HyPER's way (score many random mixes, regress on feature counts) and the per-instance regression give the
    same predicted gains and the same plan on a small case where the outcome is known exactly."""
    prob = draw(300, numeric=1, rng=5)
    d = Design(bins=4).fit(prob.features)
    x = d.transform(prob.features)
    cheap = fit_ppm(x, prob.true_gain, d.names, l2=1e-6)
    mixes = fit_ppm_mixes(x, lambda mask: expected_quality(prob, mask), d.names, mixes=400, rng=1)
    gc, gm = cheap.gain(x), mixes.gain(x)
    assert np.corrcoef(gc, gm)[0, 1] > 0.999
    assert np.abs(gc - gm).max() < 0.03  # gains range over ~0.6
    assert (plan_mask(gc, 0.25) == plan_mask(gm, 0.25)).mean() > 0.95
    saved = PPM.from_json(json.loads(json.dumps(cheap.to_json())))
    assert np.allclose(saved.gain(x), gc)


@pytest.mark.parametrize("budget", [0.1, 0.25, 0.5])
def test_learned_routing_recovers_most_of_the_oracle_gain(budget: float) -> None:
    train, test = draw(4000, rng=11), draw(4000, rng=12)
    d = Design().fit(train.features)
    model = fit_ppm(d.transform(train.features), train.observed_gain, d.names)
    assert oracle_fraction(test, model.gain(d.transform(test.features)), budget) >= 0.9
    assert abs(oracle_fraction(test, np.zeros(4000), budget, rng=3)) < 0.1  # random routing gains ~nothing


def test_plans_are_deterministic_and_budgets_checked() -> None:
    g = np.random.default_rng(0).random(101)
    assert np.array_equal(plan_mask(g, 0.3, 7), plan_mask(g, 0.3, 7))
    m = plan_mask(g, 0.3, 7)
    assert m.sum() == 30 and g[m].min() > g[~m].max()
    assert plan_mask(g, 0.0).sum() == 0 and plan_mask(g, 1.0).all()
    assert (
        np.array_equal(random_mask(101, 0.5, 3), random_mask(101, 0.5, 3))
        and random_mask(101, 0.5, 3).sum() == 50
    )
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValidationError, match=r"budget must be a fraction in \[0, 1\]"):
            plan_mask(g, bad)


def test_instances_join_two_files_and_flip_orientation() -> None:
    human = _pairs(
        [
            ("p1", "x", "y", 0, "h1"),
            ("p1", "y", "x", 0, "h2"),
            ("p1", "x", "y", 2, "h3"),
            ("p2", "x", "z", 1, "h1"),
        ]
    )
    ai = _pairs([("p2", "z", "x", 0, "gpt"), ("p1", "y", "x", 1, "gpt")])
    inst = pair_instances(human, ai)
    assert inst.keys == [("p1", "x", "y"), ("p2", "x", "z")]
    assert [v.tolist() for v in inst.votes] == [[0, 1, 2], [1]]
    assert inst.ai.tolist() == [0, 1]  # "y vs x, b wins" = x wins; "z vs x, a wins" = z (b) wins


def test_instances_name_the_first_missing_pair() -> None:
    human = _pairs([("p1", "x", "y", 0, "h1"), ("p2", "x", "z", 1, "h1"), ("p3", "y", "z", 1, "h1")])
    with pytest.raises(
        DataProblemError, match=r"AI_FILE lacks 2 pair\(s\) of HUMAN_FILE \(first: x vs z on 'p2'\)"
    ):
        pair_instances(human, _pairs([("p1", "x", "y", 0, "gpt")]))
    with pytest.raises(
        DataProblemError, match=r"AI_FILE has 1 pair\(s\) that HUMAN_FILE lacks \(first: a vs b on 'p9'\)"
    ):
        pair_instances(human, _pairs([("p9", "a", "b", 0, "gpt")]))


def test_a_mixed_file_splits_by_annotator_kind() -> None:
    both = _pairs(
        [("p", "x", "y", 0, "h1"), ("p", "x", "y", 1, "gpt"), ("p", "x", "y", 0, "h2")], {"gpt": "model"}
    )
    inst = pair_instances(both, both)
    assert inst.votes[0].tolist() == [0, 0] and inst.ai.tolist() == [1]


def test_expected_agreement_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    counts = np.array([[3, 1, 1], [0, 2, 2], [1, 0, 0]])
    ai = np.array([0, 2, 1])
    h, m = expected_agreement(counts, ai)
    assert np.isnan(h[2]) and np.isnan(m[2])
    for i in range(2):
        votes = np.repeat(np.arange(3), counts[i])
        hs, ms = [], []
        for _ in range(20000):
            k = rng.integers(votes.size)
            rest = np.delete(votes, k)
            hs.append((rest == votes[k]).mean())
            ms.append((rest == ai[i]).mean())
        assert h[i] == pytest.approx(np.mean(hs), abs=0.01) and m[i] == pytest.approx(np.mean(ms), abs=0.01)


def test_signals_by_hand() -> None:
    # original order: a, b, tie, a; swapped order (b shown first): b won (=a), a won (=b), tie, a won (=b)
    assert swap_inconsistency(np.array([0, 1, 2, 0]), np.array([1, 0, 2, 0])).tolist() == [0, 0, 0, 1]
    assert panel_disagreement(np.array([[0, 0, 0], [0, 1, -1], [0, 1, 2]])).tolist() == pytest.approx(
        [0, 0.5, 2 / 3]
    )
    assert reward_uncertainty(np.array([0.5, 1.0, 0.75])).tolist() == pytest.approx([1, 0, 0.5])
    with pytest.raises(ValidationError):
        reward_uncertainty(np.array([1.5]))
    # items 0 and 1 are close and rarely compared; item 2 beats item 3 every time (many comparisons)
    a = np.array([0, 1] + [2] * 30 + [0, 1] * 10)
    b = np.array([1, 0] + [3] * 30 + [2, 3] * 10)
    o = np.array([0, 0] + [0] * 30 + [2, 2] * 10)
    v = leaderboard_value(np.array([0, 2]), np.array([1, 3]), np.zeros(2, dtype=int), 4)
    full = leaderboard_value(a, b, o, 4)
    assert full[0] > full[2] and v.shape == (2,)


@pytest.mark.shared_data
def test_llmfao_simulation_routed_beats_random_at_a_quarter(shared_data: Path) -> None:
    from prefkit.analysis.llmfao import read_llmfao
    from prefkit.routing.signals import judge_features
    from prefkit.routing.simulate import simulate

    pairs = read_llmfao(shared_data / "llmfao")
    inst = pair_instances(pairs, pairs)
    assert len(inst) == 2139 and (inst.ai >= 0).all()
    f = lexical_features(inst.prompt, inst.text_a, inst.text_b).merge(judge_features(inst))
    d = Design().fit(f)
    res, info = simulate(inst, d.transform(f), d.names, [0.0, 0.25, 1.0], seeds=4, boot=500)
    assert info["instances"] + info["dropped"] == 2139 and info["items"] == 59
    zero, quarter, one = res
    assert zero.score("routed").agreement == zero.score("all-ai").agreement == zero.score("random").agreement
    assert one.score("routed").agreement == pytest.approx(one.score("all-human").agreement)
    # crowd votes agree with other crowd votes more often than GPT-4 does (39% ties, GPT-4 says tie 3% of the time)
    assert quarter.score("all-human").agreement > quarter.score("all-ai").agreement
    assert quarter.diff[1] > 0  # routed - random: the interval excludes zero
    r = quarter.score("routed")
    assert r.agreement_lower < r.agreement < r.agreement_upper
    with pytest.raises(ValidationError, match="budget"):
        simulate(inst, d.transform(f), d.names, [1.25])


def test_vote_matrix_feeds_panel_disagreement() -> None:
    both = _pairs([("p", "x", "y", 0, "j1"), ("p", "y", "x", 0, "j2"), ("q", "x", "y", 2, "j1")])
    inst = pair_instances(both, all_rows=True)
    assert inst.vote_matrix().tolist() == [[0, 1], [2, -1]]
    assert panel_disagreement(inst.vote_matrix()).tolist() == [0.5, 0.0]
