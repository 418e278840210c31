use super::testing::*;
use super::*;
use crate::checksum::sha256_hex;
use flate2::read::GzDecoder;
use std::fs;
use std::io::Read;

const LINK_TOML: &str = r#"[package]
name = "peephole-lstm"
version = "0.1.0"
kind = "link"
description = "A peephole LSTM link"
readme = "README.md"
"#;

const MODEL_TOML: &str = r#"[package]
name = "tiny"
version = "1.0.0"
kind = "model"
description = "A tiny model"

[model.architecture]
builtin = "vgg-mini"

[model]
weights = ["weights.safetensors"]

[[model.outputs]]
name = "prob"
labels = "labels.txt"
"#;

fn link_package() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("zoo.toml"), LINK_TOML).unwrap();
    fs::write(dir.path().join("README.md"), "# peephole\n").unwrap();
    fs::create_dir_all(dir.path().join("src/deep")).unwrap();
    fs::write(dir.path().join("src/deep/lib.txt"), "code").unwrap();
    dir
}

fn model_package() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("zoo.toml"), MODEL_TOML).unwrap();
    fs::write(dir.path().join("labels.txt"), "cat\ndog\n").unwrap();
    fs::write(dir.path().join("weights.safetensors"), b"tiny weights").unwrap();
    fs::write(
        dir.path().join("big.bin"),
        vec![7u8; EXTERNAL_THRESHOLD as usize],
    )
    .unwrap();
    dir
}

fn entries_of(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn pack_lists_every_file_and_keeps_large_ones_external() {
    let dir = model_package();
    let packed = pack(dir.path(), &PackOptions::default()).unwrap();
    let paths: Vec<_> = packed
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.external))
        .collect();
    assert_eq!(
        paths,
        vec![
            ("big.bin", true),
            ("labels.txt", false),
            ("weights.safetensors", true),
            ("zoo.toml", false)
        ]
    );
    assert_eq!(
        entries_of(&packed.bytes),
        vec![FILES_JSON, "zoo.toml", "labels.txt"]
    );
    assert_eq!(packed.sha256, sha256_hex(&packed.bytes));
    assert_eq!(packed.size, packed.bytes.len() as u64);
    assert_eq!(packed.file_name(), "tiny-1.0.0.zoo");
    let weights = packed
        .files
        .iter()
        .find(|f| f.path == "weights.safetensors")
        .unwrap();
    assert_eq!(weights.sha256, sha256_hex(b"tiny weights"));
    assert_eq!(packed.external_files().count(), 2);
}

#[test]
fn pack_skips_dotfiles_and_target() {
    let dir = link_package();
    fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
    fs::write(dir.path().join(".git/objects/x"), "x").unwrap();
    fs::write(dir.path().join(".env"), "SECRET=1").unwrap();
    fs::create_dir_all(dir.path().join("target/debug")).unwrap();
    fs::write(dir.path().join("target/debug/out"), "o").unwrap();
    fs::write(dir.path().join("src/.swp"), "o").unwrap();
    let packed = pack(dir.path(), &PackOptions::default()).unwrap();
    let paths: Vec<_> = packed.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["README.md", "src/deep/lib.txt", "zoo.toml"]);
}

/// `zoo package` writes NAME-VERSION.zoo into the folder by default: the
/// next pack leaves it (and any archive) out, so packing twice gives the
/// same archive instead of nesting each earlier one in the next.
#[test]
fn pack_skips_package_archives_and_stays_deterministic() {
    let dir = link_package();
    let first = pack(dir.path(), &PackOptions::default()).unwrap();
    first.write_to(&dir.path().join(first.file_name())).unwrap();
    fs::write(dir.path().join("src/old-0.0.1.zoo"), "older").unwrap();
    let second = pack(dir.path(), &PackOptions::default()).unwrap();
    let paths: Vec<_> = second.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["README.md", "src/deep/lib.txt", "zoo.toml"]);
    assert_eq!(second.index_entry(), first.index_entry());
}

