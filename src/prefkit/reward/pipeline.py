"""The one route from a Dataset to a trained, calibrated reward head, and back to scores.

    ds --judge--> Judged --pairs_in / rating_matrix / rankings--> fit_units --> head (+ temperature)

:func:`judge` embeds every distinct (prompt, response) of the dataset's pairs, rankings and ratings once and
maps each judgment onto those rows. A judgment belongs to a *unit*: its prompt (or, without a prompt, itself),
so that the splits of calibration and cross-validation never put one prompt on both sides. Every head then
trains on the units it is given:

* ``regression`` on the ratings, one ridge model per attribute (penalty chosen on held-out prompts);
* ``armo`` takes its attribute rewards from those ridge models (ArmoRM's stage 1) and fits the gate on pairs;
* ``pl`` on the K-wise rankings (ties as tie groups), plus the decisive pairs as rankings of two;
* every other head (and regression / armo / pl when the file lacks ratings / rankings) on pairs: the file's
  decisive pairs and those its rankings and ratings imply (:func:`pairs_in`).

Every head is evaluated on the same pairs. The maths lives in the head modules; this is the glue the CLI and
the benchmarks call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from prefkit._progress import ProgressFactory, no_progress
from prefkit.data.convert import ranking_to_pairs, ratings_to_pairs
from prefkit.data.model import OUTCOME_A, OUTCOME_B, Dataset, PairwiseTable, RatingTable
from prefkit.errors import DataProblemError, InputError, ValidationError
from prefkit.reward.base import RewardHead
from prefkit.reward.cache import EmbeddingCache, embed
from prefkit.reward.calibration import TemperatureFit, calibrate_temperature
from prefkit.reward.encoders import (
    PROMPT_CHARS,
    Encoder,
    EncoderSpec,
    make_encoder,
    render_content,
    render_text,
)
from prefkit.reward.evaluate import CVResult, Evaluation, accuracy_strict, evaluate_margins, kfold_indices
from prefkit.reward.heads import make_head
from prefkit.reward.media import MEDIA_BACKENDS
from prefkit.reward.pairs import PairFeatures

# ---- embedding ------------------------------------------------------------------------------------------


@dataclass
class Embedder:
    """An encoder with its cache: embeds texts, counting what it had to encode and how long that took."""

    spec: EncoderSpec
    cache_dir: str | Path | None = None
    use_cache: bool = True
    progress: ProgressFactory = no_progress
    encoder: Encoder | None = None
    n_encoded: int = 0
    seconds: float = 0.0

    def __call__(self, texts: list[str], what: str = "embedding") -> np.ndarray:
        if self.encoder is None:
            self.encoder = make_encoder(self.spec)
        cache = EmbeddingCache(self.encoder.name, self.cache_dir) if self.use_cache else None
        t0 = time.perf_counter()
        with ExitStack() as stack:

            def open_bar(k: int) -> Callable[[int], Any] | None:
                # the bar is sized once the cache has said how many texts are new
                return stack.enter_context(self.progress(f"{what} ({k} new texts)", float(k))) if k else None

            emb, n = embed(self.encoder, texts, cache=cache, on_missing=open_bar)
        self.n_encoded += n
        self.seconds += time.perf_counter() - t0
        return emb


def _texts(ds: Dataset, codes: np.ndarray) -> list[str]:
    out = []
    for c in codes.tolist():
        name = ds.items.name(c)
        t = ds.item_text.get(name)
        if t is None:
            raise DataProblemError(
                f"response {name!r} has no text: reward models need response texts (TRL rows or hh-rlhf "
                "transcripts), not battle logs that only name the models"
            )
        out.append(t)
    return out


def _first_line(ds: Dataset, code: int) -> int | None:
    """The input line of the first judgment that names item ``code``."""
    pw, rk, rt = ds.pairwise, ds.rankings, ds.ratings
    lines = [pw.line[(pw.a == code) | (pw.b == code)], rt.line[rt.item == code]]
    if len(rk):
        owner = np.repeat(np.arange(len(rk)), rk.sizes)
        lines.append(rk.line[np.unique(owner[rk.members == code])])
    found = [int(x) for arr in lines for x in arr.tolist() if int(x) > 0]
    return min(found) if found else None


def _media_texts(ds: Dataset, codes: np.ndarray, texts: list[str], spec: EncoderSpec) -> list[str]:
    """Media items (paths relative to the data file, or file:// URIs) as versioned absolute references; a missing
    file is an InputError naming the first row that uses it."""
    if spec.backend not in MEDIA_BACKENDS:
        return texts
    from prefkit.reward.media import media_kind, resolve_media

    base = Path(ds.source).parent if ds.source and Path(ds.source).exists() else None
    out: list[str] = []
    seen: dict[str, str] = {}
    for c, t in zip(codes.tolist(), texts, strict=True):
        if media_kind(t) is None:
            out.append(t)
            continue
        if t not in seen:
            what = media_kind(t)
            try:
                seen[t] = resolve_media(t, base)[0]
            except FileNotFoundError as exc:
                raise InputError(
                    f"{what} path does not exist: {t.strip()!r} (looked for {exc}); paths are relative to the data "
                    "file's folder",
                    path=ds.source,
                    line=_first_line(ds, c),
                ) from None
            except ValueError as exc:
                raise InputError(str(exc), path=ds.source, line=_first_line(ds, c)) from None
        out.append(seen[t])
    return out


def _prompts(ds: Dataset, context: np.ndarray) -> list[str | None]:
    return [ds.context_text.get(ds.contexts.name(c)) if c >= 0 else None for c in context.tolist()]


def prompt_text(prompt: str | None) -> str:
    """What the gating network sees of a prompt: its rendered tail (the latest turns)."""
    if not prompt:
        return ""
    p = render_content(prompt).strip()
    return p if len(p) <= 2 * PROMPT_CHARS else "..." + p[-2 * PROMPT_CHARS :]


def _strengths(ds: Dataset, rows: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """|strength| of the decisive ``rows`` (nan = not given); InputError when one contradicts its outcome."""
    pw = ds.pairwise
    s = pw.strength[rows].astype(np.float64)
    bad = ~np.isnan(s) & ((np.abs(s) > 3) | ((s < 0) & ~swapped) | ((s > 0) & swapped))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        line = int(pw.line[rows[i]]) or None
        msg = (
            f"preference strength {s[i]:g} is out of range: use -3..3"
            if abs(s[i]) > 3
            else f"preference strength {s[i]:g} contradicts the outcome; a positive strength means the first response wins"
        )
        raise InputError(msg, path=ds.source, line=line)
    return np.abs(s)


# ---- judged: every distinct response embedded once --------------------------------------------------------


@dataclass
class Judged:
    """A dataset's judgments over its distinct (context, item) responses, each embedded once.

    ``X`` / ``ctx`` / ``length``: embedding, prompt embedding (or None) and rendered length of each response;
    ``pair_rows``: the decisive pairwise rows, ``pair_w`` / ``pair_l``: their winner / loser response and
    ``pair_strength`` their |strength|; ``tie_unit``: the unit of each tied pairwise row; ``rating_resp`` / ``member_resp``: the response of each rating row /
    ranking member; ``*_unit``: the unit of each judgment.
    """

    ds: Dataset
    keys: np.ndarray
    X: np.ndarray
    ctx: np.ndarray | None
    length: np.ndarray
    pair_rows: np.ndarray
    pair_w: np.ndarray
    pair_l: np.ndarray
    pair_strength: np.ndarray
    pair_unit: np.ndarray
    tie_unit: np.ndarray
    rating_resp: np.ndarray
    rating_unit: np.ndarray
    member_resp: np.ndarray
    ranking_unit: np.ndarray
    texts: np.ndarray | None = None  # the rendered text of each response (object array)
    cond_code: np.ndarray | None = None  # per context code: its condition's code (-1 = none)
    cond_names: list[str] | None = None  # the distinct conditions (system messages / stated preferences)
    cond_vec: np.ndarray | None = None  # per condition code: its embedding (heads that condition on it)
    attr_vocab: list[str] | None = None  # annotator-attribute columns (the attributes head)
    progress: ProgressFactory = no_progress  # for long fits (fine-tuning)

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


def _decisive(pw: PairwiseTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(decisive rows, winner codes, loser codes)."""
    rows = np.flatnonzero((pw.outcome == OUTCOME_A) | (pw.outcome == OUTCOME_B))
    swapped = pw.outcome[rows] == OUTCOME_B
    return rows, np.where(swapped, pw.b[rows], pw.a[rows]), np.where(swapped, pw.a[rows], pw.b[rows])


def conditions(ds: Dataset) -> tuple[np.ndarray, list[str]]:
    """Per context code, the code of its condition (system message / stated preference; -1 = none), and the
    distinct conditions. A file that gives conditions must give one for every judgment: the first judgment
    without one is an InputError naming its line."""
    names = sorted(set(ds.context_condition.values()))
    pos = {c: i for i, c in enumerate(names)}
    code = np.array([pos.get(ds.context_condition.get(n, ""), -1) if n in ds.context_condition else -1
                     for n in ds.contexts.names], dtype=np.int64)
    if names:
        for table, what in ((ds.pairwise, "pair"), (ds.rankings, "ranking"), (ds.ratings, "rating")):
            c = np.asarray(table.context, dtype=np.int64)
            bad = np.flatnonzero((c < 0) | (code[np.clip(c, 0, None)] < 0) if len(code) else c < 0)
            if len(bad):
                i = int(bad[0])
                line = int(table.line[i]) or None
                raise InputError(
                    f"this {what} has no condition (system message / stated preference) but {len(names)} other "
                    f"condition(s) are given, e.g. {names[0][:60]!r}: give every row one, or none",
                    path=ds.source,
                    line=line,
                )
    return code, names


def judge(
    ds: Dataset,
    embedder: Embedder,
    *,
    need_ctx: bool = False,
    condition: str | None = None,
    attr_vocab: list[str] | None = None,
) -> Judged:
    """Embed the distinct responses of ``ds``'s decisive pairs, rankings and ratings; with ``condition``
    (``"condition"`` or ``"attributes"``) also what the conditioned heads need."""
    pw, rk, rt = ds.pairwise, ds.rankings, ds.ratings
    if ds.n_judgments == 0:
        raise DataProblemError(f"{ds.source or 'the input'} has no pairs, rankings or ratings to learn from")
    cond_code, cond_names = conditions(ds)
    cond_vec = None
    if condition == "condition":
        if not cond_names:
            raise DataProblemError(
                f"{ds.source or 'the input'} gives no condition (a TRL \"system\" field or a context's "
                "\"condition\"); the conditioned head needs one per judgment"
            )
        cond_vec = embedder(cond_names, "embedding conditions")
    if condition == "attributes":
        from prefkit.reward.conditioned import attribute_vocab

        if not ds.annotator_groups and attr_vocab is None:
            raise DataProblemError(
                f"{ds.source or 'the input'} has no annotator attributes (annotator records with \"groups\"); "
                "the attributes head needs them"
            )
        attr_vocab = attr_vocab if attr_vocab is not None else attribute_vocab(ds.annotator_groups)
    rows, win, lose = _decisive(pw)
    ties = np.setdiff1d(np.arange(len(pw)), rows)
    if len(rows) == 0 and not (len(rk) or len(rt)):
        raise DataProblemError(
            f"{ds.source or 'the input'} has only ties; a reward model needs decisive pairs"
        )
    strength = _strengths(ds, rows, pw.outcome[rows] == OUTCOME_B)
    pctx = pw.context[rows]
    mctx = np.repeat(rk.context, rk.sizes)
    ctx_all = np.concatenate([pctx, pctx, mctx, rt.context]).astype(np.int64)
    item_all = np.concatenate([win, lose, rk.members, rt.item]).astype(np.int64)
    keys, inv = np.unique(_key(ds, ctx_all, item_all), return_inverse=True)
    n_items = max(len(ds.items), 1)
    kctx, kitem = keys // n_items - 1, keys % n_items
    prompts = _prompts(ds, kctx)
    texts = _media_texts(ds, kitem, _texts(ds, kitem), embedder.spec)
    mode = embedder.spec.text_mode
    rendered = [render_text(p, t, mode) for p, t in zip(prompts, texts, strict=True)]
    X = embedder(rendered, "embedding responses")
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
        pair_strength=strength,
        pair_unit=_units(pctx, n_resp + np.arange(n_p)),
        tie_unit=_units(pw.context[ties], n_resp + n_p + len(rk) + np.arange(len(ties))),
        member_resp=inv[2 * n_p : 2 * n_p + n_m],
        ranking_unit=_units(rk.context, n_resp + n_p + np.arange(len(rk))),
        rating_resp=inv[2 * n_p + n_m :],
        rating_unit=_units(rt.context, inv[2 * n_p + n_m :]),
        texts=np.array(rendered, dtype=object),
        cond_code=cond_code,
        cond_names=cond_names,
        cond_vec=cond_vec,
        attr_vocab=attr_vocab if condition == "attributes" else None,
        progress=embedder.progress,
    )


