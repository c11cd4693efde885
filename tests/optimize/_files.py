"""Small preference files written for the tests (prefkit JSONL)."""

from __future__ import annotations

import json
from pathlib import Path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def ranked(path: Path, n_prompts: int = 3, k: int = 4, ties: bool = False) -> Path:
    recs: list[dict] = []
    for q in range(n_prompts):
        recs.append({"type": "context", "id": f"q{q}", "text": f"Question {q}?"})
        ids = [f"q{q}-r{i}" for i in range(k)]
        for i, ident in enumerate(ids):
            recs.append({"type": "item", "id": ident, "text": f"answer {i} to {q}"})
        ranking = [ids] if ties else ids
        recs.append({"type": "ranking", "ranking": ranking, "context": f"q{q}"})
    return write_jsonl(path, recs)


def rated(path: Path, scores: dict[str, list[dict[str, float]]]) -> Path:
    """``scores[prompt] = [{attribute: score}, ...]`` one dict per response."""
    recs: list[dict] = []
    for q, resp in scores.items():
        recs.append({"type": "context", "id": q, "text": f"Prompt {q}"})
        for i, sc in enumerate(resp):
            ident = f"{q}-{i}"
            recs.append({"type": "item", "id": ident, "text": f"response {i} of {q}"})
            recs.append({"type": "rating", "item": ident, "context": q, "scores": sc, "scale": [0, 10]})
    return write_jsonl(path, recs)
