"""``prefkit rank --db``: leaderboards straight from the project store, equal to ranking the exported file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

NAMES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
THETA = np.array([1.2, 0.7, 0.3, 0.0, -0.5, -1.1])
WINNER = np.array(["model_a", "model_b", "tie", "tie (bothbad)"])


def simulate(n: int, seed: int) -> list[dict]:
    """Battles from known Bradley-Terry strengths (ties at random), with weights, times, ids and questions."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, n)
    b = (a + rng.integers(1, 6, n)) % 6
    p = 1 / (1 + np.exp(-(THETA[a] - THETA[b])))
    out = np.where(rng.random(n) < p, 0, 1)
    out = np.where(rng.random(n) < 0.1, rng.integers(2, 4, n), out)
    return [
        {
            "model_a": NAMES[a[k]],
            "model_b": NAMES[b[k]],
            "winner": str(WINNER[out[k]]),
            "weight": float(rng.choice([1.0, 0.5, 2.0])),
            "tstamp": 1.7e9 + k,
            "id": f"s{seed}-{k}",
            "question_id": f"q{k % 40}",
        }
        for k in range(n)
    ]


def write_jsonl(path: Path, recs: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def assert_same_json(x: object, y: object, path: str = "") -> None:
    """Equal JSON documents, numbers to 1e-9."""
    if isinstance(x, dict) and isinstance(y, dict):
        assert x.keys() == y.keys(), path
        for k in x:
            assert_same_json(x[k], y[k], f"{path}.{k}")
    elif isinstance(x, list) and isinstance(y, list):
        assert len(x) == len(y), path
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            assert_same_json(u, v, f"{path}[{i}]")
    elif isinstance(x, float) or isinstance(y, float):
        assert isinstance(x, int | float) and isinstance(y, int | float), path
        assert abs(x - y) <= 1e-9 or (np.isnan(x) and np.isnan(y)), (path, x, y)
    else:
        assert x == y, path


@pytest.fixture
def store(tmp_path, cli) -> tuple[Path, Path]:
    log = write_jsonl(tmp_path / "logs" / "battles.jsonl", simulate(3000, seed=1))
    db = tmp_path / "project.db"
    assert cli("import", str(log), "--db", str(db)).code == 0
    return db, log


@pytest.mark.parametrize(
    "args",
    [
        ("--method", "bt"),
        ("--method", "bt", "--ci", "bootstrap", "--rounds", "50", "--seed", "3"),
        ("--method", "davidson"),
        ("--method", "rao-kupper", "--ties", "drop"),
        ("--method", "elo", "--rounds", "20"),
        ("--method", "pl", "--ci", "none"),
        ("--method", "bt", "--anchor", "delta=1000", "--raw"),
    ],
)
def test_rank_db_equals_rank_of_exported_file(store, tmp_path, cli, args):
    db, log = store
    out = tmp_path / "out.jsonl"
    assert cli("export", "--db", str(db), str(out), "--to", "arena").code == 0
    from_db = cli("rank", "--db", str(db), "--criterion", "overall", "--format", "json", *args)
    from_file = cli("rank", str(out), "--format", "json", *args)
    from_log = cli("rank", str(log), "--format", "json", *args)
    assert from_db.code == from_file.code == from_log.code == 0, (from_db.err, from_file.err)
    assert_same_json(json.loads(from_db.out), json.loads(from_file.out))
    assert_same_json(json.loads(from_db.out), json.loads(from_log.out))


def test_rank_db_recovers_known_strengths(store, cli):
    db, _ = store
    res = cli("rank", "--db", str(db), "--format", "json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)["leaderboard"]
    assert [r["name"] for r in rows] == NAMES  # simulated order, strongest first
    rating = {r["name"]: r["rating"] for r in rows}
    # Elo scale: 400 / ln(10) points per unit of logit strength
    gap = (rating["alpha"] - rating["zeta"]) * np.log(10) / 400
    assert gap == pytest.approx(THETA[0] - THETA[-1], abs=0.3)


def test_rank_db_filters(tmp_path, cli):
    rng = np.random.default_rng(5)
    theta = np.array([2.0, 1.2, 0.4, -0.4, -1.2, -2.0])
    recs = []
    for k in range(3000):
        i, j = rng.choice(6, 2, replace=False)
        crit = "helpful" if k % 2 else "harmless"
        # on "harmless" the order is reversed: pooling the criteria would hide both
        d = theta[i] - theta[j] if crit == "helpful" else theta[j] - theta[i]
        win = "a" if rng.random() < 1 / (1 + np.exp(-d)) else "b"
        kind = "human" if k % 3 else "model"
        recs.append(
            {
                "type": "pairwise",
                "a": NAMES[i],
                "b": NAMES[j],
                "outcome": win,
                "criterion": crit,
                "annotator": f"{kind}-{k % 5}",
                "annotator_kind": kind,
            }
        )
    log = write_jsonl(tmp_path / "multi.jsonl", recs)
    db = tmp_path / "p.db"
    assert cli("import", str(log), "--db", str(db)).code == 0
    res = cli("rank", "--db", str(db))
    assert res.code == 2 and "2 criteria" in res.err and "--criterion" in res.err, res.err
    for crit, order in (("helpful", NAMES), ("harmless", NAMES[::-1])):
        res = cli("rank", "--db", str(db), "--criterion", crit, "--format", "json")
        assert res.code == 0, res.err
        assert [r["name"] for r in json.loads(res.out)["leaderboard"]] == order
        out = tmp_path / f"{crit}.jsonl"
        assert cli("export", "--db", str(db), str(out), "--to", "arena", "--criterion", crit).code == 0
        assert_same_json(json.loads(res.out), json.loads(cli("rank", str(out), "--format", "json").out))
    human = cli("rank", "--db", str(db), "--criterion", "helpful", "--annotator-kind", "human", "-f", "json")
    human_doc = json.loads(human.out)
    assert sum(r["battles"] for r in human_doc["leaderboard"]) == 2 * sum(
        1 for k, r in enumerate(recs) if r["criterion"] == "helpful" and r["annotator_kind"] == "human"
    )
    res = cli("rank", "--db", str(db), "--criterion", "honest")
    assert res.code == 2 and "known criteria: " in res.err and "helpful" in res.err
    res = cli("rank", "--db", str(db), "--criterion", "helpful", "--annotator-kind", "robot")
    assert res.code == 2 and "human, model" in res.err


def test_source_by_path_file_name_or_same_file(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = write_jsonl(tmp_path / "a" / "battles.jsonl", simulate(800, seed=2))
    b = write_jsonl(tmp_path / "b" / "more.jsonl", simulate(800, seed=3))
    db = tmp_path / "p.db"
    assert cli("import", "a/battles.jsonl", "--db", str(db)).code == 0
    assert cli("import", str(b), "--db", str(db)).code == 0
    alone = json.loads(cli("rank", str(a), "-f", "json").out)
    for name in ("a/battles.jsonl", "battles.jsonl", str(a), "./a/../a/battles.jsonl"):
        res = cli("rank", "--db", str(db), "--source", name, "-f", "json")
        assert res.code == 0, (name, res.err)
        assert_same_json(json.loads(res.out), alone)
        out = tmp_path / "exp.jsonl"
        assert cli("export", "--db", str(db), str(out), "--source", name, "--to", "arena").code == 0
        assert len(out.read_text().splitlines()) == 800
    os.chdir(tmp_path / "b")  # the relative path given at import means another file from here
    res = cli("rank", "--db", str(db), "--source", "more.jsonl", "-f", "json")
    assert res.code == 0
    res = cli("rank", "--db", str(db), "--source", "nothing.jsonl")
    assert (
        res.code == 2 and "never imported" in res.err and "a/battles.jsonl" in res.err and str(b) in res.err
    )
    c = write_jsonl(tmp_path / "c" / "battles.jsonl", simulate(50, seed=4))
    assert cli("import", str(c), "--db", str(db)).code == 0
    res = cli("export", "--db", str(db), str(tmp_path / "x.jsonl"), "--source", "battles.jsonl")
    assert res.code == 2 and "2 different imported files" in res.err, res.err


def test_rank_db_bad_usage(store, tmp_path, cli):
    db, log = store
    for args, needle in (
        ((), "exactly one of FILE or --db"),
        ((str(log), "--db", str(db)), "exactly one of FILE or --db"),
        ((str(log), "--source", "x.jsonl"), "use them with --db"),
        (("--db", str(tmp_path / "none.db")), "no such store"),
        (("--db", str(db), "--style-control"), "style"),
        (("--db", str(db), "--method", "glicko"), "--method"),
    ):
        res = cli("rank", *args)
        assert res.code == 2 and res.err.startswith("error: ") and needle in res.err, (args, res.err)
    assert not (tmp_path / "none.db").exists()


def test_rankings_only_need_plackett_luce(tmp_path, cli):
    recs = [{"type": "ranking", "ranking": r} for r in (["x", "y", "z"], ["y", "x", "z"], ["z", "y", "x"])]
    log = write_jsonl(tmp_path / "rk.jsonl", recs * 3)
    db = tmp_path / "rk.db"
    assert cli("import", str(log), "--db", str(db)).code == 0
    for src in ((str(log),), ("--db", str(db))):
        res = cli("rank", *src)
        assert res.code == 2 and "--method pl" in res.err, res.err
    a = cli("rank", str(log), "--method", "pl", "-f", "json")
    b = cli("rank", "--db", str(db), "--method", "pl", "-f", "json")
    assert a.code == b.code == 0
    assert_same_json(json.loads(a.out), json.loads(b.out))