# ---- pairs: the file's and those its rankings and ratings imply ----------------------------------------


@dataclass
class PairSet:
    """The decisive pairs of some units as features, the unit of each pair, and the pairs left out."""

    pairs: PairFeatures
    unit: np.ndarray
    n_ties: int
    n_identical: int


MAX_RATING_PAIRS = 2_000_000


def pairs_in(j: Judged, units: np.ndarray) -> PairSet:
    """The decisive pairs of ``units``: the file's pairs and those implied by its rankings and ratings, oriented
    chosen-first, with strength (file pairs), weight, annotator and criterion (as ``subset`` when the file has
    several). Ties and pairs whose responses embed identically carry no signal: they are left out, and counted."""
    ds = j.ds
    pw = ds.pairwise
    pm = np.isin(j.pair_unit, units)
    rows = j.pair_rows[pm]
    parts = [
        (
            j.pair_w[pm],
            j.pair_l[pm],
            pw.weight[rows],
            j.pair_strength[pm],
            pw.context[rows],
            pw.annotator[rows],
            pw.criterion[rows],
        )
    ]
    ties = int(np.isin(j.tie_unit, units).sum())
    rk = np.flatnonzero(np.isin(j.ranking_unit, units))
    rt = _cap_ratings(ds.ratings, np.flatnonzero(np.isin(j.rating_unit, units)))
    for implied in (
        ranking_to_pairs(ds.rankings.take(rk)) if len(rk) else None,
        ratings_to_pairs(ds.ratings.take(rt)).pairs if len(rt) else None,
    ):
        if implied is not None:
            keep, win, lose = _decisive(implied)
            ties += len(implied) - len(keep)
            c, n = implied.context[keep], len(keep)
            parts.append(
                (
                    j.lookup(c, win),
                    j.lookup(c, lose),
                    np.ones(n),
                    np.full(n, np.nan),
                    c,
                    implied.annotator[keep],
                    implied.criterion[keep],
                )
            )
    iw, il, weight, strength, context, annotator, criterion = (
        np.concatenate(col) for col in zip(*parts, strict=True)
    )
    keep = ~(j.X[iw] == j.X[il]).all(axis=1)
    iw, il = iw[keep], il[keep]
    multi = len(ds.criteria) > 1
    ctx_k, ann_k = context[keep].astype(np.int64), annotator[keep].astype(np.int64)
    cc = j.cond_code if j.cond_code is not None else np.zeros(0, np.int64)
    ccode = np.where(ctx_k >= 0, cc[np.clip(ctx_k, 0, None)] if len(cc) else -1, -1)
    cond = None
    if j.cond_vec is not None:
        cond = np.where((ccode >= 0)[:, None], j.cond_vec[np.clip(ccode, 0, None)], 0.0)
    elif j.attr_vocab is not None:
        from prefkit.reward.conditioned import attribute_matrix

        cond = attribute_matrix(ann_k, ds.annotators.names, ds.annotator_groups, j.attr_vocab)
    pairs = PairFeatures(
        xc=j.X[iw],
        xr=j.X[il],
        ctx=None if j.ctx is None else j.ctx[iw],
        strength=strength[keep],
        weight=weight[keep],
        annotator=annotator[keep],
        subset=criterion[keep] if multi else None,
        len_c=j.length[iw],
        len_r=j.length[il],
        annotator_names=ds.annotators.names,
        subset_names=ds.criteria.names if multi else [],
        text_c=None if j.texts is None else j.texts[iw],
        text_r=None if j.texts is None else j.texts[il],
        cond=cond,
        condition=ccode,
        condition_names=list(j.cond_names or []),
    )
    unit = _units(context[keep], np.arange(int(keep.sum())))
    return PairSet(pairs, unit, ties, int((~keep).sum()))


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


