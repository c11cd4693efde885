"""Inverse Constitutional AI: the pipeline recovers a planted principle; AP v2 JSON round trip; bad inputs."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np
import pytest

from prefkit.analysis.principles import (
    PROPERTY_POOL,
    ChatVoter,
    EmbeddingVoter,
    PairTexts,
    constitution_verdicts,
    mine_constitution,
    parse_votes,
    principle_stats,
    read_annotated_pairs,
    read_icai_csv,
    reconstruct,
    verdict_accuracy,
    write_annotated_pairs,
)
from prefkit.errors import InputError, ValidationError
from prefkit.reward.encoders import HashingEncoder

PLANTED = "Select the response that mentions a dragon."
DISTRACTORS = ("Select the response that is longer.", "Select the response that mentions the sea.")


def _pairs(n: int, seed: int) -> PairTexts:
    """Stories where the human always prefers the one with a dragon; length and the sea are independent."""
    rng = np.random.default_rng(seed)
    a, b, pref = [], [], []
    for _ in range(n):
        texts = []
        for has_dragon in (True, False):
            words = ["once", "upon", "a", "time"] + ["and"] * int(rng.integers(1, 30))
            if has_dragon:
                words.append("dragon")
            if rng.random() < 0.5:
                words.append("sea")
            texts.append(" ".join(words))
        flip = rng.random() < 0.5
        a.append(texts[1] if flip else texts[0])
        b.append(texts[0] if flip else texts[1])
        pref.append(1 if flip else 0)
    return PairTexts(("",) * n, tuple(a), tuple(b), np.asarray(pref))


class PlantedChat:
    """A scripted judge that knows the planted principle: proposes it among distractors, and votes each
    principle by its literal meaning (dragon / longer / sea)."""

    def complete(self, prompts: Sequence[str]) -> list[str]:
        out = []
        for p in prompts:
            if p.startswith("You are given two responses"):
                out.append(json.dumps([PLANTED, *DISTRACTORS]))
                continue
            listing = re.search(r"Principles:\n(.*?)\n\nPrompt:", p, re.S)
            assert listing is not None
            a = p.split("Response A:\n")[1].split("\n\nResponse B:\n")[0]
            b = p.split("\n\nResponse B:\n")[1].rstrip("\n")
            votes = {}
            for line in listing.group(1).splitlines():
                k, text = line.split(": ", 1)
                if "dragon" in text:
                    key = "dragon"
                elif "sea" in text:
                    key = "sea"
                elif "longer" in text:
                    votes[k] = "A" if len(a) > len(b) else "B"
                    continue
                else:
                    votes[k] = "None"
                    continue
                ia, ib = key in a.split(), key in b.split()
                votes[k] = "A" if ia and not ib else "B" if ib and not ia else "None"
            out.append(json.dumps(votes))
        return out


def test_scripted_judge_recovers_the_planted_principle() -> None:
    pairs = _pairs(60, seed=1)
    res = mine_constitution(pairs, ChatVoter(PlantedChat()), proposer=PlantedChat(), seed=0, max_principles=3)
    assert res.principles[0].text == PLANTED
    assert res.principles[0].accuracy == 1.0 and res.principles[0].relevance == 1.0
    assert all(s.text != DISTRACTORS[1] for s in res.principles)  # the sea is at chance: filtered out
    assert res.reconstruction.accuracy == 1.0
    assert res.reconstruction.n == 18
    # the baseline principle never applies for this judge: every verdict is an abstention, scored one half
    assert res.reconstruction.baseline == 0.5
    assert res.reconstruction.lower > 0.8


def test_deterministic_under_seed() -> None:
    pairs = _pairs(40, seed=2)
    r1 = mine_constitution(pairs, ChatVoter(PlantedChat()), proposer=PlantedChat(), seed=3)
    r2 = mine_constitution(pairs, ChatVoter(PlantedChat()), proposer=PlantedChat(), seed=3)
    assert r1.to_dict() == r2.to_dict()
    assert np.array_equal(r1.test_idx, r2.test_idx)


def test_stats_and_verdicts_by_hand() -> None:
    # pair 0: a preferred; pair 1: b preferred; pair 2: a preferred
    pref = np.array([0, 1, 0])
    votes = np.array([[1, -1, 0], [-1, 0, 0], [1, 1, -1]])
    s = principle_stats(["p", "q", "r"], votes, pref)
    assert (s[0].n_for, s[0].n_against, s[0].support) == (2, 0, 2)
    assert (s[1].n_for, s[1].n_against, s[1].relevance) == (0, 1, pytest.approx(1 / 3))
    assert (s[2].n_for, s[2].n_against, s[2].accuracy) == (1, 2, pytest.approx(1 / 3))
    # summed votes 1, 0, -1: the tie on pair 1 falls back to the baseline's vote (-1)
    v = constitution_verdicts(votes, np.array([0, -1, 1]))
    assert v.tolist() == [1, -1, -1]
    assert verdict_accuracy(np.array([1, 0, -1]), pref) == pytest.approx(0.5)


def test_parse_votes_tolerates_noise() -> None:
    assert parse_votes('sure: {"0": "A", "1": "b", "2": "None", "7": "A"}', 3).tolist() == [1, -1, 0]
    assert parse_votes("no json here", 2).tolist() == [0, 0]


def test_annotated_pairs_round_trip(tmp_path, shared_data) -> None:
    pairs = read_annotated_pairs(shared_data / "icai" / "example_ap.json")
    assert len(pairs) >= 1 and pairs.a[0].startswith("In the heart of a bustling city")
    votes = np.tile(np.array([[1], [0]]), (1, len(pairs)))
    out = tmp_path / "ap.json"
    write_annotated_pairs(out, pairs, ["Select the response that evokes mystery.", "Select x."], votes)
    back = read_annotated_pairs(out)
    assert back.a == pairs.a and back.b == pairs.b and np.array_equal(back.pref, pairs.pref)
    doc = json.loads(out.read_text())
    assert doc["metadata"]["version"] == "2.0"
    kinds = sorted(a["type"] for a in doc["annotators"].values())
    assert kinds == ["principle", "principle", "unknown"]
    anns = doc["comparisons"][0]["annotations"]
    assert {"pref": None, "no_pref_reason": "not_applicable"} in anns.values()


def test_bad_inputs(tmp_path) -> None:
    pairs = _pairs(20, seed=4)
    never = "Select the response that mentions a unicorn."
    with pytest.raises(ValidationError, match="constitution is empty.*unicorn"):
        mine_constitution(pairs, ChatVoter(PlantedChat()), candidates=[never])
    with pytest.raises(ValidationError, match="no candidate principles"):
        mine_constitution(pairs, ChatVoter(PlantedChat()), candidates=[])
    with pytest.raises(ValidationError, match="constitution is empty"):
        reconstruct([], ChatVoter(PlantedChat()), pairs)
    bad = tmp_path / "bad.csv"
    bad.write_text("text_a,text_b,preferred_text\nx,y,text_c\n")
    with pytest.raises(InputError, match=r"bad.csv:2: preferred_text is 'text_c'"):
        read_icai_csv(bad)
    js = tmp_path / "bad.json"
    js.write_text('{"metadata": {}, "comparisons": []}')
    with pytest.raises(InputError, match="default_annotator"):
        read_annotated_pairs(js)


def test_embedding_voter_with_a_hashing_encoder_finds_the_keyword() -> None:
    pairs = _pairs(60, seed=5)
    voter = EmbeddingVoter(HashingEncoder(dim=4096), relevance=0.0)
    res = mine_constitution(
        pairs, voter, candidates=[PLANTED, "Select the response that mentions the sea."], seed=0
    )
    assert res.principles[0].text == PLANTED
    assert res.reconstruction.accuracy > 0.8 and res.reconstruction.baseline == 0.5


@pytest.mark.slow
def test_icai_orthogonal_with_minilm(shared_data) -> None:
    """The offline embedding voter on ICAI's synthetic orthogonal set, with the property pool."""
    enc_mod = pytest.importorskip("prefkit.reward.encoders")
    try:
        encoder = enc_mod.make_encoder(enc_mod.EncoderSpec())
    except Exception as exc:  # pragma: no cover - the MiniLM package is optional
        pytest.skip(f"MiniLM encoder unavailable: {exc}")
    pairs = read_icai_csv(shared_data / "icai" / "synthetic_data_orthogonal_adcbg.csv")
    planted = [
        "Select the response that is about a cat.",
        "Select the response that recommends a blue t-shirt.",
        "Select the response that recommends lemon ice cream.",
    ]
    opposite = [
        "Select the response that is about a dog.",
        "Select the response that recommends a green t-shirt.",
        "Select the response that recommends raspberry ice cream.",
    ]
    pool = [*PROPERTY_POOL, *planted, *opposite]
    res = mine_constitution(pairs, EmbeddingVoter(encoder), candidates=pool, seed=0)
    texts = [s.text for s in res.principles]
    # the three planted preferences (cats over dogs, blue over green, lemon over raspberry) are mined,
    # their opposites are not
    assert set(planted) <= set(texts) and not set(opposite) & set(texts)
    rec = res.reconstruction
    assert rec.n == 9 and 0.0 <= rec.lower <= rec.accuracy <= rec.upper <= 1.0
    print(res.to_dict())


def test_cross_validation_holds_every_pair_out_once() -> None:
    from prefkit.analysis.principles import cross_validate

    pairs = _pairs(30, seed=6)
    cv = cross_validate(pairs, ChatVoter(PlantedChat()), folds=5, candidates=[PLANTED, *DISTRACTORS], seed=1)
    assert cv.reconstruction.n == 30 and cv.reconstruction.accuracy == 1.0
    assert all(c[0] == PLANTED for c in cv.constitutions) and cv.empty_folds == 0
    with pytest.raises(ValidationError, match="folds must be in"):
        cross_validate(pairs, ChatVoter(PlantedChat()), folds=31, candidates=[PLANTED])
