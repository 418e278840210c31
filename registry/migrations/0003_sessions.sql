-- Migration 3: web sessions (the cookie's id only as its sha256).
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,
    user_id {int} NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at {int} NOT NULL
);
