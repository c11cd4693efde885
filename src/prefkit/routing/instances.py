"""Instances to route: one per compared pair, with every human vote on it and the AI's verdict.

An instance is a context (its prompt text, or its code when the file has no texts) and an unordered pair of
items. Its orientation (which item is ``a``) is the one the human file shows first; votes and verdicts given the
other way round are flipped. Outcomes are coded as in :mod:`prefkit.data.model` (0: a wins, 1: b wins, 2: tie;
"both bad" counts as a tie).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.analysis.pairs import JudgedPairs
from prefkit.errors import DataProblemError

Key = tuple[str, str, str]  # (context, item a, item b) as shown in the human file


@dataclass
class Instances:
    """``n`` instances: names, texts, the human votes (``votes[i]``: an int8 array) and the AI verdict."""

    keys: list[Key]
    prompt: list[str | None]
    text_a: list[str | None]
    text_b: list[str | None]
    votes: list[np.ndarray]
    ai: np.ndarray  # int8, one verdict per instance (-1: none)
    ai_row: np.ndarray | None = None  # the row of the AI's pairs that gave each verdict (-1: none)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def vote_counts(self) -> np.ndarray:
        """``(n, 3)``: the human votes for a, b and tie of every instance."""
        out = np.zeros((len(self), 3), dtype=np.int64)
        for i, v in enumerate(self.votes):
            out[i] = np.bincount(v, minlength=3)[:3]
        return out

    def vote_matrix(self) -> np.ndarray:
        """``(n, max votes)``: every instance's votes, -1 padded (the input of ``signals.panel_disagreement``)."""
        out = np.full((len(self), max((len(v) for v in self.votes), default=0)), -1, dtype=np.int64)
        for i, v in enumerate(self.votes):
            out[i, : len(v)] = v
        return out

    def take(self, idx: np.ndarray) -> Instances:
        ii = idx.tolist()
        return Instances(
            [self.keys[i] for i in ii],
            [self.prompt[i] for i in ii],
            [self.text_a[i] for i in ii],
            [self.text_b[i] for i in ii],
            [self.votes[i] for i in ii],
            self.ai[idx],
            None if self.ai_row is None else self.ai_row[idx],
        )


def _rows(pairs: JudgedPairs, want: str) -> np.ndarray:
    """The rows of annotators of kind ``want`` (``human`` / ``model``) when the file mixes both kinds, else all."""
    kinds = [pairs.annotator_kind.get(n, "human") for n in pairs.annotator_names]
    if len(set(kinds)) < 2:
        return np.arange(len(pairs))
    ok = np.array([k == want for k in kinds] + [want == "human"])
    ann = np.where(pairs.annotator >= 0, pairs.annotator, len(kinds))
    return np.nonzero(ok[ann])[0]


def _ctx(pairs: JudgedPairs, k: int) -> str:
    p = pairs.prompt[k] if pairs.prompt is not None else None
    return p if p is not None else f"context {int(pairs.context[k])}"


def _outcome(o: int) -> int:
    return 2 if o >= 2 else o


def _describe(key: Key) -> str:
    ctx = key[0] if len(key[0]) <= 60 else key[0][:57] + "..."
    return f"{key[1]} vs {key[2]} on {ctx!r}"


def pair_instances(
    human: JudgedPairs,
    ai: JudgedPairs | None = None,
    *,
    human_name: str = "HUMAN_FILE",
    ai_name: str = "AI_FILE",
    all_rows: bool = False,
) -> Instances:
    """The instances of ``human`` (its human votes; every row with ``all_rows``) with ``ai``'s verdict on each
    (its model verdicts; the first one when there are several). DataProblemError naming the first pair one file
    has and the other lacks."""
    index: dict[tuple[str, frozenset[str]], int] = {}
    keys: list[Key] = []
    prompt: list[str | None] = []
    ta: list[str | None] = []
    tb: list[str | None] = []
    votes: list[list[int]] = []
    names = human.item_names
    for k in (np.arange(len(human)) if all_rows else _rows(human, "human")).tolist():
        a, b = names[int(human.a[k])], names[int(human.b[k])]
        ctx = _ctx(human, k)
        key = (ctx, frozenset((a, b)))
        i = index.get(key)
        if i is None:
            i = index[key] = len(keys)
            keys.append((ctx, a, b))
            prompt.append(human.prompt[k] if human.prompt is not None else None)
            ta.append(human.text_a[k] if human.text_a is not None else None)
            tb.append(human.text_b[k] if human.text_b is not None else None)
            votes.append([])
        o = _outcome(int(human.outcome[k]))
        if a != keys[i][1] and o < 2:
            o = 1 - o
        votes[i].append(o)
    if not keys:
        raise DataProblemError(f"{human_name}: no judgments")
    verdict = np.full(len(keys), -1, dtype=np.int8)
    ai_row = np.full(len(keys), -1, dtype=np.int64)
    if ai is not None:
        extra: list[Key] = []
        for k in _rows(ai, "model").tolist():
            a, b = ai.item_names[int(ai.a[k])], ai.item_names[int(ai.b[k])]
            ctx = _ctx(ai, k)
            i = index.get((ctx, frozenset((a, b))))
            if i is None:
                extra.append((ctx, a, b))
                continue
            if verdict[i] >= 0:
                continue
            o = _outcome(int(ai.outcome[k]))
            verdict[i] = 1 - o if (a != keys[i][1] and o < 2) else o
            ai_row[i] = k
        if extra:
            raise DataProblemError(
                f"{ai_name} has {len(extra)} pair(s) that {human_name} lacks (first: {_describe(extra[0])}); "
                "both files must cover the same pairs"
            )
        missing = np.nonzero(verdict < 0)[0]
        if missing.size:
            raise DataProblemError(
                f"{ai_name} lacks {missing.size} pair(s) of {human_name} (first: {_describe(keys[int(missing[0])])});"
                " both files must cover the same pairs"
            )
    return Instances(keys, prompt, ta, tb, [np.asarray(v, dtype=np.int8) for v in votes], verdict, ai_row)


def expected_agreement(counts: np.ndarray, ai: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per instance with >= 2 votes: the expected agreement with the other votes of one human vote drawn at random
    (``sum c_k (c_k - 1) / (n (n - 1))``) and of the AI verdict (``c_ai / n``, the same held-back set on average).
    NaN where fewer than 2 votes."""
    n = counts.sum(axis=1).astype(np.float64)
    ok = n >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        human = np.where(ok, (counts * (counts - 1)).sum(axis=1) / (n * (n - 1)), np.nan)
        c_ai = np.take_along_axis(counts, np.clip(ai, 0, 2).astype(np.int64)[:, None], axis=1)[:, 0]
        machine = np.where(ok & (ai >= 0), c_ai / n, np.nan)
    return human, machine


def texts_of(inst: Instances) -> tuple[Sequence[str | None], Sequence[str | None], Sequence[str | None]]:
    return inst.prompt, inst.text_a, inst.text_b
