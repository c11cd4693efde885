"""Inverse Constitutional AI: the pipeline recovers a planted principle (scripted judges that know it, through the
chat-model and the pair-judge protocols); AP v2 JSON round trip; bad inputs."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np
import pytest

from prefkit.analysis.principles import (
    PROPERTY_POOL,
    ChatConstitutionJudge,
    ChatVoter,
    EmbeddingVoter,
    PairTexts,
    constitution_verdicts,
    mine_constitution,
    parse_judge_choice,
    parse_votes,
    principle_stats,
    read_annotated_pairs,
    read_icai_csv,
    reconstruct_by_judge,
    reconstruct_by_votes,
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


def _has(word: str, text: str) -> bool:
    return word in text.split()


def planted_verdict(principles: str, a: str, b: str) -> str:
    """What an annotator who follows ``principles`` (text) would say: the dragon rule when it is there."""
    if "dragon" in principles and _has("dragon", a) != _has("dragon", b):
        return "A" if _has("dragon", a) else "B"
    return "A"  # no usable principle: this judge follows the position (both orders then disagree)


class PlantedChat:
    """A scripted judge that knows the planted principle: proposes it among distractors, votes each
    principle by its literal meaning (dragon / longer / sea), and, asked to reconstruct, applies the dragon
    rule only when the constitution it reads states it."""

    def complete(self, prompts: Sequence[str]) -> list[str]:
        out = []
        for p in prompts:
            if p.startswith("You are given two responses"):
                out.append(json.dumps([PLANTED, *DISTRACTORS]))
                continue
            if p.startswith("An annotator chose"):
                head = p.split("Prompt:")[0]
                a = p.split("Response A:\n")[1].split("\n\nResponse B:\n")[0]
                b = p.split("\n\nResponse B:\n")[1].split("\n\nAnswer with")[0]
                out.append(planted_verdict(head, a, b))
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
    chat = PlantedChat()
    res = mine_constitution(
        pairs, ChatVoter(chat), proposer=chat, judge=ChatConstitutionJudge(chat), seed=0, max_principles=3
    )
    assert res.principles[0].text == PLANTED
    assert res.principles[0].accuracy == 1.0 and res.principles[0].relevance == 1.0
    assert all(s.text != DISTRACTORS[1] for s in res.principles)  # the sea is at chance: filtered out
    rec = res.reconstruction
    # the judge read the constitution (with the dragon rule) and predicted every held-out verdict
    assert rec.method == "judge" and rec.accuracy == 1.0 and rec.n == 18 and rec.lower > 0.8
    # the same judge without a constitution follows the position: the two orders disagree on every pair, no
    # verdict, scored one half
    assert rec.baseline == 0.5
    # the offline alternative (majority of the votes) agrees here; its baseline principle never applies
    votes = reconstruct_by_votes([s.text for s in res.principles], ChatVoter(chat), pairs.take(res.test_idx))
    assert votes.method == "votes" and votes.accuracy == 1.0 and votes.baseline == 0.5


def test_judge_reads_only_the_constitution() -> None:
    pairs = _pairs(30, seed=7)
    judge = ChatConstitutionJudge(PlantedChat())
    assert reconstruct_by_judge([PLANTED], judge, pairs).accuracy == 1.0
    # a constitution without the planted principle gives this judge nothing: no verdicts, one half
    wrong = reconstruct_by_judge(list(DISTRACTORS), judge, pairs)
    assert wrong.accuracy == 0.5 and wrong.abstained == 30
    # asked in one order only, the position follower says "A": right exactly where a was preferred
    one = reconstruct_by_judge(
        list(DISTRACTORS), ChatConstitutionJudge(PlantedChat(), both_orders=False), pairs
    )
    assert one.accuracy == pytest.approx(float(np.mean(pairs.pref == 0)))


class PlantedPairJudge:
    """A scripted judge on prefkit's pair-judge protocol (PairTask in, Verdict out, like
    ``annotation.scripted.ScriptedJudge``) that knows the planted principle: it applies the dragon rule when the
    question it is shown states it, and otherwise flips a seeded coin."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    @property
    def name(self) -> str:
        return "planted"

    def judge_pairs(self, tasks):
        from prefkit.annotation.types import Verdict
        from prefkit.data.model import OUTCOME_A, OUTCOME_B

        out = []
        for t in tasks:
            coin = self.rng.random() < 0.5
            if "dragon" in t.prompt and _has("dragon", t.first) != _has("dragon", t.second):
                first = _has("dragon", t.first)
            else:
                first = coin
            out.append(Verdict(OUTCOME_A if first else OUTCOME_B, raw="scripted"))
        return out


def test_pair_judge_with_the_planted_principle_recovers_it() -> None:
    """The CLI's adapter puts the constitution into the question a pair judge is shown."""
    from prefkit.annotation.types import PairJudge
    from prefkit.cli.principles import PairJudgeConstitution

    assert isinstance(PlantedPairJudge(), PairJudge)
    pairs = _pairs(200, seed=8)
    judge = PairJudgeConstitution(PlantedPairJudge(seed=1))
    res = mine_constitution(
        pairs, ChatVoter(PlantedChat()), proposer=PlantedChat(), judge=judge, seed=0, max_principles=3
    )
    rec = res.reconstruction
    assert res.principles[0].text == PLANTED and rec.method == "judge" and rec.n == 60
    assert rec.accuracy == 1.0
    # without the constitution the judge is a fair coin: its accuracy's 99.9% binomial range on 60 pairs
    from scipy.stats import binom

    lo, hi = binom.ppf([0.0005, 0.9995], 60, 0.5) / 60
    assert lo <= rec.baseline <= hi and rec.baseline < rec.lower


def test_cross_validation_with_the_judge() -> None:
    from prefkit.analysis.principles import cross_validate

    pairs = _pairs(30, seed=9)
    chat = PlantedChat()
    cv = cross_validate(
        pairs, ChatVoter(chat), folds=3, proposer=chat, judge=ChatConstitutionJudge(chat), seed=2
    )
    r = cv.reconstruction
    assert r.method == "judge" and r.n == 30 and r.accuracy == 1.0 and r.baseline == 0.5
    assert all(c[0] == PLANTED for c in cv.constitutions)


def test_parse_judge_choice() -> None:
    assert [parse_judge_choice(x) for x in ("A", " b.", "**B**", "Response A is better.", "[[A]]")] == [
        1, -1, -1, 1, 1,
    ]  # fmt: skip
    assert [parse_judge_choice(x) for x in ("", "Both A and B", "Neither", "AB")] == [0, 0, 0, 0]


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
        reconstruct_by_votes([], ChatVoter(PlantedChat()), pairs)
    with pytest.raises(ValidationError, match="constitution is empty"):
        reconstruct_by_judge([], ChatConstitutionJudge(PlantedChat()), pairs)
    with pytest.raises(ValidationError, match="no held-out pairs"):
        reconstruct_by_judge([PLANTED], ChatConstitutionJudge(PlantedChat()), pairs.take(np.arange(0)))
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
