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
