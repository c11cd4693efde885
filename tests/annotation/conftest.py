"""Fixtures of the judge tests: a small OpenAI-compatible chat-completions server on 127.0.0.1 (real HTTP,
stdlib only) and arena logs with texts.

The server answers like a judge that prefers the answer containing the word "good" (``[[A]]`` / ``[[B]]``,
``[[C]]`` when both or neither do), and misbehaves on request when the prompt carries a marker:

* ``RATE-LIMIT-n``: the first n requests carrying it get HTTP 429;
* ``SERVER-ERROR``: always HTTP 500;
* ``GARBAGE``: HTTP 200 with a body that is not JSON;
* ``SLOW``: sleeps 2 s before answering (longer than the tests' client timeout);
* ``MUMBLE``: answers text without a verdict.

Only the model name ``judge-1`` exists; any other gets HTTP 404 like OpenAI's "model not found".
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

MODEL = "judge-1"


class FakeOpenAI:
    model = MODEL

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload, ctype = fake.answer(body)
                self._send(status, payload, ctype)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, body: dict[str, Any]) -> tuple[int, bytes, str]:
        text = "\n".join(m["content"] for m in body["messages"])
        with self.lock:
            self.requests.append(body)
        if body.get("model") != MODEL:
            err = {"error": {"message": f"The model `{body.get('model')}` does not exist", "type": "invalid_request_error",
                             "code": "model_not_found"}}  # fmt: skip
            return 404, json.dumps(err).encode(), "application/json"
        m = re.search(r"RATE-LIMIT-(\d+)", text)
        if m:
            with self.lock:
                self.seen[m.group(0) + text] += 1
                n = self.seen[m.group(0) + text]
            if n <= int(m.group(1)):
                err = {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}
                return 429, json.dumps(err).encode(), "application/json"
        if "SERVER-ERROR" in text:
            return 500, b'{"error": {"message": "boom"}}', "application/json"
        if "GARBAGE" in text:
            return 200, b"<html>this is not a chat completion", "application/json"
        if "SLOW" in text:
            time.sleep(2.0)
        if "Score each response" in text:
            k = len(re.findall(r"\[Response \d+\]", text))
            crits = re.findall(r"^- (\w+):", text.split("[Instruction]")[0], re.M)
            scores = [{"response": r, "criterion": c, "score": 3 + (r == 1), "rationale": "ok"}
                      for r in range(1, k + 1) for c in crits]  # fmt: skip
            verdict = "Here you go: " + json.dumps({"scores": scores})
            if "MUMBLE" in text:
                verdict = json.dumps({"scores": scores[:-1]})
        elif "under each principle" in text:
            verdict = "helpful: A\nharmless: TIE" if "MUMBLE" not in text else "helpful: A\nhelpful: B"
        elif "[[rating]]" in text:
            verdict = "Rating: [[8]]" if "good" in text else "Rating: [[2]]" if "MUMBLE" not in text else "eh"
        elif "MUMBLE" in text:
            verdict = "I cannot decide, both have merits."
        else:
            a = re.search(r"Assistant A's Answer\]\n(.*?)\n\[The End of Assistant A", text, re.S)
            b = re.search(r"Assistant B's Answer\]\n(.*?)\n\[The End of Assistant B", text, re.S)
            ga = bool(a and "good" in a.group(1))
            gb = bool(b and "good" in b.group(1))
            verdict = (
                "Explanation. [[A]]" if ga and not gb else "Explanation. [[B]]" if gb and not ga else "[[C]]"
            )
        reply = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": verdict}}
            ],
            "usage": {
                "prompt_tokens": len(text.split()),
                "completion_tokens": 3,
                "total_tokens": len(text.split()) + 3,
            },
        }
        return 200, json.dumps(reply).encode(), "application/json"


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _battles(path: Path, answers: list[tuple[str, str]], *, prompt: str = "Say something.") -> Path:
    """An arena log with texts: pair i is model m{i}a vs m{i}b on question q{i}."""
    rows = [
        {"model_a": f"m{i}a", "model_b": f"m{i}b", "winner": "tie", "question_id": f"q{i}", "prompt": prompt,
         "response_a": a, "response_b": b}
        for i, (a, b) in enumerate(answers)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def battles() -> Callable[..., Path]:
    return _battles
