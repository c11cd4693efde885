"""MORE: one head on several datasets with MGDA weights. The min-norm solver is checked against a brute-force
search of the simplex; the fit against the defining property of MGDA (a small dataset is not drowned by a big
one that disagrees with it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prefkit.reward.multi import fit_multi, min_norm_weights

from .conftest import planted_pairs, run


def _brute(G: np.ndarray, n: int = 200) -> float:
    best = np.inf
    K = len(G)
    grid = np.linspace(0, 1, n + 1)
    if K == 2:
        for a in grid:
            best = min(best, float(np.linalg.norm(a * G[0] + (1 - a) * G[1])))
        return best
    for a in grid:
        for b in grid[: n + 1 - int(round(a * n))]:
            best = min(best, float(np.linalg.norm(a * G[0] + b * G[1] + (1 - a - b) * G[2])))
    return best


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_min_norm_weights_match_brute_force(K, seed) -> None:
    G = np.random.default_rng(seed).standard_normal((K, 4))
    a = min_norm_weights(G)
    assert a.min() >= -1e-12 and abs(a.sum() - 1) < 1e-9
    assert np.linalg.norm(a @ G) <= _brute(G) + 1e-3


def test_min_norm_bad_input() -> None:
    from prefkit.errors import ValidationError

    with pytest.raises(ValidationError, match="gradients must be"):
        min_norm_weights(np.zeros(3))


def test_mgda_keeps_a_small_dataset_from_being_drowned() -> None:
    pytest.importorskip("torch")
    big, _ = planted_pairs(3000, 6, seed=1)
    small, _ = planted_pairs(150, 6, seed=2)  # another planted reward: the two disagree
    size = fit_multi([big, small], weighting="size")
    mgda = fit_multi([big, small], weighting="mgda")
    assert mgda.losses[1] < size.losses[1] - 0.02
    assert mgda.mean_weights[1] > 150 / 3150 + 0.1  # far more than its share of the pooled data
    # MGDA ends near a Pareto-stationary point: no step lowers both losses much
    assert mgda.losses[0] < size.losses[0] + 0.3


def _file(path: Path, seed: int, good: str) -> None:
    rows = [
        {"prompt": f"q{seed}-{i}", "chosen": f"{good} answer {i}", "rejected": f"meh reply {i}"}
        for i in range(60)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_multi_from_the_cli(tmp_path, capsys, cache) -> None:
    pytest.importorskip("torch")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _file(a, 0, "kind")
    _file(b, 1, "safe")
    code, out, err = run(
        [
            "reward",
            "multi",
            str(a),
            str(b),
            "--encoder",
            "hashing",
            "--format",
            "json",
            "--out",
            str(tmp_path / "rm"),
            *cache,
        ],
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert [d["name"] for d in res["datasets"]] == [str(a), str(b)]
    assert all(d["accuracy"] > 0.9 for d in res["datasets"])
    assert (tmp_path / "rm" / "config.json").is_file()
    code, out, err = run(["reward", "multi", str(a), str(b), "--encoder", "hashing", *cache], capsys)
    assert code == 0 and "weight" in out


@pytest.mark.parametrize(
    ("extra", "msg"),
    [(["--weighting", "max"], "choose one of mgda, uniform, size"), ([], "at least two files")],
)
def test_multi_bad_input(tmp_path, capsys, cache, extra, msg) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _file(a, 0, "kind")
    _file(b, 1, "safe")
    files = [str(a), str(b)] if extra else [str(a)]
    code, _, err = run(["reward", "multi", *files, "--encoder", "hashing", *extra, *cache], capsys)
    assert code == 2 and msg in err, err
    code, _, err = run(["reward", "multi", str(a), str(tmp_path / "nope.jsonl"), *cache], capsys)
    assert code == 2 and "nope.jsonl" in err
