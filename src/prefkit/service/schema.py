"""The web service's tables in the project SQLite file: namespace ``"service"``, append-only migrations."""

from __future__ import annotations

NAMESPACE = "service"

V1 = """
CREATE TABLE svc_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE svc_campaigns (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    shape TEXT NOT NULL CHECK (shape IN ('pairwise', 'ranking', 'rating')),
    config TEXT NOT NULL,
    guidelines TEXT NOT NULL,
    created_at REAL NOT NULL
) STRICT;
CREATE TABLE svc_tasks (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES svc_campaigns(id),
    seq INTEGER NOT NULL,
    context_id TEXT,
    context TEXT NOT NULL,
    candidates TEXT NOT NULL,
    n_done INTEGER NOT NULL DEFAULT 0,
    UNIQUE (campaign_id, seq)
) STRICT;
CREATE INDEX svc_tasks_open ON svc_tasks(campaign_id, n_done, seq);
CREATE TABLE svc_tokens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'annotator')),
    annotator TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('human', 'model')),
    label TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE svc_grants (
    token_id INTEGER NOT NULL REFERENCES svc_tokens(id),
    resource TEXT NOT NULL CHECK (resource IN ('campaign', 'arena')),
    resource_id INTEGER NOT NULL,
    PRIMARY KEY (token_id, resource, resource_id)
) STRICT;
CREATE TABLE svc_answers (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES svc_tasks(id),
    campaign_id INTEGER NOT NULL REFERENCES svc_campaigns(id),
    token_id INTEGER NOT NULL REFERENCES svc_tokens(id),
    status TEXT NOT NULL CHECK (status IN ('done', 'skipped')),
    answer TEXT NOT NULL,
    positions TEXT NOT NULL,
    rationale TEXT,
    created_at REAL NOT NULL,
    UNIQUE (task_id, token_id)
) STRICT;
CREATE INDEX svc_answers_campaign ON svc_answers(campaign_id, status);
CREATE INDEX svc_answers_token ON svc_answers(token_id, campaign_id);
CREATE TABLE svc_arenas (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    k INTEGER NOT NULL CHECK (k >= 2),
    config TEXT NOT NULL,
    models TEXT NOT NULL,
    created_at REAL NOT NULL
) STRICT;
CREATE TABLE svc_arena_prompts (
    id INTEGER PRIMARY KEY,
    arena_id INTEGER NOT NULL REFERENCES svc_arenas(id),
    seq INTEGER NOT NULL,
    prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    outputs TEXT NOT NULL,
    UNIQUE (arena_id, seq)
) STRICT;
CREATE TABLE svc_arena_votes (
    id INTEGER PRIMARY KEY,
    arena_id INTEGER NOT NULL REFERENCES svc_arenas(id),
    match_key TEXT NOT NULL UNIQUE,
    token_id INTEGER NOT NULL REFERENCES svc_tokens(id),
    prompt_id INTEGER NOT NULL REFERENCES svc_arena_prompts(id),
    models TEXT NOT NULL,
    ranks TEXT NOT NULL,
    created_at REAL NOT NULL
) STRICT;
CREATE INDEX svc_arena_votes_arena ON svc_arena_votes(arena_id, id);
"""

V2 = """
-- tokens are stored as their SHA-256 only: the secret is shown once, when it is issued
UPDATE svc_tokens SET secret = '';
"""

V3 = """
-- arena vote hygiene: tokens whose votes leave the leaderboards, and why (see prefkit.service.hygiene)
CREATE TABLE svc_arena_flags (
    arena_id INTEGER NOT NULL REFERENCES svc_arenas(id),
    token_id INTEGER NOT NULL REFERENCES svc_tokens(id),
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (arena_id, token_id)
) STRICT;
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3)
