//! Builders of hostile `.zoo` archives, shared by the reader's unit tests, the
//! registry's publish tests and the end-to-end install tests (feature
//! `testing`; not part of the public API).
//!
//! Every archive [`hostile_archives`] returns starts with a valid listing and
//! `zoo.toml`, so that the one hostile entry is what a reader must refuse.

use flate2::Compression;

use super::{FILES_JSON, FileEntry, FileList};
use crate::checksum::sha256_hex;

/// Where the escaping entries of [`hostile_archives`] would land if a reader
/// followed them: tests check that it never exists.
pub const ESCAPE_TARGET: &str = "/tmp/zoo-hostile-escaped";

/// A raw tar entry: the name and link bytes go into the header unchecked.
#[derive(Clone, Copy)]
pub struct Raw<'a> {
    pub name: &'a [u8],
    pub kind: tar::EntryType,
    pub data: &'a [u8],
    pub link: Option<&'a [u8]>,
}

/// A regular file entry.
pub fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    raw_file(name.as_bytes(), data)
}

/// A regular file entry whose name is any bytes (not UTF-8, say).
pub fn raw_file<'a>(name: &'a [u8], data: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Regular,
        data,
        link: None,
    }
}

/// A link, device or FIFO entry pointing at `link`.
pub fn special<'a>(name: &'a str, kind: tar::EntryType, link: &'a str) -> Raw<'a> {
    Raw {
        name: name.as_bytes(),
        kind,
        data: b"",
        link: Some(link.as_bytes()),
    }
}

/// `.zoo/files.json` listing `files` as `(path, content, external)`.
pub fn listing_json(files: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let files: Vec<FileEntry> = files
        .iter()
        .map(|(path, data, external)| FileEntry {
            path: path.to_string(),
            size: data.len() as u64,
            sha256: sha256_hex(data),
            external: *external,
        })
        .collect();
    listing_of(files)
}

fn listing_of(mut files: Vec<FileEntry>) -> Vec<u8> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    serde_json::to_vec(&FileList { files }).expect("a file list serializes")
}

fn header(raw: &Raw, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    let old = header.as_old_mut();
    old.name[..raw.name.len()].copy_from_slice(raw.name);
    if let Some(link) = raw.link {
        old.linkname[..link.len()].copy_from_slice(link);
    }
    header.set_entry_type(raw.kind);
    header.set_size(size);
    header.set_mode(if raw.kind.is_dir() { 0o755 } else { 0o644 });
    header.set_cksum();
    header
}

/// A gzip tar of `entries`, in order, with their names taken verbatim.
pub fn build(entries: &[Raw]) -> Vec<u8> {
    build_with_tail(entries, None)
}

