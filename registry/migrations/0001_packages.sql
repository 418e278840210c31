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
-- Their owners and versions: ITEM_TABLES in src/db/sql/migrations.rs.
{item_tables}
