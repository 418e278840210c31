//! The PostgreSQL store behaves exactly like the SQLite one: the same
//! script of metadata operations (users, tokens, publishes with conflicts
//! and case/`-`/`_`-insensitive names, ownership, yanks, sessions, search,
//! crates) runs against both, and every answer and error message must be
//! identical. Then export → import carries a registry between the two.
//! Needs PostgreSQL (a throwaway cluster; `cargo xtask setup-services`).

use semver::Version;
use zoo_e2e::services::Postgres;
use zoo_format::index::IndexEntry;
use zoo_registry::auth::Scope;
use zoo_registry::db::cargo::NewCrateVersion;
use zoo_registry::db::{
    MetadataStore, Namespace, NewVersion, OwnerChange, PublishRights, StoreResult,
};

fn entry(name: &str, vers: &str, sha: char) -> NewVersion {
    let entry: IndexEntry = serde_json::from_value(serde_json::json!({
        "name": name,
        "vers": vers,
        "kind": "function",
        "deps": [],
        "archive": {"sha256": sha.to_string().repeat(64), "size": 10},
        "files": [],
    }))
    .unwrap();
    NewVersion {
        entry,
        description: format!("{name} {vers}"),
        keywords: vec!["test".into()],
        readme: Some(format!("# {name}")),
        metrics: serde_json::json!([]),
        manifest_text: String::new(),
    }
}

const ALL: PublishRights = PublishRights {
    new_packages: true,
    updates: true,
};

/// `Ok`/`Err` as text, with the error's kind and message.
fn show<T: std::fmt::Debug>(r: StoreResult<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("err {e:?}"),
    }
}

