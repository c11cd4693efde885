"""Reward heads on what a file holds: ratings (per attribute) and K-wise rankings, not only pairs.

:func:`judge` embeds every distinct (prompt, response) of a Dataset's pairs, rankings and ratings once and
maps each judgment onto those rows. A judgment belongs to a *unit*: its prompt (or, without a prompt, itself),
so that splits for calibration and cross-validation never put one prompt on both sides.

* ``regression`` trains on the ratings, one ridge model per attribute, the penalty chosen on held-out prompts;
* ``armo`` takes its attribute rewards from those ridge models (ArmoRM's stage 1) and fits the gate on the pairs
  (the file's, and those implied by its rankings and ratings);
* ``pl`` trains on the K-wise rankings (ties as tie groups), plus the file's decisive pairs as rankings of two.

Every head is evaluated on pairs: the file's own, and those implied by rankings
(:func:`~prefkit.data.convert.ranking_to_pairs`) and ratings (:func:`~prefkit.data.convert.ratings_to_pairs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from prefkit.data.convert import ranking_to_pairs, ratings_to_pairs
from prefkit.data.model import OUTCOME_A, OUTCOME_B, Dataset, PairwiseTable, RatingTable
from prefkit.errors import DataProblemError, ValidationError
from prefkit.reward.base import RewardHead
from prefkit.reward.calibration import fit_temperature
from prefkit.reward.encoders import render_content, render_text
from prefkit.reward.evaluate import CVResult, evaluate_margins, kfold_indices
from prefkit.reward.heads import make_head
from prefkit.reward.pairs import PairFeatures
from prefkit.reward.pipeline import Embedder, _strengths, _texts, prompt_text


def shaped(head: str, ds: Dataset) -> str | None:
    """Which judgments ``head`` trains on directly in ``ds`` ("ratings", "rankings"), or None for pairs."""
    if head in ("regression", "armo") and len(ds.ratings):
        return "ratings"
    if head == "pl" and len(ds.rankings):
        return "rankings"
    return None


@dataclass
class Judged:
    """A dataset's judgments over its distinct (context, item) responses, each embedded once.

    ``X`` / ``ctx`` / ``length``: embedding, prompt embedding (or None) and rendered length of each response;
    ``pair_w`` / ``pair_l``: winner / loser response of each decisive pair; ``rating_resp`` /
    ``member_resp``: the response of each rating row / ranking member; ``*_unit``: the unit of each judgment.
    """

    ds: Dataset
    keys: np.ndarray
    X: np.ndarray
    ctx: np.ndarray | None
    length: np.ndarray
    pair_rows: np.ndarray
    pair_w: np.ndarray
    pair_l: np.ndarray
    pair_unit: np.ndarray
    rating_resp: np.ndarray
    rating_unit: np.ndarray
    member_resp: np.ndarray
    ranking_unit: np.ndarray
    n_ties: int

    @property
    def units(self) -> np.ndarray:
        return np.unique(np.concatenate([self.pair_unit, self.rating_unit, self.ranking_unit]))

    def lookup(self, context: np.ndarray, item: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.keys, _key(self.ds, context, item))


def _key(ds: Dataset, context: np.ndarray, item: np.ndarray) -> np.ndarray:
    return (np.asarray(context, np.int64) + 1) * max(len(ds.items), 1) + np.asarray(item, np.int64)


def _units(context: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Context code, or (no context) a negative id unique to ``fallback``."""
    return np.where(context >= 0, context, -1 - fallback).astype(np.int64)


