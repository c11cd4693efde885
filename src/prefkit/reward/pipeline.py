"""From a Dataset to reward-model features and back: embedding (cached), training, calibration, scoring.

This is the glue the CLI and the benchmark call; the maths lives in the head modules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prefkit.data.model import OUTCOME_A, OUTCOME_B, Dataset
from prefkit.errors import DataProblemError, InputError, ValidationError
from prefkit.reward.base import RewardHead
from prefkit.reward.cache import EmbeddingCache, embed
from prefkit.reward.calibration import fit_temperature
from prefkit.reward.encoders import (
    PROMPT_CHARS,
    Encoder,
    EncoderSpec,
    make_encoder,
    render_content,
    render_text,
)
from prefkit.reward.evaluate import Evaluation, evaluate_margins
from prefkit.reward.heads import make_head
from prefkit.reward.pairs import PairFeatures

ProgressFactory = Callable[[str, float | None], AbstractContextManager[Callable[[int], Any]]]


@contextmanager
def _no_progress(description: str, total: float | None = None) -> Iterator[Callable[[int], Any]]:
    def advance(n: int = 1) -> None:
        return None

    yield advance


@dataclass
class Embedder:
    """An encoder with its cache: embeds texts, counting what it had to encode and how long that took."""

    spec: EncoderSpec
    cache_dir: str | Path | None = None
    use_cache: bool = True
    progress: ProgressFactory = _no_progress
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


@dataclass
class Prepared:
    """Features of a dataset's decisive pairs, and which pairwise rows they came from."""

    pairs: PairFeatures
    rows: np.ndarray
    n_ties: int
    n_identical: int = 0


def _texts(ds: Dataset, codes: np.ndarray, index: Any, table: dict[str, str], what: str) -> list[str]:
    out = []
    for c in codes.tolist():
        name = index.name(c)
        t = table.get(name)
        if t is None:
            raise DataProblemError(
                f"{what} {name!r} has no text: reward models need response texts (TRL rows or hh-rlhf "
                "transcripts), not battle logs that only name the models"
            )
        out.append(t)
    return out


def _strengths(ds: Dataset, rows: np.ndarray, swapped: np.ndarray) -> np.ndarray:
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


def prepare(ds: Dataset, embedder: Embedder, *, need_ctx: bool = False) -> Prepared:
    """Embed the decisive pairs of ``ds`` (ties and both-bad are left out), oriented chosen-first."""
    pw = ds.pairwise
    if len(pw) == 0:
        raise DataProblemError(
            f"{ds.source or 'the input'} has no pairwise preferences to learn from (nor rankings or ratings "
            "that imply some)"
        )
    rows = np.flatnonzero((pw.outcome == OUTCOME_A) | (pw.outcome == OUTCOME_B))
    n_ties = len(pw) - len(rows)
    if len(rows) == 0:
        raise DataProblemError(
            f"{ds.source or 'the input'} has only ties; a reward model needs decisive pairs"
        )
    swapped = pw.outcome[rows] == OUTCOME_B
    win = np.where(swapped, pw.b[rows], pw.a[rows])
    lose = np.where(swapped, pw.a[rows], pw.b[rows])
    ctx_codes = pw.context[rows]
    prompts = [ds.context_text.get(ds.contexts.name(c)) if c >= 0 else None for c in ctx_codes.tolist()]
    tw = _texts(ds, win, ds.items, ds.item_text, "response")
    tl = _texts(ds, lose, ds.items, ds.item_text, "response")
    mode = embedder.spec.text_mode
    rw = [render_text(p, t, mode) for p, t in zip(prompts, tw, strict=True)]
    rl = [render_text(p, t, mode) for p, t in zip(prompts, tl, strict=True)]
    emb = embedder(rw + rl, "embedding responses")
    ctx = embedder([prompt_text(p) for p in prompts], "embedding prompts") if need_ctx else None
    n = len(rows)
    multi_criteria = len(ds.criteria) > 1
    pairs = PairFeatures(
        xc=emb[:n],
        xr=emb[n:],
        ctx=ctx,
        strength=_strengths(ds, rows, swapped),
        weight=pw.weight[rows],
        annotator=pw.annotator[rows],
        subset=pw.criterion[rows] if multi_criteria else None,
        len_c=np.array([len(render_content(t)) for t in tw], dtype=np.float64),
        len_r=np.array([len(render_content(t)) for t in tl], dtype=np.float64),
        annotator_names=ds.annotators.names,
        subset_names=ds.criteria.names if multi_criteria else [],
    )
    # texts that differ only beyond the encoder's truncation (or in whitespace) embed identically: such pairs
    # carry no signal for any head, so they are left out (and counted) rather than failing the whole run
    same = (pairs.xc == pairs.xr).all(axis=1)
    if same.any():
        keep = np.flatnonzero(~same)
        pairs, rows = pairs.take(keep), rows[keep]
    return Prepared(pairs, rows, n_ties, int(same.sum()))