/// Runs the script, returning one line per step.
fn script(s: &MetadataStore) -> Vec<String> {
    let mut log = Vec::new();
    let alice = s.add_user("alice").unwrap();
    let bob = s.add_user("bob").unwrap();
    log.push(show(s.add_user("alice")));
    log.push(show(s.list_users()));
    s.add_token(&alice, "t1", "h1", &[Scope::PublishNew, Scope::Yank])
        .unwrap();
    s.add_token(&bob, "t2", "h2", &[Scope::Owners]).unwrap();
    log.push(show(s.revoke_token("t2")));
    log.push(show(s.revoke_token("nope")));
    let tokens = |login| {
        s.list_tokens(login)
            .unwrap()
            .into_iter()
            .map(|t| format!("{} {} {:?} {}", t.id, t.user.login, t.scopes, t.revoked))
            .collect::<Vec<_>>()
    };
    log.push(format!("{:?} {:?}", tokens(None), tokens(Some("bob"))));
    log.push(show(s.find_token("t1").map(|t| t.map(|t| t.secret_sha256))));

    let no_new = PublishRights {
        new_packages: false,
        updates: true,
    };
    let no_update = PublishRights {
        new_packages: true,
        updates: false,
    };
    for (user, rights, name, vers, sha) in [
        (&alice, ALL, "My_Model", "1.0.0", 'a'),
        (&alice, ALL, "my-model", "1.0.0+build", 'b'),
        (&bob, ALL, "MY-MODEL", "1.1.0", 'b'),
        (&alice, no_new, "other", "1.0.0", 'c'),
        (&alice, no_update, "my_model", "2.0.0", 'c'),
        (&alice, ALL, "my_model", "0.9.0", 'd'),
        (&alice, ALL, "my_model", "1.2.0", 'e'),
    ] {
        log.push(show(s.publish(user, rights, &entry(name, vers, sha))));
    }
    log.push(show(
        s.package("my_model")
            .map(|p| p.map(|p| (p.name, p.description))),
    ));
    let versions = s.versions("my_model").unwrap();
    log.push(format!(
        "{:?}",
        versions
            .iter()
            .map(|v| (v.entry.vers.to_string(), v.entry.yanked))
            .collect::<Vec<_>>()
    ));
    log.push(show(s.package_names()));
    let v = |text: &str| Version::parse(text).unwrap();
    for (user, name, vers) in [
        (&bob, "my_model", "1.0.0"),
        (&alice, "my_model", "1.0.0"),
        (&alice, "my_model", "7.0.0"),
        (&alice, "nothing", "1.0.0"),
    ] {
        log.push(show(s.set_yanked(
            Namespace::Zoo,
            user,
            name,
            &v(vers),
            true,
        )));
    }
    log.push(show(s.owners(Namespace::Zoo, "my_model")));
    // Owner changes: (who, adds or removes, logins).
    for (user, add, logins) in [
        (&bob, true, &["bob"][..]),
        (&alice, true, &["carol"]),
        (&alice, true, &["bob", "alice"]),
        (&alice, false, &["carol"]),
        (&bob, false, &["alice"]),
        (&bob, false, &["bob"]),
    ] {
        let logins: Vec<String> = logins.iter().map(|l| l.to_string()).collect();
        let change = if add {
            OwnerChange::Add
        } else {
            OwnerChange::Remove
        };
        log.push(show(s.change_owners(
            Namespace::Zoo,
            user,
            "my_model",
            change,
            &logins,
        )));
    }
    log.push(show(s.owners(Namespace::Zoo, "my_model")));
    log.push(show(s.version_readme("my_model", &v("1.2.0"))));
    log.push(show(s.version_readme("my_model", &v("3.0.0"))));
    let hits = |r: StoreResult<(Vec<zoo_registry::db::SearchHit>, u64)>| {
        show(r.map(|(hits, total)| {
            (
                hits.iter()
                    .map(|h| (h.package.name.clone(), h.versions.len()))
                    .collect::<Vec<_>>(),
                total,
            )
        }))
    };
    s.publish(&alice, ALL, &entry("model-zoo", "0.1.0", 'f'))
        .unwrap();
    log.push(hits(s.search("model", 0, 10)));
    log.push(hits(s.search("MY_MODEL", 0, 10)));
    log.push(hits(s.search("100%_", 0, 10)));
    log.push(hits(s.search("test", 1, 1)));
    // Every word must match, in any field and order.
    log.push(hits(s.search("zoo MODEL", 0, 10)));
    assert!(
        log.last()
            .unwrap()
            .starts_with("ok ([(\"model-zoo\", 1)], 1)"),
        "{:?}",
        log.last()
    );
    log.push(hits(s.search("model nothing-like-this", 0, 10)));
    assert!(log.last().unwrap().ends_with(", 0)"), "{:?}", log.last());
    // The keywords column is a JSON list: its punctuation is not searched.
    log.push(hits(s.search("\"]", 0, 10)));
    assert!(log.last().unwrap().ends_with(", 0)"), "{:?}", log.last());
    log.push(show(s.recent_packages(5).map(|h| {
        h.iter().map(|h| h.package.name.clone()).collect::<Vec<_>>()
    })));

    s.add_token(&bob, "t3", "h3", &[Scope::Yank]).unwrap();
    s.create_session("s1", &alice, "t1", "csrf1", 100).unwrap();
    s.create_session("s2", &bob, "t3", "csrf2", 10).unwrap();
    // Opened with a revoked token: void.
    s.create_session("s3", &bob, "t2", "csrf3", 100).unwrap();
    log.push(show(s.find_session("s1")));
    log.push(show(s.find_session("s3")));
    assert_eq!(log.last().unwrap(), "ok None", "a revoked token's session");
    s.delete_session("s1", 50).unwrap();
    log.push(show(s.find_session("s1")));
    log.push(show(s.find_session("s2")));
    s.revoke_token("t3").unwrap();
    log.push(show(s.find_session("s2")));
    assert_eq!(log.last().unwrap(), "ok None", "revoking ends the session");

    // Uploads not yet referenced: quota bytes, refresh, expiry, release.
    s.record_upload(&alice, &"a".repeat(64), 100, 10).unwrap();
    s.record_upload(&alice, &"b".repeat(64), 50, 20).unwrap();
    s.record_upload(&bob, &"b".repeat(64), 50, 30).unwrap();
    log.push(show(s.pending_upload_bytes(&alice)));
    log.push(show(s.stale_uploads(25)));
    log.push(show(s.stale_uploads(31)));
    s.touch_uploads(&["a".repeat(64)], 40).unwrap();
    log.push(show(s.stale_uploads(31)));
    log.push(show(s.expire_upload(&"a".repeat(64), 31)));
    log.push(show(s.expire_upload(&"b".repeat(64), 31)));
    assert_eq!(log[log.len() - 2..], ["ok false", "ok true"]);
    log.push(show(s.pending_upload_bytes(&bob)));
    s.release_uploads(&["a".repeat(64)]).unwrap();
    log.push(show(s.pending_upload_bytes(&alice)));
    assert_eq!(log.last().unwrap(), "ok 0");
    log.push(show(s.integrity_problems()));

    let krate = |name: &str, vers: &str| NewCrateVersion {
        name: name.into(),
        vers: v(vers),
        cksum: "9".repeat(64),
        index_line: format!("{{\"name\":\"{name}\",\"vers\":\"{vers}\"}}"),
        description: format!("crate {name}"),
        metadata: "{}".into(),
    };
    // (who, only the pre-upload check, name, version).
    for (user, check_only, name, vers) in [
        (&alice, false, "My_Crate", "0.1.0"),
        (&alice, true, "my-crate", "0.2.0"),
        (&alice, true, "My_Crate", "0.1.0"),
        (&bob, false, "My_Crate", "0.2.0"),
        (&alice, false, "My_Crate", "0.1.0"),
    ] {
        log.push(show(match check_only {
            true => s.cargo_check_publish(user, ALL, name, &v(vers)),
            false => s.cargo_publish(user, ALL, &krate(name, vers)),
        }));
    }
    for vers in ["0.1.0", "0.3.0"] {
        log.push(show(s.set_yanked(
            Namespace::Cargo,
            &alice,
            "my_crate",
            &v(vers),
            true,
        )));
    }
    log.push(show(s.cargo_versions("my_crate")));
    log.push(show(s.cargo_crate("my_crate")));
    log.push(show(s.cargo_crate_names()));
    log.push(show(s.change_owners(
        Namespace::Cargo,
        &alice,
        "my_crate",
        OwnerChange::Add,
        &["bob".into()],
    )));
    log.push(show(s.change_owners(
        Namespace::Cargo,
        &bob,
        "my_crate",
        OwnerChange::Remove,
        &["alice".into(), "bob".into()],
    )));
    log.push(show(s.owners(Namespace::Cargo, "my_crate")));
    log.push(show(
        s.cargo_search("MY_crate", 5).map(|(h, n)| (h.len(), n)),
    ));
    log
}

