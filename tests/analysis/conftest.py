"""A prefkit JSONL file with texts, two human annotators (with groups) and one model judge with planted tastes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

WORDS = "alpha beta gamma delta answer because model data value river stone light".split()


def write_planted(path: Path, n: int = 300, seed: int = 0) -> Path:
    """Humans prefer the longer response (logit 1.5 per 100 words); the judge prefers the shorter one."""
    rng = np.random.default_rng(seed)
    recs: list[dict] = [{"type": "meta", "conversational": False}]
    n_items = 40
    lengths = rng.integers(5, 200, size=n_items)
    for k in range(n_items):
        words = rng.choice(WORDS, size=int(lengths[k])).tolist()
        body = " ".join(w + ("." if j % 8 == 7 else "") for j, w in enumerate(words))
        if k % 3 == 0:
            body = "- " + body.replace(" because ", "\n- ")
        recs.append({"type": "item", "id": f"r{k}", "text": body})
    for c in range(5):
        recs.append({"type": "context", "id": f"q{c}", "text": f"Explain the {WORDS[c]} answer please"})
    recs.append({"type": "annotator", "id": "h1", "kind": "human", "groups": {"country": "FR"}})
    recs.append({"type": "annotator", "id": "h2", "kind": "human", "groups": {"country": "US"}})
    recs.append({"type": "annotator", "id": "judge-x", "kind": "model"})
    for ann, sign in (("h1", 1.5), ("h2", 1.5), ("judge-x", -1.5)):
        for _ in range(n):
            a, b = rng.choice(n_items, size=2, replace=False)
            p = 1 / (1 + np.exp(-sign * (lengths[a] - lengths[b]) / 100))
            recs.append(
                {
                    "type": "pairwise",
                    "a": f"r{a}",
                    "b": f"r{b}",
                    "outcome": "a" if rng.random() < p else "b",
                    "context": f"q{rng.integers(5)}",
                    "annotator": ann,
                }
            )
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def planted(tmp_path: Path) -> Path:
    return write_planted(tmp_path / "planted.jsonl")
