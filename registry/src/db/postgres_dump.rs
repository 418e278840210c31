//! [`super::dump`] on PostgreSQL: rows travel as JSON (`json_agg` out,
//! `json_populate_recordset` in), so PostgreSQL itself converts each value
//! to its column's type (SQLite's 0/1 yanked flags become booleans).

use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnection;

use super::dump::{TABLES, Tables, check_columns, not_empty};
use super::postgres::backend;
use super::{StoreError, StoreResult};

pub(super) async fn export(c: &mut PgConnection) -> StoreResult<Tables> {
    let mut tables = Tables::new();
    for (table, order) in TABLES {
        let json: String = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COALESCE(json_agg(t ORDER BY {order}), '[]'::json)::text FROM {table} t"
        )))
        .fetch_one(&mut *c)
        .await
        .map_err(backend)?;
        tables.insert(
            table.to_string(),
            serde_json::from_str(&json).map_err(backend)?,
        );
    }
    Ok(tables)
}

pub(super) async fn import(tx: &mut PgConnection, tables: &Tables) -> StoreResult<()> {
    for table in ["users", "packages", "cargo_crates"] {
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        if count > 0 {
            return Err(not_empty(&format!("{count} row(s) in `{table}`")));
        }
    }
    for (table, _) in TABLES {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(table)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let rows = tables.get(*table).cloned().unwrap_or_default();
        for row in &rows {
            check_columns(table, row, &columns)?;
        }
        if rows.is_empty() {
            continue;
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} SELECT * FROM json_populate_recordset(NULL::{table}, $1::json)"
        )))
        .bind(serde_json::Value::from(rows).to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::Invalid(format!("importing the rows of `{table}`: {e}")))?;
        if !columns.iter().any(|c| c == "id") {
            continue;
        }
        let sequence: Option<String> =
            sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
                .bind(table)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        if let Some(sequence) = sequence {
            // Later inserts must not collide with the imported ids.
            sqlx::query(AssertSqlSafe(format!(
                "SELECT setval($1::regclass, COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )))
            .bind(sequence)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
    }
    Ok(())
}