#[test]
fn postgres_answers_like_sqlite_and_export_import_moves_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = MetadataStore::open_sqlite(&dir.path().join("registry.sqlite3")).unwrap();
    let postgres = Postgres::start();
    let pg = MetadataStore::connect_postgres(&postgres.create_database()).unwrap();
    let expected = script(&sqlite);
    let actual = script(&pg);
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        assert_eq!(e, a, "step {i} differs");
    }
    assert_eq!(expected.len(), actual.len());

    // Connecting again (a second replica) finds the schema in place.
    let url = postgres.create_database();
    let fresh = MetadataStore::connect_postgres(&url).unwrap();
    drop(MetadataStore::connect_postgres(&url).unwrap());

    // SQLite → PostgreSQL → SQLite keeps every row.
    let rows = sqlite.export_rows().unwrap();
    fresh.import_rows(&rows).unwrap();
    let err = fresh.import_rows(&rows).unwrap_err().to_string();
    assert!(err.contains("import needs an empty database"), "{err}");
    let back = MetadataStore::open_sqlite(&dir.path().join("back.sqlite3")).unwrap();
    back.import_rows(&fresh.export_rows().unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(back.export_rows().unwrap()).unwrap(),
        serde_json::to_value(&rows).unwrap()
    );
    // Ids continue after the imported ones.
    let carol = fresh.add_user("carol").unwrap();
    let max = rows["users"]
        .iter()
        .filter_map(|u| u["id"].as_i64())
        .max()
        .unwrap();
    assert!(carol.id > max);
}

