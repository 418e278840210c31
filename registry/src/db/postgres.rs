//! [`MetadataStore`] on PostgreSQL (sqlx), for registries that run several
//! `zoo-registry` processes against one database.
//!
//! The trait is blocking (handlers call it from `spawn_blocking`), so the
//! store owns a small Tokio runtime of its own and blocks on it: the
//! connection pool lives on that runtime whichever thread calls in. The
//! schema and its messages match [`super::sqlite::SqliteStore`] exactly; the
//! schema comes from the numbered files in `registry/migrations/postgres/`,
//! applied in one transaction under an advisory lock so replicas starting
//! together migrate once.
//!
//! Every write runs in a transaction that first takes an advisory lock on
//! the item it changes (package or crate name), so concurrent publishes,
//! yanks and owner changes from any replica apply one after the other; the
//! unique constraints on names and `(item, version_key)` are the last line.

use std::future::Future;
use std::time::Duration;

use semver::Version;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgRow};
use zoo_format::index::IndexEntry;

use super::ownership::{PACKAGES, Tables};
use super::postgres_ownership::{pg_name_owners, pg_owner_divergence, pg_sync_owners};
use super::sqlite::{like_escape, now, version_key};
use super::summary::{VersionText, describe_by_shown_version};
use super::{
    MetadataStore, Namespace, NewVersion, PackageRecord, PublishRights, SearchHit, SessionRecord,
    StoreError, StoreResult, TokenRecord, User, VersionRecord,
};
use crate::auth::{Scope, format_scopes, parse_scopes};

/// The schema, in order; each file runs once (recorded in `zoo_schema_migrations`).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "packages",
        include_str!("../../migrations/postgres/0001_packages.sql"),
    ),
    (
        2,
        "cargo",
        include_str!("../../migrations/postgres/0002_cargo.sql"),
    ),
    (
        3,
        "sessions",
        include_str!("../../migrations/postgres/0003_sessions.sql"),
    ),
    (
        4,
        "session tokens",
        include_str!("../../migrations/postgres/0004_session_tokens.sql"),
    ),
    (
        5,
        "uploads",
        include_str!("../../migrations/postgres/0005_uploads.sql"),
    ),
];

/// Arbitrary constant: the advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x007a_6f6f_5f6d_6967;

pub struct PgStore {
    pool: PgPool,
    /// Always `Some` until drop (which hands it to `shutdown_background`,
    /// allowed even inside another runtime).
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

pub(super) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Whether the database refused a row because a unique constraint holds.
pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

/// Serializes writers of one item (across every replica) until the
/// transaction ends.
pub(super) async fn lock_item(
    c: &mut PgConnection,
    _kind: &str,
    name_norm: &str,
) -> StoreResult<()> {
    // Keyed by the name alone (not `_kind`): a zoo package and a crate of
    // one name share their owners, so changes to either serialize.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("name:{name_norm}"))
        .execute(c)
        .await
        .map_err(backend)?;
    Ok(())
}

async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS zoo_schema_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM zoo_schema_migrations")
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Backend(format!("schema migration {version}: {e}")))?;
        sqlx::query(
            "INSERT INTO zoo_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(name)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`) and
    /// brings the schema up to date. Blocks; call it off async workers.
    pub fn connect(url: &str) -> StoreResult<PgStore> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zoo-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("starting the database runtime: {e}")))?;
        let pool = rt.block_on(async {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|e| StoreError::Backend(format!("connecting to PostgreSQL: {e}")))?;
            migrate(&pool).await?;
            Ok::<_, StoreError>(pool)
        })?;
        Ok(PgStore { pool, rt: Some(rt) })
    }

    /// Runs `f` on a pooled connection, blocking until it finishes.
    pub(super) fn with_conn<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: AsyncFnOnce(&mut PgConnection) -> StoreResult<T>,
    {
        self.block(async {
            let mut conn = self.pool.acquire().await.map_err(backend)?;
            f(&mut conn).await
        })
    }

    /// Runs `f` in a transaction, committed when it returns `Ok`.
    pub(super) fn with_tx<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: AsyncFnOnce(&mut PgConnection) -> StoreResult<T>,
    {
        self.block(async {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let out = f(&mut tx).await?;
            tx.commit().await.map_err(backend)?;
            Ok(out)
        })
    }

    fn block<T>(&self, fut: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        match &self.rt {
            Some(rt) => rt.block_on(fut),
            None => Err(StoreError::Backend("the database runtime is gone".into())),
        }
    }
}

