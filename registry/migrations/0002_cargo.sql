-- Migration 2: the Cargo registry's tables.
CREATE TABLE IF NOT EXISTS cargo_crates (
    id {id},
    name TEXT NOT NULL,
    name_norm TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    max_version TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- Their owners and versions: ITEM_TABLES in src/db/sql/migrations.rs.
{item_tables}
