"""Judgments -> codings -> agreement, checked against a brute-force reshaping and the ``krippendorff`` package."""

from __future__ import annotations

import itertools

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefkit.analysis.agreement import fleiss_kappa
from prefkit.analysis.codings import (
    agreement_of,
    pairwise_codings,
    ranking_codings,
    rating_codings,
)
from prefkit.data.model import PairwiseTable, RankingTable, RatingTable
from prefkit.errors import ValidationError


def _matrix(cells: dict[tuple, dict[int, float]], n_coders: int) -> np.ndarray:
    """Coders x units (units in sorted key order), nan where missing: the brute-force reliability matrix."""
    units = sorted(cells)
    m = np.full((n_coders, len(units)), np.nan)
    for u, key in enumerate(units):
        for coder, value in cells[key].items():
            m[coder, u] = value
    return m


def _check_alpha(got: float | None, matrix: np.ndarray, level: str) -> None:
    if got is None:  # not computable (no pairable unit, or one value only): the oracle has no answer either
        pairable = (np.sum(~np.isnan(matrix), axis=0) >= 2).any()
        values = np.unique(matrix[:, np.sum(~np.isnan(matrix), axis=0) >= 2])
        assert not pairable or values[~np.isnan(values)].size < 2
        return
    assert got == pytest.approx(krippendorff.alpha(matrix, level_of_measurement=level), abs=1e-9)


pair_rows = st.lists(
    st.tuples(
        st.integers(0, 2),  # context
        st.sampled_from([(0, 1), (1, 0), (0, 2), (2, 1), (3, 2)]),  # items
        st.integers(0, 3),  # outcome: a, b, tie, both bad
        st.integers(0, 3),  # annotator
    ),
    min_size=0,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=pair_rows)
def test_pairwise_agreement_matches_brute_force_and_krippendorff(rows: list) -> None:
    pw = PairwiseTable.build(
        [r[1][0] for r in rows],
        [r[1][1] for r in rows],
        [r[2] for r in rows],
        context=[r[0] for r in rows],
        annotator=[r[3] for r in rows],
    )
    res = agreement_of(pairwise_codings(pw), raters=2)
    swap = {0: 1, 1: 0, 2: 2, 3: 3}
    cells: dict[tuple, dict[int, float]] = {}
    labels: dict[tuple, list[int]] = {}
    coders = sorted({r[3] for r in rows})
    for ctx, (a, b), out, who in rows:
        key = (ctx, min(a, b), max(a, b))
        value = out if a < b else swap[out]
        cells.setdefault(key, {})[coders.index(who)] = value  # the last coding of a unit by a coder counts
        labels.setdefault(key, []).append(value)
    assert res.n_units == len(cells) and res.n_judgments == len(rows) and res.level == "nominal"
    _check_alpha(res.alpha, _matrix(cells, len(coders)), "nominal")
    full = [v for v in labels.values() if len(v) == 2]
    assert res.kappa_subjects == len(full)
    counts = np.array([[v.count(k) for k in range(4)] for v in full])
    if res.kappa is not None:
        assert res.kappa == pytest.approx(fleiss_kappa(counts), abs=1e-12)


def test_a_pair_seen_either_way_round_is_one_unit() -> None:
    # annotator 0 says "item 1 beats item 2" as (1, 2, a); annotator 1 says the same as (2, 1, b): full agreement
    pw = PairwiseTable.build(
        [1, 2, 1, 3], [2, 1, 3, 1], [0, 1, 0, 1], context=[0, 0, 0, 0], annotator=[0, 1, 0, 1]
    )
    c = pairwise_codings(pw)
    assert c.n_units == 2
    np.testing.assert_array_equal(c.unit, [0, 0, 1, 1])
    np.testing.assert_array_equal(c.value, [0, 0, 0, 0])


@settings(max_examples=40, deadline=None)
@given(
    spec=st.lists(
        st.tuples(
            st.integers(0, 2), st.integers(0, 3), st.permutations(range(4))
        ),  # context, annotator, order
        min_size=1,
        max_size=20,
    )
)
def test_ranking_agreement_matches_brute_force_and_krippendorff(spec: list) -> None:
    # context c has items 10c .. 10c+3 (codes of one context contiguous, as the service stores them)
    lists = [[[10 * ctx + i] for i in order] for ctx, _, order in spec]
    rk = RankingTable.from_lists(lists, context=[s[0] for s in spec], annotator=[s[1] for s in spec])
    res = agreement_of(ranking_codings(rk), raters=3)
    coders = sorted({s[1] for s in spec})
    cells: dict[tuple, dict[int, float]] = {}
    firsts: dict[int, list[int]] = {}
    for ctx, who, order in spec:
        for rank, i in enumerate(order):
            cells.setdefault((ctx, i), {})[coders.index(who)] = rank
        firsts.setdefault(ctx, []).append(order[0])
    assert res.n_units == len(cells) and res.n_judgments == len(spec) and res.level == "ordinal"
    _check_alpha(res.alpha, _matrix(cells, len(coders)), "ordinal")
    full = [v for v in firsts.values() if len(v) == 3]
    assert res.kappa_subjects == len(full)
    if res.kappa is not None:
        counts = np.array([[v.count(k) for k in range(4)] for v in full])
        assert res.kappa == pytest.approx(fleiss_kappa(counts), abs=1e-12)


