"""Dissection: which properties drive a group's verdicts (Bayesian logistic regression, Laplace posterior).

As in "Dissecting Human and LLM Preferences" (Li et al. 2024), each judged pair gives the differences of its
two responses' properties ``x = props(a) - props(b)`` and the verdict ``y = 1`` when ``a`` wins. The model is

    P(a wins) = sigmoid(x . w [+ c]),      w ~ N(0, I / prior_precision)

(``c`` is an optional flat-prior position term: the pull of the first-shown side). The posterior is
approximated by a Gaussian at its mode (Laplace): mean = MAP (Newton's method with a backtracking line
search on the strictly convex negative log posterior), covariance = inverse Hessian there. The MAP equals
scikit-learn's ``LogisticRegression(C=1/prior_precision, fit_intercept=...)`` on the same rows.

* **Ties**: ``ties="drop"`` ignores them; ``ties="half"`` counts a tie as half a win for each side (the
  soft target ``y = 1/2``, i.e. two half-weighted rows, one won by each side).
* **Scale**: with ``standardize=True`` (default) each property difference is divided by its standard
  deviation over the whole data before fitting (one scale shared by every group, so groups compare), and
  the weights are per standard deviation of the difference; the scales are reported.
* **Not estimable**: a property whose difference is the same in every row of a group (zero, or a constant
  that the position term absorbs) carries no information there: it is left out of that group's fit and
  reported with ``estimable=False`` (never a singular-matrix crash).
* **Too few**: groups with fewer than ``min_n`` usable judgments are listed in ``too_few`` and not fitted.
* **Similarity**: cosine similarity of groups' posterior mean weight vectors over properties estimable in
  both ("which judge is most human-like").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, log_expit
from scipy.stats import norm

from prefkit.data.model import OUTCOME_A, OUTCOME_B
from prefkit.errors import DataProblemError, ValidationError

POSITION = "(position: a)"


def neg_log_posterior(
    beta: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray, prior: np.ndarray
) -> float:
    """``-sum w (y log s + (1-y) log(1-s)) + 1/2 sum prior beta^2`` with ``s = sigmoid(x beta)``."""
    eta = x @ beta
    ll = y * log_expit(eta) + (1.0 - y) * log_expit(-eta)
    return float(-(w * ll).sum() + 0.5 * (prior * beta * beta).sum())


def gradient(beta: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Gradient of :func:`neg_log_posterior`."""
    return x.T @ (w * (expit(x @ beta) - y)) + prior * beta


