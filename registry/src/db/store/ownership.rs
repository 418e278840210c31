//! Ownership, written once for both namespaces the registry keeps
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

use super::find_user;
use super::items::{CRATES, PACKAGES, Tables};
use crate::db::sql::{Conn, params};
use crate::db::{OwnerChange, StoreResult, User};

impl Tables {
    /// Which of the two a name's owners are read from: the one created
    /// first (the package on a tie), given each one's `(id, created_at)`.
    fn deciding(
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

    /// Makes the other namespace's owner rows of item `to` equal this
    /// one's of item `from`.
    fn copy_owners(self, c: &mut dyn Conn, from: i64, to: i64) -> StoreResult<()> {
        let other = self.other();
        let (to_owners, to_col) = (other.owners, other.id_column);
        let (from_owners, from_col) = (self.owners, self.id_column);
        c.execute(
            &format!(
                "DELETE FROM {to_owners} WHERE {to_col} = $2 AND user_id NOT IN \
                 (SELECT user_id FROM {from_owners} WHERE {from_col} = $1)"
            ),
            params![from, to],
        )?;
        c.execute(
            &format!(
                "INSERT INTO {to_owners} ({to_col}, user_id) SELECT $2, user_id \
                 FROM {from_owners} WHERE {from_col} = $1 AND user_id NOT IN \
                 (SELECT user_id FROM {to_owners} WHERE {to_col} = $2)"
            ),
            params![from, to],
        )?;
        Ok(())
    }

    fn is_owner(self, c: &mut dyn Conn, id: i64, user: &User) -> StoreResult<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} = $1 AND user_id = $2",
            self.owners, self.id_column
        );
        Ok(c.query_opt(&sql, params![id, user.id])?.is_some())
    }

    /// Refuses (403) a user who does not own the item's name.
    pub(super) fn require_owner(
        self,
        c: &mut dyn Conn,
        id: i64,
        user: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        let (ns, id) = deciding_item(c, name_norm)?.unwrap_or((self, id));
        if ns.is_owner(c, id, user)? {
            Ok(())
        } else {
            Err(self.not_owner(user, name_norm))
        }
    }

    /// The owners, sorted by login.
    fn owners_of(self, c: &mut dyn Conn, id: i64) -> StoreResult<Vec<User>> {
        let sql = format!(
            "SELECT u.id, u.login FROM {} o JOIN users u ON u.id = o.user_id \
             WHERE o.{} = $1 ORDER BY u.login",
            self.owners, self.id_column
        );
        c.query(&sql, params![id])?
            .iter()
            .map(|r| {
                Ok(User {
                    id: r.i64(0)?,
                    login: r.text(1)?,
                })
            })
            .collect()
    }

    /// First owners of a new item: the other half's owners when the name
    /// already exists there (the publisher must be one), else the publisher.
    /// Called before the item is inserted (`claim`) and after (`seed`).
    pub(super) fn claim(
        self,
        c: &mut dyn Conn,
        publisher: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        let other = self.other();
        if let Some((id, _)) = other.item_row(c, name_norm)?
            && !other.is_owner(c, id, publisher)?
        {
            return Err(self.name_taken(publisher, name_norm));
        }
        Ok(())
    }

    /// See [`Tables::claim`]: records the new item's owners.
    pub(super) fn seed_owners(
        self,
        c: &mut dyn Conn,
        id: i64,
        publisher: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        if let Some((existing, _)) = self.other().item_row(c, name_norm)? {
            // Copied from the existing half explicitly: both may carry the
            // same `created_at` second, which `deciding` would give to the package.
            return self.other().copy_owners(c, existing, id);
        }
        let sql = format!(
            "INSERT INTO {} ({}, user_id) VALUES ($1, $2)",
            self.owners, self.id_column
        );
        c.execute(&sql, params![id, publisher.id])?;
        Ok(())
    }

    /// Adds owners of the name by login (already-owners are kept; unknown
    /// logins are refused) or removes them (refusing non-owners and
    /// leaving nobody).
    pub(super) fn change_owners(
        self,
        c: &mut dyn Conn,
        id: i64,
        name_norm: &str,
        change: OwnerChange,
        logins: &[String],
    ) -> StoreResult<()> {
        let (ns, id) = deciding_item(c, name_norm)?.unwrap_or((self, id));
        let sql = match change {
            OwnerChange::Add => {
                "INSERT INTO {owners} ({id}, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            }
            OwnerChange::Remove => "DELETE FROM {owners} WHERE {id} = $1 AND user_id = $2",
        }
        .replace("{owners}", ns.owners)
        .replace("{id}", ns.id_column);
        for login in logins {
            let changed = match find_user(c, login)? {
                Some(user) => c.execute(&sql, params![id, user.id])?,
                None if change == OwnerChange::Add => return Err(Tables::no_such_user(login)),
                None => 0,
            };
            if changed == 0 && change == OwnerChange::Remove {
                return Err(self.not_an_owner(login, name_norm));
            }
        }
        if change == OwnerChange::Remove && ns.owners_of(c, id)?.is_empty() {
            return Err(self.no_owner_left(name_norm));
        }
        sync_owners(c, name_norm)
    }
}

