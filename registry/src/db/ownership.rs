//! Ownership and yanking, written once for both namespaces the registry keeps
//! (zoo packages and Cargo crates): their tables have the same shape, so a
//! [`Tables`] names the tables and the statements are shared.
//!
//! One name, one set of owners: a zoo package and a crate of the same
//! canonical name (`zoo publish` of a Link crate creates both) are owned by
//! the same users. The first publisher in either namespace owns the name in
//! both: creating the other half needs an owner of the existing one, and
//! gets its owners. Owner changes made through either namespace apply to
//! both. Each namespace keeps its own owner rows; where registries from
//! before this rule hold different sets, the half created first decides
//! (its owners are the name's owners), `fsck` reports the difference, and
//! the next publish or owner change of the name copies the deciding set
//! over the other (SECURITY.md, "One name, one set of owners").

use rusqlite::{Connection, OptionalExtension, params};
use semver::Version;

use super::sqlite::{backend, find_user, version_key};
use super::{StoreError, StoreResult, User};

/// The tables of one namespace and how its messages name an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tables {
    /// The items' table (`packages`, `cargo_crates`).
    pub(super) items: &'static str,
    pub(super) owners: &'static str,
    pub(super) versions: &'static str,
    pub(super) id_column: &'static str,
    /// Put before a name in messages: "" for packages, "crate " for crates.
    pub(super) noun: &'static str,
}

pub(super) const PACKAGES: Tables = Tables {
    items: "packages",
    owners: "owners",
    versions: "versions",
    id_column: "package_id",
    noun: "",
};

pub(super) const CRATES: Tables = Tables {
    items: "cargo_crates",
    owners: "cargo_owners",
    versions: "cargo_versions",
    id_column: "crate_id",
    noun: "crate ",
};

/// The refusals, shared by the SQLite and PostgreSQL statements so both
/// backends answer with the same words.
impl Tables {
    /// The tables of a namespace.
    pub(super) fn of(ns: super::Namespace) -> Tables {
        match ns {
            super::Namespace::Zoo => PACKAGES,
            super::Namespace::Cargo => CRATES,
        }
    }

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

    /// The refusal of a new item whose name the other namespace holds.
    pub(super) fn name_taken(self, user: &User, name_norm: &str) -> StoreError {
        let (mine, theirs) = match self.noun {
            "" => ("zoo package", "crate"),
            _ => ("crate", "zoo package"),
        };
        StoreError::Forbidden(format!(
            "`{name_norm}` is already a {theirs} that `{}` does not own; a name has one set of \
             owners for zoo packages and crates, so only its owners may publish a {mine} of that name",
            user.login
        ))
    }

    /// The namespace sharing this one's names.
    pub(super) fn other(self) -> Tables {
        if self == PACKAGES { CRATES } else { PACKAGES }
    }

    /// Which of the two a name's owners are read from: the one created
    /// first (the package on a tie), given each one's `(id, created_at)`.
    pub(super) fn deciding(
        package: Option<(i64, String)>,
        krate: Option<(i64, String)>,
    ) -> Option<(Tables, i64)> {
        match (package, krate) {
            (Some((p, p_at)), Some((c, c_at))) => Some(if c_at < p_at {
                (CRATES, c)
            } else {
                (PACKAGES, p)
            }),
            (Some((p, _)), None) => Some((PACKAGES, p)),
            (None, Some((c, _))) => Some((CRATES, c)),
            (None, None) => None,
        }
    }

    /// The statements (for both backends; `placeholder` is how they write
    /// the deciding item's id and the other's) that make the other
    /// namespace's owner rows equal this one's. Both use both parameters.
    pub(super) fn copy_owners_sql(self, placeholder: (&str, &str)) -> [String; 2] {
        let to = self.other();
        let (from_id, to_id) = placeholder;
        [
            format!(
                "DELETE FROM {to_owners} WHERE {to_col} = {to_id} AND user_id NOT IN \
                 (SELECT user_id FROM {from_owners} WHERE {from_col} = {from_id})",
                to_owners = to.owners,
                to_col = to.id_column,
                from_owners = self.owners,
                from_col = self.id_column,
            ),
            format!(
                "INSERT INTO {to_owners} ({to_col}, user_id) SELECT {to_id}, user_id \
                 FROM {from_owners} WHERE {from_col} = {from_id} AND user_id NOT IN \
                 (SELECT user_id FROM {to_owners} WHERE {to_col} = {to_id})",
                to_owners = to.owners,
                to_col = to.id_column,
                from_owners = self.owners,
                from_col = self.id_column,
            ),
        ]
    }
}

/// The SQL (for both backends) listing names held by a zoo package and a
/// crate whose owner rows differ.
pub(super) const DIVERGENT_OWNERS_SQL: &str = "SELECT p.name_norm FROM packages p \
     JOIN cargo_crates c ON c.name_norm = p.name_norm \
     WHERE EXISTS (SELECT user_id FROM owners WHERE package_id = p.id \
                   EXCEPT SELECT user_id FROM cargo_owners WHERE crate_id = c.id) \
        OR EXISTS (SELECT user_id FROM cargo_owners WHERE crate_id = c.id \
                   EXCEPT SELECT user_id FROM owners WHERE package_id = p.id) \
     ORDER BY p.name_norm";

