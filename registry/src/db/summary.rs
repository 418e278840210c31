//! What describes a package on its page, in search results and in the info
//! API: the version users get by default (the newest non-yanked one, or the
//! newest when all are yanked), not simply the newest published. The
//! `packages` row keeps the newest version's description and README; both
//! stores override them from the shown version's recorded manifest here,
//! so a yanked release stops describing the package as soon as it is
//! yanked (and registries that already hold one need no migration).

use semver::Version;
use zoo_format::manifest::Manifest;

use super::PackageRecord;

/// One version's recorded description sources.
pub(super) struct VersionText {
    pub version: String,
    pub yanked: bool,
    /// The exact `zoo.toml` recorded at publication.
    pub manifest: String,
    pub readme: Option<String>,
}

/// Overrides `package`'s description, keywords, kind and README with the
/// shown version's. A manifest that no longer parses (a rule tightened
/// since it was published) leaves the recorded summary in place.
pub(super) fn describe_by_shown_version(package: &mut PackageRecord, versions: Vec<VersionText>) {
    let parsed = |v: &VersionText| Version::parse(&v.version).ok();
    let newest = |live_only: bool| {
        versions
            .iter()
            .filter(|v| !live_only || !v.yanked)
            .filter_map(|v| parsed(v).map(|p| (p, v)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v)| v)
    };
    let Some(shown) = newest(true).or_else(|| newest(false)) else {
        return;
    };
    let Ok(manifest) = Manifest::from_toml_str(&shown.manifest) else {
        return;
    };
    package.description = manifest.package.description;
    package.keywords = manifest.package.keywords;
    package.kind = manifest.package.kind.as_str().to_string();
    package.readme = shown.readme.clone();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(version: &str, yanked: bool, description: &str) -> VersionText {
        VersionText {
            version: version.into(),
            yanked,
            manifest: format!(
                "[package]\nname = \"p\"\nversion = \"{version}\"\nkind = \"link\"\ndescription = \"{description}\"\n"
            ),
            readme: Some(format!("readme of {version}")),
        }
    }

    fn record() -> PackageRecord {
        PackageRecord {
            name: "p".into(),
            kind: "link".into(),
            description: "recorded".into(),
            keywords: Vec::new(),
            readme: None,
        }
    }

    #[test]
    fn the_newest_installable_version_describes_the_package() {
        let mut p = record();
        describe_by_shown_version(
            &mut p,
            vec![
                text("1.0.0", false, "old"),
                text("1.2.0", true, "yanked"),
                text("1.1.0", false, "current"),
            ],
        );
        assert_eq!(p.description, "current");
        assert_eq!(p.readme.as_deref(), Some("readme of 1.1.0"));
        let mut p = record();
        describe_by_shown_version(
            &mut p,
            vec![text("1.0.0", true, "a"), text("2.0.0", true, "b")],
        );
        assert_eq!(p.description, "b", "all yanked: the newest");
    }
}
