"""The demo project: two campaigns and two arenas from the synthetic example data in ``service/demo/``.

``ensure_demo`` is idempotent: running it again reuses what exists (same invite link each time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prefkit.service import ops, repo
from prefkit.service.campaigns import CampaignConfig
from prefkit.service.security import sign

if TYPE_CHECKING:
    from prefkit.service.state import ServiceState

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_LABEL = "demo invite"


@dataclass(frozen=True)
class DemoInfo:
    admin_token: str | None
    annotator_token: str
    campaigns: tuple[str, ...]
    arenas: tuple[str, ...]


def ensure_demo(svc: ServiceState) -> DemoInfo:
    conn = svc.db()
    have_c = {c.slug for c in repo.list_campaigns(conn)}
    have_a = {a.slug for a in repo.list_arenas(conn)}
    data = (DEMO_DIR / "campaign.jsonl").read_text(encoding="utf-8")
    guide = (DEMO_DIR / "guidelines.md").read_text(encoding="utf-8")
    arena_data = (DEMO_DIR / "arena.jsonl").read_text(encoding="utf-8")
    if "demo-pairwise" not in have_c:
        ops.create_campaign(
            svc,
            slug="demo-pairwise",
            name="Demo: which answer is better?",
            cfg=CampaignConfig(shape="pairwise", criteria=["overall"], overlap=2),
            guidelines=guide,
            data=data,
            source=str(DEMO_DIR / "campaign.jsonl"),
        )
    if "demo-ranking" not in have_c:
        ops.create_campaign(
            svc,
            slug="demo-ranking",
            name="Demo: rank three answers",
            cfg=CampaignConfig(shape="ranking", criteria=["overall"], overlap=2),
            guidelines=guide,
            data="\n".join(line for line in data.splitlines() if '"image"' not in line),
            source=str(DEMO_DIR / "campaign.jsonl"),
        )
    if "demo-arena" not in have_a:
        ops.create_arena(
            svc,
            slug="demo-arena",
            name="Demo arena (pairwise)",
            k=2,
            policy="infogain-pl",
            data=arena_data,
            source="arena.jsonl",
        )
    if "demo-kwise" not in have_a:
        ops.create_arena(
            svc,
            slug="demo-kwise",
            name="Demo arena (4-wise)",
            k=4,
            policy="infogain-pl",
            data=arena_data,
            source="arena.jsonl",
        )
    # the demo invite is derived from the project's secret (tokens are stored hashed): the same link each time
    secret = sign(svc.secret, "demo-invite")
    if svc.principal(secret) is None:
        ops.issue_invite(
            svc,
            annotator="demo-annotator",
            kind="human",
            label=DEMO_LABEL,
            campaigns=["demo-pairwise", "demo-ranking"],
            arenas=["demo-arena", "demo-kwise"],
            secret=secret,
        )
    return DemoInfo(svc.admin_token, secret, ("demo-pairwise", "demo-ranking"), ("demo-arena", "demo-kwise"))
