//! The one metadata store, [`MetadataStore`], written once over the
//! [`Backend`] seam for SQLite and PostgreSQL alike (same statements, same
//! answers, same messages). It is a type, not a trait: the engines differ
//! below it ([`Engine`]), never in its methods, so each method and its doc
//! stand once. Zoo packages and Cargo crates share what their tables share
//! (`ownership`, `items`); what only one namespace has is in `packages`
//! and `cargo`.

mod cargo;
mod dump;
mod items;
mod ownership;
mod packages;
mod uploads;

use semver::Version;

use super::postgres::Postgres;
use super::sql::{Backend, Conn, Row, Value, params};
use super::sqlite::Sqlite;
use super::{
    Namespace, NewVersion, OwnerChange, PackageRecord, PublishRights, SearchHit, SessionRecord,
    StoreError, StoreResult, TokenRecord, User, VersionRecord, now,
};
use crate::auth::{Scope, format_scopes, parse_scopes};
use items::Tables;
use ownership::{name_owners, owner_divergence};

/// The metadata backend: zoo packages, Cargo crates, users, tokens,
/// sessions and uploads, on SQLite ([`MetadataStore::open_sqlite`]) or
/// PostgreSQL ([`MetadataStore::connect_postgres`]).
pub struct MetadataStore {
    engine: Engine,
}

/// The engine a store runs on.
pub(super) enum Engine {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

impl Backend for Engine {
    fn with_conn<T>(&self, f: impl FnOnce(&mut dyn Conn) -> StoreResult<T>) -> StoreResult<T> {
        match self {
            Engine::Sqlite(engine) => engine.with_conn(f),
            Engine::Postgres(engine) => engine.with_conn(f),
        }
    }

    fn with_tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> StoreResult<T>) -> StoreResult<T> {
        match self {
            Engine::Sqlite(engine) => engine.with_tx(f),
            Engine::Postgres(engine) => engine.with_tx(f),
        }
    }
}

impl MetadataStore {
    pub(super) fn new(engine: Engine) -> MetadataStore {
        MetadataStore { engine }
    }

    /// Runs `change` on the package or crate `name_norm` in one write
    /// transaction, after locking the name and checking that `user` owns it.
    fn as_owner(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        change: impl FnOnce(&mut dyn Conn, Tables, i64) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let tables = Tables::of(ns);
        self.engine.with_tx(|c| {
            c.lock_name(name_norm)?;
            let id = tables.require_item(c, name_norm)?;
            tables.require_owner(c, id, user, name_norm)?;
            change(c, tables, id)
        })
    }
}

/// Versions equal up to build metadata are the same version (as in Cargo).
pub(super) fn version_key(v: &Version) -> String {
    zoo_format::version::without_build(v).to_string()
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A search's patterns: `(canonical name, %name%, %lowercased text%)`.
/// Most words a search query is split into; the rest are ignored.
const MAX_SEARCH_WORDS: usize = 8;

/// The `WHERE` clause of a search over `table` (an alias with `name_norm`,
/// `description` and, where `keywords`, a `keywords` column) and its
/// parameters (numbered from `$1`): every word of the query must appear in
/// the name, one of the keywords or the description. A word with characters no keyword may hold
/// is not looked for in the keywords, whose column is a JSON list: `","`
/// would otherwise match every package with two keywords.
pub(super) fn search_filter(query: &str, table: &str, keywords: bool) -> (String, Vec<Value>) {
    let text = query.to_lowercase();
    let mut words: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        if !words.contains(&word) && words.len() < MAX_SEARCH_WORDS {
            words.push(word);
        }
    }
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    for word in words {
        let mut any = Vec::new();
        params.push(Value::from(format!(
            "%{}%",
            like_escape(&zoo_format::normalize_name(word))
        )));
        any.push(format!(
            "{table}.name_norm LIKE ${} ESCAPE '\\'",
            params.len()
        ));
        params.push(Value::from(format!("%{}%", like_escape(word))));
        let text_param = params.len();
        any.push(format!(
            "lower({table}.description) LIKE ${text_param} ESCAPE '\\'"
        ));
        if keywords
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+'))
        {
            any.push(format!(
                "lower({table}.keywords) LIKE ${text_param} ESCAPE '\\'"
            ));
        }
        clauses.push(format!("({})", any.join(" OR ")));
    }
    if clauses.is_empty() {
        return ("1 = 1".to_string(), params);
    }
    (clauses.join(" AND "), params)
}

