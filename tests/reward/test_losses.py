"""Loss functions against hand-computed values and torch.autograd.gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from prefkit.reward.losses import bt_loss, mixture_bt_nll, pl_loss, scaled_bt_loss  # noqa: E402


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def nls(x: float) -> float:  # -log sigmoid(x)
    return math.log1p(math.exp(-x))


def test_bt_loss_hand_values() -> None:
    rc, rr = t([2.0, 0.5]), t([1.0, 1.5])
    assert bt_loss(rc, rr).item() == pytest.approx((nls(1.0) + nls(-1.0)) / 2)
    # margin is subtracted from the difference
    assert bt_loss(rc, rr, margin=t([0.5, 0.0])).item() == pytest.approx((nls(0.5) + nls(-1.0)) / 2)
    # weights make a weighted mean
    assert bt_loss(rc, rr, weight=t([3.0, 1.0])).item() == pytest.approx((3 * nls(1.0) + nls(-1.0)) / 4)
    # centring adds eta * mean((rc + rr)^2)
    assert bt_loss(rc, rr, centring=0.1).item() == pytest.approx(
        (nls(1.0) + nls(-1.0)) / 2 + 0.1 * (9 + 4) / 2
    )


def test_scaled_bt_hand_values() -> None:
    rc, rr = t([1.0, 0.0]), t([0.0, 1.0])
    got = scaled_bt_loss(rc, rr, t([3.0, -1.0])).item()
    assert got == pytest.approx((3 * nls(1.0) + 1 * nls(-1.0)) / 2)


def test_pl_loss_three_items_by_hand() -> None:
    s = [1.0, 0.0, -1.0]
    want = -(s[0] - math.log(sum(math.exp(v) for v in s))) - (
        s[1] - math.log(math.exp(s[1]) + math.exp(s[2]))
    )
    got = pl_loss(t([s]), torch.tensor([[0, 1, 2]]), torch.tensor([[True, True, True]])).item()
    assert got == pytest.approx(want)


def test_pl_loss_with_ties_and_padding() -> None:
    # ranking {a} > {b, c} (b, c tied) with one padded slot: Breslow's rule
    s = [0.3, -0.2, 0.1, 99.0]
    lse_all = math.log(sum(math.exp(v) for v in s[:3]))
    lse_bc = math.log(math.exp(s[1]) + math.exp(s[2]))
    want = (lse_all - s[0]) + (lse_bc - s[1]) + (lse_bc - s[2])
    got = pl_loss(t([s]), torch.tensor([[0, 1, 1, 0]]), torch.tensor([[True, True, True, False]])).item()
    assert got == pytest.approx(want)


def test_pl_with_two_items_is_bradley_terry() -> None:
    rng = np.random.default_rng(0)
    rc, rr = t(rng.standard_normal(7)), t(rng.standard_normal(7))
    scores = torch.stack([rc, rr], dim=1)
    lev = torch.tensor([[0, 1]] * 7)
    assert pl_loss(scores, lev, torch.ones(7, 2, dtype=torch.bool)).item() == pytest.approx(
        bt_loss(rc, rr).item()
    )


def test_mixture_nll_hand_value() -> None:
    d = t([[1.0, -2.0]])
    log_mix = torch.log(t([[0.25, 0.75]]))
    want = -math.log(0.25 / (1 + math.exp(-1.0)) + 0.75 / (1 + math.exp(2.0)))
    assert mixture_bt_nll(d, log_mix).item() == pytest.approx(want)


def test_gradcheck_all_losses() -> None:
    rng = np.random.default_rng(1)

    def r(*shape):
        return torch.tensor(rng.standard_normal(shape), dtype=torch.float64, requires_grad=True)

    w = t(rng.random(5) + 0.5)
    m = t(rng.random(5))
    assert torch.autograd.gradcheck(
        lambda a, b: bt_loss(a, b, margin=m, weight=w, centring=0.3), (r(5), r(5))
    )
    s = t([1.0, -2.0, 3.0, 1.0, 2.0])
    assert torch.autograd.gradcheck(
        lambda a, b: scaled_bt_loss(a, b, s, weight=w, centring=0.1), (r(5), r(5))
    )
    lev = torch.tensor([[0, 1, 1, 2], [0, 1, 2, 0]])
    mask = torch.tensor([[True, True, True, True], [True, True, True, False]])
    assert torch.autograd.gradcheck(lambda sc: pl_loss(sc, lev, mask), (r(2, 4),))
    assert torch.autograd.gradcheck(
        lambda d, lm: mixture_bt_nll(d, torch.log_softmax(lm, 1), weight=w), (r(5, 3), r(5, 3))
    )