def judge(ds: Dataset, embedder: Embedder, *, need_ctx: bool = False) -> Judged:
    """Embed the distinct responses of ``ds``'s decisive pairs, rankings and ratings."""
    pw, rk, rt = ds.pairwise, ds.rankings, ds.ratings
    rows = np.flatnonzero((pw.outcome == OUTCOME_A) | (pw.outcome == OUTCOME_B))
    swapped = pw.outcome[rows] == OUTCOME_B
    _strengths(ds, rows, swapped)  # refuse contradictory strengths, as the pair path does
    win = np.where(swapped, pw.b[rows], pw.a[rows])
    lose = np.where(swapped, pw.a[rows], pw.b[rows])
    pctx = pw.context[rows]
    mctx = np.repeat(rk.context, rk.sizes)
    ctx_all = np.concatenate([pctx, pctx, mctx, rt.context]).astype(np.int64)
    item_all = np.concatenate([win, lose, rk.members, rt.item]).astype(np.int64)
    if len(item_all) == 0:
        raise DataProblemError(f"{ds.source or 'the input'} has no judgments to learn from")
    keys, inv = np.unique(_key(ds, ctx_all, item_all), return_inverse=True)
    n_items = max(len(ds.items), 1)
    kctx, kitem = keys // n_items - 1, keys % n_items
    prompts = [ds.context_text.get(ds.contexts.name(c)) if c >= 0 else None for c in kctx.tolist()]
    texts = _texts(ds, kitem, ds.items, ds.item_text, "response")
    mode = embedder.spec.text_mode
    X = embedder(
        [render_text(p, t, mode) for p, t in zip(prompts, texts, strict=True)], "embedding responses"
    )
    ctx = embedder([prompt_text(p) for p in prompts], "embedding prompts") if need_ctx else None
    n_p, n_m = len(rows), len(rk.members)
    n_resp = len(keys)
    return Judged(
        ds=ds,
        keys=keys,
        X=X,
        ctx=ctx,
        length=np.array([len(render_content(t)) for t in texts], dtype=np.float64),
        pair_rows=rows,
        pair_w=inv[:n_p],
        pair_l=inv[n_p : 2 * n_p],
        pair_unit=_units(pctx, n_resp + np.arange(n_p)),
        member_resp=inv[2 * n_p : 2 * n_p + n_m],
        ranking_unit=_units(rk.context, n_resp + n_p + np.arange(len(rk))),
        rating_resp=inv[2 * n_p + n_m :],
        rating_unit=_units(rt.context, inv[2 * n_p + n_m :]),
        n_ties=len(pw) - len(rows),
    )


def _decisive(j: Judged, pw: PairwiseTable) -> tuple[np.ndarray, np.ndarray]:
    keep = (pw.outcome == OUTCOME_A) | (pw.outcome == OUTCOME_B)
    swapped = pw.outcome[keep] == OUTCOME_B
    a, b, c = pw.a[keep], pw.b[keep], pw.context[keep]
    w = j.lookup(c, np.where(swapped, b, a))
    lo = j.lookup(c, np.where(swapped, a, b))
    return w, lo


def pairs_in(j: Judged, units: np.ndarray) -> PairFeatures:
    """The decisive pairs of ``units``: the file's pairs and those implied by its rankings and ratings."""
    ds = j.ds
    pm = np.isin(j.pair_unit, units)
    w, lo, wt = [j.pair_w[pm]], [j.pair_l[pm]], [ds.pairwise.weight[j.pair_rows[pm]]]
    rk = np.flatnonzero(np.isin(j.ranking_unit, units))
    rt = _cap_ratings(ds.ratings, np.flatnonzero(np.isin(j.rating_unit, units)))
    for pw in (
        ranking_to_pairs(ds.rankings.take(rk)) if len(rk) else None,
        ratings_to_pairs(ds.ratings.take(rt)).pairs if len(rt) else None,
    ):
        if pw is not None:
            a, b = _decisive(j, pw)
            w.append(a)
            lo.append(b)
            wt.append(np.ones(len(a)))
    iw, il = np.concatenate(w), np.concatenate(lo)
    keep = ~(j.X[iw] == j.X[il]).all(axis=1)  # identical embeddings carry no signal
    iw, il = iw[keep], il[keep]
    return PairFeatures(
        xc=j.X[iw],
        xr=j.X[il],
        ctx=None if j.ctx is None else j.ctx[iw],
        weight=np.concatenate(wt)[keep],
        len_c=j.length[iw],
        len_r=j.length[il],
    )


