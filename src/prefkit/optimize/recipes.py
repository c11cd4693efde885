"""Recipes: scored groups of one chunk -> TRL rows (:class:`~prefkit.optimize.trl_format.Columns`).

======================  ==================================================================================
recipe                  rows
======================  ==================================================================================
all-pairs / best-worst  preference ``{prompt, chosen, rejected, gap}``
best-each               preference, the best candidate against each worse one
curry                   preference + ``stage`` (0 = easiest: the largest gap of the group), written stage by stage
kto                     unpaired ``{prompt, completion, label}``: the top tie group desirable, the bottom one
                        undesirable (or ``score >= kto_threshold``)
tags                    prompt-completion with a control tag (Korbak et al. 2023): ``<|good|>`` when the score is
                        at or above the ``tag_quantile`` of all scores, else ``<|bad|>``, prepended to the prompt
direction               preference by a user direction over several reward attributes (DPA, Wang et al. 2024):
                        the candidate maximising ``v . r`` against the one minimising it
dno                     large-margin pairs for DNO / INPO / SPPO: each candidate's win rate against the others of
                        its group, best against worst, kept when the win-rate margin exceeds ``min_gap``
======================  ==================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from prefkit.data.model import Dataset
from prefkit.errors import DataProblemError, ValidationError
from prefkit.optimize import pairs as P
from prefkit.optimize.groups import ScoredGroups
from prefkit.optimize.trl_format import Columns, text_column

RECIPES = ("all-pairs", "best-worst", "best-each", "curry", "kto", "tags", "direction", "dno")
GOOD_TAG, BAD_TAG = "<|good|>", "<|bad|>"


@dataclass(frozen=True)
class RecipeOptions:
    """Options of :func:`build_rows` (each recipe reads its own; see the module docstring)."""

    recipe: str = "all-pairs"
    min_gap: float = 0.0
    conversational: bool = False
    attribute: str | None = None
    direction: tuple[float, ...] | None = None
    attributes: tuple[str, ...] | None = None
    kto_threshold: float | None = None
    tag_quantile: float = 0.5
    curry_pairing: str = "best-vs-each"
    tag_threshold: float | None = field(default=None)  # filled in by the first pass of ``tags``

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValidationError(f"unknown recipe {self.recipe!r}; choose one of {', '.join(RECIPES)}")
        if not 0.0 < self.tag_quantile < 1.0:
            raise ValidationError(f"tag_quantile must be in (0, 1), got {self.tag_quantile}")
        if self.direction is not None and not np.all(np.isfinite(self.direction)):
            raise ValidationError("the direction must hold finite numbers")


@dataclass
class Chunk:
    """Rows of one chunk, and what the recipe left out."""

    columns: Columns
    stage: np.ndarray | None
    groups: int
    skipped_single: int
    skipped_ties: int
    first_skipped_line: int | None


class _Texts:
    """Texts of the items and contexts of a chunk, encoded once each."""

    def __init__(self, ds: Dataset, g: ScoredGroups, opts: RecipeOptions) -> None:
        self.ds, self.g, self.opts = ds, g, opts
        self.stored = bool(ds.meta.get("conversational"))

    def responses(self, members: np.ndarray) -> object:
        codes, inv = np.unique(self.g.item[members], return_inverse=True)
        names = self.ds.items.decode(codes)
        texts = []
        for name in names:
            t = self.ds.item_text.get(name or "")
            if t is None:
                raise DataProblemError(
                    f"item {name!r} has no text; training rows need the response texts (prefkit JSONL "
                    '{"type": "item", "id": ..., "text": ...} records, or a TRL / hh-rlhf file)'
                )
            texts.append(t)
        return text_column(
            texts,
            inv.reshape(-1),
            role="assistant",
            conversational=self.opts.conversational,
            stored_as_messages=self.stored,
        )

    def prompts(self, groups: np.ndarray, prefix: list[str] | None = None) -> object | None:
        ctx = self.g.context[groups]
        if len(ctx) and (ctx < 0).all() and prefix is None:
            return None
        if (ctx < 0).any():
            bad = int(self.g.line[groups[np.flatnonzero(ctx < 0)[0]]])
            raise DataProblemError(
                f"line {bad}: a judgment has no context (prompt) while others have one; give every "
                "judgment its prompt"
            )
        key = (
            ctx.astype(np.int64)
            if prefix is None
            else ctx.astype(np.int64) * 2 + np.array([p == GOOD_TAG for p in prefix], np.int64)
        )
        uniq, inv = np.unique(key, return_inverse=True)
        texts = []
        for k in uniq.tolist():
            c = k if prefix is None else k // 2
            name = self.ds.contexts.name(int(c))
            t = self.ds.context_text.get(name)
            if t is None:
                raise DataProblemError(f"context {name!r} has no text; add a context record with its prompt")
            if prefix is not None:
                t = (GOOD_TAG if k % 2 else BAD_TAG) + t
            texts.append(t)
        return text_column(
            texts,
            inv.reshape(-1),
            role="user",
            conversational=self.opts.conversational,
            stored_as_messages=self.stored and prefix is None,
        )


def _pair_columns(tx: _Texts, p: P.PairIndex, extra: dict[str, np.ndarray]) -> Columns:
    text = {}
    prompt = tx.prompts(p.group)
    if prompt is not None:
        text["prompt"] = prompt
    text["chosen"] = tx.responses(p.chosen)
    text["rejected"] = tx.responses(p.rejected)
    order = tuple(text) + tuple(extra)
    return Columns(text, extra, order)  # type: ignore[arg-type]


def _chunk(cols: Columns, g: ScoredGroups, p: P.PairIndex, stage: np.ndarray | None = None) -> Chunk:
    return Chunk(cols, stage, len(g), p.skipped_single, p.skipped_ties, p.first_skipped_line)


def win_rates(g: ScoredGroups) -> np.ndarray:
    """Each candidate's win rate against the other candidates of its group (ties count half)."""
    out = np.full(len(g.item), np.nan)
    for _gidx, m in P._buckets(g):
        s = g.score[m]
        k = m.shape[1]
        wins = (s[:, :, None] > s[:, None, :]).sum(axis=2) + 0.5 * (
            (s[:, :, None] == s[:, None, :]).sum(axis=2) - 1
        )
        out[m] = wins / (k - 1)
    return out