pub(super) async fn find_user(c: &mut PgConnection, login: &str) -> StoreResult<Option<User>> {
    let row = sqlx::query("SELECT id, login FROM users WHERE login = $1")
        .bind(login)
        .fetch_optional(c)
        .await
        .map_err(backend)?;
    row.map(|r| user_from(&r, 0)).transpose()
}

pub(super) fn user_from(r: &PgRow, first: usize) -> StoreResult<User> {
    Ok(User {
        id: r.try_get(first).map_err(backend)?,
        login: r.try_get(first + 1).map_err(backend)?,
    })
}

async fn package_row(c: &mut PgConnection, name_norm: &str) -> StoreResult<Option<(i64, String)>> {
    let row = sqlx::query("SELECT id, latest_version FROM packages WHERE name_norm = $1")
        .bind(name_norm)
        .fetch_optional(c)
        .await
        .map_err(backend)?;
    row.map(|r| {
        Ok((
            r.try_get(0).map_err(backend)?,
            r.try_get(1).map_err(backend)?,
        ))
    })
    .transpose()
}

const TOKEN_SELECT: &str = "SELECT t.id, u.id, u.login, t.secret_sha256, t.scopes, t.created_at, t.revoked_at \
     FROM tokens t JOIN users u ON u.id = t.user_id";

fn token_from(r: &PgRow) -> StoreResult<TokenRecord> {
    let scopes: String = r.try_get(4).map_err(backend)?;
    let revoked: Option<String> = r.try_get(6).map_err(backend)?;
    Ok(TokenRecord {
        id: r.try_get(0).map_err(backend)?,
        user: user_from(r, 1)?,
        secret_sha256: r.try_get(3).map_err(backend)?,
        scopes: parse_scopes(&scopes).map_err(backend)?,
        created_at: r.try_get(5).map_err(backend)?,
        revoked: revoked.is_some(),
    })
}

async fn versions_of(c: &mut PgConnection, name_norm: &str) -> StoreResult<Vec<VersionRecord>> {
    let rows = sqlx::query(
        "SELECT v.index_line, v.yanked, v.published_at, v.metrics FROM versions v \
         JOIN packages p ON p.id = v.package_id WHERE p.name_norm = $1 ORDER BY v.id",
    )
    .bind(name_norm)
    .fetch_all(c)
    .await
    .map_err(backend)?;
    rows.iter()
        .map(|r| {
            let line: String = r.try_get(0).map_err(backend)?;
            let metrics: String = r.try_get(3).map_err(backend)?;
            let mut entry: IndexEntry = serde_json::from_str(&line).map_err(backend)?;
            entry.yanked = r.try_get(1).map_err(backend)?;
            Ok(VersionRecord {
                entry,
                published_at: r.try_get(2).map_err(backend)?,
                metrics: serde_json::from_str(&metrics).map_err(backend)?,
            })
        })
        .collect()
}