/// fsck's sentence for a name whose two owner lists differ.
pub(super) fn divergence_problem(
    name_norm: &str,
    package_owners: &[User],
    crate_owners: &[User],
    deciding: Tables,
) -> String {
    let logins = |users: &[User]| {
        users
            .iter()
            .map(|u| u.login.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "name `{name_norm}`: the zoo package's owners ({}) differ from the crate's ({}); the {} \
         was published first, so its owners decide for both until the next publish or owner \
         change of the name copies them over",
        logins(package_owners),
        logins(crate_owners),
        if deciding == PACKAGES {
            "zoo package"
        } else {
            "crate"
        }
    )
}

/// `(id, created_at)` of `ns`'s item named `name_norm`.
fn item_row(conn: &Connection, ns: Tables, name_norm: &str) -> StoreResult<Option<(i64, String)>> {
    let sql = format!(
        "SELECT id, created_at FROM {} WHERE name_norm = ?1",
        ns.items
    );
    conn.query_row(&sql, [name_norm], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(backend)
}

/// The item whose owner rows are the name's owners.
pub(super) fn deciding_item(
    conn: &Connection,
    name_norm: &str,
) -> StoreResult<Option<(Tables, i64)>> {
    Ok(Tables::deciding(
        item_row(conn, PACKAGES, name_norm)?,
        item_row(conn, CRATES, name_norm)?,
    ))
}

/// The name's owners (empty when neither namespace has it).
pub(super) fn name_owners(conn: &Connection, name_norm: &str) -> StoreResult<Vec<User>> {
    match deciding_item(conn, name_norm)? {
        Some((ns, id)) => ns.owners_of(conn, id),
        None => Ok(Vec::new()),
    }
}

/// Makes both halves of a name carry the deciding half's owners.
pub(super) fn sync_owners(conn: &Connection, name_norm: &str) -> StoreResult<()> {
    let (Some(package), Some(krate)) = (
        item_row(conn, PACKAGES, name_norm)?,
        item_row(conn, CRATES, name_norm)?,
    ) else {
        return Ok(());
    };
    let (package_id, crate_id) = (package.0, krate.0);
    let Some((ns, from)) = Tables::deciding(Some(package), Some(krate)) else {
        return Ok(());
    };
    let to = if ns == PACKAGES { crate_id } else { package_id };
    for sql in ns.copy_owners_sql(("?1", "?2")) {
        conn.execute(&sql, params![from, to]).map_err(backend)?;
    }
    Ok(())
}

/// Names whose package and crate owner rows differ, one sentence each.
pub(super) fn owner_divergence(conn: &Connection) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare(DIVERGENT_OWNERS_SQL).map_err(backend)?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    let mut problems = Vec::new();
    for name in names {
        let (Some(package), Some(krate)) = (
            item_row(conn, PACKAGES, &name)?,
            item_row(conn, CRATES, &name)?,
        ) else {
            continue;
        };
        let (p_id, c_id) = (package.0, krate.0);
        let deciding = Tables::deciding(Some(package), Some(krate)).map_or(PACKAGES, |d| d.0);
        problems.push(divergence_problem(
            &name,
            &PACKAGES.owners_of(conn, p_id)?,
            &CRATES.owners_of(conn, c_id)?,
            deciding,
        ));
    }
    Ok(problems)
}

impl Tables {
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

    /// Refuses (403) a user who does not own the item's name.
    pub(super) fn require_owner(
        self,
        conn: &Connection,
        id: i64,
        user: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        let (ns, id) = deciding_item(conn, name_norm)?.unwrap_or((self, id));
        if ns.is_owner(conn, id, user)? {
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

    /// First owners of a new item: the other half's owners when the name
    /// already exists there (the publisher must be one), else the publisher.
    /// Called before the item is inserted (`claim`) and after (`seed`).
    pub(super) fn claim(
        self,
        conn: &Connection,
        publisher: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        let other = self.other();
        if let Some((id, _)) = item_row(conn, other, name_norm)?
            && !other.is_owner(conn, id, publisher)?
        {
            return Err(self.name_taken(publisher, name_norm));
        }
        Ok(())
    }

    /// See [`Tables::claim`]: records the new item's owners.
    pub(super) fn seed_owners(
        self,
        conn: &Connection,
        id: i64,
        publisher: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        if let Some((existing, _)) = item_row(conn, self.other(), name_norm)? {
            // Copied from the existing half explicitly: both may carry the
            // same `created_at` second, which `deciding` would give to the package.
            for sql in self.other().copy_owners_sql(("?1", "?2")) {
                conn.execute(&sql, params![existing, id]).map_err(backend)?;
            }
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO {} ({}, user_id) VALUES (?1, ?2)",
            self.owners, self.id_column
        );
        conn.execute(&sql, params![id, publisher.id])
            .map_err(backend)?;
        Ok(())
    }

    /// Adds owners of the name by login (already-owners are kept); unknown
    /// logins are refused.
    pub(super) fn add_owners(
        self,
        conn: &Connection,
        id: i64,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        let (ns, id) = deciding_item(conn, name_norm)?.unwrap_or((self, id));
        let sql = format!(
            "INSERT OR IGNORE INTO {} ({}, user_id) VALUES (?1, ?2)",
            ns.owners, ns.id_column
        );
        for login in logins {
            let Some(new_owner) = find_user(conn, login)? else {
                return Err(Tables::no_such_user(login));
            };
            conn.execute(&sql, params![id, new_owner.id])
                .map_err(backend)?;
        }
        sync_owners(conn, name_norm)
    }

    /// Removes owners of the name by login; refuses non-owners and leaving
    /// nobody.
    pub(super) fn remove_owners(
        self,
        conn: &Connection,
        id: i64,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        let (ns, id) = deciding_item(conn, name_norm)?.unwrap_or((self, id));
        let sql = format!(
            "DELETE FROM {} WHERE {} = ?1 AND user_id = ?2",
            ns.owners, ns.id_column
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
        if ns.owners_of(conn, id)?.is_empty() {
            return Err(self.no_owner_left(name_norm));
        }
        sync_owners(conn, name_norm)
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