fn user_from(r: &Row, first: usize) -> StoreResult<User> {
    Ok(User {
        id: r.i64(first)?,
        login: r.text(first + 1)?,
    })
}

/// The user whose login is `login` without regard to case (logins are
/// unique that way, schema step 6), as sign-in, owners and tokens name them.
pub(super) fn find_user(c: &mut dyn Conn, login: &str) -> StoreResult<Option<User>> {
    c.query_opt(
        "SELECT id, login FROM users WHERE lower(login) = lower($1)",
        params![login],
    )?
    .map(|r| user_from(&r, 0))
    .transpose()
}

const TOKEN_SELECT: &str = "SELECT t.id, u.id, u.login, t.secret_sha256, t.scopes, t.created_at, t.revoked_at \
     FROM tokens t JOIN users u ON u.id = t.user_id";

fn token_from(r: &Row) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: r.text(0)?,
        user: user_from(r, 1)?,
        secret_sha256: r.text(3)?,
        scopes: parse_scopes(&r.text(4)?).map_err(StoreError::Backend)?,
        created_at: r.text(5)?,
        revoked: r.opt_text(6)?.is_some(),
    })
}

/// Packages and their versions for a list of names (search and recent).
fn hits(c: &mut dyn Conn, names: Vec<String>) -> StoreResult<Vec<SearchHit>> {
    let mut hits = Vec::with_capacity(names.len());
    for name in names {
        if let Some(package) = packages::package_of(c, &name)? {
            let versions = packages::versions_of(c, &name)?;
            hits.push(SearchHit { package, versions });
        }
    }
    Ok(hits)
}

/// The one-version lookups (`version_readme`, `version_manifest`).
fn version_column(
    c: &mut dyn Conn,
    column: &str,
    name_norm: &str,
    version: &Version,
) -> StoreResult<Row> {
    let sql = format!(
        "SELECT v.{column} FROM versions v JOIN packages p ON p.id = v.package_id \
         WHERE p.name_norm = $1 AND v.version_key = $2"
    );
    c.query_opt(&sql, params![name_norm, version_key(version)])?
        .ok_or_else(|| StoreError::NotFound(format!("`{name_norm}` has no version {version}")))
}

/// Users, tokens, sessions and zoo packages.
impl MetadataStore {
    /// A trivial query: whether the backend answers (for `/healthz`).
    pub fn ping(&self) -> StoreResult<()> {
        self.engine
            .with_conn(|c| c.query("SELECT 1", &[]).map(drop))
    }

    /// Creates a user; `Conflict` if the login is taken, also by one that
    /// differs only in case (the database's unique index on `lower(login)`
    /// refuses it; see [`crate::db::logins`]).
    pub fn add_user(&self, login: &str) -> StoreResult<User> {
        self.engine.with_conn(|c| {
            let inserted = c.insert_unique(
                "INSERT INTO users (login, created_at) VALUES ($1, $2)",
                params![login, now()],
            )?;
            // Outside a transaction, so the refused insert leaves the
            // connection usable for the look-ups.
            if !inserted {
                let taken = c.query_opt(
                    "SELECT login FROM users WHERE lower(login) = lower($1) ORDER BY id",
                    params![login],
                )?;
                return Err(match taken {
                    Some(row) => crate::db::logins::login_taken(login, &row.text(0)?),
                    // Removed meanwhile: still refused just now.
                    None => crate::db::logins::login_taken(login, login),
                });
            }
            find_user(c, login)?.ok_or_else(|| {
                StoreError::Backend(format!("user `{login}` was added but cannot be found"))
            })
        })
    }

    pub fn find_user(&self, login: &str) -> StoreResult<Option<User>> {
        self.engine.with_conn(|c| find_user(c, login))
    }

    pub fn list_users(&self) -> StoreResult<Vec<User>> {
        self.engine.with_conn(|c| {
            c.query("SELECT id, login FROM users ORDER BY login", &[])?
                .iter()
                .map(|r| user_from(r, 0))
                .collect()
        })
    }

    pub fn add_token(
        &self,
        user: &User,
        id: &str,
        secret_sha256: &str,
        scopes: &[Scope],
    ) -> StoreResult<()> {
        self.engine.with_conn(|c| {
            c.execute(
                "INSERT INTO tokens (id, user_id, secret_sha256, scopes, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                params![id, user.id, secret_sha256, format_scopes(scopes), now()],
            )
            .map(drop)
        })
    }