MAX_RATING_PAIRS = 2_000_000


def _cap_ratings(rt: RatingTable, rows: np.ndarray, seed: int = 0) -> np.ndarray:
    """``rows``, or a random share of them when their implied pairs would exceed :data:`MAX_RATING_PAIRS`.

    Ratings without prompts all compare with each other (n^2 / 2 pairs); a random subset of the rated
    responses keeps the implied pairs an unbiased sample at bounded memory.
    """
    key = np.stack([rt.context[rows], rt.attribute[rows], rt.annotator[rows], rt.criterion[rows]], axis=1)
    _, counts = np.unique(key, axis=0, return_counts=True)
    total = float((counts * (counts - 1) / 2).sum())
    if total <= MAX_RATING_PAIRS:
        return rows
    keep = np.random.default_rng(seed).random(len(rows)) < np.sqrt(MAX_RATING_PAIRS / total)
    return rows[keep]


@dataclass
class RatingMatrix:
    """Mean score of each rated response on each attribute (``nan`` = not rated)."""

    resp: np.ndarray
    Y: np.ndarray
    names: list[str]
    groups: np.ndarray


def normalised_scores(rt: RatingTable) -> np.ndarray:
    """Scores as given where each attribute uses one scale; mapped onto [0, 1] for attributes that mix scales."""
    score = rt.score.astype(np.float64).copy()
    for code in np.unique(rt.attribute):
        m = rt.attribute == code
        lo, hi = rt.scale_min[m], rt.scale_max[m]
        if (lo != lo[0]).any() or (hi != hi[0]).any():
            score[m] = (score[m] - lo) / (hi - lo)
    return score


