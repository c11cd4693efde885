"""Train and cross-validate a head on whatever a Dataset holds (what ``prefkit reward train | cv`` call).

``regression`` and ``armo`` train on the file's ratings when it has some, ``pl`` on its K-wise rankings
(:mod:`prefkit.reward.judgments`); every other case trains on pairs: the file's own plus those implied by its
rankings and ratings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from prefkit.data.convert import to_pairwise
from prefkit.data.model import Dataset
from prefkit.reward.base import RewardHead
from prefkit.reward.evaluate import CVResult, accuracy_strict, cross_validate
from prefkit.reward.heads import make_head
from prefkit.reward.judgments import (
    cross_validate_units,
    fit_calibrated_units,
    judge,
    pairs_in,
    shaped,
)
from prefkit.reward.pipeline import Embedder, fit_calibrated, fit_head, prepare


@dataclass
class Source:
    """What a head was trained on: ``kind`` is "pairs", "ratings" or "rankings"; the counts of judgments;
    pairs added from rankings / ratings (pair-trained heads) and the pairs left out (ties, identical)."""

    kind: str
    n_pairs: int
    n_rankings: int
    n_ratings: int
    implied_from_rankings: int = 0
    implied_from_ratings: int = 0
    ties_left_out: int = 0
    identical_left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Trained:
    """A fitted head, its calibration temperature, its accuracy on the pairs of its training data."""

    head: RewardHead
    temperature: float
    n: int
    train_accuracy: float
    source: Source


def _counts(ds: Dataset, kind: str) -> Source:
    return Source(kind, len(ds.pairwise), len(ds.rankings), len(ds.ratings))


def pairs_dataset(ds: Dataset) -> tuple[Dataset, Source]:
    """``ds`` with the pairs implied by its rankings and ratings appended, and the counts."""
    src = _counts(ds, "pairs")
    conv = to_pairwise(ds)
    src.implied_from_rankings, src.implied_from_ratings = conv.from_rankings, conv.from_ratings
    return conv.dataset, src


def train(head: str, params: dict[str, Any], ds: Dataset, embedder: Embedder, *, seed: int = 0) -> Trained:
    """Fit ``head`` (temperature on a held-out 10%, then the head on everything) on what ``ds`` holds."""
    needs_ctx = make_head(head, **params).needs_ctx
    kind = shaped(head, ds)
    if kind is not None:
        j = judge(ds, embedder, need_ctx=needs_ctx)
        fitted, temperature = fit_calibrated_units(head, params, j, seed=seed)
        pairs = pairs_in(j, j.units)
        src = _counts(ds, kind)
        src.ties_left_out = j.n_ties
        acc = accuracy_strict(fitted.margins(pairs)) if len(pairs) else float("nan")
        return Trained(fitted, temperature, len(pairs), acc, src)
    pds, src = pairs_dataset(ds)
    prep = prepare(pds, embedder, need_ctx=needs_ctx)
    src.ties_left_out, src.identical_left_out = prep.n_ties, prep.n_identical
    fitted, temperature = fit_calibrated(head, prep.pairs, params, seed=seed)
    acc = accuracy_strict(fitted.margins(prep.pairs))
    return Trained(fitted, temperature, len(prep.pairs), acc, src)


def cv(
    head: str, params: dict[str, Any], ds: Dataset, embedder: Embedder, folds: int = 5, *, seed: int = 0
) -> tuple[CVResult, int, Source]:
    """k-fold CV on what ``ds`` holds (judgments on one prompt share a fold): result, pairs scored, source."""
    needs_ctx = make_head(head, **params).needs_ctx
    kind = shaped(head, ds)
    if kind is not None:
        j = judge(ds, embedder, need_ctx=needs_ctx)
        src = _counts(ds, kind)
        src.ties_left_out = j.n_ties
        return cross_validate_units(head, params, j, folds, seed=seed), len(pairs_in(j, j.units)), src
    pds, src = pairs_dataset(ds)
    prep = prepare(pds, embedder, need_ctx=needs_ctx)
    src.ties_left_out, src.identical_left_out = prep.n_ties, prep.n_identical
    ctx = pds.pairwise.context[prep.rows]
    groups = np.where(ctx >= 0, ctx, -1 - np.arange(len(ctx)))
    res = cross_validate(
        lambda tr: fit_head(head, tr, params).margins, prep.pairs, folds, groups=groups, seed=seed
    )
    return res, len(prep.pairs), src
