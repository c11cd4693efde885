"""Shards on one machine (no Ray): a directory or glob ranks as the one file holding the same battles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from prefkit.cli.main import app
from prefkit.errors import InputError
from prefkit.ranking.counts import CountTable
from prefkit.storage import rank_input
from prefkit.storage.shards import resolve_shards

LABELS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"])


def _log(rng: np.random.Generator, n: int) -> pa.Table:
    names = np.array([f"m{k}" for k in range(7)])
    a = rng.integers(0, 7, n)
    b = (a + rng.integers(1, 7, n)) % 7
    return pa.table(
        {
            "model_a": names[a],
            "model_b": names[b],
            "winner": LABELS[rng.choice(4, n, p=[0.45, 0.35, 0.15, 0.05])],
            "weight": rng.uniform(0.2, 3.0, n),
        }
    )


@pytest.fixture()
def split(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(11)
    parts = [_log(rng, n) for n in (300, 1, 700, 250)]
    d = tmp_path / "log" / "day=2"
    d.mkdir(parents=True)
    for k, t in enumerate(parts):
        pq.write_table(t, (d.parent if k < 2 else d) / f"part-{k}.parquet")
    (d / ".part-0.parquet.crc").write_text("x")
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.concat_tables(parts), whole)
    return d.parent, whole


def test_shards_rank_as_the_whole_file(split: tuple[Path, Path]) -> None:
    d, whole = split
    assert [str(p.relative_to(d)) for p in resolve_shards(d)] == [  # sorted paths; the .crc file skipped
        "day=2/part-2.parquet",
        "day=2/part-3.parquet",
        "part-0.parquet",
        "part-1.parquet",
    ]
    x, y = rank_input.from_shards(d), rank_input.from_file(whole)
    assert isinstance(x, CountTable) and isinstance(y, CountTable)
    assert x.names == y.names
    np.testing.assert_allclose(x.cells, y.cells, rtol=1e-12)
    runner = CliRunner()
    args = ["--format", "json", "--method", "davidson", "--ci", "bootstrap", "--rounds", "40", "--quiet"]
    rx = runner.invoke(app, ["rank", str(d / "**" / "*.parquet"), *args])
    ry = runner.invoke(app, ["rank", str(whole), *args])
    assert rx.exit_code == 0 and ry.exit_code == 0, rx.stderr + ry.stderr
    for a, b in zip(json.loads(rx.stdout)["leaderboard"], json.loads(ry.stdout)["leaderboard"], strict=True):
        assert a["name"] == b["name"]
        assert a["rating"] == pytest.approx(b["rating"], abs=1e-9)
        assert a["upper"] == pytest.approx(b["upper"], abs=1e-9)


def test_bad_shard_specs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Parquet shards"):
        resolve_shards(tmp_path / "empty")
    with pytest.raises(InputError, match="no file matches this pattern"):
        resolve_shards(str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match="no such file"):
        resolve_shards(tmp_path / "nothing.parquet")
    res = CliRunner().invoke(app, ["rank", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "no Parquet shards" in res.stderr


def test_a_bad_shard_is_named(split: tuple[Path, Path]) -> None:
    d, _ = split
    bad = d / "day=2" / "part-2.parquet"
    t = pq.read_table(bad)
    winners = t.column("winner").to_pylist()
    winners[41] = "model_c"
    pq.write_table(t.set_column(2, "winner", pa.array(winners)), bad)
    with pytest.raises(InputError, match=rf"^{bad}:\d+: unknown winner 'model_c'"):
        rank_input.from_shards(d)
