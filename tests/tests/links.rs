//! Custom Links end to end, with the real `cargo`, `zoo` and `zoo-registry`
//! on 127.0.0.1: zoo's nn core published to the registry's Cargo side,
//! `zoo new link` + `zoo publish` ending in the same crate entry as
//! `cargo publish --registry zoo`, the worked example (examples/: the
//! peephole-link crate, a consumer crate resolving it through
//! `registry = "zoo"`, and the peephole-timing TorchScript model package
//! that depends on the link package).
//!
//! Nothing here compiles tch (minutes): cargo packages with `--no-verify`
//! and the consumer is resolved, not built. `cargo xtask links` builds and
//! runs the Link crates and the consumer against the registry as well.

use std::path::Path;
use zoo_e2e::cargo::{Cargo, copy_tree, index_line, workspace_root};
use zoo_e2e::{Registry, Zoo, sha256};

const NO_VERIFY: &[&str] = &["--no-verify", "--allow-dirty"];

/// Where the tests' shared CARGO_HOME lives.
fn tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// Publishes zoo-torch-build, zoo-kernels, zoo-graph, then zoo-nn from this workspace with cargo.
fn publish_nn_core(cargo: &Cargo, token: &str) {
    for krate in ["zoo-torch-build", "zoo-kernels", "zoo-graph", "zoo-nn"] {
        let mut args = vec!["publish", "--registry", "zoo", "-p", krate];
        args.extend(NO_VERIFY);
        cargo.run(&workspace_root(), &args, Some(token)).ok();
    }
}

/// `zoo` as `user`, with `cargo`'s environment for the cargo it runs.
fn zoo_in(user: &Zoo, cargo: &Cargo, dir: &Path, args: &[&str]) -> zoo_e2e::Outcome {
    let mut command = user.command(dir, args);
    cargo.apply(&mut command);
    zoo_e2e::run_command(&mut command)
}

