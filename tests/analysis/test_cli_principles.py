"""``prefkit explain principles`` end to end: ICAI's synthetic orthogonal set, bad inputs, the local SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prefkit.cli.main import main

ORTHO = "synthetic_data_orthogonal_adcbg.csv"
POOL = [
    "Select the response that is about a cat.",
    "Select the response that is about a dog.",
    "Select the response that recommends lemon ice cream.",
    "Select the response that recommends raspberry ice cream.",
]


def _few(tmp_path: Path, shared_data: Path, n: int) -> Path:
    """The first ``n`` pairs of ICAI's aligned set as a feedback CSV."""
    import csv
    import io

    lines = (shared_data / "icai" / "synthetic_data_aligned_vqvtb.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(lines)))[:n]
    few = tmp_path / "few.csv"
    with few.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["text_a", "text_b", "preferred_text"])
        w.writeheader()
        w.writerows({k: r[k] for k in ("text_a", "text_b", "preferred_text")} for r in rows)
    return few


def _run(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_principles_json_on_the_orthogonal_set(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    pool = tmp_path / "pool.txt"
    pool.write_text("# planted and opposite\n" + "\n".join(POOL) + "\n")
    out = tmp_path / "ap.json"
    argv = ["explain", "principles", str(shared_data / "icai" / ORTHO), "--pool", str(pool), "--encoder",
            "hashing:4096", "--format", "json", "--out", str(out), "-q"]  # fmt: skip
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    texts = [p["text"] for p in doc["principles"]]
    assert set(doc["reconstruction"]) == {"accuracy", "lower", "upper", "n", "baseline"}
    assert doc["reconstruction"]["n"] == 9
    assert all(set(p) == {"text", "support", "accuracy"} for p in doc["principles"])
    # hashed words: "cat" and "lemon" are literal in the preferred responses, their opposites in the others
    assert "Select the response that is about a dog." not in texts
    assert "Select the response that recommends raspberry ice cream." not in texts
    ap = json.loads(out.read_text())
    assert ap["metadata"]["version"] == "2.0" and len(ap["comparisons"]) == 30
    # the same run again gives the same answer (seeded split and clustering)
    code, again, _ = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--voter", "oracle"], "--voter must be judge, embedding or reward"),
        (["--voter", "judge"], "--voter judge and --propose need --model"),
        (["--voter", "reward"], "--voter reward needs --reward DIR"),
        (["--min-accuracy", "1.5"], "--min-accuracy must be in [0, 1]"),
        (["--model", "scripted", "--voter", "judge"], "not a chat model"),
    ],
)
def test_bad_options(extra: list[str], message: str, capsys: Any, shared_data: Path) -> None:
    code, _, err = _run(
        ["explain", "principles", str(shared_data / "icai" / ORTHO), "--encoder", "hashing", *extra], capsys
    )
    assert code == 2 and message in err and err.count("error:") == 1


