-- Qingdan's registry (SQLite). The PostgreSQL schema in ../postgres is the
-- same tables with that database's types; keep the two in step.

-- Bearer tokens: only the SHA-256 of the secret is stored.
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    hash        TEXT    NOT NULL UNIQUE,
    role        TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    revoked_at  TEXT
);

-- Uploaded components, content-addressed.
CREATE TABLE components (
    digest      TEXT    PRIMARY KEY,
    bytes       BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    created_at  TEXT    NOT NULL
);

-- Answer tables, content-addressed (what production serves).
CREATE TABLE answer_tables (
    digest          TEXT    PRIMARY KEY,
    plugin_digest   TEXT    NOT NULL,
    baseline_digest TEXT    NOT NULL,
    bytes           BLOB    NOT NULL,
    created_at      TEXT    NOT NULL
);

-- One row per uploaded version of a county's plugin.
CREATE TABLE versions (
    county          TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    digest          TEXT    NOT NULL REFERENCES components (digest),
    status          TEXT    NOT NULL,
    progress        TEXT    NOT NULL DEFAULT '',
    uploader_token  INTEGER NOT NULL,
    uploader        TEXT    NOT NULL,
    uploaded_at     TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    county_name     TEXT,
    baseline_label  TEXT,
    baseline_digest TEXT,
    table_digest    TEXT,
    report          TEXT,
    error           TEXT,
    proved_at       TEXT,
    proof_ms        INTEGER,
    reviewer_token  INTEGER,
    reviewer        TEXT,
    review_comment  TEXT,
    reviewed_at     TEXT,
    effective_from  TEXT,
    PRIMARY KEY (county, version),
    UNIQUE (county, digest)
);

-- Activations: which version is in force from which date. The version in
-- force on a date is the row with the greatest (effective_from, id) not
-- after it.
CREATE TABLE activations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    county          TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    effective_from  TEXT    NOT NULL,
    cause           TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    at              TEXT    NOT NULL,
    FOREIGN KEY (county, version) REFERENCES versions (county, version)
);
CREATE INDEX activations_county ON activations (county, effective_from, id);

-- The append-only audit log: every record carries the hash of the one
-- before it; audit_head holds the last sequence number and hash, so that
-- deleting the newest records is detected too.
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    county      TEXT,
    version     INTEGER,
    digest      TEXT,
    result      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE TABLE audit_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    seq     INTEGER NOT NULL,
    hash    TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, 'genesis');

-- Incidents: evaluations that fell back to the baseline because of a fault.
CREATE TABLE incidents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    county      TEXT    NOT NULL,
    version     INTEGER,
    kind        TEXT    NOT NULL,
    message     TEXT    NOT NULL
);