def prompt_text(prompt: str | None) -> str:
    """What the gating network sees of a prompt: its rendered tail (the latest turns)."""
    if not prompt:
        return ""
    p = render_content(prompt).strip()
    return p if len(p) <= 2 * PROMPT_CHARS else "..." + p[-2 * PROMPT_CHARS :]


def fit_head(name: str, pairs: PairFeatures, params: dict[str, Any] | None = None) -> RewardHead:
    """A fresh head of kind ``name`` fitted on ``pairs`` (checking it has what the head needs)."""
    head = make_head(name, **(params or {}))
    pairs.validate(need_ctx=head.needs_ctx, need_annotator=head.needs_annotator)
    return head.fit(pairs)


def fit_calibrated(
    name: str,
    pairs: PairFeatures,
    params: dict[str, Any] | None = None,
    *,
    holdout: float = 0.1,
    seed: int = 0,
) -> tuple[RewardHead, float]:
    """Fit the temperature on a held-out share of the pairs, then the head on all of them."""
    if not 0 <= holdout < 1:
        raise ValidationError(f"holdout must lie in [0, 1); got {holdout}")
    n_hold = int(round(holdout * len(pairs)))
    temperature = 1.0
    if n_hold >= 20 and len(pairs) - n_hold >= 20:
        perm = np.random.default_rng(seed).permutation(len(pairs))
        cal = fit_head(name, pairs.take(perm[n_hold:]), params)
        temperature = fit_temperature(cal.margins(pairs.take(perm[:n_hold])))
    return fit_head(name, pairs, params), temperature


def annotator_codes(ds: Dataset, rows: np.ndarray, known: list[str]) -> np.ndarray:
    """The dataset's annotators of ``rows`` as codes of a model's annotator list (-1 = unknown)."""
    pos = {n: i for i, n in enumerate(known)}
    codes = ds.pairwise.annotator[rows]
    names = ds.annotators.names
    return np.array([pos.get(names[c], -1) if c >= 0 else -1 for c in codes.tolist()], dtype=np.int64)


def model_pairs(model: Any, ds: Dataset, embedder: Embedder) -> Prepared:
    """Features of ``ds`` for a saved model: its annotators mapped onto the model's annotator list."""
    prep = prepare(ds, embedder, need_ctx=model.head.needs_ctx)
    known = list(getattr(model.head, "annotator_names_", []))
    prep.pairs.annotator = annotator_codes(ds, prep.rows, known)
    return prep


def evaluate_model(
    model: Any, ds: Dataset, embedder: Embedder, *, n_bins: int = 10
) -> tuple[Evaluation, np.ndarray]:
    """Evaluation figures (calibrated with the model's temperature) and the margins of ``ds``'s pairs."""
    prep = model_pairs(model, ds, embedder)
    m = model.head.margins(prep.pairs)
    p = prep.pairs
    ev = evaluate_margins(
        m, temperature=model.temperature, subset=p.subset, subset_names=p.subset_names, n_bins=n_bins
    )
    return ev, m


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
    prompts = [ds.context_text.get(ds.contexts.name(c)) if c >= 0 else None for c in pw.context.tolist()]
    ta = _texts(ds, pw.a, ds.items, ds.item_text, "response")
    tb = _texts(ds, pw.b, ds.items, ds.item_text, "response")
    mode = embedder.spec.text_mode
    texts = [render_text(p, t, mode) for p, t in zip(prompts + prompts, ta + tb, strict=True)]
    emb = embedder(texts, "embedding responses")
    n = len(pw)
    head = model.head
    ctx = embedder([prompt_text(p) for p in prompts], "embedding prompts") if head.needs_ctx else None
    ann = annotator_codes(ds, np.arange(n), list(getattr(head, "annotator_names_", [])))
    va = np.log1p([len(render_content(t)) for t in ta])
    vb = np.log1p([len(render_content(t)) for t in tb])
    ra = np.asarray(head.reward(emb[:n], ctx, ann, va), dtype=np.float64)
    rb = np.asarray(head.reward(emb[n:], ctx, ann, vb), dtype=np.float64)
    out = Scores(ra, rb, 1.0 / (1.0 + np.exp(-(ra - rb) / model.temperature)))
    if hasattr(head, "attribute_weights") and ctx is not None:
        out.attributes_a = head.attribute_rewards(emb[:n], va)
        out.attributes_b = head.attribute_rewards(emb[n:], vb)
        out.attribute_weights = head.attribute_weights(ctx)
    return out
