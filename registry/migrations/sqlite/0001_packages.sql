-- Migration 1: users, tokens, packages and their versions (idempotent: databases
-- from before versioning upgrade cleanly).
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS packages (
    id INTEGER PRIMARY KEY,
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
    package_id INTEGER NOT NULL REFERENCES packages(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (package_id, user_id)
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    package_id INTEGER NOT NULL REFERENCES packages(id),
    version TEXT NOT NULL,
    version_key TEXT NOT NULL,
    yanked INTEGER NOT NULL DEFAULT 0,
    published_at TEXT NOT NULL,
    published_by INTEGER NOT NULL REFERENCES users(id),
    archive_sha256 TEXT NOT NULL,
    index_line TEXT NOT NULL,
    metrics TEXT NOT NULL,
    manifest TEXT NOT NULL,
    readme TEXT,
    UNIQUE (package_id, version_key)
);
