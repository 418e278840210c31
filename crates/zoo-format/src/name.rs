//! Package names: crates.io rules, compared case-insensitively with `-` == `_`.
//!
//! Names that differ only by where separators are (`vgg16`, `vgg-16`) are
//! different names, as on crates.io and for cargo: collapsing them would
//! change the canonical form, and so the index path, of every published
//! package (docs/package-format.md, "Names").

/// Longest accepted package name (crates.io's limit).
pub const MAX_NAME_LEN: usize = 64;

/// Windows device names, reserved as crates.io reserves them: a package
/// directory or file of that name cannot be created on Windows.
pub const RESERVED_NAMES: &[&str] = &[
    "con", "prn", "aux", "nul", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The canonical form used for lookups, index paths and uniqueness:
/// lowercase with `_` replaced by `-`.
pub fn normalize_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Checks a package name against crates.io's rules: an ASCII letter first, then
/// ASCII letters, digits, `-` or `_`, at most 64 characters, no separator
/// last, and not a Windows device name ([`RESERVED_NAMES`], any case).
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
    if name.ends_with(['-', '_']) {
        return Err(format!("`{name}` ends with a separator (`-` or `_`)"));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_NAMES.contains(&lower.as_str()) {
        return Err(format!(
            "`{name}` is reserved (a Windows device name, which cannot be a file name there)"
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
            "console",
            "com10",
            "vgg-16",
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

    #[test]
    fn refuses_windows_device_names_in_any_case() {
        for bad in [
            "con", "nul", "aux", "prn", "com1", "LPT1", "Nul", "com9", "lpt0",
        ] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.contains("reserved"), "{bad}: {e}");
        }
    }

    #[test]
    fn refuses_a_trailing_separator() {
        for bad in ["vgg16-", "vgg16_", "a-"] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.contains("ends with a separator"), "{bad}: {e}");
        }
    }

    #[test]
    fn names_differing_only_by_separator_position_are_distinct() {
        assert_ne!(normalize_name("vgg16"), normalize_name("vgg-16"));
        assert_eq!(normalize_name("vgg_16"), normalize_name("vgg-16"));
    }
}
