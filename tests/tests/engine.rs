//! `zoo` links no libtorch; it starts `zoo-torch` for doctor, run, export and
//! import. These tests pin that split: what each binary links, that
//! arguments, output and exit codes pass through, and the messages when the
//! libtorch half is missing or cannot load libtorch.

use std::process::Command;
use zoo_e2e::{Zoo, binary};

fn needed_libraries(path: &std::path::Path) -> String {
    let out = Command::new("ldd").arg(path).output().expect("running ldd");
    assert!(out.status.success(), "ldd {} failed", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn zoo_links_no_libtorch_and_zoo_torch_links_libtorch_cuda() {
    let zoo = needed_libraries(&binary("zoo"));
    assert!(!zoo.contains("libtorch"), "zoo links libtorch:\n{zoo}");
    let engine = needed_libraries(&binary("zoo-torch"));
    // --as-needed would drop it silently and CUDA would report unavailable.
    assert!(engine.contains("libtorch_cuda.so"), "{engine}");
    assert!(engine.contains("libtorch_cpu.so"), "{engine}");
}

#[test]
fn doctor_is_forwarded_with_its_flags() {
    let user = Zoo::new("http://127.0.0.1:9", None);
    let out = user.run(&["doctor", "--json"]).ok();
    let report: serde_json::Value = serde_json::from_str(&out).expect("doctor --json is JSON");
    assert!(
        report["libtorch_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.11.0")),
        "{report}"
    );
    let engine = report["engine"].as_str().expect("engine path");
    assert!(engine.ends_with("zoo-torch"), "{engine}");
    assert_eq!(report["zoo_home"].as_str(), user.zoo_home().to_str());
}

#[test]
fn help_and_errors_come_from_the_engine() {
    let user = Zoo::new("http://127.0.0.1:9", None);
    let help = user.run(&["run", "--help"]).ok();
    assert!(help.contains("Usage: zoo run"), "{help}");
    assert!(help.contains("--device"), "{help}");
    let err = user.run(&["run", "no-such-model"]).fails();
    assert!(err.contains("no-such-model"), "{err}");
}

#[test]
fn a_missing_engine_is_named() {
    let user = Zoo::new("http://127.0.0.1:9", None);
    let mut cmd = user.command(user.zoo_home(), &["run", "vgg-mini"]);
    let out = cmd
        .env("ZOO_TORCH", user.zoo_home().join("no-zoo-torch"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("zoo-torch, which was not found"), "{err}");
    assert!(err.contains("no-zoo-torch"), "{err}");
}

#[cfg(unix)]
#[test]
fn libtorch_that_cannot_load_gets_a_zoo_message() {
    use std::os::unix::fs::PermissionsExt;
    let user = Zoo::new("http://127.0.0.1:9", None);
    // What the dynamic loader does when libtorch is gone: a message, exit 127.
    let fake = user.zoo_home().join("zoo-torch");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'zoo-torch: error while loading shared libraries: libtorch_cpu.so' >&2\nexit 127\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = user
        .command(user.zoo_home(), &["doctor"])
        .env("ZOO_TORCH", &fake)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("libtorch could not be loaded"), "{err}");
    assert!(err.contains("cargo xtask setup"), "{err}");
}
