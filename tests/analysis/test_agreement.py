"""Agreement statistics against published worked examples and the ``krippendorff`` package."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefkit.analysis.agreement import (
    counts_from_labels,
    fleiss_kappa,
    krippendorff_alpha,
    reliability_matrix,
)
from prefkit.errors import DataProblemError, ValidationError

# Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa", worked example): 10 subjects, 14 raters, 5 categories.
FLEISS_WIKIPEDIA = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders x 12 units, missing data.
N = np.nan
KRIPP_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
        [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
    ]
)


def test_fleiss_wikipedia_example() -> None:
    assert fleiss_kappa(FLEISS_WIKIPEDIA) == pytest.approx(0.2099, abs=5e-4)


def test_fleiss_perfect_agreement_is_one() -> None:
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_2011_worked_example(level: str, published: float) -> None:
    assert krippendorff_alpha(KRIPP_2011, level) == pytest.approx(published, abs=5e-4)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    level=st.sampled_from(["nominal", "ordinal", "interval", "ratio"]),
)
def test_krippendorff_matches_package(require_peer, seed: int, level: str) -> None:
    kd = require_peer("krippendorff")
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 5, size=(rng.integers(2, 6), rng.integers(3, 15))).astype(float)
    data[rng.random(data.shape) < 0.25] = np.nan
    try:
        ours = krippendorff_alpha(data, level)
    except DataProblemError:
        return
    theirs = kd.alpha(reliability_data=data, level_of_measurement=level)
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_fleiss_equals_krippendorff_asymptotically() -> None:
    # With many subjects and complete data, nominal alpha and Fleiss' kappa agree up to O(1/(N n)).
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=2000)
    labels = np.where(rng.random((4, 2000)) < 0.7, truth, rng.integers(0, 3, size=(4, 2000)))
    counts = counts_from_labels(np.tile(np.arange(2000), 4), labels.ravel(), 2000, 3)
    assert fleiss_kappa(counts) == pytest.approx(krippendorff_alpha(labels, "nominal"), abs=2e-3)


def test_long_format_builders() -> None:
    m = reliability_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([2.0, 3.0, 3.0]), 2, 2)
    assert np.isnan(m[1, 0]) and m[0, 0] == 2.0 and m[1, 1] == 3.0
    assert counts_from_labels(np.array([0, 0, 1]), np.array([1, 1, 0]), 2, 2).tolist() == [[0, 2], [1, 0]]


def test_bad_inputs() -> None:
    with pytest.raises(ValidationError, match="same number of raters"):
        fleiss_kappa([[1, 2], [3, 1]])
    with pytest.raises(ValidationError, match="at least 2 raters"):
        fleiss_kappa([[1, 0], [0, 1]])
    with pytest.raises(ValidationError, match="2-D"):
        fleiss_kappa([1, 2, 3])
    with pytest.raises(DataProblemError, match="one category"):
        fleiss_kappa([[2, 0], [2, 0]])
    with pytest.raises(ValidationError, match="level"):
        krippendorff_alpha(KRIPP_2011, "cardinal")
    with pytest.raises(DataProblemError, match="two or more coders"):
        krippendorff_alpha([[1, N], [N, 2]])
    with pytest.raises(DataProblemError, match="all pairable values are equal"):
        krippendorff_alpha([[1, 1], [1, 1]])
    with pytest.raises(ValidationError, match="non-negative"):
        krippendorff_alpha([[-1, 1], [1, 1]], "ratio")
    with pytest.raises(ValidationError, match="codes"):
        counts_from_labels(np.array([5]), np.array([0]), 2, 2)
