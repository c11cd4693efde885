"""``prefkit bench dilemmas`` / ``bench prefeval``: outputs, determinism, bad input, and the local SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prefkit.cli.main import main


def _run(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _smollm2() -> None:
    pytest.importorskip("xllamacpp")
    from prefkit.annotation.local import gguf_path

    try:
        gguf_path("smollm2")
    except Exception as exc:
        pytest.skip(str(exc))


def test_dilemmas_scripted(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    f = shared_data / "daily_dilemmas" / "dilemmas_with_detail_by_action_test.csv"
    argv = ["bench", "dilemmas", str(f), "--model", "scripted", "--system", "Be cautious.", "--out",
            str(tmp_path / "dd"), "--format", "json", "-q"]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert [p["name"] for p in doc["profiles"]] == ["scripted", "scripted + system"]
    answers = [json.loads(x) for x in (tmp_path / "dd" / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 8 and {a["choice"] for a in answers} <= {"to_do", "not_to_do"}
    # by hand: the to-do share is the share of "Action 1" answers
    first = [a for a in answers if a["system"] is None]
    assert doc["profiles"][0]["to_do_share"] == sum(a["choice"] == "to_do" for a in first) / 4
    assert json.loads((tmp_path / "dd" / "summary.json").read_text()) == doc
    code, again, _ = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc


def test_dilemmas_bad_input(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    d = shared_data / "daily_dilemmas"
    src = (d / "dilemmas_with_detail_by_action_test.csv").read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text(src.replace("'honesty'", "'hovercraft piloting'", 1))
    code, _, err = _run(
        ["bench", "dilemmas", str(bad), "--model", "scripted", "--values", str(d / "values.csv")], capsys
    )
    assert code == 2 and "bad.csv:2: value 'hovercraft piloting' is not in the values table" in err
    code, _, err = _run(["bench", "dilemmas", str(bad), "--model", "scripted"], capsys)
    assert code == 2 and "give --values values.csv" in err


def test_prefeval_scripted_and_bad_input(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    root = str(shared_data / "prefeval")
    argv = ["bench", "prefeval", root, "--model", "scripted", "--topics", "travel_hotel,shop_home", "--turns", "0,2",
            "--limit", "3", "--out", str(tmp_path / "pe"), "--format", "json", "-q"]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["overall"]["n"] == 12 and [c["key"] for c in doc["by_distance"]] == ["0", "2"]
    answers = [json.loads(x) for x in (tmp_path / "pe" / "answers.jsonl").read_text().splitlines()]
    assert doc["overall"]["correct"] == sum(bool(a["correct"]) for a in answers)
    code, again, _ = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc
    gen = ["bench", "prefeval", root, "--model", "scripted", "--judge", "scripted", "--task", "generation",
           "--topics", "pet_ownership", "--limit", "2", "--format", "json"]  # fmt: skip
    code, out, err = _run(gen, capsys)
    assert code == 0, err
    assert sum(json.loads(out)["errors"].values()) == 2
    for extra, message in [
        (["--topics", "astrology"], "no PrefEval topic 'astrology'"),
        (["--turns", "1,x"], "--turns takes comma-separated integers"),
        (["--task", "generation"], "--task generation needs --judge"),
        (["--form", "telepathic"], "form must be one of"),
    ]:
        code, _, err = _run(["bench", "prefeval", root, "--model", "scripted", *extra], capsys)
        assert code == 2 and message in err and err.count("error:") == 1, (extra, err)
    code, _, err = _run(["bench", "prefeval", str(tmp_path), "--model", "scripted"], capsys)
    assert code == 2 and "not a PrefEval data directory" in err


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smollm2_dilemmas_and_prefeval(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    """The real local model as the model under test: 4 dilemmas and 2 MCQ items, a few tokens each; a re-run is
    answered from the reply cache (the resume path) with the same summary."""
    _smollm2()
    cache = str(tmp_path / "cache.sqlite")
    f = shared_data / "daily_dilemmas" / "dilemmas_with_detail_by_action_test.csv"
    dd = ["bench", "dilemmas", str(f), "--model", "local:smollm2", "--max-tokens", "4", "--cache", cache,
          "--out", str(tmp_path / "dd"), "--format", "json", "-q"]  # fmt: skip
    code, out, err = _run(dd, capsys)
    assert code == 0, err
    first = json.loads(out)
    assert first["profiles"][0]["n_dilemmas"] == 4
    code, out, err = _run(dd, capsys)
    assert code == 0 and json.loads(out) == first
    pe = ["bench", "prefeval", str(shared_data / "prefeval"), "--model", "local:smollm2", "--topics",
          "travel_restaurant", "--limit", "2", "--turns", "0", "--max-tokens", "2", "--cache", cache,
          "--out", str(tmp_path / "pe"), "--format", "json", "-q"]  # fmt: skip
    code, out, err = _run(pe, capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["overall"]["n"] == 2
    answers = [json.loads(x) for x in (tmp_path / "pe" / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 2 and all(isinstance(a["reply"], str) for a in answers)


def test_ratings_on_llmfao(tmp_path: Path, capsys: Any, shared_data: Path, require_peer: Any) -> None:
    require_peer("surprise", "bench")
    argv = ["bench", "ratings", str(shared_data / "llmfao"), "--encoder", "hashing", "--out", str(tmp_path / "r"),
            "--format", "json"]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["n_items"] == 750 and set(doc["metrics"]) == {"bias", "svd", "embedding"}
    for m in doc["metrics"].values():
        assert (
            0.0 < m["rmse"] < 0.5 and 0.5 < m["pair_accuracy"] < 1.0
        )  # scores in [0, 1]; better than chance
    lines = (tmp_path / "r" / "answers.jsonl").read_text().splitlines()
    assert len(lines) == doc["n_test"]
    code, _, err = _run(["bench", "ratings", str(shared_data / "llmfao"), "--test-share", "1.5"], capsys)
    assert code == 2 and "--test-share must be in (0, 1)" in err


class FlakyServer:
    """An OpenAI-compatible chat server on 127.0.0.1 (stdlib HTTP) that goes away mid-run: after ``up_for``
    answers every request gets HTTP ``status`` (400: refused, the run stops at once; 500: a server error, retried
    and then given up). Answers: "Action 1" / "Action 2" for dilemmas and a letter for multiple choice, fixed by
    the prompt."""

    def __init__(self, up_for: int | None = None, status: int = 400) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.up_for = up_for
        self.status = status
        self.answered = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                import hashlib

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = "\n".join(m["content"] for m in body["messages"])
                with fake.lock:
                    down = fake.up_for is not None and fake.answered >= fake.up_for
                    fake.answered += not down
                if down:
                    status, reply = (
                        fake.status,
                        json.dumps({"error": {"message": "server is going away"}}).encode(),
                    )
                else:
                    h = hashlib.sha256(text.encode()).digest()[0]
                    content = f"Action {1 + h % 2}" if "'Action 1'" in text else "ABCD"[h % 4]
                    reply = json.dumps({
                        "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }).encode()  # fmt: skip
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FlakyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("harness,status", [("dilemmas", 400), ("prefeval", 400), ("prefeval", 500)])
def test_a_run_that_lost_its_server_resumes(
    harness: str, status: int, tmp_path: Path, capsys: Any, shared_data: Path
) -> None:
    """The server goes away after 3 answers: the run stops with a clear message and writes nothing; the same
    command again asks only what was not answered and gives the summary of an uninterrupted run."""
    if harness == "dilemmas":
        args = [
            "bench",
            "dilemmas",
            str(shared_data / "daily_dilemmas" / "dilemmas_with_detail_by_action_test.csv"),
        ]
        total = 4
    else:
        args = ["bench", "prefeval", str(shared_data / "prefeval"), "--topics", "travel_hotel", "--limit", "4",
                "--turns", "0,1"]  # fmt: skip
        total = 8

    def argv(url: str, cache: Path, out: Path) -> list[str]:
        return [*args, "--model", "m-1", "--base-url", url, "--cache", str(cache), "--out", str(out),
                "--format", "json", "-q"]  # fmt: skip

    with FlakyServer() as clean:
        code, out, err = _run(argv(clean.url, tmp_path / "clean.sqlite", tmp_path / "clean"), capsys)
        assert code == 0, err
        expected = json.loads(out)
        assert clean.answered == total
    cache, dest = tmp_path / "c.sqlite", tmp_path / "run"
    with FlakyServer(up_for=3, status=status) as flaky:
        code, out, err = _run(argv(flaky.url, cache, dest), capsys)
        assert code == 2 and err.count("error:") == 1
        if status == 500:
            assert f"{total - 3} requests to the model got no answer" in err
        else:
            assert "HTTP 400" in err and "server is going away" in err
        assert "nothing written" in err and "run the same command again to resume" in err
        assert not dest.exists() or not (dest / "summary.json").exists()
        flaky.up_for = None  # the server is back
        code, out, err = _run(argv(flaky.url, cache, dest), capsys)
        assert code == 0, err
        assert flaky.answered == total  # the 3 answered before the outage came from the cache
    assert json.loads(out) == expected
    assert (dest / "answers.jsonl").read_text() == (tmp_path / "clean" / "answers.jsonl").read_text()


def test_ratings_is_deterministic_and_shows_progress(tmp_path: Path, capsys: Any, shared_data: Path,
                                                       require_peer: Any) -> None:  # fmt: skip
    require_peer("surprise", "bench")
    argv = [
        "bench",
        "ratings",
        str(shared_data / "llmfao"),
        "--encoder",
        "hashing",
        "--seed",
        "3",
        "--format",
        "json",
    ]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    code, again, _ = _run(argv, capsys)
    assert code == 0 and json.loads(again) == json.loads(out)


def test_ratings_with_a_model_scripted(
    tmp_path: Path, capsys: Any, shared_data: Path, require_peer: Any
) -> None:
    """``--model scripted`` answers no number: every LLM prediction falls back to the bias baseline (by hand)."""
    require_peer("surprise", "bench")
    argv = ["bench", "ratings", str(shared_data / "llmfao"), "--encoder", "hashing", "--model", "scripted",
            "--limit", "20", "--out", str(tmp_path / "r"), "--format", "json", "-q"]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["n_test"] == 20 and doc["unparsed"] == 20 and doc["metrics"]["llm"] == doc["metrics"]["bias"]
    rows = [json.loads(x) for x in (tmp_path / "r" / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 20 and all(r["llm"] == r["bias"] and r["reply"] for r in rows)
    for extra, message in [
        (["--limit", "0"], "--limit must be >= 1"),
        (["--history", "0"], "--history must be"),
    ]:
        code, _, err = _run(["bench", "ratings", str(shared_data / "llmfao"), *extra], capsys)
        assert code == 2 and message in err and err.count("error:") == 1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smollm2_predicts_ratings(tmp_path: Path, capsys: Any, shared_data: Path, require_peer: Any) -> None:
    """The real local model reads each annotator's history and predicts 3 held-out scores; a re-run is answered
    from the reply cache with the same summary."""
    require_peer("surprise", "bench")
    _smollm2()
    argv = ["bench", "ratings", str(shared_data / "llmfao"), "--encoder", "hashing", "--model", "local:smollm2",
            "--limit", "3", "--history", "2", "--max-tokens", "4", "--cache", str(tmp_path / "c.sqlite"),
            "--out", str(tmp_path / "r"), "--format", "json", "-q"]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["n_test"] == 3 and doc["model"] == "local:smollm2" and 0 <= doc["unparsed"] <= 3
    rows = [json.loads(x) for x in (tmp_path / "r" / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(0.0 <= r["llm"] <= 1.0 or r["llm"] == r["bias"] for r in rows)
    code, again, _ = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc
