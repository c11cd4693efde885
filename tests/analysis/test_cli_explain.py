"""``prefkit explain ...`` and ``prefkit report`` through the real entry point, bad inputs included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefkit.cli.main import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def _ok(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        main(args)
    except SystemExit as exc:  # typer exits 0 after a command
        assert not exc.code, capsys.readouterr().err
    return capsys.readouterr().out


def test_dissect_json_recovers_planted_tastes(planted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = json.loads(_ok(["explain", "dissect", str(planted), "--by", "judge", "--format", "json"], capsys))
    groups = {g["group"]: g for g in d["groups"]}
    assert set(groups) == {"human", "judge-x"} and groups["human"]["n"] == 600
    for g in d["groups"]:
        assert {"group", "n", "weights"} <= set(g)
        assert {"property", "mean", "lower", "upper"} <= set(g["weights"][0])
    length = {
        name: next(w for w in g["weights"] if w["property"] == "length_words") for name, g in groups.items()
    }
    assert length["human"]["lower"] > 0 > length["judge-x"]["upper"]
    assert d["similarity"]["groups"] == ["human", "judge-x"]
    assert d["similarity"]["matrix"][0][1] < 0


def test_dissect_by_group_attribute_and_table(planted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = json.loads(_ok(["explain", "dissect", str(planted), "--by", "country", "--format", "json"], capsys))
    assert [g["group"] for g in d["groups"]] == ["(none)", "FR", "US"]
    out = _ok(
        ["explain", "dissect", str(planted), "--properties", "length_words,bold", "--min-n", "301"], capsys
    )
    assert "length_words" in out and "not fitted" in out  # each annotator alone has 300 < 301 judgments


def test_dissect_user_columns(planted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cols = tmp_path / "props.csv"
    cols.write_text("item,score,const\n" + "".join(f"r{k},{k % 7},1\n" for k in range(40)))
    d = json.loads(
        _ok(["explain", "dissect", str(planted), "--properties", "score,const,length_words", "--item-properties",
             str(cols), "--format", "json"], capsys)
    )  # fmt: skip
    w = {x["property"]: x for x in d["groups"][0]["weights"]}
    assert list(w) == ["score", "const", "length_words"]
    assert w["const"]["estimable"] is False and w["const"]["mean"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "age"], "unknown group column 'age'"),
        (["--properties", "judge"], "needs --tagger MODULE:FACTORY"),
        (["--properties", "judge", "--tagger", "no_such_module_xyz:make"], "cannot load it"),
        (["--properties", "vibes"], "unknown properties ['vibes']"),
        (["--ties", "count"], "ties must be"),
        (["--format", "xml"], "--format must be"),
    ],
)
def test_dissect_bad_options(
    planted: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = _run(["explain", "dissect", str(planted), *args], capsys)
    assert code == 2 and message in err and err.startswith("error:") and "Traceback" not in err


def test_dissect_without_texts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "battles.jsonl"
    log.write_text(
        "".join(json.dumps({"model_a": "x", "model_b": "y", "winner": "model_a"}) + "\n" for _ in range(40))
    )
    code, _, err = _run(["explain", "dissect", str(log)], capsys)
    assert code == 2 and "no response texts" in err
    code, _, err = _run(["explain", "dissect", str(tmp_path / "nope.jsonl")], capsys)
    assert code == 2 and "no such file" in err


def test_item_properties_missing_items(
    planted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cols = tmp_path / "props.csv"
    cols.write_text("item,score\nr0,1\n")
    code, _, err = _run(
        ["explain", "dissect", str(planted), "--properties", "score", "--item-properties", str(cols)], capsys
    )
    assert code == 2 and "no row for 39 judged item(s)" in err
    cols.write_text("item,score\nr0,high\n")
    code, _, err = _run(
        ["explain", "dissect", str(planted), "--properties", "score", "--item-properties", str(cols)], capsys
    )
    assert code == 2 and "props.csv:2:" in err


def test_consistency_and_no_shared_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ranks = tmp_path / "ranks.jsonl"
    ranks.write_text(
        '{"type": "pairwise", "a": "r1", "b": "r2", "outcome": "a"}\n'
        '{"type": "pairwise", "a": "r2", "b": "r3", "outcome": "a"}\n'
        '{"type": "pairwise", "a": "r3", "b": "r1", "outcome": "a"}\n'
    )
    rates = tmp_path / "rates.jsonl"
    rates.write_text(
        '{"type": "rating", "item": "r1", "score": 6, "scale": [1, 7]}\n'
        '{"type": "rating", "item": "r2", "score": 2, "scale": [1, 7]}\n'
        '{"type": "rating", "item": "r3", "score": 4, "scale": [1, 7]}\n'
    )
    d = json.loads(
        _ok(["explain", "consistency", str(ranks), "--ratings", str(rates), "--format", "json"], capsys)
    )
    assert d["rating_vs_ranking"]["n_pairs"] == 3
    # ratings say r1 > r3 > r2: the ranked r2 > r3 and r3 > r1 disagree
    assert d["rating_vs_ranking"]["disagreement"] == pytest.approx(2 / 3)
    assert d["transitivity"]["cycles"] == 1 and d["transitivity"]["examples"] == [["r1", "r2", "r3"]]
    other = tmp_path / "other.jsonl"
    other.write_text('{"type": "rating", "item": "zz", "score": 6, "scale": [1, 7]}\n')
    code, _, err = _run(["explain", "consistency", str(ranks), "--ratings", str(other)], capsys)
    assert code == 2 and "share no items" in err and "ranks.jsonl" in err


def test_consistency_sparse_feedback(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = shared_data / "sparse_feedback"
    out = json.loads(
        _ok(["explain", "consistency", str(d / "feedback_rankings_sample_generation.csv"), "--ratings",
             str(d / "feedback_ratings_sample_generation.csv"), "--format", "json"], capsys)
    )  # fmt: skip
    assert out["rating_vs_ranking"]["n_pairs"] == 117
    assert out["rating_vs_ranking"]["disagreement"] == pytest.approx(0.435897, abs=1e-6)


def test_annotators_json(planted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = json.loads(_ok(["explain", "annotators", str(planted), "--format", "json"], capsys))
    assert [a["annotator"] for a in d["annotators"]] == ["h1", "h2", "judge-x"]
    assert all(0 <= a["ds_accuracy"] <= 1 for a in d["annotators"])
    assert d["flagged"] == []


def test_annotators_need_annotators(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trl = tmp_path / "trl.jsonl"
    trl.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    code, _, err = _run(["explain", "annotators", str(trl)], capsys)
    assert code == 2 and "name no annotators" in err


def test_report_writes_self_contained_html(
    planted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = tmp_path / "scored.jsonl"
    scores.write_text(
        "".join(json.dumps({"reward_chosen": 1.0 + k / 10, "reward_rejected": 0.5}) + "\n" for k in range(50))
    )
    out = tmp_path / "r.html"
    _ok(["report", str(planted), "--out", str(out), "--scores", str(scores)], capsys)
    page = out.read_text()
    for needle in ("Leaderboard", "P(row beats column)", "Property weights per group", "Dawid-Skene", "3-cycles",
                   "Reward model calibration", "<svg"):  # fmt: skip
        assert needle in page
    for forbidden in ("http://", "https://", "<script", "src="):
        assert forbidden not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    code, _, err = _run(["report", str(planted), "--out", str(tmp_path / "r.pdf")], capsys)
    assert code == 2 and "--out must end in .html" in err
    code, _, err = _run(["report", str(planted), "--out", str(out), "--scores", str(planted)], capsys)
    assert code == 2 and "planted.jsonl:1:" in err


def test_report_from_a_project_store(
    planted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.db"
    _ok(["import", str(planted), "--db", str(db)], capsys)
    out = tmp_path / "r.html"
    _ok(["report", str(db), "--out", str(out)], capsys)
    assert "900 pairwise judgments" in out.read_text()


TAGGER = """
import json, re