def hessian(beta: np.ndarray, x: np.ndarray, w: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Hessian of :func:`neg_log_posterior` (it does not depend on ``y``)."""
    s = expit(x @ beta)
    return (x * (w * s * (1.0 - s))[:, None]).T @ x + np.diag(prior)


def logistic_map(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    prior: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """The posterior mode and the Hessian there (Newton with backtracking).

    ``prior`` holds one precision per column (0 for a flat prior). Raises DataProblemError when the
    posterior has no mode (flat prior and separable data).
    """
    beta = np.zeros(x.shape[1])
    f = neg_log_posterior(beta, x, y, w, prior)
    for _ in range(max_iter):
        g = gradient(beta, x, y, w, prior)
        h = hessian(beta, x, w, prior)
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(h, g, rcond=None)[0]
        t = 1.0
        while True:
            nb = beta - t * step
            nf = neg_log_posterior(nb, x, y, w, prior)
            if nf <= f - 1e-4 * t * float(g @ step) or t < 1e-10:
                break
            t *= 0.5
        beta, f_old, f = nb, f, nf
        if float(np.abs(g).max()) < tol * max(1.0, float(w.sum())) or abs(f_old - f) < tol * max(1.0, abs(f)):
            break
    h = hessian(beta, x, w, prior)
    if not np.all(np.isfinite(h)) or np.linalg.eigvalsh(h).min() <= 1e-8 * max(1.0, float(w.sum())):
        raise DataProblemError(
            "the posterior has no unique mode: some properties are collinear or separate the verdicts "
            "perfectly, so their weights are unbounded; use a prior (prior_precision > 0) or drop properties"
        )
    return beta, h


@dataclass(frozen=True)
class Weight:
    """Posterior of one property's weight (per standard deviation of the difference when standardized)."""

    property: str
    mean: float
    sd: float
    lower: float
    upper: float
    estimable: bool = True

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if not np.isfinite(v) else float(v)

        return {
            "property": self.property,
            "mean": num(self.mean),
            "sd": num(self.sd),
            "lower": num(self.lower),
            "upper": num(self.upper),
            "estimable": self.estimable,
        }


@dataclass(frozen=True)
class GroupDissection:
    """One group's fit: ``n`` usable judgments (``n_ties`` of them ties), weights in property order."""

    group: str
    n: int
    n_ties: int
    weights: tuple[Weight, ...]
    position: Weight | None = None
    accuracy: float = float("nan")

    def mean_vector(self) -> np.ndarray:
        return np.array([wt.mean if wt.estimable else np.nan for wt in self.weights])

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "n": self.n,
            "n_ties": self.n_ties,
            "accuracy": None if not np.isfinite(self.accuracy) else round(self.accuracy, 6),
            "weights": [w.to_dict() for w in self.weights],
            "position": None if self.position is None else self.position.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class Dissection:
    """Per-group posteriors, groups too small to fit, and the groups' cosine similarity matrix."""

    properties: tuple[str, ...]
    groups: tuple[GroupDissection, ...]
    similarity: np.ndarray
    too_few: tuple[tuple[str, int], ...]
    scales: np.ndarray
    ties: str
    prior_precision: float
    level: float
    standardized: bool
    n_dropped_missing: int = 0
    notes: tuple[str, ...] = field(default=())

    def group(self, name: str) -> GroupDissection:
        for g in self.groups:
            if g.group == name:
                return g
        raise ValidationError(f"no fitted group {name!r}; fitted: {', '.join(g.group for g in self.groups)}")

    def to_dict(self) -> dict[str, Any]:
        names = [g.group for g in self.groups]
        sim = [[None if not np.isfinite(v) else round(float(v), 6) for v in row] for row in self.similarity]
        return {
            "properties": list(self.properties),
            "ties": self.ties,
            "prior_precision": self.prior_precision,
            "level": self.level,
            "standardized": self.standardized,
            "scales": [None if not np.isfinite(s) else float(s) for s in self.scales],
            "groups": [g.to_dict() for g in self.groups],
            "similarity": {"groups": names, "matrix": sim},
            "too_few": [{"group": g, "n": n} for g, n in self.too_few],
            "n_dropped_missing": self.n_dropped_missing,
            "notes": list(self.notes),
        }


def verdict_targets(outcome: np.ndarray, ties: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(keep, y, is_tie)`` for prefkit outcome codes: ``y = 1`` a wins, 0 b wins, 1/2 a tie (``half``)."""
    if ties not in ("drop", "half"):
        raise ValidationError(f"ties must be 'drop' or 'half', got {ties!r}")
    o = np.asarray(outcome)
    is_tie = (o != OUTCOME_A) & (o != OUTCOME_B)
    keep = ~is_tie if ties == "drop" else np.ones(len(o), dtype=bool)
    y = np.where(o == OUTCOME_A, 1.0, np.where(o == OUTCOME_B, 0.0, 0.5))
    return keep, y, is_tie


def _fit_group(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    n_ties: int,
    props: Sequence[str],
    prior_precision: float,
    intercept: bool,
    z: float,
) -> GroupDissection:
    first = x[0] if len(x) else np.zeros(x.shape[1])
    constant = np.all(x == first, axis=0)
    informative = ~constant | ((first != 0) & (not intercept))
    cols = np.flatnonzero(informative)
    xx = x[:, cols]
    prior = np.full(len(cols), prior_precision)
    if intercept:
        xx = np.column_stack([xx, np.ones(len(x))])
        prior = np.append(prior, 0.0)
    beta, h = logistic_map(xx, y, w, prior)
    cov = np.linalg.inv(h)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    weights = []
    pos = {c: k for k, c in enumerate(cols)}
    for j, p in enumerate(props):
        if j in pos:
            k = pos[j]
            m, s = float(beta[k]), float(sd[k])
            weights.append(Weight(p, m, s, m - z * s, m + z * s))
        else:
            weights.append(Weight(p, float("nan"), float("nan"), float("nan"), float("nan"), estimable=False))
    position = None
    if intercept:
        m, s = float(beta[-1]), float(sd[-1])
        position = Weight(POSITION, m, s, m - z * s, m + z * s)
    eta = xx @ beta
    decided = y != 0.5
    acc = float(((eta > 0) == (y > 0.5))[decided].mean()) if decided.any() else float("nan")
    return GroupDissection(name, len(x), n_ties, tuple(weights), position, acc)


def dissect(
    diffs: np.ndarray,
    outcome: np.ndarray,
    properties: Sequence[str],
    groups: np.ndarray | None = None,
    group_names: Sequence[str] | None = None,
    *,
    ties: str = "drop",
    prior_precision: float = 1.0,
    level: float = 0.95,
    standardize: bool = True,
    intercept: bool = False,
    min_n: int = 30,
    weight: np.ndarray | None = None,
) -> Dissection:
    """Fit the property weights of every group (see the module docstring).

    ``diffs[i, k]`` is property ``k`` of side a minus side b in judgment ``i``; ``outcome`` holds prefkit
    outcome codes; ``groups[i]`` is the group code of judgment ``i`` (``-1``: in no group), named by
    ``group_names`` (default: one group, ``"all"``). Rows with a ``nan`` property are dropped and counted.
    """
    x = np.asarray(diffs, dtype=np.float64)
    props = tuple(str(p) for p in properties)
    if x.ndim != 2 or x.shape[1] != len(props):
        raise ValidationError(f"diffs: expected a (judgments x {len(props)}) matrix, got shape {x.shape}")
    if len(set(props)) != len(props):
        raise ValidationError("properties: names must be unique")
    o = np.asarray(outcome).reshape(-1)
    if len(o) != len(x):
        raise ValidationError(f"outcome: expected {len(x)} entries, got {len(o)}")
    if prior_precision < 0 or not np.isfinite(prior_precision):
        raise ValidationError(f"prior_precision must be finite and >= 0, got {prior_precision}")
    if not 0 < level < 1:
        raise ValidationError(f"level must lie in (0, 1), got {level}")
    if min_n < 1:
        raise ValidationError(f"min_n must be >= 1, got {min_n}")
    if groups is None:
        g = np.zeros(len(x), dtype=np.int64)
        gnames: list[str] = ["all"]
    else:
        g = np.asarray(groups, dtype=np.int64).reshape(-1)
        if len(g) != len(x):
            raise ValidationError(f"groups: expected {len(x)} entries, got {len(g)}")
        gnames = (
            [str(s) for s in group_names]
            if group_names is not None
            else [str(i) for i in range(int(g.max(initial=-1)) + 1)]
        )
        if g.size and g.max() >= len(gnames):
            raise ValidationError("groups: a code has no name in group_names")
    sw = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    if len(sw) != len(x) or np.any(sw < 0) or not np.all(np.isfinite(sw)):
        raise ValidationError("weight: expected one finite non-negative weight per judgment")
    keep, y, is_tie = verdict_targets(o, ties)
    finite = np.all(np.isfinite(x), axis=1)
    n_missing = int((~finite & keep).sum())
    keep &= finite & (g >= 0) & (sw > 0)
    notes = []
    if n_missing:
        notes.append(f"{n_missing} judgments dropped because a property was missing (nan)")
    scales = np.ones(len(props))
    if standardize:
        sd = x[keep].std(axis=0) if keep.any() else np.zeros(len(props))
        scales = np.where(sd > 0, sd, 1.0)
    xs = x / scales
    z = float(norm.ppf(0.5 + level / 2))
    fitted: list[GroupDissection] = []
    too_few: list[tuple[str, int]] = []
    for code, name in enumerate(gnames):
        rows = np.flatnonzero(keep & (g == code))
        if len(rows) < min_n:
            too_few.append((name, len(rows)))
            continue
        fitted.append(
            _fit_group(
                name,
                xs[rows],
                y[rows],
                sw[rows],
                int(is_tie[rows].sum()),
                props,
                prior_precision,
                intercept,
                z,
            )
        )
    if not fitted:
        counts = ", ".join(f"{n}: {c}" for n, c in too_few[:10])
        raise DataProblemError(
            f"no group has at least min_n={min_n} usable judgments ({counts}); lower min_n or pool groups"
        )
    return Dissection(
        properties=props,
        groups=tuple(fitted),
        similarity=cosine_similarity([fg.mean_vector() for fg in fitted]),
        too_few=tuple(too_few),
        scales=np.where(standardize, scales, 1.0),
        ties=ties,
        prior_precision=float(prior_precision),
        level=float(level),
        standardized=standardize,
        n_dropped_missing=n_missing,
        notes=tuple(notes),
    )


def cosine_similarity(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Cosine similarity of every pair of vectors over the coordinates finite in both (nan if none)."""
    k = len(vectors)
    out = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            u, v = vectors[i], vectors[j]
            ok = np.isfinite(u) & np.isfinite(v)
            nu, nv = np.linalg.norm(u[ok]), np.linalg.norm(v[ok])
            if ok.any() and nu > 0 and nv > 0:
                out[i, j] = float(u[ok] @ v[ok] / (nu * nv))
    return out
