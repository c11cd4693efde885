"""CritiQ criteria mining with a scripted judge and refiner of known behaviour."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np
import pytest
from scipy.optimize import check_grad

from prefkit.analysis.criteria import CriteriaScorer, _nll, mine_criteria, parse_refined
from prefkit.analysis.principles import ChatVoter, PairTexts
from prefkit.errors import ValidationError

GOOD = "The text cites evidence."
BAD = "The text rambles."
BAD_FIXED = "The text does not ramble."
NOISE = "The text mentions the weather."
WORDS = {GOOD: ("evidence", 1), BAD: ("ramble", 1), BAD_FIXED: ("ramble", -1), NOISE: ("weather", 1)}


def _text(rng: np.random.Generator, evidence: bool, ramble: bool) -> str:
    words = ["a", "text"] + (["evidence"] if evidence else []) + (["ramble"] if ramble else [])
    if rng.random() < 0.5:
        words.append("weather")
    return " ".join(words)


def _pairs(n: int, seed: int) -> PairTexts:
    """Humans prefer the text with evidence; ties on evidence are broken against rambling."""
    rng = np.random.default_rng(seed)
    a, b, pref = [], [], []
    for _ in range(n):
        ea, eb = rng.random() < 0.5, rng.random() < 0.5
        ra, rb = rng.random() < 0.5, rng.random() < 0.5
        if ea == eb and ra == rb:
            ra, rb = True, False
        ta, tb = _text(rng, ea, ra), _text(rng, eb, rb)
        score_a, score_b = 2 * ea - ra, 2 * eb - rb
        if score_a == score_b:  # evidence and rambling cancel: make a the clear winner
            ta, tb = _text(rng, True, False), _text(rng, False, True)
            score_a, score_b = 2, -1
        a.append(ta)
        b.append(tb)
        pref.append(0 if score_a > score_b else 1)
    return PairTexts(("",) * n, tuple(a), tuple(b), np.asarray(pref))


class Scripted:
    """Judges criteria by their keyword (which text has it, or lacks it for a negated criterion); refines
    "The text rambles." into "The text does not ramble."; anything else is left as it is."""

    def complete(self, prompts: Sequence[str]) -> list[str]:
        out = []
        for p in prompts:
            if p.startswith("A quality criterion"):
                crit = re.search(r"Criterion: (.*)\n", p).group(1)  # type: ignore[union-attr]
                out.append("Criterion: " + (BAD_FIXED if crit == BAD else crit))
                continue
            listing = re.search(r"Principles:\n(.*?)\n\nPrompt:", p, re.S).group(1)  # type: ignore[union-attr]
            a = p.split("Response A:\n")[1].split("\n\nResponse B:\n")[0].split()
            b = p.split("\n\nResponse B:\n")[1].split()
            votes = {}
            for line in listing.splitlines():
                k, text = line.split(": ", 1)
                word, sign = WORDS.get(text, ("", 1))
                ha, hb = word in a, word in b
                if ha == hb:
                    votes[k] = "None"
                else:
                    votes[k] = "A" if (ha if sign > 0 else hb) else "B"
            out.append(json.dumps(votes))
        return out


def test_refinement_turns_a_bad_criterion_into_a_good_one() -> None:
    pairs = _pairs(30, seed=0)
    chat = Scripted()
    res = mine_criteria(pairs, ChatVoter(chat), [GOOD, BAD, NOISE], refiner=chat, rounds=2, keep_accuracy=0.7)
    r0, r1 = res.rounds
    assert r0.kept == [GOOD]  # rambling is anti-correlated with the humans, the weather at chance
    assert BAD_FIXED in r1.criteria and BAD_FIXED in r1.kept
    assert set(res.criteria) == {GOOD, BAD_FIXED}
    assert r1.majority_accuracy >= r0.majority_accuracy
    # by hand: the good criterion decides exactly the pairs whose evidence differs, and agrees on all of them
    k = r0.criteria.index(GOOD)
    differ = np.mean(
        [
            ("evidence" in x.split()) != ("evidence" in y.split())
            for x, y in zip(pairs.a, pairs.b, strict=True)
        ]
    )
    assert r0.coverage[k] == pytest.approx(differ) and r0.accuracy[k] == 1.0


def test_scorer_ranks_new_texts() -> None:
    pairs = _pairs(30, seed=1)
    chat = Scripted()
    voter = ChatVoter(chat)
    crit = [GOOD, BAD_FIXED]
    scorer = CriteriaScorer(l2=0.1).fit(voter.vote(crit, pairs), pairs.pref)
    assert scorer.weights_[0] > scorer.weights_[1] > 0  # evidence matters more than rambling, both help
    test = _pairs(40, seed=2)
    assert scorer.accuracy(voter.vote(crit, test), test.pref) >= 0.9
    texts = ["a text evidence", "a text", "a text ramble", "a text evidence ramble"]
    s = scorer.score_texts(crit, voter, texts)
    assert list(np.argsort(-s)) == [0, 3, 1, 2]


def test_gradient_of_the_scorer_loss() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-1, 2, size=(20, 3)).astype(float)
    y = (rng.random(20) < 0.5).astype(float)
    err = check_grad(lambda w: _nll(w, x, y, 0.3)[0], lambda w: _nll(w, x, y, 0.3)[1], rng.normal(size=3))
    assert err < 1e-5


def test_bad_inputs() -> None:
    pairs = _pairs(10, seed=3)
    with pytest.raises(ValidationError, match="no initial criteria"):
        mine_criteria(pairs, ChatVoter(Scripted()), [])
    with pytest.raises(ValidationError, match="no criterion agrees.*weather"):
        mine_criteria(pairs, ChatVoter(Scripted()), [NOISE], keep_accuracy=0.99)
    assert parse_refined('\n Criterion: "Be brief."\n') == "Be brief."
