//! Logins are unique without regard to case: `Alice` and `alice` would be
//! two accounts that people, owner lists and web pages tell apart by case
//! alone (package names already compare case-insensitively). Schema
//! migration 6 makes the database enforce it (a unique index on
//! `lower(login)`); this module names the logins that stand in its way, in
//! a database being migrated or an export being imported, and words the
//! refusals. Logins are ASCII (`auth::validate_login`), where both engines'
//! `lower()` and [`str::to_ascii_lowercase`] agree.

use std::collections::BTreeMap;

use super::StoreError;

/// Groups of two or more logins equal but for case, each group and the
/// groups sorted.
pub fn case_twins<'a>(logins: impl IntoIterator<Item = &'a str>) -> Vec<Vec<String>> {
    let mut by_lower: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for login in logins {
        by_lower
            .entry(login.to_ascii_lowercase())
            .or_default()
            .push(login.to_string());
    }
    by_lower
        .into_values()
        .filter(|group| group.len() > 1)
        .map(|mut group| {
            group.sort();
            group
        })
        .collect()
}

/// `` `Alice` and `alice`; `BOB`, `Bob` and `bob` ``.
fn list(groups: &[Vec<String>]) -> String {
    let group = |logins: &Vec<String>| {
        let quoted: Vec<String> = logins.iter().map(|l| format!("`{l}`")).collect();
        match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => quoted.join(""),
        }
    };
    groups.iter().map(group).collect::<Vec<_>>().join("; ")
}

/// Why schema migration 6 cannot run on a database holding `groups`. No
/// `zoo-registry` command renames or removes a user, so the fix is SQL;
/// a user's tokens, packages and uploads follow its row id, not its login.
pub fn migration_refused(groups: &[Vec<String>]) -> StoreError {
    let example = groups
        .first()
        .and_then(|g| g.first())
        .map_or("Alice", String::as_str);
    StoreError::Conflict(format!(
        "schema migration 6 (logins unique without regard to case) cannot run: the database \
         holds logins that differ only in case: {}. Keep one login of each group and rename \
         the others in the database, for example `UPDATE users SET login = '{example}-2' WHERE \
         login = '{example}'` (their tokens, packages and uploads stay theirs), then start \
         again; nothing was changed",
        list(groups)
    ))
}

/// Why an export holding `groups` cannot be imported.
pub fn import_refused(groups: &[Vec<String>]) -> StoreError {
    StoreError::Invalid(format!(
        "the export's table `users` holds logins that differ only in case: {}; logins are \
         unique without regard to case: rename all but one of each group in the export \
         (its `users` rows; references are by id), then import again",
        list(groups)
    ))
}

/// Why `login` cannot be added beside the existing `taken`.
pub fn login_taken(login: &str, taken: &str) -> StoreError {
    StoreError::Conflict(if login == taken {
        format!("user `{login}` already exists")
    } else {
        format!(
            "login `{login}` is taken (case-insensitively) by `{taken}`; logins that differ \
             only in case are refused"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_are_grouped_by_case_alone() {
        let groups = case_twins(["bob", "alice", "Bob", "carol", "ALICE", "BOB", "al-ice"]);
        assert_eq!(
            groups,
            vec![vec!["ALICE", "alice"], vec!["BOB", "Bob", "bob"]]
        );
        assert_eq!(list(&groups), "`ALICE` and `alice`; `BOB`, `Bob` and `bob`");
        assert!(case_twins(["a", "b", "a-b"]).is_empty());
    }

    #[test]
    fn refusals_name_the_logins() {
        let groups = case_twins(["Alice", "alice"]);
        let e = migration_refused(&groups).to_string();
        assert!(e.contains("`Alice` and `alice`"), "{e}");
        assert!(e.contains("WHERE login = 'Alice'"), "{e}");
        assert!(e.contains("nothing was changed"), "{e}");
        let e = import_refused(&groups).to_string();
        assert!(e.contains("`Alice` and `alice`"), "{e}");
        assert_eq!(
            login_taken("ALICE", "alice").to_string(),
            "login `ALICE` is taken (case-insensitively) by `alice`; logins that differ only in \
             case are refused"
        );
        assert_eq!(
            login_taken("alice", "alice").to_string(),
            "user `alice` already exists"
        );
    }
}
