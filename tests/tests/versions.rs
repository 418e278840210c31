//! End to end: yanked versions, exact requests, and a project's zoo.toml
//! against its zoo.lock (issue #15).

use std::path::Path;
use zoo_e2e::{Registry, Zoo, write_package};

/// A registry where alice published `timer` at each of `versions`.
fn registry_with_timer(versions: &[&str]) -> (Registry, Zoo) {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    for version in versions {
        let dir = write_package(work.path(), "timer", version, &[], &[]);
        alice.run(&["publish", dir.to_str().unwrap()]).ok();
    }
    (registry, alice)
}

fn project(root: &Path, timer_req: &str) -> std::path::PathBuf {
    write_package(root, "app", "0.1.0", &[("timer", timer_req)], &[])
}

#[test]
fn a_yanked_version_installs_when_asked_exactly_and_is_named_otherwise() {
    let (registry, alice) = registry_with_timer(&["0.1.0", "0.2.0"]);
    alice.run(&["yank", "timer@0.2.0"]).ok();

    let user = Zoo::new(&registry.url, None);
    let err = user.run(&["install", "timer@0.2.0"]).fails();
    // The resolver's own tests pin the whole message; here it is enough
    // that the yank reached the user with the way out.
    assert!(
        err.contains("but is yanked") && err.contains("zoo install timer@=0.2.0"),
        "{err}"
    );
    assert!(user.installed().is_empty());

    let out = user.run(&["install", "timer@=0.2.0"]);
    assert!(
        out.stderr.contains("warning: timer@0.2.0 is yanked"),
        "{}",
        out.stderr
    );
    out.ok();
    assert_eq!(user.installed(), [("timer".into(), "0.2.0".into())]);
}

#[test]
fn a_request_outside_the_projects_requirement_is_refused_with_the_reason() {
    let (registry, _alice) = registry_with_timer(&["0.1.0", "0.2.0"]);
    let work = tempfile::tempdir().unwrap();
    let app = project(work.path(), "^0.1");
    let user = Zoo::new(&registry.url, None);
    user.run_in(&app, &["install"]).ok();
    let lock = std::fs::read_to_string(app.join("zoo.lock")).unwrap();
    assert!(lock.contains("version = \"0.1.0\""), "{lock}");

    let err = user.run_in(&app, &["install", "timer@0.2"]).fails();
    assert!(
        err.contains("timer@0.2.0 is outside the project's requirement `timer = \"^0.1\"`")
            && err.contains("zoo.toml"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("zoo.lock")).unwrap(),
        lock,
        "the lockfile changed"
    );
    assert_eq!(user.installed(), [("timer".into(), "0.1.0".into())]);
}

#[test]
fn an_empty_lockfile_pins_nothing_and_a_yanked_pin_warns() {
    let (registry, alice) = registry_with_timer(&["0.1.0", "0.1.1"]);
    let work = tempfile::tempdir().unwrap();
    let app = project(work.path(), "^0.1");
    std::fs::write(app.join("zoo.lock"), "").unwrap();
    let user = Zoo::new(&registry.url, None);
    user.run_in(&app, &["install"]).ok();
    let lock = std::fs::read_to_string(app.join("zoo.lock")).unwrap();
    assert!(lock.contains("version = \"0.1.1\""), "{lock}");

    alice.run(&["yank", "timer@0.1.1"]).ok();
    let other = Zoo::new(&registry.url, None);
    let out = other.run_in(&app, &["install"]);
    assert!(
        out.stderr.contains("warning: timer@0.1.1 is yanked") && out.stderr.contains("zoo.lock"),
        "{}",
        out.stderr
    );
    out.ok();
    assert_eq!(other.installed(), [("timer".into(), "0.1.1".into())]);
}

