"""Building TRL rows from files: every recipe, both containers, checked with TRL's own format checks and the
`datasets` loader; bad input leaves nothing behind."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from _files import ranked, rated, write_jsonl

from prefkit.errors import DataProblemError, InputError, ValidationError
from prefkit.optimize.build import build
from prefkit.optimize.recipes import RecipeOptions
from prefkit.optimize.trl_format import validate_example

trl_data = pytest.importorskip("trl.data_utils")


def _rows(path):
    if str(path).endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("recipe", ["all-pairs", "best-worst", "best-each", "curry", "kto", "tags", "dno"])
@pytest.mark.parametrize(
    "ext, conv", [("jsonl", False), ("parquet", True), ("parquet", False), ("jsonl", True)]
)
def test_every_recipe_gives_rows_trl_accepts(tmp_path, recipe, ext, conv):
    src = ranked(tmp_path / "r.jsonl")
    out = tmp_path / f"out.{ext}"
    res = build(src, out, RecipeOptions(recipe, conversational=conv), chunk_rows=2)
    rows = _rows(out)
    assert len(rows) == res.rows > 0
    for row in rows:
        validate_example(row)
        assert trl_data.is_conversational(row) is conv
        keys = {k for k in row if k in ("prompt", "chosen", "rejected", "completion", "label")}
        # TRL's own key check (the first thing apply_chat_template does)
        assert keys in [
            {"prompt", "chosen", "rejected"},
            {"prompt", "completion", "label"},
            {"prompt", "completion"},
        ]
    expected = {"all-pairs": 18, "best-worst": 3, "best-each": 9, "curry": 9, "kto": 6, "tags": 12, "dno": 3}
    assert res.rows == expected[recipe]


def test_curry_file_is_written_stage_by_stage(tmp_path):
    out = tmp_path / "c.jsonl"
    build(ranked(tmp_path / "r.jsonl", n_prompts=5), out, RecipeOptions("curry"), chunk_rows=2)
    rows = _rows(out)
    assert [r["stage"] for r in rows] == sorted(r["stage"] for r in rows)
    assert all(r["gap"] == 3 - r["stage"] for r in rows)


def test_rows_load_with_datasets_and_a_chat_template(tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "p.parquet"
    build(ranked(tmp_path / "r.jsonl"), out, RecipeOptions("best-worst", conversational=True))
    ds = datasets.Dataset.from_parquet(str(out))
    assert ds.column_names == ["prompt", "chosen", "rejected", "gap"]

    class Tok:  # the minimal processing class apply_chat_template needs
        def apply_chat_template(
            self, messages, tools=None, tokenize=False, add_generation_prompt=False, **kw
        ):
            text = "".join(f"<{m['role']}>{m['content']}" for m in messages)
            return text + ("<assistant>" if add_generation_prompt else "")

    out_row = trl_data.apply_chat_template(ds[0], Tok())
    assert out_row["prompt"] == "<user>Question 0?<assistant>"
    assert out_row["chosen"] == "answer 0 to 0"


def test_direction_picks_the_response_maximising_the_direction(tmp_path):
    src = rated(
        tmp_path / "m.jsonl",
        {
            "a": [{"help": 9, "verbose": 9}, {"help": 8, "verbose": 1}, {"help": 1, "verbose": 5}],
            "b": [{"help": 2, "verbose": 9}, {"help": 6, "verbose": 2}],
        },
    )
    out = tmp_path / "d.jsonl"
    build(src, out, RecipeOptions("direction", direction=(1.0, -1.0)))
    rows = _rows(out)
    # a: v.r = 0, 7, -4 -> best 1, worst 2; b: -7, 4 -> best 1, worst 0
    assert [(r["chosen"], r["rejected"]) for r in rows] == [
        ("response 1 of a", "response 2 of a"),
        ("response 1 of b", "response 0 of b"),
    ]
    assert rows[0]["chosen_score"] == pytest.approx(7 / np.sqrt(2))
    with pytest.raises(ValidationError, match="3 components but the ratings have 2 attributes"):
        build(src, tmp_path / "x.jsonl", RecipeOptions("direction", direction=(1.0, 0.0, 0.0)))
    assert not (tmp_path / "x.jsonl").exists()


def test_ratings_build_pairs_with_gaps(tmp_path):
    src = rated(tmp_path / "m.jsonl", {f"p{i}": [{"h": 1 + i % 3}, {"h": 5}, {"h": 7}] for i in range(7)})
    res = build(src, tmp_path / "o.jsonl", RecipeOptions("all-pairs", min_gap=2.5), chunk_rows=4)
    rows = _rows(tmp_path / "o.jsonl")
    assert all(r["gap"] > 2.5 for r in rows)
    assert res.groups == 7
    assert len(rows) == sum((7 - (1 + i % 3) > 2.5) + (5 - (1 + i % 3) > 2.5) for i in range(7))


def test_ties_only_single_responses_and_existing_output(tmp_path):
    out = tmp_path / "o.jsonl"
    with pytest.raises(DataProblemError, match="only tied responses"):
        build(ranked(tmp_path / "t.jsonl", ties=True), out, RecipeOptions("all-pairs"))
    assert not out.exists()
    single = rated(tmp_path / "s.jsonl", {"a": [{"h": 1}], "b": [{"h": 2}]})
    with pytest.raises(DataProblemError, match="single response"):
        build(single, out, RecipeOptions("best-worst"))
    assert not out.exists()
    out.write_text("keep me\n")
    with pytest.raises(ValidationError, match="--force"):
        build(ranked(tmp_path / "r.jsonl"), out, RecipeOptions("all-pairs"))
    assert out.read_text() == "keep me\n"
    build(ranked(tmp_path / "r.jsonl"), out, RecipeOptions("all-pairs"), force=True)
    assert out.read_text() != "keep me\n"


def test_strict_names_the_line_and_nan_scores_are_refused(tmp_path):
    src = rated(tmp_path / "s.jsonl", {"a": [{"h": 1}, {"h": 3}], "b": [{"h": 2}]})
    with pytest.raises(InputError, match=r"s\.jsonl:\d+: this prompt gives no training row"):
        build(src, tmp_path / "o.jsonl", RecipeOptions("best-worst"), strict=True)
    recs = [
        {"type": "context", "id": "q", "text": "Q"},
        {"type": "item", "id": "x", "text": "X"},
        {"type": "rating", "item": "x", "context": "q", "score": float("nan"), "scale": [0, 1]},
    ]
    path = tmp_path / "nan.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs).replace("NaN", "NaN") + "\n")
    with pytest.raises(InputError, match=r"nan\.jsonl:3: .*NaN"):
        build(path, tmp_path / "o.jsonl", RecipeOptions("best-worst"))
    assert not (tmp_path / "o.jsonl").exists()


def test_a_failure_midway_leaves_nothing_behind(tmp_path):
    recs = []
    for q in range(6):
        recs.append({"type": "context", "id": f"q{q}", "text": f"Q{q}"})
        for i in range(3):
            if not (q == 5 and i == 2):  # the last prompt's third response has no text
                recs.append({"type": "item", "id": f"q{q}-{i}", "text": f"r{i}"})
        recs.append({"type": "ranking", "ranking": [f"q{q}-{i}" for i in range(3)], "context": f"q{q}"})
    src = write_jsonl(tmp_path / "r.jsonl", recs)
    for ext in ("jsonl", "parquet"):
        out = tmp_path / f"o.{ext}"
        with pytest.raises(DataProblemError, match="has no text"):
            build(src, out, RecipeOptions("curry"), chunk_rows=2)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]


def test_a_response_ranked_twice_keeps_its_text_unless_low_memory(tmp_path):
    recs = [
        {"type": "context", "id": "q", "text": "Q"},
        {"type": "item", "id": "x", "text": "X"},
        {"type": "item", "id": "y", "text": "Y"},
        {"type": "ranking", "ranking": ["x", "y"], "context": "q", "annotator": "a"},
        {"type": "ranking", "ranking": ["y", "x"], "context": "q", "annotator": "b"},
    ]
    src = write_jsonl(tmp_path / "r.jsonl", recs)
    res = build(src, tmp_path / "o.jsonl", RecipeOptions("all-pairs"), chunk_rows=1)
    assert res.rows == 2
    with pytest.raises(DataProblemError, match="low-memory"):
        build(src, tmp_path / "p.jsonl", RecipeOptions("all-pairs"), chunk_rows=1, release_texts=True)
    assert not (tmp_path / "p.jsonl").exists()


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_sliced_writes_give_the_same_file(tmp_path, monkeypatch, ext):
    from prefkit.optimize import writer

    src = ranked(tmp_path / "r.jsonl", n_prompts=6, k=5)
    build(src, tmp_path / f"a.{ext}", RecipeOptions("all-pairs"))
    monkeypatch.setattr(writer, "SLICE_ROWS", 7)
    build(src, tmp_path / f"b.{ext}", RecipeOptions("all-pairs"))
    assert _rows(tmp_path / f"a.{ext}") == _rows(tmp_path / f"b.{ext}")
    assert len(_rows(tmp_path / f"a.{ext}")) == 60


def test_dedup_drops_exact_repeats_across_chunks(tmp_path):
    recs = [{"type": "context", "id": "q", "text": "Q"}]
    recs += [{"type": "item", "id": i, "text": i.upper()} for i in "xyz"]
    recs += [
        {"type": "ranking", "ranking": ["x", "y", "z"], "context": "q", "annotator": "a"},
        {"type": "ranking", "ranking": ["x", "y", "z"], "context": "q", "annotator": "b"},
        {"type": "ranking", "ranking": ["y", "x", "z"], "context": "q", "annotator": "c"},
    ]
    src = write_jsonl(tmp_path / "r.jsonl", recs)
    plain = build(src, tmp_path / "a.jsonl", RecipeOptions("all-pairs"), chunk_rows=1)
    res = build(src, tmp_path / "b.jsonl", RecipeOptions("all-pairs"), chunk_rows=1, dedup=True)
    assert plain.rows == 9 and res.rows == 4 and res.duplicates == 5
    pairs = {(r["chosen"], r["rejected"]) for r in _rows(tmp_path / "b.jsonl")}
    assert pairs == {("X", "Y"), ("X", "Z"), ("Y", "Z"), ("Y", "X")}  # both directions kept, each once
