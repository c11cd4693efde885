"""Leaderboards per criterion: never pooled, recovered per criterion against a simulation's truth, Pareto with
intervals, hierarchical roll-ups, and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau
from typer.testing import CliRunner

from prefkit.cli.main import app
from prefkit.errors import ValidationError
from prefkit.ranking.pareto import dominance_matrix, parse_weights

runner = CliRunner()


def _write(path: Path, crit_theta: dict[str, np.ndarray], n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    rows = []
    for crit, theta in crit_theta.items():
        a = rng.integers(0, len(theta), n)
        b = (a + rng.integers(1, len(theta), n)) % len(theta)
        p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
        win = rng.random(n) < p
        for x, y, w in zip(a, b, win, strict=True):
            rows.append(
                {
                    "type": "pairwise",
                    "a": f"m{x}",
                    "b": f"m{y}",
                    "outcome": "a" if w else "b",
                    "criterion": crit,
                }
            )
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


THETA = np.linspace(-1.5, 1.5, 6)


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_all_recovers_opposite_orders(tmp_path):
    f = tmp_path / "two.jsonl"
    _write(f, {"helpful": THETA, "harmless": -THETA}, 3000)
    res = _run("rank", str(f), "--criterion", "all", "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out["criteria"]) == {"helpful", "harmless"}
    for crit, truth in (("helpful", THETA), ("harmless", -THETA)):
        board = out["criteria"][crit]["leaderboard"]
        est = {r["name"]: r["rating"] for r in board}
        tau = kendalltau([est[f"m{k}"] for k in range(6)], truth).statistic
        assert tau >= 0.85, (crit, tau)
    # opposite orders: nobody dominates anyone on both criteria, so the whole set is Pareto-optimal
    assert {p["name"] for p in out["pareto"]} == {f"m{k}" for k in range(6)}


def test_several_criteria_without_flag_refused(tmp_path):
    f = tmp_path / "two.jsonl"
    _write(f, {"helpful": THETA, "harmless": -THETA}, 200)
    res = _run("rank", str(f))
    assert res.exit_code == 2
    assert "helpful" in res.output and "harmless" in res.output and "--criterion" in res.output


def test_unknown_criterion_lists_known(tmp_path):
    f = tmp_path / "two.jsonl"
    _write(f, {"helpful": THETA, "harmless": -THETA}, 200)
    res = _run("rank", str(f), "--criterion", "honest")
    assert res.exit_code == 2
    assert "honest" in res.output and "helpful" in res.output and "harmless" in res.output


def test_one_criterion_matches_its_own_file(tmp_path):
    f = tmp_path / "two.jsonl"
    _write(f, {"helpful": THETA, "harmless": -THETA}, 500)
    res = _run("rank", str(f), "--criterion", "harmless", "--format", "json")
    assert res.exit_code == 0, res.output
    board = json.loads(res.stdout)["leaderboard"]
    assert board[0]["name"] == "m0"  # harmless reverses the helpful order


def test_hierarchy_rolls_up(tmp_path):
    f = tmp_path / "h.jsonl"
    _write(f, {"quality/temporal": THETA, "quality/visual": THETA, "safety": -THETA}, 800)
    res = _run("rank", str(f), "--criterion", "all", "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out["criteria"]) == {"quality", "quality/temporal", "quality/visual", "safety"}
    assert out["criteria"]["quality"]["n_battles"] == 1600
    assert set(out["pareto_criteria"]) == {"quality/temporal", "quality/visual", "safety"}
    res = _run("rank", str(f), "--criterion", "quality", "--format", "json")
    assert json.loads(res.stdout)["leaderboard"][0]["name"] == "m5"


def test_weights_only_when_given(tmp_path):
    f = tmp_path / "two.jsonl"
    _write(f, {"helpful": THETA, "harmless": -0.2 * THETA}, 2000)
    out = json.loads(_run("rank", str(f), "--criterion", "all", "--format", "json").stdout)
    assert "weighted" not in out
    res = _run("rank", str(f), "--criterion", "all", "--format", "json", "--weights", "helpful=1,harmless=1")
    weighted = json.loads(res.stdout)["weighted"]
    assert weighted[0]["name"] == "m5"  # helpful's spread is five times harmless's
    assert _run("rank", str(f), "--criterion", "all", "--weights", "honest=1").exit_code == 2
    assert _run("rank", str(f), "--weights", "helpful=1").exit_code == 2


def test_table_and_csv(tmp_path):
    f = tmp_path / "two.jsonl"
    _write(f, {"helpful": THETA, "harmless": -THETA}, 300)
    res = _run("rank", str(f), "--criterion", "all")
    assert res.exit_code == 0 and "Pareto" in res.output
    res = _run("rank", str(f), "--criterion", "all", "--format", "csv")
    assert res.exit_code == 0 and res.stdout.splitlines()[0].startswith("criterion,rank,name")


def test_dominance_needs_separated_intervals():
    # item 0 better than item 1 on both criteria, intervals separated on the first: dominates
    lower = np.array([[10.0, 5.0], [0.0, 4.0]])
    upper = np.array([[12.0, 9.0], [2.0, 8.0]])
    d = dominance_matrix(lower, upper)
    assert d[0, 1] and not d[1, 0]
    # overlapping on every criterion: no dominance, even with a better point estimate
    upper2 = np.array([[12.0, 9.0], [11.0, 8.0]])
    assert not dominance_matrix(lower, upper2).any()


def test_parse_weights_errors():
    with pytest.raises(ValidationError, match="known"):
        parse_weights("x=1", ["a", "b"])
    with pytest.raises(ValidationError, match="number"):
        parse_weights("a=z", ["a"])
    with pytest.raises(ValidationError, match="positive"):
        parse_weights("a=0", ["a"])


def test_arena_log_has_one_criterion(tmp_path):
    f = tmp_path / "arena.jsonl"
    f.write_text(
        "".join(
            json.dumps({"model_a": "x", "model_b": "y", "winner": "model_a" if i % 3 else "model_b"}) + "\n"
            for i in range(60)
        )
    )
    out = json.loads(_run("rank", str(f), "--criterion", "all", "--format", "json").stdout)
    assert list(out["criteria"]) == ["overall"] and {p["name"] for p in out["pareto"]} == {"x"}
    res = _run("rank", str(f), "--criterion", "helpful")
    assert res.exit_code == 2 and "overall" in res.output