/// Like [`build`], then one more regular file `name` of `size` bytes read from
/// `content` (for archives too large to hold in memory decompressed).
fn build_with_tail(entries: &[Raw], tail: Option<(&str, u64, &mut dyn std::io::Read)>) -> Vec<u8> {
    let level = if tail.is_some() { 1 } else { 6 };
    let gz = flate2::GzBuilder::new().write(Vec::new(), Compression::new(level));
    let mut builder = tar::Builder::new(gz);
    for raw in entries {
        builder
            .append(&header(raw, raw.data.len() as u64), raw.data)
            .expect("writing to memory");
    }
    if let Some((name, size, content)) = tail {
        builder
            .append(&header(&file(name, b""), size), content)
            .expect("writing to memory");
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .expect("writing to memory")
}

/// A valid listing + `manifest` (as `zoo.toml`) that also lists `extra`
/// in-archive files, followed by `tail`.
pub fn with_listing(manifest: &str, extra: &[(&str, &[u8])], tail: &[Raw]) -> Vec<u8> {
    let mut listed: Vec<(&str, &[u8], bool)> = vec![("zoo.toml", manifest.as_bytes(), false)];
    listed.extend(extra.iter().map(|(p, d)| (*p, *d, false)));
    let json = listing_json(&listed);
    let mut entries = vec![
        file(FILES_JSON, &json),
        file("zoo.toml", manifest.as_bytes()),
    ];
    entries.extend_from_slice(tail);
    build(&entries)
}

/// One hostile archive and what a reader's refusal must say.
pub struct HostileCase {
    /// Short name of the attack, as SECURITY.md's table lists it.
    pub kind: &'static str,
    /// The entry the error must name (as displayed: lossy UTF-8); empty when
    /// the archive as a whole is refused.
    pub entry: String,
    /// A phrase the error must contain.
    pub says: &'static str,
    pub bytes: Vec<u8>,
}

/// Deterministic incompressible bytes (xorshift seeded by `seed`).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Every kind of hostile archive, each a package with `manifest` as its
/// `zoo.toml` (which must not name a readme). Sized for the default
/// [`super::Limits`]: the entry-count and total-size cases hit those limits.
pub fn hostile_archives(manifest: &str) -> Vec<HostileCase> {
    let defaults = super::Limits::default();
    let m = manifest;
    let escape_rel = format!("{}{}", "../".repeat(12), &ESCAPE_TARGET[1..]);
    let escape_dir = ESCAPE_TARGET.rsplit_once('/').map_or("/", |(d, _)| d);
    let escape_name = &ESCAPE_TARGET[escape_dir.len() + 1..];
    let through_link = format!("escape/{escape_name}");
    let case = |kind, entry: &str, says, bytes| HostileCase {
        kind,
        entry: entry.to_string(),
        says,
        bytes,
    };
    use tar::EntryType::{Block, Char, Fifo, Link, Symlink};
    let mut cases = vec![
        case(
            "`..` component",
            &escape_rel,
            "..",
            with_listing(m, &[], &[file(&escape_rel, b"pwned")]),
        ),
        case(
            "absolute path",
            ESCAPE_TARGET,
            "absolute",
            with_listing(m, &[], &[file(ESCAPE_TARGET, b"pwned")]),
        ),
        case(
            "symlink out (then a file through it)",
            "escape",
            "symlink",
            with_listing(
                m,
                &[(&through_link, b"pwned")],
                &[
                    special("escape", Symlink, escape_dir),
                    file(&through_link, b"pwned"),
                ],
            ),
        ),
        case(
            "symlink inside",
            "inner-link",
            "symlink",
            with_listing(m, &[], &[special("inner-link", Symlink, "zoo.toml")]),
        ),
        case(
            "hard link out (then a file over it)",
            "hard-out",
            "hard link",
            with_listing(
                m,
                &[("hard-out", b"pwned")],
                &[
                    special("hard-out", Link, ESCAPE_TARGET),
                    file("hard-out", b"pwned"),
                ],
            ),
        ),
        case(
            "hard link inside",
            "hard-in",
            "hard link",
            with_listing(m, &[], &[special("hard-in", Link, "zoo.toml")]),
        ),
        case(
            "character device",
            "dev-char",
            "character device",
            with_listing(m, &[], &[special("dev-char", Char, "")]),
        ),
        case(
            "block device",
            "dev-block",
            "block device",
            with_listing(m, &[], &[special("dev-block", Block, "")]),
        ),
        case(
            "FIFO",
            "fifo",
            "FIFO",
            with_listing(m, &[], &[special("fifo", Fifo, "")]),
        ),
        case(
            "duplicate path",
            "a.txt",
            "appears twice",
            with_listing(
                m,
                &[("a.txt", b"a")],
                &[file("a.txt", b"a"), file("a.txt", b"a")],
            ),
        ),
        case(
            "paths differing only in case",
            "A.txt",
            "differs only in case",
            with_listing(
                m,
                &[("a.txt", b"a")],
                &[file("a.txt", b"a"), file("A.txt", b"a")],
            ),
        ),
        case(
            "non-UTF-8 name",
            "caf\u{fffd}.txt",
            "not valid UTF-8",
            with_listing(m, &[], &[raw_file(b"caf\xe9.txt", b"x")]),
        ),
    ];

    // Too many entries: empty directories (no listing needed), one more than
    // the limit counting the listing and zoo.toml.
    let max = defaults.max_entries as usize;
    let dirs: Vec<String> = (0..max).map(|i| format!("d{i:05}")).collect();
    let mut tail: Vec<Raw> = dirs
        .iter()
        .map(|d| Raw {
            name: d.as_bytes(),
            kind: tar::EntryType::Directory,
            data: b"",
            link: None,
        })
        .collect();
    tail.truncate(max - 1);
    cases.push(case(
        "too many entries",
        &dirs[max - 2],
        "entries",
        with_listing(m, &[], &tail),
    ));

    // Too large in total: a listed file larger than the cap, incompressible
    // enough (a noise prefix) that the ratio limit does not trip first. Its
    // listed sha256 is never reached: the cap trips while streaming.
    let size = defaults.max_total_size + (1 << 20);
    let prefix = noise(
        (defaults.max_total_size / defaults.max_ratio) as usize + (1 << 20),
        1,
    );
    let big = FileEntry {
        path: "big.bin".into(),
        size,
        sha256: "0".repeat(64),
        external: false,
    };
    let toml = FileEntry {
        path: "zoo.toml".into(),
        size: m.len() as u64,
        sha256: sha256_hex(m.as_bytes()),
        external: false,
    };
    let json = listing_of(vec![big, toml]);
    let mut content = std::io::Read::chain(
        &prefix[..],
        std::io::Read::take(std::io::repeat(0), size - prefix.len() as u64),
    );
    cases.push(case(
        "too large in total",
        "big.bin",
        "in total",
        build_with_tail(
            &[file(FILES_JSON, &json), file("zoo.toml", m.as_bytes())],
            Some(("big.bin", size, &mut content)),
        ),
    ));

    // Trailing data: 1 MiB of noise after a valid archive's gzip stream.
    let mut trailing = with_listing(m, &[], &[]);
    trailing.extend_from_slice(&noise(1 << 20, 2));
    cases.push(case(
        "trailing data after the gzip stream (1 MiB)",
        "",
        "follows the end of the gzip stream",
        trailing,
    ));

    // Data hidden inside the gzip stream, after the tar's end-of-archive blocks.
    let mut tar = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&with_listing(m, &[], &[])[..]),
        &mut tar,
    )
    .expect("reading memory");
    tar.extend_from_slice(&noise(1 << 16, 5));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
    std::io::Write::write_all(&mut gz, &tar).expect("writing to memory");
    cases.push(case(
        "data after the tar's end, inside the gzip stream (64 KiB)",
        "",
        "follows the end of the tar archive",
        gz.finish().expect("writing to memory"),
    ));

    // A path no file system can hold: 40,000 bytes, listed (as a packer
    // would list it) before its entry is ever reached.
    let long_path = "a/".repeat(20_000) + "x";
    let long_path = &long_path[2..];
    let json = listing_json(&[("zoo.toml", m.as_bytes(), false), (long_path, b"x", false)]);
    cases.push(case(
        "path of 40,000 bytes",
        FILES_JSON,
        "bytes long",
        build(&[file(FILES_JSON, &json), file("zoo.toml", m.as_bytes())]),
    ));

    // A compression bomb: 16 MiB of zeros, about 16 KiB compressed.
    let zeros = vec![0u8; 16 << 20];
    cases.push(case(
        "compression bomb (ratio)",
        "zeros.bin",
        "compression ratio",
        with_listing(m, &[("zeros.bin", &zeros)], &[file("zeros.bin", &zeros)]),
    ));
    cases
}

