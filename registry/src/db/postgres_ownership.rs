//! Ownership and yanking on PostgreSQL: the statements of
//! [`super::ownership`] for both namespaces, with the same messages.

use semver::Version;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnection;

use super::ownership::Namespace;
use super::postgres::{backend, find_user, lock_item, user_from};
use super::sqlite::version_key;
use super::{StoreError, StoreResult, User};

impl Namespace {
    /// The items' table and what messages and locks call one.
    fn pg_items(self) -> (&'static str, &'static str) {
        if self.id_column == "crate_id" {
            ("cargo_crates", "crate")
        } else {
            ("packages", "package")
        }
    }

    /// Starts a change of an item: locks it for the transaction (against
    /// every replica), then returns its id if it exists and `user` owns it.
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

    /// Refuses (403) a user who does not own the item.
    pub(super) async fn pg_require_owner(
        self,
        c: &mut PgConnection,
        id: i64,
        user: &User,
        name_norm: &str,
    ) -> StoreResult<()> {
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

    /// Adds owners by login (already-owners are kept); unknown logins are refused.
    pub(super) async fn pg_add_owners(
        self,
        c: &mut PgConnection,
        id: i64,
        logins: &[String],
    ) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO {} ({}, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            self.owners, self.id_column
        );
        for login in logins {
            let Some(new_owner) = find_user(c, login).await? else {
                return Err(Namespace::no_such_user(login));
            };
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(new_owner.id)
                .execute(&mut *c)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Removes owners by login; refuses non-owners and leaving nobody.
    pub(super) async fn pg_remove_owners(
        self,
        c: &mut PgConnection,
        id: i64,
        name_norm: &str,
        logins: &[String],
    ) -> StoreResult<()> {
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1 AND user_id = $2",
            self.owners, self.id_column
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
        if self.pg_owners_of(c, id).await?.is_empty() {
            return Err(self.no_owner_left(name_norm));
        }
        Ok(())
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