#[test]
fn pack_refuses_an_unknown_built_in_architecture() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("weights.safetensors"), b"w").unwrap();
    let toml = "[package]\nname = \"typo\"\nversion = \"0.1.0\"\nkind = \"model\"\n\
                description = \"x\"\n\n[model]\nweights = [\"weights.safetensors\"]\n\n\
                [model.architecture]\nbuiltin = \"peephole-lsmt\"\n";
    fs::write(dir.path().join("zoo.toml"), toml).unwrap();
    let e = pack(dir.path(), &PackOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("zoo.toml")
            && e.contains("\"peephole-lsmt\"` is not a built-in architecture")
            && e.contains("peephole-lstm"),
        "{e}"
    );
    // The same manifest still loads: a package for a newer zoo installs.
    assert!(crate::manifest::Manifest::load(dir.path()).is_ok());
    let fixed = toml.replace("peephole-lsmt", "peephole-lstm");
    fs::write(dir.path().join("zoo.toml"), fixed).unwrap();
    pack(dir.path(), &PackOptions::default()).unwrap();
}

#[test]
fn pack_refuses_manifest_files_it_would_skip() {
    let dir = link_package();
    fs::create_dir_all(dir.path().join(".github")).unwrap();
    fs::write(dir.path().join(".github/README.md"), "hidden").unwrap();
    let toml = LINK_TOML.replace("readme = \"README.md\"", "readme = \".github/README.md\"");
    fs::write(dir.path().join("zoo.toml"), toml).unwrap();
    let e = pack(dir.path(), &PackOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("package.readme") && e.contains("left out"),
        "{e}"
    );
}

#[test]
fn pack_refuses_symlinks() {
    let dir = link_package();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).unwrap();
    let e = pack(dir.path(), &PackOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("symlink") && e.to_string().contains("passwd"),
        "{e}"
    );
}

#[test]
fn pack_reports_manifest_errors() {
    let dir = model_package();
    fs::remove_file(dir.path().join("labels.txt")).unwrap();
    let e = pack(dir.path(), &PackOptions::default()).unwrap_err();
    assert!(e.to_string().contains("model.outputs[0].labels"), "{e}");
}