#[test]
fn zoo_publish_and_cargo_publish_make_the_same_crate_entry() {
    let (first, second) = (Registry::start(), Registry::start());
    let (token1, token2) = (first.add_user("alice"), second.add_user("alice"));
    let (cargo1, cargo2) = (
        Cargo::new(&first.url, tmp()),
        Cargo::new(&second.url, tmp()),
    );
    publish_nn_core(&cargo1, &token1);
    publish_nn_core(&cargo2, &token2);
    let nn = index_line(&first.url, "zoo-nn", "0.1.0").expect("zoo-nn in the index");
    let build_dep = nn["deps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "zoo-torch-build")
        .expect("zoo-nn names zoo-torch-build");
    assert_eq!(build_dep["kind"], "build");
    assert!(
        build_dep["registry"].is_null(),
        "same registry: {build_dep}"
    );

    let work = tempfile::tempdir().unwrap();
    let alice = Zoo::new(&first.url, Some(&token1));
    let out = alice
        .run_in(
            work.path(),
            &["new", "link", "my-link", "--path", "my-link"],
        )
        .ok();
    assert!(out.contains("created Link crate `my-link`"), "{out}");
    let krate = work.path().join("my-link");
    for file in ["Cargo.toml", "build.rs", "src/lib.rs", "README.md"] {
        assert!(krate.join(file).is_file(), "{file} missing");
    }
    let again = alice
        .run_in(
            work.path(),
            &["new", "link", "my-link", "--path", "my-link"],
        )
        .fails();
    assert!(again.contains("not an empty folder"), "{again}");

    // zoo publish → the crate (by cargo) and the link package.
    let mut args = vec!["publish"];
    args.extend(NO_VERIFY);
    let out = zoo_in(&alice, &cargo1, &krate, &args).ok();
    let cargo = &cargo1;
    assert!(out.contains("published crate my-link@0.1.0"), "{out}");
    assert!(
        out.contains("published link package my-link@0.1.0"),
        "{out}"
    );
    let info: serde_json::Value =
        serde_json::from_str(&alice.run(&["info", "my-link", "--json"]).ok()).unwrap();
    assert_eq!(info["kind"], "link", "{info}");
    let found = alice.run(&["search", "my-link"]).ok();
    assert!(found.contains("my-link 0.1.0 (link)"), "{found}");

    // The entry holds cargo's own .crate: `cargo package` of a fresh copy
    // against the same registry makes the bytes the registry recorded.
    let by_zoo = index_line(&first.url, "my-link", "0.1.0").expect("my-link via zoo");
    let copy = work.path().join("copy");
    copy_tree(&krate, &copy);
    let own_target = work.path().join("copy-target");
    cargo
        .run(
            &copy,
            &[
                "package",
                "--registry",
                "zoo",
                "--no-verify",
                "--target-dir",
                own_target.to_str().unwrap(),
            ],
            None,
        )
        .ok();
    let crate_file = std::fs::read(own_target.join("package/my-link-0.1.0.crate")).unwrap();
    assert_eq!(by_zoo["cksum"], sha256(&crate_file));

    // cargo publish of the same folder to the second registry: the same
    // entry but for the checksum, as the packaged Cargo.lock names each
    // registry's own URL.
    let mut args = vec!["publish", "--registry", "zoo"];
    args.extend(NO_VERIFY);
    cargo2.run(&krate, &args, Some(&token2)).ok();
    let mut by_cargo = index_line(&second.url, "my-link", "0.1.0").expect("my-link via cargo");
    by_cargo["cksum"] = by_zoo["cksum"].clone();
    assert_eq!(by_zoo, by_cargo);
    assert_eq!(by_zoo["deps"][0]["name"], "zoo-nn", "{by_zoo}");

    // zoo publish where cargo published already: the crate is recognised
    // by its checksum and only the link package is added.
    let bob = Zoo::new(&second.url, Some(&token2));
    let mut args = vec!["publish"];
    args.extend(NO_VERIFY);
    let out = zoo_in(&bob, &cargo2, &krate, &args).ok();
    assert!(
        out.contains("already in the registry with this .crate"),
        "{out}"
    );
    assert!(
        out.contains("published link package my-link@0.1.0"),
        "{out}"
    );
    // Everything is there now: a third run publishes nothing.
    let err = zoo_in(&bob, &cargo2, &krate, &args).fails();
    assert!(err.contains("my-link@0.1.0 is already published"), "{err}");
}

#[test]
fn a_crate_without_zoo_metadata_is_refused_before_anything_is_published() {
    let registry = Registry::start();
    let token = registry.add_user("alice");
    let cargo = Cargo::new(&registry.url, tmp());
    let work = tempfile::tempdir().unwrap();
    let alice = Zoo::new(&registry.url, Some(&token));
    alice
        .run_in(work.path(), &["new", "link", "plain", "--path", "plain"])
        .ok();
    let manifest = work.path().join("plain/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let without = text.replace("[package.metadata.zoo]\nkind = \"link\"\n", "");
    assert_ne!(text, without);
    std::fs::write(&manifest, without).unwrap();
    // zoo-nn is not needed: the refusal comes before cargo resolves anything.
    let err = zoo_in(&alice, &cargo, &work.path().join("plain"), &["publish"]).fails();
    assert!(err.contains("[package.metadata.zoo]"), "{err}");
    assert!(index_line(&registry.url, "plain", "0.1.0").is_none());
    assert!(alice.run(&["info", "plain"]).fails().contains("plain"));
}

/// cargo packages a crate without a README with `readme = false` in its
/// normalized Cargo.toml; `zoo publish` reads that as "no README".
#[test]
fn a_function_crate_without_a_readme_publishes() {
    let registry = Registry::start();
    let token = registry.add_user("alice");
    let cargo = Cargo::new(&registry.url, tmp());
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("relu-fn");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"relu-fn\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         description = \"max(x, 0)\"\nlicense = \"MIT\"\npublish = [\"zoo\"]\n\n\
         [package.metadata.zoo]\nkind = \"function\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        "pub fn relu(x: f32) -> f32 {\n    x.max(0.0)\n}\n",
    )
    .unwrap();
    let alice = Zoo::new(&registry.url, Some(&token));
    let err = alice.run_in(&dir, &["package"]).fails();
    assert!(
        err.contains("is a Rust crate") && err.contains("`zoo publish ."),
        "{err}"
    );
    zoo_in(&alice, &cargo, &dir, &["publish", "--allow-dirty"]).ok();
    assert!(index_line(&registry.url, "relu-fn", "0.1.0").is_some());
    assert!(alice.run(&["info", "relu-fn"]).ok().contains("(function)"));
}

