//! What zoo packages and Cargo crates have in common: tables of the same
//! shape ([`Tables`] names them), the same publish rules and the same
//! refusals, written once for both namespaces.

use semver::Version;

use super::ownership::sync_owners;
use super::version_key;
use crate::auth::Scope;
use crate::db::sql::{Conn, Row, Value, params};
use crate::db::{Namespace, PublishRights, StoreError, StoreResult, User, now};

/// The tables of one namespace and how its messages name an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tables {
    /// The items' table (`packages`, `cargo_crates`).
    pub(super) items: &'static str,
    pub(super) owners: &'static str,
    pub(super) versions: &'static str,
    /// The versions' and owners' column naming the item.
    pub(super) id_column: &'static str,
    /// The items' column holding the highest version published.
    latest: &'static str,
    /// What messages call an item.
    kind: &'static str,
    /// Put before a name in messages: "" for packages, "crate " for crates.
    pub(super) noun: &'static str,
    /// Crates keep the spelling of their first publication (it locates
    /// their index file), and messages use it; packages are named by their
    /// canonical name.
    keeps_first_spelling: bool,
}

pub(super) const PACKAGES: Tables = Tables {
    items: "packages",
    owners: "owners",
    versions: "versions",
    id_column: "package_id",
    latest: "latest_version",
    kind: "package",
    noun: "",
    keeps_first_spelling: false,
};

pub(super) const CRATES: Tables = Tables {
    items: "cargo_crates",
    owners: "cargo_owners",
    versions: "cargo_versions",
    id_column: "crate_id",
    latest: "max_version",
    kind: "crate",
    noun: "crate ",
    keeps_first_spelling: true,
};

/// A version to record: the columns only one namespace has, beside the
/// ones [`Tables::publish`] fills in itself.
pub(super) struct Publication<'a> {
    /// The name as the publisher wrote it.
    pub(super) name: &'a str,
    pub(super) vers: &'a Version,
    /// The item's columns that the highest version decides (the latest
    /// version's column included).
    pub(super) item: Vec<(&'static str, Value)>,
    /// The version's own columns.
    pub(super) version: Vec<(&'static str, Value)>,
}

/// `INSERT INTO table (columns) VALUES ($1, …)`.
pub(super) fn insert_sql(table: &str, columns: &[&str]) -> String {
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        marks.join(", ")
    )
}

/// The refusals, the same words on every engine.
impl Tables {
    /// The tables of a namespace.
    pub(super) fn of(ns: Namespace) -> Tables {
        match ns {
            Namespace::Zoo => PACKAGES,
            Namespace::Cargo => CRATES,
        }
    }

    /// The namespace sharing this one's names.
    pub(super) fn other(self) -> Tables {
        if self == PACKAGES { CRATES } else { PACKAGES }
    }

