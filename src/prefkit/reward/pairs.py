"""PairFeatures: the arrays every reward head trains on (embeddings of chosen / rejected / prompt)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from prefkit.errors import ValidationError


@dataclass(eq=False)
class PairFeatures:
    """One row per preference pair, oriented so that ``xc`` (chosen) is preferred over ``xr`` (rejected).

    ``ctx`` holds prompt embeddings (``None`` when the heads do not need them); ``strength`` the preference
    magnitude 1..3 (``nan`` = not given); ``annotator`` / ``subset`` integer codes (-1 = absent) whose names
    are ``annotator_names`` / ``subset_names``; ``len_c`` / ``len_r`` the response lengths in characters (the
    verbosity signal).
    """

    xc: np.ndarray
    xr: np.ndarray
    ctx: np.ndarray | None = None
    strength: Any = None  # an ndarray after __post_init__
    weight: Any = None  # an ndarray after __post_init__
    annotator: Any = None  # an ndarray after __post_init__
    subset: Any = None  # an ndarray after __post_init__
    len_c: Any = None  # an ndarray after __post_init__
    len_r: Any = None  # an ndarray after __post_init__
    annotator_names: list[str] = field(default_factory=list)
    subset_names: list[str] = field(default_factory=list)
    text_c: Any = None  # the rendered texts of chosen / rejected (object arrays), for heads that read texts
    text_r: Any = None
    cond: np.ndarray | None = None  # condition vectors (system-message embedding / annotator attributes)
    condition: Any = None  # an ndarray after __post_init__: condition code of each pair (-1 = none)
    condition_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.xc = np.ascontiguousarray(self.xc, dtype=np.float32)
        self.xr = np.ascontiguousarray(self.xr, dtype=np.float32)
        if self.xc.ndim != 2 or self.xc.shape != self.xr.shape:
            raise ValidationError(
                f"xc and xr must be (n_pairs, dim) arrays of the same shape; got {self.xc.shape} and {self.xr.shape}"
            )
        n = len(self.xc)
        if self.ctx is not None:
            self.ctx = np.ascontiguousarray(self.ctx, dtype=np.float32)
            if self.ctx.ndim != 2 or len(self.ctx) != n:
                raise ValidationError(
                    f"ctx must be an (n_pairs, dim) array with n_pairs={n}; got {self.ctx.shape}"
                )
        self.strength = _col(self.strength, n, np.nan, "strength")
        self.weight = _col(self.weight, n, 1.0, "weight")
        self.annotator = _col(self.annotator, n, -1, "annotator", np.int64)
        self.subset = _col(self.subset, n, -1, "subset", np.int64)
        self.len_c = _col(self.len_c, n, np.nan, "len_c")
        self.len_r = _col(self.len_r, n, np.nan, "len_r")
        self.condition = _col(self.condition, n, -1, "condition", np.int64)
        if self.cond is not None:
            self.cond = np.ascontiguousarray(self.cond, dtype=np.float32)
            if self.cond.ndim != 2 or len(self.cond) != n:
                raise ValidationError(f"cond must be an (n_pairs, dim) array with n_pairs={n}; got {self.cond.shape}")
        for name in ("text_c", "text_r"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v, dtype=object).reshape(-1)
                if len(v) != n:
                    raise ValidationError(f"{name} has {len(v)} entries but there are {n} pairs; give one per pair")
                setattr(self, name, v)

    def __len__(self) -> int:
        return len(self.xc)

    @property
    def dim(self) -> int:
        return int(self.xc.shape[1])

    def take(self, idx: np.ndarray) -> PairFeatures:
        idx = np.asarray(idx, dtype=np.int64)
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v[idx] if isinstance(v, np.ndarray) else v
        return PairFeatures(**kw)

    def validate(self, *, need_ctx: bool = False, need_annotator: bool = False) -> PairFeatures:
        """Raise a ValidationError naming the first problem; return self."""
        if len(self) == 0:
            raise ValidationError("no preference pairs to train on: the input is empty (or has only ties)")
        if not (np.isfinite(self.xc).all() and np.isfinite(self.xr).all()):
            raise ValidationError("embeddings contain NaN or infinite values; re-encode the texts")
        same = np.flatnonzero((self.xc == self.xr).all(axis=1))
        if len(same):
            raise ValidationError(
                f"pair {int(same[0])} (and {len(same) - 1} more) has identical chosen and rejected responses; "
                "drop those rows: a preference needs two different responses"
            )
        s = self.strength
        bad = np.flatnonzero(~np.isnan(s) & ((s < 0) | (s > 3)))
        if len(bad):
            raise ValidationError(
                f"preference strength {s[bad[0]]!r} of pair {int(bad[0])} is out of range: give |strength| in 0..3 "
                "(HelpSteer2-Preference scale -3..3)"
            )
        w = self.weight
        if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
            raise ValidationError("pair weights must be finite, non-negative and not all zero")
        if need_ctx and self.ctx is None:
            raise ValidationError(
                "this head needs prompt embeddings (ctx); build the features with the prompts"
            )
        if need_annotator and (self.annotator < 0).any():
            missing = int((self.annotator < 0).sum())
            raise ValidationError(
                f"pluralistic heads (pal, maxmin) need the annotator of every pair; {missing} pair(s) have none: "
                "use data that records annotators (prefkit JSONL 'annotator', crowd CSV 'worker') or another head"
            )
        return self

    @property
    def verbosity(self) -> tuple[np.ndarray, np.ndarray]:
        """log(1 + length) of chosen and rejected responses (zeros when lengths are unknown)."""
        lc = np.nan_to_num(self.len_c, nan=0.0)
        lr = np.nan_to_num(self.len_r, nan=0.0)
        return np.log1p(lc), np.log1p(lr)


def _col(x: np.ndarray | None, n: int, fill: float, name: str, dtype: type = np.float64) -> np.ndarray:
    if x is None:
        return np.full(n, fill, dtype=dtype)
    arr: np.ndarray = np.asarray(x, dtype=dtype).reshape(-1)
    if len(arr) != n:
        raise ValidationError(f"{name} has {len(arr)} entries but there are {n} pairs; give one per pair")
    return arr