def directional_scores(g: ScoredGroups, direction: np.ndarray, names: list[str]) -> np.ndarray:
    """``objectives @ unit(direction)``: ValidationError when the lengths differ."""
    if g.objectives is None:
        raise DataProblemError(
            "the direction recipe needs ratings on several attributes (multi-objective scores)"
        )
    if len(direction) != g.objectives.shape[1]:
        raise ValidationError(
            f"the direction has {len(direction)} components but the ratings have {g.objectives.shape[1]} "
            f"attributes ({', '.join(names)}); give one weight per attribute, in that order"
        )
    norm = float(np.linalg.norm(direction))
    if norm == 0:
        raise ValidationError("the direction must not be the zero vector")
    return g.objectives @ (direction / norm)


def _fresh(p: P.PairIndex, g: ScoredGroups, dedup: P.Deduper | None) -> P.PairIndex:
    if dedup is None or len(p) == 0:
        return p
    return p.take(np.flatnonzero(dedup.fresh(g.context[p.group], g.item[p.chosen], g.item[p.rejected])))


def build_rows(ds: Dataset, g: ScoredGroups, opts: RecipeOptions, dedup: P.Deduper | None = None) -> Chunk:
    """The rows of ``opts.recipe`` for the groups ``g`` of chunk ``ds`` (pairs seen by ``dedup`` dropped)."""
    tx = _Texts(ds, g, opts)
    r = opts.recipe
    if r in P.BUILDERS:
        p = _fresh(P.BUILDERS[r](g, opts.min_gap), g, dedup)
        return _chunk(_pair_columns(tx, p, {"gap": p.gap}), g, p)
    if r == "curry":
        p = _fresh(P.curriculum(g, opts.min_gap, opts.curry_pairing), g, dedup)
        assert p.stage is not None
        return _chunk(_pair_columns(tx, p, {"gap": p.gap, "stage": p.stage}), g, p, p.stage)
    if r == "direction":
        names = list(ds.attributes) if opts.attributes is None else list(opts.attributes)
        obj_g = _select_attributes(ds, g, opts.attributes)
        score = directional_scores(obj_g, np.asarray(opts.direction, np.float64), names)
        keep = np.isfinite(score)
        dg = ScoredGroups(g.offsets, g.item, np.where(keep, score, -np.inf), g.context, g.line)
        p = P.best_vs_worst(dg, opts.min_gap)
        ok = np.isfinite(p.gap) & keep[p.rejected]
        p = _fresh(p.take(np.flatnonzero(ok)), g, dedup)
        return _chunk(
            _pair_columns(
                tx, p, {"chosen_score": dg.score[p.chosen], "rejected_score": dg.score[p.rejected]}
            ),
            g,
            p,
        )
    if r == "dno":
        w = win_rates(g)
        wg = ScoredGroups(g.offsets, g.item, np.nan_to_num(w, nan=0.0), g.context, g.line)
        p = _fresh(P.best_vs_worst(wg, opts.min_gap), g, dedup)
        extra = {"chosen_win_rate": w[p.chosen], "rejected_win_rate": w[p.rejected], "gap": p.gap}
        return _chunk(_pair_columns(tx, p, extra), g, p)
    if r == "kto":
        return _kto(tx, g, opts)
    return _tags(tx, g, opts)