#[test]
fn concurrent_publishes_from_two_replicas_store_one_version() {
    let postgres = Postgres::start();
    let url = postgres.create_database();
    let replicas = [
        MetadataStore::connect_postgres(&url).unwrap(),
        MetadataStore::connect_postgres(&url).unwrap(),
    ];
    let alice = replicas[0].add_user("alice").unwrap();
    let outcomes: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let store = &replicas[usize::from(i % 2)];
                let alice = &alice;
                scope.spawn(move || {
                    // Different spellings of one name, different archives.
                    let name = ["Race_Model", "race-model", "RACE_model", "race_model"]
                        [usize::from(i % 4)];
                    let sha = char::from(b'a' + i);
                    show(store.publish(alice, ALL, &entry(name, "1.0.0", sha)))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = outcomes.iter().filter(|o| o.starts_with("ok")).count();
    assert_eq!(won, 1, "{outcomes:#?}");
    for lost in outcomes.iter().filter(|o| !o.starts_with("ok")) {
        assert!(
            lost.contains("Conflict") && lost.contains("race-model@1.0.0 already exists"),
            "{lost}"
        );
    }
    assert_eq!(replicas[1].versions("race-model").unwrap().len(), 1);
    assert_eq!(
        replicas[1].owners(Namespace::Zoo, "race-model").unwrap(),
        [alice]
    );
}

fn krate(name: &str, vers: &str) -> NewCrateVersion {
    NewCrateVersion {
        name: name.into(),
        vers: Version::parse(vers).unwrap(),
        cksum: "9".repeat(64),
        index_line: format!("{{\"name\":\"{name}\",\"vers\":\"{vers}\"}}"),
        description: format!("crate {name}"),
        metadata: "{}".into(),
    }
}

fn logins(users: StoreResult<Vec<zoo_registry::db::User>>) -> Vec<String> {
    users.unwrap().into_iter().map(|u| u.login).collect()
}

fn is_forbidden<T: std::fmt::Debug>(r: StoreResult<T>) -> bool {
    matches!(r, Err(zoo_registry::db::StoreError::Forbidden(_)))
}

/// Issue #17 item 11 on one store: a zoo package and a crate of one name
/// have one set of owners, whichever half came first.
fn one_name_one_set_of_owners(s: &MetadataStore) {
    let alice = s.add_user("alice").unwrap();
    let mallory = s.add_user("mallory").unwrap();
    let bob = s.add_user("bob").unwrap();
    let v = |t: &str| Version::parse(t).unwrap();

    // Package first: the crate half cannot be squatted.
    s.publish(&alice, ALL, &entry("shared", "1.0.0", 'a'))
        .unwrap();
    assert!(is_forbidden(s.cargo_check_publish(
        &mallory,
        ALL,
        "shared",
        &v("0.1.0")
    )));
    let e = s
        .cargo_publish(&mallory, ALL, &krate("shared", "0.1.0"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("already a zoo package"), "{e}");
    assert!(s.cargo_crate("shared").unwrap().is_none());
    s.cargo_publish(&alice, ALL, &krate("shared", "0.1.0"))
        .unwrap();
    assert_eq!(logins(s.owners(Namespace::Cargo, "shared")), ["alice"]);
    // Owners added or removed through either namespace apply to both.
    s.change_owners(
        Namespace::Cargo,
        &alice,
        "shared",
        OwnerChange::Add,
        &["bob".into()],
    )
    .unwrap();
    assert_eq!(logins(s.owners(Namespace::Zoo, "shared")), ["alice", "bob"]);
    s.change_owners(
        Namespace::Zoo,
        &bob,
        "shared",
        OwnerChange::Remove,
        &["alice".into()],
    )
    .unwrap();
    assert_eq!(logins(s.owners(Namespace::Cargo, "shared")), ["bob"]);
    assert!(is_forbidden(s.cargo_publish(
        &alice,
        ALL,
        &krate("shared", "0.2.0")
    )));
    assert!(is_forbidden(s.set_yanked(
        Namespace::Zoo,
        &alice,
        "shared",
        &v("1.0.0"),
        true
    )));

    // Crate first: the zoo package half cannot be squatted either.
    s.cargo_publish(&bob, ALL, &krate("bob_link", "0.1.0"))
        .unwrap();
    let e = s
        .publish(&mallory, ALL, &entry("bob-link", "1.0.0", 'b'))
        .unwrap_err()
        .to_string();
    assert!(e.contains("already a crate"), "{e}");
    assert!(s.package("bob-link").unwrap().is_none());
    s.publish(&bob, ALL, &entry("bob-link", "1.0.0", 'b'))
        .unwrap();
    assert_eq!(logins(s.owners(Namespace::Zoo, "bob-link")), ["bob"]);
    assert!(s.integrity_problems().unwrap().is_empty());
    let _ = alice;
}

/// A registry from before the rule where the two halves diverge: fsck
/// reports it, the half published first decides, and its next publish
/// copies its owners over the other half.
fn divergent_legacy_owners(s: &MetadataStore, rows: &zoo_registry::db::dump::Tables) {
    s.import_rows(rows).unwrap();
    let alice = s.find_user("alice").unwrap().unwrap();
    let mallory = s.find_user("mallory").unwrap().unwrap();
    let problems = s.integrity_problems().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("name `legacy`")
            && problems[0].contains("(alice)")
            && problems[0].contains("(mallory)")
            && problems[0].contains("the zoo package was published first"),
        "{}",
        problems[0]
    );
    assert_eq!(logins(s.owners(Namespace::Cargo, "legacy")), ["alice"]);
    assert!(is_forbidden(s.cargo_publish(
        &mallory,
        ALL,
        &krate("legacy", "0.2.0")
    )));
    s.cargo_publish(&alice, ALL, &krate("legacy", "0.2.0"))
        .unwrap();
    assert!(s.integrity_problems().unwrap().is_empty());
    assert_eq!(logins(s.owners(Namespace::Cargo, "legacy")), ["alice"]);
}

#[test]
fn a_name_has_one_set_of_owners_in_both_namespaces_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = Postgres::start();
    let sqlite = MetadataStore::open_sqlite(&dir.path().join("a.sqlite3")).unwrap();
    one_name_one_set_of_owners(&sqlite);
    one_name_one_set_of_owners(
        &MetadataStore::connect_postgres(&postgres.create_database()).unwrap(),
    );

    // Build the legacy rows: the package `legacy` (alice, 2020) and a crate
    // renamed to `legacy` (mallory, 2021), as the old rules allowed.
    let old = MetadataStore::open_sqlite(&dir.path().join("old.sqlite3")).unwrap();
    let alice = old.add_user("alice").unwrap();
    let mallory = old.add_user("mallory").unwrap();
    old.publish(&alice, ALL, &entry("legacy", "1.0.0", 'a'))
        .unwrap();
    old.cargo_publish(&mallory, ALL, &krate("squat", "0.1.0"))
        .unwrap();
    let mut rows = old.export_rows().unwrap();
    rows.get_mut("packages").unwrap()[0]["created_at"] = "2020-01-01T00:00:00Z".into();
    let krate_row = &mut rows.get_mut("cargo_crates").unwrap()[0];
    krate_row["name"] = "legacy".into();
    krate_row["name_norm"] = "legacy".into();
    krate_row["created_at"] = "2021-01-01T00:00:00Z".into();
    divergent_legacy_owners(
        &MetadataStore::open_sqlite(&dir.path().join("legacy.sqlite3")).unwrap(),
        &rows,
    );
    divergent_legacy_owners(
        &MetadataStore::connect_postgres(&postgres.create_database()).unwrap(),
        &rows,
    );
}

/// A metadata database, reached behind the store's back to build the
/// states a migration meets (the schema at an older step, rows the store
/// would now refuse).
enum Raw {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Raw {
    fn open(&self) -> StoreResult<MetadataStore> {
        match self {
            Raw::Sqlite(path) => MetadataStore::open_sqlite(path),
            Raw::Postgres(url) => MetadataStore::connect_postgres(url),
        }
    }

    /// Runs statements without parameters.
    fn run(&self, sql: &str) {
        self.try_run(sql).unwrap()
    }

    /// [`Raw::run`], the engine's refusal as text.
    fn try_run(&self, sql: &str) -> Result<(), String> {
        match self {
            Raw::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .map_err(|e| e.to_string()),
            Raw::Postgres(url) => pg(url, |mut c| async move {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut c)
                    .await
                    .map(drop)
            })
            .map_err(|e| e.to_string()),
        }
    }

    /// A one-number query.
    fn count(&self, sql: &str) -> i64 {
        match self {
            Raw::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Raw::Postgres(url) => pg(url, |mut c| async move {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_one(&mut c)
                    .await
            })
            .unwrap(),
        }
    }

    /// The schema steps recorded as applied.
    fn schema_version(&self) -> i64 {
        match self {
            Raw::Sqlite(_) => self.count("PRAGMA user_version"),
            Raw::Postgres(_) => {
                self.count("SELECT COALESCE(MAX(version), 0) FROM zoo_schema_migrations")
            }
        }
    }

    /// The schema as steps 1 to `last` left it, recorded as the engine
    /// records it.
    fn schema_until(&self, last: i64) {
        use zoo_registry::db::sql::migrations::{MIGRATIONS, POSTGRES, SQLITE};
        let types = match self {
            Raw::Sqlite(_) => &SQLITE,
            Raw::Postgres(_) => &POSTGRES,
        };
        if let Raw::Postgres(_) = self {
            self.run(
                "CREATE TABLE zoo_schema_migrations (version BIGINT PRIMARY KEY, \
                 name TEXT NOT NULL, applied_at TEXT NOT NULL)",
            );
        }
        for step in MIGRATIONS.iter().filter(|m| m.version <= last) {
            self.run(&step.sql(types));
            match self {
                Raw::Sqlite(_) => self.run(&format!("PRAGMA user_version = {}", step.version)),
                Raw::Postgres(_) => self.run(&format!(
                    "INSERT INTO zoo_schema_migrations VALUES ({}, '{}', 'then')",
                    step.version, step.name
                )),
            }
        }
    }
}

/// Runs one sqlx call on a connection to `url`, on a runtime of its own.
fn pg<T, F, Fut>(url: &str, f: F) -> Result<T, sqlx::Error>
where
    F: FnOnce(sqlx::PgConnection) -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { f(sqlx::PgConnection::connect(url).await?).await })
}

