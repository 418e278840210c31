//! The SQLite engine (bundled) of a [`MetadataStore`]: one connection
//! behind a mutex.
//!
//! WAL with `synchronous=FULL`: a commit is on disk before a publish is
//! acknowledged. Write transactions are `BEGIN IMMEDIATE`, so their checks
//! and writes see one consistent state and writers never race.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use super::sql::migrations::{MIGRATIONS, SQLITE};
use super::sql::{Backend, Conn, Row, Value, backend};
use super::store::Engine;
use super::{MetadataStore, StoreError, StoreResult};

/// The SQLite database of a [`MetadataStore`].
pub struct Sqlite {
    conn: Mutex<Connection>,
}

impl MetadataStore {
    /// Opens (creating if needed) the SQLite database at `path`.
    pub fn open_sqlite(path: &Path) -> StoreResult<MetadataStore> {
        let mut conn = Connection::open(path).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(backend)?;
        migrate(&mut conn)?;
        Ok(MetadataStore::new(Engine::Sqlite(Sqlite {
            conn: Mutex::new(conn),
        })))
    }
}

/// Brings the schema up to date, each step in its own transaction (its
/// check included; a failing step is rolled back whole); `PRAGMA
/// user_version` records how many have run.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let applied: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    for step in MIGRATIONS.iter().filter(|m| m.version > applied) {
        let failed = |e: rusqlite::Error| {
            StoreError::Backend(format!("schema migration {}: {e}", step.version))
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        step.check(&mut SqliteConn(&tx))?;
        tx.execute_batch(&format!(
            "{}\nPRAGMA user_version = {};",
            step.sql(&SQLITE),
            step.version
        ))
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}

impl Sqlite {
    fn lock(&self) -> StoreResult<MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Backend("the database lock is poisoned".into()))
    }
}

impl Backend for Sqlite {
    fn with_conn<T>(&self, f: impl FnOnce(&mut dyn Conn) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.lock()?;
        f(&mut SqliteConn(&conn))
    }

    fn with_tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let out = f(&mut SqliteConn(&tx))?;
        tx.commit().map_err(backend)?;
        Ok(out)
    }
}

/// A connection (or the transaction it derefs from) as a [`Conn`].
struct SqliteConn<'a>(&'a Connection);

/// `$N` (PostgreSQL's placeholder, in which the statements are written)
/// as `?N`, outside quoted literals.
fn renumber(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        let numbered = chars.peek().is_some_and(char::is_ascii_digit);
        out.push(if c == '$' && !quoted && numbered {
            '?'
        } else {
            c
        });
    }
    out
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::I64(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
        })
    }
}

fn value(v: ValueRef<'_>) -> StoreResult<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::I64(i),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Real(_) | ValueRef::Blob(_) => {
            return Err(StoreError::Backend(
                "a real or binary column is not part of the schema".into(),
            ));
        }
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation
        && matches!(f.extended_code, rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY))
}

impl SqliteConn<'_> {
    fn run(&mut self, sql: &str, params: &[Value]) -> rusqlite::Result<usize> {
        let mut stmt = self.0.prepare_cached(&renumber(sql))?;
        stmt.execute(rusqlite::params_from_iter(params))
    }
}

impl Conn for SqliteConn<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> StoreResult<u64> {
        self.run(sql, params).map(|n| n as u64).map_err(backend)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> StoreResult<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(&renumber(sql)).map_err(backend)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(backend)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            let values = (0..width)
                .map(|i| value(row.get_ref(i).map_err(backend)?))
                .collect::<StoreResult<_>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }

    fn insert_unique(&mut self, sql: &str, params: &[Value]) -> StoreResult<bool> {
        match self.run(sql, params) {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    fn lock_name(&mut self, _name_norm: &str) -> StoreResult<()> {
        Ok(())
    }

    fn engine_problems(&mut self) -> StoreResult<Vec<String>> {
        let mut problems = Vec::new();
        for row in self.query("PRAGMA quick_check", &[])? {
            let row = row.text(0)?;
            if row != "ok" {
                problems.push(format!("database quick_check: {row}"));
            }
        }
        for row in self.query("PRAGMA foreign_key_check", &[])? {
            let rowid = match &row.0.get(1) {
                Some(Value::I64(id)) => id.to_string(),
                _ => "?".to_string(),
            };
            problems.push(format!(
                "row {rowid} of table `{}` references a missing row of `{}`",
                row.text(0)?,
                row.text(2)?
            ));
        }
        Ok(problems)
    }

    fn columns(&mut self, table: &str) -> StoreResult<Vec<(String, String)>> {
        self.query(
            "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
            &[table.into()],
        )?
        .iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?)))
        .collect()
    }

    fn ids_continue_after(&mut self, _table: &str) -> StoreResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_reopen_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.sqlite3");
        let store = MetadataStore::open_sqlite(&path).unwrap();
        let alice = store.add_user("alice").unwrap();
        drop(store);
        let store = MetadataStore::open_sqlite(&path).unwrap();
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            version, 6,
            "cargo tables (2), web sessions (3), session tokens (4), uploads (5), \
             case-insensitive logins (6)"
        );
        assert_eq!(store.find_user("alice").unwrap(), Some(alice));
        assert!(store.cargo_crate_names().unwrap().is_empty());
    }

    #[test]
    fn placeholders_are_renumbered_outside_literals() {
        assert_eq!(
            renumber("SELECT '$1' WHERE a = $2 AND b = $10 AND c = '$'"),
            "SELECT '$1' WHERE a = ?2 AND b = ?10 AND c = '$'"
        );
    }
}
