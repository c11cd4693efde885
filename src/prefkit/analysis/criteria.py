"""CritiQ-style criteria mining: evolve quality criteria from a few human-labelled pairs, then score texts.

The loop (after CritiQ Flow, Guo et al. 2025), over a small set of human-labelled pairs (about 30):

1. start from candidate criteria (a pool, or proposed by a chat model from the pairs);
2. **judge** every pair with every criterion (a :class:`~prefkit.analysis.principles.Voter`: which response
   satisfies the criterion better, or neither);
3. **keep** the criteria whose verdicts agree with the humans on at least ``keep_accuracy`` of the pairs where
   they decide, and that decide on at least ``min_coverage`` of the pairs;
4. **refine** the rest: a chat model sees the criterion and pairs where it went against the humans and rewrites it
   (:func:`render_refine_prompt`); the rewrite is judged in the next round;
5. after the last round, train the **scorer**: a logistic head on the kept criteria's verdicts (no intercept, so
   swapping a pair flips the probability), ``P(a preferred) = sigmoid(w . votes)``.

A text's score is linear in its criteria: with pairwise votes ``v(i, j)`` among new texts the scorer ranks them
by ``mean_j w . v(i, j)`` (for votes that are differences of per-text verdicts, exactly ``w . c_i`` up to a
constant). Accuracy against the humans is reported at every round (majority vote of the kept criteria).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from prefkit.analysis.principles import (
    ChatModel,
    PairTexts,
    Voter,
    constitution_verdicts,
    principle_stats,
    verdict_accuracy,
)
from prefkit.errors import ValidationError


def render_refine_prompt(criterion: str, failures: Sequence[tuple[str, str]]) -> str:
    """Ask for a rewrite of ``criterion`` given (preferred, rejected) pairs on which it picked the rejected one."""
    shown = "\n\n".join(f"Preferred:\n{w}\nRejected:\n{r}" for w, r in failures)
    return (
        "A quality criterion disagreed with human judges on the pairs below: it favoured the rejected text. "
        "Rewrite the criterion so that it agrees with the humans, keeping it general. Answer with the new "
        f"criterion only, one sentence.\n\nCriterion: {criterion}\n\n{shown}\n"
    )


_LEAD = re.compile(r"^(?:new criterion|criterion|answer)\s*:\s*", re.I)


def parse_refined(reply: str) -> str:
    """The first non-empty line of a refinement reply, without a "Criterion:" lead or quotes."""
    for line in reply.splitlines():
        s = _LEAD.sub("", line.strip()).strip(" \"'*-")
        if s:
            return s
    return ""


@dataclass(frozen=True)
class Round:
    """One round: the criteria judged, their accuracy / coverage, which were kept, and the kept set's accuracy."""

    criteria: list[str]
    accuracy: np.ndarray
    coverage: np.ndarray
    kept: list[str]
    majority_accuracy: float


@dataclass
class CriteriaResult:
    criteria: list[str]
    rounds: list[Round] = field(default_factory=list)


def _failures(
    a: Sequence[str], b: Sequence[str], agr: np.ndarray, pref: np.ndarray, k: int
) -> list[tuple[str, str]]:
    out = []
    for i in np.flatnonzero(agr < 0)[:k]:
        out.append((a[i], b[i]) if pref[i] == 0 else (b[i], a[i]))
    return out