/// The store itself refuses a login that differs from another only in
/// case, and so does an import of an export holding such a pair.
fn logins_are_unique_without_regard_to_case(s: &MetadataStore, empty: &MetadataStore) {
    s.add_user("alice").unwrap();
    for twin in ["ALICE", "Alice"] {
        let e = s.add_user(twin).unwrap_err();
        assert!(
            matches!(e, zoo_registry::db::StoreError::Conflict(_)),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "login `{twin}` is taken (case-insensitively) by `alice`; logins that differ \
                 only in case are refused"
            )
        );
    }
    assert_eq!(
        s.add_user("alice").unwrap_err().to_string(),
        "user `alice` already exists"
    );
    s.add_user("alice-2").unwrap();
    assert_eq!(logins(s.list_users()), ["alice", "alice-2"]);
    // Looked up without regard to case too (owners, tokens, sign-in).
    let alice = s.find_user("alice").unwrap().unwrap();
    assert_eq!(s.find_user("ALICE").unwrap(), Some(alice.clone()));
    s.add_token(&alice, "t-case", "h-case", &[Scope::Yank])
        .unwrap();
    let listed = |login: &str| -> Vec<String> {
        s.list_tokens(Some(login))
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect()
    };
    assert_eq!(listed("Alice"), ["t-case"]);
    assert_eq!(listed("alice"), ["t-case"]);

    let mut rows = s.export_rows().unwrap();
    rows.get_mut("users").unwrap()[1]["login"] = "ALICE".into();
    let e = empty.import_rows(&rows).unwrap_err().to_string();
    assert!(
        e.contains("logins that differ only in case: `ALICE` and `alice`"),
        "{e}"
    );
    assert!(logins(empty.list_users()).is_empty());
}

