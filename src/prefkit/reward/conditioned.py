"""Conditioned reward heads: the reward depends on who judged or under which stated preference.

``r(x, c) = x . w + (x P) . (c Q)``: a linear reward plus a low-rank bilinear interaction between the response
embedding ``x`` and a condition vector ``c``. Two heads share the maths and differ in ``c``:

* ``conditioned`` (Janus): ``c`` is the embedding of the judgment's system message / stated preference
  (``Dataset.context_condition``), so one model follows several stated preferences;
* ``attributes`` (consumer-preference models with demographics): ``c`` is the one-hot of the annotator's
  attributes (``Dataset.annotator_groups``, one column per ``attribute=value``), so groups that disagree get
  their own rewards and a new annotator with known attributes is scored without any of its pairs.

Fitted by full-batch L-BFGS on the Bradley-Terry loss with an L2 penalty. ``reward(x, ctx=c)`` takes the
condition vectors where other heads take prompt embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prefkit.errors import ValidationError
from prefkit.reward.base import RewardHead, fit_lbfgs, tensor, torch_mod
from prefkit.reward.pairs import PairFeatures

SOURCES = ("condition", "attributes")


class ConditionedHead(RewardHead):
    """Linear reward + rank-``rank`` interaction with a condition vector (see the module docstring)."""

    kind = "conditioned"
    needs_condition = True
    w_: np.ndarray
    P_: np.ndarray
    Q_: np.ndarray

    def __init__(self, source: str = "condition", rank: int = 4, l2: float = 1e-3, seed: int = 0) -> None:
        self.source = source
        self.rank = rank
        self.l2 = l2
        self.seed = seed

    def fit(self, pairs: PairFeatures) -> ConditionedHead:
        if self.source not in SOURCES:
            raise ValidationError(
                f"conditioned head: source must be one of {', '.join(SOURCES)}; got {self.source!r}"
            )
        if self.rank < 1 or self.l2 < 0:
            raise ValidationError(
                f"conditioned head: rank must be >= 1 and l2 >= 0; got {self.rank}, {self.l2}"
            )
        pairs.validate()
        if pairs.cond is None:
            raise ValidationError(f"the {self.source} head needs a condition vector for every pair")
        torch = torch_mod()
        rng = np.random.default_rng(self.seed)
        d, dc = pairs.dim, pairs.cond.shape[1]
        w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
        P = tensor(rng.standard_normal((d, self.rank)) * 0.1, torch.float64).requires_grad_(True)
        Q = tensor(rng.standard_normal((dc, self.rank)) * 0.1, torch.float64).requires_grad_(True)
        diff = tensor(pairs.xc - pairs.xr, torch.float64)
        c = tensor(pairs.cond, torch.float64)
        wt = tensor(pairs.weight, torch.float64)
        wt = wt / wt.sum()

        def loss() -> Any:
            m = diff @ w + ((diff @ P) * (c @ Q)).sum(1)
            reg = (w * w).sum() + (P * P).sum() + (Q * Q).sum()
            return -(torch.nn.functional.logsigmoid(m) * wt).sum() + self.l2 * reg

        fit_lbfgs([w, P, Q], loss, max_iter=500)
        self.w_ = w.detach().numpy().astype(np.float32)
        self.P_ = P.detach().numpy().astype(np.float32)
        self.Q_ = Q.detach().numpy().astype(np.float32)
        self.cond_dim_ = int(dc)
        return self

    def reward(
        self,
        x: np.ndarray,
        ctx: np.ndarray | None = None,
        annotator: np.ndarray | None = None,
        verbosity: np.ndarray | None = None,
    ) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if ctx is None:
            raise ValidationError(f"the {self.source} head scores a response under a condition; none given")
        c = np.asarray(ctx, dtype=np.float64)
        if c.shape != (len(x), self.cond_dim_):
            raise ValidationError(f"condition vectors must be ({len(x)}, {self.cond_dim_}); got {c.shape}")
        return np.asarray(x @ self.w_ + ((x @ self.P_) * (c @ self.Q_)).sum(1))

    def margins(self, pairs: PairFeatures) -> np.ndarray:
        return self.reward(pairs.xc, pairs.cond) - self.reward(pairs.xr, pairs.cond)


class AttributesHead(ConditionedHead):
    """:class:`ConditionedHead` on the one-hot of the annotator's attributes (``vocab_``: its columns)."""

    kind = "attributes"

    def __init__(self, source: str = "attributes", rank: int = 4, l2: float = 1e-3, seed: int = 0) -> None:
        super().__init__(source, rank, l2, seed)


def attribute_vocab(groups: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The ``attribute=value`` columns of the annotators' attributes, sorted."""
    return sorted({f"{k}={v}" for g in groups.values() for k, v in g.items()})


def attribute_matrix(
    annotator: np.ndarray,
    annotator_names: Sequence[str],
    groups: Mapping[str, Mapping[str, str]],
    vocab: Sequence[str],
) -> np.ndarray:
    """One row per pair: the one-hot of its annotator's attributes over ``vocab`` (zeros: no annotator, or
    attributes the vocabulary does not know)."""
    pos = {v: i for i, v in enumerate(vocab)}
    per = np.zeros((len(annotator_names) + 1, len(vocab)), dtype=np.float32)
    for a, name in enumerate(annotator_names):
        for k, v in groups.get(name, {}).items():
            i = pos.get(f"{k}={v}")
            if i is not None:
                per[a, i] = 1.0
    codes = np.asarray(annotator, dtype=np.int64)
    return per[np.where(codes >= 0, codes, len(annotator_names))]