def pair_features(
    ds: Dataset,
    embedder: Embedder,
    *,
    need_ctx: bool = False,
    condition: str | None = None,
    attr_vocab: list[str] | None = None,
) -> PairSet:
    """All the decisive pairs of ``ds`` (its own and implied), embedded: what pair heads train on."""
    j = judge(ds, embedder, need_ctx=need_ctx, condition=condition, attr_vocab=attr_vocab)
    return pairs_in(j, j.units)


# ---- ratings ---------------------------------------------------------------------------------------------


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


# ---- fitting ---------------------------------------------------------------------------------------------


def condition_source(head: str | Any) -> str | None:
    """What a head conditions on: ``"condition"`` (system message), ``"attributes"`` (annotator), or None."""
    name = head if isinstance(head, str) else getattr(head, "kind", "")
    return {"conditioned": "condition", "attributes": "attributes"}.get(name)


def shaped(head: str, ds: Dataset) -> str | None:
    """Which judgments ``head`` trains on directly in ``ds`` ("ratings", "rankings"), or None for pairs."""
    if head in ("regression", "armo") and len(ds.ratings):
        return "ratings"
    if head == "pl" and len(ds.rankings):
        return "rankings"
    return None


def fit_head(name: str, pairs: PairFeatures, params: dict[str, Any] | None = None) -> RewardHead:
    """A fresh head of kind ``name`` fitted on ``pairs`` (checking it has what the head needs)."""
    head = make_head(name, **(params or {}))
    pairs.validate(need_ctx=head.needs_ctx, need_annotator=head.needs_annotator)
    return head.fit(pairs)


