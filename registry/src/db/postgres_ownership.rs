//! Ownership and yanking on PostgreSQL: the statements of
//! [`super::ownership`] for both namespaces, with the same messages.

use semver::Version;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnection;

use super::ownership::{CRATES, DIVERGENT_OWNERS_SQL, PACKAGES, Tables, divergence_problem};
use super::postgres::{backend, find_user, lock_item, user_from};
use super::sqlite::version_key;
use super::{StoreError, StoreResult, User};

impl Tables {
    /// The items' table and what messages and locks call one.
    fn pg_items(self) -> (&'static str, &'static str) {
        if self.id_column == "crate_id" {
            ("cargo_crates", "crate")
        } else {
            ("packages", "package")
        }
    }

    /// Starts a change of an item: locks its name for the transaction
    /// (against every replica), then returns its id if it exists and `user`
    /// owns the name.
    pub(super) async fn pg_owned_item(
        self,
        tx: &mut PgConnection,
        user: &User,
        name_norm: &str,
    ) -> StoreResult<i64> {
        lock_item(tx, self.pg_items().1, name_norm).await?;
        let id = self.pg_item_id(tx, name_norm).await?;
        self.pg_require_owner(tx, id, user, name_norm).await?;
        Ok(id)
    }

    /// The item's id; `NotFound` when there is none.
    pub(super) async fn pg_item_id(
        self,
        c: &mut PgConnection,
        name_norm: &str,
    ) -> StoreResult<i64> {
        let (table, noun) = self.pg_items();
        let id: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM {table} WHERE name_norm = $1"
        )))
        .bind(name_norm)
        .fetch_optional(c)
        .await
        .map_err(backend)?;
        id.ok_or_else(|| StoreError::NotFound(format!("{noun} `{name_norm}` does not exist")))
    }

    /// Whether `user` is in this namespace's owner rows of item `id`.
    async fn pg_is_owner(self, c: &mut PgConnection, id: i64, user: &User) -> StoreResult<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} = $1 AND user_id = $2",
            self.owners, self.id_column
        );
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .bind(user.id)
            .fetch_optional(c)
            .await
            .map_err(backend)?;
        Ok(found.is_some())
    }

    /// Refuses (403) a user who does not own the item's name.
    pub(super) async fn pg_require_owner(
        self,
        c: &mut PgConnection,
        id: i64,
        user: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        let (ns, id) = pg_deciding_item(c, name_norm).await?.unwrap_or((self, id));
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} = $1 AND user_id = $2",
            ns.owners, ns.id_column
        );
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .bind(user.id)
            .fetch_optional(c)
            .await
            .map_err(backend)?;
        if found.is_some() {
            Ok(())
        } else {
            Err(self.not_owner(user, name_norm))
        }
    }

    /// The owners, sorted by login.
    pub(super) async fn pg_owners_of(
        self,
        c: &mut PgConnection,
        id: i64,
    ) -> StoreResult<Vec<User>> {
        let sql = format!(
            "SELECT u.id, u.login FROM {} o JOIN users u ON u.id = o.user_id \
             WHERE o.{} = $1 ORDER BY u.login",
            self.owners, self.id_column
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(c)
            .await
            .map_err(backend)?;
        rows.iter().map(|r| user_from(r, 0)).collect()
    }

    /// Refuses a new item whose name the other namespace holds for others
    /// (see `ownership`: one name, one set of owners). Before inserting.
    pub(super) async fn pg_claim(
        self,
        c: &mut PgConnection,
        publisher: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        let other = self.other();
        if let Some((id, _)) = pg_item_row(c, other, name_norm).await?
            && !other.pg_is_owner(c, id, publisher).await?
        {
            return Err(self.name_taken(publisher, name_norm));
        }
        Ok(())
    }

    /// Records a new item's owners: the other half's, or the publisher.
    pub(super) async fn pg_seed_owners(
        self,
        c: &mut PgConnection,
        id: i64,
        publisher: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
        if let Some((existing, _)) = pg_item_row(c, self.other(), name_norm).await? {
            // Copied from the existing half explicitly (see the SQLite twin).
            for sql in self.other().copy_owners_sql(("$1", "$2")) {
                sqlx::query(AssertSqlSafe(sql))
                    .bind(existing)
                    .bind(id)
                    .execute(&mut *c)
                    .await
                    .map_err(backend)?;
            }
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO {} ({}, user_id) VALUES ($1, $2)",
            self.owners, self.id_column
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .bind(publisher.id)
            .execute(c)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Adds owners of the name by login (already-owners are kept); unknown
    /// logins are refused.
    pub(super) async fn pg_add_owners(
        self,
        c: &mut PgConnection,
        id: i64,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        let (ns, id) = pg_deciding_item(c, name_norm).await?.unwrap_or((self, id));
        let sql = format!(
            "INSERT INTO {} ({}, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            ns.owners, ns.id_column
        );
        for login in logins {
            let Some(new_owner) = find_user(c, login).await? else {
                return Err(Tables::no_such_user(login));
            };
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(new_owner.id)
                .execute(&mut *c)
                .await
                .map_err(backend)?;
        }
        pg_sync_owners(c, name_norm).await
    }

    /// Removes owners of the name by login; refuses non-owners and leaving
    /// nobody.
    pub(super) async fn pg_remove_owners(
        self,
        c: &mut PgConnection,
        id: i64,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        let (ns, id) = pg_deciding_item(c, name_norm).await?.unwrap_or((self, id));
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1 AND user_id = $2",
            ns.owners, ns.id_column
        );
        for login in logins {
            let removed = match find_user(c, login).await? {
                Some(old) => sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .bind(old.id)
                    .execute(&mut *c)
                    .await
                    .map_err(backend)?
                    .rows_affected(),
                None => 0,
            };
            if removed == 0 {
                return Err(self.not_an_owner(login, name_norm));
            }
        }
        if ns.pg_owners_of(c, id).await?.is_empty() {
            return Err(self.no_owner_left(name_norm));
        }
        pg_sync_owners(c, name_norm).await
    }

    /// Sets one version's yanked flag; a missing version is NotFound.
    pub(super) async fn pg_set_yanked(
        self,
        c: &mut PgConnection,
        id: i64,
        name_norm: &str,
        version: &Version,
        yanked: bool,
    ) -> StoreResult<()> {
        let sql = format!(
            "UPDATE {} SET yanked = $3 WHERE {} = $1 AND version_key = $2",
            self.versions, self.id_column
        );
        let changed = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .bind(version_key(version))
            .bind(yanked)
            .execute(c)
            .await
            .map_err(backend)?
            .rows_affected();
        if changed == 0 {
            return Err(self.no_version(name_norm, version));
        }
        Ok(())
    }
}

/// `(id, created_at)` of `ns`'s item named `name_norm`.
async fn pg_item_row(
    c: &mut PgConnection,
    ns: Tables,
    name_norm: &str,
) -> StoreResult<Option<(i64, String)>> {
    let sql = format!(
        "SELECT id, created_at FROM {} WHERE name_norm = $1",
        ns.items
    );
    let row: Option<(i64, String)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(name_norm)
        .fetch_optional(c)
        .await
        .map_err(backend)?;
    Ok(row)
}

/// The item whose owner rows are the name's owners (the half created first).
pub(super) async fn pg_deciding_item(
    c: &mut PgConnection,
    name_norm: &str,
) -> StoreResult<Option<(Tables, i64)>> {
    let package = pg_item_row(c, PACKAGES, name_norm).await?;
    let krate = pg_item_row(c, CRATES, name_norm).await?;
    Ok(Tables::deciding(package, krate))
}

/// The name's owners (empty when neither namespace has it).
pub(super) async fn pg_name_owners(
    c: &mut PgConnection,
    name_norm: &str,
) -> StoreResult<Vec<User>> {
    match pg_deciding_item(c, name_norm).await? {
        Some((ns, id)) => ns.pg_owners_of(c, id).await,
        None => Ok(Vec::new()),
    }
}

/// Makes both halves of a name carry the deciding half's owners.
pub(super) async fn pg_sync_owners(c: &mut PgConnection, name_norm: &str) -> StoreResult<()> {
    let (Some(package), Some(krate)) = (
        pg_item_row(c, PACKAGES, name_norm).await?,
        pg_item_row(c, CRATES, name_norm).await?,
    ) else {
        return Ok(());
    };
    let (package_id, crate_id) = (package.0, krate.0);
    let Some((ns, from)) = Tables::deciding(Some(package), Some(krate)) else {
        return Ok(());
    };
    let to = if ns == PACKAGES { crate_id } else { package_id };
    for sql in ns.copy_owners_sql(("$1", "$2")) {
        sqlx::query(AssertSqlSafe(sql))
            .bind(from)
            .bind(to)
            .execute(&mut *c)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// Names whose package and crate owner rows differ, one sentence each.
pub(super) async fn pg_owner_divergence(c: &mut PgConnection) -> StoreResult<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(DIVERGENT_OWNERS_SQL)
        .fetch_all(&mut *c)
        .await
        .map_err(backend)?;
    let mut problems = Vec::new();
    for name in names {
        let (Some(package), Some(krate)) = (
            pg_item_row(c, PACKAGES, &name).await?,
            pg_item_row(c, CRATES, &name).await?,
        ) else {
            continue;
        };
        let (p_id, c_id) = (package.0, krate.0);
        let deciding = Tables::deciding(Some(package), Some(krate)).map_or(PACKAGES, |d| d.0);
        problems.push(divergence_problem(
            &name,
            &PACKAGES.pg_owners_of(c, p_id).await?,
            &CRATES.pg_owners_of(c, c_id).await?,
            deciding,
        ));
    }
    Ok(problems)
}
