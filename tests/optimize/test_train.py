"""A real DPO run: TRL's DPOTrainer on CPU, the offline SmolLM2-135M model, rows that prefkit built; and the
pieces of the on-policy recipe (sample with the local model, judge, build pairs)."""

from __future__ import annotations

import math

import pytest
from _files import write_jsonl

pytest.importorskip("trl")
pytest.importorskip("gguf")

from prefkit.optimize.build import build  # noqa: E402
from prefkit.optimize.iteration import sample_and_judge  # noqa: E402
from prefkit.optimize.local_model import load_local_model, smollm2_gguf  # noqa: E402
from prefkit.optimize.recipes import RecipeOptions  # noqa: E402
from prefkit.optimize.train import DpoConfig, read_rows, run_dpo, sample_responses  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local():
    try:
        smollm2_gguf()
    except Exception as exc:  # the model package is optional
        pytest.skip(str(exc))
    return load_local_model()


def _ranked_file(path):
    recs = []
    for i in range(4):
        recs.append({"type": "context", "id": f"q{i}", "text": f"What is {i} plus {i}?"})
        recs.append({"type": "item", "id": f"good{i}", "text": f"{i} plus {i} is {2 * i}."})
        recs.append({"type": "item", "id": f"bad{i}", "text": "I will not answer that."})
        recs.append({"type": "item", "id": f"meh{i}", "text": f"Maybe {2 * i + 1}?"})
        recs.append({"type": "ranking", "ranking": [f"good{i}", f"meh{i}", f"bad{i}"], "context": f"q{i}"})
    return write_jsonl(path, recs)


def test_dpo_loss_goes_down_on_prefkit_rows(tmp_path, local):
    out = tmp_path / "pairs.jsonl"
    build(_ranked_file(tmp_path / "r.jsonl"), out, RecipeOptions("best-worst", conversational=True))
    rows = read_rows(out)
    seen = []
    run = run_dpo(
        rows,
        DpoConfig(max_steps=3, per_device_train_batch_size=2, max_length=48, learning_rate=2e-5),
        local=local,
        on_step=seen.append,
    )
    assert [s.step for s in run.steps] == [1, 2, 3] and seen == run.steps
    first, last = run.steps[0], run.steps[-1]
    assert first.loss == pytest.approx(math.log(2), abs=1e-3)  # policy == reference at the first step
    assert last.loss < first.loss - 0.05
    assert last.reward_margin > 0 and last.reward_accuracy > 0.5


def test_on_policy_pieces_sample_judge_pairs(local):
    prompts = ["Name a colour.", "Say hello."]
    samples = sample_responses(local, prompts, k=3, max_new_tokens=8, seed=1)
    assert [len(s) for s in samples] == [3, 3] and all(isinstance(y, str) for s in samples for y in s)

    def shorter_is_better(ps, first, second):  # a scripted judge: prefers the shorter answer
        return [
            0.9 if len(a) < len(b) else (0.5 if len(a) == len(b) else 0.1)
            for a, b in zip(first, second, strict=True)
        ]

    data = sample_and_judge(prompts, lambda ps, k: samples, shorter_is_better, k=3)
    for row in data.pairs:
        assert len(row["chosen"]) <= len(row["rejected"])
