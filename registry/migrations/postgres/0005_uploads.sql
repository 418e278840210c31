-- Blobs uploaded but not yet referenced by a published version (the SQLite
-- schema's migration 5): counted against the uploader's quota, deleted
-- when still unreferenced after the grace period.
CREATE TABLE uploads (
    sha256 TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    size BIGINT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (sha256, user_id)
);
