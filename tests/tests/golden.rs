//! `zoo install --verify` against a real registry (issue #14): each newly
//! installed model package with a golden file is re-run by `zoo-torch
//! verify`; a package whose weights no longer give its recorded outputs
//! fails the command, naming it, and stays installed.

use std::path::{Path, PathBuf};
use zoo_e2e::{Registry, Zoo};

fn vgg_mini() -> PathBuf {
    zoo_e2e::cargo::workspace_root().join("models/vgg-mini")
}

/// Overwrites the f32 values of tensor `name` in a safetensors file with
/// `value` (the format has no checksum, so the file stays well-formed).
fn set_tensor(path: &Path, name: &str, value: f32) {
    let mut bytes = std::fs::read(path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let offsets = &header[name]["data_offsets"];
    let start = 8 + header_len + offsets[0].as_u64().unwrap() as usize;
    let end = 8 + header_len + offsets[1].as_u64().unwrap() as usize;
    for chunk in bytes[start..end].chunks_mut(4) {
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn install_verify_runs_the_golden_input_of_each_new_model_package() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    alice.run(&["publish", vgg_mini().to_str().unwrap()]).ok();

    // A 0.2.0 whose weights were changed after its golden file was written.
    let work = tempfile::tempdir().unwrap();
    let altered = work.path().join("vgg-mini");
    zoo_e2e::cargo::copy_tree(&vgg_mini(), &altered);
    let manifest = std::fs::read_to_string(altered.join("zoo.toml")).unwrap();
    std::fs::write(
        altered.join("zoo.toml"),
        manifest.replace("version = \"0.1.0\"", "version = \"0.2.0\""),
    )
    .unwrap();
    set_tensor(&altered.join("weights.safetensors"), "fc8/b", 3.0);
    alice.run(&["publish", altered.to_str().unwrap()]).ok();

    let user = Zoo::new(&registry.url, None);
    let out = user.run(&["install", "--verify", "vgg-mini@=0.1.0"]).ok();
    assert!(
        out.contains("prob: max relative difference") && out.contains(": OK"),
        "{out}"
    );
    assert!(out.contains("installed vgg-mini@0.1.0"), "{out}");

    // The installed package by NAME@REQ, as `zoo run` takes it.
    let out = user.run(&["verify", "vgg-mini@^0.1"]).ok();
    assert!(out.contains("vgg-mini 0.1.0: 1 output(s) match"), "{out}");

    // Already installed: nothing new to verify.
    let out = user.run(&["install", "--verify", "vgg-mini@=0.1.0"]).ok();
    assert!(!out.contains("relative difference"), "{out}");

    let result = user.run(&["install", "--verify", "vgg-mini@=0.2.0"]);
    let stdout = result.stdout.clone();
    let stderr = result.fails();
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stderr.contains("zoo verify failed for vgg-mini@0.2.0") && stderr.contains("installed"),
        "{stderr}"
    );
    let installed = user.installed();
    assert!(
        installed.contains(&("vgg-mini".to_string(), "0.2.0".to_string())),
        "{installed:?}"
    );

    let result = user.run(&[
        "install",
        "--json",
        "--verify",
        "--force",
        "vgg-mini@=0.1.0",
    ]);
    assert!(result.success, "{}", result.stderr);
    let items: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(items[0]["verified"], true, "{items}");

    // A failed check under --json: stdout is still one document.
    let result = user.run(&[
        "install",
        "--json",
        "--verify",
        "--force",
        "vgg-mini@=0.2.0",
    ]);
    assert!(!result.success);
    let items: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(items[0]["verified"], false, "{items}");
    assert!(
        result.stderr.contains("zoo verify failed"),
        "{}",
        result.stderr
    );
}
