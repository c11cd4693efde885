"""Leaderboards: one entry point over every model, returning a typed :class:`Leaderboard`.

    lb = build_leaderboard(Battles(a, b, outcome, names=names), method="bt", ci="bootstrap", rounds=1000, seed=0)
    for row in lb.rows(): print(row.rank, row.name, row.rating, row.lower, row.upper)

Methods: ``bt`` (Bradley-Terry, ties half or dropped), ``davidson`` and ``rao-kupper`` (tie models),
``elo`` (online Elo; bootstrap over orderings), ``pl`` (Plackett-Luce; K-wise rankings or pairs). ``style``
adds per-battle covariates to Bradley-Terry. Ratings are on the Elo scale unless ``scale.raw``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking import intervals as iv
from prefkit.ranking.counts import CountTable, count_pairwise, item_totals
from prefkit.ranking.scale import EloScale, anchor_shift

METHODS = ("bt", "elo", "davidson", "rao-kupper", "pl")
CI_METHODS = ("sandwich", "bootstrap", "none")


@dataclass(frozen=True, eq=False)
class Battles:
    """Pairwise battles as integer arrays (``outcome`` codes of :mod:`prefkit.data.model`), in log order."""

    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    names: tuple[str, ...]
    weight: np.ndarray | None = None
    features: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()

    @property
    def n_items(self) -> int:
        return len(self.names)

    def counts(self) -> CountTable:
        return count_pairwise(
            self.a, self.b, self.outcome, n_items=self.n_items, weight=self.weight, names=self.names
        )


@dataclass(frozen=True, eq=False)
class Rankings:
    """K-wise rankings in CSR form (see :class:`prefkit.data.model.RankingTable`)."""

    offsets: np.ndarray
    members: np.ndarray
    level: np.ndarray
    names: tuple[str, ...]
    weight: np.ndarray | None = None


@dataclass(frozen=True)
class LeaderboardRow:
    name: str
    rating: float
    lower: float
    upper: float
    rank: int
    rank_lower: int
    rank_upper: int
    battles: float
    wins: float
    losses: float
    ties: float


@dataclass(frozen=True)
class Coefficient:
    name: str
    value: float
    se: float


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """Ratings with intervals, ranks and counts per item (arrays in item-code order)."""

    method: str
    ties: str
    ci: str
    level: float
    scale: EloScale
    names: tuple[str, ...]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank: np.ndarray
    rank_lower: np.ndarray
    rank_upper: np.ndarray
    battles: np.ndarray
    wins: np.ndarray
    losses: np.ndarray
    ties_count: np.ndarray
    theta: np.ndarray
    win_probability: np.ndarray
    n_battles: float
    rounds: int = 0
    samples: np.ndarray | None = None
    tie_parameter: Coefficient | None = None
    coefficients: tuple[Coefficient, ...] = ()
    anchor: tuple[str, float] | None = None
    notes: tuple[str, ...] = field(default=())

    def order(self) -> np.ndarray:
        return np.argsort(-self.rating, kind="stable")

    def rows(self) -> list[LeaderboardRow]:
        """Rows sorted by rating, best first."""
        return [
            LeaderboardRow(
                name=self.names[k],
                rating=float(self.rating[k]),
                lower=float(self.lower[k]),
                upper=float(self.upper[k]),
                rank=int(self.rank[k]),
                rank_lower=int(self.rank_lower[k]),
                rank_upper=int(self.rank_upper[k]),
                battles=float(self.battles[k]),
                wins=float(self.wins[k]),
                losses=float(self.losses[k]),
                ties=float(self.ties_count[k]),
            )
            for k in self.order()
        ]

    def to_dict(self, *, win_matrix_limit: int = 100) -> dict[str, Any]:
        """A JSON-ready dict: ``{"method", "leaderboard": [...], ...}`` (rows sorted by rating)."""
        rows = []
        for r in self.rows():
            rows.append(
                {
                    "name": r.name,
                    "rating": r.rating,
                    "lower": r.lower,
                    "upper": r.upper,
                    "rank": r.rank,
                    "rank_lower": r.rank_lower,
                    "rank_upper": r.rank_upper,
                    "battles": _num(r.battles),
                    "wins": _num(r.wins),
                    "losses": _num(r.losses),
                    "ties": _num(r.ties),
                }
            )
        out: dict[str, Any] = {
            "method": self.method,
            "ties": self.ties,
            "ci": self.ci,
            "level": self.level,
            "rounds": self.rounds,
            "scale": {
                "scale": self.scale.scale,
                "base": self.scale.base,
                "center": self.scale.center,
                "raw": self.scale.raw,
            },
            "anchor": None if self.anchor is None else {"name": self.anchor[0], "rating": self.anchor[1]},
            "n_items": len(self.names),
            "n_battles": _num(self.n_battles),
            "leaderboard": rows,
            "tie_parameter": None if self.tie_parameter is None else vars(self.tie_parameter),
            "coefficients": [vars(c) for c in self.coefficients],
            "notes": list(self.notes),
        }
        if len(self.names) <= win_matrix_limit:
            order = self.order()
            out["win_probability"] = {
                "names": [self.names[k] for k in order],
                "matrix": np.round(self.win_probability[np.ix_(order, order)], 6).tolist(),
            }
        return out


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


def _pair_win_matrix(theta: np.ndarray, model: str, eta: float | None) -> np.ndarray:
    d = theta[:, None] - theta[None, :]
    if model in ("bt", "pl"):
        return expit(d)
    from prefkit.ranking.ties import outcome_probabilities

    p = outcome_probabilities(model, d, eta)
    return p[0] + 0.5 * p[2]


def build_leaderboard(
    data: Battles | CountTable | Rankings,
    *,
    method: str = "bt",
    ties: str = "half",
    ci: str | None = None,
    rounds: int = 1000,
    level: float = 0.95,
    prior: float = 0.0,
    style: bool = False,
    coef_prior: float = 0.0,
    scale: EloScale | None = None,
    anchor: tuple[str, float] | None = None,
    elo_k: float = 4.0,
    seed: int | None = 0,
    resampling: str = "poisson",
    progress: Callable[[int], Any] | None = None,
) -> Leaderboard:
    """Fit ``method`` and compute intervals (``ci``: sandwich | bootstrap | none; default sandwich, bootstrap for
    elo). ``seed`` drives the bootstrap."""
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS}, got {method!r}")
    if ties not in ("half", "drop"):
        raise ValidationError(f"ties must be 'half' or 'drop', got {ties!r}")
    ci = ci or ("bootstrap" if method == "elo" else "sandwich")
    if ci not in CI_METHODS:
        raise ValidationError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    if method == "elo" and ci == "sandwich":
        raise ValidationError("online Elo has no sandwich interval; use ci='bootstrap'")
    iv.check_level(level)
    if ci == "bootstrap" and rounds < 1:
        raise ValidationError(f"rounds must be >= 1, got {rounds}")
    if style and method != "bt":
        raise ValidationError("style control is a Bradley-Terry model: use method 'bt' with style")
    scale = scale or EloScale()
    rng = np.random.default_rng(seed)
    fitter = _FITTERS["style" if style else method]
    res = fitter(
        data,
        ties=ties,
        ci=ci,
        rounds=rounds,
        prior=prior,
        coef_prior=coef_prior,
        rng=rng,
        elo_k=elo_k,
        scale=scale,
        resampling=resampling,
        progress=progress,
    )
    return _assemble(
        res,
        method=method,
        ties=ties if method not in ("davidson", "rao-kupper") else "model",
        ci=ci,
        level=level,
        scale=scale,
        anchor=anchor,
        rounds=rounds if ci == "bootstrap" else 0,
    )


@dataclass
class _Fitted:
    names: tuple[str, ...]
    theta: np.ndarray  # natural-log strengths (for elo: already ratings, see is_rating)
    se: np.ndarray | None
    samples: np.ndarray | None  # (rounds, n) theta
    totals: Any
    n_battles: float
    win: np.ndarray
    tie_parameter: Coefficient | None = None
    coefficients: tuple[Coefficient, ...] = ()
    is_rating: bool = False
    notes: tuple[str, ...] = ()


def rankings_to_pairs(rk: Rankings) -> Battles:
    """The pairwise battles implied by K-wise rankings (every pair in a ranking; equal levels tie)."""
    sizes = np.diff(rk.offsets)
    a_list, b_list, o_list, w_list = [], [], [], []
    weight = np.ones(len(sizes)) if rk.weight is None else np.asarray(rk.weight, dtype=np.float64)
    for k in np.unique(sizes):
        if k < 2:
            continue
        rows = np.flatnonzero(sizes == k)
        iu, ju = np.triu_indices(int(k), 1)
        pos = rk.offsets[rows][:, None]
        a_list.append(rk.members[pos + iu].ravel())
        b_list.append(rk.members[pos + ju].ravel())
        la, lb = rk.level[pos + iu].ravel(), rk.level[pos + ju].ravel()
        o_list.append(np.where(la == lb, 2, np.where(la < lb, 0, 1)))
        w_list.append(np.repeat(weight[rows], len(iu)))
    if not a_list:
        z = np.zeros(0, dtype=np.int64)
        return Battles(z, z, z, rk.names)
    return Battles(
        np.concatenate(a_list),
        np.concatenate(b_list),
        np.concatenate(o_list),
        rk.names,
        weight=np.concatenate(w_list),
    )


def _as_table(data: Battles | CountTable | Rankings) -> CountTable:
    if isinstance(data, CountTable):
        return data
    if isinstance(data, Rankings):
        data = rankings_to_pairs(data)
    return data.counts()


def _fit_pairs(data, *, ties, ci, rounds, prior, rng, resampling, progress, model_name="bt", **_):
    from prefkit.ranking.bt import bootstrap_pairs, fit_bt
    from prefkit.ranking.ties import fit_davidson, fit_rao_kupper

    table = _as_table(data)
    if model_name == "bt":
        fit = fit_bt(table, ties=ties, prior=prior)
    elif model_name == "davidson":
        fit = fit_davidson(table, prior=prior)
    else:
        fit = fit_rao_kupper(table, prior=prior)
    samples = None
    tie = None
    if ci == "bootstrap":
        boot = bootstrap_pairs(table, fit, rounds=rounds, rng=rng, resampling=resampling, progress=progress)
        samples = boot.theta
    if fit.tie_param is not None:
        name = "log_nu" if fit.model == "davidson" else "log_theta"
        tie = Coefficient(name, float(fit.tie_param), float(fit.tie_param_se or 0.0))
    notes = () if samples is None else _boot_notes(boot.converged)
    return _Fitted(
        names=tuple(table.item_names()),
        theta=fit.theta,
        se=fit.se,
        samples=samples,
        totals=item_totals(table),
        n_battles=table.n_battles,
        win=_pair_win_matrix(fit.theta, fit.model, fit.tie_param),
        tie_parameter=tie,
        notes=notes,
    )


def _boot_notes(converged: np.ndarray) -> tuple[str, ...]:
    bad = int((~converged).sum())
    if bad:
        return (
            f"{bad} of {len(converged)} bootstrap rounds did not converge (the resample had an item that never "
            "lost or never won); their extreme ratings widen the intervals. A prior (--prior) avoids this",
        )
    return ()


def _fit_elo(data, *, ties, ci, rounds, rng, elo_k, scale, progress, **_):
    from prefkit.ranking.elo import bootstrap_elo, elo_pairwise

    if not isinstance(data, Battles):
        raise ValidationError("online Elo needs the battles in order, not a count table or rankings")
    kw = dict(k=elo_k, base=scale.base, scale=scale.scale, init=scale.center, ties=ties)
    r = elo_pairwise(data.a, data.b, data.outcome, data.n_items, **kw)
    samples = None
    if ci == "bootstrap":
        samples = bootstrap_elo(
            data.a, data.b, data.outcome, data.n_items, rounds=rounds, rng=rng, progress=progress, **kw
        )
    table = data.counts()
    lb = np.log(scale.base) / scale.scale
    win = expit((r[:, None] - r[None, :]) * lb)
    return _Fitted(
        names=data.names,
        theta=r,
        se=None,
        samples=samples,
        totals=item_totals(table),
        n_battles=table.n_battles,
        win=win,
        is_rating=True,
    )


def _pairs_to_rankings(data: Battles) -> Rankings:
    n = len(data.a)
    win_first = data.outcome != 1
    first = np.where(win_first, data.a, data.b)
    second = np.where(win_first, data.b, data.a)
    level2 = np.where(data.outcome >= 2, 0, 1)
    members = np.stack([first, second], axis=1).ravel()
    level = np.stack([np.zeros(n, dtype=np.int64), level2], axis=1).ravel()
    return Rankings(np.arange(n + 1) * 2, members, level, data.names, data.weight)


def _fit_pl(data, *, ci, rounds, prior, rng, progress, **_):
    from prefkit.ranking.pl import bootstrap_pl, fit_pl

    if isinstance(data, CountTable):
        raise ValidationError("Plackett-Luce needs rankings or battles, not a count table")
    rk = _pairs_to_rankings(data) if isinstance(data, Battles) else data
    n = len(rk.names)
    fit = fit_pl(rk.offsets, rk.members, rk.level, n, weight=rk.weight, prior=prior)
    samples = None
    if ci == "bootstrap":
        samples = bootstrap_pl(
            rk.offsets,
            rk.members,
            rk.level,
            n,
            fit,
            rounds=rounds,
            rng=rng,
            weight=rk.weight,
            progress=progress,
        )
    totals = _ranking_totals(rk)
    return _Fitted(
        names=rk.names,
        theta=fit.theta,
        se=fit.se,
        samples=samples,
        totals=totals,
        n_battles=float(len(rk.offsets) - 1),
        win=expit(fit.theta[:, None] - fit.theta[None, :]),
    )


def _ranking_totals(rk: Rankings):
    """Implied pairwise wins / losses / ties of each item over all rankings."""
    from prefkit.ranking.counts import ItemTotals

    n = len(rk.names)
    sizes = np.diff(rk.offsets)
    rid = np.repeat(np.arange(len(sizes)), sizes)
    lv = np.asarray(rk.level)
    battles = np.bincount(rk.members, minlength=n).astype(float)
    wins, losses, ties = np.zeros(n), np.zeros(n), np.zeros(n)
    for k in range(len(rk.members)):  # rankings are short; this is O(sum K^2)
        same = slice(rk.offsets[rid[k]], rk.offsets[rid[k] + 1])
        others = lv[same]
        wins[rk.members[k]] += float((others > lv[k]).sum())
        losses[rk.members[k]] += float((others < lv[k]).sum())
        ties[rk.members[k]] += float((others == lv[k]).sum() - 1)
    return ItemTotals(battles=battles, wins=wins, losses=losses, ties=ties)


def _fit_style(data, *, ties, ci, rounds, prior, coef_prior, rng, progress, **_):
    from prefkit.ranking.resample import resample_counts
    from prefkit.ranking.style import fit_bt_style

    if not isinstance(data, Battles) or data.features is None:
        raise ValidationError(
            "style control needs per-battle features (style_* columns or Chatbot Arena conv_metadata)"
        )
    kw = dict(feature_names=data.feature_names, ties=ties, prior=prior, coef_prior=coef_prior)
    fit = fit_bt_style(data.a, data.b, data.outcome, data.features, data.n_items, weight=data.weight, **kw)
    samples = None
    if ci == "bootstrap":
        base_w = np.ones(len(data.a)) if data.weight is None else np.asarray(data.weight, dtype=float)
        W = resample_counts(base_w, rounds, rng)
        samples = np.empty((rounds, data.n_items))
        for r in range(rounds):
            samples[r] = fit_bt_style(
                data.a,
                data.b,
                data.outcome,
                data.features,
                data.n_items,
                weight=W[r],
                **{**kw, "prior": max(prior, 1e-9)},
            ).theta
            if progress is not None:
                progress(1)
    table = data.counts()
    coefs = tuple(
        Coefficient(n, float(v), float(s))
        for n, v, s in zip(fit.feature_names, fit.coef, fit.coef_se, strict=True)
    )
    return _Fitted(
        names=data.names,
        theta=fit.theta,
        se=fit.se,
        samples=samples,
        totals=item_totals(table),
        n_battles=table.n_battles,
        win=expit(fit.theta[:, None] - fit.theta[None, :]),
        coefficients=coefs,
    )


_FITTERS: dict[str, Callable[..., _Fitted]] = {
    "bt": _fit_pairs,
    "davidson": lambda data, **kw: _fit_pairs(data, model_name="davidson", **kw),
    "rao-kupper": lambda data, **kw: _fit_pairs(data, model_name="rao-kupper", **kw),
    "elo": _fit_elo,
    "pl": _fit_pl,
    "style": _fit_style,
}


def _assemble(
    res: _Fitted,
    *,
    method: str,
    ties: str,
    ci: str,
    level: float,
    scale: EloScale,
    anchor: tuple[str, float] | None,
    rounds: int,
) -> Leaderboard:
    names = res.names
    if len(names) < 2:
        raise DataProblemError(f"need at least two items to rank, got {len(names)}")

    def conv(x: np.ndarray) -> np.ndarray:
        return x if res.is_rating else scale.to_rating(x)

    rating = conv(res.theta)
    shift = anchor_shift(rating, names, anchor)
    rating = rating + shift
    samples = None if res.samples is None else conv(res.samples) + shift
    if ci == "bootstrap" and samples is not None:
        lower, upper = iv.percentile_intervals(samples, level)
        rank_lo, rank_hi = iv.rank_intervals_bootstrap(samples, level)
    elif ci == "sandwich" and res.se is not None:
        f = 1.0 if res.is_rating else scale.factor
        lower, upper = iv.normal_intervals(rating, res.se * f, level)
        rank_lo, rank_hi = iv.rank_intervals_from_bounds(lower, upper)
    else:
        lower, upper = rating.copy(), rating.copy()
        rank_lo, rank_hi = iv.rank_intervals_from_bounds(lower, upper)
    rank = iv.displayed_rank(lower, upper)
    t = res.totals
    return Leaderboard(
        method=method,
        ties=ties,
        ci=ci,
        level=level,
        scale=scale,
        names=tuple(names),
        rating=rating,
        lower=lower,
        upper=upper,
        rank=rank,
        rank_lower=rank_lo,
        rank_upper=rank_hi,
        battles=t.battles,
        wins=t.wins,
        losses=t.losses,
        ties_count=t.ties,
        theta=res.theta,
        win_probability=res.win,
        n_battles=res.n_battles,
        rounds=rounds,
        samples=samples,
        tie_parameter=res.tie_parameter,
        coefficients=res.coefficients,
        anchor=anchor,
        notes=res.notes,
    )


class RatingModel:
    """Estimator wrapper: ``RatingModel(method="bt", ci="bootstrap").fit(battles).leaderboard_``."""

    def __init__(
        self,
        method: str = "bt",
        *,
        ties: str = "half",
        ci: str | None = None,
        rounds: int = 1000,
        level: float = 0.95,
        prior: float = 0.0,
        style: bool = False,
        scale: EloScale | None = None,
        anchor: tuple[str, float] | None = None,
        seed: int | None = 0,
    ) -> None:
        self.method, self.ties, self.ci, self.rounds, self.level = method, ties, ci, rounds, level
        self.prior, self.style, self.scale, self.anchor, self.seed = prior, style, scale, anchor, seed

    def fit(self, data: Battles | CountTable | Rankings) -> RatingModel:
        self.leaderboard_ = build_leaderboard(
            data,
            method=self.method,
            ties=self.ties,
            ci=self.ci,
            rounds=self.rounds,
            level=self.level,
            prior=self.prior,
            style=self.style,
            scale=self.scale,
            anchor=self.anchor,
            seed=self.seed,
        )
        self.ratings_ = self.leaderboard_.rating
        self.names_: Sequence[str] = self.leaderboard_.names
        return self
