//! [`MetadataStore`] on SQLite (bundled), one connection behind a mutex.
//!
//! WAL with `synchronous=FULL`: a commit is on disk before a publish is
//! acknowledged. Write operations run in `BEGIN IMMEDIATE` transactions so
//! their checks and writes see one consistent state.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use semver::Version;
use zoo_format::index::IndexEntry;

use super::ownership::{PACKAGES, Tables, name_owners, owner_divergence, sync_owners};
use super::summary::{VersionText, describe_by_shown_version};
use super::{
    MetadataStore, Namespace, NewVersion, PackageRecord, PublishRights, SearchHit, SessionRecord,
    StoreError, StoreResult, TokenRecord, User, VersionRecord,
};
use crate::auth::{Scope, format_scopes, parse_scopes};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. The first is idempotent (`IF NOT EXISTS`) so databases
/// created before versioning was introduced upgrade cleanly.
/// The files sit beside PostgreSQL's (`migrations/postgres/`), one number
/// for the same change in both.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_packages.sql"),
    include_str!("../../migrations/sqlite/0002_cargo.sql"),
    include_str!("../../migrations/sqlite/0003_sessions.sql"),
    include_str!("../../migrations/sqlite/0004_session_tokens.sql"),
    include_str!("../../migrations/sqlite/0005_uploads.sql"),
];

/// Brings the schema up to date, each step in its own transaction.
fn migrate(conn: &Connection) -> StoreResult<()> {
    let applied: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(applied.max(0) as usize) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {};\nCOMMIT;",
            step + 1
        ))
        .map_err(|e| StoreError::Backend(format!("schema migration {}: {e}", step + 1)))?;
    }
    Ok(())
}

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

pub(super) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Versions equal up to build metadata are the same version (as in Cargo).
pub(super) fn version_key(v: &Version) -> String {
    let mut v = v.clone();
    v.build = semver::BuildMetadata::EMPTY;
    v.to_string()
}

/// RFC 3339 UTC timestamp, whole seconds.
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(super) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let conn = Connection::open(path).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(backend)?;
        migrate(&conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    pub(super) fn lock(&self) -> StoreResult<MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Backend("the database lock is poisoned".into()))
    }

    /// Runs `change` on the package or crate `name_norm` in one immediate
    /// transaction, after checking that `user` owns it.
    fn as_owner(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        change: impl FnOnce(&Connection, Tables, i64) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let tables = Tables::of(ns);
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let id = require_item(&tx, ns, name_norm)?;
        tables.require_owner(&tx, id, user, name_norm)?;
        change(&tx, tables, id)?;
        tx.commit().map_err(backend)
    }
}

