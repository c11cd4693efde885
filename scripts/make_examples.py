"""Regenerate the synthetic example data shipped in src/prefkit/examples/ (deterministic).

The arena log is simulated from known strengths (Bradley-Terry with Davidson ties), so the demo's
leaderboard can be compared with the truth printed here:

    python scripts/make_examples.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "prefkit" / "examples"

# true strengths on the logit (natural-log) scale; Elo-scale = 1000 + 400 * s / ln(10)
MODELS = {
    "aurora-70b": 1.2,
    "basalt-34b": 0.8,
    "cirrus-13b": 0.5,
    "dune-8x7b": 0.45,
    "ember-7b": 0.0,
    "fjord-7b": -0.2,
    "granite-3b": -0.6,
    "heron-1b": -1.1,
}
TIE_NU = 0.5  # Davidson tie parameter


def battles(n: int, rng: np.random.Generator) -> list[dict[str, object]]:
    names = list(MODELS)
    s = np.array([MODELS[m] for m in names])
    rows = []
    for i in range(n):
        a, b = rng.choice(len(names), size=2, replace=False)
        pa, pb = np.exp(s[a]), np.exp(s[b])
        pt = TIE_NU * np.sqrt(pa * pb)
        z = pa + pb + pt
        u = rng.random() * z
        if u < pa:
            winner = "model_a"
        elif u < pa + pb:
            winner = "model_b"
        else:
            winner = "tie" if rng.random() < 0.7 else "tie (bothbad)"
        rows.append(
            {
                "id": f"battle-{i:05d}",
                "model_a": names[a],
                "model_b": names[b],
                "winner": winner,
                "judge": f"voter-{rng.integers(40):02d}",
                "question_id": f"q{rng.integers(120):03d}",
            }
        )
    return rows


def main() -> None:
    rng = np.random.default_rng(20261127)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "battles.jsonl", "w", encoding="utf-8") as fh:
        for row in battles(3000, rng):
            fh.write(json.dumps(row) + "\n")
    truth = {m: round(1000 + 400 * s / np.log(10), 1) for m, s in MODELS.items()}
    centre = np.mean(list(truth.values()))
    print("true Elo-scale ratings (centred at 1000):")
    for m, r in truth.items():
        print(f"  {m:12s} {r - centre + 1000:7.1f}")


if __name__ == "__main__":
    main()