def fit_units(name: str, params: dict[str, Any], j: Judged, units: np.ndarray) -> RewardHead:
    """A ``name`` head fitted on the judgments of ``units`` (see the module docstring)."""
    from prefkit.reward.armo import ArmoHead
    from prefkit.reward.plackett_luce import PlackettLuceHead
    from prefkit.reward.regression import RegressionHead

    kind = shaped(name, j.ds)
    if kind is None and name == "finetune":
        from prefkit.reward.finetune import FinetuneHead

        ft = make_head(name, **params)
        assert isinstance(ft, FinetuneHead)
        pairs = pairs_in(j, units).pairs.validate()
        with j.progress(f"fine-tuning ({ft.epochs} epoch(s), {len(pairs)} pairs)", float(ft.epochs * len(pairs))) as adv:
            return ft.fit(pairs, progress=adv)
    if kind is None:
        fitted = fit_head(name, pairs_in(j, units).pairs, params)
        if j.attr_vocab is not None and name == "attributes":
            fitted.vocab_ = list(j.attr_vocab)  # type: ignore[attr-defined]
        return fitted
    head = make_head(name, **params)
    if isinstance(head, RegressionHead | ArmoHead):
        m = rating_matrix(j, units)
        reg = head if isinstance(head, RegressionHead) else RegressionHead(seed=int(params.get("seed", 0)))
        reg.fit_ratings(j.X[m.resp], m.Y, m.names, groups=m.groups)
        if isinstance(head, ArmoHead):
            pairs = pairs_in(j, units).pairs
            pairs.validate(need_ctx=True)
            head.fit(pairs, attribute_coef=reg.coef_, attribute_names=m.names)
        return head
    if isinstance(head, PlackettLuceHead):
        return _fit_pl(head, j, units)
    raise ValidationError(f"head {name!r} trains on pairs, not on ratings or rankings")  # pragma: no cover


def _fit_pl(head: Any, j: Judged, units: np.ndarray) -> Any:
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


MIN_CALIBRATION_PAIRS = 20


def held_out_temperature(
    name: str, params: dict[str, Any], j: Judged, units: np.ndarray, *, holdout: float = 0.1, seed: int = 0
) -> TemperatureFit:
    """The temperature fitted on the pairs of a held-out share of ``units`` (a head fitted on the others).

    Never on the training pairs: a head that fits them too well (Plackett-Luce on rankings) would get a
    near-zero temperature and overconfident probabilities. Too few held-out pairs: not fitted (and says so).
    """
    if not 0 <= holdout < 1:
        raise ValidationError(f"holdout must lie in [0, 1); got {holdout}")
    n_hold = int(round(holdout * len(units)))
    if n_hold < 2 or len(units) - n_hold < 5:
        return TemperatureFit(1.0, "not_fitted", 0)
    perm = np.random.default_rng(seed).permutation(units)
    hold = pairs_in(j, perm[:n_hold]).pairs
    if len(hold) < MIN_CALIBRATION_PAIRS:
        return TemperatureFit(1.0, "not_fitted", len(hold))
    return calibrate_temperature(fit_units(name, params, j, perm[n_hold:]).margins(hold))


