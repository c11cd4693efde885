"""Hand-computed values (formulas of the papers evaluated with ``math``), gradient checks, reductions between
losses, and bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from prefkit.errors import ValidationError  # noqa: E402
from prefkit.optimize.losses import (  # noqa: E402
    LOSS_TYPES,
    dno_loss,
    dpo_loss,
    fit_general_preference,
    general_preference_loss,
    inpo_loss,
    plackett_luce_dpo_loss,
    soft_label_dpo_loss,
    sppo_loss,
    weighted_dpo_loss,
)

D = torch.float64


def T(*v):
    return torch.tensor(v, dtype=D)


def logsig(x):
    return -math.log1p(math.exp(-x))


# one example: log-ratios chosen = +0.5, rejected = -0.5, beta = 0.5  ->  z = 0.5
PC, PR, RC, RR, BETA = -1.0, -2.0, -1.5, -1.5, 0.5


@pytest.mark.parametrize(
    "loss_type, expected",
    [
        ("sigmoid", math.log1p(math.exp(-0.5))),
        ("hinge", 0.5),
        ("ipo", (1.0 - 1.0) ** 2),  # (delta - 1/(2 beta))^2 with delta = 1, beta = 0.5
        ("nca_pair", -logsig(0.25) - 0.5 * logsig(-0.25) - 0.5 * logsig(0.25)),
        ("bco_pair", -logsig(0.25) - logsig(0.25)),
        ("sppo_hard", (0.5 - 1.0) ** 2 + (-0.5 + 1.0) ** 2),
        ("apo_zero", 1 - 1 / (1 + math.exp(-0.25)) + 1 / (1 + math.exp(0.25))),
        ("apo_down", 1 / (1 + math.exp(-0.25)) + 1 - 1 / (1 + math.exp(-0.5))),
        ("aot", -logsig(0.5)),  # batch of one: sorting changes nothing
        ("aot_unpaired", -logsig(0.5)),
        ("sigmoid_norm", -logsig(0.5)),
    ],
)
def test_hand_computed(loss_type, expected):
    got = dpo_loss(T(PC), T(PR), T(RC), T(RR), beta=BETA, loss_type=loss_type)
    assert got.item() == pytest.approx(expected, abs=1e-12)


def test_hand_computed_smoothed_and_discopop():
    eps = 0.1
    z = 0.5
    robust = (-(1 - eps) * logsig(z) + eps * logsig(-z)) / (1 - 2 * eps)
    got = dpo_loss(T(PC), T(PR), T(RC), T(RR), beta=BETA, loss_type="robust", label_smoothing=eps)
    assert got.item() == pytest.approx(robust, abs=1e-12)
    q = 1 / (1 + math.exp(-z))
    exo = q * math.log(q / (1 - eps)) + (1 - q) * math.log((1 - q) / eps)
    got = dpo_loss(T(PC), T(PR), T(RC), T(RR), beta=BETA, loss_type="exo_pair", label_smoothing=eps)
    assert got.item() == pytest.approx(exo, abs=1e-12)
    tau = 0.05
    mix = 1 / (1 + math.exp(-z / tau))
    disco = -logsig(z) * (1 - mix) + math.exp(-z) * mix
    got = dpo_loss(T(PC), T(PR), T(RC), T(RR), beta=BETA, loss_type="discopop")
    assert got.item() == pytest.approx(disco, abs=1e-12)


def test_ipo_length_normalisation():
    # scores divided by lengths 2 and 4: delta = 0.5/2 - (-0.5)/4 = 0.375
    got = dpo_loss(
        T(PC), T(PR), T(RC), T(RR), beta=BETA, loss_type="ipo", chosen_lengths=[2], rejected_lengths=[4]
    )
    assert got.item() == pytest.approx((0.375 - 1.0) ** 2)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_gradcheck(loss_type):
    g = torch.Generator().manual_seed(3)
    x = tuple((-torch.rand(6, generator=g, dtype=D) * 5).requires_grad_(True) for _ in range(4))
    ls = 0.1 if loss_type in ("robust", "exo_pair", "aot", "aot_unpaired", "sigmoid") else 0.0
    assert torch.autograd.gradcheck(
        lambda *a: dpo_loss(*a, beta=0.7, loss_type=loss_type, label_smoothing=ls), x
    )


def test_fdiv_gradcheck():
    g = torch.Generator().manual_seed(4)
    x = tuple((-torch.rand(5, generator=g, dtype=D) * 3).requires_grad_(True) for _ in range(4))
    for f in ("forward_kl", "js_divergence", "alpha_divergence"):
        assert torch.autograd.gradcheck(lambda *a, f=f: dpo_loss(*a, beta=0.3, f_divergence_type=f), x)


def test_cdpo_label_smoothing_is_a_soft_label():
    g = torch.Generator().manual_seed(5)
    x = [-torch.rand(8, generator=g, dtype=D) * 10 for _ in range(4)]
    a = dpo_loss(*x, beta=0.2, label_smoothing=0.2)
    b = soft_label_dpo_loss(*x, target=torch.full((8,), 0.8, dtype=D), beta=0.2)
    torch.testing.assert_close(a, b)
    w = weighted_dpo_loss(*x, weight=torch.full((8,), 2.0, dtype=D), beta=0.2)
    torch.testing.assert_close(w, 2 * dpo_loss(*x, beta=0.2))


# ---- listwise Plackett-Luce ------------------------------------------------------------------------------


def test_plackett_luce_k2_is_dpo():
    g = torch.Generator().manual_seed(6)
    pol = -torch.rand(10, 2, generator=g, dtype=D) * 10
    ref = -torch.rand(10, 2, generator=g, dtype=D) * 10
    pl = plackett_luce_dpo_loss(pol, ref, beta=0.3)
    dpo = dpo_loss(pol[:, 0], pol[:, 1], ref[:, 0], ref[:, 1], beta=0.3)
    torch.testing.assert_close(pl, dpo)


def test_plackett_luce_probabilities_sum_to_one_over_permutations():
    r = np.array([0.3, -1.2, 2.0, 0.1])
    pol = torch.tensor(r, dtype=D)[None, :]
    total = 0.0
    for perm in itertools.permutations(range(4)):
        p = list(perm)
        total += math.exp(-plackett_luce_dpo_loss(pol[:, p], torch.zeros(1, 4, dtype=D), beta=1.0).item())
    assert total == pytest.approx(1.0, abs=1e-12)
    # and the best-first ranking by reward, by hand: prod exp(r_k) / sum_{j>=k} exp(r_j)
    order = np.argsort(-r)
    rs = r[order]
    hand = -sum(rs[k] - math.log(np.exp(rs[k:]).sum()) for k in range(4))
    got = plackett_luce_dpo_loss(pol[:, order.tolist()], torch.zeros(1, 4, dtype=D), beta=1.0).item()
    assert got == pytest.approx(hand, abs=1e-12)


def test_plackett_luce_padding_and_gradcheck():
    g = torch.Generator().manual_seed(8)
    pol = (-torch.rand(3, 4, generator=g, dtype=D)).requires_grad_(True)
    ref = -torch.rand(3, 4, generator=g, dtype=D)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.bool)
    out = plackett_luce_dpo_loss(pol, ref, beta=0.5, mask=mask)
    short = plackett_luce_dpo_loss(pol[1:2, :2], ref[1:2, :2], beta=0.5)
    torch.testing.assert_close(out[1:2], short)
    assert torch.autograd.gradcheck(lambda p: plackett_luce_dpo_loss(p, ref, beta=0.5, mask=mask), (pol,))


def test_plackett_luce_bad_input():
    z = torch.zeros(2, 3, dtype=D)
    with pytest.raises(ValidationError, match="at least 2"):
        plackett_luce_dpo_loss(z, z, mask=torch.tensor([[1, 0, 0], [1, 1, 1]]))
    with pytest.raises(ValidationError, match="padding"):
        plackett_luce_dpo_loss(z, z, mask=torch.tensor([[0, 1, 1], [1, 1, 1]]))
    with pytest.raises(ValidationError, match="shape"):
        plackett_luce_dpo_loss(z, torch.zeros(2, 2, dtype=D))


# ---- Nash-style objectives -------------------------------------------------------------------------------


def test_inpo_with_tau_equal_eta_is_ipo():
    g = torch.Generator().manual_seed(9)
    x = [-torch.rand(7, generator=g, dtype=D) * 5 for _ in range(6)]
    got = inpo_loss(*x, eta=0.4, tau=0.4)
    ipo = dpo_loss(*x[:4], beta=0.4, loss_type="ipo")
    torch.testing.assert_close(got, ipo)


def test_inpo_hand_computed_and_gradcheck():
    # h = (-1 - -2) - (0.1/0.5)(-1.5 - -1.5) - (0.4/0.5)(-1.2 - -1.8) = 1 - 0.48 = 0.52; target (1 - 0.5)/0.5 = 1
    got = inpo_loss(T(-1.0), T(-2.0), T(-1.5), T(-1.5), T(-1.2), T(-1.8), eta=0.5, tau=0.1)
    assert got.item() == pytest.approx((0.52 - 1.0) ** 2)
    x = tuple((-torch.rand(4, dtype=D)).requires_grad_(True) for _ in range(6))
    assert torch.autograd.gradcheck(lambda *a: inpo_loss(*a, eta=0.5, tau=0.1, preference=0.7), x)


def test_dno_is_soft_label_dpo_against_previous_policy():
    # win rates 0.9 and 0.2: target sigmoid(0.7); z = eta * ((-1 - -1.5) - (-2 - -1.5)) = 0.5 * 1.0
    got = dno_loss(T(-1.0), T(-2.0), T(-1.5), T(-1.5), T(0.9), T(0.2), eta=0.5)
    p = 1 / (1 + math.exp(-0.7))
    assert got.item() == pytest.approx(-(p * logsig(0.5) + (1 - p) * logsig(-0.5)))
    x = tuple((-torch.rand(4, dtype=D)).requires_grad_(True) for _ in range(4))
    assert torch.autograd.gradcheck(lambda *a: dno_loss(*a, 0.6, 0.3, eta=0.5), x)


def test_sppo_hand_computed_and_minimiser():
    got = sppo_loss(T(-1.0), T(-1.5), T(0.8), eta=2.0)
    assert got.item() == pytest.approx((0.5 - 2.0 * 0.3) ** 2)
    # minimiser: log pi/pi_t = eta (w - 1/2), i.e. pi proportional to pi_t exp(eta w) (SPPO's update)
    assert sppo_loss(T(-1.5 + 0.6), T(-1.5), T(0.8), eta=2.0).item() == pytest.approx(0.0)


def test_nash_bad_input():
    z = torch.zeros(3, dtype=D)
    with pytest.raises(ValidationError, match="tau"):
        inpo_loss(z, z, z, z, z, z, eta=0.1, tau=0.2)
    with pytest.raises(ValidationError, match="win_rate_a"):
        dno_loss(z, z, z, z, T(0.1, float("nan"), 0.2), z)
    with pytest.raises(ValidationError, match="win_rate"):
        sppo_loss(z, z, T(1.5, 0.1, 0.2))


# ---- general preference model (intransitive) -------------------------------------------------------------


def test_general_preference_fits_rock_paper_scissors():
    # rock (0) beats scissors (2) beats paper (1) beats rock (0), each 90% of the time: no BT model fits this
    rng = np.random.default_rng(0)
    truth = {(0, 2): 0.9, (2, 1): 0.9, (1, 0): 0.9}
    a, b, y = [], [], []
    for (i, j), p in truth.items():
        wins = rng.random(400) < p
        a += [i] * 400
        b += [j] * 400
        y += wins.astype(float).tolist()
    fit = fit_general_preference(np.array(a), np.array(b), np.array(y), n_items=3, dim=2, l2=1e-4)
    for (i, j), p in truth.items():
        assert fit.win_prob[i, j] == pytest.approx(p, abs=0.04)
    np.testing.assert_allclose(fit.win_prob + fit.win_prob.T, 1.0, atol=1e-12)
    # a Bradley-Terry model predicts 0.5 on every pair of a balanced cycle: its log-loss is log 2
    assert fit.loss < math.log(2) - 0.2


def test_general_preference_loss_gradcheck_and_bad_input():
    ea = torch.randn(5, 4, dtype=D, requires_grad=True)
    eb = torch.randn(5, 4, dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: general_preference_loss(a, b, torch.full((5,), 0.7, dtype=D)), (ea, eb)
    )
    with pytest.raises(ValidationError, match="even"):
        general_preference_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValidationError, match="NaN"):
        fit_general_preference(np.array([0]), np.array([1]), np.array([np.nan]), n_items=2)


def test_dpo_loss_bad_input():
    z = torch.zeros(3, dtype=D)
    with pytest.raises(ValidationError, match="loss_type"):
        dpo_loss(z, z, z, z, loss_type="nope")
    with pytest.raises(ValidationError, match="shape"):
        dpo_loss(z, torch.zeros(2, dtype=D), z, z)
    with pytest.raises(ValidationError, match="beta"):
        dpo_loss(z, z, z, z, beta=0.0)
    with pytest.raises(ValidationError, match="exo_pair"):
        dpo_loss(z, z, z, z, loss_type="exo_pair")
    with pytest.raises(ValidationError, match="reverse_kl"):
        dpo_loss(z, z, z, z, loss_type="bco_pair", f_divergence_type="forward_kl")
    with pytest.raises(ValidationError, match="f_divergence_type"):
        dpo_loss(z, z, z, z, f_divergence_type="hellinger")
