//! The schema, once for both engines: the numbered files in
//! `registry/migrations/`, each applied once in order. Where the engines
//! spell a type differently the text says `{id}` (a row id the engine
//! assigns), `{int}` (a 64-bit integer) or `{flag}` (a yanked flag, false
//! unless set); [`Types`] fills them in. `{item_tables}` stands for the
//! owner and version tables a namespace's step creates ([`ITEM_TABLES`]).
//! Each engine records what ran its own way (SQLite `PRAGMA user_version`,
//! PostgreSQL the table `zoo_schema_migrations`), one number per step in
//! both, as before the files were merged, so existing databases continue
//! where they stopped.

use super::Conn;
use crate::db::{StoreResult, logins};

/// One schema step.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    text: &'static str,
    /// What `{item_tables}` names, in the steps that create a namespace.
    items: Option<ItemTables>,
    /// What must hold before the statements run, with a refusal that says
    /// what to do (a unique index on data that has duplicates would only
    /// fail with the engine's terse message).
    check: Option<fn(&mut dyn Conn) -> StoreResult<()>>,
}

/// A step: its number, name and file in `registry/migrations/`, and the
/// item tables of the namespace it creates, if it creates one.
macro_rules! step {
    ($version:literal, $name:literal, $file:literal) => {
        step!($version, $name, $file, None)
    };
    ($version:literal, $name:literal, $file:literal, check = $check:expr) => {
        Migration {
            check: Some($check),
            ..step!($version, $name, $file, None)
        }
    };
    ($version:literal, $name:literal, $file:literal, $items:expr) => {
        Migration {
            version: $version,
            name: $name,
            text: include_str!(concat!("../../../migrations/", $file)),
            items: $items,
            check: None,
        }
    };
}

/// The steps, in order; a new one goes at the end with the next number.
pub const MIGRATIONS: &[Migration] = &[
    step!(1, "packages", "0001_packages.sql", Some(PACKAGE_TABLES)),
    step!(2, "cargo", "0002_cargo.sql", Some(CRATE_TABLES)),
    step!(3, "sessions", "0003_sessions.sql"),
    step!(4, "session tokens", "0004_session_tokens.sql"),
    step!(5, "uploads", "0005_uploads.sql"),
    step!(
        6,
        "logins unique without regard to case",
        "0006_login_case.sql",
        check = no_case_twins
    ),
];

/// Step 6's check: no two logins differ only in case (the index it creates
/// could not hold them). Engines run it in the step's transaction, so a
/// refused database is left as it was.
fn no_case_twins(c: &mut dyn Conn) -> StoreResult<()> {
    let twins = c.query_texts(
        "SELECT login FROM users WHERE lower(login) IN \
         (SELECT lower(login) FROM users GROUP BY lower(login) HAVING COUNT(*) > 1)",
        &[],
    )?;
    let groups = logins::case_twins(twins.iter().map(String::as_str));
    match groups.is_empty() {
        true => Ok(()),
        false => Err(logins::migration_refused(&groups)),
    }
}

/// `{item_tables}`: who owns an item and its published versions, the
/// tables zoo packages (step 1) and Cargo crates (step 2) both have. They
/// stay two sets of tables filled in from this one text rather than being
/// merged into one table keyed by namespace: the text expands to exactly
/// the statements those steps always ran (`released_steps_never_change`
/// pins them), so every existing database keeps its schema and no
/// published version has to be copied between tables.
const ITEM_TABLES: &str = "CREATE TABLE IF NOT EXISTS {owners} (
    {item_id} {int} NOT NULL REFERENCES {items}(id),
    user_id {int} NOT NULL REFERENCES users(id),
    PRIMARY KEY ({item_id}, user_id)
);
CREATE TABLE IF NOT EXISTS {versions} (
    id {id},
    {item_id} {int} NOT NULL REFERENCES {items}(id),
    version TEXT NOT NULL,
    version_key TEXT NOT NULL,
    yanked {flag},
    published_at TEXT NOT NULL,
    published_by {int} NOT NULL REFERENCES users(id),
{own_columns}
    UNIQUE ({item_id}, version_key)
);";

/// One namespace's names in [`ITEM_TABLES`], as its step created them
/// (the store's own `Tables` may change; a released step may not).
struct ItemTables {
    items: &'static str,
    owners: &'static str,
    versions: &'static str,
    /// The owners' and versions' column naming the item.
    item_id: &'static str,
    /// The version columns only this namespace has, in table order.
    own_columns: &'static [&'static str],
}

const PACKAGE_TABLES: ItemTables = ItemTables {
    items: "packages",
    owners: "owners",
    versions: "versions",
    item_id: "package_id",
    own_columns: &[
        "archive_sha256 TEXT NOT NULL",
        "index_line TEXT NOT NULL",
        "metrics TEXT NOT NULL",
        "manifest TEXT NOT NULL",
        "readme TEXT",
    ],
};

const CRATE_TABLES: ItemTables = ItemTables {
    items: "cargo_crates",
    owners: "cargo_owners",
    versions: "cargo_versions",
    item_id: "crate_id",
    own_columns: &[
        "cksum TEXT NOT NULL",
        "index_line TEXT NOT NULL",
        "metadata TEXT NOT NULL",
    ],
};

impl ItemTables {
    /// [`ITEM_TABLES`] with this namespace's names (types still to fill).
    fn sql(&self) -> String {
        let own_columns: Vec<String> = self
            .own_columns
            .iter()
            .map(|column| format!("    {column},"))
            .collect();
        ITEM_TABLES
            .replace("{own_columns}", &own_columns.join("\n"))
            .replace("{owners}", self.owners)
            .replace("{versions}", self.versions)
            .replace("{items}", self.items)
            .replace("{item_id}", self.item_id)
    }
}

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
    /// Runs the step's check, if it has one, before its statements (in
    /// their transaction).
    pub fn check(&self, c: &mut dyn Conn) -> StoreResult<()> {
        self.check.map_or(Ok(()), |check| check(c))
    }

    /// The step's statements for an engine.
    pub fn sql(&self, types: &Types) -> String {
        let text = match &self.items {
            Some(items) => self.text.replace("{item_tables}", &items.sql()),
            None => self.text.to_owned(),
        };
        text.replace("{id}", types.id)
            .replace("{int}", types.int)
            .replace("{flag}", types.flag)
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

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

    /// A released step's statements (comments aside) stay what databases
    /// already ran: a change to the schema is a new step.
    #[test]
    fn released_steps_never_change() {
        // Per step, the start of the sha256 of its statements on SQLite,
        // then on PostgreSQL.
        let released = [
            ["dcbdc71cc6211e13", "a860d234e2adac7c"],
            ["3d1007dd1523ee36", "5abc05809c86078e"],
            ["7b815176cd879054", "87bc3476a7d83d8a"],
            ["2384b4d356bddc45", "f9db562f423f038c"],
            ["336566cdd600af53", "cdc6c7f833dd908d"],
            ["7ffee22d0132545f", "7ffee22d0132545f"],
        ];
        for (step, digests) in MIGRATIONS.iter().zip(released) {
            for (types, expected) in [&SQLITE, &POSTGRES].into_iter().zip(digests) {
                let sql = step.sql(types);
                let statements: Vec<&str> = sql
                    .split('\n')
                    .filter(|line| !line.trim_start().starts_with("--"))
                    .collect();
                let digest = hex::encode(Sha256::digest(statements.join("\n")));
                assert_eq!(
                    &digest[..16],
                    expected,
                    "step {} ({})",
                    step.version,
                    step.name
                );
            }
        }
    }
}
