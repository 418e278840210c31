-- Migration 2: the Cargo registry's tables.
CREATE TABLE IF NOT EXISTS cargo_crates (
    id {id},
    name TEXT NOT NULL,
    name_norm TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    max_version TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cargo_owners (
    crate_id {int} NOT NULL REFERENCES cargo_crates(id),
    user_id {int} NOT NULL REFERENCES users(id),
    PRIMARY KEY (crate_id, user_id)
);
CREATE TABLE IF NOT EXISTS cargo_versions (
    id {id},
    crate_id {int} NOT NULL REFERENCES cargo_crates(id),
    version TEXT NOT NULL,
    version_key TEXT NOT NULL,
    yanked {flag},
    published_at TEXT NOT NULL,
    published_by {int} NOT NULL REFERENCES users(id),
    cksum TEXT NOT NULL,
    index_line TEXT NOT NULL,
    metadata TEXT NOT NULL,
    UNIQUE (crate_id, version_key)
);
