//! Paths inside a package: relative, `/`-separated UTF-8, no `..`.
//!
//! One rule set shared by the manifest (files it names), the packer and the
//! safe extractor, so a path accepted in one place is accepted everywhere.
//!
//! Lengths are bounded so that whatever publishes also installs: each
//! component fits every supported file system's name limit (255 bytes on
//! ext4, XFS, APFS, NTFS), and the whole path leaves room under macOS's
//! 1024-byte `PATH_MAX` for `ZOO_HOME/packages/<name>/<version>/`.

/// Longest accepted path component, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Longest accepted package-relative path, in bytes.
pub const MAX_PATH_BYTES: usize = 512;

/// Checks that `path` is a safe package-relative path and returns why not.
/// Rejected: empty, absolute, `\`, `:` (drive letters, alternate streams),
/// control characters, empty, `.` or `..` components, components longer
/// than [`MAX_COMPONENT_BYTES`] and paths longer than [`MAX_PATH_BYTES`].
pub fn validate_rel_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(format!(
            "the path `{}…` is {} bytes long; at most {MAX_PATH_BYTES} are allowed",
            prefix(path),
            path.len()
        ));
    }
    if path.starts_with('/') {
        return Err(format!("`{path}` is absolute"));
    }
    if let Some(bad) = path
        .chars()
        .find(|c| *c == '\\' || *c == ':' || c.is_control())
    {
        return Err(format!(
            "`{}` contains the character {bad:?}",
            path.escape_debug()
        ));
    }
    for component in path.split('/') {
        match component {
            "" => return Err(format!("`{path}` has an empty component")),
            "." | ".." => return Err(format!("`{path}` contains a `{component}` component")),
            long if long.len() > MAX_COMPONENT_BYTES => {
                return Err(format!(
                    "`{path}` has a component of {} bytes; at most {MAX_COMPONENT_BYTES} are allowed",
                    long.len()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The first characters of a long path, for messages.
fn prefix(path: &str) -> &str {
    let end = path
        .char_indices()
        .map(|(i, _)| i)
        .nth(60)
        .unwrap_or(path.len());
    &path[..end]
}

#[cfg(test)]
mod tests {
    use super::validate_rel_path;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in [
            "zoo.toml",
            "a/b/c.txt",
            ".zoo/files.json",
            "weights.safetensors",
        ] {
            assert!(validate_rel_path(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_escaping_and_odd_paths() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "C:/x",
            "a\\b",
            "a\u{1}b",
        ] {
            assert!(validate_rel_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bounds_component_and_path_length() {
        use super::{MAX_COMPONENT_BYTES, MAX_PATH_BYTES};
        let component = "c".repeat(MAX_COMPONENT_BYTES);
        assert!(validate_rel_path(&component).is_ok());
        let e = validate_rel_path(&format!("{component}c")).unwrap_err();
        assert!(e.contains("component of 256 bytes"), "{e}");
        let deep = vec!["d"; MAX_PATH_BYTES / 2].join("/");
        assert_eq!(deep.len(), MAX_PATH_BYTES - 1);
        assert!(validate_rel_path(&deep).is_ok());
        let e = validate_rel_path(&"a/".repeat(20_000)[..40_000 - 1]).unwrap_err();
        assert!(e.contains("39999 bytes long"), "{e}");
        assert!(e.len() < 200, "the message quotes only a prefix: {e}");
    }
}