def fit_calibrated(
    name: str, params: dict[str, Any], j: Judged, *, holdout: float = 0.1, seed: int = 0
) -> tuple[RewardHead, TemperatureFit]:
    """:func:`held_out_temperature` on all units, then the head on all units (see :func:`fit_with_temperature`)."""
    return fit_with_temperature(name, params, j, j.units, holdout=holdout, seed=seed)


FIT_ONCE = frozenset({"finetune"})
"""Heads whose fit is too costly to run twice: trained once on the units outside the held-out share, whose
pairs then give the temperature (the final model has not seen them, as with an evaluation split in TRL)."""


def fit_with_temperature(
    name: str, params: dict[str, Any], j: Judged, units: np.ndarray, *, holdout: float = 0.1, seed: int = 0
) -> tuple[RewardHead, TemperatureFit]:
    """A head on ``units`` and its temperature from held-out units: for most heads a second fit on all of
    ``units`` (:func:`held_out_temperature`, then :func:`fit_units`); for :data:`FIT_ONCE` heads one fit on the
    units outside the held-out share."""
    if name not in FIT_ONCE:
        temperature = held_out_temperature(name, params, j, units, holdout=holdout, seed=seed)
        return fit_units(name, params, j, units), temperature
    if not 0 <= holdout < 1:
        raise ValidationError(f"holdout must lie in [0, 1); got {holdout}")
    n_hold = int(round(holdout * len(units)))
    if n_hold < 2 or len(units) - n_hold < 5:
        return fit_units(name, params, j, units), TemperatureFit(1.0, "not_fitted", 0)
    perm = np.random.default_rng(seed).permutation(units)
    hold = pairs_in(j, perm[:n_hold]).pairs
    if len(hold) < MIN_CALIBRATION_PAIRS:
        return fit_units(name, params, j, units), TemperatureFit(1.0, "not_fitted", len(hold))
    fitted = fit_units(name, params, j, perm[n_hold:])
    return fitted, calibrate_temperature(fitted.margins(hold))


# ---- train and cross-validate on what a file holds ------------------------------------------------------


@dataclass
class Source:
    """What a head was trained on: ``kind`` is "pairs", "ratings" or "rankings"; the counts of judgments;
    pairs implied by rankings / ratings, and the pairs left out (ties, identical embeddings)."""

    kind: str
    n_pairs: int
    n_rankings: int
    n_ratings: int
    implied_from_rankings: int = 0
    implied_from_ratings: int = 0
    ties_left_out: int = 0
    identical_left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Trained:
    """A fitted head, its calibration temperature, and its accuracy on the ``n`` decisive pairs of its
    training data (``None`` when the data imply none, e.g. one rated response per prompt)."""

    head: RewardHead
    temperature: TemperatureFit
    n: int
    train_accuracy: float | None
    source: Source


