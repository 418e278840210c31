//! The seam between the one SQL store ([`super::MetadataStore`]) and the
//! two engines: statements travel as text in PostgreSQL's `$1` style with
//! [`Value`] parameters and come back as [`Row`]s, so a statement that both
//! engines accept is written once. The SQLite adapter renumbers `$N` to
//! `?N` (`$N` would be a *named* parameter there, numbered by first
//! appearance); PostgreSQL takes the text as written.
//!
//! What the engines really do differently is a [`Conn`] method each, named
//! for why: how writers of one name serialize, how a unique-constraint
//! refusal reads, what an engine's own integrity check finds, how a table's
//! columns are listed and how ids continue after an import.

pub mod migrations;

use super::{StoreError, StoreResult};

/// A statement parameter or a column value: the types the schema uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL (bound as a NULL text: every nullable column is text).
    Null,
    I64(i64),
    Text(String),
    /// A flag (SQLite stores it as 0 or 1).
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::I64(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// The parameter list of a statement: `params![a, b]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::db::sql::Value::from($v)),*][..]
    };
}
pub(crate) use params;

/// One result row; the getters refuse a value of another type (a schema
/// that disagrees with the code) as a backend error instead of panicking.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> StoreResult<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Backend(format!("the result has no column {i}")))
    }

    fn mismatch(&self, i: usize, want: &str) -> StoreError {
        StoreError::Backend(format!("column {i} is not {want}: {:?}", self.0.get(i)))
    }

    pub fn i64(&self, i: usize) -> StoreResult<i64> {
        match self.at(i)? {
            Value::I64(v) => Ok(*v),
            _ => Err(self.mismatch(i, "an integer")),
        }
    }

    pub fn text(&self, i: usize) -> StoreResult<String> {
        self.opt_text(i)?.ok_or_else(|| self.mismatch(i, "a text"))
    }

    pub fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        match self.at(i)? {
            Value::Text(v) => Ok(Some(v.clone())),
            Value::Null => Ok(None),
            _ => Err(self.mismatch(i, "a text")),
        }
    }

    /// A flag: PostgreSQL's boolean or SQLite's 0/1.
    pub fn bool(&self, i: usize) -> StoreResult<bool> {
        match self.at(i)? {
            Value::Bool(v) => Ok(*v),
            Value::I64(v) => Ok(*v != 0),
            _ => Err(self.mismatch(i, "a flag")),
        }
    }
}

/// A connection (or a transaction on one) of either engine.
pub trait Conn {
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> StoreResult<u64>;
    /// Runs a statement that returns rows (a `SELECT` or `… RETURNING`).
    fn query(&mut self, sql: &str, params: &[Value]) -> StoreResult<Vec<Row>>;
    /// Runs an insert; `false` when a unique constraint refused the row (a
    /// concurrent replica won the race), so callers answer `Conflict`.
    fn insert_unique(&mut self, sql: &str, params: &[Value]) -> StoreResult<bool>;

    /// Makes other writers of `name_norm` wait until this transaction ends.
    /// SQLite's write transactions already exclude each other
    /// (`BEGIN IMMEDIATE`); PostgreSQL takes an advisory lock on the name,
    /// shared by every replica.
    fn lock_name(&mut self, name_norm: &str) -> StoreResult<()>;
    /// What the engine's own checks find (SQLite checks its file and its
    /// foreign keys on demand; PostgreSQL enforces both itself).
    fn engine_problems(&mut self) -> StoreResult<Vec<String>>;
    /// A table's `(column, type)` in order; types as the engine names them.
    fn columns(&mut self, table: &str) -> StoreResult<Vec<(String, String)>>;
    /// After rows were inserted with their ids: later inserts must not
    /// reuse them (PostgreSQL's sequences do not notice; SQLite's rowids do).
    fn ids_continue_after(&mut self, table: &str) -> StoreResult<()>;

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first column of every row as text.
    fn query_texts(&mut self, sql: &str, params: &[Value]) -> StoreResult<Vec<String>> {
        self.query(sql, params)?.iter().map(|r| r.text(0)).collect()
    }

    /// The integer a one-row query returns (a count).
    fn query_i64(&mut self, sql: &str, params: &[Value]) -> StoreResult<i64> {
        match self.query_opt(sql, params)? {
            Some(row) => row.i64(0),
            None => Err(StoreError::Backend(format!("no row from `{sql}`"))),
        }
    }
}

/// An engine's way to lend connections: the store's only view of it.
pub trait Backend: Send + Sync {
    /// Runs `f` on a connection, outside any explicit transaction.
    fn with_conn<T>(&self, f: impl FnOnce(&mut dyn Conn) -> StoreResult<T>) -> StoreResult<T>;
    /// Runs `f` in a write transaction, committed when it returns `Ok`.
    fn with_tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> StoreResult<T>) -> StoreResult<T>;
}

/// An engine error as a [`StoreError::Backend`].
pub fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}
