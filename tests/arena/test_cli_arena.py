"""``prefkit arena simulate`` through the real entry point."""

from __future__ import annotations

import json

import pytest

from prefkit.cli.main import main


def _run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return (exc.value.code or 0), out.out, out.err


def test_simulate_json(capsys):
    code, out, _ = _run(
        ["arena", "simulate", "--items", "8", "--k", "3", "--truth", "exact", "--seeds", "2", "--policy",
         "infogain", "--format", "json", "--horizon", "2000"],
        capsys,
    )  # fmt: skip
    assert code == 0
    d = json.loads(out)
    assert d["items"] == 8 and d["k"] == 3 and d["truth"] == "exact" and d["baseline"] == "random-elo"
    assert [p["policy"] for p in d["policies"]] == ["random-elo", "ksort", "infogain"]
    for p in d["policies"]:
        assert {"votes_to_tau90", "votes_to_top1", "votes_to_exact"} <= set(p)
    assert d["best_ratio_vs_baseline"] > 1


def test_simulate_table_and_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "c.png"
    code, out, _ = _run(
        ["arena", "simulate", "--items", "6", "--k", "3", "--truth", "exact", "--seeds", "2", "--horizon", "1500",
         "--policy", "infogain", "--plot", str(png)],
        capsys,
    )  # fmt: skip
    assert code == 0 and "random-elo" in out and "ksort" in out and png.exists()


def test_simulate_bad_input(capsys):
    code, _, err = _run(["arena", "simulate", "--truth", "nope", "--seeds", "1", "--items", "5"], capsys)
    assert code == 2 and "error:" in err and "unknown truth" in err
    code, _, err = _run(["arena", "simulate", "--format", "xml", "--seeds", "1"], capsys)
    assert code == 2 and "--format" in err
