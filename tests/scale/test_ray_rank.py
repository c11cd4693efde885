"""Leaderboards and summaries on a real two-node Ray cluster equal the local engine's on the same shards."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from prefkit.cli.main import app
from prefkit.data.summary import summarize
from prefkit.errors import InputError, MissingDependencyError, ValidationError
from prefkit.ranking.counts import CountTable, count_pairwise, merge_count_tables
from prefkit.ranking.leaderboard import build_leaderboard
from prefkit.storage import rank_input

LABELS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"])


def _battles(rng: np.random.Generator, n: int, n_models: int = 9) -> dict[str, np.ndarray]:
    """Battles drawn from a Bradley-Terry model with known strengths (so the fit has something to find)."""
    theta = np.linspace(-1.0, 1.0, n_models)
    a = rng.integers(0, n_models, n)
    b = (a + rng.integers(1, n_models, n)) % n_models
    p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
    u = rng.random(n)
    outcome = np.where(u < 0.15, 2 + (u < 0.05), np.where(rng.random(n) < p, 0, 1))
    names = np.array([f"model-{k}" for k in range(n_models)])
    return {"model_a": names[a], "model_b": names[b], "winner": LABELS[outcome]}


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    """Seven Parquet shards (weights, timestamps, several row groups, a judge and question ids; one shard with ids
    and one with a model the others lack) and a CSV battle log beside them."""
    root = tmp_path_factory.mktemp("shards")
    d = root / "log"
    d.mkdir()
    rng = np.random.default_rng(7)
    for s in range(6):
        cols: dict[str, object] = dict(_battles(rng, 1500))
        n = len(cols["model_a"])  # type: ignore[arg-type]
        cols["weight"] = pa.array(np.where(rng.random(n) < 0.1, None, rng.uniform(0.5, 2.0, n)), pa.float64())
        cols["tstamp"] = rng.uniform(1.7e9, 1.8e9, n)
        cols["judge"] = [f"judge-{k}" for k in rng.integers(0, 40, n)]
        cols["question_id"] = rng.integers(0, 900, n)
        if s == 4:
            cols["model_a"] = np.where(np.arange(n) < 30, "newcomer", cols["model_a"])  # type: ignore[call-overload]
            cols["model_b"] = np.where(
                (np.arange(n) < 30) & (cols["model_b"] == "newcomer"),
                "model-0",
                cols["model_b"],  # type: ignore[operator]
            )
        if s == 5:  # ids: read by the local reader, one Ray task for the shard
            cols["id"] = [f"battle-{s}-{k}" for k in range(n)]
        pq.write_table(pa.table(cols), d / f"part-{s:03d}.parquet", row_group_size=500)
    (d / "_SUCCESS").write_text("")  # bookkeeping files are not shards
    csv = _battles(rng, 400)
    lines = ["model_a,model_b,winner"] + [",".join(r) for r in zip(*csv.values(), strict=True)]
    (root / "extra.csv").write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture(scope="module")
def ray(ray_cluster: str):
    """This process connected to the test cluster for the module (each test then reuses the connection)."""
    from prefkit.storage.engine import connect_ray

    mod = connect_ray(ray_cluster)
    yield mod
    mod.shutdown()


def _same_table(x: CountTable, y: CountTable) -> None:
    assert x.names == y.names
    np.testing.assert_array_equal(x.i, y.i)
    np.testing.assert_array_equal(x.j, y.j)
    np.testing.assert_allclose(x.cells, y.cells, rtol=1e-12, atol=1e-9)


def test_merging_shard_tables_equals_counting_the_whole_log() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 6, 500), rng.integers(0, 6, 500)
    keep = a != b
    a, b, o, w = a[keep], b[keep], rng.integers(0, 4, keep.sum()), rng.uniform(0, 2, keep.sum())
    names = tuple(f"m{k}" for k in range(6))
    whole = count_pairwise(a, b, o, n_items=6, weight=w, names=names)
    cut = [0, 100, 250, len(a)]
    parts = []
    for lo, hi in zip(cut, cut[1:], strict=False):  # each shard renumbers its own items, sorted
        used = sorted(set(a[lo:hi]) | set(b[lo:hi]))
        lut = {k: n for n, k in enumerate(used)}
        parts.append(
            count_pairwise(
                [lut[k] for k in a[lo:hi]],
                [lut[k] for k in b[lo:hi]],
                o[lo:hi],
                n_items=len(used),
                weight=w[lo:hi],
                names=[names[k] for k in used],
            )
        )
    _same_table(merge_count_tables(parts), whole)
    with pytest.raises(ValidationError, match="no count tables"):
        merge_count_tables([])


def test_leaderboard_on_ray_equals_local(ray, logs: Path) -> None:
    from prefkit.storage.engine.reduce import ray_counts

    local = rank_input.from_shards(logs)
    on_ray = ray_counts(logs)
    assert isinstance(local, CountTable)
    assert "newcomer" in on_ray.names and on_ray.n_battles > 8000
    _same_table(on_ray, local)
    for method, ci in (("bt", "sandwich"), ("bt", "bootstrap"), ("davidson", "sandwich")):
        lx = build_leaderboard(local, method=method, ci=ci, rounds=200, seed=3)
        ly = build_leaderboard(on_ray, method=method, ci=ci, rounds=200, seed=3)
        for rx, ry in zip(lx.rows(), ly.rows(), strict=True):
            assert rx.name == ry.name
            for f in ("rating", "lower", "upper", "battles"):
                assert getattr(rx, f) == pytest.approx(getattr(ry, f), abs=1e-9, rel=0)


def test_a_glob_mixing_parquet_and_csv_equals_local(ray, logs: Path) -> None:
    from prefkit.storage.engine.reduce import ray_counts

    pattern = str(logs.parent / "*" / "part-00[12].parquet")
    _same_table(ray_counts(pattern), rank_input.from_shards(pattern))
    mixed = str(logs.parent / "extra.csv")
    _same_table(ray_counts(mixed), rank_input.from_shards(mixed))


def test_info_on_ray_equals_local_info_of_the_whole_log(ray, logs: Path, tmp_path: Path) -> None:
    from prefkit.storage.engine.reduce import ray_summary

    shards = sorted(logs.glob("part-*.parquet"))
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.concat_tables([pq.read_table(p) for p in shards], promote_options="default"), whole)
    got = ray_summary(logs).to_dict()
    assert got == summarize(whole).to_dict()
    assert got["annotators"] == 40 and got["contexts"] > 800


def _bad_shards(d: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    ok = _battles(rng, 200)
    out = {}
    for name, change in {
        "bad-winner": lambda c: c["winner"].__setitem__(57, "model_c"),
        "self-battle": lambda c: c["model_b"].__setitem__(120, c["model_a"][120]),
        "negative-weight": lambda c: c.__setitem__("weight", np.where(np.arange(200) == 33, -1.0, 1.0)),
        "duplicate-id": lambda c: c.__setitem__("id", [f"x{min(k, 198)}" for k in range(200)]),
        "blank-name": lambda c: c["model_a"].__setitem__(9, "   "),
    }.items():
        cols = {k: v.astype(object) for k, v in ok.items()}
        change(cols)
        sub = d / name
        sub.mkdir()
        pq.write_table(pa.table(ok), sub / "part-000.parquet")
        pq.write_table(pa.table(cols), sub / "part-001.parquet", row_group_size=64)
        out[name] = sub
    return out


def test_a_bad_row_in_a_shard_gives_the_local_file_line_error(ray, tmp_path: Path) -> None:
    from prefkit.storage.engine.reduce import ray_counts

    for name, d in _bad_shards(tmp_path).items():
        with pytest.raises(InputError) as local:
            rank_input.from_shards(d)
        with pytest.raises(InputError) as on_ray:
            ray_counts(d)
        assert str(on_ray.value) == str(local.value), name
        assert str(local.value).startswith(f"{d / 'part-001.parquet'}:"), name


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_cli_rank_and_info_with_engine_ray(ray, ray_cluster: str, logs: Path) -> None:
    common = ["--format", "json", "--ci", "bootstrap", "--rounds", "50", "--quiet"]
    code, out, err = _cli("rank", str(logs), *common)
    assert code == 0, err
    code, out_ray, err = _cli("rank", str(logs), *common, "--engine", "ray", "--ray-address", ray_cluster)
    assert code == 0, err
    x, y = json.loads(out), json.loads(out_ray)
    assert x["n_battles"] == y["n_battles"]
    assert [r["name"] for r in x["leaderboard"]] == [r["name"] for r in y["leaderboard"]]
    for rx, ry in zip(x["leaderboard"], y["leaderboard"], strict=True):
        assert rx["rating"] == pytest.approx(ry["rating"], abs=1e-9)
        assert rx["lower"] == pytest.approx(ry["lower"], abs=1e-9)
    code, out, err = _cli("info", str(logs), "--engine", "ray", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["pairwise"] == 9000
    for args, message in (
        (["rank", str(logs), "--engine", "ray", "--style-control"], "--style-control needs every battle"),
        (
            ["rank", str(logs), "--engine", "ray", "--method", "elo"],
            "--method elo needs the battles one by one",
        ),
        (["rank", str(logs), "--ray-address", ray_cluster], "--ray-address only applies to --engine ray"),
        (["info", str(logs)], "shards: --engine ray"),
        (["info", str(logs), "--engine", "ray", "--skip-bad"], "--skip-bad reads rows one by one"),
        (["rank", str(logs / "nothing-*.parquet"), "--engine", "ray"], "no file matches this pattern"),
        (["rank", str(logs), "--engine", "spark"], "engine must be one of local, ray"),
    ):
        code, out, err = _cli(*args)
        assert code == 2 and err.count("error:") == 1 and message in err, (args, err)


def test_cli_address_that_does_not_answer_fails_in_seconds(logs: Path, require_peer) -> None:
    require_peer("ray", "ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()  # a fresh process: this one may already be connected to the test cluster
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "prefkit.cli.main",
            "rank",
            str(logs),
            "--engine",
            "ray",
            "--ray-address",
            f"127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - t0 < 30  # the interpreter's start included; the probe itself waits 10 s at most
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(f"error: no Ray cluster answers at 127.0.0.1:{port}")


def test_without_ray_the_install_hint(monkeypatch, logs: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    from prefkit.storage.engine.reduce import ray_counts

    with pytest.raises(MissingDependencyError, match=r"pip install 'prefkit\[ray\]'"):
        ray_counts(logs)
    code, _, err = _cli("rank", str(logs), "--engine", "ray")
    assert code == 2 and "prefkit[ray]" in err
