-- zoo packages, users and tokens (the SQLite schema's migration 1).
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE packages (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    name_norm TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    keywords TEXT NOT NULL,
    readme TEXT,
    latest_version TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE owners (
    package_id BIGINT NOT NULL REFERENCES packages(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (package_id, user_id)
);
CREATE TABLE versions (
    id BIGSERIAL PRIMARY KEY,
    package_id BIGINT NOT NULL REFERENCES packages(id),
    version TEXT NOT NULL,
    version_key TEXT NOT NULL,
    yanked BOOLEAN NOT NULL DEFAULT FALSE,
    published_at TEXT NOT NULL,
    published_by BIGINT NOT NULL REFERENCES users(id),
    archive_sha256 TEXT NOT NULL,
    index_line TEXT NOT NULL,
    metrics TEXT NOT NULL,
    manifest TEXT NOT NULL,
    readme TEXT,
    UNIQUE (package_id, version_key)
);