#[test]
fn packing_is_deterministic() {
    let a = link_package();
    let first = pack(a.path(), &PackOptions::default()).unwrap();
    let second = pack(a.path(), &PackOptions::default()).unwrap();
    assert_eq!(first.bytes, second.bytes);

    // Same content, different mtimes and creation order on disk.
    let b = tempfile::tempdir().unwrap();
    fs::create_dir_all(b.path().join("src/deep")).unwrap();
    fs::write(b.path().join("src/deep/lib.txt"), "code").unwrap();
    fs::write(b.path().join("README.md"), "# peephole\n").unwrap();
    fs::write(b.path().join("zoo.toml"), LINK_TOML).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    for f in ["README.md", "zoo.toml", "src/deep/lib.txt"] {
        fs::File::options()
            .write(true)
            .open(b.path().join(f))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let third = pack(b.path(), &PackOptions::default()).unwrap();
    assert_eq!(first.bytes, third.bytes);
    assert_eq!(first.sha256, third.sha256);
}

#[test]
fn read_listing_and_unpack_round_trip() {
    let dir = link_package();
    let packed = pack(dir.path(), &PackOptions::default()).unwrap();
    let listing = read_listing(&packed.bytes[..], &Limits::default()).unwrap();
    assert_eq!(listing.files, packed.files);
    assert_eq!(listing.manifest, packed.manifest);
    assert_eq!(listing.manifest_text, LINK_TOML);
    assert_eq!(listing.readme.as_deref(), Some("# peephole\n"));

    let out = tempfile::tempdir().unwrap();
    let unpacked = unpack(&packed.bytes[..], out.path(), &Limits::default()).unwrap();
    assert_eq!(unpacked.files, packed.files);
    assert_eq!(
        fs::read_to_string(out.path().join("src/deep/lib.txt")).unwrap(),
        "code"
    );
    assert_eq!(
        fs::read_to_string(out.path().join("zoo.toml")).unwrap(),
        LINK_TOML
    );
    assert!(!out.path().join(".zoo").exists());
}

#[test]
fn read_member_reads_one_checked_file() {
    let dir = model_package();
    let packed = pack(dir.path(), &PackOptions::default()).unwrap();
    let limits = Limits::default();
    let labels = read_member(&packed.bytes[..], "labels.txt", 1 << 20, &limits).unwrap();
    assert_eq!(labels.as_deref(), Some(&b"cat\ndog\n"[..]));
    let toml = read_member(&packed.bytes[..], "zoo.toml", 1 << 20, &limits).unwrap();
    assert_eq!(toml.as_deref(), Some(MODEL_TOML.as_bytes()));
    // External files and absent ones are not in the archive.
    for path in [
        "big.bin",
        "weights.safetensors",
        "nope.txt",
        ".zoo/files.json",
    ] {
        let got = read_member(&packed.bytes[..], path, 1 << 20, &limits).unwrap();
        assert_eq!(got, None, "{path}");
    }
    // A file over the cap is refused rather than read whole.
    let e = read_member(&packed.bytes[..], "labels.txt", 3, &limits).unwrap_err();
    assert!(e.to_string().contains("larger than 3 bytes"), "{e}");
}

#[test]
fn read_member_refuses_a_file_that_disagrees_with_the_listing() {
    let bytes = hostile(&[("a.txt", b"a")], &[file("a.txt", b"b")]);
    let e = read_member(&bytes[..], "a.txt", 1 << 20, &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");
}

#[test]
fn unpack_requires_an_empty_staging_dir() {
    let dir = link_package();
    let packed = pack(dir.path(), &PackOptions::default()).unwrap();
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("x"), "x").unwrap();
    assert!(unpack(&packed.bytes[..], out.path(), &Limits::default()).is_err());
}

#[test]
fn long_paths_survive() {
    let dir = link_package();
    let long = format!("{}/{}.txt", "d".repeat(90), "f".repeat(80));
    fs::create_dir_all(dir.path().join("d".repeat(90))).unwrap();
    fs::write(dir.path().join(&long), "deep").unwrap();
    let packed = pack(dir.path(), &PackOptions::default()).unwrap();
    let out = tempfile::tempdir().unwrap();
    unpack(&packed.bytes[..], out.path(), &Limits::default()).unwrap();
    assert_eq!(fs::read_to_string(out.path().join(&long)).unwrap(), "deep");
}

// ------------------------------------------------------------- hostile input

/// A valid listing + manifest for `extra` in-archive files, followed by `tail`.
fn hostile(extra: &[(&str, &[u8])], tail: &[Raw]) -> Vec<u8> {
    with_listing(&bare_link_toml(), extra, tail)
}

fn bare_link_toml() -> String {
    LINK_TOML.replace("readme = \"README.md\"\n", "")
}

fn refused(bytes: &[u8]) -> String {
    let e = read_listing(bytes, &Limits::default())
        .unwrap_err()
        .to_string();
    // So must the one-file reader, whichever file it is after.
    assert!(read_member(bytes, "a.txt", u64::MAX, &Limits::default()).is_err());
    // unpack must refuse the same archive and leave nothing outside staging.
    let parent = tempfile::tempdir().unwrap();
    let staging = parent.path().join("staging");
    fs::create_dir(&staging).unwrap();
    assert!(unpack(bytes, &staging, &Limits::default()).is_err());
    let outside: Vec<_> = fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside,
        vec!["staging"],
        "unpack wrote outside its staging dir"
    );
    e
}

#[test]
fn a_well_formed_hand_built_archive_is_accepted() {
    let bytes = hostile(&[("a.txt", b"a")], &[file("a.txt", b"a")]);
    let listing = read_listing(&bytes[..], &Limits::default()).unwrap();
    assert_eq!(listing.files.len(), 2);
}

#[test]
fn rejects_parent_dir_components() {
    let e = refused(&hostile(&[("../evil", b"x")], &[file("../evil", b"x")]));
    assert!(e.contains("../evil"), "{e}");
    let e = refused(&hostile(&[], &[file("a/../../evil", b"x")]));
    assert!(e.contains("a/../../evil") && e.contains(".."), "{e}");
}

