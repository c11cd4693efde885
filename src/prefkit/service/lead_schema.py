"""The annotation lead's tables (namespace ``"service_lead"``, its own append-only migrations, so that they
never collide with the service's own numbering): gold and attention tasks, answer times, campaign status and
options, reviewers and reviews, pre-annotation suggestions, and the slugs of deleted campaigns."""

from __future__ import annotations

NAMESPACE = "service_lead"

V1 = """
CREATE TABLE svc_gold (
    task_id INTEGER PRIMARY KEY REFERENCES svc_tasks(id),
    campaign_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('gold', 'attention')),
    answer TEXT NOT NULL
) STRICT;
CREATE INDEX svc_gold_campaign ON svc_gold(campaign_id);
CREATE TABLE svc_answer_times (
    answer_id INTEGER PRIMARY KEY,
    seconds REAL NOT NULL CHECK (seconds >= 0)
) STRICT;
CREATE TABLE svc_campaign_opts (
    campaign_id INTEGER PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paused', 'closed')),
    suggestions INTEGER NOT NULL DEFAULT 0,
    changed_at REAL NOT NULL
) STRICT;
CREATE TABLE svc_deleted (
    slug TEXT PRIMARY KEY,
    deleted_at REAL NOT NULL
) STRICT;
CREATE TABLE svc_reviewers (
    token_id INTEGER NOT NULL,
    campaign_id INTEGER NOT NULL,
    PRIMARY KEY (token_id, campaign_id)
) STRICT;
CREATE TABLE svc_reviews (
    answer_id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL,
    reviewer_id INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'override')),
    override_id INTEGER,
    created_at REAL NOT NULL
) STRICT;
CREATE INDEX svc_reviews_campaign ON svc_reviews(campaign_id);
CREATE TABLE svc_suggestions (
    task_id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL,
    answer TEXT NOT NULL,
    source TEXT NOT NULL,
    rationale TEXT,
    created_at REAL NOT NULL
) STRICT;
"""

MIGRATIONS: tuple[str, ...] = (V1,)
