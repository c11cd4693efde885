"""Rating prediction: collaborative filtering against an embedding predictor over item texts and user history.

Data: ``user``, ``item`` codes and a ``rating`` per (user, item), plus the items' texts. Split per user
(:func:`split_per_user`: a share of each user's ratings held out, seeded). Predictors (``fit(users, items,
ratings) -> self``, ``predict(users, items) -> ratings``):

* :class:`BiasBaseline`: ``mu + b_user + b_item`` (regularised alternating means), the floor;
* :class:`SurpriseSVD`: collaborative filtering by scikit-surprise's SVD (Funk matrix factorisation), the
  well-kept library baseline (optional dependency);
* :class:`EmbeddingPredictor`: the bias baseline plus, per user, a ridge regression of the user's residuals on
  the embeddings of the items they rated (shrunk to the pooled regression over all users), so that an item
  nobody rated is still scored from its text;
* :class:`LLMRatingPredictor`: a chat model (a :class:`ChatModel`: the local SmolLM2, a server's model) reads a
  few of the user's rated items (their texts and ratings) and predicts the rating of a new one; an answer with
  no number in range falls back to the bias baseline (counted).

Metrics (:func:`evaluate`): RMSE, MAE and, per user with at least two held-out items, Spearman correlation and
pairwise ordering accuracy, averaged over users.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy.stats import spearmanr

from prefkit._optional import require
from prefkit.errors import ValidationError


def split_per_user(
    users: np.ndarray, test_share: float = 0.2, seed: int = 0, min_ratings: int = 5
) -> np.ndarray:
    """Boolean test mask: ``test_share`` of the ratings of each user with at least ``min_ratings`` ratings."""
    if not 0.0 < test_share < 1.0:
        raise ValidationError(f"test_share must be in (0, 1), got {test_share}")
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(users), dtype=bool)
    for u in np.unique(users):
        idx = np.flatnonzero(users == u)
        if len(idx) >= min_ratings:
            k = max(1, int(round(test_share * len(idx))))
            mask[rng.choice(idx, size=k, replace=False)] = True
    if not mask.any():
        raise ValidationError(f"no user has {min_ratings} ratings or more; nothing to hold out")
    return mask


class BiasBaseline:
    """``mu + b_u + b_i`` with L2 shrinkage ``reg`` (alternating regularised means)."""

    def __init__(self, reg: float = 5.0, iters: int = 10) -> None:
        self.reg = reg
        self.iters = iters

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> BiasBaseline:
        r = np.asarray(ratings, dtype=np.float64)
        self.mu_ = float(r.mean())
        nu, ni = int(users.max()) + 1, int(items.max()) + 1
        bu, bi = np.zeros(nu), np.zeros(ni)
        for _ in range(self.iters):
            res = r - self.mu_ - bu[users]
            bi = np.bincount(items, res, ni) / (np.bincount(items, minlength=ni) + self.reg)
            res = r - self.mu_ - bi[items]
            bu = np.bincount(users, res, nu) / (np.bincount(users, minlength=nu) + self.reg)
        self.bu_, self.bi_ = bu, bi
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        bu = np.where(users < len(self.bu_), self.bu_[np.minimum(users, len(self.bu_) - 1)], 0.0)
        bi = np.where(items < len(self.bi_), self.bi_[np.minimum(items, len(self.bi_) - 1)], 0.0)
        return self.mu_ + bu + bi


class SurpriseSVD:
    """scikit-surprise's SVD (biased matrix factorisation by SGD), seeded."""

    def __init__(
        self, n_factors: int = 20, n_epochs: int = 30, seed: int = 0, scale: tuple[float, float] = (0.0, 1.0)
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.seed = seed
        self.scale = scale

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> SurpriseSVD:
        surprise = require("surprise", "bench")
        import pandas as pd

        df = pd.DataFrame({"u": users.astype(str), "i": items.astype(str), "r": np.asarray(ratings, float)})
        data = surprise.Dataset.load_from_df(df, surprise.Reader(rating_scale=self.scale))
        self.algo_: Any = surprise.SVD(
            n_factors=self.n_factors, n_epochs=self.n_epochs, random_state=self.seed
        )
        self.algo_.fit(data.build_full_trainset())
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.array(
            [self.algo_.predict(str(u), str(i), clip=False).est for u, i in zip(users, items, strict=True)]
        )


class EmbeddingPredictor:
    """Bias baseline + per-user ridge on item embeddings (``embeddings[item]``), shrunk to the pooled fit."""

    def __init__(
        self, embeddings: np.ndarray, *, ridge: float = 1.0, shrink: float = 5.0, reg: float = 5.0
    ) -> None:
        self.embeddings = np.asarray(embeddings, dtype=np.float64)
        self.ridge = ridge
        self.shrink = shrink
        self.reg = reg

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> EmbeddingPredictor:
        self.base_ = BiasBaseline(self.reg).fit(users, items, ratings)
        res = np.asarray(ratings, float) - self.base_.predict(users, items)
        x = self.embeddings[items]
        d = x.shape[1]
        self.w0_ = np.linalg.solve(x.T @ x + self.ridge * np.eye(d), x.T @ res)
        self.wu_: dict[int, np.ndarray] = {}
        for u in np.unique(users):
            m = users == u
            xu, ru = x[m], res[m]
            # ridge towards the pooled weights: argmin |ru - xu w|^2 + shrink |w - w0|^2
            self.wu_[int(u)] = np.linalg.solve(
                xu.T @ xu + self.shrink * np.eye(d), xu.T @ ru + self.shrink * self.w0_
            )
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        base = self.base_.predict(users, items)
        x = self.embeddings[items]
        w = np.stack([self.wu_.get(int(u), self.w0_) for u in users])
        return base + np.einsum("nd,nd->n", x, w)


@runtime_checkable
class ChatModel(Protocol):
    """Anything that answers a batch of rendered prompts with one completion each (an LLM backend)."""

    def complete(self, prompts: Sequence[str]) -> Sequence[str]: ...


def render_rating_prompt(
    history: Sequence[tuple[str, float]], text: str, scale: tuple[float, float] = (0.0, 1.0)
) -> str:
    """Ask for the user's rating of ``text`` given their ratings of other texts (``history``)."""
    lo, hi = scale
    shown = "\n\n".join(f"Rating {r:.2f}:\n{t}" for t, r in history)
    return (
        f"A user rated texts from {lo:g} (worst) to {hi:g} (best). Some of their ratings:\n\n{shown}\n\n"
        f"How would this user rate the next text?\n\n{text}\n\n"
        f"Answer with one number between {lo:g} and {hi:g} only."
    )


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)")


