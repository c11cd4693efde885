"""The DuckDB scan of arena logs and ``prefkit rank`` end to end (the real console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prefkit.cli.main import main
from prefkit.errors import FormatError, InputError
from prefkit.ranking.bt import fit_bt
from prefkit.ranking.counts import count_pairwise
from prefkit.storage.arena_battles import read_battles
from prefkit.storage.arena_scan import scan_counts

PREFKIT = Path(sys.executable).with_name("prefkit")
NAMES = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])
WINNERS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"])


@pytest.fixture(scope="module")
def arena_df():
    rng = np.random.default_rng(31)
    theta = np.array([1.0, 0.5, 0.0, -0.4, -1.0])
    n = 4000
    a = rng.integers(0, 5, n)
    b = (a + rng.integers(1, 5, n)) % 5
    p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
    out = np.where(rng.random(n) < p, 0, 1)
    out = np.where(rng.random(n) < 0.15, rng.integers(2, 4, n), out)
    la, lb = rng.integers(50, 900, n), rng.integers(50, 900, n)
    return pd.DataFrame(
        {
            "model_a": NAMES[a],
            "model_b": NAMES[b],
            "winner": WINNERS[out],
            "sum_assistant_a_tokens": la,
            "sum_assistant_b_tokens": lb,
            "header_count_a": rng.integers(0, 4, n),
            "header_count_b": rng.integers(0, 4, n),
            "list_count_a": rng.integers(0, 6, n),
            "list_count_b": rng.integers(0, 6, n),
            "bold_count_a": rng.integers(0, 5, n),
            "bold_count_b": rng.integers(0, 5, n),
        }
    )


@pytest.fixture(scope="module", params=["parquet", "csv", "jsonl"])
def arena_file(request, arena_df, tmp_path_factory):
    path = tmp_path_factory.mktemp("arena") / f"battles.{request.param}"
    if request.param == "parquet":
        arena_df.to_parquet(path)
    elif request.param == "csv":
        arena_df.to_csv(path, index=False)
    else:
        arena_df.to_json(path, orient="records", lines=True)
    return path


@pytest.fixture(scope="module")
def one_file(arena_df, tmp_path_factory):
    path = tmp_path_factory.mktemp("arena1") / "battles.parquet"
    arena_df.to_parquet(path)
    return path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys):
    """Run ``prefkit rank ...`` in-process (as the console script does) and capture its output."""

    def _run(*args: str) -> Result:
        capsys.readouterr()
        code = 0
        try:
            main(["rank", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return _run


def test_scan_equals_in_memory_counts(arena_file, arena_df):
    table = scan_counts(arena_file)
    codes = {n: k for k, n in enumerate(table.names)}
    a = arena_df.model_a.map(codes).to_numpy()
    b = arena_df.model_b.map(codes).to_numpy()
    out = arena_df.winner.map({"model_a": 0, "model_b": 1, "tie": 2, "tie (bothbad)": 3}).to_numpy()
    ref = count_pairwise(a, b, out, n_items=5)
    np.testing.assert_array_equal(table.cells, ref.cells)
    battles = read_battles(arena_file, style=True)
    assert battles.names == table.names and battles.feature_names == ("length", "headers", "lists", "bold")
    np.testing.assert_allclose(fit_bt(battles.counts()).theta, fit_bt(table).theta)


def test_conv_metadata_struct(tmp_path, arena_df):
    df = arena_df[["model_a", "model_b", "winner"]].copy()
    df["conv_metadata"] = [
        {
            "sum_assistant_a_tokens": int(r.sum_assistant_a_tokens),
            "sum_assistant_b_tokens": int(r.sum_assistant_b_tokens),
            "header_count_a": {"h1": int(r.header_count_a), "h2": 1},
            "header_count_b": {"h1": int(r.header_count_b), "h2": 1},
            "list_count_a": {"ordered": int(r.list_count_a), "unordered": 0},
            "list_count_b": {"ordered": int(r.list_count_b), "unordered": 0},
            "bold_count_a": {"**": int(r.bold_count_a), "__": 0},
            "bold_count_b": {"**": int(r.bold_count_b), "__": 0},
        }
        for r in arena_df.itertuples()
    ]
    path = tmp_path / "meta.jsonl"
    df.to_json(path, orient="records", lines=True)
    battles = read_battles(path, style=True)
    assert battles.features is not None and battles.features.shape == (len(df), 4)
    expected = (arena_df.sum_assistant_a_tokens - arena_df.sum_assistant_b_tokens) / (
        arena_df.sum_assistant_a_tokens + arena_df.sum_assistant_b_tokens
    )
    np.testing.assert_allclose(battles.features[:, 0], expected)


@pytest.mark.parametrize("method", ["bt", "elo", "davidson", "rao-kupper", "pl"])
def test_cli_every_method_json(one_file, method, run):
    arena_file = one_file
    res = run(str(arena_file), "--method", method, "--ci", "bootstrap", "--rounds", "20", "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["method"] == method
    rows = doc["leaderboard"]
    assert [r["name"] for r in rows][:2] == ["alpha", "beta"]
    assert all(r["lower"] <= r["rating"] <= r["upper"] for r in rows)
    assert [r["rating"] for r in rows] == sorted((r["rating"] for r in rows), reverse=True)
    if method in ("davidson", "rao-kupper"):
        assert np.isfinite(doc["tie_parameter"]["value"]) and doc["tie_parameter"]["se"] > 0


def test_cli_formats_style_anchor_and_plots(one_file, tmp_path, run):
    arena_file = one_file
    res = run(str(arena_file), "--format", "csv", "--style-control", "--anchor", "gamma=1100")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("rank,name,rating") and len(lines) == 6
    gamma = [ln for ln in lines if ",gamma," in ln][0]
    assert float(gamma.split(",")[2]) == pytest.approx(1100.0)
    html = tmp_path / "lb.html"
    png = tmp_path / "lb.png"
    res = run(str(arena_file), "--plot", str(html), "--ties", "drop")
    assert res.returncode == 0, res.stderr and "alpha" in res.stdout
    text = html.read_text()
    assert "<svg" in text and "alpha" in text and "http://" not in text.replace("http://www.w3.org", "")
    assert run(str(arena_file), "--plot", str(png), "-f", "json").returncode == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_bad_inputs(tmp_path, one_file, run):
    arena_file = one_file
    bad = tmp_path / "bad.csv"
    bad.write_text("model_a,model_b,winner\nx,y,model_a\nx,y,banana\n")
    res = run(str(bad))
    assert res.returncode == 2 and "bad.csv:3:" in res.stderr and "banana" in res.stderr
    with pytest.raises(InputError):
        scan_counts(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("model_a,model_b,winner\n")
    res = run(str(empty))
    assert res.returncode == 2 and "error:" in res.stderr
    nocol = tmp_path / "nocol.parquet"
    pd.DataFrame({"a": ["x"], "b": ["y"]}).to_parquet(nocol)
    with pytest.raises(FormatError, match="model_a"):
        scan_counts(nocol)
    for args, needle in (
        (["--anchor", "nobody=1000"], "not in the data"),
        (["--method", "glicko"], "--method"),
        (["--format", "xml"], "--format"),
        (["--method", "elo", "--ci", "sandwich"], "sandwich"),
    ):
        res = run(str(arena_file), *args)
        assert res.returncode == 2 and needle in res.stderr, (args, res.stderr)
    res = run(str(tmp_path / "missing.parquet"))
    assert res.returncode == 2


def test_cli_disconnected_graph_names_components(tmp_path, run):
    path = tmp_path / "split.csv"
    path.write_text("model_a,model_b,winner\nx,y,model_a\ny,x,model_a\nu,v,model_a\nv,u,tie\n")
    res = run(str(path))
    assert res.returncode == 2 and "disconnected" in res.stderr and "--prior" in res.stderr
    res = run(str(path), "--prior", "1.0", "--format", "json")
    assert res.returncode == 0 and len(json.loads(res.stdout)["leaderboard"]) == 4


def test_console_script_help_has_example():
    res = subprocess.run([str(PREFKIT), "rank", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "Example:" in res.stdout


@pytest.mark.parametrize("label", ["a", "b", "bothbad", "both_bad", "MODEL_A", "Tie"])
def test_scan_refuses_winner_aliases(tmp_path, label, run):
    """The scan used to lowercase winners and accept aliases; it now reads exactly what validate reads."""
    path = tmp_path / "alias.csv"
    path.write_text(f"model_a,model_b,winner\nx,y,model_a\ny,x,{label}\n")
    with pytest.raises(InputError, match=rf"alias\.csv:3: unknown winner '{label}'"):
        scan_counts(path)
    with pytest.raises(InputError, match=rf"alias\.csv:3: unknown winner '{label}'"):
        read_battles(path)
    res = run(str(path))
    assert res.returncode == 2 and f"alias.csv:3: unknown winner '{label}'" in res.stderr
