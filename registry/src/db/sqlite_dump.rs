//! [`super::dump`] on SQLite: reads every column of the exported tables and
//! writes rows back with their ids.

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use super::dump::{Row, TABLES, Tables, check_columns, not_empty};
use super::sqlite::backend;
use super::{StoreError, StoreResult};

fn to_json(value: ValueRef<'_>) -> StoreResult<serde_json::Value> {
    Ok(match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(_) => {
            return Err(StoreError::Backend(
                "a binary column cannot be exported".into(),
            ));
        }
    })
}

fn to_sql(table: &str, column: &str, value: &serde_json::Value) -> StoreResult<Value> {
    Ok(match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        _ => {
            return Err(StoreError::Invalid(format!(
                "the export's `{table}.{column}` holds a JSON array or object"
            )));
        }
    })
}

pub(super) fn export(conn: &Connection) -> StoreResult<Tables> {
    let mut tables = Tables::new();
    for (table, order) in TABLES {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
            .map_err(backend)?;
        let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let mut rows = stmt.query([]).map_err(backend)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            let mut object = Row::new();
            for (i, name) in names.iter().enumerate() {
                object.insert(name.clone(), to_json(row.get_ref(i).map_err(backend)?)?);
            }
            out.push(object);
        }
        tables.insert(table.to_string(), out);
    }
    Ok(tables)
}

pub(super) fn import(conn: &mut Connection, tables: &Tables) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    for table in ["users", "packages", "cargo_crates"] {
        let count: i64 = tx
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .map_err(backend)?;
        if count > 0 {
            return Err(not_empty(&format!("{count} row(s) in `{table}`")));
        }
    }
    for (table, _) in TABLES {
        let columns: Vec<String> = {
            let mut stmt = tx
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .map_err(backend)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        for row in tables.get(*table).into_iter().flatten() {
            check_columns(table, row, &columns)?;
            let names: Vec<&str> = row.keys().map(String::as_str).collect();
            let marks = vec!["?"; names.len()].join(", ");
            let values = row
                .iter()
                .map(|(column, value)| to_sql(table, column, value))
                .collect::<StoreResult<Vec<_>>>()?;
            tx.execute(
                &format!(
                    "INSERT INTO {table} ({}) VALUES ({marks})",
                    names.join(", ")
                ),
                rusqlite::params_from_iter(values),
            )
            .map_err(|e| StoreError::Invalid(format!("importing a row of `{table}`: {e}")))?;
        }
    }
    tx.commit().map_err(backend)
}
