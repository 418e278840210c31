//! Streaming sha256: wrappers that hash whatever passes through a reader or
//! writer, so content is hashed exactly once while it is copied.

use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Lowercase hex of a sha256 digest.
pub fn to_hex(digest: &[u8; 32]) -> String {
    hex::encode(digest)
}

/// Whether `s` looks like a sha256 in zoo's canonical form: 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A sha256 in zoo's canonical form (64 lowercase hex digits), checked when
/// made, so a value from an index or a receipt can safely become part of a
/// store path: no `/`, no `..`, no absolute path can hide in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Sha256Digest(String);

/// Why a string is not a [`Sha256Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` is not a sha256 (64 lowercase hex digits)", .0.escape_debug())]
pub struct InvalidDigest(pub String);

impl Sha256Digest {
    /// Checks `s` and wraps it.
    pub fn parse(s: &str) -> Result<Sha256Digest, InvalidDigest> {
        if is_sha256_hex(s) {
            Ok(Sha256Digest(s.to_string()))
        } else {
            // Keep messages short whatever a hostile registry sent.
            Err(InvalidDigest(s.chars().take(100).collect()))
        }
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest(sha256_hex(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first two hex digits: the store's fan-out directory.
    pub fn fan_out(&self) -> &str {
        &self.0[..2]
    }
}

impl std::fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Sha256Digest {
    type Err = InvalidDigest;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sha256Digest::parse(s)
    }
}

impl AsRef<str> for Sha256Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Sha256Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for Sha256Digest {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Sha256Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// sha256 of a byte slice, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes).into())
}

/// sha256 and size of everything `reader` yields.
pub fn sha256_reader(reader: impl Read) -> io::Result<(String, u64)> {
    // Read through a 256 KiB buffer, which io::copy uses as it is (its own
    // is 8 KiB): 32 times fewer system calls for a file of hundreds of
    // megabytes, each chunk hashed as it lands.
    let mut hashing = io::BufReader::with_capacity(256 << 10, HashingReader::new(reader));
    io::copy(&mut hashing, &mut io::sink())?;
    Ok(hashing.into_inner().finish_hex())
}

/// sha256 and size of a file, streamed.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    sha256_reader(std::fs::File::open(path)?)
}

/// sha256 and size of an importer's source file, read through a read-only
/// memory map: without `read`'s copy into a buffer the hash of a 553 MB
/// caffemodel took 0.36 s instead of 0.42 s on the 2-core machine, and that
/// hash is an import's longest step. Each hashed piece's pages leave this
/// process's resident set again (the page cache keeps them), so the import's
/// peak memory does not grow by the file.
///
/// Only for files the caller maps anyway (the importers read their sources
/// through maps): like any map, it assumes that nobody truncates the file
/// meanwhile. An empty file, or one that cannot be mapped, is read instead.
pub fn sha256_mapped_file(path: &Path) -> io::Result<(String, u64)> {
    const PIECE: usize = 8 << 20;
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return sha256_reader(file);
    }
    // SAFETY: read-only map; the file is not truncated meanwhile (above).
    let map = match unsafe { memmap2::Mmap::map(&file) } {
        Ok(map) => map,
        Err(_) => return sha256_reader(file),
    };
    let mut hasher = Sha256::new();
    for start in (0..map.len()).step_by(PIECE) {
        let len = PIECE.min(map.len() - start);
        hasher.update(&map[start..start + len]);
        // SAFETY: nothing borrows the map's bytes past this point (the
        // slice above is gone), and the map is read-only and shared:
        // DONTNEED only drops this process's page-table entries, a later
        // read faults the same bytes back in from the page cache. A failure
        // only leaves the pages resident.
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len) };
    }
    Ok((to_hex(&hasher.finalize().into()), map.len() as u64))
}

/// A reader that hashes and counts the bytes read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The inner reader, the digest and the byte count.
    pub fn finish(self) -> (R, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.count)
    }

    /// The digest as hex and the byte count.
    pub fn finish_hex(self) -> (String, u64) {
        let (_, digest, count) = self.finish();
        (to_hex(&digest), count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts the bytes written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.count)
    }

    /// The inner writer, the digest as hex and the byte count.
    pub fn finish_hex(self) -> (W, String, u64) {
        let (inner, digest, count) = self.finish();
        (inner, to_hex(&digest), count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn a_mapped_file_hashes_as_read() {
        let dir = tempfile::tempdir().unwrap();
        // Three 8 MiB pieces and a tail, so that the pieces' seams are hashed.
        let bytes: Vec<u8> = (0..(3 * (8 << 20) + 12_345u32))
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for (name, content) in [("empty", &[][..]), ("abc", b"abc"), ("big", &bytes)] {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let mapped = sha256_mapped_file(&path).unwrap();
            assert_eq!(
                mapped,
                (sha256_hex(content), content.len() as u64),
                "{name}"
            );
            assert_eq!(mapped, sha256_file(&path).unwrap(), "{name}");
        }
        let missing = sha256_mapped_file(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn known_vector() {
        assert_eq!(sha256_hex(b"abc"), ABC);
        assert!(is_sha256_hex(ABC));
        assert!(!is_sha256_hex(&ABC.to_uppercase()));
        assert!(!is_sha256_hex(&ABC[1..]));
    }

    #[test]
    fn digests_are_checked_when_made() {
        let digest = Sha256Digest::parse(ABC).unwrap();
        assert_eq!((digest.as_str(), digest.fan_out()), (ABC, "ba"));
        assert_eq!(Sha256Digest::of(b"abc"), digest);
        let absolute = format!("/tmp/{}", &ABC[5..]);
        let upward = format!("../../{}", &ABC[6..]);
        for bad in [
            "",
            "aa",
            &ABC.to_uppercase(),
            &absolute,
            &upward,
            &format!("{ABC}0"),
        ] {
            assert!(Sha256Digest::parse(bad).is_err(), "{bad}");
            let json = serde_json::to_string(bad).unwrap();
            assert!(
                serde_json::from_str::<Sha256Digest>(&json).is_err(),
                "{bad}"
            );
        }
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(serde_json::from_str::<Sha256Digest>(&json).unwrap(), digest);
    }

    #[test]
    fn reader_and_writer_hash_what_passes() {
        let mut reader = HashingReader::new(&b"abc"[..]);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(reader.finish_hex(), (ABC.to_string(), 3));

        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(b"a").unwrap();
        writer.write_all(b"bc").unwrap();
        let (bytes, hex, n) = writer.finish_hex();
        assert_eq!((bytes.as_slice(), hex.as_str(), n), (&b"abc"[..], ABC, 3));
    }

    #[test]
    fn file_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(sha256_file(&path).unwrap(), (ABC.to_string(), 3));
    }
}
