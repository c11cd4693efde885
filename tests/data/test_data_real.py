"""Real files from ../shared/data, with counts checked independently (csv / json / pandas)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from prefkit.cli.main import main
from prefkit.data import io
from prefkit.data.summary import summarize

pytestmark = pytest.mark.shared_data


def _crowd(shared_data: Path) -> Path:
    return shared_data / "llmfao" / "crowd-comparisons.csv"


def _hh(shared_data: Path) -> Path:
    return shared_data / "hh-rlhf" / "harmless-base-test.jsonl.gz"


def test_llmfao_crowd_log(shared_data: Path) -> None:
    path = _crowd(shared_data)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # the acceptance numbers, recomputed from the CSV itself
    models = {r["left"] for r in rows} | {r["right"] for r in rows}
    assert (
        len(models),
        len(rows),
        sum(r["winner"] == "tie" for r in rows),
        len({r["worker"] for r in rows}),
    ) == (59, 8931, 3471, 124)
    assert io.detect_format(path) == "crowd"
    ds = io.read(path)
    assert (len(ds.items), len(ds.pairwise), int(ds.pairwise.is_tie.sum()), len(ds.annotators)) == (
        59,
        8931,
        3471,
        124,
    )
    # row by row: a = left, b = right, winner mapping, annotator = worker, context = prompt, line numbers
    pw = ds.pairwise
    expect = {"left": 0, "right": 1, "tie": 2}
    assert ds.items.decode(pw.a) == [r["left"] for r in rows]
    assert ds.items.decode(pw.b) == [r["right"] for r in rows]
    assert pw.outcome.tolist() == [expect[r["winner"]] for r in rows]
    assert ds.annotators.decode(pw.annotator) == [r["worker"] for r in rows]
    assert ds.contexts.decode(pw.context) == [r["prompt"] for r in rows]
    assert pw.line.tolist() == list(range(2, 8933))
    s = summarize(path)
    assert (s.items, s.judgments, s.pairwise, s.ties, s.annotators, s.connected) == (
        59,
        8931,
        8931,
        3471,
        124,
        True,
    )


def _hh_expected(path: Path) -> tuple[int, list[int]]:
    """Independent count: rows, and lines whose text before the last Assistant turn differs."""
    n, bad = 0, []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            rec = json.loads(line)
            n += 1
            c, r = rec["chosen"], rec["rejected"]
            if c[: c.rindex("\n\nAssistant:")] != r[: r.rindex("\n\nAssistant:")]:
                bad.append(lineno)
    return n, bad


def test_hh_rlhf_harmless_base(shared_data: Path) -> None:
    path = _hh(shared_data)
    n, bad = _hh_expected(path)
    assert n == 2312 and len(bad) == 5
    assert io.detect_format(path) == "hh-rlhf"
    ds = io.read(path)  # rows whose prefixes differ are listed, not guessed, and not fatal
    assert [ln for ln, _ in ds.meta["skipped"]] == bad
    assert all("differ before their last Assistant turn" in why for _, why in ds.meta["skipped"])
    assert len(ds.pairwise) == n - len(bad)
    # every kept pair reassembles into the original transcripts
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        recs = [json.loads(x) for x in fh]
    pw = ds.pairwise
    for i in range(0, len(pw), 97):
        rec = recs[int(pw.line[i]) - 1]
        prompt = ds.context_text[ds.contexts.name(int(pw.context[i]))]
        assert prompt.endswith("\n\nAssistant:")
        assert prompt + ds.item_text[ds.items.name(int(pw.a[i]))] == rec["chosen"]
        assert prompt + ds.item_text[ds.items.name(int(pw.b[i]))] == rec["rejected"]
    assert (pw.outcome == 0).all()


def test_cli_info_json_on_real_files(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["info", str(_crowd(shared_data)), "--format", "json"])
    assert ex.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert {
        k: out[k]
        for k in (
            "items",
            "judgments",
            "pairwise",
            "rankings",
            "ratings",
            "ties",
            "annotators",
            "connected",
            "format",
        )
    } == {
        "items": 59,
        "judgments": 8931,
        "pairwise": 8931,
        "rankings": 0,
        "ratings": 0,
        "ties": 3471,
        "annotators": 124,
        "connected": True,
        "format": "crowd",
    }
    with pytest.raises(SystemExit) as ex:
        main(["info", str(_hh(shared_data)), "--format", "json", "--skip-bad"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["pairwise"] == 2307 and out["connected"] is False and len(out["components"]) == 2307
    assert len(out["skipped"]) == 5


def test_convert_real_crowd_to_arena_parquet_and_back(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.parquet"
    with pytest.raises(SystemExit) as ex:
        main(["convert", str(_crowd(shared_data)), str(out)])
    assert ex.value.code in (0, None)
    import pandas as pd

    df = pd.read_parquet(out)
    assert list(df.columns[:3]) == ["model_a", "model_b", "winner"]
    assert df["winner"].value_counts().to_dict() == {"tie": 3471, "model_a": 2911, "model_b": 2549}
    ds = io.read(out)
    assert len(ds.items) == 59 and len(ds.annotators) == 124


def test_sparse_feedback_ratings_via_small_adapter(shared_data: Path, tmp_path: Path) -> None:
    """The 1-7 ratings CSV (no header) becomes prefkit JSONL with a few lines of adapter code."""
    src = shared_data / "sparse_feedback" / "feedback_ratings_davinci_for_llm_eval.csv"
    with src.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    path = tmp_path / "ratings.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i, (instruction, _inp, output, rating) in enumerate(rows):
            fh.write(json.dumps({"type": "item", "id": f"o{i}", "text": output}) + "\n")
            fh.write(
                json.dumps(
                    {
                        "type": "rating",
                        "item": f"o{i}",
                        "score": float(rating),
                        "scale": [1, 7],
                        "context": instruction[:40],
                    }
                )
                + "\n"
            )
    ds = io.read(path)
    assert len(ds.ratings) == len(rows) > 0
    np.testing.assert_array_equal(ds.ratings.score, [float(r[3]) for r in rows])
