"""Synthetic preference data with a planted reward, shared by the reward tests.

``planted_pairs``: embedding pairs from a Bradley-Terry model. ``ratings_file`` / ``rankings_file``: small
prefkit-JSONL files whose responses are bags of words from a fixed vocabulary; a response's planted reward
is the sum of its words' values (the same values for every file of a ``seed``, so a train and a test file
share the truth).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prefkit.cli.main import main
from prefkit.reward.pairs import PairFeatures


def planted_pairs(
    n: int = 600, d: int = 8, *, seed: int = 0, scale: float = 3.0, ctx_dim: int = 0
) -> tuple[PairFeatures, np.ndarray]:
    """Pairs drawn from a Bradley-Terry model with reward ``x . w``: returns (pairs, w)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    w *= scale / np.linalg.norm(w)
    x1 = rng.standard_normal((n, d))
    x2 = rng.standard_normal((n, d))
    p = 1 / (1 + np.exp(-(x1 - x2) @ w))
    first = rng.random(n) < p
    xc = np.where(first[:, None], x1, x2)
    xr = np.where(first[:, None], x2, x1)
    ctx = rng.standard_normal((n, ctx_dim)) if ctx_dim else None
    return PairFeatures(xc, xr, ctx=ctx), w


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    """One torch thread: the tiny synthetic fits gain nothing from more on a shared machine."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


# ------------------------------------------------------------------ prefkit JSONL with a planted reward
VOCAB = [f"tok{i}" for i in range(40)]


def _values(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(len(VOCAB))


def responses(
    n_prompts: int, k: int, *, seed: int, file_seed: int
) -> tuple[list[dict], dict[str, float], np.ndarray]:
    """Entity records (contexts, items), the planted reward of each item id, and the (n_prompts, k) ids."""
    rng = np.random.default_rng(1000 + file_seed)
    vals = _values(seed)
    recs: list[dict] = []
    planted: dict[str, float] = {}
    ids = np.empty((n_prompts, k), dtype=object)
    for q in range(n_prompts):
        qid = f"f{file_seed}q{q}"
        recs.append({"type": "context", "id": qid, "text": f"question {q} of file {file_seed}"})
        for j in range(k):
            words = rng.choice(len(VOCAB), size=6, replace=False)
            rid = f"{qid}r{j}"
            recs.append({"type": "item", "id": rid, "text": " ".join(VOCAB[w] for w in words)})
            planted[rid] = float(vals[words].sum())
            ids[q, j] = rid
    return recs, planted, ids


def ratings_file(
    path: Path, n_prompts: int = 60, k: int = 4, *, seed: int = 0, file_seed: int = 0, noise: float = 0.5
) -> dict[str, float]:
    """Ratings 1..7 on two attributes (both noisy readings of the planted reward); returns the planted rewards."""
    recs, planted, ids = responses(n_prompts, k, seed=seed, file_seed=file_seed)
    rng = np.random.default_rng(2000 + file_seed)
    for q in range(n_prompts):
        for rid in ids[q]:
            scores = {
                a: int(np.clip(np.round(4 + planted[rid] / 1.5 + noise * rng.standard_normal()), 1, 7))
                for a in ("helpfulness", "coherence")
            }
            recs.append(
                {
                    "type": "rating",
                    "item": rid,
                    "scores": scores,
                    "scale": [1, 7],
                    "context": f"f{file_seed}q{q}",
                }
            )
    _write(path, recs)
    return planted


def rankings_file(
    path: Path, n_prompts: int = 60, k: int = 4, *, seed: int = 0, file_seed: int = 0, noise: float = 0.5
) -> dict[str, float]:
    """One ranking of ``k`` responses per prompt (noisy planted order; near-equal neighbours tied)."""
    recs, planted, ids = responses(n_prompts, k, seed=seed, file_seed=file_seed)
    rng = np.random.default_rng(3000 + file_seed)
    for q in range(n_prompts):
        noisy = [(planted[r] + noise * rng.standard_normal(), r) for r in ids[q]]
        noisy.sort(reverse=True)
        groups: list[list[str]] = []
        prev = None
        for s, r in noisy:
            if prev is not None and prev - s < 0.15:
                groups[-1].append(r)
            else:
                groups.append([r])
            prev = s
        ranking = [g[0] if len(g) == 1 else g for g in groups]
        if len(groups) >= 2:
            recs.append({"type": "ranking", "ranking": ranking, "context": f"f{file_seed}q{q}"})
    _write(path, recs)
    return planted


def _write(path: Path, recs: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit status, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def cache(tmp_path) -> list[str]:
    """A private embedding cache directory for one test."""
    return ["--cache-dir", str(tmp_path / "cache")]