def test_ranking_ties_share_a_rank() -> None:
    rk = RankingTable.from_lists([[[0], [1, 2], [3]], [[3, 0], [1, 2]]], context=[0, 0], annotator=[0, 1])
    c = ranking_codings(rk)
    np.testing.assert_array_equal(c.value, [0, 1, 1, 2, 0, 0, 1, 1])
    np.testing.assert_array_equal(c.label, [0, 3])  # a tie for first: the item listed first


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(1, 5), st.integers(0, 3)),
        min_size=0,
        max_size=40,
    )
)
def test_rating_agreement_matches_brute_force_and_krippendorff(rows: list) -> None:
    rt = RatingTable.build(
        [r[1] for r in rows],
        [r[2] for r in rows],
        np.ones(len(rows)),
        np.full(len(rows), 5.0),
        context=[r[0] for r in rows],
        annotator=[r[3] for r in rows],
    )
    res = agreement_of(rating_codings(rt), raters=2)
    coders = sorted({r[3] for r in rows})
    cells: dict[tuple, dict[int, float]] = {}
    labels: dict[tuple, list[int]] = {}
    for ctx, item, score, who in rows:
        cells.setdefault((ctx, item), {})[coders.index(who)] = score
        labels.setdefault((ctx, item), []).append(score)
    assert res.n_units == len(cells) and res.level == "interval"
    assert res.n_judgments == len({(r[0], r[3]) for r in rows})
    _check_alpha(res.alpha, _matrix(cells, len(coders)), "interval")
    full = [v for v in labels.values() if len(v) == 2]
    assert res.kappa_subjects == len(full)
    if res.kappa is not None:
        counts = np.array([[v.count(k) for k in range(1, 6)] for v in full])
        assert res.kappa == pytest.approx(fleiss_kappa(counts), abs=1e-12)


def test_default_raters_is_the_most_common_count() -> None:
    # 3 subjects judged twice, one judged once: kappa over the 3
    pw = PairwiseTable.build(
        [0, 0, 1, 1, 2, 2, 3],
        [9, 9, 9, 9, 9, 9, 9],
        [0, 0, 1, 0, 2, 2, 0],
        context=[0] * 7,
        annotator=[0, 1, 0, 1, 0, 1, 0],
    )
    assert agreement_of(pairwise_codings(pw)).kappa_subjects == 3


def test_no_judgments_give_no_statistics() -> None:
    for codings in (
        pairwise_codings(PairwiseTable.empty()),
        ranking_codings(RankingTable.empty()),
        rating_codings(RatingTable.empty()),
    ):
        res = agreement_of(codings, raters=2)
        assert (res.n_units, res.n_judgments, res.alpha, res.kappa, res.kappa_subjects) == (
            0,
            0,
            None,
            None,
            0,
        )


def test_all_equal_answers_say_why_there_is_no_alpha() -> None:
    pw = PairwiseTable.build([0, 0], [1, 1], [0, 0], context=[0, 0], annotator=[0, 1])
    res = agreement_of(pairwise_codings(pw), raters=2)
    assert res.alpha is None and res.kappa is None
    assert any("undefined" in n for n in res.notes)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: pairwise_codings(PairwiseTable.build([0], [1], [0], annotator=[0])), "context"),
        (lambda: pairwise_codings(PairwiseTable.build([0], [1], [0], context=[0])), "annotator"),
        (lambda: pairwise_codings(PairwiseTable.build([1], [1], [0], context=[0], annotator=[0])), "itself"),
        (
            lambda: rating_codings(RatingTable.build([0], [np.nan], [1], [5], context=[0], annotator=[0])),
            "finite",
        ),
        (
            lambda: ranking_codings(
                RankingTable(
                    offsets=np.array([0, 0]),
                    members=np.zeros(0, np.int32),
                    level=np.zeros(0, np.int32),
                    context=np.array([0]),
                    annotator=np.array([0]),
                    criterion=np.array([0]),
                    ids=RankingTable.empty().ids,
                    line=np.zeros(1, np.int64),
                    tstamp=np.full(1, np.nan),
                )
            ),
            "at least one item",
        ),
        (lambda: agreement_of(pairwise_codings(PairwiseTable.empty()), raters=0), "raters"),
    ],
)
def test_bad_judgments_are_refused_with_the_fix(make: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make()  # type: ignore[operator]


def test_pairwise_units_enumerate_every_pair_once() -> None:
    """Every unordered pair of 4 items in 2 contexts, judged once each way: 12 units."""
    a, b, ctx = [], [], []
    for c, (i, j) in itertools.product(range(2), itertools.combinations(range(4), 2)):
        a += [i, j]
        b += [j, i]
        ctx += [c, c]
    pw = PairwiseTable.build(a, b, [0, 1] * 12, context=ctx, annotator=[0, 1] * 12)
    c = pairwise_codings(pw)
    assert c.n_units == 12 and np.all(np.bincount(c.unit) == 2)
