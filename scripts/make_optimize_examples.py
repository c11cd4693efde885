"""Regenerate src/prefkit/examples/ranked-responses.jsonl and rated-responses.jsonl (seeded, synthetic).

ranked-responses: 24 arithmetic and capital-city prompts, 4 responses each (a correct, complete answer; a correct
terse one; a wrong one; a refusal), ranked in that order, with the two middle ones tied in one prompt out of six.
rated-responses: the same prompts with ratings on helpfulness and verbosity (0-10) per response, for the
direction recipe (helpfulness rewards correctness; verbosity rewards length).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "prefkit" / "examples"
CAPITALS = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Italy", "Rome"),
    ("Egypt", "Cairo"),
    ("Canada", "Ottawa"),
    ("Norway", "Oslo"),
    ("Chile", "Santiago"),
    ("Spain", "Madrid"),
    ("India", "New Delhi"),
    ("Ghana", "Accra"),
]


def prompts(rng: np.random.Generator) -> list[tuple[str, list[str]]]:
    out = []
    for _ in range(12):
        a, b = int(rng.integers(2, 50)), int(rng.integers(2, 50))
        out.append(
            (
                f"What is {a} + {b}?",
                [
                    f"{a} + {b} = {a + b}. Adding the tens and then the units gives {a + b}.",
                    f"{a + b}",
                    f"{a + b + int(rng.integers(1, 9))}",
                    "Sorry, I cannot help with that.",
                ],
            )
        )
    for country, city in CAPITALS:
        out.append(
            (
                f"What is the capital of {country}?",
                [
                    f"The capital of {country} is {city}, which is also one of its largest cities.",
                    city,
                    CAPITALS[(CAPITALS.index((country, city)) + 1) % len(CAPITALS)][1],
                    "I do not know.",
                ],
            )
        )
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    ps = prompts(rng)
    ranked, rated = [], []
    for q, (prompt, responses) in enumerate(ps):
        for recs in (ranked, rated):
            recs.append({"type": "context", "id": f"q{q}", "text": prompt})
            for i, text in enumerate(responses):
                recs.append({"type": "item", "id": f"q{q}-r{i}", "text": text})
        ids = [f"q{q}-r{i}" for i in range(4)]
        ranking = [ids[0], [ids[1], ids[2]], ids[3]] if q % 6 == 5 else ids
        ranked.append({"type": "ranking", "ranking": ranking, "context": f"q{q}", "annotator": "a1"})
        helpful = [9, 7, 2, 1]
        for i, text in enumerate(responses):
            verbose = min(10, round(len(text) / 8))
            scores = {"helpfulness": helpful[i] + int(rng.integers(0, 2)), "verbosity": verbose}
            rated.append(
                {"type": "rating", "item": ids[i], "context": f"q{q}", "scores": scores, "scale": [0, 10]}
            )
    for name, recs in (("ranked-responses.jsonl", ranked), ("rated-responses.jsonl", rated)):
        (OUT / name).write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
        print(f"wrote {OUT / name} ({len(recs)} records)")


if __name__ == "__main__":
    main()