/// A `Cargo.toml` as cargo packs it, for crate `name` version `vers`.
pub fn cargo_toml(name: &str, vers: &str) -> String {
    format!("[package]\nname = \"{name}\"\nversion = \"{vers}\"\nedition = \"2021\"\n")
}

/// A well-formed `.crate` for `name` `vers` with `Cargo.toml` and
/// `src/lib.rs`, then `tail`.
pub fn crate_with(name: &str, vers: &str, manifest: &str, tail: &[Raw]) -> Vec<u8> {
    let toml_path = format!("{name}-{vers}/Cargo.toml");
    let lib_path = format!("{name}-{vers}/src/lib.rs");
    let mut entries = vec![
        file(&toml_path, manifest.as_bytes()),
        file(&lib_path, b"pub fn f() {}\n"),
    ];
    entries.extend_from_slice(tail);
    build(&entries)
}

/// Every kind of hostile `.crate` for crate `name` version `vers`: links,
/// devices, escaping paths, a `Cargo.toml` naming another crate or version,
/// data after the gzip stream.
pub fn hostile_crates(name: &str, vers: &str) -> Vec<HostileCase> {
    use tar::EntryType::{Block, Char, Fifo, Link, Symlink};
    let root = format!("{name}-{vers}");
    let good = cargo_toml(name, vers);
    let at = |rest: &str| format!("{root}/{rest}");
    let (passwd, up, hard, chr, blk, fifo) = (
        at("passwd"),
        at("up"),
        at("hard"),
        at("dev-char"),
        at("dev-block"),
        at("fifo"),
    );
    let escape = format!("{root}/../../evil");
    let toml_path = at("Cargo.toml");
    let case = |kind, entry: &str, says, bytes| HostileCase {
        kind,
        entry: entry.to_string(),
        says,
        bytes,
    };
    let mut trailing = crate_with(name, vers, &good, &[]);
    trailing.extend_from_slice(&noise(1 << 20, 4));
    vec![
        case(
            "symlink to /etc/passwd",
            &passwd,
            "symlink",
            crate_with(
                name,
                vers,
                &good,
                &[special(&passwd, Symlink, "/etc/passwd")],
            ),
        ),
        case(
            "symlink to ../../..",
            &up,
            "symlink",
            crate_with(name, vers, &good, &[special(&up, Symlink, "../../..")]),
        ),
        case(
            "hard link",
            &hard,
            "hard link",
            crate_with(name, vers, &good, &[special(&hard, Link, &toml_path)]),
        ),
        case(
            "character device",
            &chr,
            "character device",
            crate_with(name, vers, &good, &[special(&chr, Char, "")]),
        ),
        case(
            "block device",
            &blk,
            "block device",
            crate_with(name, vers, &good, &[special(&blk, Block, "")]),
        ),
        case(
            "FIFO",
            &fifo,
            "FIFO",
            crate_with(name, vers, &good, &[special(&fifo, Fifo, "")]),
        ),
        case(
            "`..` component",
            &escape,
            "..",
            crate_with(name, vers, &good, &[file(&escape, b"pwned")]),
        ),
        case(
            "entry outside `{name}-{vers}/`",
            "other-0.1.0/src/lib.rs",
            "is not inside",
            crate_with(name, vers, &good, &[file("other-0.1.0/src/lib.rs", b"x")]),
        ),
        case(
            "Cargo.toml naming another crate",
            &toml_path,
            "package.name",
            crate_with(name, vers, &cargo_toml("serde", vers), &[]),
        ),
        case(
            "Cargo.toml naming another version",
            &toml_path,
            "package.version",
            crate_with(name, vers, &cargo_toml(name, "9.9.9"), &[]),
        ),
        case(
            "trailing data after the gzip stream (1 MiB)",
            "",
            "follows the end of the gzip stream",
            trailing,
        ),
    ]
}
