//! [`crate::db::dump`] over the seam: every column of the exported tables
//! read in the engine's column order, rows written back with their ids.
//! SQLite's flags travel as 0/1 and PostgreSQL's as booleans; a flag
//! column takes either.

use serde_json::Value as Json;

use super::items::insert_sql;
use crate::db::dump::{Row, TABLES, Tables, check_columns, check_logins, not_empty};
use crate::db::sql::{Conn, Value};
use crate::db::{StoreError, StoreResult};

fn to_json(value: Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::I64(i) => i.into(),
        Value::Text(t) => t.into(),
        Value::Bool(b) => b.into(),
    }
}

/// `value` for a column of type `kind` (as the engine names it).
fn to_value(table: &str, column: &str, kind: &str, value: &Json) -> StoreResult<Value> {
    let flag = kind.eq_ignore_ascii_case("boolean");
    Ok(match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) if flag => Value::Bool(i != 0),
            Some(i) => Value::I64(i),
            None => {
                return Err(StoreError::Invalid(format!(
                    "the export's `{table}.{column}` holds {n}, which is not a whole number"
                )));
            }
        },
        Json::String(s) => Value::Text(s.clone()),
        _ => {
            return Err(StoreError::Invalid(format!(
                "the export's `{table}.{column}` holds a JSON array or object"
            )));
        }
    })
}

pub(super) fn export(c: &mut dyn Conn) -> StoreResult<Tables> {
    let mut tables = Tables::new();
    for (table, order) in TABLES {
        let names: Vec<String> = c.columns(table)?.into_iter().map(|(n, _)| n).collect();
        let sql = format!("SELECT {} FROM {table} ORDER BY {order}", names.join(", "));
        let rows = c
            .query(&sql, &[])?
            .into_iter()
            .map(|row| {
                names
                    .iter()
                    .cloned()
                    .zip(row.0.into_iter().map(to_json))
                    .collect()
            })
            .collect();
        tables.insert(table.to_string(), rows);
    }
    Ok(tables)
}

/// In the caller's transaction: refuses a database that holds data, and
/// an export whose logins differ only in case ([`check_logins`]).
pub(super) fn import(c: &mut dyn Conn, tables: &Tables) -> StoreResult<()> {
    for table in ["users", "packages", "cargo_crates"] {
        let count = c.query_i64(&format!("SELECT COUNT(*) FROM {table}"), &[])?;
        if count > 0 {
            return Err(not_empty(&format!("{count} row(s) in `{table}`")));
        }
    }
    check_logins(tables)?;
    for (table, _) in TABLES {
        let columns = c.columns(table)?;
        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        let rows: &[Row] = tables.get(*table).map_or(&[], Vec::as_slice);
        for row in rows {
            check_columns(table, row, &names)?;
            let mut listed = Vec::with_capacity(row.len());
            let mut values = Vec::with_capacity(row.len());
            for (column, kind) in &columns {
                if let Some(value) = row.get(column) {
                    listed.push(column.as_str());
                    values.push(to_value(table, column, kind, value)?);
                }
            }
            c.execute(&insert_sql(table, &listed), &values)
                .map_err(|e| {
                    let e = match e {
                        StoreError::Backend(e) => e,
                        other => other.to_string(),
                    };
                    StoreError::Invalid(format!("importing a row of `{table}`: {e}"))
                })?;
        }
        if names.iter().any(|n| n == "id") {
            c.ids_continue_after(table)?;
        }
    }
    Ok(())
}
