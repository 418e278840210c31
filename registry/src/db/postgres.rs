//! The PostgreSQL engine (sqlx) of a [`MetadataStore`], for registries that
//! run several `zoo-registry` processes against one database.
//!
//! The store is blocking (handlers call it from `spawn_blocking`), so the
//! engine owns a small Tokio runtime and blocks on it statement by
//! statement: the pool lives on that runtime whichever thread calls in.
//! The schema is applied in one transaction under an advisory lock, so
//! replicas starting together migrate once. Writers of one name serialize
//! on an advisory lock of that name ([`Conn::lock_name`]); the unique
//! constraints on names and `(item, version_key)` are the last line.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Column, Row as _, TypeInfo};
use tokio::runtime::Runtime;

use super::sql::migrations::{MIGRATIONS, POSTGRES};
use super::sql::{Backend, Conn, Row, Value, backend};
use super::store::Engine;
use super::{MetadataStore, StoreError, StoreResult, now};

/// The pool of a [`MetadataStore`] on PostgreSQL and the runtime it lives
/// on.
pub struct Postgres {
    pool: PgPool,
    /// Always `Some` until drop (which hands it to `shutdown_background`,
    /// allowed even inside another runtime).
    rt: Option<Runtime>,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Arbitrary constant: the advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x007a_6f6f_5f6d_6967;

impl MetadataStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`) and
    /// brings the schema up to date. Blocks; call it off async workers.
    pub fn connect_postgres(url: &str) -> StoreResult<MetadataStore> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zoo-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("starting the database runtime: {e}")))?;
        let pool = rt.block_on(async {
            PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|e| StoreError::Backend(format!("connecting to PostgreSQL: {e}")))
        })?;
        let engine = Postgres { pool, rt: Some(rt) };
        engine.transaction(migrate)?;
        Ok(MetadataStore::new(Engine::Postgres(engine)))
    }
}

/// Applies the steps not yet recorded in `zoo_schema_migrations`.
fn migrate(c: &mut PgConn<'_>) -> StoreResult<()> {
    c.execute("SELECT pg_advisory_xact_lock($1)", &[MIGRATION_LOCK.into()])?;
    c.execute(
        "CREATE TABLE IF NOT EXISTS zoo_schema_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        &[],
    )?;
    let applied = c
        .query("SELECT version FROM zoo_schema_migrations", &[])?
        .iter()
        .map(|r| r.i64(0))
        .collect::<StoreResult<Vec<_>>>()?;
    for step in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        step.check(c)?;
        c.execute_script(&step.sql(&POSTGRES))
            .map_err(|e| StoreError::Backend(format!("schema migration {}: {e}", step.version)))?;
        c.execute(
            "INSERT INTO zoo_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[step.version.into(), step.name.into(), now().into()],
        )?;
    }
    Ok(())
}

impl Postgres {
    fn runtime(&self) -> StoreResult<&Runtime> {
        self.rt
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the database runtime is gone".into()))
    }
}

impl Backend for Postgres {
    fn with_conn<T>(&self, f: impl FnOnce(&mut dyn Conn) -> StoreResult<T>) -> StoreResult<T> {
        let rt = self.runtime()?;
        // Pooled connections go back to the pool from a task on drop.
        let _context = rt.enter();
        let mut conn = rt.block_on(self.pool.acquire()).map_err(backend)?;
        f(&mut PgConn {
            rt,
            conn: &mut conn,
        })
    }

    fn with_tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> StoreResult<T>) -> StoreResult<T> {
        self.transaction(|c| f(c))
    }
}

impl Postgres {
    /// Runs `f` in a transaction, committed when it returns `Ok`.
    fn transaction<T>(&self, f: impl FnOnce(&mut PgConn<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let rt = self.runtime()?;
        let _context = rt.enter();
        let mut tx = rt.block_on(self.pool.begin()).map_err(backend)?;
        let out = f(&mut PgConn { rt, conn: &mut tx })?;
        rt.block_on(tx.commit()).map_err(backend)?;
        Ok(out)
    }
}

/// A pooled connection or transaction as a [`Conn`].
struct PgConn<'a> {
    rt: &'a Runtime,
    conn: &'a mut PgConnection,
}

type PgQuery = sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn statement(sql: &str, params: &[Value]) -> PgQuery {
    params.iter().fold(
        sqlx::query(AssertSqlSafe(sql.to_string())),
        |q, v| match v {
            Value::Null => q.bind(None::<String>),
            Value::I64(v) => q.bind(*v),
            Value::Text(v) => q.bind(v.clone()),
            Value::Bool(v) => q.bind(*v),
        },
    )
}

/// One column by its type; the schema uses no others.
fn value(row: &PgRow, i: usize) -> StoreResult<Value> {
    let get = |e: sqlx::Error| StoreError::Backend(format!("column {i}: {e}"));
    let name = row.columns()[i].type_info().name().to_string();
    let value = match name.as_str() {
        "INT8" => row
            .try_get::<Option<i64>, _>(i)
            .map_err(get)?
            .map(Value::I64),
        "INT4" => row
            .try_get::<Option<i32>, _>(i)
            .map_err(get)?
            .map(|v| Value::I64(v.into())),
        "TEXT" | "VARCHAR" | "NAME" => row
            .try_get::<Option<String>, _>(i)
            .map_err(get)?
            .map(Value::Text),
        "BOOL" => row
            .try_get::<Option<bool>, _>(i)
            .map_err(get)?
            .map(Value::Bool),
        other => {
            return Err(StoreError::Backend(format!(
                "column {i} has the type {other}, which the schema does not use"
            )));
        }
    };
    Ok(value.unwrap_or(Value::Null))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

impl PgConn<'_> {
    fn run(&mut self, sql: &str, params: &[Value]) -> Result<u64, sqlx::Error> {
        let q = statement(sql, params);
        let conn = &mut *self.conn;
        self.rt
            .block_on(q.execute(conn))
            .map(|done| done.rows_affected())
    }

    /// Several statements without parameters (a migration step).
    fn execute_script(&mut self, sql: &str) -> StoreResult<()> {
        let conn = &mut *self.conn;
        let script = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        self.rt.block_on(script.execute(conn)).map_err(backend)?;
        Ok(())
    }
}

impl Conn for PgConn<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> StoreResult<u64> {
        self.run(sql, params).map_err(backend)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> StoreResult<Vec<Row>> {
        let q = statement(sql, params);
        let conn = &mut *self.conn;
        let rows = self.rt.block_on(q.fetch_all(conn)).map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(Row((0..r.len())
                    .map(|i| value(r, i))
                    .collect::<StoreResult<_>>()?))
            })
            .collect()
    }

    fn insert_unique(&mut self, sql: &str, params: &[Value]) -> StoreResult<bool> {
        match self.run(sql, params) {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    fn lock_name(&mut self, name_norm: &str) -> StoreResult<()> {
        // Keyed by the name alone: a zoo package and a crate of one name
        // share their owners, so changes to either serialize.
        self.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[format!("name:{name_norm}").into()],
        )?;
        Ok(())
    }

    fn engine_problems(&mut self) -> StoreResult<Vec<String>> {
        Ok(Vec::new())
    }

    fn columns(&mut self, table: &str) -> StoreResult<Vec<(String, String)>> {
        self.query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[table.into()],
        )?
        .iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?)))
        .collect()
    }

    fn ids_continue_after(&mut self, table: &str) -> StoreResult<()> {
        let sequence =
            self.query_opt("SELECT pg_get_serial_sequence($1, 'id')", &[table.into()])?;
        if let Some(sequence) = sequence.map(|r| r.opt_text(0)).transpose()?.flatten() {
            self.execute(
                &format!(
                    "SELECT setval($1::regclass, COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                ),
                &[sequence.into()],
            )?;
        }
        Ok(())
    }
}
