"""Campaign quality control per annotator, checked against scipy's Wilson interval and hand counts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from prefkit.analysis.annotation_qc import annotator_speed, gold_accuracy, time_outliers, wilson_interval
from prefkit.errors import ValidationError


@pytest.mark.parametrize(("k", "n"), [(0, 1), (3, 4), (7, 7), (12, 40), (1, 100)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    lo, hi = wilson_interval(np.array([k]), np.array([n]), 0.9)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert lo[0] == pytest.approx(ci.low, abs=1e-12) and hi[0] == pytest.approx(ci.high, abs=1e-12)


def test_gold_accuracy_counts_by_hand() -> None:
    ann = np.array([0, 0, 0, 2, 2, 0])
    ok = np.array([True, False, True, True, True, True])
    g = gold_accuracy(ann, ok, n_annotators=3)
    assert g.n.tolist() == [4, 0, 2] and g.correct.tolist() == [3, 0, 2]
    assert g.accuracy[0] == 0.75 and np.isnan(g.accuracy[1]) and g.accuracy[2] == 1.0
    assert np.isnan(g.lower[1]) and g.lower[0] < 0.75 < g.upper[0]
    with pytest.raises(ValidationError, match="annotator"):
        gold_accuracy(np.array([3]), np.array([True]), 3)
    with pytest.raises(ValidationError, match="one entry"):
        gold_accuracy(np.array([0, 1]), np.array([True]), 3)


def test_time_outliers_modified_z_by_hand() -> None:
    s = np.array([10.0, 12, 9, 11, 10, 10, 0.5, 300, np.nan])
    f = time_outliers(s)
    x = np.log(s[:8])
    med = np.median(x)
    mad = np.median(np.abs(x - med))
    assert f.z[:8] == pytest.approx(0.6745 * (x - med) / mad)
    assert np.isnan(f.z[8])
    assert f.fast.tolist() == [False] * 6 + [True, False, False]
    assert f.slow.tolist() == [False] * 7 + [True, False]
    assert f.median_seconds == pytest.approx(10.0)
    # too few answers, or no spread: nothing flagged
    assert not time_outliers(np.array([1.0, 100, 1000])).fast.any()
    assert not time_outliers(np.full(10, 4.0)).slow.any()
    with pytest.raises(ValidationError, match="negative"):
        time_outliers(np.array([-1.0, 2, 3, 4, 5]))


def test_speed_medians_and_flag_counts() -> None:
    ann = np.array([0, 0, 1, 1, 1, 0, 0, 0, 1])
    s = np.array([10.0, 12, 9, 11, 10, 10, 0.5, 300, np.nan])
    flags = time_outliers(s)
    sp = annotator_speed(ann, s, 3, flags)
    assert sp.n.tolist() == [5, 4, 0] and sp.timed.tolist() == [5, 3, 0]
    assert sp.median_seconds[0] == 10.0 and sp.median_seconds[1] == 10.0 and np.isnan(sp.median_seconds[2])
    assert sp.fast.tolist() == [1, 0, 0] and sp.slow.tolist() == [1, 0, 0]
