"""Consistency: rating vs ranking, exact 3-cycle counts (hand-built graphs, networkx / brute force), repeats."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from prefkit.analysis.consistency import (
    count_3cycles,
    cycle_examples,
    majority_digraph,
    rating_vs_ranking,
    self_consistency,
    transitivity,
    triangles,
)
from prefkit.analysis.sparse_feedback import read_sparse_feedback
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import DataProblemError, InputError, ValidationError

A, B, T = OUTCOME_A, OUTCOME_B, OUTCOME_TIE


def _adj(edges: list[tuple[int, int]], n: int) -> sp.csr_matrix:
    r, c = zip(*edges, strict=True) if edges else ((), ())
    return sp.csr_matrix((np.ones(len(edges), dtype=np.int64), (r, c)), shape=(n, n))


def _brute_force(adj: sp.csr_matrix) -> int:
    d = adj.toarray() > 0
    n = d.shape[0]
    return sum(
        1
        for i, j, k in itertools.combinations(range(n), 3)
        if (d[i, j] and d[j, k] and d[k, i]) or (d[i, k] and d[k, j] and d[j, i])
    )


def test_hand_built_graphs() -> None:
    assert count_3cycles(_adj([(0, 1), (1, 2), (2, 0)], 3)) == 1
    assert count_3cycles(_adj([(0, 1), (1, 2), (0, 2)], 3)) == 0  # transitive
    # two 3-cycles sharing the edge 0 -> 1: 0->1->2->0 and 0->1->3->0
    two = _adj([(0, 1), (1, 2), (2, 0), (1, 3), (3, 0)], 4)
    assert count_3cycles(two) == 2
    assert sorted(cycle_examples(two)) == [(0, 1, 2), (0, 1, 3)]
    assert triangles(two) == 2
    # a transitive tournament on 6 items has 20 triangles and no cycles
    tour = _adj([(i, j) for i in range(6) for j in range(i + 1, 6)], 6)
    assert count_3cycles(tour) == 0 and triangles(tour) == 20
    # a 4-cycle is not a 3-cycle
    assert count_3cycles(_adj([(0, 1), (1, 2), (2, 3), (3, 0)], 4)) == 0


@pytest.mark.parametrize("seed", range(5))
def test_random_digraphs_against_networkx_or_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 14
    edges = []
    for i, j in itertools.combinations(range(n), 2):
        u = rng.random()
        if u < 0.4:
            edges.append((i, j))
        elif u < 0.8:
            edges.append((j, i))
    adj = _adj(edges, n)
    expected = _brute_force(adj)
    try:
        import networkx as nx

        g = nx.DiGraph(edges)
        expected_nx = sum(1 for c in nx.simple_cycles(g, length_bound=3) if len(c) == 3)
        assert expected_nx == expected
    except ImportError:
        pass
    assert count_3cycles(adj) == expected
    assert len(cycle_examples(adj, limit=10_000)) == expected


def test_majority_digraph_from_votes() -> None:
    # 0 beats 1 twice, 1 beats 0 once -> 0 -> 1; 1 vs 2 tied in count -> no edge; ties ignored
    a = np.array([0, 0, 1, 1, 2, 2])
    b = np.array([1, 1, 0, 2, 1, 0])
    o = np.array([A, A, A, A, A, T])
    adj = majority_digraph(a, b, o, 3).toarray()
    assert adj.tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]


def test_transitivity_overall_and_per_annotator() -> None:
    # annotator 0 is cyclic on (0, 1, 2); annotator 1 is transitive; pooled, 0 vs 2 is one vote each: no edge
    a = np.array([0, 1, 2, 0, 1, 0])
    b = np.array([1, 2, 0, 1, 2, 2])
    o = np.array([A, A, A, A, A, A])
    ann = np.array([0, 0, 0, 1, 1, 1])
    t = transitivity(a, b, o, 3, ann, 2)
    assert t.per_annotator.tolist() == [[1, 1], [0, 1]]
    assert t.triangles == 0 and t.n_edges == 2 and t.cycles == 0


def test_self_consistency_counts_repeat_pairs() -> None:
    # annotator 0 sees (0, 1) three times: a, a, and swapped order b (= same verdict) -> 3 agreeing pairs of 3
    # annotator 1 sees (2, 3) twice: a then a with swapped order (= opposite) -> 0 of 1
    a = np.array([0, 0, 1, 2, 3, 4])
    b = np.array([1, 1, 0, 3, 2, 5])
    o = np.array([A, A, B, A, A, A])
    ann = np.array([0, 0, 0, 1, 1, 1])
    sc = self_consistency(a, b, o, ann, 2)
    assert sc.pairs.tolist() == [3, 1] and sc.agree.tolist() == [3, 0]
    assert sc.repeats.tolist() == [1, 1]
    assert sc.overall == pytest.approx(0.75)


def test_self_consistency_recovers_a_planted_flip_rate() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    a = rng.integers(0, 50, n)
    b = (a + 1 + rng.integers(0, 49, n)) % 50
    truth = np.where(a < b, A, B)
    flip = rng.random(n) < 0.2
    o = np.where(flip, np.where(truth == A, B, A), truth)
    sc = self_consistency(a, b, o, rng.integers(0, 3, n), 3)
    # two independent draws agree with probability 0.8^2 + 0.2^2
    assert sc.overall == pytest.approx(0.68, abs=0.02)


def test_rating_vs_ranking_closed_form() -> None:
    # items 0..3 rated 5, 3, 3, 1; pairs: (0,1) ranked a (agree), (1,2) ranked a (ratings tie),
    # (3,0) ranked a (opposite), (2,3) tie (ratings say a); item 4 unrated
    res = rating_vs_ranking(
        np.array([0, 1, 2, 3]),
        np.array([5.0, 3, 3, 1]),
        np.array([0, 1, 3, 2, 4]),
        np.array([1, 2, 0, 3, 0]),
        np.array([A, A, A, T, A]),
        5,
    )
    assert res.n_pairs == 4 and res.n_unmatched == 1
    assert res.disagreement == pytest.approx(0.75)
    assert res.opposite == pytest.approx(0.5)
    assert res.table.tolist() == [[1, 0, 1], [1, 0, 0], [1, 0, 0]]


def test_rating_vs_ranking_without_shared_items_is_a_clear_error() -> None:
    with pytest.raises(DataProblemError, match="share no items"):
        rating_vs_ranking(
            np.array([0, 1]), np.array([1.0, 2.0]), np.array([2]), np.array([3]), np.array([A]), 4
        )
    with pytest.raises(ValidationError, match="codes"):
        rating_vs_ranking(np.array([9]), np.array([1.0]), np.array([0]), np.array([1]), np.array([A]), 4)


def test_sparse_feedback_rating_ranking_disagreement(shared_data: Path) -> None:
    """ "Peering Through Preferences" reports about 60% disagreement; the released samples give 44% and 63%."""
    d = shared_data / "sparse_feedback"
    x = read_sparse_feedback(
        [d / "feedback_ratings_sample_generation.csv"], d / "feedback_rankings_sample_generation.csv"
    )
    res = rating_vs_ranking(x.rated_item, x.score, x.a, x.b, x.outcome, x.n_items)
    assert res.n_pairs == 117
    assert res.disagreement == pytest.approx(51 / 117)
    assert res.opposite == pytest.approx(16 / 62)
    y = read_sparse_feedback(
        [d / "feedback_ratings_davinci_for_llm_eval.csv", d / "feedback_ratings_ratings_for_llm_eval.csv"],
        d / "feedback_rankings_davincivsratings_for_llm_eval.csv",
    )
    res2 = rating_vs_ranking(y.rated_item, y.score, y.a, y.b, y.outcome, y.n_items)
    assert res2.n_pairs == 35 and res2.disagreement == pytest.approx(22 / 35)
    # the rankings of one experiment and the ratings of the other share no responses
    z = read_sparse_feedback(
        [d / "feedback_ratings_davinci_for_llm_eval.csv"], d / "feedback_rankings_sample_generation.csv"
    )
    with pytest.raises(DataProblemError, match="share no items"):
        rating_vs_ranking(z.rated_item, z.score, z.a, z.b, z.outcome, z.n_items)


def test_sparse_feedback_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "r.csv"
    bad.write_text("q,,answer,5\nq,,other\n")
    with pytest.raises(InputError, match=r"r.csv:2: expected 4 columns"):
        read_sparse_feedback([bad], bad)
    bad.write_text("q,,answer,great\n")
    with pytest.raises(InputError, match=r"r.csv:1: rating 'great'"):
        read_sparse_feedback([bad], bad)