def _select_attributes(ds: Dataset, g: ScoredGroups, attributes: tuple[str, ...] | None) -> ScoredGroups:
    if attributes is None or g.objectives is None:
        return g
    missing = [a for a in attributes if a not in ds.attributes]
    if missing:
        raise ValidationError(
            f"unknown attribute(s) {', '.join(missing)}; the ratings have {', '.join(ds.attributes)}"
        )
    cols = [ds.attributes.code(a) for a in attributes]
    return ScoredGroups(g.offsets, g.item, g.score, g.context, g.line, g.objectives[:, cols])


def _unpaired(
    tx: _Texts,
    g: ScoredGroups,
    members: np.ndarray,
    numeric: dict[str, np.ndarray],
    prefix: list[str] | None = None,
) -> Columns:
    groups = g.group_of[members]
    text = {}
    prompt = tx.prompts(groups, prefix)
    if prompt is None:
        raise DataProblemError("these rows need a prompt per response: give every judgment a context")
    text["prompt"] = prompt
    text["completion"] = tx.responses(members)
    return Columns(text, numeric, tuple(text) + tuple(numeric))  # type: ignore[arg-type]


def _kto(tx: _Texts, g: ScoredGroups, opts: RecipeOptions) -> Chunk:
    gof = g.group_of
    sizes = g.sizes
    hi = np.full(len(g), -np.inf)
    lo = np.full(len(g), np.inf)
    np.maximum.at(hi, gof, g.score)
    np.minimum.at(lo, gof, g.score)
    if opts.kto_threshold is None:
        tied = (hi == lo) & (sizes >= 2)
        usable = (sizes >= 2) & ~tied
        good = (g.score == hi[gof]) & usable[gof]
        bad = (g.score == lo[gof]) & usable[gof]
        if opts.min_gap > 0:
            wide = (hi - lo) > opts.min_gap
            good &= wide[gof]
            bad &= wide[gof]
    else:
        tied = np.zeros(len(g), bool)
        good = g.score >= opts.kto_threshold
        bad = ~good
    members = np.flatnonzero(good | bad)
    cols = _unpaired(tx, g, members, {"label": good[members]})
    single = sizes < 2 if opts.kto_threshold is None else np.zeros(len(g), bool)
    skipped = np.flatnonzero(single | tied)
    first = int(g.line[skipped[0]]) if len(skipped) else None
    return Chunk(cols, None, len(g), int(single.sum()), int(tied.sum()), first)


def tag_scores(g: ScoredGroups) -> np.ndarray:
    """Scores comparable across groups: ratings as they are; rankings as the normalised position (1 = best)."""
    if not g.ranked:
        return g.score
    gof = g.group_of
    worst = np.zeros(len(g))
    np.minimum.at(worst, gof, g.score)
    span = -worst[gof]
    return np.where(span > 0, 1.0 + g.score / np.where(span > 0, span, 1.0), 1.0)


def _tags(tx: _Texts, g: ScoredGroups, opts: RecipeOptions) -> Chunk:
    if opts.tag_threshold is None:
        raise ValidationError("tags need the score threshold from a first pass (build() computes it)")
    s = tag_scores(g)
    members = np.arange(len(g.item))
    good = s >= opts.tag_threshold
    prefix = [GOOD_TAG if x else BAD_TAG for x in good.tolist()]
    tags = np.array(prefix, dtype=object)
    cols = _unpaired(tx, g, members, {"tag": tags, "score": s}, prefix)
    return Chunk(cols, None, len(g), 0, 0, None)