    pub fn find_token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        self.engine.with_conn(|c| {
            c.query_opt(&format!("{TOKEN_SELECT} WHERE t.id = $1"), params![id])?
                .as_ref()
                .map(token_from)
                .transpose()
        })
    }

    /// Tokens of one user, or of everyone.
    pub fn list_tokens(&self, login: Option<&str>) -> StoreResult<Vec<TokenRecord>> {
        self.engine.with_conn(|c| {
            c.query(
                // The cast tells PostgreSQL the type of a parameter that
                // only meets `IS NULL`.
                &format!(
                    "{TOKEN_SELECT} WHERE CAST($1 AS TEXT) IS NULL OR lower(u.login) = lower($1) \
                     ORDER BY u.login, t.created_at, t.id"
                ),
                params![login],
            )?
            .iter()
            .map(token_from)
            .collect()
        })
    }

    /// Marks a token revoked; `NotFound` if there is no such token.
    pub fn revoke_token(&self, id: &str) -> StoreResult<()> {
        let changed = self.engine.with_conn(|c| {
            c.execute(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                params![id, now()],
            )
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("no token with id `{id}`")));
        }
        Ok(())
    }

    /// The package with this canonical name.
    pub fn package(&self, name_norm: &str) -> StoreResult<Option<PackageRecord>> {
        self.engine
            .with_conn(|c| packages::package_of(c, name_norm))
    }

    /// Its versions in publication order.
    pub fn versions(&self, name_norm: &str) -> StoreResult<Vec<VersionRecord>> {
        self.engine
            .with_conn(|c| packages::versions_of(c, name_norm))
    }

    /// All canonical package names (to rebuild index files).
    pub fn package_names(&self) -> StoreResult<Vec<String>> {
        self.engine
            .with_conn(|c| c.query_texts("SELECT name_norm FROM packages ORDER BY name_norm", &[]))
    }

    /// Records a version atomically. A new name becomes owned by `publisher`
    /// (needs `rights.new_packages`); an existing one must be owned by them
    /// (needs `rights.updates`). `Conflict` when the version exists.
    pub fn publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        new: &NewVersion,
    ) -> StoreResult<()> {
        self.engine
            .with_tx(|c| packages::publish(c, publisher, rights, new))
    }

    /// Sets the yanked flag of a package's or crate's version; the caller
    /// must be an owner.
    pub fn set_yanked(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        version: &Version,
        yanked: bool,
    ) -> StoreResult<()> {
        self.as_owner(ns, user, name_norm, |c, tables, id| {
            tables.set_yanked(c, id, name_norm, version, yanked)
        })
    }

    /// The owners of a package or crate (`NotFound` when there is none).
    pub fn owners(&self, ns: Namespace, name_norm: &str) -> StoreResult<Vec<User>> {
        self.engine.with_conn(|c| {
            Tables::of(ns).require_item(c, name_norm)?;
            name_owners(c, name_norm)
        })
    }

    /// Adds owners (every login must exist) or removes them (never the
    /// last one); the caller must be an owner.
    pub fn change_owners(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        change: OwnerChange,
        logins: &[String],
    ) -> StoreResult<()> {
        self.as_owner(ns, user, name_norm, |c, tables, id| {
            tables.change_owners(c, id, name_norm, change, logins)
        })
    }

    /// The most recently published-to packages, newest first.
    pub fn recent_packages(&self, limit: u64) -> StoreResult<Vec<SearchHit>> {
        self.engine.with_conn(|c| {
            let names = c.query_texts(
                "SELECT p.name_norm FROM packages p JOIN versions v ON v.package_id = p.id \
                 GROUP BY p.id ORDER BY MAX(v.id) DESC LIMIT $1",
                params![limit as i64],
            )?;
            hits(c, names)
        })
    }

    /// The README recorded with one version (`NotFound` for no such version).
    pub fn version_readme(
        &self,
        name_norm: &str,
        version: &Version,
    ) -> StoreResult<Option<String>> {
        self.engine
            .with_conn(|c| version_column(c, "readme", name_norm, version)?.opt_text(0))
    }

    /// The zoo.toml recorded with one version (`NotFound` for no such version).
    pub fn version_manifest(&self, name_norm: &str, version: &Version) -> StoreResult<String> {
        self.engine
            .with_conn(|c| version_column(c, "manifest", name_norm, version)?.text(0))
    }

    /// Rows that reference missing rows (a package, user or crate) and other
    /// inconsistencies the backend can detect, one sentence each.
    pub fn integrity_problems(&self) -> StoreResult<Vec<String>> {
        self.engine.with_conn(|c| {
            let mut problems = c.engine_problems()?;
            let orphans = c.query_i64(
                "SELECT COUNT(*) FROM packages p WHERE NOT EXISTS \
                 (SELECT 1 FROM versions v WHERE v.package_id = p.id)",
                &[],
            )?;
            if orphans > 0 {
                problems.push(format!("{orphans} package row(s) have no version"));
            }
            problems.extend(owner_divergence(c)?);
            Ok(problems)
        })
    }

    /// Opens a session for `user`, signed in with their token `token_id`.
    pub fn create_session(
        &self,
        id_sha256: &str,
        user: &User,
        token_id: &str,
        csrf: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.engine.with_conn(|c| {
            c.execute(
                "INSERT INTO sessions (id_sha256, user_id, token_id, csrf, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                params![id_sha256, user.id, token_id, csrf, now(), expires_at],
            )
            .map(drop)
        })
    }

    /// The session, if it exists and its token is not revoked (expired ones
    /// are returned; callers check).
    pub fn find_session(&self, id_sha256: &str) -> StoreResult<Option<SessionRecord>> {
        let row = self.engine.with_conn(|c| {
            c.query_opt(
                "SELECT u.id, u.login, s.csrf, s.expires_at, t.id, t.scopes FROM sessions s \
                 JOIN users u ON u.id = s.user_id JOIN tokens t ON t.id = s.token_id \
                 WHERE s.id_sha256 = $1 AND t.revoked_at IS NULL AND t.user_id = s.user_id",
                params![id_sha256],
            )
        })?;
        row.map(|r| {
            Ok(SessionRecord {
                user: user_from(&r, 0)?,
                token_id: r.text(4)?,
                scopes: parse_scopes(&r.text(5)?).map_err(StoreError::Backend)?,
                csrf: r.text(2)?,
                expires_at: r.i64(3)?,
            })
        })
        .transpose()
    }

    /// Deletes the session and any expired ones.
    pub fn delete_session(&self, id_sha256: &str, now: i64) -> StoreResult<()> {
        self.engine.with_conn(|c| {
            c.execute(
                "DELETE FROM sessions WHERE id_sha256 = $1 OR expires_at < $2",
                params![id_sha256, now],
            )
            .map(drop)
        })
    }

    /// Every row of the tables in [`dump::TABLES`] (`zoo-registry export`).
    pub fn export_rows(&self) -> StoreResult<super::dump::Tables> {
        self.engine.with_conn(dump::export)
    }

    /// Loads exported rows, ids included, in one transaction; refuses a
    /// database that already holds users, packages or crates.
    pub fn import_rows(&self, tables: &super::dump::Tables) -> StoreResult<()> {
        self.engine.with_tx(|c| dump::import(c, tables))
    }

    /// Packages whose name, keywords or description contain `query`
    /// (case-insensitive), best matches first, with the total count.
    pub fn search(
        &self,
        query: &str,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<SearchHit>, u64)> {
        let (filter, mut params) = search_filter(query, "p", true);
        let name = zoo_format::normalize_name(query.trim());
        let total_sql = format!("SELECT COUNT(*) FROM packages p WHERE {filter}");
        let n = params.len();
        let names_sql = format!(
            "SELECT p.name_norm FROM packages p WHERE {filter} \
             ORDER BY (p.name_norm = ${}) DESC, (p.name_norm LIKE ${} ESCAPE '\\') DESC, \
             p.name_norm LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2,
            n + 3,
            n + 4
        );
        params.push(Value::from(format!("{}%", like_escape(&name))));
        params.insert(n, Value::from(name));
        params.push(Value::from(limit as i64));
        params.push(Value::from(offset as i64));
        self.engine.with_conn(|c| {
            let total = c.query_i64(&total_sql, &params[..n])?;
            let names = c.query_texts(&names_sql, &params)?;
            Ok((hits(c, names)?, total as u64))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
