"""Responses as data: arena logs with texts (strings, chat messages, one-hot winners), the llmfao layout,
the store keeping the texts and the exports writing them back."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefkit.data import io
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import InputError, StoreError
from prefkit.storage.store import ProjectStore


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _texts(ds) -> dict[tuple[str | None, str], str]:
    return {
        (ds.contexts.name(c) if c >= 0 else None, ds.items.name(i)): t
        for (c, i), t in ds.responses.mapping().items()
    }


ROWS = [
    {
        "model_a": "x",
        "model_b": "y",
        "winner": "model_a",
        "question_id": "q1",
        "prompt": "2+2?",
        "response_a": "4",
        "response_b": "5",
    },
    {
        "model_a": "y",
        "model_b": "z",
        "winner": "tie",
        "question_id": "q1",
        "prompt": "2+2?",
        "response_a": "5",
        "response_b": "four",
    },
]


def test_arena_strings_round_trip(tmp_path: Path) -> None:
    ds = io.read(_jsonl(tmp_path / "a.jsonl", ROWS))
    assert _texts(ds) == {("q1", "x"): "4", ("q1", "y"): "5", ("q1", "z"): "four"}
    assert ds.context_text == {"q1": "2+2?"}
    for suffix in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"out.{suffix}"
        io.write(ds, out, format="arena")
        back = io.read(out)
        assert _texts(back) == _texts(ds)
        assert back.context_text == ds.context_text
        assert back.pairwise.outcome.tolist() == [OUTCOME_A, OUTCOME_TIE]


def test_chat_conversations_and_one_hot_winners(tmp_path: Path) -> None:
    def conv(q: str, a: str) -> list[dict]:
        return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]

    rows = [
        {
            "question_id": "k",
            "model_a": "m1",
            "model_b": "m2",
            "conversation_a": conv("hi", "hello"),
            "conversation_b": conv("hi", "hey"),
            "winner_model_a": 0,
            "winner_model_b": 1,
            "winner_tie": 0,
        },
        {
            "question_id": "k2",
            "model_a": "m1",
            "model_b": "m2",
            "conversation_a": conv("yo", "a"),
            "conversation_b": conv("yo", "b"),
            "winner_model_a": 0,
            "winner_model_b": 0,
            "winner_tie": 1,
        },
    ]
    ds = io.read(_jsonl(tmp_path / "c.jsonl", rows))
    assert ds.pairwise.outcome.tolist() == [OUTCOME_B, OUTCOME_TIE]
    assert _texts(ds)[("k", "m2")] == "hey"
    assert ds.context_text == {"k": "hi", "k2": "yo"}
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    assert _texts(io.read(tmp_path / "c.parquet")) == _texts(ds)


def test_prompt_without_question_id_gets_a_content_id(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "question_id"} for r in ROWS]
    ds = io.read(_jsonl(tmp_path / "p.jsonl", rows))
    assert len(ds.contexts) == 1 and list(ds.context_text.values()) == ["2+2?"]


@pytest.mark.parametrize(
    ("rows", "line", "fragment"),
    [
        (
            [{"model_a": "x", "model_b": "y", "winner_model_a": 1, "winner_model_b": 1, "winner_tie": 0}],
            1,
            "exactly one of winner_model_a",
        ),
        (
            [{"model_a": "x", "model_b": "y", "winner_model_a": "yes", "winner_model_b": 0, "winner_tie": 0}],
            1,
            "must be 0 or 1",
        ),
        ([ROWS[0], {**ROWS[1], "response_a": "five"}], 2, "already has a different response"),
        ([{**ROWS[0], "conversation_a": "not a list"}], 1, "list of {role, content} messages"),
        ([{**ROWS[0], "response_a": 4}], 1, "response_a must be a string"),
        ([ROWS[0], {**ROWS[1], "prompt": "3+3?"}], 2, "different prompt text"),
    ],
)
def test_bad_text_rows_name_the_line(tmp_path: Path, rows: list[dict], line: int, fragment: str) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError) as err:
        io.read(path)
    assert err.value.line == line and fragment in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_store_keeps_the_texts_and_refuses_a_conflict(tmp_path: Path) -> None:
    ds = io.read(_jsonl(tmp_path / "a.jsonl", ROWS))
    with ProjectStore(tmp_path / "s.db") as store:
        store.import_dataset(ds)
        store.import_dataset(ds)  # same texts again: nothing new, no error
        back = store.to_dataset()
        assert _texts(back) == _texts(ds)
        other = io.read(_jsonl(tmp_path / "b.jsonl", [{**ROWS[0], "response_a": "four", "id": "new"}]))
        with pytest.raises(StoreError, match="different response of item 'x'"):
            store.import_dataset(other)
        assert len(store.to_dataset().pairwise) == 2  # nothing lost, nothing added
    out = tmp_path / "export.jsonl"
    io.write(back, out, format="arena")
    assert {json.loads(x)["response_b"] for x in out.read_text().splitlines()} == {"5", "four"}


@pytest.mark.shared_data
def test_llmfao_texts_behind_the_comparisons(shared_data: Path) -> None:
    d = shared_data / "llmfao"
    crowd = io.read(d / "crowd-comparisons.csv")
    gpt4 = io.read(d / "gpt4-crowd-comparisons.csv")
    # MANIFEST: 8,931 crowd votes on 2,139 pairs, 13 prompts; GPT-4 judged the same 2,139 pairs
    assert len(crowd.pairwise) == 8931 and len(gpt4.pairwise) == 2139
    pw = crowd.pairwise
    assert (
        len({(int(c), *sorted((int(a), int(b)))) for a, b, c in zip(pw.a, pw.b, pw.context, strict=True)})
        == 2139
    )
    assert len(crowd.contexts) == 13 and len(crowd.context_text) == 13
    # every judged (prompt, model) has its answer from results.jsonl
    need = {(int(c), int(i)) for c, i in zip([*pw.context, *pw.context], [*pw.a, *pw.b], strict=True)}
    assert set(crowd.responses.mapping()) == need
    results = {}
    for line in (d / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        results[(str(r["prompt"]), r["name"])] = r["result"]
    assert all(results[k] == v for k, v in _texts(gpt4).items())
    assert crowd.context_text["8"].startswith("Argue for and against the use of kubernetes")


def test_llmfao_directory_given_explicitly(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "llmfao" / "gpt4-crowd-comparisons.csv"
    few = tmp_path / "few.csv"
    few.write_text("".join(src.read_text().splitlines(keepends=True)[:6]))
    assert len(io.read(few).responses) == 0
    ds = io.read(few, texts=shared_data / "llmfao")
    assert len(ds.pairwise) == 5 and len(ds.responses) >= 5
    with pytest.raises(InputError, match="no prompts.jsonl and results.jsonl"):
        io.read(few, texts=tmp_path)


def test_prefkit_jsonl_round_trip_keeps_responses(tmp_path: Path) -> None:
    ds = io.read(_jsonl(tmp_path / "a.jsonl", ROWS))
    out = tmp_path / "native.jsonl"
    io.write(ds, out, format="prefkit")
    back = io.read(out)
    assert _texts(back) == _texts(ds) and back.context_text == ds.context_text
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"type": "response", "item": "x"}\n{"type": "pairwise", "a": "x", "b": "y", "outcome": "a"}\n'
    )
    with pytest.raises(InputError, match="needs a string 'text'"):
        io.read(bad)
