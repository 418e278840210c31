//! Paths inside a package: relative, `/`-separated UTF-8, no `..`.
//!
//! One rule set shared by the manifest (files it names), the packer and the
//! safe extractor, so a path accepted in one place is accepted everywhere.

/// Checks that `path` is a safe package-relative path and returns why not.
/// Rejected: empty, absolute, `\`, `:` (drive letters, alternate streams),
/// control characters, and empty, `.` or `..` components.
pub fn validate_rel_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
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
            _ => {}
        }
    }
    Ok(())
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
}