#[test]
fn worked_example_link_crate_model_package_and_consumer() {
    let registry = Registry::start();
    let token = registry.add_user("alice");
    let cargo = Cargo::new(&registry.url, tmp());
    publish_nn_core(&cargo, &token);
    let alice = Zoo::new(&registry.url, Some(&token));
    let examples = workspace_root().join("examples");
    let work = tempfile::tempdir().unwrap();

    let link = work.path().join("peephole-link");
    copy_tree(&examples.join("peephole-link"), &link);
    let mut args = vec!["publish"];
    args.extend(NO_VERIFY);
    zoo_in(&alice, &cargo, &link, &args).ok();
    let out = alice
        .run(&[
            "publish",
            examples.join("peephole-timing").to_str().unwrap(),
        ])
        .ok();
    assert!(out.contains("published peephole-timing@0.1.0"), "{out}");

    // zoo install of the model resolves and installs the link package too.
    let user = Zoo::new(&registry.url, None);
    // TorchScript is code: installing it is an explicit opt-in.
    let refused = user.run(&["install", "peephole-timing"]).fails();
    assert!(refused.contains("contains code"), "{refused}");
    let out = user
        .run(&["install", "--allow-code", "peephole-timing"])
        .ok();
    assert!(out.contains("installed peephole-link@0.1.0"), "{out}");
    assert_eq!(
        user.installed(),
        [
            ("peephole-link".into(), "0.1.0".into()),
            ("peephole-timing".into(), "0.1.0".into())
        ]
    );
    let installed_link = user.zoo_home().join("packages/peephole-link/0.1.0");
    let source = std::fs::read_to_string(installed_link.join("src/lib.rs")).unwrap();
    assert!(source.contains("pub struct PeepholeTimer"));

    // The TorchScript model runs without compiling: spikes at 5 and 17 in,
    // the largest logit after the second spike 12 steps later.
    let logits = work.path().join("logits.npy");
    let input = examples.join("peephole-timing/examples/interval-12.npy");
    user.run(&[
        "run",
        "--allow-code",
        "peephole-timing",
        "--input",
        &format!("x={}", input.display()),
        "--output",
        &format!("logits={}", logits.display()),
    ])
    .ok();
    let values = read_npy_f32(&logits);
    assert_eq!(values.len(), 64);
    let peak = (18..64)
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap();
    assert_eq!(peak, 29, "{values:?}");
    assert!(values[29] >= 0.0, "{values:?}");

    // A separate crate resolves the Link crate and zoo-nn from the registry
    // (and tch from crates.io).
    let consumer = work.path().join("peephole-consumer");
    copy_tree(&examples.join("peephole-consumer"), &consumer);
    cargo.run(&consumer, &["generate-lockfile"], None).ok();
    let lock = std::fs::read_to_string(consumer.join("Cargo.lock")).unwrap();
    for name in [
        "peephole-link",
        "zoo-nn",
        "zoo-graph",
        "zoo-kernels",
        "zoo-torch-build",
    ] {
        let block = lock
            .split("[[package]]")
            .find(|b| b.contains(&format!("name = \"{name}\"\n")))
            .unwrap_or_else(|| panic!("{name} not in the lock file:\n{lock}"));
        assert!(
            block.contains(&format!("source = \"{}\"", cargo.index)),
            "{name} is not from the zoo registry:\n{block}"
        );
    }
    let tch = lock
        .split("[[package]]")
        .find(|b| b.contains("name = \"tch\"\n"))
        .expect("tch in the lock file");
    assert!(tch.contains("crates.io-index"), "{tch}");
}

/// The f32 values of a little-endian `.npy` file.
fn read_npy_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
    assert!(header.contains("'<f4'"), "{header}");
    bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
