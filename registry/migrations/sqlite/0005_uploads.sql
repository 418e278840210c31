-- Migration 5: uploads not yet referenced by a published version.
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    size INTEGER NOT NULL,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (sha256, user_id)
);
