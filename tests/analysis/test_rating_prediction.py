"""Rating prediction: known-truth simulations, metrics by hand, and the llmfao crowd as real data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from prefkit.analysis.rating_prediction import (
    BiasBaseline,
    EmbeddingPredictor,
    SurpriseSVD,
    evaluate,
    ratings_from_pairs,
    split_per_user,
)
from prefkit.errors import ValidationError


def _sim(seed: int = 0, n_users: int = 60, n_items: int = 80, d: int = 4):
    """Each user weighs the item's (known) text features: r = mu + b_i + e_i . w_u + noise."""
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(n_items, d))
    w = rng.normal(size=(n_users, d))
    b = rng.normal(scale=0.3, size=n_items)
    u, i = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    keep = rng.random(u.shape) < 0.5
    u, i = u[keep], i[keep]
    r = 3.0 + b[i] + np.einsum("nd,nd->n", e[i], w[u]) + rng.normal(scale=0.1, size=len(u))
    return u, i, r, e


def test_bias_baseline_recovers_additive_effects() -> None:
    rng = np.random.default_rng(1)
    u = rng.integers(0, 30, 3000)
    i = rng.integers(0, 40, 3000)
    bu, bi = rng.normal(size=30), rng.normal(size=40)
    r = 2.0 + bu[u] + bi[i]
    m = BiasBaseline(reg=1e-6, iters=200).fit(u, i, r)
    assert np.allclose(m.predict(u, i), r, atol=1e-3)


def test_embedding_predictor_uses_the_texts() -> None:
    u, i, r, e = _sim()
    test = split_per_user(u, 0.2, seed=0)
    base = BiasBaseline().fit(u[~test], i[~test], r[~test])
    emb = EmbeddingPredictor(e, shrink=0.1).fit(u[~test], i[~test], r[~test])
    mb = evaluate(u[test], r[test], base.predict(u[test], i[test]))
    me = evaluate(u[test], r[test], emb.predict(u[test], i[test]))
    assert me.rmse < 0.3 * mb.rmse and me.spearman > 0.9 > mb.spearman


def test_surprise_svd_learns_low_rank_structure(require_peer: Any) -> None:
    require_peer("surprise", "bench")
    u, i, r, _ = _sim(seed=2)
    test = split_per_user(u, 0.2, seed=0)
    scale = (float(r.min()), float(r.max()))
    svd = SurpriseSVD(n_factors=8, n_epochs=60, seed=0, scale=scale).fit(u[~test], i[~test], r[~test])
    base = BiasBaseline().fit(u[~test], i[~test], r[~test])
    ms = evaluate(u[test], r[test], svd.predict(u[test], i[test]))
    mb = evaluate(u[test], r[test], base.predict(u[test], i[test]))
    assert ms.rmse < mb.rmse
    again = SurpriseSVD(n_factors=8, n_epochs=60, seed=0, scale=scale).fit(u[~test], i[~test], r[~test])
    assert np.allclose(again.predict(u[test], i[test]), svd.predict(u[test], i[test]))


def test_metrics_and_pair_scores_by_hand() -> None:
    m = evaluate(np.array([0, 0, 0, 1]), np.array([1.0, 2.0, 3.0, 5.0]), np.array([1.0, 3.0, 2.0, 5.0]))
    assert m.rmse == pytest.approx(np.sqrt(2 / 4)) and m.mae == pytest.approx(0.5)
    assert (
        m.pair_accuracy == pytest.approx(2 / 3) and m.spearman == pytest.approx(0.5) and m.n_users_ranked == 1
    )
    # worker 0: item 1 beats item 2, ties item 3; worker 1: item 2 beats item 1
    u, i, s = ratings_from_pairs(
        np.array([0, 0, 1]), np.array([1, 1, 1]), np.array([2, 3, 2]), np.array([0, 2, 1])
    )
    got = {(int(a), int(b)): float(c) for a, b, c in zip(u, i, s, strict=True)}
    assert got == {(0, 1): 0.75, (0, 2): 0.0, (0, 3): 0.5, (1, 1): 0.0, (1, 2): 1.0}
    with pytest.raises(ValidationError, match="no user has 5 ratings"):
        split_per_user(np.array([0, 1, 2]))


class HistoryMeanChat:
    """A scripted LLM: answers the mean of the ratings it is shown (the prompt's "Rating x:" lines), or garbage
    when the text to rate says so."""

    def complete(self, prompts):
        import re

        out = []
        for p in prompts:
            shown = [float(x) for x in re.findall(r"^Rating ([0-9.]+):", p, re.M)]
            out.append(
                "no idea" if "GARBAGE" in p.split("How would this user")[1] else f"{np.mean(shown):.4f}"
            )
        return out


def test_llm_predictor_by_hand() -> None:
    from prefkit.analysis.rating_prediction import LLMRatingPredictor, parse_rating, render_rating_prompt

    texts = ["alpha", "beta", "gamma", "delta", "GARBAGE"]
    users = np.array([0, 0, 0, 1, 1])
    items = np.array([0, 1, 2, 0, 3])
    ratings = np.array([1.0, 0.5, 0.0, 0.25, 0.75])
    m = LLMRatingPredictor(HistoryMeanChat(), texts, history=2, seed=0).fit(users, items, ratings)
    # user 1 has two ratings: both shown; user 0 shows 2 of its 3 (a seeded choice)
    assert sorted(r for _, r in m.hist_[1]) == [0.25, 0.75]
    assert (
        len(m.hist_[0]) == 2
        and m.hist_
        == LLMRatingPredictor(HistoryMeanChat(), texts, history=2).fit(users, items, ratings).hist_
    )
    pred = m.predict(np.array([1, 0, 1]), np.array([3, 3, 4]))
    assert pred[0] == pytest.approx(0.5)  # mean of 0.25 and 0.75, by hand
    assert pred[1] == pytest.approx(np.mean([r for _, r in m.hist_[0]]), abs=1e-4)
    # the garbage answer falls back to the bias baseline
    assert m.unparsed_ == 1 and pred[2] == pytest.approx(
        float(m.base_.predict(np.array([1]), np.array([4]))[0])
    )
    assert (
        parse_rating("I'd say 0.7.") == 0.7 and parse_rating("7/10") is None and parse_rating("none") is None
    )
    assert "Rating 0.25:\nalpha" in render_rating_prompt([("alpha", 0.25)], "beta")
    with pytest.raises(ValidationError, match="history must be >= 1"):
        LLMRatingPredictor(HistoryMeanChat(), texts, history=0)
