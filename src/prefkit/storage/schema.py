"""The core store's schema: the ordered migration scripts of namespace ``"core"``.

Never edit a script that has shipped: add a new one at the end. ``prefkit.storage.db.migrate`` applies
the missing ones (one transaction each) and refuses a store whose version is newer than this list.

Judgment tables carry their identity for idempotent imports (see :mod:`prefkit.storage.keys`): the
explicit ``id`` when the source gave one, else ``(d1, d2, occurrence)`` (the 128-bit content digest and the
occurrence number of identical anonymous rows within one source); the digest is kept for every row so that
a known id arriving with different content is detected. ``seq`` is the row's position in its import:
``ORDER BY import_id, seq`` gives the order of the source (rows are inserted in key order, for speed).
"""

from __future__ import annotations

NAMESPACE = "core"

V1_CORE = """
CREATE TABLE items (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT
) STRICT;
CREATE TABLE contexts (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT
) STRICT;
CREATE TABLE annotators (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT CHECK (kind IN ('human', 'model')),
    groups TEXT
) STRICT;
CREATE TABLE criteria (
    pk INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE attributes (
    pk INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE imports (
    pk INTEGER PRIMARY KEY,
    source TEXT,
    sha256 TEXT,
    format TEXT,
    time TEXT NOT NULL,
    counts TEXT NOT NULL
) STRICT;
CREATE TABLE pairwise (
    pk INTEGER PRIMARY KEY,
    id TEXT,
    d1 INTEGER NOT NULL,
    d2 INTEGER NOT NULL,
    occurrence INTEGER CHECK ((id IS NULL) = (occurrence IS NOT NULL)),
    a INTEGER NOT NULL REFERENCES items(pk),
    b INTEGER NOT NULL REFERENCES items(pk),
    outcome INTEGER NOT NULL CHECK (outcome BETWEEN 0 AND 3),
    strength REAL,
    context INTEGER REFERENCES contexts(pk),
    annotator INTEGER REFERENCES annotators(pk),
    criterion INTEGER NOT NULL REFERENCES criteria(pk),
    weight REAL NOT NULL,
    rationale TEXT,
    tstamp REAL,
    import_id INTEGER REFERENCES imports(pk),
    seq INTEGER NOT NULL,
    line INTEGER NOT NULL
) STRICT;
CREATE TABLE rankings (
    pk INTEGER PRIMARY KEY,
    id TEXT,
    d1 INTEGER NOT NULL,
    d2 INTEGER NOT NULL,
    occurrence INTEGER CHECK ((id IS NULL) = (occurrence IS NOT NULL)),
    context INTEGER REFERENCES contexts(pk),
    annotator INTEGER REFERENCES annotators(pk),
    criterion INTEGER NOT NULL REFERENCES criteria(pk),
    import_id INTEGER REFERENCES imports(pk),
    seq INTEGER NOT NULL,
    line INTEGER NOT NULL
) STRICT;
CREATE TABLE ranking_members (
    ranking INTEGER NOT NULL REFERENCES rankings(pk),
    pos INTEGER NOT NULL,
    item INTEGER NOT NULL REFERENCES items(pk),
    level INTEGER NOT NULL,
    PRIMARY KEY (ranking, pos)
) STRICT, WITHOUT ROWID;
CREATE TABLE ratings (
    pk INTEGER PRIMARY KEY,
    id TEXT,
    d1 INTEGER NOT NULL,
    d2 INTEGER NOT NULL,
    occurrence INTEGER CHECK ((id IS NULL) = (occurrence IS NOT NULL)),
    item INTEGER NOT NULL REFERENCES items(pk),
    score REAL NOT NULL,
    scale_min REAL,
    scale_max REAL,
    attribute INTEGER REFERENCES attributes(pk),
    context INTEGER REFERENCES contexts(pk),
    annotator INTEGER REFERENCES annotators(pk),
    criterion INTEGER NOT NULL REFERENCES criteria(pk),
    import_id INTEGER REFERENCES imports(pk),
    seq INTEGER NOT NULL,
    line INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX pairwise_id ON pairwise(id) WHERE id IS NOT NULL;
CREATE UNIQUE INDEX pairwise_content ON pairwise(d1, d2, occurrence) WHERE occurrence IS NOT NULL;
CREATE UNIQUE INDEX rankings_id ON rankings(id) WHERE id IS NOT NULL;
CREATE UNIQUE INDEX rankings_content ON rankings(d1, d2, occurrence) WHERE occurrence IS NOT NULL;
CREATE UNIQUE INDEX ratings_id ON ratings(id) WHERE id IS NOT NULL;
CREATE UNIQUE INDEX ratings_content ON ratings(d1, d2, occurrence) WHERE occurrence IS NOT NULL
"""

# v2: format details needed to write the data back (e.g. conversational TRL rows), and indexes for the
# filters that exports use.
V2_META_AND_INDEXES = """
ALTER TABLE imports ADD COLUMN meta TEXT;
CREATE INDEX pairwise_criterion ON pairwise(criterion);
CREATE INDEX rankings_criterion ON rankings(criterion);
CREATE INDEX ratings_criterion ON ratings(criterion)
"""

# v3: every judgment table has its time (pairwise had it from v1).
V3_TSTAMPS = """
ALTER TABLE rankings ADD COLUMN tstamp REAL;
ALTER TABLE ratings ADD COLUMN tstamp REAL
"""

# v4: the response text of each item in its context (a model's answer to a prompt), for judges; see
# prefkit.storage.responses
V4_RESPONSES = """
CREATE TABLE responses (
    context INTEGER REFERENCES contexts(pk),
    item INTEGER NOT NULL REFERENCES items(pk),
    text TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX responses_key ON responses(coalesce(context, 0), item)
"""

# v5: the system message / stated preference a context was judged under (Janus; ``Dataset.context_condition``)
V5_CONDITIONS = """
ALTER TABLE contexts ADD COLUMN condition TEXT
"""

MIGRATIONS: tuple[str, ...] = (V1_CORE, V2_META_AND_INDEXES, V3_TSTAMPS, V4_RESPONSES, V5_CONDITIONS)
SCHEMA_VERSION = len(MIGRATIONS)