def rating_matrix(j: Judged, units: np.ndarray) -> RatingMatrix:
    """Mean (normalised) score of each response of ``units`` on each attribute of the file."""
    rt = j.ds.ratings
    codes = np.unique(rt.attribute)  # every attribute of the file, so folds share the columns
    names = [j.ds.attributes.name(int(c)) if c >= 0 else "rating" for c in codes]
    rows = np.flatnonzero(np.isin(j.rating_unit, units))
    resp, r_inv = np.unique(j.rating_resp[rows], return_inverse=True)
    col = np.searchsorted(codes, rt.attribute[rows])
    total = np.zeros((len(resp), len(codes)))
    count = np.zeros((len(resp), len(codes)))
    np.add.at(total, (r_inv, col), normalised_scores(rt)[rows])
    np.add.at(count, (r_inv, col), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        Y = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    groups = np.zeros(len(resp), dtype=np.int64)
    groups[r_inv] = j.rating_unit[rows]
    return RatingMatrix(resp, Y, names, groups)


def fit_units(name: str, params: dict[str, Any], j: Judged, units: np.ndarray) -> RewardHead:
    """A ``name`` head fitted on the judgments of ``units`` (ratings / rankings, see the module docstring)."""
    from prefkit.reward.armo import ArmoHead
    from prefkit.reward.plackett_luce import PlackettLuceHead
    from prefkit.reward.regression import RegressionHead

    head = make_head(name, **params)
    if isinstance(head, RegressionHead | ArmoHead):
        m = rating_matrix(j, units)
        seed = int(params.get("seed", 0))
        reg = head if isinstance(head, RegressionHead) else RegressionHead(seed=seed)
        reg.fit_ratings(j.X[m.resp], m.Y, m.names, groups=m.groups)
        if isinstance(head, ArmoHead):
            pairs = pairs_in(j, units)
            pairs.validate(need_ctx=True)
            head.fit(pairs, attribute_coef=reg.coef_, attribute_names=m.names)
        return head
    if isinstance(head, PlackettLuceHead):
        return fit_pl_units(head, j, units)
    raise ValidationError(f"head {name!r} trains on pairs, not on ratings or rankings")


def fit_pl_units(head: Any, j: Judged, units: np.ndarray) -> Any:
    """Plackett-Luce on the rankings of ``units`` and their decisive pairs (as rankings of two)."""
    rk = j.ds.rankings
    sel = np.isin(j.ranking_unit, units)
    sizes = rk.sizes[sel]
    mm = np.repeat(sel, rk.sizes)  # the members of the selected rankings, in order
    pm = np.isin(j.pair_unit, units)
    members = np.concatenate([j.member_resp[mm], np.stack([j.pair_w[pm], j.pair_l[pm]], 1).reshape(-1)])
    level = np.concatenate([rk.level[mm], np.tile([0, 1], int(pm.sum()))])
    all_sizes = np.concatenate([sizes, np.full(int(pm.sum()), 2)])
    offsets = np.concatenate([[0], np.cumsum(all_sizes)])
    weight = np.concatenate([np.ones(len(sizes)), j.ds.pairwise.weight[j.pair_rows[pm]]])
    return head.fit_rankings(j.X, offsets, members, level, weight=weight)


def fit_calibrated_units(
    name: str, params: dict[str, Any], j: Judged, *, holdout: float = 0.1, seed: int = 0
) -> tuple[RewardHead, float]:
    """Temperature fitted on the implied pairs of a held-out share of the units, then the head on all units."""
    units = j.units
    n_hold = int(round(holdout * len(units)))
    temperature = 1.0
    if n_hold >= 2 and len(units) - n_hold >= 5:
        perm = np.random.default_rng(seed).permutation(units)
        hold = pairs_in(j, perm[:n_hold])
        if len(hold) >= 20:
            cal = fit_units(name, params, j, perm[n_hold:])
            temperature = fit_temperature(cal.margins(hold))
    return fit_units(name, params, j, units), temperature


def cross_validate_units(
    name: str, params: dict[str, Any], j: Judged, folds: int = 5, *, seed: int = 0
) -> CVResult:
    """k-fold CV over units; each fold is scored on the pairs its held-out judgments imply."""
    import time

    units = j.units
    results, secs = [], 0.0
    for test in kfold_indices(len(units), folds, seed=seed):
        train_units = np.delete(units, test)
        t0 = time.perf_counter()
        head = fit_units(name, params, j, train_units)
        secs += time.perf_counter() - t0
        te = pairs_in(j, units[test])
        if len(te) == 0:
            raise DataProblemError(
                "a cross-validation fold implies no decisive pair to score; use fewer --folds"
            )
        temp = fit_temperature(head.margins(pairs_in(j, train_units)))
        results.append(evaluate_margins(head.margins(te), temperature=temp))
    accs = np.array([r.accuracy for r in results])
    return CVResult(
        accuracy=float(accs.mean()),
        accuracy_std=float(accs.std()),
        ece=float(np.mean([r.ece for r in results])),
        nll=float(np.mean([r.nll for r in results])),
        train_seconds=secs / folds,
        folds=results,
    )


@dataclass
class ResponseScores:
    """Reward of every distinct ranked or rated response (``context`` / ``item``: codes, -1 = no context)."""

    context: np.ndarray
    item: np.ndarray
    reward: np.ndarray
    attributes: np.ndarray | None = None


def score_responses(model: Any, ds: Dataset, embedder: Embedder) -> ResponseScores:
    """Rewards of the responses of ``ds``'s rankings and ratings under a loaded reward model."""
    from dataclasses import replace

    only = replace(ds, pairwise=PairwiseTable.empty())
    head = model.head
    j = judge(only, embedder, need_ctx=head.needs_ctx)
    n_items = max(len(ds.items), 1)
    verb = np.log1p(j.length)
    reward = np.asarray(head.reward(j.X, j.ctx, None, verb), dtype=np.float64)
    attrs = None
    if hasattr(head, "attribute_rewards"):
        attrs = head.attribute_rewards(j.X, verb) if head.kind == "armo" else head.attribute_rewards(j.X)
    return ResponseScores(j.keys // n_items - 1, j.keys % n_items, reward, attrs)
