"""Judge audits: position bias, length bias, self-preference, agreement with people, swap consistency.

Pure functions over integer-coded arrays (outcomes use prefkit's codes: 0 = a / first shown, 1 = b, 2 = tie,
3 = both bad), each returning a small typed result with a Wilson score interval, a test and a ``flagged``
verdict at level ``alpha``; :func:`audit_judges` runs them all for every judge of a dataset against an
optional human reference on the same pairs.

* position: share of decisive verdicts picking the first-shown response; exact binomial test against 1/2.
* length: share of decisive verdicts picking the longer response on pairs whose longer text is at least
  ``min_ratio`` times the shorter; compared with the reference's share on the same pairs (two-proportion test),
  or with 1/2 without a reference; flagged either way (a judge that prefers shorter answers than people do is
  biased too).
* self-preference: share of decisive verdicts picking the judge's own family on pairs with exactly one such
  model; compared with the reference's share (or 1/2); flagged only when higher.
* agreement: the judge's label (a / b / tie) against the reference's per-pair majority label, raw rate and
  Cohen's kappa with its large-sample standard error; flagged when kappa is significantly below ``min_kappa``.
* swap consistency: where both orders were asked, the share of pairs whose two verdicts agree; flagged when
  significantly below ``min_consistency``.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE, Dataset
from prefkit.errors import DataProblemError, ValidationError

Z95 = 1.959963984540054


def wilson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k / n`` at level ``1 - alpha`` (``(nan, nan)`` if n = 0)."""
    if n == 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def binom_p(k: int, n: int, p0: float = 0.5) -> float:
    return float(stats.binomtest(k, n, p0).pvalue) if n else math.nan


