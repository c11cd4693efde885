"""Pluralistic heads on two annotator groups that disagree on one attribute (known truth)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from prefkit.errors import ValidationError  # noqa: E402
from prefkit.reward.bt import BradleyTerryHead  # noqa: E402
from prefkit.reward.evaluate import group_accuracy  # noqa: E402
from prefkit.reward.pairs import PairFeatures  # noqa: E402
from prefkit.reward.pluralistic import MaxMinHead, PALHead  # noqa: E402


def two_groups(n_annot: int = 40, per: int = 60, minority: float = 0.3, seed: int = 0, d: int = 6):
    """Both groups like attribute 0; they disagree on attribute 1 (the minority dislikes it)."""
    rng = np.random.default_rng(seed)
    group = (np.arange(n_annot) >= int(round((1 - minority) * n_annot))).astype(int)
    W = np.zeros((2, d))
    W[:, 0] = 2.0
    W[0, 1], W[1, 1] = 3.0, -3.0
    ann = np.repeat(np.arange(n_annot), per)
    n = len(ann)
    x1, x2 = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    diff = ((x1 - x2) * W[group[ann]]).sum(1)
    first = rng.random(n) < 1 / (1 + np.exp(-diff))
    xc, xr = np.where(first[:, None], x1, x2), np.where(first[:, None], x2, x1)
    names = [f"u{i}" for i in range(n_annot)]
    return PairFeatures(xc, xr, annotator=ann, annotator_names=names), group, W


def agreement(assign: np.ndarray, truth: np.ndarray) -> float:
    """Share of annotators assigned right, up to relabelling the two groups."""
    a = float((assign == truth).mean())
    return max(a, 1 - a)


@pytest.fixture(scope="module")
def data():
    train, group, W = two_groups(seed=0)
    test, _, _ = two_groups(seed=1)
    return train, test, group, W


@pytest.mark.parametrize("cls", [PALHead, MaxMinHead])
def test_mixture_recovers_groups_and_serves_the_minority(cls, data) -> None:
    train, test, group, W = data
    head = cls().fit(train)
    assert agreement(head.assignment_, group) >= 0.9
    gt = group[test.annotator]
    mixed = group_accuracy(head.margins(test), gt)
    single = group_accuracy(BradleyTerryHead().fit(train).margins(test), gt)
    assert mixed.per_group["1"] >= single.per_group["1"] + 0.10
    assert mixed.worst >= single.worst + 0.10


@pytest.mark.parametrize("cls", [PALHead, MaxMinHead])
def test_new_annotator_from_twenty_pairs(cls, data) -> None:
    train, _, group, W = data
    head = cls().fit(train)
    # which learned component is the minority's?
    minority_component = np.bincount(head.assignment_[group == 1]).argmax()
    rng = np.random.default_rng(11)
    hits = 0
    for trial in range(5):
        x1, x2 = rng.standard_normal((20, 6)), rng.standard_normal((20, 6))
        first = ((x1 - x2) @ W[1]) > 0
        new = PairFeatures(np.where(first[:, None], x1, x2), np.where(first[:, None], x2, x1))
        code = head.add_annotator(f"new{trial}", new)
        hits += int(head.assignment_[code] == minority_component)
    assert hits == 5
    assert len(head.annotator_names_) == len(group) + 5


def test_pluralistic_heads_need_annotators() -> None:
    pairs = PairFeatures(np.eye(3), np.eye(3)[::-1] * 2)
    with pytest.raises(ValidationError, match="annotator"):
        PALHead().fit(pairs)
    with pytest.raises(ValidationError, match="annotator"):
        MaxMinHead().fit(pairs)
