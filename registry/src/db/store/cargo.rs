//! What only crates have (their records and index lines,
//! their search); the publish rules are the packages' ([`super::items`]).

use semver::Version;

use super::items::{CRATES, Publication};
use super::{MetadataStore, search_filter};
use crate::db::cargo::{CrateHit, CrateRecord, CrateVersionRecord, NewCrateVersion};
use crate::db::sql::{Backend, Conn, Value, params};
use crate::db::{PublishRights, StoreResult, User, sql};

fn versions_of(c: &mut dyn Conn, name_norm: &str) -> StoreResult<Vec<CrateVersionRecord>> {
    CRATES
        .version_rows(c, "v.version, v.yanked, v.cksum, v.index_line", name_norm)?
        .iter()
        .map(|r| {
            Ok(CrateVersionRecord {
                vers: Version::parse(&r.text(0)?).map_err(sql::backend)?,
                yanked: r.bool(1)?,
                cksum: r.text(2)?,
                index_line: r.text(3)?,
            })
        })
        .collect()
}

fn crate_of(c: &mut dyn Conn, name_norm: &str) -> StoreResult<Option<CrateRecord>> {
    c.query_opt(
        "SELECT name, description FROM cargo_crates WHERE name_norm = $1",
        params![name_norm],
    )?
    .map(|r| {
        Ok(CrateRecord {
            name: r.text(0)?,
            description: r.text(1)?,
        })
    })
    .transpose()
}

/// Crate metadata operations; names are canonical (`zoo_format::normalize_name`).
impl MetadataStore {
    /// The crate with this canonical name.
    pub fn cargo_crate(&self, name_norm: &str) -> StoreResult<Option<CrateRecord>> {
        self.engine.with_conn(|c| crate_of(c, name_norm))
    }

    /// Versions in publication order.
    pub fn cargo_versions(&self, name_norm: &str) -> StoreResult<Vec<CrateVersionRecord>> {
        self.engine.with_conn(|c| versions_of(c, name_norm))
    }

    /// Every crate's name as first published (to rebuild index files).
    pub fn cargo_crate_names(&self) -> StoreResult<Vec<String>> {
        self.engine
            .with_conn(|c| c.query_texts("SELECT name FROM cargo_crates ORDER BY name_norm", &[]))
    }

    /// Checks what [`MetadataStore::cargo_publish`] checks, without writing,
    /// so a doomed upload is refused before its blob is stored.
    pub fn cargo_check_publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        name: &str,
        vers: &Version,
    ) -> StoreResult<()> {
        self.engine
            .with_conn(|c| CRATES.check_publish(c, publisher, rights, name, vers))
            .map(drop)
    }

    /// Records a version atomically: a new name becomes owned by the
    /// publisher; an existing one must be theirs; versions are immutable.
    pub fn cargo_publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        new: &NewCrateVersion,
    ) -> StoreResult<()> {
        let publication = Publication {
            name: &new.name,
            vers: &new.vers,
            item: vec![
                ("description", (&new.description).into()),
                ("max_version", new.vers.to_string().into()),
            ],
            version: vec![
                ("cksum", (&new.cksum).into()),
                ("index_line", (&new.index_line).into()),
                ("metadata", (&new.metadata).into()),
            ],
        };
        self.engine
            .with_tx(|c| CRATES.publish(c, publisher, rights, publication))
    }

    /// Crates whose name or description contains every word of `query`
    /// (case-insensitive; `-` and `_` equal in names), exact name first,
    /// with the total count.
    pub fn cargo_search(&self, query: &str, limit: u64) -> StoreResult<(Vec<CrateHit>, u64)> {
        let (filter, mut params) = search_filter(query, "c", false);
        let n = params.len();
        let total_sql = format!("SELECT COUNT(*) FROM cargo_crates c WHERE {filter}");
        let names_sql = format!(
            "SELECT c.name_norm FROM cargo_crates c WHERE {filter} \
             ORDER BY (c.name_norm = ${}) DESC, c.name_norm LIMIT ${}",
            n + 1,
            n + 2
        );
        params.push(Value::from(zoo_format::normalize_name(query.trim())));
        params.push(Value::from(limit as i64));
        self.engine.with_conn(|c| {
            let total = c.query_i64(&total_sql, &params[..n])?;
            let names = c.query_texts(&names_sql, &params)?;
            let mut hits = Vec::with_capacity(names.len());
            for name in names {
                if let Some(krate) = crate_of(c, &name)? {
                    let versions = versions_of(c, &name)?;
                    hits.push(CrateHit { krate, versions });
                }
            }
            Ok((hits, total as u64))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{MetadataStore, Namespace, OwnerChange, StoreError};

    #[test]
    fn crate_and_package_names_are_separate() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open_sqlite(&dir.path().join("db")).unwrap();
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
            .change_owners(
                Namespace::Cargo,
                &alice,
                "demo-link",
                OwnerChange::Remove,
                &["alice".into()],
            )
            .unwrap_err();
        assert!(e.to_string().contains("no owner left"), "{e}");
        let (hits, total) = store.cargo_search("DEMO_link", 10).unwrap();
        assert_eq!((hits.len(), total), (1, 1));
    }
}
