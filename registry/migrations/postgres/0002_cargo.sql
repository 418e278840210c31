-- The Cargo registry's tables (the SQLite schema's migration 2).
CREATE TABLE cargo_crates (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    name_norm TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    max_version TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE cargo_owners (
    crate_id BIGINT NOT NULL REFERENCES cargo_crates(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (crate_id, user_id)
);
CREATE TABLE cargo_versions (
    id BIGSERIAL PRIMARY KEY,
    crate_id BIGINT NOT NULL REFERENCES cargo_crates(id),
    version TEXT NOT NULL,
    version_key TEXT NOT NULL,
    yanked BOOLEAN NOT NULL DEFAULT FALSE,
    published_at TEXT NOT NULL,
    published_by BIGINT NOT NULL REFERENCES users(id),
    cksum TEXT NOT NULL,
    index_line TEXT NOT NULL,
    metadata TEXT NOT NULL,
    UNIQUE (crate_id, version_key)
);