/// Schema migration 6 on a database at step 5 that holds `Alice` and
/// `alice`: refused naming both, nothing changed; once one is renamed it
/// applies, and the database refuses new case twins.
fn migration_6_refuses_case_twins(db: &Raw) {
    db.schema_until(5);
    db.run(
        "INSERT INTO users (login, created_at) VALUES ('Alice', 'then'), ('alice', 'then'), \
         ('bob', 'then')",
    );
    let e = match db.open() {
        Ok(_) => panic!("a database with `Alice` and `alice` was migrated"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("`Alice` and `alice`"), "{e}");
    assert!(e.contains("UPDATE users SET login"), "{e}");
    assert_eq!(db.schema_version(), 5);
    assert_eq!(db.count("SELECT COUNT(*) FROM users"), 3);

    db.run("UPDATE users SET login = 'alice-2' WHERE login = 'Alice'");
    let store = db.open().unwrap();
    assert_eq!(db.schema_version(), 6);
    assert_eq!(logins(store.list_users()), ["alice", "alice-2", "bob"]);
    // The index, not only the store's code: a raw insert is refused too.
    drop(store);
    let raw = db.try_run("INSERT INTO users (login, created_at) VALUES ('BOB', 'now')");
    let e = raw.expect_err("the database took `BOB` beside `bob`");
    assert!(e.to_lowercase().contains("unique"), "{e}");
}

#[test]
fn logins_are_unique_without_regard_to_case_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| MetadataStore::open_sqlite(&dir.path().join(name)).unwrap();
    logins_are_unique_without_regard_to_case(&sqlite("a.sqlite3"), &sqlite("b.sqlite3"));
    migration_6_refuses_case_twins(&Raw::Sqlite(dir.path().join("old.sqlite3")));

    let postgres = Postgres::start();
    let connect = || MetadataStore::connect_postgres(&postgres.create_database()).unwrap();
    logins_are_unique_without_regard_to_case(&connect(), &connect());
    migration_6_refuses_case_twins(&Raw::Postgres(postgres.create_database()));
}
