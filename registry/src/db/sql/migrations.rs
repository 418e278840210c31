//! The schema, once for both engines: the numbered files in
//! `registry/migrations/`, each applied once in order. Where the engines
//! spell a type differently the text says `{id}` (a row id the engine
//! assigns), `{int}` (a 64-bit integer) or `{flag}` (a yanked flag, false
//! unless set); [`Types`] fills them in. Each engine records what ran its
//! own way (SQLite `PRAGMA user_version`, PostgreSQL the table
//! `zoo_schema_migrations`), one number per step in both, as before the
//! files were merged, so existing databases continue where they stopped.

/// One schema step.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    text: &'static str,
}

/// A step: its number, name and file in `registry/migrations/`.
macro_rules! step {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            text: include_str!(concat!("../../../migrations/", $file)),
        }
    };
}

/// The steps, in order; a new one goes at the end with the next number.
pub const MIGRATIONS: &[Migration] = &[
    step!(1, "packages", "0001_packages.sql"),
    step!(2, "cargo", "0002_cargo.sql"),
    step!(3, "sessions", "0003_sessions.sql"),
    step!(4, "session tokens", "0004_session_tokens.sql"),
    step!(5, "uploads", "0005_uploads.sql"),
];

/// How an engine spells the schema's types.
pub struct Types {
    pub id: &'static str,
    pub int: &'static str,
    pub flag: &'static str,
}

/// SQLite: `INTEGER PRIMARY KEY` is the rowid (exactly that spelling).
pub const SQLITE: Types = Types {
    id: "INTEGER PRIMARY KEY",
    int: "INTEGER",
    flag: "INTEGER NOT NULL DEFAULT 0",
};

pub const POSTGRES: Types = Types {
    id: "BIGSERIAL PRIMARY KEY",
    int: "BIGINT",
    flag: "BOOLEAN NOT NULL DEFAULT FALSE",
};

impl Migration {
    /// The step's statements for an engine.
    pub fn sql(&self, types: &Types) -> String {
        self.text
            .replace("{id}", types.id)
            .replace("{int}", types.int)
            .replace("{flag}", types.flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file is in the list, in order, and no placeholder is left
    /// unfilled for either engine.
    #[test]
    fn every_file_is_listed_and_filled_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len());
        for (i, (file, step)) in files.iter().zip(MIGRATIONS).enumerate() {
            assert_eq!(step.version, i as i64 + 1);
            assert!(file.starts_with(&format!("{:04}_", step.version)), "{file}");
            for types in [&SQLITE, &POSTGRES] {
                assert!(!step.sql(types).contains('{'), "{file}");
            }
        }
    }
}
