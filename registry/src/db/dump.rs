//! The backend-neutral form of the metadata, for `zoo-registry export` and
//! `import`: every row of the durable tables as a JSON object keyed by
//! column name, tables in an order that satisfies the foreign keys.
//!
//! Row ids are kept, so references between tables and the publication order
//! (versions are ordered by id) survive a move between SQLite and
//! PostgreSQL. Web sessions are not exported: users sign in again.

use std::collections::BTreeMap;

use super::{StoreError, StoreResult};

/// `(table, ORDER BY)` in foreign-key order. A table added by a later
/// migration that must survive a backup belongs here too.
pub const TABLES: &[(&str, &str)] = &[
    ("users", "id"),
    ("tokens", "id"),
    ("packages", "id"),
    ("owners", "package_id, user_id"),
    ("versions", "id"),
    ("cargo_crates", "id"),
    ("cargo_owners", "crate_id, user_id"),
    ("cargo_versions", "id"),
];

/// One row: column name → value (string, integer, boolean or null).
pub type Row = serde_json::Map<String, serde_json::Value>;

/// Table name → rows.
pub type Tables = BTreeMap<String, Vec<Row>>;

/// Refuses a row whose columns the target table lacks (an export from a
/// newer registry), naming the table and column, instead of dropping data.
pub fn check_columns(table: &str, row: &Row, columns: &[String]) -> StoreResult<()> {
    match row.keys().find(|key| !columns.contains(key)) {
        Some(unknown) => Err(StoreError::Invalid(format!(
            "the export's table `{table}` has a column `{unknown}` that this registry's database lacks"
        ))),
        None => Ok(()),
    }
}

/// Refuses an export holding logins that differ only in case (from a
/// registry before schema migration 6), naming them, rather than letting
/// the unique index refuse the first with the engine's terse message.
pub fn check_logins(tables: &Tables) -> StoreResult<()> {
    let users = tables.get("users").map_or(&[][..], Vec::as_slice);
    let twins = super::logins::case_twins(users.iter().filter_map(|u| u.get("login")?.as_str()));
    match twins.is_empty() {
        true => Ok(()),
        false => Err(super::logins::import_refused(&twins)),
    }
}

/// The refusal for a target that already holds data.
pub fn not_empty(what: &str) -> StoreError {
    StoreError::Conflict(format!(
        "the target database already holds {what}; import needs an empty database"
    ))
}