def test_empty_pool_and_principles_that_never_apply(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    f = str(shared_data / "icai" / ORTHO)
    code, _, err = _run(["explain", "principles", f, "--pool", str(empty)], capsys)
    assert code == 2 and "no principle in the pool" in err
    never = tmp_path / "never.txt"
    never.write_text("Select the response that mentions quaternions.\n")
    # the embedding voter has no notion of "never applies" (some response is always closest), so the
    # accuracy bar does the filtering here; ChatVoter's None votes are tested in test_principles.py
    argv = [
        "explain",
        "principles",
        f,
        "--pool",
        str(never),
        "--encoder",
        "hashing",
        "--min-accuracy",
        "0.95",
    ]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "the constitution is empty" in err and "quaternions" in err


def test_pairs_without_texts(capsys: Any) -> None:
    battles = Path(__file__).resolve().parents[2] / "src" / "prefkit" / "examples" / "battles.jsonl"
    code, _, err = _run(["explain", "principles", str(battles), "--encoder", "hashing"], capsys)
    assert code == 2 and "carry no response texts" in err


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_principles_with_smollm2_as_the_voter(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    """Plumbing with the real local model: 4 pairs, one short vote call each (the 135M model is no judge)."""
    pytest.importorskip("xllamacpp")
    from prefkit.annotation.local import gguf_path

    try:
        gguf_path("smollm2")
    except Exception as exc:
        pytest.skip(str(exc))
    few = _few(tmp_path, shared_data, 4)
    pool = tmp_path / "pool.txt"
    pool.write_text(POOL[0] + "\n")
    argv = ["explain", "principles", str(few), "--voter", "judge", "--model", "local:smollm2", "--pool", str(pool),
            "--encoder", "hashing", "--min-relevance", "0", "--min-accuracy", "0", "--max-tokens", "12",
            "--test-fraction", "0.25", "--cache", str(tmp_path / "cache.sqlite"), "--format", "json", "-q"]  # fmt: skip
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["principles"][0]["text"] == POOL[0] and doc["reconstruction"]["n"] == 1
    # the held-out pair was predicted by SmolLM2 reading the constitution (ICAI's judge), with and without it
    assert doc["reconstructed_by"] == "judge local:smollm2"
    # a re-run is answered from the reply cache, with the same result
    code, again, err = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc


def test_criteria_offline_and_bad_options(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    f = str(shared_data / "icai" / "synthetic_data_mixed_vqvtb_adcbg.csv")
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(POOL) + "\n")
    argv = ["explain", "criteria", f, "--voter", "embedding", "--encoder", "hashing:4096", "--pool", str(pool),
            "--keep-accuracy", "0.6", "--format", "json"]  # fmt: skip
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["scorer"]["n_train"] == 30 and doc["scorer"]["n_test"] == 30
    weights = {c["text"]: c["weight"] for c in doc["criteria"]}
    assert weights[POOL[0]] > weights.get(POOL[1], 0.0)  # cats over dogs
    assert POOL[3] not in weights  # raspberry is never preferred
    assert len(doc["rounds"]) == 1  # no refining model: one round
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(POOL[3] + "\n")  # raspberry: always the rejected one
    for extra, message in [
        (["--voter", "judge"], "--voter judge needs --model"),
        (["--voter", "embedding", "--train", "1"], "--train must be >= 2"),
        (["--voter", "embedding", "--keep-accuracy", "1.01"], "--keep-accuracy must be in [0, 1]"),
        (["--voter", "embedding", "--encoder", "hashing", "--pool", str(wrong)], "no criterion agrees"),
    ]:
        code, _, err = _run(["explain", "criteria", f, *extra], capsys)
        assert code == 2 and message in err and err.count("error:") == 1, (extra, err)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_criteria_with_smollm2(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    """Plumbing with the real local model: 4 training pairs, one criterion, two rounds (judge, refine, judge)."""
    pytest.importorskip("xllamacpp")
    from prefkit.annotation.local import gguf_path

    try:
        gguf_path("smollm2")
    except Exception as exc:
        pytest.skip(str(exc))
    few = _few(tmp_path, shared_data, 5)
    pool = tmp_path / "pool.txt"
    pool.write_text("Select the response that is correct.\n")
    argv = ["explain", "criteria", str(few), "--model", "local:smollm2", "--pool", str(pool), "--train", "4",
            "--rounds", "2", "--keep-accuracy", "0", "--min-coverage", "0", "--max-tokens", "12", "--cache", str(tmp_path / "c.sqlite"),
            "--format", "json", "-q"]  # fmt: skip
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["scorer"]["n_train"] == 4 and doc["scorer"]["n_test"] == 1
    code, again, _ = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc


# --- a scripted judge that knows the planted principle, behind a real OpenAI-compatible HTTP server ---------------

PLANTED = "Select the response that mentions a dragon."
DISTRACTORS = ["Select the response that is longer.", "Select the response that mentions the sea."]


def _has(word: str, text: str) -> bool:
    return word in text.split()


class PlantedServer:
    """Chat completions on 127.0.0.1 (stdlib HTTP, the OpenAI wire format) from a judge that knows the planted
    principle (the preferred story mentions a dragon): it proposes it among distractors (ICAI's proposal prompt),
    votes each principle by its literal meaning (the voting prompt), and, asked which response the annotator
    preferred, applies the dragon rule only when the constitution it is given states it, otherwise answers "A"
    (a position follower). Counts the requests, so that a re-run answered from the cache shows."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests += 1
                text = "\n".join(m["content"] for m in body["messages"])
                reply = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": fake.answer(text)}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, text: str) -> str:
        import re

        a = text.split("Response A:\n")[-1].split("\n\nResponse B:\n")[0]
        b = text.split("\n\nResponse B:\n")[-1].split("\n\nAnswer with")[0].rstrip("\n")
        if text.startswith("You are given two responses"):
            return json.dumps([PLANTED, *DISTRACTORS])
        if text.startswith("An annotator chose"):
            head = text.split("Prompt:")[0]
            if "dragon" in head and _has("dragon", a) != _has("dragon", b):
                return "A" if _has("dragon", a) else "B"
            return "A"
        listing = re.search(r"Principles:\n(.*?)\n\nPrompt:", text, re.S)
        votes = {}
        for line in (listing.group(1) if listing else "").splitlines():
            k, principle = line.split(": ", 1)
            if "longer" in principle:
                votes[k] = "A" if len(a) > len(b) else "B"
                continue
            word = "dragon" if "dragon" in principle else "sea" if "sea" in principle else None
            ia, ib = (_has(word, a), _has(word, b)) if word else (False, False)
            votes[k] = "A" if ia and not ib else "B" if ib and not ia else "None"
        return json.dumps(votes)

    def __enter__(self) -> PlantedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _dragon_csv(path: Path, n: int, seed: int) -> Path:
    """Stories where the annotator always prefers the one with a dragon; length and the sea are independent."""
    import csv

    import numpy as np

    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text_a", "text_b", "preferred_text"])
        for _ in range(n):
            texts = []
            for dragon in (True, False):
                words = ["once", "upon", "a", "time"] + ["and"] * int(rng.integers(1, 30))
                words += ["dragon"] * dragon + ["sea"] * bool(rng.random() < 0.5)
                texts.append(" ".join(words))
            flip = bool(rng.random() < 0.5)
            w.writerow([texts[flip], texts[not flip], "text_b" if flip else "text_a"])
    return path


def test_planted_principle_through_the_openai_client(tmp_path: Path, capsys: Any) -> None:
    """ICAI end to end over HTTP: the model proposes and votes, the judge reads the constitution alone."""
    data = _dragon_csv(tmp_path / "dragons.csv", 40, seed=3)
    with PlantedServer() as server:
        argv = ["explain", "principles", str(data), "--model", "planted-1", "--base-url", server.url, "--propose",
                "--voter", "judge", "--encoder", "hashing", "--max-principles", "3", "--cache",
                str(tmp_path / "cache.sqlite"), "--format", "json", "-q"]  # fmt: skip
        code, out, err = _run(argv, capsys)
        assert code == 0, err
        doc = json.loads(out)
        assert doc["principles"][0]["text"] == PLANTED and doc["principles"][0]["accuracy"] == 1.0
        assert DISTRACTORS[1] not in [p["text"] for p in doc["principles"]]
        rec = doc["reconstruction"]
        assert set(rec) == {"accuracy", "lower", "upper", "n", "baseline"}
        # 12 held-out pairs, all predicted by the judge reading the constitution; without it, the judge follows
        # the position, both orders disagree, no verdict: one half
        assert rec["n"] == 12 and rec["accuracy"] == 1.0 and rec["baseline"] == 0.5 and rec["lower"] > 0.7
        assert doc["reconstructed_by"] == "judge planted-1"
        asked = server.requests
        # a re-run (as after a crash) is answered from the reply cache: same result, no new request
        code, again, _ = _run(argv, capsys)
        assert code == 0 and json.loads(again) == doc and server.requests == asked
        # k-fold: every pair held out once, each fold's constitution mined without it
        code, out, err = _run([*argv, "--cross-validate", "4"], capsys)
        assert code == 0, err
        cv = json.loads(out)
        assert cv["reconstruction"]["n"] == 40 and cv["reconstruction"]["accuracy"] == 1.0
        assert cv["reconstruction"]["baseline"] == 0.5
        assert len(cv["folds"]) == 4 and all(f["principles"][0] == PLANTED for f in cv["folds"])
        # the offline alternative on request: the majority of the principles' votes
        code, out, err = _run([*argv, "--reconstruct", "votes"], capsys)
        assert code == 0, err
        assert json.loads(out)["reconstructed_by"] == "votes of the principles (judge voter)"


def test_scripted_judge_and_cross_validation_offline(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    """No LLM at all: embedding voter (hashed words), the scripted judge (a seeded coin that never reads the
    texts) as the constitution judge, and 5 folds; deterministic under the seed."""
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(POOL) + "\n")
    argv = ["explain", "principles", str(shared_data / "icai" / ORTHO), "--pool", str(pool), "--encoder",
            "hashing:4096", "--judge", "scripted", "--cross-validate", "5", "--format", "json"]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(out)
    rec = doc["reconstruction"]
    assert rec["n"] == 30 and doc["reconstructed_by"] == "judge scripted" and len(doc["folds"]) == 5
    assert 0.0 <= rec["lower"] <= rec["accuracy"] <= rec["upper"] <= 1.0
    code, again, _ = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc
    code, table, err = _run([a for a in argv if a not in ("--format", "json")], capsys)
    assert code == 0 and "each held out once (5 folds)" in table.replace("\n", " ")


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--reconstruct", "maybe"], "--reconstruct must be judge, votes or auto"),
        (["--reconstruct", "judge"], "--reconstruct judge needs --judge"),
        (["--cross-validate", "1"], "--cross-validate takes K >= 2 folds"),
        (["--cross-validate", "31"], "more folds than the 30 pairs"),
        (["--judge", "scripted:position=2"], "position must be a probability"),
    ],
)
def test_bad_reconstruction_options(extra: list[str], message: str, capsys: Any, shared_data: Path) -> None:
    code, _, err = _run(
        ["explain", "principles", str(shared_data / "icai" / ORTHO), "--encoder", "hashing", *extra], capsys
    )
    assert code == 2 and message in err and err.count("error:") == 1, err


def test_preference_dissection_pool(capsys: Any, shared_data: Path) -> None:
    from prefkit.analysis.principles import DISSECTION_POOL, PROPERTY_POOL

    assert len(DISSECTION_POOL) == 29 and len(set(DISSECTION_POOL)) == 29
    f = str(shared_data / "icai" / ORTHO)
    argv = ["explain", "principles", f, "--encoder", "hashing:4096", "--min-accuracy", "0", "--min-relevance", "0",
            "--clusters", "100", "--max-principles", "100", "--format", "json"]  # fmt: skip
    for preset, pool in (("dissection", DISSECTION_POOL), ("all", (*PROPERTY_POOL, *DISSECTION_POOL))):
        code, out, err = _run([*argv, "--preset", preset], capsys)
        assert code == 0, err
        # every candidate is kept (no clustering below the pool size, no filter): all come from the preset
        assert {p["text"] for p in json.loads(out)["principles"]} <= set(pool)
    for extra, message in [
        (["--preset", "zodiac"], "--preset must be one of"),
        (["--preset", "none"], "no candidates"),
    ]:
        code, _, err = _run([*argv, *extra], capsys)
        assert code == 2 and message in err and err.count("error:") == 1


def test_criteria_proposed_by_the_model_over_http(tmp_path: Path, capsys: Any) -> None:
    """CritiQ with ``--propose``: the planted judge proposes the dragon criterion among distractors; it is kept, the
    sea (at chance) is not, and the scorer predicts the held-out pairs."""
    data = _dragon_csv(tmp_path / "dragons.csv", 40, seed=5)
    with PlantedServer() as server:
        argv = ["explain", "criteria", str(data), "--model", "planted-1", "--base-url", server.url, "--propose",
                "--train", "30", "--rounds", "1", "--no-cache", "--format", "json", "-q"]  # fmt: skip
        code, out, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(out)
    texts = [c["text"] for c in doc["criteria"]]
    assert PLANTED in texts and DISTRACTORS[1] not in texts
    assert doc["scorer"]["n_test"] == 10 and doc["scorer"]["test_accuracy"] == 1.0
    code, _, err = _run(["explain", "criteria", str(data), "--voter", "embedding", "--propose"], capsys)
    assert code == 2 and "--propose needs --model" in err
