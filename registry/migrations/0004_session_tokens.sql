-- Migration 4: a session remembers the token that opened it, so it can
-- mint no more than that token's scopes and ends when it is revoked.
-- Sessions from before could do neither: they are ended.
DROP TABLE IF EXISTS sessions;
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    user_id {int} NOT NULL REFERENCES users(id),
    token_id TEXT NOT NULL REFERENCES tokens(id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at {int} NOT NULL
);