def two_prop_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z test (nan when a side is empty)."""
    if n1 == 0 or n2 == 0:
        return math.nan
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(k1 / n1 - k2 / n2) / se))


@dataclass(frozen=True)
class Position:
    first_share: float
    lower: float
    upper: float
    n: int
    p_value: float
    flagged: bool


@dataclass(frozen=True)
class Length:
    longer_share: float
    reference_longer_share: float | None
    lower: float
    upper: float
    n: int
    p_value: float
    flagged: bool


@dataclass(frozen=True)
class SelfPreference:
    own_share: float
    reference_own_share: float | None
    lower: float
    upper: float
    n: int
    p_value: float
    flagged: bool


@dataclass(frozen=True)
class Agreement:
    rate: float
    kappa: float
    kappa_lower: float
    kappa_upper: float
    n: int
    flagged: bool


@dataclass(frozen=True)
class Swap:
    consistency: float
    lower: float
    upper: float
    flips: int
    n: int
    flagged: bool


def position_bias(outcome: np.ndarray, *, alpha: float = 0.05) -> Position:
    """``outcome`` in shown order (a = first shown); ties and both-bad are left out."""
    o = np.asarray(outcome)
    dec = (o == OUTCOME_A) | (o == OUTCOME_B)
    n, k = int(dec.sum()), int((o == OUTCOME_A).sum())
    lo, hi = wilson(k, n, alpha)
    p = binom_p(k, n)
    return Position(k / n if n else math.nan, lo, hi, n, p, bool(n and p < alpha))


def _share_vs(
    k: int, n: int, rk: int | None, rn: int | None, alpha: float, *, two_sided: bool = False
) -> tuple[float, float | None, float, float, float, bool]:
    lo, hi = wilson(k, n, alpha)
    share = k / n if n else math.nan
    if rk is not None and rn:
        ref: float | None = rk / rn
        p = two_prop_p(k, n, rk, rn)
    else:
        ref = None
        p = binom_p(k, n)
    base = ref if ref is not None else 0.5
    flagged = bool(n and p < alpha and (two_sided or share > base))
    return share, ref, lo, hi, p, flagged


def picks(outcome: np.ndarray, side_a: np.ndarray, side_b: np.ndarray) -> tuple[int, int]:
    """(verdicts picking the marked side, decisive verdicts) on rows where exactly one side is marked."""
    o = np.asarray(outcome)
    a, b = np.asarray(side_a, bool), np.asarray(side_b, bool)
    rows = (a != b) & ((o == OUTCOME_A) | (o == OUTCOME_B))
    hit = rows & (((o == OUTCOME_A) & a) | ((o == OUTCOME_B) & b))
    return int(hit.sum()), int(rows.sum())


def longer_sides(len_a: np.ndarray, len_b: np.ndarray, min_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    la, lb = np.asarray(len_a, np.float64), np.asarray(len_b, np.float64)
    big = np.maximum(la, lb)
    small = np.minimum(la, lb)
    clear = big >= min_ratio * np.maximum(small, 1.0)
    return clear & (la > lb), clear & (lb > la)


def length_bias(
    outcome: np.ndarray,
    len_a: np.ndarray,
    len_b: np.ndarray,
    *,
    reference: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    min_ratio: float = 1.5,
    alpha: float = 0.05,
) -> Length:
    """Share picking the longer on clear-gap pairs; ``reference`` = (outcome, len_a, len_b) of the people."""
    if min_ratio <= 1:
        raise ValidationError(f"min_ratio must be > 1 (longer / shorter), got {min_ratio}")
    k, n = picks(outcome, *longer_sides(len_a, len_b, min_ratio))
    rk = rn = None
    if reference is not None:
        rk, rn = picks(reference[0], *longer_sides(reference[1], reference[2], min_ratio))
    share, ref, lo, hi, p, flagged = _share_vs(k, n, rk, rn, alpha, two_sided=True)
    return Length(share, ref, lo, hi, n, p, flagged)


def self_preference(
    outcome: np.ndarray,
    own_a: np.ndarray,
    own_b: np.ndarray,
    *,
    reference: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    alpha: float = 0.05,
) -> SelfPreference:
    k, n = picks(outcome, own_a, own_b)
    rk = rn = None
    if reference is not None:
        rk, rn = picks(*reference)
    share, ref, lo, hi, p, flagged = _share_vs(k, n, rk, rn, alpha)
    return SelfPreference(share, ref, lo, hi, n, p, flagged)


def cohen_kappa(x: np.ndarray, y: np.ndarray, n_labels: int = 3) -> tuple[float, float, float]:
    """(observed agreement, Cohen's kappa, its large-sample standard error) of two label arrays."""
    x, y = np.asarray(x, np.int64), np.asarray(y, np.int64)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    table = np.zeros((n_labels, n_labels))
    np.add.at(table, (x, y), 1.0)
    table /= n
    po = float(np.trace(table))
    pe = float(table.sum(1) @ table.sum(0))
    if pe >= 1.0:
        return po, math.nan, math.nan
    kappa = (po - pe) / (1 - pe)
    se = math.sqrt(max(po * (1 - po), 0.0) / (n * (1 - pe) ** 2))
    return po, kappa, se


def agreement(
    judge: np.ndarray, reference: np.ndarray, *, min_kappa: float = 0.2, alpha: float = 0.05
) -> Agreement:
    """Judge labels against reference labels (0 = a, 1 = b, 2 = tie) on the same oriented pairs."""
    po, kappa, se = cohen_kappa(judge, reference)
    z = float(stats.norm.ppf(1 - alpha / 2))
    lo, hi = kappa - z * se, kappa + z * se
    return Agreement(po, kappa, lo, hi, len(judge), bool(len(judge) and hi < min_kappa))


def swap_consistency(
    order1: np.ndarray, order2: np.ndarray, *, min_consistency: float = 0.8, alpha: float = 0.05
) -> Swap:
    """``order1``/``order2``: the verdicts of the two orders, both in the first order's terms."""
    a, b = np.asarray(order1), np.asarray(order2)
    n = len(a)
    k = int((a == b).sum())
    flips = int((((a == OUTCOME_A) & (b == OUTCOME_B)) | ((a == OUTCOME_B) & (b == OUTCOME_A))).sum())
    lo, hi = wilson(k, n, alpha)
    return Swap(k / n if n else math.nan, lo, hi, flips, n, bool(n and hi < min_consistency))


# -- datasets --------------------------------------------------------------------------------------------


@dataclass
class JudgeAudit:
    judge: str
    n: int
    ties: float
    position: Position
    length: Length
    agreement: Agreement | None = None
    self_preference: SelfPreference | None = None
    swap: Swap | None = None
    reference_position: Position | None = None
    unparsed: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _pair_keys(ds: Dataset) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    """Orientation-free pair keys ``(context, lo name, hi name)`` and whether each row's a is the lo name."""
    pw = ds.pairwise
    ctx = ds.contexts.decode(pw.context)
    an, bn = ds.items.decode(pw.a), ds.items.decode(pw.b)
    keys, a_lo = [], np.zeros(len(pw), bool)
    for i, (c, a, b) in enumerate(zip(ctx, an, bn, strict=True)):
        lo, hi = (a, b) if str(a) <= str(b) else (b, a)
        keys.append((c or "", str(lo), str(hi)))
        a_lo[i] = a == lo
    return keys, a_lo


def _canonical(outcome: np.ndarray, a_lo: np.ndarray) -> np.ndarray:
    """Outcomes as labels of the orientation-free pair: 0 = lo wins, 1 = hi wins, 2 = tie (both bad too)."""
    o = np.where(outcome >= OUTCOME_TIE, OUTCOME_TIE, outcome).astype(np.int64)
    flip = ~a_lo & (o != OUTCOME_TIE)
    o[flip] = 1 - o[flip]
    return o


def majority_labels(ds: Dataset) -> dict[tuple[str, str, str], int]:
    """The per-pair majority label of a reference (a tie in the counts gives a tie)."""
    keys, a_lo = _pair_keys(ds)
    lab = _canonical(ds.pairwise.outcome, a_lo)
    counts: dict[tuple[str, str, str], np.ndarray] = {}
    for k, lbl in zip(keys, lab.tolist(), strict=True):
        counts.setdefault(k, np.zeros(3, np.int64))[lbl] += 1
    out = {}
    for k, c in counts.items():
        top = np.flatnonzero(c == c.max())
        out[k] = int(top[0]) if len(top) == 1 else OUTCOME_TIE
    return out


def _lengths(ds: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pw = ds.pairwise
    ta = ds.responses.lookup(pw.context, pw.a)
    tb = ds.responses.lookup(pw.context, pw.b)
    has = np.asarray([x is not None and y is not None for x, y in zip(ta, tb, strict=True)])
    la = np.asarray([len(x) if x is not None else 0 for x in ta], np.float64)
    lb = np.asarray([len(x) if x is not None else 0 for x in tb], np.float64)
    return la, lb, has


def _own(ds: Dataset, pattern: re.Pattern[str]) -> tuple[np.ndarray, np.ndarray]:
    own = np.asarray([bool(pattern.search(n)) for n in ds.items.names] + [False])
    return own[ds.pairwise.a], own[ds.pairwise.b]


def audit_judges(
    ds: Dataset,
    reference: Dataset | None = None,
    *,
    self_pattern: str | None = None,
    orders: tuple[np.ndarray, np.ndarray] | None = None,
    min_ratio: float = 1.5,
    min_kappa: float = 0.2,
    min_consistency: float = 0.8,
    alpha: float = 0.05,
    default_name: str = "judge",
) -> list[JudgeAudit]:
    """Audit every annotator of ``ds`` (rows without one form the judge ``default_name``).

    ``orders``: per-row verdicts of the two orders (in the row's a/b terms, -1 where not asked), as written by
    ``prefkit judge run``; with them the position share is computed from the single-order verdicts.
    """
    pw = ds.pairwise
    if not len(pw):
        raise DataProblemError("no pairwise verdicts to audit")
    pattern = re.compile(self_pattern) if self_pattern else None
    la, lb, has = _lengths(ds)
    ref_pairs: dict[tuple[str, str, str], int] = {}
    ref_len = ref_self = None
    ref_pos = None
    if reference is not None:
        if not len(reference.pairwise):
            raise DataProblemError("the reference has no pairwise judgments")
        ref_pairs = majority_labels(reference)
        rla, rlb, rhas = _lengths(reference)
        ro = reference.pairwise.outcome
        ref_len = (np.where(rhas, ro, OUTCOME_TIE), rla, rlb)
        if pattern is not None:
            ref_self = (ro, *_own(reference, pattern))
        ref_pos = position_bias(ro, alpha=alpha)
    keys, a_lo = _pair_keys(ds)
    own = _own(ds, pattern) if pattern is not None else None
    out = []
    for code in np.unique(pw.annotator).tolist():
        rows = np.flatnonzero(pw.annotator == code)
        name = ds.annotators.name(code) if code >= 0 else default_name
        o = pw.outcome[rows]
        notes = []
        if orders is not None and (orders[0][rows] >= 0).any():
            o1, o2 = orders[0][rows], orders[1][rows]
            both = (o1 >= 0) & (o2 >= 0)
            # order 2 showed b first: its first-shown pick is b winning in the row's terms
            shown_first = np.concatenate([o1[o1 >= 0], np.where(o2 == OUTCOME_B, OUTCOME_A,
                                          np.where(o2 == OUTCOME_A, OUTCOME_B, o2))[o2 >= 0]])  # fmt: skip
            pos = position_bias(shown_first, alpha=alpha)
            swap = swap_consistency(o1[both], o2[both], min_consistency=min_consistency, alpha=alpha)
            notes.append("position from the single-order verdicts (both orders asked)")
        else:
            pos = position_bias(o, alpha=alpha)
            swap = None
        if not has[rows].any():
            notes.append("no response texts: length bias not measured")
        length = length_bias(
            np.where(has[rows], o, OUTCOME_TIE),
            la[rows],
            lb[rows],
            reference=ref_len,
            min_ratio=min_ratio,
            alpha=alpha,
        )
        agree = None
        if reference is not None:
            lab = _canonical(o, a_lo[rows])
            pairs = [
                (lbl, ref_pairs.get(keys[r])) for lbl, r in zip(lab.tolist(), rows.tolist(), strict=True)
            ]
            pairs = [(x, y) for x, y in pairs if y is not None]
            if pairs:
                x, y = (np.asarray(v) for v in zip(*pairs, strict=True))
                agree = agreement(x, y, min_kappa=min_kappa, alpha=alpha)
            else:
                notes.append("no pair in common with the reference")
        selfp = None
        if own is not None:
            selfp = self_preference(o, own[0][rows], own[1][rows], reference=ref_self, alpha=alpha)
        ties = float((o >= OUTCOME_TIE).mean())
        out.append(JudgeAudit(name, len(rows), ties, pos, length, agree, selfp, swap, ref_pos, notes=notes))
    return out
