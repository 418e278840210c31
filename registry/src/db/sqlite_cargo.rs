//! [`CargoStore`] on the SQLite database of [`SqliteStore`]: tables
//! `cargo_crates`, `cargo_owners`, `cargo_versions` (schema migration 2).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use semver::Version;

use super::cargo::{CargoStore, CrateHit, CrateRecord, CrateVersionRecord, NewCrateVersion};
use super::ownership::{CRATES, sync_owners};
use super::sqlite::{SqliteStore, backend, like_escape, now, version_key};
use super::{PublishRights, StoreError, StoreResult, User};
use crate::auth::Scope;

/// `(id, name, max_version)` of a crate.
fn crate_row(conn: &Connection, name_norm: &str) -> StoreResult<Option<(i64, String, String)>> {
    conn.query_row(
        "SELECT id, name, max_version FROM cargo_crates WHERE name_norm = ?1",
        [name_norm],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
    .map_err(backend)
}

pub(super) fn require_crate(conn: &Connection, name_norm: &str) -> StoreResult<i64> {
    crate_row(conn, name_norm)?
        .map(|(id, ..)| id)
        .ok_or_else(|| StoreError::NotFound(format!("crate `{name_norm}` does not exist")))
}

/// The publish checks; `Some((id, max_version))` for an existing crate.
fn check_publish(
    conn: &Connection,
    publisher: &User,
    rights: PublishRights,
    name: &str,
    vers: &Version,
) -> StoreResult<Option<(i64, String)>> {
    let name_norm = zoo_format::normalize_name(name);
    let Some((id, known_as, max_version)) = crate_row(conn, &name_norm)? else {
        if !rights.new_packages {
            return Err(StoreError::Forbidden(format!(
                "`{name}` is a new crate: publishing it needs a token with the `{}` scope",
                Scope::PublishNew
            )));
        }
        CRATES.claim(conn, publisher, &name_norm)?;
        return Ok(None);
    };
    CRATES.require_owner(conn, id, publisher, &known_as)?;
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
    let taken: Option<String> = conn
        .query_row(
            "SELECT version FROM cargo_versions WHERE crate_id = ?1 AND version_key = ?2",
            params![id, version_key(vers)],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    if let Some(taken) = taken {
        return Err(StoreError::Conflict(format!(
            "crate version `{known_as}@{taken}` is already uploaded; versions are immutable"
        )));
    }
    Ok(Some((id, max_version)))
}

fn versions_of(conn: &Connection, name_norm: &str) -> StoreResult<Vec<CrateVersionRecord>> {
    let mut stmt = conn
        .prepare(
            "SELECT v.version, v.yanked, v.cksum, v.index_line FROM cargo_versions v \
             JOIN cargo_crates c ON c.id = v.crate_id WHERE c.name_norm = ?1 ORDER BY v.id",
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
        let (vers, yanked, cksum, index_line) = row.map_err(backend)?;
        out.push(CrateVersionRecord {
            vers: Version::parse(&vers).map_err(backend)?,
            yanked,
            cksum,
            index_line,
        });
    }
    Ok(out)
}

fn crate_of(conn: &Connection, name_norm: &str) -> StoreResult<Option<CrateRecord>> {
    conn.query_row(
        "SELECT name, description FROM cargo_crates WHERE name_norm = ?1",
        [name_norm],
        |r| {
            Ok(CrateRecord {
                name: r.get(0)?,
                description: r.get(1)?,
            })
        },
    )
    .optional()
    .map_err(backend)
}

impl CargoStore for SqliteStore {
    fn cargo_crate(&self, name_norm: &str) -> StoreResult<Option<CrateRecord>> {
        crate_of(&*self.lock()?, name_norm)
    }

    fn cargo_versions(&self, name_norm: &str) -> StoreResult<Vec<CrateVersionRecord>> {
        versions_of(&*self.lock()?, name_norm)
    }

    fn cargo_crate_names(&self) -> StoreResult<Vec<String>> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare("SELECT name FROM cargo_crates ORDER BY name_norm")
            .map_err(backend)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn cargo_check_publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        name: &str,
        vers: &Version,
    ) -> StoreResult<()> {
        check_publish(&*self.lock()?, publisher, rights, name, vers).map(|_| ())
    }

    fn cargo_publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        new: &NewCrateVersion,
    ) -> StoreResult<()> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let now = now();
        let crate_id = match check_publish(&tx, publisher, rights, &new.name, &new.vers)? {
            None => {
                tx.execute(
                    "INSERT INTO cargo_crates (name, name_norm, description, max_version, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        new.name,
                        zoo_format::normalize_name(&new.name),
                        new.description,
                        new.vers.to_string(),
                        now
                    ],
                )
                .map_err(backend)?;
                let id = tx.last_insert_rowid();
                let name_norm = zoo_format::normalize_name(&new.name);
                CRATES.seed_owners(&tx, id, publisher, &name_norm)?;
                id
            }
            Some((id, max_version)) => {
                if Version::parse(&max_version).map_or(true, |max| new.vers > max) {
                    tx.execute(
                        "UPDATE cargo_crates SET description = ?2, max_version = ?3 WHERE id = ?1",
                        params![id, new.description, new.vers.to_string()],
                    )
                    .map_err(backend)?;
                }
                sync_owners(&tx, &zoo_format::normalize_name(&new.name))?;
                id
            }
        };
        tx.execute(
            "INSERT INTO cargo_versions (crate_id, version, version_key, published_at, published_by, \
             cksum, index_line, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                crate_id,
                new.vers.to_string(),
                version_key(&new.vers),
                now,
                publisher.id,
                new.cksum,
                new.index_line,
                new.metadata
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    fn cargo_search(&self, query: &str, limit: u64) -> StoreResult<(Vec<CrateHit>, u64)> {
        let conn = self.lock()?;
        let text = query.trim().to_lowercase();
        let name = zoo_format::normalize_name(&text);
        let name_like = format!("%{}%", like_escape(&name));
        let text_like = format!("%{}%", like_escape(&text));
        let filter = "c.name_norm LIKE ?1 ESCAPE '\\' OR lower(c.description) LIKE ?2 ESCAPE '\\'";
        let total: i64 = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM cargo_crates c WHERE {filter}"),
                params![name_like, text_like],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT c.name_norm FROM cargo_crates c WHERE {filter} \
                 ORDER BY (c.name_norm = ?3) DESC, c.name_norm LIMIT ?4"
            ))
            .map_err(backend)?;
        let names: Vec<String> = stmt
            .query_map(params![name_like, text_like, name, limit as i64], |r| {
                r.get(0)
            })
            .map_err(backend)?
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let mut hits = Vec::with_capacity(names.len());
        for name in names {
            if let Some(krate) = crate_of(&conn, &name)? {
                hits.push(CrateHit {
                    krate,
                    versions: versions_of(&conn, &name)?,
                });
            }
        }
        Ok((hits, total as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{MetadataStore, Namespace};

    #[test]
    fn migrations_run_once_and_reopen_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.sqlite3");
        let store = SqliteStore::open(&path).unwrap();
        let alice = store.add_user("alice").unwrap();
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .lock()
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            version, 5,
            "cargo tables (2), web sessions (3), session tokens (4), uploads (5)"
        );
        assert_eq!(store.find_user("alice").unwrap(), Some(alice));
        assert!(store.cargo_crate_names().unwrap().is_empty());
    }

    #[test]
    fn crate_and_package_names_are_separate() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let alice = store.add_user("alice").unwrap();
        let bob = store.add_user("bob").unwrap();
        let all = PublishRights {
            new_packages: true,
            updates: true,
        };
        let new = |vers: &str| NewCrateVersion {
            name: "Demo_Link".into(),
            vers: Version::parse(vers).unwrap(),
            cksum: "ab".into(),
            index_line: "{}".into(),
            description: "d".into(),
            metadata: "{}".into(),
        };
        store.cargo_publish(&alice, all, &new("0.1.0")).unwrap();
        let e = store
            .cargo_publish(&alice, all, &new("0.1.0+build"))
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        let e = store.cargo_publish(&bob, all, &new("0.2.0")).unwrap_err();
        assert!(matches!(e, StoreError::Forbidden(_)), "{e}");
        let e = store
            .set_yanked(
                Namespace::Cargo,
                &bob,
                "demo-link",
                &Version::new(0, 1, 0),
                true,
            )
            .unwrap_err();
        assert!(matches!(e, StoreError::Forbidden(_)), "{e}");
        store
            .set_yanked(
                Namespace::Cargo,
                &alice,
                "demo-link",
                &Version::new(0, 1, 0),
                true,
            )
            .unwrap();
        assert!(store.cargo_versions("demo-link").unwrap()[0].yanked);
        assert_eq!(store.cargo_crate_names().unwrap(), ["Demo_Link"]);
        assert!(store.package("demo-link").unwrap().is_none());
        let e = store
            .remove_owners(Namespace::Cargo, &alice, "demo-link", &["alice".into()])
            .unwrap_err();
        assert!(e.to_string().contains("no owner left"), "{e}");
        let (hits, total) = store.cargo_search("DEMO_link", 10).unwrap();
        assert_eq!((hits.len(), total), (1, 1));
    }
}
