-- Migration 5: uploads not yet referenced by a published version.
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT NOT NULL,
    user_id {int} NOT NULL REFERENCES users(id),
    size {int} NOT NULL,
    uploaded_at {int} NOT NULL,
    PRIMARY KEY (sha256, user_id)
);
