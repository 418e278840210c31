-- Web sessions remember the token that opened them, so they can mint no
-- more than its scopes and end when it is revoked (the SQLite schema's
-- migration 4). Sessions from before could do neither: they are ended.
DROP TABLE sessions;
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    token_id TEXT NOT NULL REFERENCES tokens(id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