    pub(super) fn not_owner(self, user: &User, name: &str) -> StoreError {
        StoreError::Forbidden(format!(
            "`{}` is not an owner of {}`{name}`",
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

    fn no_version(self, name_norm: &str, version: &Version) -> StoreError {
        StoreError::NotFound(format!(
            "{}`{name_norm}` has no version {version}",
            self.noun
        ))
    }

    /// The refusal of a new item whose name the other namespace holds.
    pub(super) fn name_taken(self, user: &User, name_norm: &str) -> StoreError {
        let (mine, theirs) = match self.keeps_first_spelling {
            false => ("zoo package", "crate"),
            true => ("crate", "zoo package"),
        };
        StoreError::Forbidden(format!(
            "`{name_norm}` is already a {theirs} that `{}` does not own; a name has one set of \
             owners for zoo packages and crates, so only its owners may publish a {mine} of that name",
            user.login
        ))
    }

    fn version_exists(self, name: &str, version: &str) -> StoreError {
        StoreError::Conflict(match self.keeps_first_spelling {
            false => format!("{name}@{version} already exists; versions are immutable"),
            true => format!(
                "crate version `{name}@{version}` is already uploaded; versions are immutable"
            ),
        })
    }
}

impl Tables {
    /// `(id, created_at)` of the item named `name_norm`.
    pub(super) fn item_row(
        self,
        c: &mut dyn Conn,
        name_norm: &str,
    ) -> StoreResult<Option<(i64, String)>> {
        let sql = format!(
            "SELECT id, created_at FROM {} WHERE name_norm = $1",
            self.items
        );
        c.query_opt(&sql, params![name_norm])?
            .map(|r| Ok((r.i64(0)?, r.text(1)?)))
            .transpose()
    }

    /// `columns` (of `v`, the versions) of every version of the item
    /// `name_norm`, in publication order.
    pub(super) fn version_rows(
        self,
        c: &mut dyn Conn,
        columns: &str,
        name_norm: &str,
    ) -> StoreResult<Vec<Row>> {
        let sql = format!(
            "SELECT {columns} FROM {} v JOIN {} i ON i.id = v.{} WHERE i.name_norm = $1 ORDER BY v.id",
            self.versions, self.items, self.id_column
        );
        c.query(&sql, params![name_norm])
    }

    /// The item's id; `NotFound` when there is none.
    pub(super) fn require_item(self, c: &mut dyn Conn, name_norm: &str) -> StoreResult<i64> {
        match self.item_row(c, name_norm)? {
            Some((id, _)) => Ok(id),
            None => Err(StoreError::NotFound(format!(
                "{} `{name_norm}` does not exist",
                self.kind
            ))),
        }
    }

    /// Sets one version's yanked flag; a missing version is NotFound.
    pub(super) fn set_yanked(
        self,
        c: &mut dyn Conn,
        id: i64,
        name_norm: &str,
        version: &Version,
        yanked: bool,
    ) -> StoreResult<()> {
        let sql = format!(
            "UPDATE {} SET yanked = $3 WHERE {} = $1 AND version_key = $2",
            self.versions, self.id_column
        );
        if c.execute(&sql, params![id, version_key(version), yanked])? == 0 {
            return Err(self.no_version(name_norm, version));
        }
        Ok(())
    }

    /// The publish checks, without writing: the rights the token needs,
    /// ownership of the name, the spelling and that the version is new.
    /// `Some((id, latest version))` for an existing item.
    pub(super) fn check_publish(
        self,
        c: &mut dyn Conn,
        publisher: &User,
        rights: PublishRights,
        name: &str,
        vers: &Version,
    ) -> StoreResult<Option<(i64, String)>> {
        let name_norm = zoo_format::normalize_name(name);
        let sql = format!(
            "SELECT id, name, {} FROM {} WHERE name_norm = $1",
            self.latest, self.items
        );
        let Some(row) = c.query_opt(&sql, params![&name_norm])? else {
            if !rights.new_packages {
                let shown = if self.keeps_first_spelling {
                    name
                } else {
                    &name_norm
                };
                return Err(StoreError::Forbidden(format!(
                    "`{shown}` is a new {}: publishing it needs a token with the `{}` scope",
                    self.kind,
                    Scope::PublishNew
                )));
            }
            self.claim(c, publisher, &name_norm)?;
            return Ok(None);
        };
        let (id, known_as, latest) = (row.i64(0)?, row.text(1)?, row.text(2)?);
        let shown = if self.keeps_first_spelling {
            &known_as
        } else {
            &name_norm
        };
        self.require_owner(c, id, publisher, shown)?;
        if !rights.updates {
            return Err(StoreError::Forbidden(format!(
                "publishing a new version of `{shown}` needs a token with the `{}` scope",
                Scope::PublishUpdate
            )));
        }
        if self.keeps_first_spelling && !known_as.eq_ignore_ascii_case(name) {
            return Err(StoreError::Invalid(format!(
                "this registry knows the crate as `{known_as}`; `{name}` counts as the same name \
                 (`-` equals `_`) but would need another index file: publish it as `{known_as}`"
            )));
        }
        let sql = format!(
            "SELECT version FROM {} WHERE {} = $1 AND version_key = $2",
            self.versions, self.id_column
        );
        if let Some(taken) = c.query_opt(&sql, params![id, version_key(vers)])? {
            return Err(self.version_exists(shown, &taken.text(0)?));
        }
        Ok(Some((id, latest)))
    }

    /// Records a version in the caller's write transaction, after the
    /// checks of [`Tables::check_publish`]: a new item is owned like its
    /// other half or by the publisher; the item's columns follow the
    /// highest version.
    pub(super) fn publish(
        self,
        c: &mut dyn Conn,
        publisher: &User,
        rights: PublishRights,
        new: Publication<'_>,
    ) -> StoreResult<()> {
        let name_norm = zoo_format::normalize_name(new.name);
        c.lock_name(&name_norm)?;
        let now = now();
        let (names, values): (Vec<&str>, Vec<Value>) = new.item.into_iter().unzip();
        let id = match self.check_publish(c, publisher, rights, new.name, new.vers)? {
            None => {
                let mut columns = vec!["name", "name_norm", "created_at"];
                columns.extend(&names);
                let mut params = vec![
                    new.name.into(),
                    name_norm.as_str().into(),
                    now.as_str().into(),
                ];
                params.extend(values);
                let sql = format!("{} RETURNING id", insert_sql(self.items, &columns));
                let id = match c.query_opt(&sql, &params)? {
                    Some(row) => row.i64(0)?,
                    None => return Err(StoreError::Backend("the insert returned no id".into())),
                };
                self.seed_owners(c, id, publisher, &name_norm)?;
                id
            }
            Some((id, latest)) => {
                if Version::parse(&latest).map_or(true, |latest| *new.vers > latest) {
                    let sets: Vec<String> = names
                        .iter()
                        .enumerate()
                        .map(|(i, name)| format!("{name} = ${}", i + 2))
                        .collect();
                    let sql = format!(
                        "UPDATE {} SET {} WHERE id = $1",
                        self.items,
                        sets.join(", ")
                    );
                    let mut params = vec![Value::I64(id)];
                    params.extend(values);
                    c.execute(&sql, &params)?;
                }
                sync_owners(c, &name_norm)?;
                id
            }
        };
        let (mut columns, mut params) = (
            vec![
                self.id_column,
                "version",
                "version_key",
                "published_at",
                "published_by",
            ],
            params![
                id,
                new.vers.to_string(),
                version_key(new.vers),
                now,
                publisher.id
            ]
            .to_vec(),
        );
        for (column, value) in new.version {
            columns.push(column);
            params.push(value);
        }
        if !c.insert_unique(&insert_sql(self.versions, &columns), &params)? {
            let shown = if self.keeps_first_spelling {
                new.name
            } else {
                &name_norm
            };
            return Err(self.version_exists(shown, &new.vers.to_string()));
        }
        Ok(())
    }
}

/// Which versions reference a blob (the visibility of blob downloads).
impl super::MetadataStore {
    /// Whether zoo versions and/or crate versions reference `sha256` (64
    /// lowercase hex digits). Zoo versions are only searched when a crate
    /// uses the blob, so a download of a zoo blob costs one small query.
    pub fn blob_users(&self, sha256: &str) -> StoreResult<crate::db::BlobUsers> {
        use super::Backend;
        self.engine.with_conn(|c| {
            let cargo = c
                .query_opt(
                    "SELECT 1 FROM cargo_versions WHERE cksum = $1 LIMIT 1",
                    params![sha256],
                )?
                .is_some();
            let zoo = cargo && zoo_references(c, sha256)?;
            Ok(crate::db::BlobUsers { zoo, cargo })
        })
    }
}

/// Whether a zoo version's archive or external file is `sha256`. The
/// `LIKE` only narrows the rows (the hash is hex, nothing to escape); each
/// candidate's index line is then read, so an in-archive file with the same
/// hash does not count.
fn zoo_references(c: &mut dyn Conn, sha256: &str) -> StoreResult<bool> {
    let rows = c.query(
        "SELECT index_line FROM versions WHERE archive_sha256 = $1 OR index_line LIKE $2",
        params![sha256, format!("%\"{sha256}\"%")],
    )?;
    for row in rows {
        let entry: zoo_format::index::IndexEntry =
            serde_json::from_str(&row.text(0)?).map_err(crate::db::sql::backend)?;
        if entry.archive.sha256 == sha256
            || entry.files.iter().any(|f| f.external && f.sha256 == sha256)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