def _source(head: str, j: Judged, ps: PairSet) -> Source:
    ds = j.ds
    kind = shaped(head, ds) or "pairs"
    src = Source(kind, len(ds.pairwise), len(ds.rankings), len(ds.ratings))
    if kind == "pairs":
        src.implied_from_rankings = int((ds.rankings.sizes * (ds.rankings.sizes - 1) // 2).sum())
        src.implied_from_ratings = len(ratings_to_pairs(ds.ratings).pairs) if len(ds.ratings) else 0
    src.ties_left_out, src.identical_left_out = ps.n_ties, ps.n_identical
    return src


def train(head: str, params: dict[str, Any], ds: Dataset, embedder: Embedder, *, seed: int = 0) -> Trained:
    """Fit ``head`` on what ``ds`` holds (temperature on a held-out 10% of the units, then the head on all;
    a :data:`FIT_ONCE` head is fitted once, on the other 90%)."""
    j = judge(ds, embedder, need_ctx=make_head(head, **params).needs_ctx, condition=condition_source(head))
    ps = pairs_in(j, j.units)
    if shaped(head, ds) is None and len(ps.pairs) == 0:
        raise DataProblemError(
            f"{ds.source or 'the input'} has no decisive pairs to learn from (ties and pairs whose responses "
            f"embed identically are left out: {ps.n_ties} and {ps.n_identical})"
        )
    fitted, temperature = fit_calibrated(head, params, j, seed=seed)
    acc = accuracy_strict(fitted.margins(ps.pairs)) if len(ps.pairs) else None
    return Trained(fitted, temperature, len(ps.pairs), acc, _source(head, j, ps))


def cv(
    head: str, params: dict[str, Any], ds: Dataset, embedder: Embedder, folds: int = 5, *, seed: int = 0
) -> tuple[CVResult, int, Source]:
    """k-fold CV over units (judgments on one prompt share a fold); each fold is scored on the pairs its
    held-out judgments imply, with the temperature fitted on a held-out 20% of its training units (a head
    fitted on the other 80%). Returns the result, the pairs
    scored and the source."""
    j = judge(ds, embedder, need_ctx=make_head(head, **params).needs_ctx, condition=condition_source(head))
    units = j.units
    results, secs = [], 0.0
    for test in kfold_indices(len(units), folds, seed=seed):
        train_units = np.delete(units, test)
        t0 = time.perf_counter()
        if head in FIT_ONCE:
            fitted, temp = fit_with_temperature(head, params, j, train_units, holdout=0.2, seed=seed)
        else:
            temp = held_out_temperature(head, params, j, train_units, holdout=0.2, seed=seed)
            t0 = time.perf_counter()
            fitted = fit_units(head, params, j, train_units)
        secs += time.perf_counter() - t0
        te = pairs_in(j, units[test]).pairs
        if len(te) == 0:
            raise DataProblemError(
                "a cross-validation fold implies no decisive pair to score; use fewer --folds"
            )
        results.append(
            evaluate_margins(
                fitted.margins(te),
                temperature=temp.value,
                temperature_status=temp.status,
                subset=te.subset,
                subset_names=te.subset_names,
            )
        )
    accs = np.array([r.accuracy for r in results])
    res = CVResult(
        accuracy=float(accs.mean()),
        accuracy_std=float(accs.std()),
        ece=float(np.mean([r.ece for r in results])),
        nll=float(np.mean([r.nll for r in results])),
        train_seconds=secs / folds,
        folds=results,
    )
    ps = pairs_in(j, units)
    return res, len(ps.pairs), _source(head, j, ps)


# ---- a saved model on new data ------------------------------------------------------------------------------


def _model_codes(names: list[str], codes: np.ndarray, known: list[str]) -> np.ndarray:
    """Annotator ``codes`` (into ``names``) as codes of a model's annotator list (-1 = unknown)."""
    pos = {n: i for i, n in enumerate(known)}
    return np.array([pos.get(names[c], -1) if c >= 0 else -1 for c in codes.tolist()], dtype=np.int64)


def slice_codes(ds: Dataset, p: PairFeatures, by: str) -> tuple[np.ndarray, list[str]]:
    """Per pair, the code of its slice and the slice names: ``criterion``, ``annotator``, ``group`` (all the
    annotator's group attributes) or ``group:ATTR`` (one attribute)."""
    from prefkit.reward.slices import BY, group_labels

    kind, _, attr = by.partition(":")
    if kind not in BY or (attr and kind != "group"):
        raise ValidationError(f"--by must be one of {', '.join(BY)} or group:ATTRIBUTE; got {by!r}")
    if kind == "condition":
        if not p.condition_names:
            raise ValidationError(
                f"--by condition: {ds.source or 'the input'} gives no conditions (a TRL \"system\" field or a "
                "context's \"condition\")"
            )
        return p.condition, list(p.condition_names)
    if kind == "criterion":
        if p.subset_names:
            return p.subset, list(p.subset_names)
        return np.zeros(len(p), dtype=np.int64), [ds.criteria.name(0) if len(ds.criteria) else "overall"]
    ann = np.asarray(p.annotator)
    if kind == "annotator":
        return ann, list(p.annotator_names)
    if not ds.annotator_groups:
        raise ValidationError(
            f"--by {by}: {ds.source or 'the input'} has no annotator attributes (give annotators \"groups\")"
        )
    labels, names = group_labels(p.annotator_names, ds.annotator_groups, attr or None)
    pos = {n: i for i, n in enumerate(names)}
    per_annotator = np.array([pos[x] for x in labels], dtype=np.int64)
    codes = np.where(ann >= 0, per_annotator[np.clip(ann, 0, None)] if len(labels) else -1, -1)
    return codes, names


def evaluate_model(
    model: Any, ds: Dataset, embedder: Embedder, *, n_bins: int = 10, by: str | None = None
) -> tuple[Evaluation, np.ndarray, Any]:
    """Evaluation figures (calibrated with the model's temperature), the margins of ``ds``'s pairs (its own
    and those its rankings and ratings imply) and, with ``by``, the :class:`~prefkit.reward.slices.SliceReport`."""
    from prefkit.reward.slices import evaluate_slices

    head = model.head
    p = pair_features(
        ds,
        embedder,
        need_ctx=head.needs_ctx,
        condition=condition_source(head),
        attr_vocab=getattr(head, "vocab_", None),
    ).pairs
    if len(p) == 0:
        raise DataProblemError(f"{ds.source or 'the input'} implies no decisive pair to evaluate on")
    sliced = slice_codes(ds, p, by) if by is not None else None
    p.annotator = _model_codes(p.annotator_names, p.annotator, list(getattr(head, "annotator_names_", [])))
    m = head.margins(p)
    ev = evaluate_margins(
        m,
        temperature=model.temperature,
        temperature_status=model.meta.get("temperature_status", "fitted"),
        subset=p.subset,
        subset_names=p.subset_names,
        n_bins=n_bins,
    )
    report = None
    if sliced is not None and by is not None:
        report = evaluate_slices(m, sliced[0], sliced[1], by=by, temperature=model.temperature)
    return ev, m, report


@dataclass
class Scores:
    """Rewards of both responses of every pairwise row, and ``P(a preferred)`` (calibrated)."""

    reward_a: np.ndarray
    reward_b: np.ndarray
    p_a: np.ndarray
    attributes_a: np.ndarray | None = None
    attributes_b: np.ndarray | None = None
    attribute_weights: np.ndarray | None = None


def score_dataset(model: Any, ds: Dataset, embedder: Embedder) -> Scores:
    """Score every pairwise row of ``ds`` (ties included) with a loaded :class:`RewardModel`."""
    pw = ds.pairwise
    if len(pw) == 0:
        raise DataProblemError(f"{ds.source or 'the input'} has no pairwise rows to score")
    prompts = _prompts(ds, pw.context)
    ta = _media_texts(ds, pw.a, _texts(ds, pw.a), embedder.spec)
    tb = _media_texts(ds, pw.b, _texts(ds, pw.b), embedder.spec)
    mode = embedder.spec.text_mode
    texts = [render_text(p, t, mode) for p, t in zip(prompts + prompts, ta + tb, strict=True)]
    emb = embedder(texts, "embedding responses")
    n = len(pw)
    head = model.head
    ctx = embedder([prompt_text(p) for p in prompts], "embedding prompts") if head.needs_ctx else None
    source = condition_source(head)
    if source == "condition":
        code, names = conditions(ds)
        if not names:
            raise DataProblemError(f"{ds.source or 'the input'} gives no conditions to score the rows under")
        vec = embedder(names, "embedding conditions")
        ctx = vec[code[pw.context]]
    elif source == "attributes":
        from prefkit.reward.conditioned import attribute_matrix

        ctx = attribute_matrix(pw.annotator, ds.annotators.names, ds.annotator_groups, head.vocab_)
    ann = _model_codes(ds.annotators.names, pw.annotator, list(getattr(head, "annotator_names_", [])))
    va = np.log1p([len(render_content(t)) for t in ta])
    vb = np.log1p([len(render_content(t)) for t in tb])
    xs: Any = np.array(texts, dtype=object) if getattr(head, "needs_text", False) else emb
    ra = np.asarray(head.reward(xs[:n], ctx, ann, va), dtype=np.float64)
    rb = np.asarray(head.reward(xs[n:], ctx, ann, vb), dtype=np.float64)
    out = Scores(ra, rb, 1.0 / (1.0 + np.exp(-(ra - rb) / model.temperature)))
    if hasattr(head, "attribute_weights") and ctx is not None:
        out.attributes_a = head.attribute_rewards(emb[:n], va)
        out.attributes_b = head.attribute_rewards(emb[n:], vb)
        out.attribute_weights = head.attribute_weights(ctx)
    return out


@dataclass
class ResponseScores:
    """Reward of every distinct ranked or rated response (``context`` / ``item``: codes, -1 = no context)."""

    context: np.ndarray
    item: np.ndarray
    reward: np.ndarray
    attributes: np.ndarray | None = None


def score_responses(model: Any, ds: Dataset, embedder: Embedder) -> ResponseScores:
    """Rewards of the responses of ``ds``'s rankings and ratings under a loaded reward model."""
    only = replace(ds, pairwise=PairwiseTable.empty())
    head = model.head
    if condition_source(head) == "attributes":
        raise ValidationError("the attributes head scores judgments by their annotator; score pairwise rows instead")
    j = judge(only, embedder, need_ctx=head.needs_ctx, condition=condition_source(head))
    n_items = max(len(ds.items), 1)
    verb = np.log1p(j.length)
    xs = j.texts if getattr(head, "needs_text", False) else j.X
    ctx = j.ctx
    if j.cond_vec is not None and j.cond_code is not None:
        ctx = j.cond_vec[j.cond_code[np.clip(j.keys // n_items - 1, 0, None)]]
    reward = np.asarray(head.reward(xs, ctx, None, verb), dtype=np.float64)
    attrs = None
    if hasattr(head, "attribute_rewards"):
        attrs = head.attribute_rewards(j.X, verb) if head.kind == "armo" else head.attribute_rewards(j.X)
    return ResponseScores(j.keys // n_items - 1, j.keys % n_items, reward, attrs)


# ---- placing new annotators in a pluralistic model (PAL / MaxMin) ------------------------------------------


@dataclass(frozen=True)
class Placement:
    """A new annotator placed from a few pairs: PAL's mixture weights over its prototypes, or MaxMin's group."""

    annotator: str
    n_pairs: int
    weights: tuple[float, ...] | None = None
    group: int | None = None


def place_annotators(model: Any, ds: Dataset, embedder: Embedder, *, min_pairs: int = 1) -> list[Placement]:
    """Fit each annotator of ``ds`` that ``model`` does not know from its pairs (everything else frozen) and
    add it to the model's head. Annotators the model knows already are refused by name."""
    head = model.head
    if not hasattr(head, "add_annotator"):
        raise ValidationError(
            f"placing annotators needs a pal or maxmin model; {model.head_name!r} has no annotator parameters"
        )
    p = pair_features(ds, embedder, need_ctx=head.needs_ctx).pairs
    ann = np.asarray(p.annotator)
    present = sorted({p.annotator_names[int(a)] for a in ann[ann >= 0]})
    if not present:
        raise DataProblemError(f"{ds.source or 'the input'} has no pairs with an annotator to place")
    known = set(getattr(head, "annotator_names_", []))
    again = [a for a in present if a in known]
    if again:
        raise ValidationError(
            f"annotators already in the model: {', '.join(again[:8])}; placing is for new annotators "
            "(retrain to refit known ones)"
        )
    out = []
    for name in present:
        idx = np.flatnonzero(ann == p.annotator_names.index(name))
        if len(idx) < min_pairs:
            raise DataProblemError(f"annotator {name!r} has {len(idx)} decisive pairs; at least {min_pairs} needed")
        code = head.add_annotator(name, p.take(idx))
        if hasattr(head, "annotator_weights_") and head.kind == "pal":
            out.append(Placement(name, len(idx), weights=tuple(float(x) for x in head.annotator_weights_[code])))
        else:
            out.append(Placement(name, len(idx), group=int(head.assignment_[code])))
    return out


# ---- one head on several datasets (MORE) ---------------------------------------------------------------------


@dataclass
class DatasetReport:
    """One dataset of a multi-dataset fit: its pairs, MGDA weight and held-out figures."""

    name: str
    n_train: int
    n_test: int
    weight: float
    accuracy: float
    ece: float
    nll: float

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def multi_dataset(
    datasets: list[Dataset],
    embedder: Embedder,
    *,
    weighting: str = "mgda",
    l2: float = 1e-3,
    test: float = 0.2,
    calibration: float = 0.1,
    seed: int = 0,
) -> tuple[list[DatasetReport], TemperatureFit, Any]:
    """Split each dataset's units into train / calibration / test shares, fit one linear BT head on all the
    training shares with ``weighting`` across datasets (:func:`prefkit.reward.multi.fit_multi`), fit one
    temperature on the pooled calibration pairs, and score every dataset's test pairs. Returns the reports,
    the temperature and the head refitted on all the data (for saving)."""
    from prefkit.reward.multi import fit_multi

    if len(datasets) < 2:
        raise ValidationError("multi-dataset training needs at least two files")
    if not (0 < test < 1 and 0 <= calibration < 1 and test + calibration < 1):
        raise ValidationError(f"test and calibration shares must be in (0, 1) with a sum below 1; got {test}, {calibration}")
    judged = [judge(ds, embedder) for ds in datasets]
    rng = np.random.default_rng(seed)
    parts = []
    for ds, j in zip(datasets, judged, strict=True):
        u = rng.permutation(j.units)
        n_te, n_cal = max(int(round(test * len(u))), 1), int(round(calibration * len(u)))
        if len(u) - n_te - n_cal < 1:
            raise DataProblemError(f"{ds.source or 'a dataset'} has too few prompts ({len(u)}) to split")
        te, cal, tr = (pairs_in(j, s).pairs for s in (u[:n_te], u[n_te : n_te + n_cal], u[n_te + n_cal :]))
        if len(tr) == 0 or len(te) == 0:
            raise DataProblemError(f"{ds.source or 'a dataset'} has no decisive pairs in its train or test share")
        parts.append((tr, cal, te))
    fit = fit_multi([p[0] for p in parts], weighting=weighting, l2=l2, seed=seed)
    cal_m = np.concatenate([fit.head.margins(p[1]) for p in parts if len(p[1])]) if calibration else np.zeros(0)
    temp = calibrate_temperature(cal_m, min_pairs=MIN_CALIBRATION_PAIRS)
    reports = []
    for ds, (tr, _, te), a in zip(datasets, parts, fit.mean_weights, strict=True):
        ev = evaluate_margins(fit.head.margins(te), temperature=temp.value, temperature_status=temp.status)
        reports.append(DatasetReport(ds.source or "?", len(tr), len(te), float(a), ev.accuracy, ev.ece, ev.nll))
    full = fit_multi([pairs_in(j, j.units).pairs for j in judged], weighting=weighting, l2=l2, seed=seed)
    return reports, temp, full.head


# ---- per-criterion strengths and relabelling (AlignDiff) -----------------------------------------------------


def relabel(
    source: Dataset, target: Dataset, embedder: Embedder, *, l2: float = 1e-2
) -> tuple[Dataset, dict[str, float]]:
    """AlignDiff's relabelling: one linear Bradley-Terry head per criterion of ``source``'s comparisons, then
    every response of ``target`` (its pairs', rankings' and ratings' responses) rated on each criterion by its
    strength, the percentile of its reward among ``target``'s responses (0 = weakest, 1 = strongest).

    Returns the relabelled dataset (``target``'s items, contexts and texts; one rating per response and
    criterion, attribute = criterion) and each criterion head's training accuracy."""
    from prefkit.data._build import Builder, Context
    from prefkit.data.index import ItemIndex
    from prefkit.reward.bt import BradleyTerryHead

    js = judge(source, embedder)
    ps = pairs_in(js, js.units).pairs
    if len(ps) == 0:
        raise DataProblemError(f"{source.source or 'the input'} has no decisive comparisons to learn strengths from")
    if ps.subset_names:
        names, codes = list(ps.subset_names), ps.subset
    else:
        names, codes = [source.criteria.name(0) if len(source.criteria) else "overall"], np.zeros(len(ps), np.int64)
    heads, train_acc = {}, {}
    for k, name in enumerate(names):
        sub = ps.take(np.flatnonzero(codes == k))
        if len(sub) == 0:
            continue
        heads[name] = BradleyTerryHead(l2=l2).fit(sub)
        train_acc[name] = accuracy_strict(heads[name].margins(sub))
    jt = judge(target, embedder)
    n_items = max(len(target.items), 1)
    kctx, kitem = jt.keys // n_items - 1, jt.keys % n_items
    template = replace(
        target,
        attributes=ItemIndex(),
        pairwise=PairwiseTable.empty(),
        rankings=type(target.rankings).empty(),
        ratings=RatingTable.empty(),
        meta={k: v for k, v in target.meta.items() if k != "skipped"},
    )
    b = Builder(template, Context(target.source or "relabelled"))
    for name, head in heads.items():
        r = np.asarray(head.reward(jt.X), dtype=np.float64)
        pct = (np.argsort(np.argsort(r, kind="stable"), kind="stable") / max(len(r) - 1, 1)).astype(np.float64)
        for c, it, s in zip(kctx.tolist(), kitem.tolist(), pct.tolist(), strict=True):
            b.rating(
                target.items.name(it),
                float(s),
                0.0,
                1.0,
                line=0,
                attribute=name,
                context=target.contexts.name(c) if c >= 0 else None,
            )
    return b.flush(), train_acc