/// The item whose owner rows are the name's owners.
fn deciding_item(c: &mut dyn Conn, name_norm: &str) -> StoreResult<Option<(Tables, i64)>> {
    Ok(Tables::deciding(
        PACKAGES.item_row(c, name_norm)?,
        CRATES.item_row(c, name_norm)?,
    ))
}

/// The name's owners (empty when neither namespace has it).
pub(super) fn name_owners(c: &mut dyn Conn, name_norm: &str) -> StoreResult<Vec<User>> {
    match deciding_item(c, name_norm)? {
        Some((ns, id)) => ns.owners_of(c, id),
        None => Ok(Vec::new()),
    }
}

/// Both halves of a name: `(package id, crate id, the deciding half)`.
fn both_halves(c: &mut dyn Conn, name_norm: &str) -> StoreResult<Option<(i64, i64, Tables)>> {
    let (Some(package), Some(krate)) = (
        PACKAGES.item_row(c, name_norm)?,
        CRATES.item_row(c, name_norm)?,
    ) else {
        return Ok(None);
    };
    let (package_id, crate_id) = (package.0, krate.0);
    let deciding = Tables::deciding(Some(package), Some(krate)).map_or(PACKAGES, |d| d.0);
    Ok(Some((package_id, crate_id, deciding)))
}

/// Makes both halves of a name carry the deciding half's owners.
pub(super) fn sync_owners(c: &mut dyn Conn, name_norm: &str) -> StoreResult<()> {
    match both_halves(c, name_norm)? {
        Some((p, k, PACKAGES)) => PACKAGES.copy_owners(c, p, k),
        Some((p, k, _)) => CRATES.copy_owners(c, k, p),
        None => Ok(()),
    }
}

/// Names held by a zoo package and a crate whose owner rows differ.
const DIVERGENT_OWNERS_SQL: &str = "SELECT p.name_norm FROM packages p \
     JOIN cargo_crates c ON c.name_norm = p.name_norm \
     WHERE EXISTS (SELECT user_id FROM owners WHERE package_id = p.id \
                   EXCEPT SELECT user_id FROM cargo_owners WHERE crate_id = c.id) \
        OR EXISTS (SELECT user_id FROM cargo_owners WHERE crate_id = c.id \
                   EXCEPT SELECT user_id FROM owners WHERE package_id = p.id) \
     ORDER BY p.name_norm";

/// Names whose package and crate owner rows differ, one sentence each
/// (for fsck).
pub(super) fn owner_divergence(c: &mut dyn Conn) -> StoreResult<Vec<String>> {
    let mut problems = Vec::new();
    for name in c.query_texts(DIVERGENT_OWNERS_SQL, &[])? {
        let Some((p, k, deciding)) = both_halves(c, &name)? else {
            continue;
        };
        let logins = |users: Vec<User>| {
            users
                .into_iter()
                .map(|u| u.login)
                .collect::<Vec<_>>()
                .join(", ")
        };
        problems.push(format!(
            "name `{name}`: the zoo package's owners ({}) differ from the crate's ({}); the {} \
             was published first, so its owners decide for both until the next publish or owner \
             change of the name copies them over",
            logins(PACKAGES.owners_of(c, p)?),
            logins(CRATES.owners_of(c, k)?),
            if deciding == PACKAGES {
                "zoo package"
            } else {
                "crate"
            }
        ));
    }
    Ok(problems)
}
