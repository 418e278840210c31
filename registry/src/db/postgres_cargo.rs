//! [`CargoStore`] on PostgreSQL: tables `cargo_crates`, `cargo_owners`,
//! `cargo_versions` (migration `0002_cargo.sql`), same checks and messages
//! as the SQLite implementation.

use semver::Version;
use sqlx::Row;
use sqlx::postgres::PgConnection;

use super::cargo::{CargoStore, CrateHit, CrateRecord, CrateVersionRecord, NewCrateVersion};
use super::ownership::CRATES;
use super::postgres::{PgStore, backend, is_unique_violation, lock_item};
use super::postgres_ownership::pg_sync_owners;
use super::sqlite::{like_escape, now, version_key};
use super::{PublishRights, StoreError, StoreResult, User};
use crate::auth::Scope;

/// `(id, name, max_version)` of a crate.
async fn crate_row(
    c: &mut PgConnection,
    name_norm: &str,
) -> StoreResult<Option<(i64, String, String)>> {
    let row = sqlx::query("SELECT id, name, max_version FROM cargo_crates WHERE name_norm = $1")
        .bind(name_norm)
        .fetch_optional(c)
        .await
        .map_err(backend)?;
    row.map(|r| {
        Ok((
            r.try_get(0).map_err(backend)?,
            r.try_get(1).map_err(backend)?,
            r.try_get(2).map_err(backend)?,
        ))
    })
    .transpose()
}

/// The publish checks; `Some((id, max_version))` for an existing crate.
async fn check_publish(
    c: &mut PgConnection,
    publisher: &User,
    rights: PublishRights,
    name: &str,
    vers: &Version,
) -> StoreResult<Option<(i64, String)>> {
    let name_norm = zoo_format::normalize_name(name);
    let Some((id, known_as, max_version)) = crate_row(c, &name_norm).await? else {
        if !rights.new_packages {
            return Err(StoreError::Forbidden(format!(
                "`{name}` is a new crate: publishing it needs a token with the `{}` scope",
                Scope::PublishNew
            )));
        }
        CRATES.pg_claim(c, publisher, &name_norm).await?;
        return Ok(None);
    };
    CRATES.pg_require_owner(c, id, publisher, &known_as).await?;
    if !rights.updates {
        return Err(StoreError::Forbidden(format!(
            "publishing a new version of `{known_as}` needs a token with the `{}` scope",
            Scope::PublishUpdate
        )));
    }
    if !known_as.eq_ignore_ascii_case(name) {
        return Err(StoreError::Invalid(format!(
            "this registry knows the crate as `{known_as}`; `{name}` counts as the same name \
             (`-` equals `_`) but would need another index file: publish it as `{known_as}`"
        )));
    }
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT version FROM cargo_versions WHERE crate_id = $1 AND version_key = $2",
    )
    .bind(id)
    .bind(version_key(vers))
    .fetch_optional(c)
    .await
    .map_err(backend)?;
    if let Some(taken) = taken {
        return Err(StoreError::Conflict(format!(
            "crate version `{known_as}@{taken}` is already uploaded; versions are immutable"
        )));
    }
    Ok(Some((id, max_version)))
}

async fn versions_of(
    c: &mut PgConnection,
    name_norm: &str,
) -> StoreResult<Vec<CrateVersionRecord>> {
    let rows = sqlx::query(
        "SELECT v.version, v.yanked, v.cksum, v.index_line FROM cargo_versions v \
         JOIN cargo_crates c ON c.id = v.crate_id WHERE c.name_norm = $1 ORDER BY v.id",
    )
    .bind(name_norm)
    .fetch_all(c)
    .await
    .map_err(backend)?;
    rows.iter()
        .map(|r| {
            let vers: String = r.try_get(0).map_err(backend)?;
            Ok(CrateVersionRecord {
                vers: Version::parse(&vers).map_err(backend)?,
                yanked: r.try_get(1).map_err(backend)?,
                cksum: r.try_get(2).map_err(backend)?,
                index_line: r.try_get(3).map_err(backend)?,
            })
        })
        .collect()
}

async fn crate_of(c: &mut PgConnection, name_norm: &str) -> StoreResult<Option<CrateRecord>> {
    let row = sqlx::query("SELECT name, description FROM cargo_crates WHERE name_norm = $1")
        .bind(name_norm)
        .fetch_optional(c)
        .await
        .map_err(backend)?;
    row.map(|r| {
        Ok(CrateRecord {
            name: r.try_get(0).map_err(backend)?,
            description: r.try_get(1).map_err(backend)?,
        })
    })
    .transpose()
}

