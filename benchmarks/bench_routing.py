"""Routed campaigns in the web service, beside an ordinary campaign of the same size, in one run.

Creates, in one service on a temporary project file (in process, no HTTP: the service's own functions):

* an ordinary pairwise campaign of N rows (the peer: what a campaign cost before routing existed);
* a routed campaign of the same N rows from a routing plan (the first half ``"route": "ai"``, the second half
  ``"human"``: the worst case for dealing, every held task before the first one for people), with the
  scripted judge (no network: the cost measured is the service's, not a model's);

and prints the creation time, the time the background judge takes to answer the ai-bound half (verdicts
stored as answers and routes updated, through the writer), and the median time to deal the next task to an
annotator (with the annotator's progress, as the task page shows it) in each campaign.

    python benchmarks/bench_routing.py                 # 100,000 rows
    python benchmarks/bench_routing.py --rows 20000    # quicker
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def rows(n: int, plan: bool) -> str:
    out = []
    for i in range(n):
        r: dict[str, object] = {
            "id": f"q{i}",
            "context": f"question {i}",
            "candidates": [{"id": "a", "text": "x" * (i % 50 + 1)}, {"id": "b", "text": "y" * 20}],
        }
        if plan:
            r["route"] = "ai" if i < n // 2 else "human"
            r["gain"] = round(1 - i / n, 6)
        out.append(json.dumps(r))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--deals", type=int, default=21)
    args = ap.parse_args()

    from prefkit.service import Settings, create_app, ops, repo
    from prefkit.service.campaigns import CampaignConfig
    from prefkit.service.routing import JudgeSpec, RoutingConfig

    tmp = Path(tempfile.mkdtemp(prefix="prefkit-bench-routing-"))
    svc = create_app(Settings(db_path=tmp / "p.db", admin_token="bench", synchronous="NORMAL")).state.svc
    try:
        n = args.rows
        cfg = CampaignConfig(overlap=1)
        t = time.perf_counter()
        ops.create_campaign(
            svc, slug="plain", name="", cfg=cfg, guidelines="", data=rows(n, False), source="p"
        )
        create_plain = time.perf_counter() - t
        judge = RoutingConfig(mode="plan", judges=[JudgeSpec("scripted:position=0.3")])
        t = time.perf_counter()
        ops.create_campaign(
            svc,
            slug="plan",
            name="",
            cfg=cfg,
            guidelines="",
            data=rows(n, True),
            source="plan",
            routing=judge,
        )
        create_plan = time.perf_counter() - t
        pending = "SELECT count(*) FROM svc_route_tasks WHERE route = 'pending'"
        while svc.db().execute(pending).fetchone()[0]:
            time.sleep(0.05)
        judged = time.perf_counter() - t  # from the start of the upload to the last stored verdict
        svc.writer.call(svc.core.sync_all)  # (the verdicts' copy into the core tables: not during the deals)
        tok, _ = svc.writer.call(
            lambda c: repo.issue_token(c, role="annotator", annotator="bench", campaigns=[1, 2])
        )

        def deal(slug: str) -> tuple[float, str]:
            c = svc.campaign(slug)
            times = []
            for _ in range(args.deals):
                t = time.perf_counter()
                task = next(repo.open_tasks(svc.db(), c.id, 1, tok))
                repo.campaign_progress(svc.db(), c.id, 1, tok)
                times.append(time.perf_counter() - t)
            return sorted(times)[len(times) // 2] * 1e3, task.context_id

        ms_plain, first_plain = deal("plain")
        ms_plan, first_plan = deal("plan")
        print(f"{n:,} rows, pairwise, overlap 1 (routed: {n // 2:,} ai-bound first, scripted judge)")
        print(
            "| campaign | create s | judge done s (from upload) | ai verdicts/s | next task + progress ms | first dealt |"
        )
        print("|---|---|---|---|---|---|")
        print(f"| ordinary (peer) | {create_plain:.1f} | - | - | {ms_plain:.0f} | {first_plain} |")
        print(
            f"| routed plan | {create_plan:.1f} | {judged:.1f} | {n // 2 / (judged - create_plan):,.0f} | "
            f"{ms_plan:.0f} | {first_plan} |"
        )
    finally:
        svc.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