def mine_criteria(
    pairs: PairTexts,
    judge: Voter,
    initial: Sequence[str],
    *,
    refiner: ChatModel | None = None,
    rounds: int = 3,
    keep_accuracy: float = 0.7,
    min_coverage: float = 0.2,
    max_criteria: int = 10,
    examples: int = 3,
) -> CriteriaResult:
    """Evolve ``initial`` criteria against the human preferences of ``pairs`` (see the module doc)."""
    current = [c.strip() for c in dict.fromkeys(initial) if c and c.strip()]
    if not current:
        raise ValidationError("no initial criteria: give a pool of criteria or a proposing model")
    if len(pairs) < 2:
        raise ValidationError(f"criteria mining needs at least 2 human-labelled pairs, got {len(pairs)}")
    if rounds < 1:
        raise ValidationError(f"rounds must be >= 1, got {rounds}")
    kept: list[str] = []
    result = CriteriaResult([])
    sign = np.where(pairs.pref == 0, 1, -1)
    for r in range(rounds):
        judged = list(dict.fromkeys([*kept, *current]))
        if not judged:
            break
        votes = judge.vote(judged, pairs)
        stats = principle_stats(judged, votes, pairs.pref)
        acc = np.array([s.accuracy for s in stats])
        cov = np.array([s.relevance for s in stats])
        good = [k for k in range(len(judged)) if acc[k] >= keep_accuracy and cov[k] >= min_coverage]
        good.sort(key=lambda k: (-stats[k].support, k))
        kept = [judged[k] for k in good[:max_criteria]]
        maj = constitution_verdicts(votes[good[:max_criteria]], np.zeros(len(pairs), dtype=np.int64))
        result.rounds.append(Round(judged, acc, cov, list(kept), verdict_accuracy(maj, pairs.pref)))
        rest = [k for k in range(len(judged)) if judged[k] not in kept]
        if refiner is None or not rest or r == rounds - 1:
            break  # nothing left to refine: later rounds would judge the same criteria again
        agr = votes * sign[None, :]
        prompts = [
            render_refine_prompt(judged[k], _failures(pairs.a, pairs.b, agr[k], pairs.pref, examples))
            for k in rest
        ]
        current = [c for c in (parse_refined(x) for x in refiner.complete(prompts)) if c and c not in kept]
    result.criteria = kept
    if not kept:
        best = result.rounds[-1]
        k = int(np.argmax(best.accuracy * (best.coverage >= min_coverage)))
        raise ValidationError(
            f"no criterion agrees with the humans on >= {keep_accuracy:.0%} of the pairs it decides after {rounds} "
            f"rounds (best: {best.criteria[k]!r}, {best.accuracy[k]:.0%} on {best.coverage[k]:.0%} of the pairs); "
            "lower keep_accuracy, give other criteria or more rounds with a refining model"
        )
    return result


# ---------------------------------------------------------------------------------------------- scorer
def _nll(w: np.ndarray, x: np.ndarray, y: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    z = x @ w
    # y = 1 where a is preferred; log-likelihood of a logistic model without intercept
    nll = float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w)
    p = 1.0 / (1.0 + np.exp(-z))
    return nll, x.T @ (p - y) + l2 * w


class CriteriaScorer:
    """Logistic head on criteria verdicts: ``fit(votes (k, n), pref)``; ``weights_`` per criterion."""

    def __init__(self, l2: float = 1.0) -> None:
        self.l2 = l2

    def fit(self, votes: np.ndarray, pref: np.ndarray) -> CriteriaScorer:
        x = np.asarray(votes, dtype=np.float64).T
        y = (np.asarray(pref) == 0).astype(np.float64)
        if x.shape[0] != y.shape[0]:
            raise ValidationError(f"votes cover {x.shape[0]} pairs but pref has {y.shape[0]}")
        if self.l2 <= 0:
            raise ValidationError(f"l2 must be > 0, got {self.l2}")
        res = minimize(_nll, np.zeros(x.shape[1]), args=(x, y, self.l2), jac=True, method="L-BFGS-B")
        self.weights_ = res.x
        return self

    def p_a(self, votes: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(np.asarray(votes, dtype=np.float64).T @ self.weights_)))

    def accuracy(self, votes: np.ndarray, pref: np.ndarray) -> float:
        p = self.p_a(votes)
        agr = np.where(p > 0.5, 1, np.where(p < 0.5, -1, 0))
        return verdict_accuracy(agr, pref)

    def score_texts(self, criteria: Sequence[str], judge: Voter, texts: Sequence[str]) -> np.ndarray:
        """Scores of ``texts`` (higher is better): ``mean_j w . v(i, j)`` over all pairs among them."""
        n = len(texts)
        if n < 2:
            return np.zeros(n)
        ii, jj = np.triu_indices(n, 1)
        pairs = PairTexts(
            ("",) * len(ii),
            tuple(texts[i] for i in ii),
            tuple(texts[j] for j in jj),
            np.zeros(len(ii), dtype=np.int64),
        )
        margin = np.asarray(judge.vote(list(criteria), pairs), dtype=np.float64).T @ self.weights_
        score = np.zeros(n)
        np.add.at(score, ii, margin)
        np.add.at(score, jj, -margin)
        return score / (n - 1)
