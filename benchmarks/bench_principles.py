"""ICAI reconstruction on the paper's synthetic sets with the offline embedding voter (MiniLM), next to the
paper's GPT-4o numbers.

    PYTHONPATH=src python benchmarks/bench_principles.py [--data /work/shared/data/icai] [--judge local:smollm2]

Each set is 5-fold cross-validated (every pair judged by a constitution mined without it). Pools: prefkit's
property list (what an offline user has), and that list plus the planted preferences and their opposites (an
oracle pool: does the voting-and-filtering pipeline pick the right ones and reconstruct with them?).
Reconstruction "votes": the majority of the mined principles' embedding votes (no LLM). With ``--judge MODEL``
also ICAI's own reconstruction: MODEL reads only each fold's constitution and predicts the held-out verdicts
(both orders), against the same MODEL with no constitution.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import ExitStack
from pathlib import Path

from prefkit.analysis.principles import (
    PROPERTY_POOL,
    ChatConstitutionJudge,
    EmbeddingVoter,
    cross_validate,
    read_icai_csv,
)
from prefkit.reward.encoders import EncoderSpec, make_encoder

PLANTED = [
    "Select the response that is about a cat.",
    "Select the response that recommends a blue t-shirt.",
    "Select the response that recommends lemon ice cream.",
]
OPPOSITE = [
    "Select the response that is about a dog.",
    "Select the response that recommends a green t-shirt.",
    "Select the response that recommends raspberry ice cream.",
]
SETS = ("orthogonal_adcbg", "aligned_vqvtb", "mixed_vqvtb_adcbg")
PAPER = {"orthogonal_adcbg": "37.8% -> 86.7% (GPT-4o, constitution of the paper)"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data", default=os.path.join(os.environ.get("PREFKIT_SHARED_DATA", "../shared/data"), "icai")
    )
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--judge", help="a chat model that reads the constitution (local:smollm2, a server's model)"
    )
    ap.add_argument("--base-url", help="OpenAI-compatible server of --judge")
    ap.add_argument("--max-tokens", type=int, default=2, help="answer length cap of --judge")
    ap.add_argument("--cache", help="reply cache of --judge (SQLite), so that a stopped run resumes")
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated, of " + ", ".join(SETS))
    args = ap.parse_args()
    enc = make_encoder(EncoderSpec())
    with ExitStack() as stack:
        judges: list[tuple[str, object | None]] = [("votes", None)]
        if args.judge:
            from prefkit.cli._chat import open_chat

            chat = open_chat(stack, args.judge, base_url=args.base_url, cache=args.cache and Path(args.cache),
                             no_cache=not args.cache, max_tokens=args.max_tokens,
                             seed=0, scripted=False)  # fmt: skip
            judges.append((f"judge {args.judge}", ChatConstitutionJudge(chat)))
        print(
            "| set | pairs | pool | reconstruction | no constitution | with it [95% CI] | planted mined (folds) "
            "| paper |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name in args.sets.split(","):
            pairs = read_icai_csv(Path(args.data) / f"synthetic_data_{name}.csv")
            for pool_name, pool in (
                ("properties", list(PROPERTY_POOL)),
                ("properties+planted", [*PROPERTY_POOL, *PLANTED, *OPPOSITE]),
            ):
                for how, judge in judges:
                    t0 = time.perf_counter()
                    cv = cross_validate(
                        pairs,
                        EmbeddingVoter(enc),
                        folds=args.folds,
                        candidates=pool,
                        judge=judge,
                        seed=0,  # type: ignore[arg-type]
                    )
                    r = cv.reconstruction
                    failed = getattr(getattr(judge, "chat", None), "failed", 0)
                    if failed:
                        how += f" ({failed} requests failed)"
                    hits = sum(p in c for c in cv.constitutions for p in PLANTED)
                    wrong = sum(p in c for c in cv.constitutions for p in OPPOSITE)
                    print(
                        f"| {name} | {r.n} | {pool_name} | {how} | {r.baseline:.1%} | {r.accuracy:.1%} "
                        f"[{r.lower:.1%}, {r.upper:.1%}] | {hits}/{3 * args.folds} planted, {wrong} opposite "
                        f"| {PAPER.get(name, '')} |  <!-- {time.perf_counter() - t0:.1f} s -->",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
