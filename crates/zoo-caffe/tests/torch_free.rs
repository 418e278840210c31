//! zoo-caffe must build without libtorch (issue #13): its normal
//! dependencies include neither tch nor the crates that link it.

#[test]
fn no_normal_dependency_links_libtorch() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--prefix", "none", "-e", "normal"])
        .args(["--manifest-path", manifest, "-p", "zoo-caffe"])
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("zoo-graph"), "{tree}");
    for crate_name in [
        "tch",
        "torch-sys",
        "zoo-nn",
        "zoo-models",
        "zoo-torch-build",
    ] {
        assert!(
            !tree
                .lines()
                .any(|l| l.starts_with(&format!("{crate_name} v"))),
            "zoo-caffe depends on {crate_name}:\n{tree}"
        );
    }
}