async fn publish_in(
    tx: &mut PgConnection,
    publisher: &User,
    rights: PublishRights,
    new: &NewCrateVersion,
) -> StoreResult<()> {
    let name_norm = zoo_format::normalize_name(&new.name);
    lock_item(tx, "crate", &name_norm).await?;
    let now = now();
    let crate_id: i64 = match check_publish(tx, publisher, rights, &new.name, &new.vers).await? {
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO cargo_crates (name, name_norm, description, max_version, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(&new.name)
            .bind(&name_norm)
            .bind(&new.description)
            .bind(new.vers.to_string())
            .bind(&now)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            CRATES.pg_seed_owners(tx, id, publisher, &name_norm).await?;
            id
        }
        Some((id, max_version)) => {
            if Version::parse(&max_version).map_or(true, |max| new.vers > max) {
                sqlx::query(
                    "UPDATE cargo_crates SET description = $2, max_version = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(&new.description)
                .bind(new.vers.to_string())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            pg_sync_owners(tx, &name_norm).await?;
            id
        }
    };
    sqlx::query(
        "INSERT INTO cargo_versions (crate_id, version, version_key, published_at, published_by, \
         cksum, index_line, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(crate_id)
    .bind(new.vers.to_string())
    .bind(version_key(&new.vers))
    .bind(&now)
    .bind(publisher.id)
    .bind(&new.cksum)
    .bind(&new.index_line)
    .bind(&new.metadata)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!(
                "crate version `{}@{}` is already uploaded; versions are immutable",
                new.name, new.vers
            ))
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

impl CargoStore for PgStore {
    fn cargo_crate(&self, name_norm: &str) -> StoreResult<Option<CrateRecord>> {
        self.with_conn(async |c| crate_of(c, name_norm).await)
    }

    fn cargo_versions(&self, name_norm: &str) -> StoreResult<Vec<CrateVersionRecord>> {
        self.with_conn(async |c| versions_of(c, name_norm).await)
    }

    fn cargo_crate_names(&self) -> StoreResult<Vec<String>> {
        self.with_conn(async |c| {
            sqlx::query_scalar("SELECT name FROM cargo_crates ORDER BY name_norm")
                .fetch_all(c)
                .await
                .map_err(backend)
        })
    }

    fn cargo_check_publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        name: &str,
        vers: &Version,
    ) -> StoreResult<()> {
        self.with_conn(async |c| {
            check_publish(c, publisher, rights, name, vers)
                .await
                .map(|_| ())
        })
    }

    fn cargo_publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        new: &NewCrateVersion,
    ) -> StoreResult<()> {
        self.with_tx(async |tx| publish_in(tx, publisher, rights, new).await)
    }

    fn cargo_search(&self, query: &str, limit: u64) -> StoreResult<(Vec<CrateHit>, u64)> {
        let text = query.trim().to_lowercase();
        let name = zoo_format::normalize_name(&text);
        let name_like = format!("%{}%", like_escape(&name));
        let text_like = format!("%{}%", like_escape(&text));
        const FILTER: &str =
            "c.name_norm LIKE $1 ESCAPE '\\' OR lower(c.description) LIKE $2 ESCAPE '\\'";
        self.with_conn(async |c| {
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM cargo_crates c WHERE {FILTER}"
            )))
            .bind(&name_like)
            .bind(&text_like)
            .fetch_one(&mut *c)
            .await
            .map_err(backend)?;
            let names: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT c.name_norm FROM cargo_crates c WHERE {FILTER} \
                 ORDER BY (c.name_norm = $3) DESC, c.name_norm LIMIT $4"
            )))
            .bind(&name_like)
            .bind(&text_like)
            .bind(&name)
            .bind(limit as i64)
            .fetch_all(&mut *c)
            .await
            .map_err(backend)?;
            let mut hits = Vec::with_capacity(names.len());
            for name in names {
                if let Some(krate) = crate_of(c, &name).await? {
                    hits.push(CrateHit {
                        krate,
                        versions: versions_of(c, &name).await?,
                    });
                }
            }
            Ok((hits, total as u64))
        })
    }
}