class LengthTagger:
    \"\"\"Rates every characteristic by the response's length (0-3), as a stand-in for an LLM judge.\"\"\"

    def complete(self, prompts):
        out = []
        for p in prompts:
            r1 = re.search(r"\\[Response 1 Start\\]\\n(.*?)\\n\\[Response 1 End\\]", p, re.S).group(1)
            r2 = re.search(r"\\[Response 2 Start\\]\\n(.*?)\\n\\[Response 2 End\\]", p, re.S).group(1)
            block = re.search(r"\\[Characteristics Start\\]\\n(.*?)\\n\\[Characteristics End\\]", p, re.S).group(1)
            names = [line.split(":", 1)[0] for line in block.splitlines()]
            rate = lambda t: str(min(3, len(t.split()) // 50))
            out.append(json.dumps({n: {"response 1": rate(r1), "response 2": rate(r2)} for n in names}))
        return out


def make():
    return LengthTagger()
"""


def test_dissect_with_judge_tagged_properties(
    planted: Path,
    tmp_path: Path,
    shared_data: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "length_tagger.py").write_text(TAGGER)
    monkeypatch.syspath_prepend(str(tmp_path))
    prompts = shared_data / "preference_dissection" / "prompts"
    d = json.loads(
        _ok(["explain", "dissect", str(planted), "--properties", "judge", "--tagger", "length_tagger:make",
             "--prompts", str(prompts), "--format", "json"], capsys)
    )  # fmt: skip
    assert "well formatted" in d["properties"] and len(d["properties"]) >= 15
    groups = {g["group"]: {w["property"]: w for w in g["weights"]} for g in d["groups"]}
    assert groups["human"]["friendly"]["mean"] > 0 > groups["judge-x"]["friendly"]["mean"]
    code, _, err = _run(
        ["explain", "dissect", str(planted), "--properties", "judge", "--tagger", "length_tagger:make"],
        capsys,
    )
    assert code == 2 and "--prompts DIR" in err