#[test]
fn rejects_absolute_paths() {
    let e = refused(&hostile(&[], &[file("/tmp/evil", b"x")]));
    assert!(e.contains("/tmp/evil") && e.contains("absolute"), "{e}");
}

#[test]
fn rejects_links_devices_and_fifos() {
    for (kind, word) in [
        (tar::EntryType::Symlink, "symlink"),
        (tar::EntryType::Link, "hard link"),
        (tar::EntryType::Char, "character device"),
        (tar::EntryType::Block, "block device"),
        (tar::EntryType::Fifo, "FIFO"),
    ] {
        let e = refused(&hostile(&[], &[special("link", kind, "/etc/passwd")]));
        assert!(e.contains("`link`") && e.contains(word), "{e}");
    }
}

#[test]
fn rejects_duplicates_and_case_clashes() {
    let e = refused(&hostile(
        &[("a.txt", b"a")],
        &[file("a.txt", b"a"), file("a.txt", b"a")],
    ));
    assert!(e.contains("a.txt") && e.contains("twice"), "{e}");
    let e = refused(&hostile(
        &[("a.txt", b"a")],
        &[file("a.txt", b"a"), file("A.txt", b"a")],
    ));
    assert!(e.contains("A.txt") && e.contains("case"), "{e}");
    // A listing with case clashes is refused too.
    let e = refused(&hostile(&[("A.txt", b"a"), ("a.txt", b"a")], &[]));
    assert!(e.contains("a.txt") && e.contains("case"), "{e}");
}

#[test]
fn rejects_non_utf8_names() {
    let bytes = hostile(&[], &[raw_file(b"caf\xe9.txt", b"x")]);
    let e = refused(&bytes);
    assert!(e.contains("UTF-8"), "{e}");
}

#[test]
fn rejects_files_missing_from_or_disagreeing_with_the_listing() {
    let e = refused(&hostile(&[], &[file("extra.txt", b"x")]));
    assert!(e.contains("extra.txt") && e.contains("not listed"), "{e}");
    let e = refused(&hostile(&[("a.txt", b"aaa")], &[file("a.txt", b"bbb")]));
    assert!(e.contains("a.txt") && e.contains("does not match"), "{e}");
    let e = refused(&hostile(&[("a.txt", b"aaa")], &[file("a.txt", b"aaaa")]));
    assert!(e.contains("a.txt") && e.contains("bytes"), "{e}");
    let e = refused(&hostile(&[("a.txt", b"a")], &[]));
    assert!(
        e.contains("a.txt") && e.contains("not in the archive"),
        "{e}"
    );
}

#[test]
fn rejects_archives_without_listing_first() {
    let toml = bare_link_toml();
    let e = refused(&build(&[file("zoo.toml", toml.as_bytes())]));
    assert!(e.contains(FILES_JSON), "{e}");
    let e = refused(&build(&[]));
    assert!(e.contains(FILES_JSON) && e.contains("missing"), "{e}");
}

#[test]
fn rejects_an_invalid_manifest_naming_the_field() {
    let toml = LINK_TOML
        .replace("readme = \"README.md\"\n", "")
        .replace("0.1.0", "0.1");
    let json = listing_json(&[("zoo.toml", toml.as_bytes(), false)]);
    let e = refused(&build(&[
        file(FILES_JSON, &json),
        file("zoo.toml", toml.as_bytes()),
    ]));
    assert!(e.contains("zoo.toml") && e.contains("version"), "{e}");
}

#[test]
fn rejects_too_many_entries() {
    let names: Vec<String> = (0..20).map(|i| format!("f{i:02}")).collect();
    let extra: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let tail: Vec<Raw> = names.iter().map(|n| file(n, b"x")).collect();
    let bytes = hostile(&extra, &tail);
    read_listing(&bytes[..], &Limits::default()).unwrap();
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let e = read_listing(&bytes[..], &limits).unwrap_err().to_string();
    assert!(e.contains("more than 10 entries"), "{e}");
}

