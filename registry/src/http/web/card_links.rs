//! Where a model card's relative links and images point. A README written
//! next to its files links them as `labels.txt` or `docs/arch.png`; on the
//! registry the card is shown at `/packages/NAME[/VERSION]`, where such a
//! target would resolve to a page that does not exist, so [`FileBase`]
//! rewrites it to the shown version's file route
//! (`/packages/NAME/VERSION/files/PATH`, see [`super::files`]).
//!
//! What stays as written: absolute URLs (`https:`, `mailto:`; other schemes
//! were already made `#` by [`super::markdown`]), protocol-relative ones
//! (`//host/x`), registry paths (`/packages/other`: a card may link other
//! packages' pages), and in-page targets (`#section`, `?q`). A relative
//! target that climbs out of the package (`../../x`) names nothing the
//! registry has, and as written it would land on some unrelated registry
//! page: it becomes `#`.

use semver::Version;

use super::layout::url_encode;

/// The shown version's file route and the README's folder inside the
/// package, against which relative targets resolve.
#[derive(Debug, Clone)]
pub struct FileBase {
    /// `/packages/NAME/VERSION`: the version's page (a target naming the
    /// package's top folder itself, such as `./`, goes there).
    page: String,
    /// The README's folder, one URL-encoded component each (empty when the
    /// README is at the top, as it nearly always is).
    dir: Vec<String>,
}

impl FileBase {
    /// `readme`: the README's path inside the package (zoo.toml's
    /// `package.readme`), whose folder relative targets start from.
    pub fn new(name_norm: &str, version: &Version, readme: Option<&str>) -> FileBase {
        let mut dir: Vec<String> = readme
            .unwrap_or_default()
            .split('/')
            .map(url_encode)
            .collect();
        dir.pop(); // the README's own name
        FileBase {
            page: format!(
                "/packages/{}/{}",
                url_encode(name_norm),
                url_encode(&version.to_string())
            ),
            dir,
        }
    }

    /// The URL of the file route for a package-relative `path` (already
    /// URL-encoded).
    fn file_url(&self, encoded_path: &str) -> String {
        format!("{}/files/{encoded_path}", self.page)
    }

    /// The URL of the package file at `path` (as the listing names it).
    pub fn file(&self, path: &str) -> String {
        let encoded: Vec<String> = path.split('/').map(url_encode).collect();
        self.file_url(&encoded.join("/"))
    }

    /// The target to write instead of `url`, or `None` to keep it.
    pub fn resolve(&self, url: &str) -> Option<String> {
        let url = url.trim();
        if url.is_empty() || url.starts_with(['#', '?', '/']) || has_scheme(url) {
            return None;
        }
        let split = url.find(['?', '#']).unwrap_or(url.len());
        let (path, suffix) = url.split_at(split);
        let mut parts: Vec<&str> = self.dir.iter().map(String::as_str).collect();
        for part in path.split('/') {
            match dot_segment(part) {
                Some(Dot::Current) => {}
                Some(Dot::Parent) => {
                    if parts.pop().is_none() {
                        return Some("#".to_string());
                    }
                }
                None => parts.push(part),
            }
        }
        if parts.is_empty() {
            return Some(format!("{}{suffix}", self.page));
        }
        Some(format!("{}{suffix}", self.file_url(&parts.join("/"))))
    }
}

/// Whether `url` starts with a scheme (`x:` before any `/`, `?` or `#`).
fn has_scheme(url: &str) -> bool {
    url.split_once(':')
        .is_some_and(|(scheme, _)| !scheme.contains(['/', '?', '#']))
}

enum Dot {
    Current,
    Parent,
}

/// `.` and `..` as browsers read them (`%2e` is a dot too); an empty
/// component (`a//b`, a trailing `/`) counts as `.`: no package path has one.
fn dot_segment(part: &str) -> Option<Dot> {
    let lower = part.to_ascii_lowercase().replace("%2e", ".");
    match lower.as_str() {
        "" | "." => Some(Dot::Current),
        ".." => Some(Dot::Parent),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(readme: Option<&str>) -> FileBase {
        FileBase::new("tiny-net", &Version::new(1, 2, 0), readme)
    }

    const FILES: &str = "/packages/tiny-net/1.2.0/files/";

    #[test]
    fn relative_targets_point_at_the_shown_versions_files() {
        let b = base(Some("README.md"));
        let cases = [
            ("labels.txt", "labels.txt"),
            ("./labels.txt", "labels.txt"),
            ("docs/arch.png", "docs/arch.png"),
            ("docs/../labels.txt", "labels.txt"),
            ("docs/./a/../arch.png", "docs/arch.png"),
            ("docs//arch.png", "docs/arch.png"),
            ("a%20b.txt", "a%20b.txt"),
        ];
        for (written, path) in cases {
            assert_eq!(
                b.resolve(written),
                Some(format!("{FILES}{path}")),
                "{written}"
            );
        }
    }

    #[test]
    fn anchors_and_queries_stay_on_the_target() {
        let b = base(None);
        assert_eq!(
            b.resolve("docs/usage.md#install"),
            Some(format!("{FILES}docs/usage.md#install"))
        );
        assert_eq!(
            b.resolve("labels.txt?plain=1#L2"),
            Some(format!("{FILES}labels.txt?plain=1#L2"))
        );
        // The package's top folder is the version's page.
        assert_eq!(
            b.resolve("./#files"),
            Some("/packages/tiny-net/1.2.0#files".to_string())
        );
    }

    #[test]
    fn a_readme_in_a_folder_resolves_from_that_folder() {
        let b = base(Some("docs/cards/README.md"));
        assert_eq!(
            b.resolve("arch.png"),
            Some(format!("{FILES}docs/cards/arch.png"))
        );
        assert_eq!(
            b.resolve("../../labels.txt"),
            Some(format!("{FILES}labels.txt"))
        );
        assert_eq!(b.resolve("../../../x"), Some("#".to_string()));
    }

    #[test]
    fn targets_outside_the_package_or_absolute_stay_or_become_inert() {
        let b = base(Some("README.md"));
        for kept in [
            "https://example.com/x.png",
            "HTTP://example.com/",
            "mailto:me@example.com",
            "//cdn.example.com/x.png",
            "/packages/other",
            "#metrics",
            "?tab=files",
            "",
        ] {
            assert_eq!(b.resolve(kept), None, "{kept}");
        }
        for escaping in [
            "../x",
            "../../etc/passwd",
            "a/../../x",
            "%2e%2e/x",
            ".%2E/x",
        ] {
            assert_eq!(b.resolve(escaping), Some("#".to_string()), "{escaping}");
        }
    }

    #[test]
    fn names_and_versions_are_url_encoded() {
        let b = FileBase::new("net", &Version::parse("1.0.0+build.5").unwrap(), None);
        assert_eq!(
            b.resolve("x.txt"),
            Some("/packages/net/1.0.0%2Bbuild.5/files/x.txt".to_string())
        );
        let b = base(Some("my docs/README.md"));
        assert_eq!(b.resolve("a.png"), Some(format!("{FILES}my%20docs/a.png")));
    }
}
