//! Ownership and yanking, written once for both namespaces the registry keeps
//! (zoo packages and Cargo crates): their tables have the same shape, so a
//! [`Namespace`] names the tables and the statements are shared.

use rusqlite::{Connection, OptionalExtension, params};
use semver::Version;

use super::sqlite::{backend, find_user, version_key};
use super::{StoreError, StoreResult, User};

/// The tables of one namespace and how its messages name an item.
#[derive(Debug, Clone, Copy)]
pub(super) struct Namespace {
    pub(super) owners: &'static str,
    pub(super) versions: &'static str,
    pub(super) id_column: &'static str,
    /// Put before a name in messages: "" for packages, "crate " for crates.
    pub(super) noun: &'static str,
}

pub(super) const PACKAGES: Namespace = Namespace {
    owners: "owners",
    versions: "versions",
    id_column: "package_id",
    noun: "",
};

pub(super) const CRATES: Namespace = Namespace {
    owners: "cargo_owners",
    versions: "cargo_versions",
    id_column: "crate_id",
    noun: "crate ",
};

/// The refusals, shared by the SQLite and PostgreSQL statements so both
/// backends answer with the same words.
impl Namespace {
    pub(super) fn not_owner(self, user: &User, name_norm: &str) -> StoreError {
        StoreError::Forbidden(format!(
            "`{}` is not an owner of {}`{name_norm}`",
            user.login, self.noun
        ))
    }

    pub(super) fn no_such_user(login: &str) -> StoreError {
        StoreError::Invalid(format!("there is no user named `{login}`"))
    }

    pub(super) fn not_an_owner(self, login: &str, name_norm: &str) -> StoreError {
        StoreError::Invalid(format!(
            "`{login}` is not an owner of {}`{name_norm}`",
            self.noun
        ))
    }

    pub(super) fn no_owner_left(self, name_norm: &str) -> StoreError {
        StoreError::Invalid(format!(
            "{}`{name_norm}` would have no owner left; add another owner first",
            self.noun
        ))
    }

    pub(super) fn no_version(self, name_norm: &str, version: &Version) -> StoreError {
        StoreError::NotFound(format!(
            "{}`{name_norm}` has no version {version}",
            self.noun
        ))
    }
}

impl Namespace {
    fn is_owner(self, conn: &Connection, id: i64, user: &User) -> StoreResult<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} = ?1 AND user_id = ?2",
            self.owners, self.id_column
        );
        conn.query_row(&sql, params![id, user.id], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(backend)
    }

    /// Refuses (403) a user who does not own the item.
    pub(super) fn require_owner(
        self,
        conn: &Connection,
        id: i64,
        user: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        if self.is_owner(conn, id, user)? {
            Ok(())
        } else {
            Err(self.not_owner(user, name_norm))
        }
    }

    /// The owners, sorted by login.
    pub(super) fn owners_of(self, conn: &Connection, id: i64) -> StoreResult<Vec<User>> {
        let sql = format!(
            "SELECT u.id, u.login FROM {} o JOIN users u ON u.id = o.user_id \
             WHERE o.{} = ?1 ORDER BY u.login",
            self.owners, self.id_column
        );
        let mut stmt = conn.prepare(&sql).map_err(backend)?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(User {
                    id: r.get(0)?,
                    login: r.get(1)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    /// Adds owners by login (already-owners are kept); unknown logins are refused.
    pub(super) fn add_owners(
        self,
        conn: &Connection,
        id: i64,
        logins: &[String],
    ) -> StoreResult<()> {
        let sql = format!(
            "INSERT OR IGNORE INTO {} ({}, user_id) VALUES (?1, ?2)",
            self.owners, self.id_column
        );
        for login in logins {
            let Some(new_owner) = find_user(conn, login)? else {
                return Err(Namespace::no_such_user(login));
            };
            conn.execute(&sql, params![id, new_owner.id])
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Removes owners by login; refuses non-owners and leaving nobody.
    pub(super) fn remove_owners(
        self,
        conn: &Connection,
        id: i64,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        let sql = format!(
            "DELETE FROM {} WHERE {} = ?1 AND user_id = ?2",
            self.owners, self.id_column
        );
        for login in logins {
            let removed = match find_user(conn, login)? {
                Some(old) => conn.execute(&sql, params![id, old.id]).map_err(backend)?,
                None => 0,
            };
            if removed == 0 {
                return Err(self.not_an_owner(login, name_norm));
            }
        }
        if self.owners_of(conn, id)?.is_empty() {
            return Err(self.no_owner_left(name_norm));
        }
        Ok(())
    }

    /// Sets one version's yanked flag; a missing version is NotFound.
    pub(super) fn set_yanked(
        self,
        conn: &Connection,
        id: i64,
        name_norm: &str,
        version: &Version,
        yanked: bool,
    ) -> StoreResult<()> {
        let sql = format!(
            "UPDATE {} SET yanked = ?3 WHERE {} = ?1 AND version_key = ?2",
            self.versions, self.id_column
        );
        let changed = conn
            .execute(&sql, params![id, version_key(version), yanked])
            .map_err(backend)?;
        if changed == 0 {
            return Err(self.no_version(name_norm, version));
        }
        Ok(())
    }
}