#[test]
fn rejects_decompression_bombs() {
    let zeros = vec![0u8; 16 << 20];
    let bytes = hostile(&[("zeros.bin", &zeros)], &[file("zeros.bin", &zeros)]);
    assert!(
        bytes.len() < 100_000,
        "the bomb compresses well: {}",
        bytes.len()
    );
    let e = refused(&bytes);
    assert!(
        e.contains("bomb") && e.contains("ratio") && e.contains("zeros.bin"),
        "{e}"
    );

    let limits = Limits {
        max_total_size: 1 << 20,
        max_ratio: u64::MAX,
        ..Limits::default()
    };
    let e = read_listing(&bytes[..], &limits).unwrap_err().to_string();
    assert!(e.contains("limit") && e.contains("in total"), "{e}");
}

#[test]
fn rejects_weights_inside_the_archive() {
    let dir = model_package();
    let toml = MODEL_TOML.as_bytes();
    let json = listing_json(&[
        ("labels.txt", b"cat\ndog\n", false),
        ("weights.safetensors", b"w", false),
        ("zoo.toml", toml, false),
    ]);
    drop(dir);
    let e = refused(&build(&[
        file(FILES_JSON, &json),
        file("zoo.toml", toml),
        file("labels.txt", b"cat\ndog\n"),
        file("weights.safetensors", b"w"),
    ]));
    assert!(
        e.contains("weights.safetensors") && e.contains("external"),
        "{e}"
    );
}

#[test]
fn rejects_bad_listings() {
    let toml = bare_link_toml();
    let mut json = serde_json::json!({"files": [
        {"path": "zoo.toml", "size": toml.len(), "sha256": sha256_hex(toml.as_bytes()), "external": false},
        {"path": "a", "size": 1, "sha256": "zz", "external": true}
    ]});
    let bytes = serde_json::to_vec(&json).unwrap();
    let e = refused(&build(&[
        file(FILES_JSON, &bytes),
        file("zoo.toml", toml.as_bytes()),
    ]));
    assert!(e.contains("sha256") || e.contains("order"), "{e}");

    json["files"][1] =
        serde_json::json!({"path": "../x", "size": 1, "sha256": "0".repeat(64), "external": true});
    let bytes = serde_json::to_vec(&json).unwrap();
    let e = refused(&build(&[
        file(FILES_JSON, &bytes),
        file("zoo.toml", toml.as_bytes()),
    ]));
    assert!(e.contains("../x"), "{e}");
}

#[test]
fn corrupted_and_truncated_archives_fail_cleanly() {
    let dir = model_package();
    fs::write(dir.path().join("big.bin"), b"small now").unwrap();
    let packed = pack(dir.path(), &PackOptions::default()).unwrap();
    let bytes = &packed.bytes;
    // Every truncation and a flip of every byte: an error or success, never a panic.
    for len in 0..bytes.len() {
        assert!(
            read_listing(&bytes[..len], &Limits::default()).is_err(),
            "truncated at {len}"
        );
    }
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x55;
        let _ = read_listing(&flipped[..], &Limits::default());
    }
}

