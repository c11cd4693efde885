"""Data that cannot support a leaderboard as asked: refused with a message naming the cause, or ranked with a
note naming it (never a silent table, never a numerical error from deep inside)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prefkit.cli.main import app
from prefkit.errors import DataProblemError
from prefkit.ranking.leaderboard import Battles, build_leaderboard
from prefkit.ranking.style import fit_bt_style

NAMES = ("a", "b", "c", "d")


def _battles(rng: np.random.Generator, n: int, items: list[int], outcomes: list[int]) -> tuple[np.ndarray, ...]:
    a = rng.choice(items, n)
    b = np.array([rng.choice([i for i in items if i != x]) for x in a])
    return a, b, rng.choice(outcomes, n)


def test_all_ties_refused_for_every_method() -> None:
    a, b, out = _battles(np.random.default_rng(0), 300, [0, 1, 2, 3], [2])
    for method in ("bt", "elo", "davidson"):
        with pytest.raises(DataProblemError, match="every one of the 300 battles is a tie"):
            build_leaderboard(Battles(a, b, out, NAMES), method=method, rounds=20)


def test_disconnected_graph_with_a_prior_is_noted_with_its_components() -> None:
    rng = np.random.default_rng(1)
    a1, b1, o1 = _battles(rng, 200, [0, 1], [0, 1])
    a2, b2, o2 = _battles(rng, 200, [2, 3], [0, 1])
    data = Battles(np.r_[a1, a2], np.r_[b1, b2], np.r_[o1, o2], NAMES)
    with pytest.raises(DataProblemError, match="disconnected"):
        build_leaderboard(data)  # the MLE does not exist: refused, as before
    for lb in (build_leaderboard(data, prior=1.0), build_leaderboard(data, method="elo", rounds=20)):
        (note,) = [n for n in lb.notes if "disconnected" in n]
        assert "{a, b}" in note and "{c, d}" in note
        assert note in lb.to_dict()["notes"]


def test_connected_graph_has_no_component_note() -> None:
    a, b, out = _battles(np.random.default_rng(2), 400, [0, 1, 2, 3], [0, 1, 2])
    assert not any("disconnected" in n for n in build_leaderboard(Battles(a, b, out, NAMES)).notes)


def test_constant_style_feature_is_named() -> None:
    rng = np.random.default_rng(3)
    a, b, out = _battles(rng, 400, [0, 1, 2, 3], [0, 1])
    X = np.c_[rng.normal(size=400), np.full(400, 0.3)]
    with pytest.raises(DataProblemError, match="style feature bold has the same value in every battle"):
        fit_bt_style(a, b, out, X, 4, feature_names=("length", "bold"))
    with pytest.raises(DataProblemError, match="linearly dependent"):
        fit_bt_style(a, b, out, np.c_[X[:, 0], 2 * X[:, 0]], 4, feature_names=("length", "twice"))
    fit = fit_bt_style(a, b, out, X, 4, feature_names=("length", "bold"), coef_prior=1.0)  # a prior makes it fit
    assert np.all(np.isfinite(fit.theta))


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    runner = CliRunner()
    pairs = [("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")]
    rows = [
        {"model_a": x, "model_b": y, "winner": str(rng.choice(["model_a", "model_b"])), "style_len_a": 5,
         "style_len_b": 5}
        for x, y in pairs * 60
    ]  # fmt: skip
    disc = _write(tmp_path / "disc.jsonl", rows)
    res = runner.invoke(app, ["rank", str(disc), "--prior", "1", "--format", "csv"])
    assert res.exit_code == 0, res.stderr
    assert "disconnected components: {a, b}; {c, d}" in res.stderr and "note:" not in res.stdout
    res = runner.invoke(app, ["rank", str(disc), "--prior", "1"])
    assert "disconnected components" in " ".join(res.stdout.split())
    ties = _write(tmp_path / "ties.jsonl", [{**r, "winner": "tie"} for r in rows])
    res = runner.invoke(app, ["rank", str(ties), "--prior", "1"])
    assert res.exit_code == 2 and res.stderr.startswith("error: every one of the 240 battles is a tie")
    res = runner.invoke(app, ["rank", str(disc), "--prior", "1", "--style-control"])
    assert res.exit_code == 2 and "the same value in every battle" in res.stderr, res.stderr
