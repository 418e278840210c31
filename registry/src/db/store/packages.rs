//! What only zoo packages have: their records, their versions' index
//! lines and manifests, and how a publish fills their columns.

use zoo_format::index::IndexEntry;

use super::items::{PACKAGES, Publication};
use crate::db::sql::{Conn, params};
use crate::db::summary::{VersionText, describe_by_shown_version};
use crate::db::{NewVersion, PackageRecord, PublishRights, StoreResult, User, VersionRecord, sql};

pub(super) fn versions_of(c: &mut dyn Conn, name_norm: &str) -> StoreResult<Vec<VersionRecord>> {
    let columns = "v.index_line, v.yanked, v.published_at, v.metrics";
    PACKAGES
        .version_rows(c, columns, name_norm)?
        .iter()
        .map(|r| {
            let mut entry: IndexEntry = serde_json::from_str(&r.text(0)?).map_err(sql::backend)?;
            entry.yanked = r.bool(1)?;
            Ok(VersionRecord {
                entry,
                published_at: r.text(2)?,
                metrics: serde_json::from_str(&r.text(3)?).map_err(sql::backend)?,
            })
        })
        .collect()
}

pub(super) fn package_of(c: &mut dyn Conn, name_norm: &str) -> StoreResult<Option<PackageRecord>> {
    let Some(r) = c.query_opt(
        "SELECT name, kind, description, keywords, readme FROM packages WHERE name_norm = $1",
        params![name_norm],
    )?
    else {
        return Ok(None);
    };
    let mut package = PackageRecord {
        name: r.text(0)?,
        kind: r.text(1)?,
        description: r.text(2)?,
        keywords: serde_json::from_str(&r.text(3)?).map_err(sql::backend)?,
        readme: r.opt_text(4)?,
    };
    let texts = PACKAGES
        .version_rows(c, "v.version, v.yanked, v.manifest, v.readme", name_norm)?
        .iter()
        .map(|r| {
            Ok(VersionText {
                version: r.text(0)?,
                yanked: r.bool(1)?,
                manifest: r.text(2)?,
                readme: r.opt_text(3)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    describe_by_shown_version(&mut package, texts);
    Ok(Some(package))
}

/// Records a package version (in the caller's write transaction).
pub(super) fn publish(
    c: &mut dyn Conn,
    publisher: &User,
    rights: PublishRights,
    new: &NewVersion,
) -> StoreResult<()> {
    let entry = &new.entry;
    let keywords = serde_json::to_string(&new.keywords).map_err(sql::backend)?;
    let mut line = entry.clone();
    line.yanked = false;
    let publication = Publication {
        name: &entry.name,
        vers: &entry.vers,
        item: vec![
            ("kind", entry.kind.as_str().into()),
            ("description", (&new.description).into()),
            ("keywords", keywords.into()),
            ("readme", new.readme.as_deref().into()),
            ("latest_version", entry.vers.to_string().into()),
        ],
        version: vec![
            ("archive_sha256", (&entry.archive.sha256).into()),
            ("index_line", line.to_line().into()),
            ("metrics", new.metrics.to_string().into()),
            ("manifest", (&new.manifest_text).into()),
            ("readme", new.readme.as_deref().into()),
        ],
    };
    PACKAGES.publish(c, publisher, rights, publication)
}