#[test]
fn rejects_data_after_the_gzip_stream() {
    let good = hostile(&[("a.txt", b"a")], &[file("a.txt", b"a")]);
    read_listing(&good[..], &Limits::default()).unwrap();
    let mut trailing = good.clone();
    trailing.extend_from_slice(&noise(50_000, 3));
    let e = refused(&trailing);
    assert!(e.contains("follows the end of the gzip stream"), "{e}");
    // A second gzip member is trailing data too.
    let mut two_members = good.clone();
    two_members.extend_from_slice(&good);
    let e = refused(&two_members);
    assert!(e.contains("follows the end of the gzip stream"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    fs::create_dir(&staging).unwrap();
    assert!(unpack(&trailing[..], &staging, &Limits::default()).is_err());
    // Data hidden after the tar's end inside the gzip stream: refused too.
    let mut tar = Vec::new();
    GzDecoder::new(&good[..]).read_to_end(&mut tar).unwrap();
    tar.extend_from_slice(b"hidden after the end-of-archive blocks");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let e = refused(&gz.finish().unwrap());
    assert!(e.contains("follows the end of the tar archive"), "{e}");
}

#[test]
fn rejects_paths_no_file_system_can_hold() {
    let long = "a/".repeat(20_000) + "x";
    let e = refused(&hostile(&[(&long[2..], b"x")], &[]));
    assert!(e.contains(FILES_JSON) && e.contains("bytes long"), "{e}");
    let component = "c".repeat(256);
    let e = refused(&hostile(&[(&component, b"x")], &[]));
    assert!(e.contains("component of 256 bytes"), "{e}");
}

#[test]
fn pack_refuses_paths_longer_than_the_limit() {
    let dir = link_package();
    let deep: std::path::PathBuf = (0..6).map(|i| format!("{i}{}", "d".repeat(99))).collect();
    fs::create_dir_all(dir.path().join(&deep)).unwrap();
    fs::write(dir.path().join(&deep).join("f.txt"), "x").unwrap();
    let e = pack(dir.path(), &PackOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("bytes long") && e.contains("512"), "{e}");
}

const SOURCE_TOML: &str = r#"
[[model.sources]]
url = ["http://127.0.0.1:9/tiny.caffemodel"]
sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
size = 10
convert = "caffe"
produces = "weights.safetensors"
"#;

#[test]
fn weights_from_sources_are_not_packed_and_an_archive_carrying_them_is_refused() {
    let dir = model_package();
    fs::write(
        dir.path().join("zoo.toml"),
        format!("{MODEL_TOML}{SOURCE_TOML}"),
    )
    .unwrap();
    // A local conversion left the weights in the folder: still not packed.
    let packed = pack(dir.path(), &PackOptions::default()).unwrap();
    assert!(
        !packed.files.iter().any(|f| f.path == "weights.safetensors"),
        "{:?}",
        packed.files
    );
    let listing = read_listing(packed.bytes.as_slice(), &Limits::default()).unwrap();
    assert!(listing.manifest.is_produced("weights.safetensors"));
    fs::remove_file(dir.path().join("weights.safetensors")).unwrap();
    pack(dir.path(), &PackOptions::default()).unwrap();

    let manifest = format!("{MODEL_TOML}{SOURCE_TOML}");
    let carrying = with_listing(
        &manifest,
        &[("labels.txt", b"cat\n"), ("weights.safetensors", b"w")],
        &[
            file("labels.txt", b"cat\n"),
            file("weights.safetensors", b"w"),
        ],
    );
    let e = read_listing(carrying.as_slice(), &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("weights.safetensors") && e.contains("model.sources"),
        "{e}"
    );
}

/// An npz holding empty members with these names (only names are read).
fn write_npz(path: &std::path::Path, members: &[&str]) {
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    for member in members {
        zip.start_file(*member, zip::write::FileOptions::default())
            .unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn the_golden_file_must_feed_the_declared_inputs() {
    let dir = model_package();
    let toml = format!(
        "{MODEL_TOML}\n[[model.inputs]]\nname = \"data\"\nshape = [-1, 4]\ndtype = \"f32\"\n\n\
         [model.golden]\nfile = \"golden.npz\"\n"
    );
    fs::write(dir.path().join("zoo.toml"), toml).unwrap();
    let golden = dir.path().join("golden.npz");
    let refusal = |members: &[&str]| {
        write_npz(&golden, members);
        match pack(dir.path(), &PackOptions::default()) {
            Ok(_) => panic!("{members:?} was packed"),
            Err(e) => e.to_string(),
        }
    };
    let e = refusal(&["inputs/x.npy", "outputs/prob.npy"]);
    assert!(
        e.contains("golden.npz") && e.contains("inputs [x]") && e.contains("declares [data]"),
        "{e}"
    );
    let e = refusal(&["inputs/data.npy", "extra.npy", "outputs/prob.npy"]);
    assert!(e.contains("`extra` is neither"), "{e}");
    let e = refusal(&["inputs/data.npy"]);
    assert!(e.contains("at least one"), "{e}");
    fs::write(&golden, b"not a zip").unwrap();
    let e = pack(dir.path(), &PackOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a readable npz"), "{e}");

    write_npz(&golden, &["inputs/data.npy", "outputs/prob.npy"]);
    pack(dir.path(), &PackOptions::default()).unwrap();
}
