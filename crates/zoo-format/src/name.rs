//! Package names: crates.io rules, compared case-insensitively with `-` == `_`.

/// Longest accepted package name (crates.io's limit).
pub const MAX_NAME_LEN: usize = 64;

/// The canonical form used for lookups, index paths and uniqueness:
/// lowercase with `_` replaced by `-`.
pub fn normalize_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Checks a package name against crates.io's rules: an ASCII letter first, then
/// ASCII letters, digits, `-` or `_`, at most 64 characters.
/// The error says what is wrong (without the field name; callers add it).
pub fn validate_name(name: &str) -> Result<(), String> {
    let Some(first) = name.chars().next() else {
        return Err("the name is empty".into());
    };
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "`{name}` is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    if !first.is_ascii_alphabetic() {
        return Err(format!("`{name}` must start with an ASCII letter"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "`{name}` contains `{bad}`; only ASCII letters, digits, `-` and `_` are allowed"
        ));
    }
    Ok(())
}

/// Where cargo's registry index layout puts a crate's file: its name
/// lowercased under `1/`, `2/`, `3/{first letter}/` or `{ab}/{cd}/`.
pub fn cargo_index_path(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_index_paths_follow_cargos_layout() {
        assert_eq!(cargo_index_path("a"), "1/a");
        assert_eq!(cargo_index_path("ab"), "2/ab");
        assert_eq!(cargo_index_path("abc"), "3/a/abc");
        assert_eq!(cargo_index_path("Peephole-Link"), "pe/ep/peephole-link");
    }

    #[test]
    fn normalizes_case_and_underscores() {
        assert_eq!(normalize_name("Peephole_LSTM"), "peephole-lstm");
        assert_eq!(normalize_name("vgg16"), "vgg16");
    }

    #[test]
    fn accepts_and_rejects_like_crates_io() {
        for ok in [
            "a",
            "vgg16",
            "peephole-lstm",
            "Cell_Counter",
            &"a".repeat(64),
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "-a",
            "_a",
            "a b",
            "a.b",
            "ä",
            "a/b",
            &"a".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