def parse_rating(reply: str, scale: tuple[float, float] = (0.0, 1.0)) -> float | None:
    """The first number of the reply when it lies on the scale; None otherwise."""
    m = _NUMBER.search(reply)
    if m is None:
        return None
    v = float(m.group(0))
    return v if scale[0] <= v <= scale[1] else None


class LLMRatingPredictor:
    """A chat model predicts a user's rating of an item from ``history`` of their training ratings (a seeded
    choice per user, texts cut to ``max_chars``); unparsed answers fall back to :class:`BiasBaseline`.

    After :meth:`predict`, ``replies_`` holds the raw answers and ``unparsed_`` how many fell back."""

    def __init__(
        self,
        chat: ChatModel,
        texts: Sequence[str],
        *,
        history: int = 5,
        max_chars: int = 400,
        seed: int = 0,
        scale: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        if history < 1:
            raise ValidationError(f"history must be >= 1, got {history}")
        self.chat, self.texts, self.history, self.max_chars = chat, texts, history, max_chars
        self.seed, self.scale = seed, scale

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> LLMRatingPredictor:
        self.base_ = BiasBaseline().fit(users, items, ratings)
        r = np.asarray(ratings, dtype=np.float64)
        self.hist_: dict[int, list[tuple[str, float]]] = {}
        for u in np.unique(users):
            idx = np.flatnonzero(users == u)
            pick = np.sort(np.random.default_rng([self.seed, int(u)]).permutation(idx)[: self.history])
            self.hist_[int(u)] = [(self.texts[int(items[k])][: self.max_chars], float(r[k])) for k in pick]
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        prompts = [
            render_rating_prompt(self.hist_.get(int(u), []), self.texts[int(i)][: self.max_chars], self.scale)
            for u, i in zip(users, items, strict=True)
        ]
        self.replies_ = list(self.chat.complete(prompts)) if prompts else []
        got = [parse_rating(x, self.scale) for x in self.replies_]
        base = self.base_.predict(users, items)
        self.unparsed_ = sum(g is None for g in got)
        return np.array([b if g is None else g for g, b in zip(got, base, strict=True)], dtype=np.float64)


@dataclass(frozen=True)
class RatingMetrics:
    rmse: float
    mae: float
    spearman: float
    pair_accuracy: float
    n: int
    n_users_ranked: int


def evaluate(users: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> RatingMetrics:
    """RMSE, MAE, and the per-user ranking metrics averaged over users with >= 2 distinct held-out ratings."""
    err = np.asarray(pred, float) - np.asarray(truth, float)
    rhos, accs = [], []
    for u in np.unique(users):
        m = users == u
        t, p = truth[m], pred[m]
        if len(np.unique(t)) < 2:
            continue
        if len(np.unique(p)) > 1:
            rhos.append(float(spearmanr(t, p).statistic))
        i, j = np.triu_indices(len(t), 1)
        keep = t[i] != t[j]
        accs.append(float(np.mean(np.sign(t[i] - t[j])[keep] == np.sign(p[i] - p[j])[keep])))
    return RatingMetrics(
        float(np.sqrt(np.mean(err**2))),
        float(np.mean(np.abs(err))),
        float(np.mean(rhos)) if rhos else float("nan"),
        float(np.mean(accs)) if accs else float("nan"),
        len(err),
        len(accs),
    )


def ratings_from_pairs(
    worker: np.ndarray, a: np.ndarray, b: np.ndarray, outcome: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (worker, item) score from pairwise votes: the item's share of points (win 1, tie 1/2, loss 0) in the
    worker's comparisons that involve it. Outcome codes: 0 a wins, 1 b wins, 2 tie (3, both bad, as a tie)."""
    pts_a = np.where(outcome == 0, 1.0, np.where(outcome == 1, 0.0, 0.5))
    u = np.concatenate([worker, worker])
    i = np.concatenate([a, b])
    p = np.concatenate([pts_a, 1.0 - pts_a])
    key = u.astype(np.int64) * (int(i.max()) + 1) + i
    uniq, inv = np.unique(key, return_inverse=True)
    score = np.bincount(inv, p) / np.bincount(inv)
    return uniq // (int(i.max()) + 1), uniq % (int(i.max()) + 1), score
