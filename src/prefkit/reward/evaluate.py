"""Evaluation of a reward head on pairs: strict accuracy, per-subset and per-section scores, NLL,
calibration errors, accuracy per annotator group, and k-fold cross-validation.

Accuracy is strict, as in RewardBench: a pair counts as right only when ``r(chosen) > r(rejected)``; a tie
counts as wrong. With ``sections`` (section name -> subset names), each section's score is the pooled
accuracy of its subsets (RewardBench's size-weighted average) and ``section_score`` the mean over sections.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from prefkit.errors import ValidationError
from prefkit.reward.calibration import pair_nll, reliability
from prefkit.reward.pairs import PairFeatures


def accuracy_strict(margins: np.ndarray) -> float:
    """Share of pairs with ``r_chosen - r_rejected > 0`` (ties are wrong)."""
    m = np.asarray(margins)
    if len(m) == 0:
        raise ValidationError("accuracy needs at least one pair")
    return float((m > 0).mean())


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    n: int
    nll: float
    ece: float
    ace: float
    mce: float
    temperature: float
    subsets: dict[str, float] = field(default_factory=dict)
    sections: dict[str, float] = field(default_factory=dict)
    section_score: float | None = None
    temperature_status: str = "fitted"  # see prefkit.reward.calibration.TemperatureFit

    def to_dict(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "n": self.n,
            "nll": self.nll,
            "ece": self.ece,
            "ace": self.ace,
            "mce": self.mce,
            "temperature": self.temperature if self.temperature_status == "fitted" else None,
            "temperature_status": self.temperature_status,
            "subsets": self.subsets,
            "sections": self.sections,
            "section_score": self.section_score,
        }


def evaluate_margins(
    margins: np.ndarray,
    *,
    temperature: float = 1.0,
    temperature_status: str = "fitted",
    subset: np.ndarray | None = None,
    subset_names: Sequence[str] = (),
    sections: Mapping[str, Sequence[str]] | None = None,
    n_bins: int = 10,
) -> Evaluation:
    """All figures from the margins ``r_chosen - r_rejected`` of held-out pairs."""
    m = np.asarray(margins, dtype=np.float64)
    acc = accuracy_strict(m)
    rel = reliability(m, temperature, n_bins)
    per: dict[str, float] = {}
    sec: dict[str, float] = {}
    score = None
    if subset is not None and (np.asarray(subset) >= 0).any():
        s = np.asarray(subset)
        for code in np.unique(s[s >= 0]):
            name = subset_names[code] if code < len(subset_names) else str(code)
            per[name] = accuracy_strict(m[s == code])
        if sections:
            for section, names in sections.items():
                codes = [i for i, nm in enumerate(subset_names) if nm in set(names)]
                rows = np.isin(s, codes)
                if not rows.any():
                    raise ValidationError(
                        f"section {section!r} names no subset present in the data ({list(names)})"
                    )
                sec[section] = accuracy_strict(m[rows])
            score = float(np.mean(list(sec.values())))
    return Evaluation(
        accuracy=acc,
        n=len(m),
        nll=pair_nll(m, temperature),
        ece=rel.ece,
        ace=rel.ace,
        mce=rel.mce,
        temperature=temperature,
        temperature_status=temperature_status,
        subsets=per,
        sections=sec,
        section_score=score,
    )


@dataclass(frozen=True)
class GroupAccuracy:
    per_group: dict[str, float]
    worst: float
    worst_group: str


def group_accuracy(
    margins: np.ndarray, group: np.ndarray, names: Sequence[str] | None = None
) -> GroupAccuracy:
    """Strict accuracy per annotator group and the worst-group figure."""
    m, g = np.asarray(margins), np.asarray(group)
    per = {}
    for code in np.unique(g[g >= 0]):
        per[names[code] if names is not None else str(code)] = accuracy_strict(m[g == code])
    if not per:
        raise ValidationError("group accuracy needs at least one pair with a group")
    worst_group = min(per, key=lambda k: per[k])
    return GroupAccuracy(per, per[worst_group], worst_group)


def kfold_indices(n: int, folds: int, *, groups: np.ndarray | None = None, seed: int = 0) -> list[np.ndarray]:
    """Test indices of each fold; rows sharing a ``groups`` value (e.g. a prompt) share a fold."""
    if folds < 2:
        raise ValidationError(f"cross-validation needs at least 2 folds; got {folds}")
    g = np.arange(n) if groups is None else np.asarray(groups)
    ug, inv = np.unique(g, return_inverse=True)
    if len(ug) < folds:
        raise ValidationError(
            f"{folds} folds need at least {folds} independent pairs (or prompts); got {len(ug)}"
        )
    fold_of = np.random.default_rng(seed).permutation(len(ug)) % folds
    return [np.flatnonzero(fold_of[inv] == f) for f in range(folds)]


@dataclass(frozen=True)
class CVResult:
    accuracy: float
    accuracy_std: float
    ece: float
    nll: float
    train_seconds: float
    folds: list[Evaluation]


def cross_validate(
    fit: Callable[[PairFeatures], Callable[[PairFeatures], np.ndarray]],
    pairs: PairFeatures,
    folds: int = 5,
    *,
    groups: np.ndarray | None = None,
    calibrate: bool = True,
    seed: int = 0,
) -> CVResult:
    """k-fold CV: ``fit(train)`` returns a function giving margins on held-out pairs.

    With ``calibrate`` the temperature is fitted on a held-out 20% of the training folds (split by ``groups``),
    scored by a model fitted on the other 80%: never on the test fold, and never on the pairs the scored model
    was fitted on (whose margins are overconfident).
    """
    from prefkit.reward.calibration import TemperatureFit, calibrate_temperature

    results, secs = [], 0.0
    for test in kfold_indices(len(pairs), folds, groups=groups, seed=seed):
        train = np.setdiff1d(np.arange(len(pairs)), test)
        t0 = time.perf_counter()
        margins_of = fit(pairs.take(train))
        secs += time.perf_counter() - t0
        temp = TemperatureFit(1.0, "not_fitted", 0)
        if calibrate and len(train) >= 10:
            inner = kfold_indices(len(train), 5, groups=None if groups is None else groups[train], seed=seed)[0]
            cal, fit_part = train[inner], np.delete(train, inner)
            temp = calibrate_temperature(fit(pairs.take(fit_part))(pairs.take(cal)))
        te = pairs.take(test)
        results.append(
            evaluate_margins(
                margins_of(te),
                temperature=temp.value,
                temperature_status=temp.status,
                subset=te.subset,
                subset_names=te.subset_names,
            )
        )
    accs = np.array([r.accuracy for r in results])
    return CVResult(
        accuracy=float(accs.mean()),
        accuracy_std=float(accs.std()),
        ece=float(np.mean([r.ece for r in results])),
        nll=float(np.mean([r.nll for r in results])),
        train_seconds=secs / folds,
        folds=results,
    )