fn package_row(conn: &Connection, name_norm: &str) -> StoreResult<Option<(i64, String)>> {
    conn.query_row(
        "SELECT id, latest_version FROM packages WHERE name_norm = ?1",
        [name_norm],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(backend)
}

/// The id of the package or crate `name_norm`; `NotFound` when absent.
fn require_item(conn: &Connection, ns: Namespace, name_norm: &str) -> StoreResult<i64> {
    match ns {
        Namespace::Zoo => require_package(conn, name_norm),
        Namespace::Cargo => super::sqlite_cargo::require_crate(conn, name_norm),
    }
}

fn require_package(conn: &Connection, name_norm: &str) -> StoreResult<i64> {
    package_row(conn, name_norm)?
        .map(|(id, _)| id)
        .ok_or_else(|| StoreError::NotFound(format!("package `{name_norm}` does not exist")))
}

pub(super) fn find_user(conn: &Connection, login: &str) -> StoreResult<Option<User>> {
    conn.query_row(
        "SELECT id, login FROM users WHERE login = ?1",
        [login],
        |r| {
            Ok(User {
                id: r.get(0)?,
                login: r.get(1)?,
            })
        },
    )
    .optional()
    .map_err(backend)
}

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(TokenRecord, String)> {
    let scopes: String = r.get(4)?;
    let revoked: Option<String> = r.get(6)?;
    Ok((
        TokenRecord {
            id: r.get(0)?,
            user: User {
                id: r.get(1)?,
                login: r.get(2)?,
            },
            secret_sha256: r.get(3)?,
            scopes: Vec::new(),
            created_at: r.get(5)?,
            revoked: revoked.is_some(),
        },
        scopes,
    ))
}

fn with_scopes((mut token, scopes): (TokenRecord, String)) -> StoreResult<TokenRecord> {
    token.scopes = parse_scopes(&scopes).map_err(backend)?;
    Ok(token)
}

const TOKEN_SELECT: &str = "SELECT t.id, u.id, u.login, t.secret_sha256, t.scopes, t.created_at, t.revoked_at \
     FROM tokens t JOIN users u ON u.id = t.user_id";

fn versions_of(conn: &Connection, name_norm: &str) -> StoreResult<Vec<VersionRecord>> {
    let mut stmt = conn
        .prepare(
            "SELECT v.index_line, v.yanked, v.published_at, v.metrics FROM versions v \
             JOIN packages p ON p.id = v.package_id WHERE p.name_norm = ?1 ORDER BY v.id",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([name_norm], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (line, yanked, published_at, metrics) = row.map_err(backend)?;
        let mut entry: IndexEntry = serde_json::from_str(&line).map_err(backend)?;
        entry.yanked = yanked;
        out.push(VersionRecord {
            entry,
            published_at,
            metrics: serde_json::from_str(&metrics).map_err(backend)?,
        });
    }
    Ok(out)
}

fn package_of(conn: &Connection, name_norm: &str) -> StoreResult<Option<PackageRecord>> {
    let row = conn
        .query_row(
            "SELECT name, kind, description, keywords, readme FROM packages WHERE name_norm = ?1",
            [name_norm],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )
        .optional()
        .map_err(backend)?;
    let Some((name, kind, description, keywords, readme)) = row else {
        return Ok(None);
    };
    let mut package = PackageRecord {
        name,
        kind,
        description,
        keywords: serde_json::from_str(&keywords).map_err(backend)?,
        readme,
    };
    let mut stmt = conn
        .prepare(
            "SELECT v.version, v.yanked, v.manifest, v.readme FROM versions v \
             JOIN packages p ON p.id = v.package_id WHERE p.name_norm = ?1",
        )
        .map_err(backend)?;
    let texts = stmt
        .query_map([name_norm], |r| {
            Ok(VersionText {
                version: r.get(0)?,
                yanked: r.get(1)?,
                manifest: r.get(2)?,
                readme: r.get(3)?,
            })
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    describe_by_shown_version(&mut package, texts);
    Ok(Some(package))
}

impl MetadataStore for SqliteStore {
    fn ping(&self) -> StoreResult<()> {
        self.lock()?
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(backend)
    }

    fn add_user(&self, login: &str) -> StoreResult<User> {
        let conn = self.lock()?;
        if find_user(&conn, login)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "user `{login}` already exists"
            )));
        }
        conn.execute(
            "INSERT INTO users (login, created_at) VALUES (?1, ?2)",
            params![login, now()],
        )
        .map_err(backend)?;
        Ok(User {
            id: conn.last_insert_rowid(),
            login: login.to_string(),
        })
    }

    fn find_user(&self, login: &str) -> StoreResult<Option<User>> {
        find_user(&*self.lock()?, login)
    }

    fn list_users(&self) -> StoreResult<Vec<User>> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare("SELECT id, login FROM users ORDER BY login")
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(User {
                    id: r.get(0)?,
                    login: r.get(1)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn add_token(
        &self,
        user: &User,
        id: &str,
        secret_sha256: &str,
        scopes: &[Scope],
    ) -> StoreResult<()> {
        self.lock()?
            .execute(
                "INSERT INTO tokens (id, user_id, secret_sha256, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, user.id, secret_sha256, format_scopes(scopes), now()],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn find_token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        let conn = self.lock()?;
        let row = conn
            .query_row(
                &format!("{TOKEN_SELECT} WHERE t.id = ?1"),
                [id],
                token_from_row,
            )
            .optional()
            .map_err(backend)?;
        row.map(with_scopes).transpose()
    }

    fn list_tokens(&self, login: Option<&str>) -> StoreResult<Vec<TokenRecord>> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare(&format!(
                "{TOKEN_SELECT} WHERE ?1 IS NULL OR u.login = ?1 ORDER BY u.login, t.created_at, t.id"
            ))
            .map_err(backend)?;
        let rows = stmt.query_map([login], token_from_row).map_err(backend)?;
        rows.map(|r| r.map_err(backend).and_then(with_scopes))
            .collect()
    }

    fn revoke_token(&self, id: &str) -> StoreResult<()> {
        let changed = self
            .lock()?
            .execute(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, now()],
            )
            .map_err(backend)?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("no token with id `{id}`")));
        }
        Ok(())
    }

    fn package(&self, name_norm: &str) -> StoreResult<Option<PackageRecord>> {
        package_of(&*self.lock()?, name_norm)
    }

    fn versions(&self, name_norm: &str) -> StoreResult<Vec<VersionRecord>> {
        versions_of(&*self.lock()?, name_norm)
    }

    fn package_names(&self) -> StoreResult<Vec<String>> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare("SELECT name_norm FROM packages ORDER BY name_norm")
            .map_err(backend)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        new: &NewVersion,
    ) -> StoreResult<()> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let entry = &new.entry;
        let name_norm = zoo_format::normalize_name(&entry.name);
        let keywords = serde_json::to_string(&new.keywords).map_err(backend)?;
        let now = now();
        let package_id = match package_row(&tx, &name_norm)? {
            None => {
                if !rights.new_packages {
                    return Err(StoreError::Forbidden(format!(
                        "`{name_norm}` is a new package: publishing it needs a token with the `{}` scope",
                        Scope::PublishNew
                    )));
                }
                PACKAGES.claim(&tx, publisher, &name_norm)?;
                tx.execute(
                    "INSERT INTO packages (name, name_norm, kind, description, keywords, readme, latest_version, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        entry.name,
                        name_norm,
                        entry.kind.as_str(),
                        new.description,
                        keywords,
                        new.readme,
                        entry.vers.to_string(),
                        now
                    ],
                )
                .map_err(backend)?;
                let id = tx.last_insert_rowid();
                PACKAGES.seed_owners(&tx, id, publisher, &name_norm)?;
                id
            }
            Some((id, latest)) => {
                PACKAGES.require_owner(&tx, id, publisher, &name_norm)?;
                if !rights.updates {
                    return Err(StoreError::Forbidden(format!(
                        "publishing a new version of `{name_norm}` needs a token with the `{}` scope",
                        Scope::PublishUpdate
                    )));
                }
                let taken: Option<String> = tx
                    .query_row(
                        "SELECT version FROM versions WHERE package_id = ?1 AND version_key = ?2",
                        params![id, version_key(&entry.vers)],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(backend)?;
                if let Some(taken) = taken {
                    return Err(StoreError::Conflict(format!(
                        "{name_norm}@{taken} already exists; versions are immutable"
                    )));
                }
                let newest = Version::parse(&latest).map_or(true, |latest| entry.vers > latest);
                if newest {
                    tx.execute(
                        "UPDATE packages SET kind = ?2, description = ?3, keywords = ?4, readme = ?5, latest_version = ?6 \
                         WHERE id = ?1",
                        params![
                            id,
                            entry.kind.as_str(),
                            new.description,
                            keywords,
                            new.readme,
                            entry.vers.to_string()
                        ],
                    )
                    .map_err(backend)?;
                }
                sync_owners(&tx, &name_norm)?;
                id
            }
        };
        let mut line = entry.clone();
        line.yanked = false;
        tx.execute(
            "INSERT INTO versions (package_id, version, version_key, published_at, published_by, archive_sha256, \
             index_line, metrics, manifest, readme) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                package_id,
                entry.vers.to_string(),
                version_key(&entry.vers),
                now,
                publisher.id,
                entry.archive.sha256,
                line.to_line(),
                new.metrics.to_string(),
                new.manifest_text,
                new.readme
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    fn set_yanked(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        version: &Version,
        yanked: bool,
    ) -> StoreResult<()> {
        self.as_owner(ns, user, name_norm, |tx, tables, id| {
            tables.set_yanked(tx, id, name_norm, version, yanked)
        })
    }

    fn owners(&self, ns: Namespace, name_norm: &str) -> StoreResult<Vec<User>> {
        let conn = self.lock()?;
        require_item(&conn, ns, name_norm)?;
        name_owners(&conn, name_norm)
    }

    fn add_owners(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        self.as_owner(ns, user, name_norm, |tx, tables, id| {
            tables.add_owners(tx, id, name_norm, logins)
        })
    }

    fn remove_owners(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        self.as_owner(ns, user, name_norm, |tx, tables, id| {
            tables.remove_owners(tx, id, name_norm, logins)
        })
    }

    fn recent_packages(&self, limit: u64) -> StoreResult<Vec<SearchHit>> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare(
                "SELECT p.name_norm FROM packages p JOIN versions v ON v.package_id = p.id \
                 GROUP BY p.id ORDER BY MAX(v.id) DESC LIMIT ?1",
            )
            .map_err(backend)?;
        let names: Vec<String> = stmt
            .query_map([limit as i64], |r| r.get(0))
            .map_err(backend)?
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let mut hits = Vec::with_capacity(names.len());
        for name in names {
            if let Some(package) = package_of(&conn, &name)? {
                hits.push(SearchHit {
                    package,
                    versions: versions_of(&conn, &name)?,
                });
            }
        }
        Ok(hits)
    }

    fn version_readme(&self, name_norm: &str, version: &Version) -> StoreResult<Option<String>> {
        let conn = self.lock()?;
        conn.query_row(
            "SELECT v.readme FROM versions v JOIN packages p ON p.id = v.package_id \
             WHERE p.name_norm = ?1 AND v.version_key = ?2",
            params![name_norm, version_key(version)],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()
        .map_err(backend)?
        .ok_or_else(|| StoreError::NotFound(format!("`{name_norm}` has no version {version}")))
    }

    fn version_manifest(&self, name_norm: &str, version: &Version) -> StoreResult<String> {
        let conn = self.lock()?;
        conn.query_row(
            "SELECT v.manifest FROM versions v JOIN packages p ON p.id = v.package_id \
             WHERE p.name_norm = ?1 AND v.version_key = ?2",
            params![name_norm, version_key(version)],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(backend)?
        .ok_or_else(|| StoreError::NotFound(format!("`{name_norm}` has no version {version}")))
    }

    fn integrity_problems(&self) -> StoreResult<Vec<String>> {
        let conn = self.lock()?;
        let mut problems = Vec::new();
        let mut check = conn.prepare("PRAGMA quick_check").map_err(backend)?;
        for row in check
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(backend)?
        {
            let row = row.map_err(backend)?;
            if row != "ok" {
                problems.push(format!("database quick_check: {row}"));
            }
        }
        let mut fk = conn.prepare("PRAGMA foreign_key_check").map_err(backend)?;
        for row in fk
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(backend)?
        {
            let (table, rowid, parent) = row.map_err(backend)?;
            let rowid = rowid.map_or("?".to_string(), |id| id.to_string());
            problems.push(format!(
                "row {rowid} of table `{table}` references a missing row of `{parent}`"
            ));
        }
        let orphans: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM packages p WHERE NOT EXISTS \
                 (SELECT 1 FROM versions v WHERE v.package_id = p.id)",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if orphans > 0 {
            problems.push(format!("{orphans} package row(s) have no version"));
        }
        problems.extend(owner_divergence(&conn)?);
        Ok(problems)
    }

    fn create_session(
        &self,
        id_sha256: &str,
        user: &User,
        token_id: &str,
        csrf: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.lock()?
            .execute(
                "INSERT INTO sessions (id_sha256, user_id, token_id, csrf, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id_sha256, user.id, token_id, csrf, now(), expires_at],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn find_session(&self, id_sha256: &str) -> StoreResult<Option<SessionRecord>> {
        let row = self
            .lock()?
            .query_row(
                "SELECT u.id, u.login, s.csrf, s.expires_at, t.id, t.scopes FROM sessions s \
                 JOIN users u ON u.id = s.user_id JOIN tokens t ON t.id = s.token_id \
                 WHERE s.id_sha256 = ?1 AND t.revoked_at IS NULL AND t.user_id = s.user_id",
                [id_sha256],
                |r| {
                    Ok((
                        User {
                            id: r.get(0)?,
                            login: r.get(1)?,
                        },
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(backend)?;
        row.map(|(user, csrf, expires_at, token_id, scopes)| {
            Ok(SessionRecord {
                user,
                token_id,
                scopes: parse_scopes(&scopes).map_err(StoreError::Backend)?,
                csrf,
                expires_at,
            })
        })
        .transpose()
    }

    fn delete_session(&self, id_sha256: &str, now: i64) -> StoreResult<()> {
        self.lock()?
            .execute(
                "DELETE FROM sessions WHERE id_sha256 = ?1 OR expires_at < ?2",
                params![id_sha256, now],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn export_rows(&self) -> StoreResult<super::dump::Tables> {
        super::sqlite_dump::export(&*self.lock()?)
    }

    fn import_rows(&self, tables: &super::dump::Tables) -> StoreResult<()> {
        super::sqlite_dump::import(&mut *self.lock()?, tables)
    }

    fn search(&self, query: &str, offset: u64, limit: u64) -> StoreResult<(Vec<SearchHit>, u64)> {
        let conn = self.lock()?;
        let text = query.trim().to_lowercase();
        let name = zoo_format::normalize_name(&text);
        let name_like = format!("%{}%", like_escape(&name));
        let text_like = format!("%{}%", like_escape(&text));
        let prefix_like = format!("{}%", like_escape(&name));
        let filter = "p.name_norm LIKE ?1 ESCAPE '\\' OR lower(p.keywords) LIKE ?2 ESCAPE '\\' \
                      OR lower(p.description) LIKE ?2 ESCAPE '\\'";
        let total: i64 = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM packages p WHERE {filter}"),
                params![name_like, text_like],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT p.name_norm FROM packages p WHERE {filter} \
                 ORDER BY (p.name_norm = ?3) DESC, (p.name_norm LIKE ?4 ESCAPE '\\') DESC, p.name_norm \
                 LIMIT ?5 OFFSET ?6"
            ))
            .map_err(backend)?;
        let names: Vec<String> = stmt
            .query_map(
                params![
                    name_like,
                    text_like,
                    name,
                    prefix_like,
                    limit as i64,
                    offset as i64
                ],
                |r| r.get(0),
            )
            .map_err(backend)?
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let mut hits = Vec::with_capacity(names.len());
        for name in names {
            if let Some(package) = package_of(&conn, &name)? {
                hits.push(SearchHit {
                    package,
                    versions: versions_of(&conn, &name)?,
                });
            }
        }
        Ok((hits, total as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    /// Each backend's migrations are files with the same numbers and names,
    /// and SQLite runs every one of its files.
    #[test]
    fn both_backends_have_the_same_migrations() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let names = |backend: &str| {
            let mut names: Vec<String> = std::fs::read_dir(dir.join(backend))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names("sqlite"), names("postgres"));
        assert_eq!(names("sqlite").len(), super::MIGRATIONS.len());
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
