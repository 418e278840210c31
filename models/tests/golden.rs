//! Every committed built-in package with a `[model.golden]` section
//! reproduces the outputs its trainer recorded in golden.npz (what
//! `zoo verify` checks), within the package's tolerance. The nested RNN's
//! golden was recorded before its weights were converted to the links'
//! Chainer names (`zoo_models::tch_weights`), so it also proves the
//! conversion and the rebuilt architecture exact.

use std::path::PathBuf;
use tch::Device;
use zoo_models::golden;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Package folders whose zoo.toml records a golden file.
fn packages_with_golden() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(models_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|dir| {
            zoo_models::package::read_manifest(dir)
                .ok()
                .and_then(|m| m.model.and_then(|model| model.golden))
                .is_some()
        })
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_builtin_package_reproduces_its_golden_outputs() {
    tch::set_num_threads(2);
    let dirs = packages_with_golden();
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["cell-counter", "nested-rnn", "peephole-lstm", "vgg-mini"]
    );
    for dir in dirs {
        let package = zoo_models::load_package(&dir, Device::Cpu).unwrap();
        let section = package.manifest.model.as_ref().unwrap();
        let recorded = section.golden.as_ref().unwrap();
        let arrays = golden::read(&dir.join(&recorded.file)).unwrap();
        let checks = golden::check(package.model.as_ref(), &arrays, recorded.tolerance).unwrap();
        assert_eq!(checks.len(), arrays.outputs.len(), "{}", dir.display());
        for check in checks {
            println!(
                "{} {}: max relative difference {:?}",
                dir.display(),
                check.name,
                check.max_relative_difference
            );
            assert!(check.ok, "{}: {check:?}", dir.display());
            // Far inside the tolerance: the same maths as when recorded.
            assert!(check.max_relative_difference.unwrap() < 1e-5, "{check:?}");
        }
    }
}
