"""`prefkit optimize` commands: real runs on the shipped examples, one `error:` line and status 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _files import ranked
from typer.testing import CliRunner

from prefkit.cli.main import app, main

EX = Path(__file__).resolve().parents[2] / "src" / "prefkit" / "examples"
runner = CliRunner()


def _run(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.mark.parametrize(
    "args, rows",
    [
        (["--recipe", "curry"], 72),
        (["--recipe", "best-worst", "--conversational"], 24),
        (["--recipe", "kto"], 48),
        (["--recipe", "dno", "--min-gap", "0.5"], 24),
    ],
)
def test_build_examples(tmp_path, args, rows):
    out = tmp_path / "o.jsonl"
    res = runner.invoke(
        app, ["optimize", "build", str(EX / "ranked-responses.jsonl"), *args, "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["rows"] == rows == len(out.read_text().splitlines())


def test_build_direction_and_tags(tmp_path):
    out = tmp_path / "d.jsonl"
    res = runner.invoke(
        app,
        [
            "optimize",
            "build",
            str(EX / "rated-responses.jsonl"),
            "--recipe",
            "direction",
            "--direction",
            "1,-0.5",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    first = json.loads(out.read_text().splitlines()[0])
    assert first["chosen"] == "74" and first["rejected"].startswith("Sorry")  # helpful and concise
    res = runner.invoke(
        app,
        [
            "optimize",
            "build",
            str(EX / "rated-responses.jsonl"),
            "--recipe",
            "tags",
            "--attribute",
            "helpfulness",
            "--out",
            str(tmp_path / "t.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output


def test_bad_input_gives_one_error_line(tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    out.write_text("precious\n")
    code, _, err = _run(capsys, "optimize", "build", str(EX / "ranked-responses.jsonl"), "--out", str(out))
    assert code == 2 and err.startswith("error: ") and "--force" in err and err.count("\n") == 1
    assert out.read_text() == "precious\n"
    code, _, err = _run(
        capsys,
        "optimize",
        "build",
        str(ranked(tmp_path / "t.jsonl", ties=True)),
        "--out",
        str(tmp_path / "n.jsonl"),
    )
    assert code == 2 and "only tied responses" in err and not (tmp_path / "n.jsonl").exists()
    code, _, err = _run(
        capsys,
        "optimize",
        "build",
        str(EX / "rated-responses.jsonl"),
        "--recipe",
        "direction",
        "--direction",
        "1,0,2",
        "--out",
        str(tmp_path / "d.jsonl"),
    )
    assert code == 2 and "3 components but the ratings have 2 attributes" in err
    code, _, err = _run(
        capsys,
        "optimize",
        "build",
        str(EX / "rated-responses.jsonl"),
        "--recipe",
        "direction",
        "--direction",
        "a,b",
        "--out",
        str(tmp_path / "d.jsonl"),
    )
    assert code == 2 and "comma-separated numbers" in err
    code, _, err = _run(
        capsys,
        "optimize",
        "build",
        str(EX / "ranked-responses.jsonl"),
        "--recipe",
        "nope",
        "--out",
        str(tmp_path / "d.jsonl"),
    )
    assert code == 2 and "unknown recipe" in err
    code, _, err = _run(capsys, "optimize", "dpo", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no such file" in err


def test_simulate_curation_json_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    res = runner.invoke(
        app,
        [
            "optimize",
            "simulate-curation",
            "--rounds",
            "5",
            "--bias",
            "1.0",
            "--samples",
            "4000",
            "--json",
            "--plot",
            str(tmp_path / "c.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout)
    assert stats["bias_share"][-1] > stats["bias_share"][0] + 0.2
    assert stats["entropy"][-1] < stats["entropy"][0]
    assert (tmp_path / "c.png").exists()
