"""Panels: several judges on the same pairs, their agreement, and majority or weighted verdicts.

:class:`Panel` is itself a :class:`PairJudge`: each member judges every task, and the panel's verdict is the
label (A / B / tie) with the largest total weight among the members that decided (weights default to 1:
the majority); equal top weights give a tie. Members' unparsed or failed verdicts do not vote; a task no
member decided is unparsed. The members' verdicts of the last call stay in ``member_verdicts`` for
:func:`panel_agreement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.analysis.agreement import fleiss_kappa
from prefkit.analysis.judge_audit import cohen_kappa
from prefkit.annotation.types import UNPARSED, PairJudge, PairTask, Verdict
from prefkit.data.model import OUTCOME_TIE
from prefkit.errors import DataProblemError, ValidationError


class Panel:
    """A weighted vote of ``judges`` (see the module doc)."""

    def __init__(
        self, judges: Sequence[PairJudge], *, weights: Sequence[float] | None = None, name: str = "panel"
    ):
        if len(judges) < 2:
            raise ValidationError("a panel needs at least 2 judges")
        w = np.ones(len(judges)) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (len(judges),) or np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
            raise ValidationError("weights: one finite non-negative weight per judge, not all zero")
        self.judges = list(judges)
        self.weights = w
        self._name = name
        self.member_verdicts: list[list[Verdict]] = []

    @property
    def name(self) -> str:
        return self._name

    def judge_pairs(self, tasks: Sequence[PairTask]) -> list[Verdict]:
        self.member_verdicts = [j.judge_pairs(tasks) for j in self.judges]
        out = []
        for t in range(len(tasks)):
            votes = np.zeros(3)
            for w, vs in zip(self.weights, self.member_verdicts, strict=True):
                v = vs[t]
                if v.ok:
                    votes[min(v.outcome, OUTCOME_TIE)] += w
            if votes.sum() == 0:
                out.append(Verdict(UNPARSED, raw="no member decided"))
                continue
            top = np.flatnonzero(votes == votes.max())
            outcome = int(top[0]) if len(top) == 1 else OUTCOME_TIE
            share = float(votes.max() / votes.sum())
            out.append(Verdict(outcome, raw=f"votes a={votes[0]:g} b={votes[1]:g} tie={votes[2]:g}",
                               extra={"share": share}))  # fmt: skip
        return out


@dataclass(frozen=True)
class PanelAgreement:
    fleiss_kappa: float  # over the tasks every member decided
    n_complete: int
    cohen: np.ndarray  # judges x judges Cohen's kappa on tasks both decided (diagonal 1)
    raw: np.ndarray  # judges x judges raw agreement


def panel_agreement(member_verdicts: Sequence[Sequence[Verdict]]) -> PanelAgreement:
    """Agreement between the members' verdicts (labels a / b / tie) on the same tasks."""
    lab = np.asarray([[min(v.outcome, OUTCOME_TIE) if v.ok else -1 for v in vs] for vs in member_verdicts])
    if lab.ndim != 2 or lab.shape[0] < 2:
        raise ValidationError("need the verdicts of at least 2 judges on the same tasks")
    k = lab.shape[0]
    cohen = np.eye(k)
    raw = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            both = (lab[i] >= 0) & (lab[j] >= 0)
            po, kappa, _ = cohen_kappa(lab[i][both], lab[j][both])
            cohen[i, j] = cohen[j, i] = kappa
            raw[i, j] = raw[j, i] = po
    complete = np.all(lab >= 0, axis=0)
    if not complete.any():
        raise DataProblemError("no task was decided by every member")
    counts = np.stack([(lab[:, complete] == c).sum(axis=0) for c in range(3)], axis=1)
    try:
        fk = fleiss_kappa(counts)
    except DataProblemError:
        fk = float("nan")
    return PanelAgreement(fk, int(complete.sum()), cohen, raw)
