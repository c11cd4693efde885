"""Annotators: Dawid-Skene on simulated annotators of known accuracy, agreement, camps, spam."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prefkit.analysis.annotators import (
    agreement_with_others,
    annotator_clusters,
    dawid_skene,
    group_alpha,
    majority_vote,
    pairwise_tasks,
    spam_flags,
)
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import DataProblemError, ValidationError


def _simulate(seed: int, n_tasks: int = 800, n_ann: int = 30, per_task: int = 5, k: int = 2):
    rng = np.random.default_rng(seed)
    acc = rng.uniform(0.55, 0.95, size=n_ann)
    acc[0] = 1.0 / k  # a random clicker
    truth = rng.integers(0, k, size=n_tasks)
    task = np.repeat(np.arange(n_tasks), per_task)
    ann = np.concatenate([rng.choice(n_ann, size=per_task, replace=False) for _ in range(n_tasks)])
    right = rng.random(len(task)) < acc[ann]
    wrong = (truth[task] + rng.integers(1, k, size=len(task))) % k
    label = np.where(right, truth[task], wrong)
    return task, ann, label, truth, acc


@pytest.mark.parametrize("k", [2, 3])
def test_dawid_skene_recovers_known_accuracies(k: int) -> None:
    task, ann, label, truth, acc = _simulate(0, k=k)
    ds = dawid_skene(task, ann, label, len(truth), len(acc), k)
    assert ds.converged
    err = np.abs(ds.accuracy - acc)
    assert err.mean() < 0.04 and err.max() < 0.12, err
    assert np.corrcoef(ds.accuracy, acc)[0, 1] > 0.9
    assert abs(ds.accuracy[0] - 1.0 / k) < 0.1  # the random clicker is found
    mv = majority_vote(task, label, len(truth), k)
    assert (ds.labels == truth).mean() >= (mv == truth).mean()


def test_dawid_skene_finds_an_adversarial_annotator() -> None:
    task, ann, label, truth, acc = _simulate(1)
    flip = ann == 5
    label = np.where(flip, 1 - truth[task], label)  # annotator 5 always answers the opposite
    ds = dawid_skene(task, ann, label, len(truth), len(acc), 2)
    assert ds.accuracy[5] < 0.1
    # its confusion matrix is anti-diagonal, so its labels still carry information
    assert ds.confusion[5, 0, 1] > 0.9 and ds.confusion[5, 1, 0] > 0.9


def test_pairwise_tasks_merge_both_orders() -> None:
    task, label, n = pairwise_tasks(
        np.array([0, 1, 0, 2]),
        np.array([1, 0, 1, 3]),
        np.array([OUTCOME_A, OUTCOME_B, OUTCOME_TIE, OUTCOME_B]),
    )
    assert n == 2 and task.tolist() == [0, 0, 0, 1]
    assert label.tolist() == [0, 0, 2, 1]  # (1 vs 0, b wins) = item 0 wins = label 0


def test_agreement_with_others_and_group_alpha() -> None:
    # 3 annotators on 4 tasks; annotator 2 always disagrees with the other two
    task = np.repeat(np.arange(4), 3)
    ann = np.tile([0, 1, 2], 4)
    label = np.array([0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0])
    ag = agreement_with_others(task, ann, label, 4, 3, 2)
    assert ag.tolist() == [0.5, 0.5, 0.0]
    assert group_alpha(task, ann, label, np.array([0, 1]), 4) == pytest.approx(1.0)
    assert group_alpha(task, ann, label, np.array([0, 2]), 4) < 0


def test_clusters_find_two_camps() -> None:
    """Camp B reverses the verdict on 'style' tasks: the clustering separates the camps."""
    rng = np.random.default_rng(3)
    n_tasks, n_ann = 400, 16
    camp = np.repeat([0, 1], n_ann // 2)
    truth = rng.integers(0, 2, n_tasks)
    style = rng.random(n_tasks) < 0.5
    task = np.repeat(np.arange(n_tasks), 8)
    ann = np.concatenate([rng.choice(n_ann, 8, replace=False) for _ in range(n_tasks)])
    want = np.where(style[task] & (camp[ann] == 1), 1 - truth[task], truth[task])
    label = np.where(rng.random(len(task)) < 0.9, want, 1 - want)
    cl = annotator_clusters(task, ann, label, n_tasks, n_ann, 2, n_clusters=2)
    assert len(set(cl.labels[camp == 0])) == 1 and len(set(cl.labels[camp == 1])) == 1
    assert cl.labels[0] != cl.labels[-1]
    assert cl.within > cl.between + 0.2


def test_clusters_need_overlap() -> None:
    with pytest.raises(DataProblemError, match="min_shared"):
        annotator_clusters(np.array([0, 1]), np.array([0, 1]), np.array([0, 1]), 2, 2, 2)


def test_spam_flags() -> None:
    rng = np.random.default_rng(4)
    n = 60
    ann = np.repeat(np.arange(4), n)
    out = rng.choice([OUTCOME_A, OUTCOME_B, OUTCOME_TIE], size=4 * n).astype(np.int8)
    out[:n] = OUTCOME_A  # annotator 0 always picks the left side
    out[n : 2 * n] = OUTCOME_TIE  # annotator 1 always says tie
    secs = rng.uniform(10, 60, size=4 * n)
    secs[3 * n :] = 1.0  # annotator 3 clicks in a second
    rep = spam_flags(out, ann, 5, seconds=secs)
    assert rep.flags[:4] == (("always-left",), ("always-tie",), (), ("too-fast",))
    assert rep.flags[4] == () and rep.n[4] == 0
    assert rep.flagged() == [0, 1, 3]
    # too few judgments: no flag
    assert spam_flags(out[:5], ann[:5], 1).flags == ((),)


def test_bad_inputs() -> None:
    with pytest.raises(ValidationError, match="label"):
        dawid_skene(np.array([0]), np.array([0]), np.array([5]), 1, 1, 2)
    with pytest.raises(DataProblemError, match="no labels"):
        dawid_skene(np.zeros(0), np.zeros(0), np.zeros(0), 1, 1, 2)
    with pytest.raises(ValidationError, match="threshold"):
        spam_flags(np.array([0]), np.array([0]), 1, threshold=0.3)


def test_llmfao_crowd_reliability(shared_data: Path) -> None:
    """Dawid-Skene on the llmfao crowd converges; its labels match GPT-4 about as often as the majority vote
    (45%: crowd and GPT-4 disagree a lot on these pairs); the one always-left worker is flagged."""
    from prefkit.analysis.llmfao import read_llmfao

    p = read_llmfao(shared_data / "llmfao")
    task, label, n_tasks = pairwise_tasks(p.a, p.b, p.outcome, p.context)
    crowd = np.array([n.startswith("crowd:") for n in p.annotator_names])[p.annotator]
    ds = dawid_skene(task[crowd], p.annotator[crowd], label[crowd], n_tasks, len(p.annotator_names), 3)
    assert ds.converged and np.all((ds.accuracy > 0) & (ds.accuracy < 1))
    mv = majority_vote(task[crowd], label[crowd], n_tasks, 3)
    gpt = np.full(n_tasks, -1)
    gpt[task[~crowd]] = label[~crowd]
    assert (gpt >= 0).sum() == 2139
    assert abs((ds.labels == gpt).mean() - (mv == gpt).mean()) < 0.03
    assert 0.4 < (mv == gpt).mean() < 0.5
    rep = spam_flags(p.outcome, p.annotator, len(p.annotator_names))
    assert [(p.annotator_names[k], rep.flags[k]) for k in rep.flagged()] == [("crowd:32", ("always-left",))]
