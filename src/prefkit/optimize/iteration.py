"""Iteration data for DNO / INPO / SPPO: K samples per prompt from the current policy, judged against each other.

The judge is anything with the :class:`PairJudge` signature (a batch of ``(prompt, first, second)`` triples ->
the probability that ``first`` is better), so the same code runs with an LLM judge from ``annotation/``, the
packaged local model, a general preference model, or a scripted judge in a test; this module imports no backend.
Each unordered pair is judged in both positions and the two answers averaged, which cancels a position bias.

From the win matrix ``P[i, j] = P(y_i beats y_j)`` each sample gets its win rate against the policy,
``w_i = mean_{j != i} P[i, j]`` (an estimate of ``P(y_i beats pi_t)``), and the iteration yields:

* large-margin preference pairs (DNO-Prct, Rosset et al. 2024): the highest against the lowest win rate when
  ``w_max - w_min > min_margin``, with both win rates (the soft target of :func:`~prefkit.optimize.losses.dno_loss`);
* SPPO rows: every sample with its win rate (:func:`~prefkit.optimize.losses.sppo_loss`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from prefkit.errors import DataProblemError, ValidationError


class PairJudge(Protocol):
    """``judge(prompts, first, second)`` -> array of P(first is better than second), one per triple."""

    def __call__(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> Any: ...


class Sampler(Protocol):
    """``sampler(prompts, k)`` -> ``k`` sampled responses per prompt (the current policy)."""

    def __call__(self, prompts: Sequence[str], k: int) -> list[list[str]]: ...


@dataclass(frozen=True)
class IterationData:
    """Win matrices, win rates and the training rows of one iteration."""

    win: list[np.ndarray]
    win_rate: list[np.ndarray]
    pairs: list[dict[str, Any]]
    sppo: list[dict[str, Any]]
    skipped: int


def win_matrices(
    prompts: Sequence[str], samples: Sequence[Sequence[str]], judge: PairJudge
) -> list[np.ndarray]:
    """``P[i, j]`` per prompt from one batched judge call over every ordered pair (both positions)."""
    if len(prompts) != len(samples):
        raise ValidationError(
            f"{len(prompts)} prompts but {len(samples)} sample lists; give one list per prompt"
        )
    qs: list[str] = []
    fs: list[str] = []
    ss: list[str] = []
    where: list[tuple[int, int, int]] = []
    for p, (prompt, ys) in enumerate(zip(prompts, samples, strict=True)):
        for i in range(len(ys)):
            for j in range(len(ys)):
                if i != j:
                    qs.append(prompt)
                    fs.append(ys[i])
                    ss.append(ys[j])
                    where.append((p, i, j))
    probs = np.asarray(judge(qs, fs, ss), dtype=np.float64).reshape(-1) if qs else np.zeros(0)
    if len(probs) != len(qs):
        raise ValidationError(f"the judge returned {len(probs)} probabilities for {len(qs)} comparisons")
    if np.isnan(probs).any() or ((probs < 0) | (probs > 1)).any():
        bad = int(np.flatnonzero(np.isnan(probs) | (probs < 0) | (probs > 1))[0])
        raise DataProblemError(
            f"the judge returned {probs[bad]!r} for prompt {where[bad][0]} (samples {where[bad][1]}, "
            f"{where[bad][2]}); a judge must return probabilities in [0, 1]"
        )
    raw = [np.full((len(ys), len(ys)), np.nan) for ys in samples]
    for (p, i, j), v in zip(where, probs.tolist(), strict=True):
        raw[p][i, j] = v
    # average the two positions: P[i, j] = (raw[i, j] + 1 - raw[j, i]) / 2
    out = []
    for m in raw:
        sym = (m + 1.0 - m.T) / 2.0
        np.fill_diagonal(sym, 0.5)
        out.append(sym)
    return out


def iteration_data(
    prompts: Sequence[str],
    samples: Sequence[Sequence[str]],
    judge: PairJudge,
    *,
    min_margin: float = 0.0,
) -> IterationData:
    """Judge the samples and build DNO/INPO pairs and SPPO rows (TRL text format plus win-rate columns)."""
    win = win_matrices(prompts, samples, judge)
    rates: list[np.ndarray] = []
    pairs: list[dict[str, Any]] = []
    sppo: list[dict[str, Any]] = []
    skipped = 0
    for prompt, ys, m in zip(prompts, samples, win, strict=True):
        k = len(ys)
        if k < 2:
            skipped += 1
            rates.append(np.full(k, 0.5))
            continue
        w = (m.sum(axis=1) - 0.5) / (k - 1)
        rates.append(w)
        sppo += [
            {"prompt": prompt, "completion": y, "win_rate": float(r)} for y, r in zip(ys, w, strict=True)
        ]
        best, worst = int(np.argmax(w)), int(np.argmin(w))
        if w[best] - w[worst] > min_margin and ys[best] != ys[worst]:
            pairs.append(
                {
                    "prompt": prompt,
                    "chosen": ys[best],
                    "rejected": ys[worst],
                    "chosen_win_rate": float(w[best]),
                    "rejected_win_rate": float(w[worst]),
                }
            )
        else:
            skipped += 1
    if not pairs and not sppo:
        raise DataProblemError("no prompt has two or more samples: sample K >= 2 responses per prompt")
    return IterationData(win, rates, pairs, sppo, skipped)


def sample_and_judge(
    prompts: Sequence[str], sampler: Sampler, judge: PairJudge, k: int = 4, *, min_margin: float = 0.0
) -> IterationData:
    """One on-policy step's data: ``k`` samples per prompt from ``sampler``, judged by ``judge``."""
    if k < 2:
        raise ValidationError(f"k must be >= 2 samples per prompt, got {k}")
    samples = sampler(prompts, k)
    return iteration_data(prompts, samples, judge, min_margin=min_margin)
