-- Migration 1: users, tokens, packages and their versions (idempotent: SQLite
-- databases from before versioning upgrade cleanly).
CREATE TABLE IF NOT EXISTS users (
    id {id},
    login TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user_id {int} NOT NULL REFERENCES users(id),
    secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS packages (
    id {id},
    name TEXT NOT NULL,
    name_norm TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    keywords TEXT NOT NULL,
    readme TEXT,
    latest_version TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS owners (
    package_id {int} NOT NULL REFERENCES packages(id),
    user_id {int} NOT NULL REFERENCES users(id),
    PRIMARY KEY (package_id, user_id)
);
CREATE TABLE IF NOT EXISTS versions (
    id {id},
    package_id {int} NOT NULL REFERENCES packages(id),
    version TEXT NOT NULL,
    version_key TEXT NOT NULL,
    yanked {flag},
    published_at TEXT NOT NULL,
    published_by {int} NOT NULL REFERENCES users(id),
    archive_sha256 TEXT NOT NULL,
    index_line TEXT NOT NULL,
    metrics TEXT NOT NULL,
    manifest TEXT NOT NULL,
    readme TEXT,
    UNIQUE (package_id, version_key)
);
