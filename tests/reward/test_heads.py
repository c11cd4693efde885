"""Each head recovers a planted reward on synthetic embeddings; linear BT matches an independent fit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

pytest.importorskip("torch")

from prefkit.errors import ValidationError  # noqa: E402
from prefkit.reward.armo import ArmoHead  # noqa: E402
from prefkit.reward.bt import BradleyTerryHead, ScaledBTHead  # noqa: E402
from prefkit.reward.heads import HEAD_NAMES, make_head  # noqa: E402
from prefkit.reward.pairs import PairFeatures  # noqa: E402
from prefkit.reward.plackett_luce import PlackettLuceHead  # noqa: E402
from prefkit.reward.regression import RegressionHead, ridge_path  # noqa: E402

from .conftest import cosine, planted_pairs  # noqa: E402


# pal / maxmin / armo / conditioned / attributes need annotators, prompts or conditions; finetune reads texts:
# each has its own tests
@pytest.mark.parametrize(
    "name",
    [h for h in HEAD_NAMES if h not in ("pal", "maxmin", "armo", "finetune", "conditioned", "attributes")],
)
def test_head_recovers_planted_reward(name: str) -> None:
    pairs, w = planted_pairs(seed=3)
    head = make_head(name).fit(pairs)
    x = np.random.default_rng(9).standard_normal((500, len(w)))
    r = head.reward(x)
    assert np.corrcoef(r, x @ w)[0, 1] > 0.95
    # held-out pairs: close to the accuracy of the true reward
    test, _ = planted_pairs(n=2000, seed=4)
    test_true = planted_pairs(n=2000, seed=4)[0]
    best = float(((test_true.xc - test_true.xr) @ w > 0).mean())
    assert float((head.margins(test) > 0).mean()) > best - 0.04


def test_linear_bt_equals_independent_logistic_fit() -> None:
    pairs, _ = planted_pairs(n=300, d=5, seed=1)
    l2 = 1e-2
    head = BradleyTerryHead(l2=l2).fit(pairs)
    D = (pairs.xc - pairs.xr).astype(np.float64)

    def f(v):
        m = D @ v
        return np.logaddexp(0, -m).mean() + l2 * v @ v

    def g(v):
        m = D @ v
        return -(D * (1 / (1 + np.exp(m)))[:, None]).mean(0) + 2 * l2 * v

    ref = minimize(f, np.zeros(5), jac=g, method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(head.coef_, ref, atol=2e-4)


def test_margin_weights_and_centring_change_the_fit_as_expected() -> None:
    pairs, _ = planted_pairs(n=400, d=4, seed=2)
    plain = BradleyTerryHead(l2=0).fit(pairs)
    # a margin asks for larger differences: the weights grow
    wide = BradleyTerryHead(l2=0, margin=1.0).fit(pairs)
    assert np.linalg.norm(wide.coef_) > np.linalg.norm(plain.coef_)
    # doubling every weight changes nothing (weighted mean)
    pairs2 = PairFeatures(pairs.xc, pairs.xr, weight=np.full(len(pairs), 2.0))
    np.testing.assert_allclose(BradleyTerryHead(l2=0).fit(pairs2).coef_, plain.coef_, atol=1e-4)
    # centring pulls the mean reward of the pairs towards zero
    shifted = PairFeatures(pairs.xc + 1.0, pairs.xr + 1.0)
    free = BradleyTerryHead(l2=0).fit(shifted)
    centred = BradleyTerryHead(l2=0, centring=1.0).fit(shifted)

    def mean_abs(h):
        return abs(float((h.reward(shifted.xc) + h.reward(shifted.xr)).mean()))

    assert mean_abs(centred) < 0.5 * mean_abs(free)


def test_scaled_bt_uses_strengths() -> None:
    # strong pairs follow reward w, weak pairs follow -w: strengths decide who wins
    rng = np.random.default_rng(5)
    d, n = 4, 600
    w = np.array([2.0, -1.0, 0.5, 0.0])
    x1, x2 = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    strong = rng.random(n) < 0.5
    sign = np.where(strong, 1, -1)
    first = ((x1 - x2) @ w * sign) > 0
    xc, xr = np.where(first[:, None], x1, x2), np.where(first[:, None], x2, x1)
    pairs = PairFeatures(xc, xr, strength=np.where(strong, 3.0, 1.0))
    head = ScaledBTHead().fit(pairs)
    assert cosine(head.coef_, w) > 0.9
    plain = BradleyTerryHead().fit(PairFeatures(xc, xr))
    assert cosine(plain.coef_, w) < cosine(head.coef_, w)


def test_ridge_path_matches_normal_equations() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 6)), rng.standard_normal(50)
    coefs, ints = ridge_path(X, y, [0.0, 3.0])
    Xc, yc = X - X.mean(0), y - y.mean()
    for c, b, a in zip(coefs, ints, [0.0, 3.0], strict=True):
        ref = np.linalg.solve(Xc.T @ Xc + a * np.eye(6), Xc.T @ yc)
        np.testing.assert_allclose(c, ref, atol=1e-8)
        assert b == pytest.approx(y.mean() - ref @ X.mean(0))


def test_regression_picks_penalty_by_validation_per_attribute() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 10))
    clean = X @ rng.standard_normal(10)
    noisy = X[:, 0] * 0.1 + rng.standard_normal(400) * 3
    Y = np.c_[clean, noisy]
    Y[::7, 1] = np.nan  # missing ratings are skipped
    head = RegressionHead().fit_ratings(X, Y, ["clean", "noisy"])
    assert head.alpha_[0] < head.alpha_[1]
    assert np.corrcoef(head.attribute_rewards(X)[:, 0], clean)[0, 1] > 0.99


def test_plackett_luce_recovers_reward_from_kwise_rankings() -> None:
    rng = np.random.default_rng(2)
    d, R, K = 5, 400, 4
    w = rng.standard_normal(d) * 1.5
    X = rng.standard_normal((R * K, d))
    members, levels = [], []
    for r in range(R):
        idx = np.arange(r * K, (r + 1) * K)
        gumbel = X[idx] @ w + rng.gumbel(size=K)  # Plackett-Luce sampling by perturbed sorting
        members.extend(idx[np.argsort(-gumbel)])
        levels.extend(range(K))
    head = PlackettLuceHead().fit_rankings(X, np.arange(0, R * K + 1, K), np.array(members), np.array(levels))
    assert cosine(head.coef_, w) > 0.97


def test_plackett_luce_pair_weight_two_equals_the_pair_given_twice() -> None:
    pairs, _ = planted_pairs(n=200, d=4, seed=5)
    w = np.ones(len(pairs))
    w[:30] = 2.0
    weighted = PairFeatures(pairs.xc, pairs.xr, weight=w)
    twice = pairs.take(np.r_[np.arange(len(pairs)), np.arange(30)])
    a = PlackettLuceHead().fit(weighted).coef_
    b = PlackettLuceHead().fit(twice).coef_
    np.testing.assert_allclose(a, b, atol=1e-4)
    # and the weights matter: the unweighted fit differs
    assert np.abs(PlackettLuceHead().fit(pairs).coef_ - a).max() > 1e-3


def test_weighted_plackett_luce_matches_choix_on_one_hot_items(require_peer) -> None:
    """With one-hot embeddings the linear PL head estimates item strengths: choix's MAP with each ranking
    repeated ``weight`` times is the same problem (penalty alpha = sum of weights * l2)."""
    choix = require_peer("choix")
    rng = np.random.default_rng(6)
    n, l2 = 6, 1e-2
    rankings = [list(rng.permutation(n)[: rng.integers(2, 5)]) for _ in range(80)]
    weights = rng.integers(1, 4, len(rankings)).astype(float)
    offsets = np.r_[0, np.cumsum([len(r) for r in rankings])]
    members = np.concatenate(rankings)
    levels = np.concatenate([np.arange(len(r)) for r in rankings])
    head = PlackettLuceHead(l2=l2).fit_rankings(np.eye(n), offsets, members, levels, weight=weights)
    repeated = [tuple(r) for r, k in zip(rankings, weights, strict=True) for _ in range(int(k))]
    ref = choix.opt_rankings(n, repeated, alpha=weights.sum() * l2, method="BFGS", tol=1e-9)
    np.testing.assert_allclose(head.coef_, ref, atol=2e-4)
    with pytest.raises(ValidationError, match="one per ranking"):
        PlackettLuceHead().fit_rankings(np.eye(n), offsets, members, levels, weight=weights[:3])


def test_armo_gating_follows_the_prompt_and_decorrelates_verbosity() -> None:
    rng = np.random.default_rng(3)
    n, d = 1500, 6
    W = np.eye(d)[:, :2] * 3  # two attributes: dims 0 and 1
    ctx = rng.standard_normal((n, 3))
    which = (ctx[:, 0] > 0).astype(int)  # the prompt decides which attribute matters
    x1, x2 = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    true = ((x1 - x2) @ W)[np.arange(n), which]
    first = rng.random(n) < 1 / (1 + np.exp(-true))
    xc, xr = np.where(first[:, None], x1, x2), np.where(first[:, None], x2, x1)
    lc, lr = rng.integers(10, 500, n), rng.integers(10, 500, n)
    pairs = PairFeatures(xc, xr, ctx=ctx, len_c=lc, len_r=lr)
    head = ArmoHead(epochs=200, lr=3e-2, l2=1e-3, batch_size=2048).fit(
        pairs, attribute_coef=W, attribute_names=["a0", "a1"]
    )
    g = head.attribute_weights(ctx)
    assert g.shape == (n, 2)
    assert g[which == 1, 1].mean() > 0.75 and g[which == 0, 0].mean() > 0.75
    # decorrelated attribute rewards have zero correlation with verbosity on the training responses
    v = np.log1p(np.r_[lc, lr])
    ra = head.attribute_rewards(np.r_[xc, xr], v)
    for k in range(2):
        assert abs(np.corrcoef(ra[:, k], v)[0, 1]) < 1e-4
    acc = float((head.margins(pairs) > 0).mean())
    assert acc > float(((xc - xr) @ W.sum(1) > 0).mean())  # beats a prompt-blind sum of the attributes


def test_armo_learns_attributes_without_ratings() -> None:
    pairs, w = planted_pairs(n=800, d=6, seed=7, ctx_dim=3)
    head = ArmoHead(n_attributes=2, epochs=150, lr=3e-2).fit(pairs)
    x = np.random.default_rng(0).standard_normal((300, 6))
    ctx = np.random.default_rng(1).standard_normal((300, 3))
    assert np.corrcoef(head.reward(x, ctx), x @ w)[0, 1] > 0.9


def test_bad_hyperparameters_and_unknown_head() -> None:
    pairs, _ = planted_pairs(n=50, d=3)
    with pytest.raises(ValidationError, match="unknown head 'svm'"):
        make_head("svm")
    with pytest.raises(ValidationError, match="l2"):
        BradleyTerryHead(l2=-1).fit(pairs)
    with pytest.raises(ValidationError, match="needs prompt embeddings"):
        ArmoHead().fit(pairs)
    with pytest.raises(ValidationError, match="init_coef"):
        BradleyTerryHead().fit(pairs, init_coef=np.zeros(7))


def _two_prompt_types(relevant_by_type: bool, seed: int = 5, n: int = 1500):
    """Two prompt types (ctx cluster at +/- 2 on dim 0); type 1's verdicts follow attribute 1, type 0's follow
    attribute 0 (``relevant_by_type``), or both types follow attribute 0."""
    rng = np.random.default_rng(seed)
    d = 6
    W = np.eye(d)[:, :2] * 3
    kind = rng.integers(0, 2, n)
    ctx = rng.standard_normal((n, 4)) * 0.3
    ctx[:, 0] += np.where(kind == 1, 2.0, -2.0)
    which = kind if relevant_by_type else np.zeros(n, dtype=int)
    x1, x2 = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    true = ((x1 - x2) @ W)[np.arange(n), which]
    first = rng.random(n) < 1 / (1 + np.exp(-true))
    xc, xr = np.where(first[:, None], x1, x2), np.where(first[:, None], x2, x1)
    return PairFeatures(xc, xr, ctx=ctx), W, kind


def test_armo_gate_penalty_chosen_by_validation_follows_the_prompt_when_the_data_say_so() -> None:
    # default hyperparameters (l2=3e-2, the penalty that used to flatten the gate); gate_l2 chosen by validation
    pairs, W, kind = _two_prompt_types(relevant_by_type=True)
    head = ArmoHead(epochs=150, lr=3e-2, batch_size=2048).fit(pairs, attribute_coef=W)
    assert len(head.gate_validation_) == len(head.gate_l2_grid)
    assert head.gate_l2_ == min(head.gate_l2_grid, key=lambda g: head.gate_validation_[repr(g)])
    g = head.attribute_weights(pairs.ctx)
    assert g[kind == 0, 0].mean() > 0.8 and g[kind == 1, 1].mean() > 0.8
    # the validated gate predicts better than the old shared penalty on the same data
    flat = ArmoHead(epochs=150, lr=3e-2, batch_size=2048, gate_l2=3e-2).fit(pairs, attribute_coef=W)
    assert (head.margins(pairs) > 0).mean() > (flat.margins(pairs) > 0).mean()


def test_armo_gate_ignores_the_prompt_when_the_data_say_so() -> None:
    pairs, W, kind = _two_prompt_types(relevant_by_type=False)
    head = ArmoHead(epochs=150, lr=3e-2, batch_size=2048).fit(pairs, attribute_coef=W)
    g = head.attribute_weights(pairs.ctx)
    # both prompt types weight attribute 0 the most, and by about the same amount
    assert g[kind == 0, 0].mean() > 0.6 and g[kind == 1, 0].mean() > 0.6
    assert abs(g[kind == 0, 0].mean() - g[kind == 1, 0].mean()) < 0.15


def test_armo_bad_gate_penalty() -> None:
    pairs, W, _ = _two_prompt_types(relevant_by_type=True, n=100)
    with pytest.raises(ValidationError, match="gate_l2"):
        ArmoHead(gate_l2=-1.0).fit(pairs, attribute_coef=W)
