"""``prefkit judge run`` end to end: verdicts that ``prefkit rank`` and ``prefkit import`` accept; bad inputs
give one ``error:`` line and exit status 2, naming the row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prefkit.cli.main import main
from prefkit.data import io
from prefkit.storage.store import ProjectStore


def run(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_run_writes_verdicts_rank_and_import_accept(
    tmp_path: Path, capsys: Any, fake_server: Any, battles: Any
) -> None:
    src = battles(
        tmp_path / "b.jsonl", [("good", "meh"), ("meh", "good"), ("good", "meh"), ("MUMBLE", "good")]
    )
    out = tmp_path / "verdicts.jsonl"
    cache = tmp_path / "cache.sqlite"
    argv = ["judge", "run", str(src), "--model", "judge-1", "--base-url", fake_server.url, "--out", str(out),
            "--cache", str(cache), "--quiet"]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert "3 verdicts" in err and "1 unparsed (lines 4)" in err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["winner"] for r in rows] == ["model_a", "model_b", "model_a"]
    assert {r["judge"] for r in rows} == {"judge-1"} and {r["judge_kind"] for r in rows} == {"model"}
    assert rows[0]["response_a"] == "good" and rows[0]["order1"] == rows[0]["order2"] == "model_a"
    back = io.read(out)
    assert back.annotator_kind == {"judge-1": "model"} and len(back.responses) == 6
    code, stdout, err = run(["rank", str(out), "--prior", "1.0", "--format", "json"], capsys)
    assert code == 0, err
    code, _, err = run(["import", str(out), "--db", str(tmp_path / "s.db")], capsys)
    assert code == 0, err
    # straight into a store, answered from the cache this time
    code, _, err = run([*argv[:-5], "--db", str(tmp_path / "t.db"), "--cache", str(cache), "--quiet"], capsys)
    assert code == 0 and "0 calls, 8 cached" in err
    with ProjectStore(tmp_path / "t.db") as store:
        ds = store.to_dataset()
        assert len(ds.pairwise) == 3 and ds.annotator_kind == {"judge-1": "model"} and len(ds.responses) == 6


def test_run_scripted_and_audit(tmp_path: Path, capsys: Any, battles: Any) -> None:
    src = battles(tmp_path / "b.jsonl", [(f"answer {i}", "x" * (i + 2)) for i in range(40)])
    out = tmp_path / "v.csv"
    code, _, err = run(
        ["judge", "run", str(src), "--model", "scripted:position=1", "--out", str(out), "-q"], capsys
    )
    assert code == 0, err
    code, stdout, err = run(["judge", "audit", str(out), "--format", "json"], capsys)
    assert code == 0, err
    (j,) = json.loads(stdout)["judges"]
    assert j["position"]["first_share"] == 1.0 and j["position"]["flagged"]


@pytest.mark.parametrize(
    ("answers", "extra", "fragment"),
    [
        ([("good", "")], [], "b.jsonl:1: the response of 'm0b' is empty"),
        ([("good", "   ")], [], "b.jsonl:1: the response of 'm0b' is empty"),
        ([("good", "meh")], ["--protocol", "nope"], "unknown pairwise protocol 'nope'"),
        ([("good", "meh")], ["--model", "local:gpt5"], "unknown local model 'gpt5'"),
        ([("good", "meh")], ["--model", "scripted:bias=2"], "bad scripted judge setting 'bias=2'"),
        ([("good", "meh")], ["--model", "gpt-17"], "model 'gpt-17' not found"),
        ([("good", "meh")], ["--limit", "0"], "--limit must be >= 1"),
    ],
)
def test_bad_inputs(
    tmp_path: Path, capsys: Any, fake_server: Any, battles: Any, answers: list, extra: list, fragment: str
) -> None:
    src = battles(tmp_path / "b.jsonl", answers)
    argv = ["judge", "run", str(src), "--model", "judge-1", "--base-url", fake_server.url, "--out",
            str(tmp_path / "v.jsonl"), "--no-cache", "-q", *extra]  # fmt: skip
    if any(e.startswith(("local:", "scripted:")) for e in extra):
        argv.remove("--base-url")
        argv.remove(fake_server.url)
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err


def test_missing_texts_name_the_row(tmp_path: Path, capsys: Any) -> None:
    src = tmp_path / "b.csv"
    src.write_text("model_a,model_b,winner,prompt\nx,y,tie,hello\n")
    code, _, err = run(
        ["judge", "run", str(src), "--model", "scripted", "--out", str(tmp_path / "v.jsonl")], capsys
    )
    assert code == 2 and "b.csv:2: no response text of 'x'" in err


@pytest.mark.shared_data
def test_scripted_judge_on_llmfao_pairs(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    src = shared_data / "llmfao" / "crowd-comparisons.csv"
    out = tmp_path / "v.parquet"
    code, _, err = run(["judge", "run", str(src), "--model", "scripted:length=0.5", "--out", str(out), "-q",
                        "--limit", "300"], capsys)  # fmt: skip
    assert code == 2 and "the response of" in err and "is empty" in err  # llmfao has 69 empty answers
    code, _, err = run(["judge", "run", str(src), "--model", "scripted:length=0.5", "--out", str(out), "-q",
                        "--limit", "300", "--skip-bad"], capsys)  # fmt: skip
    assert code == 0 and "300 verdicts" in err and "pairs skipped" in err
    v = io.read(out)
    assert len(v.pairwise) == 300 and v.annotator_kind == {"scripted:length=0.5": "model"}


def test_run_grading_protocol_writes_ratings(
    tmp_path: Path, capsys: Any, fake_server: Any, battles: Any
) -> None:
    src = battles(tmp_path / "b.jsonl", [("a good one", "poor")])
    out = tmp_path / "grades.jsonl"
    argv = ["judge", "run", str(src), "--model", "judge-1", "--base-url", fake_server.url, "--protocol",
            "mt-bench-single-v1", "--out", str(out), "--no-cache", "-q"]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0 and "2 grades on [1, 10]" in err, err
    ds = io.read(out)
    assert sorted(ds.ratings.score.tolist()) == [2.0, 8.0] and ds.annotator_kind == {"judge-1": "model"}
    code, _, err = run([*argv[:-4], "--out", str(tmp_path / "g.csv"), "-q"], capsys)
    assert code == 2 and "prefkit JSONL" in err


def test_rank_and_lc_commands(tmp_path: Path, capsys: Any) -> None:
    rows = []
    for q in range(6):
        for m, n in (("base", 30), ("long", 300), ("short", 20)):
            if m == "base":
                continue
            won = m == "long"
            rows.append({"model_a": m, "model_b": "base", "winner": "model_a" if won or q % 3 == 0 else "model_b",
                         "question_id": f"q{q}", "prompt": f"p{q}", "response_a": "y" * (n + q), "response_b": "x" * 30})  # fmt: skip
    src = tmp_path / "v.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = run(["judge", "lc", str(src), "--baseline", "base", "--format", "json"], capsys)
    assert code == 0, err
    res = {m["model"]: m for m in json.loads(out)["models"]}
    assert res["long"]["win_rate"] == 100.0 and res["short"]["win_rate"] == pytest.approx(100 / 3)
    code, _, err = run(["judge", "lc", str(src), "--baseline", "nobody"], capsys)
    assert code == 2 and "baseline 'nobody' is not among the items" in err
    code, out, err = run(["judge", "rank", str(src), "--model", "scripted", "--budget", "10", "-q", "--format",
                          "json"], capsys)  # fmt: skip
    assert code == 0, err
    j = json.loads(out)
    assert j["calls"] == 10 and {r["item"] for r in j["rows"]} == {"base", "long", "short"}
