-- Baseline editions published through the server, and the re-proofs of
-- county plugins against editions (PostgreSQL; the schema in ../sqlite is the
-- same tables with that database's types; keep the two in step).

-- A catalogue edition published by an admin: its text is the edition (the
-- digest is the sha256 of the text). Editions in the catalogue folder are
-- not here; a published one ends the edition in force before it.
CREATE TABLE editions (
    digest          TEXT    PRIMARY KEY,
    code            TEXT    NOT NULL,
    edition         TEXT    NOT NULL,
    effective_from  TEXT    NOT NULL,
    file_name       TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    publisher       TEXT    NOT NULL,
    published_at    TEXT    NOT NULL,
    seq             BIGINT NOT NULL,
    UNIQUE (code, effective_from)
);

-- A county plugin version proven against a baseline edition other than
-- the one of its upload: queued, then passed, below (some person gets less
-- than the edition: served with the guard raising them) or failed (no
-- table: the baseline alone is served).
CREATE TABLE reproofs (
    edition_digest  TEXT    NOT NULL,
    county          TEXT    NOT NULL,
    version         BIGINT NOT NULL,
    status          TEXT    NOT NULL,
    queued_at       TEXT    NOT NULL,
    table_digest    TEXT,
    report          TEXT,
    error           TEXT,
    proved_at       TEXT,
    proof_ms        BIGINT,
    PRIMARY KEY (edition_digest, county, version),
    FOREIGN KEY (county, version) REFERENCES versions (county, version)
);