/// As cargo's Cargo.lock, zoo.lock records what the project's zoo.toml
/// needs and nothing else: a dependency taken out of zoo.toml leaves it, a
/// package installed by name that zoo.toml does not list is not locked, and
/// neither comes back with the next plain `zoo install`.
#[test]
fn the_lockfile_holds_the_projects_dependencies_and_nothing_else() {
    let (registry, alice) = registry_with_timer(&["0.1.0"]);
    let work = tempfile::tempdir().unwrap();
    let helper = write_package(work.path(), "helper", "1.0.0", &[], &[]);
    alice.run(&["publish", helper.to_str().unwrap()]).ok();
    let app = write_package(
        work.path(),
        "app",
        "0.1.0",
        &[("timer", "^0.1"), ("helper", "^1")],
        &[],
    );
    let lock_of = || std::fs::read_to_string(app.join("zoo.lock")).unwrap();
    let user = Zoo::new(&registry.url, None);
    user.run_in(&app, &["install"]).ok();
    assert!(lock_of().contains("name = \"helper\""), "{}", lock_of());

    // helper taken out of zoo.toml: the lock lets go of it, and says so.
    let toml = std::fs::read_to_string(app.join("zoo.toml")).unwrap();
    let without: String = toml
        .lines()
        .filter(|line| !line.starts_with("helper"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(toml, without);
    std::fs::write(app.join("zoo.toml"), &without).unwrap();
    let out = user.run_in(&app, &["install"]);
    assert!(
        out.stderr.contains("no longer pins helper@1.0.0"),
        "{}",
        out.stderr
    );
    out.ok();
    assert!(!lock_of().contains("helper"), "{}", lock_of());
    assert!(lock_of().contains("name = \"timer\""), "{}", lock_of());
    let fresh = Zoo::new(&registry.url, None);
    fresh.run_in(&app, &["install"]).ok();
    assert_eq!(fresh.installed(), [("timer".into(), "0.1.0".into())]);

    // Asked for by name: installed, not locked, not back next time.
    let locked = lock_of();
    let out = fresh.run_in(&app, &["install", "helper"]);
    assert!(
        out.stderr
            .contains("helper is not among the [dependencies]"),
        "{}",
        out.stderr
    );
    out.ok();
    assert_eq!(lock_of(), locked);
    fresh.run_in(&app, &["uninstall", "helper"]).ok();
    fresh.run_in(&app, &["install"]).ok();
    assert_eq!(fresh.installed(), [("timer".into(), "0.1.0".into())]);

    // No dependencies left at all: the lock pins nothing.
    let bare: String = without
        .lines()
        .filter(|line| !line.starts_with("timer"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(app.join("zoo.toml"), bare).unwrap();
    fresh.run_in(&app, &["install"]).ok();
    assert!(!lock_of().contains("[[package]]"), "{}", lock_of());
}

/// `zoo update [NAME]` moves locked packages to the newest versions zoo.toml
/// allows; `zoo install --locked` refuses, before installing, to change
/// zoo.lock (CI installs exactly what is locked).
#[test]
fn update_moves_the_lock_and_locked_refuses_to() {
    let (registry, alice) = registry_with_timer(&["0.1.0"]);
    let work = tempfile::tempdir().unwrap();
    let app = project(work.path(), "^0.1");
    let lock_of = || std::fs::read_to_string(app.join("zoo.lock")).unwrap();
    let user = Zoo::new(&registry.url, None);
    let err = user.run_in(&app, &["install", "--locked"]).fails();
    assert!(err.contains("--locked needs a zoo.lock"), "{err}");
    user.run_in(&app, &["install"]).ok();
    let newer = write_package(work.path(), "timer", "0.1.2", &[], &[]);
    alice.run(&["publish", newer.to_str().unwrap()]).ok();
    let beyond = write_package(work.path(), "timer", "0.2.0", &[], &[]);
    alice.run(&["publish", beyond.to_str().unwrap()]).ok();

    // The lock holds 0.1.0: a plain or --locked install keeps it, and
    // does not write it.
    let out = user.run_in(&app, &["install", "--locked"]).ok();
    assert!(!out.contains("wrote"), "{out}");
    assert!(lock_of().contains("version = \"0.1.0\""), "{}", lock_of());

    // A lock pinning what the registry lacks would change: refused, nothing
    // installed, the lockfile as it was.
    let edited = lock_of().replace("0.1.0", "0.1.7");
    std::fs::write(app.join("zoo.lock"), &edited).unwrap();
    let fresh = Zoo::new(&registry.url, None);
    let err = fresh.run_in(&app, &["install", "--locked"]).fails();
    assert!(
        err.contains("zoo.lock would change (+timer@0.1.2, -timer@0.1.7)"),
        "{err}"
    );
    assert!(fresh.installed().is_empty());
    assert_eq!(lock_of(), edited);
    std::fs::write(app.join("zoo.lock"), edited.replace("0.1.7", "0.1.0")).unwrap();

    let err = user.run_in(&app, &["update", "nosuch"]).fails();
    assert!(err.contains("`nosuch` is not pinned in zoo.lock"), "{err}");
    let err = user.run_in(&app, &["update", "timer@0.2"]).fails();
    assert!(err.contains("takes package names"), "{err}");
    user.run_in(&app, &["update", "timer"]).ok();
    assert!(lock_of().contains("version = \"0.1.2\""), "{}", lock_of());
    assert!(user.installed().contains(&("timer".into(), "0.1.2".into())));
    // Within zoo.toml's `^0.1`: 0.2.0 is not taken.
    user.run_in(&app, &["update"]).ok();
    assert!(lock_of().contains("version = \"0.1.2\""), "{}", lock_of());

    let outside = tempfile::tempdir().unwrap();
    let err = user.run_in(outside.path(), &["update"]).fails();
    assert!(err.contains("run it in a folder with a zoo.toml"), "{err}");
}