async fn package_of(c: &mut PgConnection, name_norm: &str) -> StoreResult<Option<PackageRecord>> {
    let row = sqlx::query(
        "SELECT name, kind, description, keywords, readme FROM packages WHERE name_norm = $1",
    )
    .bind(name_norm)
    .fetch_optional(&mut *c)
    .await
    .map_err(backend)?;
    let Some(r) = row else {
        return Ok(None);
    };
    let keywords: String = r.try_get(3).map_err(backend)?;
    let mut package = PackageRecord {
        name: r.try_get(0).map_err(backend)?,
        kind: r.try_get(1).map_err(backend)?,
        description: r.try_get(2).map_err(backend)?,
        keywords: serde_json::from_str(&keywords).map_err(backend)?,
        readme: r.try_get(4).map_err(backend)?,
    };
    let rows = sqlx::query(
        "SELECT v.version, v.yanked, v.manifest, v.readme FROM versions v \
         JOIN packages p ON p.id = v.package_id WHERE p.name_norm = $1",
    )
    .bind(name_norm)
    .fetch_all(&mut *c)
    .await
    .map_err(backend)?;
    let texts = rows
        .iter()
        .map(|r| {
            Ok(VersionText {
                version: r.try_get(0).map_err(backend)?,
                yanked: r.try_get(1).map_err(backend)?,
                manifest: r.try_get(2).map_err(backend)?,
                readme: r.try_get(3).map_err(backend)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    describe_by_shown_version(&mut package, texts);
    Ok(Some(package))
}

/// Packages and their versions for a list of names (search and recent).
async fn hits(c: &mut PgConnection, names: Vec<String>) -> StoreResult<Vec<SearchHit>> {
    let mut hits = Vec::with_capacity(names.len());
    for name in names {
        if let Some(package) = package_of(c, &name).await? {
            hits.push(SearchHit {
                package,
                versions: versions_of(c, &name).await?,
            });
        }
    }
    Ok(hits)
}

async fn publish_in(
    tx: &mut PgConnection,
    publisher: &User,
    rights: PublishRights,
    new: &NewVersion,
) -> StoreResult<()> {
    let entry = &new.entry;
    let name_norm = zoo_format::normalize_name(&entry.name);
    lock_item(tx, "package", &name_norm).await?;
    let keywords = serde_json::to_string(&new.keywords).map_err(backend)?;
    let now = now();
    let package_id: i64 = match package_row(tx, &name_norm).await? {
        None => {
            if !rights.new_packages {
                return Err(StoreError::Forbidden(format!(
                    "`{name_norm}` is a new package: publishing it needs a token with the `{}` scope",
                    Scope::PublishNew
                )));
            }
            PACKAGES.pg_claim(tx, publisher, &name_norm).await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO packages (name, name_norm, kind, description, keywords, readme, latest_version, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(&entry.name)
            .bind(&name_norm)
            .bind(entry.kind.as_str())
            .bind(&new.description)
            .bind(&keywords)
            .bind(&new.readme)
            .bind(entry.vers.to_string())
            .bind(&now)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            PACKAGES
                .pg_seed_owners(tx, id, publisher, &name_norm)
                .await?;
            id
        }
        Some((id, latest)) => {
            PACKAGES
                .pg_require_owner(tx, id, publisher, &name_norm)
                .await?;
            if !rights.updates {
                return Err(StoreError::Forbidden(format!(
                    "publishing a new version of `{name_norm}` needs a token with the `{}` scope",
                    Scope::PublishUpdate
                )));
            }
            let taken: Option<String> = sqlx::query_scalar(
                "SELECT version FROM versions WHERE package_id = $1 AND version_key = $2",
            )
            .bind(id)
            .bind(version_key(&entry.vers))
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(taken) = taken {
                return Err(StoreError::Conflict(format!(
                    "{name_norm}@{taken} already exists; versions are immutable"
                )));
            }
            if Version::parse(&latest).map_or(true, |latest| entry.vers > latest) {
                sqlx::query(
                    "UPDATE packages SET kind = $2, description = $3, keywords = $4, readme = $5, \
                     latest_version = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(entry.kind.as_str())
                .bind(&new.description)
                .bind(&keywords)
                .bind(&new.readme)
                .bind(entry.vers.to_string())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            pg_sync_owners(tx, &name_norm).await?;
            id
        }
    };
    let mut line = entry.clone();
    line.yanked = false;
    sqlx::query(
        "INSERT INTO versions (package_id, version, version_key, published_at, published_by, archive_sha256, \
         index_line, metrics, manifest, readme) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(package_id)
    .bind(entry.vers.to_string())
    .bind(version_key(&entry.vers))
    .bind(&now)
    .bind(publisher.id)
    .bind(&entry.archive.sha256)
    .bind(line.to_line())
    .bind(new.metrics.to_string())
    .bind(&new.manifest_text)
    .bind(&new.readme)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!(
                "{name_norm}@{} already exists; versions are immutable",
                entry.vers
            ))
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

impl MetadataStore for PgStore {
    fn ping(&self) -> StoreResult<()> {
        self.with_conn(async |c| {
            sqlx::query("SELECT 1")
                .execute(c)
                .await
                .map(|_| ())
                .map_err(backend)
        })
    }

    fn add_user(&self, login: &str) -> StoreResult<User> {
        self.with_conn(async |c| {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users (login, created_at) VALUES ($1, $2) \
                 ON CONFLICT (login) DO NOTHING RETURNING id",
            )
            .bind(login)
            .bind(now())
            .fetch_optional(c)
            .await
            .map_err(backend)?;
            match id {
                Some(id) => Ok(User {
                    id,
                    login: login.to_string(),
                }),
                None => Err(StoreError::Conflict(format!(
                    "user `{login}` already exists"
                ))),
            }
        })
    }

    fn find_user(&self, login: &str) -> StoreResult<Option<User>> {
        self.with_conn(async |c| find_user(c, login).await)
    }

    fn list_users(&self) -> StoreResult<Vec<User>> {
        self.with_conn(async |c| {
            let rows = sqlx::query("SELECT id, login FROM users ORDER BY login")
                .fetch_all(c)
                .await
                .map_err(backend)?;
            rows.iter().map(|r| user_from(r, 0)).collect()
        })
    }

    fn add_token(
        &self,
        user: &User,
        id: &str,
        secret_sha256: &str,
        scopes: &[Scope],
    ) -> StoreResult<()> {
        self.with_conn(async |c| {
            sqlx::query(
                "INSERT INTO tokens (id, user_id, secret_sha256, scopes, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(user.id)
            .bind(secret_sha256)
            .bind(format_scopes(scopes))
            .bind(now())
            .execute(c)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn find_token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        self.with_conn(async |c| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{TOKEN_SELECT} WHERE t.id = $1"
            )))
            .bind(id)
            .fetch_optional(c)
            .await
            .map_err(backend)?;
            row.as_ref().map(token_from).transpose()
        })
    }

    fn list_tokens(&self, login: Option<&str>) -> StoreResult<Vec<TokenRecord>> {
        self.with_conn(async |c| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{TOKEN_SELECT} WHERE $1::text IS NULL OR u.login = $1 ORDER BY u.login, t.created_at, t.id"
            )))
            .bind(login)
            .fetch_all(c)
            .await
            .map_err(backend)?;
            rows.iter().map(token_from).collect()
        })
    }

    fn revoke_token(&self, id: &str) -> StoreResult<()> {
        self.with_conn(async |c| {
            let changed = sqlx::query(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            )
            .bind(id)
            .bind(now())
            .execute(c)
            .await
            .map_err(backend)?
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound(format!("no token with id `{id}`")));
            }
            Ok(())
        })
    }

    fn package(&self, name_norm: &str) -> StoreResult<Option<PackageRecord>> {
        self.with_conn(async |c| package_of(c, name_norm).await)
    }

    fn versions(&self, name_norm: &str) -> StoreResult<Vec<VersionRecord>> {
        self.with_conn(async |c| versions_of(c, name_norm).await)
    }

    fn package_names(&self) -> StoreResult<Vec<String>> {
        self.with_conn(async |c| {
            sqlx::query_scalar("SELECT name_norm FROM packages ORDER BY name_norm")
                .fetch_all(c)
                .await
                .map_err(backend)
        })
    }

    fn publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        new: &NewVersion,
    ) -> StoreResult<()> {
        self.with_tx(async |tx| publish_in(tx, publisher, rights, new).await)
    }

    fn set_yanked(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        version: &Version,
        yanked: bool,
    ) -> StoreResult<()> {
        let tables = Tables::of(ns);
        self.with_tx(async |tx| {
            let id = tables.pg_owned_item(tx, user, name_norm).await?;
            tables
                .pg_set_yanked(tx, id, name_norm, version, yanked)
                .await
        })
    }

    fn owners(&self, ns: Namespace, name_norm: &str) -> StoreResult<Vec<User>> {
        self.with_conn(async |c| {
            Tables::of(ns).pg_item_id(c, name_norm).await?;
            pg_name_owners(c, name_norm).await
        })
    }

    fn add_owners(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        let tables = Tables::of(ns);
        self.with_tx(async |tx| {
            let id = tables.pg_owned_item(tx, user, name_norm).await?;
            tables.pg_add_owners(tx, id, name_norm, logins).await
        })
    }

    fn remove_owners(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        let tables = Tables::of(ns);
        self.with_tx(async |tx| {
            let id = tables.pg_owned_item(tx, user, name_norm).await?;
            tables.pg_remove_owners(tx, id, name_norm, logins).await
        })
    }

    fn recent_packages(&self, limit: u64) -> StoreResult<Vec<SearchHit>> {
        self.with_conn(async |c| {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT p.name_norm FROM packages p JOIN versions v ON v.package_id = p.id \
                 GROUP BY p.id ORDER BY MAX(v.id) DESC LIMIT $1",
            )
            .bind(limit as i64)
            .fetch_all(&mut *c)
            .await
            .map_err(backend)?;
            hits(c, names).await
        })
    }

    fn version_readme(&self, name_norm: &str, version: &Version) -> StoreResult<Option<String>> {
        self.with_conn(async |c| {
            let row: Option<Option<String>> = sqlx::query_scalar(
                "SELECT v.readme FROM versions v JOIN packages p ON p.id = v.package_id \
                 WHERE p.name_norm = $1 AND v.version_key = $2",
            )
            .bind(name_norm)
            .bind(version_key(version))
            .fetch_optional(c)
            .await
            .map_err(backend)?;
            row.ok_or_else(|| {
                StoreError::NotFound(format!("`{name_norm}` has no version {version}"))
            })
        })
    }

    fn version_manifest(&self, name_norm: &str, version: &Version) -> StoreResult<String> {
        self.with_conn(async |c| {
            let row: Option<String> = sqlx::query_scalar(
                "SELECT v.manifest FROM versions v JOIN packages p ON p.id = v.package_id \
                 WHERE p.name_norm = $1 AND v.version_key = $2",
            )
            .bind(name_norm)
            .bind(version_key(version))
            .fetch_optional(c)
            .await
            .map_err(backend)?;
            row.ok_or_else(|| {
                StoreError::NotFound(format!("`{name_norm}` has no version {version}"))
            })
        })
    }

    fn integrity_problems(&self) -> StoreResult<Vec<String>> {
        // PostgreSQL enforces the foreign keys itself; what is left to check
        // is what the schema cannot say.
        self.with_conn(async |c| {
            let orphans: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM packages p WHERE NOT EXISTS \
                 (SELECT 1 FROM versions v WHERE v.package_id = p.id)",
            )
            .fetch_one(&mut *c)
            .await
            .map_err(backend)?;
            let mut problems = Vec::new();
            if orphans > 0 {
                problems.push(format!("{orphans} package row(s) have no version"));
            }
            problems.extend(pg_owner_divergence(c).await?);
            Ok(problems)
        })
    }

    fn create_session(
        &self,
        id_sha256: &str,
        user: &User,
        token_id: &str,
        csrf: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.with_conn(async |c| {
            sqlx::query(
                "INSERT INTO sessions (id_sha256, user_id, token_id, csrf, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id_sha256)
            .bind(user.id)
            .bind(token_id)
            .bind(csrf)
            .bind(now())
            .bind(expires_at)
            .execute(c)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn find_session(&self, id_sha256: &str) -> StoreResult<Option<SessionRecord>> {
        self.with_conn(async |c| {
            let row = sqlx::query(
                "SELECT u.id, u.login, s.csrf, s.expires_at, t.id, t.scopes FROM sessions s \
                 JOIN users u ON u.id = s.user_id JOIN tokens t ON t.id = s.token_id \
                 WHERE s.id_sha256 = $1 AND t.revoked_at IS NULL AND t.user_id = s.user_id",
            )
            .bind(id_sha256)
            .fetch_optional(c)
            .await
            .map_err(backend)?;
            row.map(|r| {
                let scopes: String = r.try_get(5).map_err(backend)?;
                Ok(SessionRecord {
                    user: user_from(&r, 0)?,
                    token_id: r.try_get(4).map_err(backend)?,
                    scopes: parse_scopes(&scopes).map_err(StoreError::Backend)?,
                    csrf: r.try_get(2).map_err(backend)?,
                    expires_at: r.try_get(3).map_err(backend)?,
                })
            })
            .transpose()
        })
    }

    fn delete_session(&self, id_sha256: &str, now: i64) -> StoreResult<()> {
        self.with_conn(async |c| {
            sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1 OR expires_at < $2")
                .bind(id_sha256)
                .bind(now)
                .execute(c)
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn export_rows(&self) -> StoreResult<super::dump::Tables> {
        self.with_conn(async |c| super::postgres_dump::export(c).await)
    }

    fn import_rows(&self, tables: &super::dump::Tables) -> StoreResult<()> {
        self.with_tx(async |tx| super::postgres_dump::import(tx, tables).await)
    }

    fn search(&self, query: &str, offset: u64, limit: u64) -> StoreResult<(Vec<SearchHit>, u64)> {
        let text = query.trim().to_lowercase();
        let name = zoo_format::normalize_name(&text);
        let name_like = format!("%{}%", like_escape(&name));
        let text_like = format!("%{}%", like_escape(&text));
        let prefix_like = format!("{}%", like_escape(&name));
        const FILTER: &str = "p.name_norm LIKE $1 ESCAPE '\\' OR lower(p.keywords) LIKE $2 ESCAPE '\\' \
                              OR lower(p.description) LIKE $2 ESCAPE '\\'";
        self.with_conn(async |c| {
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM packages p WHERE {FILTER}"
            )))
            .bind(&name_like)
            .bind(&text_like)
            .fetch_one(&mut *c)
            .await
            .map_err(backend)?;
            let names: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT p.name_norm FROM packages p WHERE {FILTER} \
                 ORDER BY (p.name_norm = $3) DESC, (p.name_norm LIKE $4 ESCAPE '\\') DESC, p.name_norm \
                 LIMIT $5 OFFSET $6"
            )))
            .bind(&name_like)
            .bind(&text_like)
            .bind(&name)
            .bind(&prefix_like)
            .bind(limit as i64)
            .bind(offset as i64)
            .fetch_all(&mut *c)
            .await
            .map_err(backend)?;
            Ok((hits(c, names).await?, total as u64))
        })
    }
}
