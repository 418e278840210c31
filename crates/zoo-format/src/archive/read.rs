//! Reading untrusted archives: listing-checked, capped, never writing outside
//! the staging directory.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::bufread::GzDecoder;

use super::{ArchiveError, FILES_JSON, FileEntry, FileList, entry_error};
use crate::checksum::{HashingReader, is_sha256_hex, sha256_hex};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::relpath::validate_rel_path;
/// Caps applied while reading an archive from an untrusted source.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Tar entries (files and directories).
    pub max_entries: u64,
    /// Decompressed bytes of the whole tar stream.
    pub max_total_size: u64,
    /// Decompressed bytes may exceed `max_ratio` × compressed bytes by at most
    /// `ratio_slack` (small archives of text compress well and are harmless).
    pub max_ratio: u64,
    pub ratio_slack: u64,
    /// `.zoo/files.json` and `zoo.toml` are read into memory: cap them.
    pub max_metadata_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 10_000,
            max_total_size: 512 << 20,
            max_ratio: 100,
            ratio_slack: 1 << 20,
            max_metadata_size: 4 << 20,
        }
    }
}

/// What an archive holds, checked against its listing.
#[derive(Debug, Clone)]
pub struct Listing {
    pub manifest: Manifest,
    /// The exact text of `zoo.toml`.
    pub manifest_text: String,
    /// Every file of the package (in-archive and external), sorted by path.
    pub files: Vec<FileEntry>,
    /// The readme's text when it is inside the archive and valid UTF-8.
    pub readme: Option<String>,
}

impl Listing {
    pub fn external_files(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(|f| f.external)
    }
}

/// Reads and checks an archive without writing anything: every entry is
/// validated and hashed against `.zoo/files.json`.
pub fn read_listing(reader: impl Read, limits: &Limits) -> Result<Listing, ArchiveError> {
    walk(
        reader,
        limits,
        |_| Ok(()),
        |_, content| io::copy(content, &mut io::sink()).map(|_| ()),
    )
}

/// Reads one in-archive file of an untrusted archive into memory, for a
/// server that shows a published package's files one by one without
/// extracting it. The whole archive is checked as [`read_listing`] checks
/// it (so a corrupted blob is an error, never served), and the wanted
/// file's bytes are capped at `max_size` (an in-archive file may be large
/// when a publisher chose a high external threshold). `Ok(None)` when the
/// archive does not hold `wanted` (absent, or an external file).
pub fn read_member(
    reader: impl Read,
    wanted: &str,
    max_size: u64,
    limits: &Limits,
) -> Result<Option<Vec<u8>>, ArchiveError> {
    let mut found: Option<Vec<u8>> = None;
    walk(
        reader,
        limits,
        |_| Ok(()),
        |path, content| {
            if path != wanted {
                return io::copy(content, &mut io::sink()).map(|_| ());
            }
            let mut bytes = Vec::new();
            content
                .take(max_size.saturating_add(1))
                .read_to_end(&mut bytes)?;
            if bytes.len() as u64 > max_size {
                return Err(io::Error::other(format!(
                    "larger than {max_size} bytes, the most read into memory"
                )));
            }
            found = Some(bytes);
            Ok(())
        },
    )?;
    Ok(found)
}

/// Extracts an archive into `staging_dir` (which must exist and be empty),
/// checking everything [`read_listing`] checks. External files are listed in
/// the result but not created. On error the staging directory may hold part of
/// the package: callers extract into a temporary directory and delete it.
pub fn unpack(
    reader: impl Read,
    staging_dir: &Path,
    limits: &Limits,
) -> Result<Listing, ArchiveError> {
    let io_err = |path: &Path, source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut existing = std::fs::read_dir(staging_dir).map_err(|e| io_err(staging_dir, e))?;
    if existing.next().is_some() {
        return Err(ArchiveError::Package {
            path: staging_dir.to_path_buf(),
            reason: "the staging directory is not empty".into(),
        });
    }
    walk(
        reader,
        limits,
        |rel| {
            let full = staging_dir.join(rel);
            std::fs::create_dir_all(&full)
        },
        |rel, content| {
            let full = staging_dir.join(rel);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&full)?;
            io::copy(content, &mut file)?;
            file.flush()
        },
    )
}

/// Counts compressed bytes and trips when decompressed output runs away.
struct Budget {
    compressed: Cell<u64>,
    decompressed: Cell<u64>,
    tripped: Cell<Option<Tripped>>,
}

/// Which decompression cap an archive ran into.
#[derive(Clone, Copy)]
enum Tripped {
    Total,
    Ratio,
}

struct CountingReader<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.budget
            .compressed
            .set(self.budget.compressed.get() + n as u64);
        Ok(n)
    }
}

struct GuardedReader<R> {
    inner: R,
    budget: Rc<Budget>,
    limits: Limits,
}

impl<R: Read> Read for GuardedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.budget.decompressed.get() + n as u64;
        self.budget.decompressed.set(total);
        let ratio_cap = self
            .limits
            .max_ratio
            .saturating_mul(self.budget.compressed.get())
            .saturating_add(self.limits.ratio_slack);
        let tripped = if total > self.limits.max_total_size {
            Some(Tripped::Total)
        } else if total > ratio_cap {
            Some(Tripped::Ratio)
        } else {
            None
        };
        if tripped.is_some() {
            self.budget.tripped.set(tripped);
            return Err(io::Error::other("decompression limit exceeded"));
        }
        Ok(n)
    }
}

/// A gzip stream decoded under [`Limits`]: the compressed and decompressed
/// byte counts, and which cap tripped. Shared by the `.zoo` reader and the
/// `.crate` reader.
pub(super) struct GuardedGzip<R: Read> {
    reader: GuardedReader<GzDecoder<BufReader<CountingReader<R>>>>,
    budget: Rc<Budget>,
    limits: Limits,
}

impl<R: Read> GuardedGzip<R> {
    pub(super) fn new(reader: R, limits: &Limits) -> Self {
        let budget = Rc::new(Budget {
            compressed: Cell::new(0),
            decompressed: Cell::new(0),
            tripped: Cell::new(None),
        });
        let counting = CountingReader {
            inner: reader,
            budget: budget.clone(),
        };
        GuardedGzip {
            reader: GuardedReader {
                inner: GzDecoder::new(BufReader::new(counting)),
                budget: budget.clone(),
                limits: limits.clone(),
            },
            budget,
            limits: limits.clone(),
        }
    }

    /// The decompressed stream.
    pub(super) fn reader(&mut self) -> &mut impl Read {
        &mut self.reader
    }

    /// Turns a read error into a limit error when a cap tripped.
    pub(super) fn error(&self, entry: Option<&str>, source: io::Error) -> ArchiveError {
        Self::limit_or_read(&self.budget, &self.limits, entry, source)
    }

    /// [`GuardedGzip::error`] as a closure that does not borrow the stream,
    /// for use while the tar reader holds it.
    pub(super) fn explainer(&self) -> impl Fn(Option<&str>, io::Error) -> ArchiveError + use<R> {
        let (budget, limits) = (self.budget.clone(), self.limits.clone());
        move |entry, source| Self::limit_or_read(&budget, &limits, entry, source)
    }

    fn limit_or_read(
        budget: &Budget,
        limits: &Limits,
        entry: Option<&str>,
        source: io::Error,
    ) -> ArchiveError {
        let reason = match budget.tripped.get() {
            None => {
                return ArchiveError::Read {
                    entry: entry.map(str::to_string),
                    source,
                };
            }
            Some(Tripped::Total) => format!(
                "more than {} bytes decompressed in total",
                limits.max_total_size
            ),
            Some(Tripped::Ratio) => format!(
                "a compression ratio above {}:1 (possible decompression bomb)",
                limits.max_ratio
            ),
        };
        ArchiveError::Limit {
            entry: entry.map(str::to_string),
            reason,
        }
    }

    /// Reads the gzip stream to its end, so its CRC and length trailer are
    /// checked (a truncated or corrupted download must not pass), and
    /// refuses anything after it: trailing bytes (or a second gzip member)
    /// would be stored and served without ever being checked. Inside the
    /// stream, only zero padding may follow the tar's end.
    pub(super) fn finish(mut self) -> Result<(), ArchiveError> {
        let mut chunk = [0u8; 8192];
        loop {
            let n = self
                .reader
                .read(&mut chunk)
                .map_err(|e| self.error(None, e))?;
            if n == 0 {
                break;
            }
            if chunk[..n].iter().any(|&b| b != 0) {
                return Err(ArchiveError::Invalid(
                    "data follows the end of the tar archive inside the gzip stream".into(),
                ));
            }
        }
        let trailing = self
            .reader
            .inner
            .get_mut()
            .fill_buf()
            .map_err(|e| ArchiveError::Read {
                entry: None,
                source: e,
            })?;
        if !trailing.is_empty() {
            return Err(ArchiveError::Invalid(
                "data follows the end of the gzip stream (an archive is one gzip member and \
                 nothing after it)"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Refuses every tar entry type but regular files and directories.
pub(super) fn refuse_special_entry(path: &str, t: tar::EntryType) -> ArchiveError {
    entry_error(
        path,
        format!(
            "is a {}; archives may hold only regular files and directories",
            describe_entry_type(t)
        ),
    )
}

/// The shared entry walker behind [`read_listing`] and [`unpack`].
fn walk<R: Read>(
    reader: R,
    limits: &Limits,
    mut on_dir: impl FnMut(&str) -> io::Result<()>,
    mut on_file: impl FnMut(&str, &mut dyn Read) -> io::Result<()>,
) -> Result<Listing, ArchiveError> {
    let mut gzip = GuardedGzip::new(reader, limits);
    let listing = walk_tar(&mut gzip, limits, &mut on_dir, &mut on_file)?;
    gzip.finish()?;
    Ok(listing)
}

fn walk_tar<R: Read>(
    gzip: &mut GuardedGzip<R>,
    limits: &Limits,
    on_dir: &mut dyn FnMut(&str) -> io::Result<()>,
    on_file: &mut dyn FnMut(&str, &mut dyn Read) -> io::Result<()>,
) -> Result<Listing, ArchiveError> {
    let read_error = gzip.explainer();
    let guarded = &mut gzip.reader;
    let mut archive = tar::Archive::new(guarded);
    let entries = archive.entries().map_err(|e| read_error(None, e))?;

    let mut state = WalkState::default();
    let mut last_entry: Option<String> = None;
    let mut count = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| read_error(last_entry.as_deref(), e))?;
        count += 1;
        let raw_path = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw_path).into_owned();
        last_entry = Some(display.clone());
        if count > limits.max_entries {
            return Err(ArchiveError::Limit {
                entry: Some(display),
                reason: format!("more than {} entries", limits.max_entries),
            });
        }
        let Ok(path) = std::str::from_utf8(&raw_path) else {
            return Err(entry_error(&display, "the name is not valid UTF-8"));
        };
        let entry_type = entry.header().entry_type();
        match entry_type {
            tar::EntryType::Directory => {
                let dir = path.strip_suffix('/').unwrap_or(path);
                validate_rel_path(dir).map_err(|reason| entry_error(path, reason))?;
                state.check_dir(dir)?;
                on_dir(dir).map_err(|source| ArchiveError::Io {
                    path: PathBuf::from(dir),
                    source,
                })?;
            }
            tar::EntryType::Regular => {
                validate_rel_path(path).map_err(|reason| entry_error(path, reason))?;
                let declared = entry
                    .header()
                    .size()
                    .map_err(|e| read_error(Some(path), e))?;
                let path = path.to_string();
                state.file_entry(&path, declared, limits, &mut entry, on_file, &read_error)?;
            }
            other => return Err(refuse_special_entry(path, other)),
        }
    }
    state.finish()
}

fn describe_entry_type(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        tar::EntryType::Continuous => "contiguous file",
        tar::EntryType::GNUSparse => "sparse file",
        tar::EntryType::XGlobalHeader => "global pax header",
        _ => "special entry",
    }
}

/// The listing from `.zoo/files.json`, indexed for lookups.
#[derive(Default)]
struct Listed {
    files: Vec<FileEntry>,
    by_path: HashMap<String, usize>,
    /// Lowercased file paths and their ancestor directories.
    lower_files: HashSet<String>,
    lower_dirs: HashSet<String>,
}

#[derive(Default)]
struct WalkState {
    listed: Listed,
    have_listing: bool,
    manifest: Option<(Manifest, String)>,
    readme: Option<String>,
    seen_files: HashSet<String>,
    seen_lower: HashMap<String, String>,
    seen_dirs: HashSet<String>,
}

impl WalkState {
    fn check_dir(&mut self, dir: &str) -> Result<(), ArchiveError> {
        let lower = dir.to_lowercase();
        if self.have_listing && self.listed.lower_files.contains(&lower) {
            return Err(entry_error(
                dir,
                "is a directory but the listing has a file there",
            ));
        }
        if self.seen_lower.contains_key(&lower) {
            return Err(entry_error(
                dir,
                "is a directory but a file of that name came before",
            ));
        }
        if !self.seen_dirs.insert(lower) {
            return Err(entry_error(dir, "appears twice"));
        }
        Ok(())
    }

    fn file_entry(
        &mut self,
        path: &str,
        declared: u64,
        limits: &Limits,
        entry: &mut dyn Read,
        on_file: &mut dyn FnMut(&str, &mut dyn Read) -> io::Result<()>,
        read_error: &dyn Fn(Option<&str>, io::Error) -> ArchiveError,
    ) -> Result<(), ArchiveError> {
        if !self.have_listing {
            if path != FILES_JSON {
                return Err(entry_error(
                    path,
                    format!("the first file of an archive must be `{FILES_JSON}`"),
                ));
            }
            let bytes = read_small(entry, declared, limits, path, read_error)?;
            self.listed = parse_listing(&bytes)?;
            self.have_listing = true;
            return Ok(());
        }
        if path == FILES_JSON {
            return Err(entry_error(path, "appears twice"));
        }
        if path.starts_with(".zoo/") {
            return Err(entry_error(
                path,
                "`.zoo/` is reserved for zoo's own metadata",
            ));
        }
        let lower = path.to_lowercase();
        if self.seen_files.contains(path) {
            return Err(entry_error(path, "appears twice"));
        }
        if let Some(other) = self.seen_lower.get(&lower) {
            return Err(entry_error(
                path,
                format!("differs only in case from `{other}`"),
            ));
        }
        if self.seen_dirs.contains(&lower) {
            return Err(entry_error(
                path,
                "is a file but a directory of that name came before",
            ));
        }
        let Some(&index) = self.listed.by_path.get(path) else {
            return Err(entry_error(
                path,
                format!("is not listed in `{FILES_JSON}`"),
            ));
        };
        let listed = self.listed.files[index].clone();
        if listed.external {
            return Err(entry_error(
                path,
                format!("is marked external in `{FILES_JSON}` but is inside the archive"),
            ));
        }
        if declared != listed.size {
            return Err(entry_error(
                path,
                format!(
                    "is {declared} bytes but `{FILES_JSON}` says {}",
                    listed.size
                ),
            ));
        }
        if self.manifest.is_none() && path != MANIFEST_FILE {
            return Err(entry_error(
                path,
                format!("the second file of an archive must be `{MANIFEST_FILE}`"),
            ));
        }
        self.seen_files.insert(path.to_string());
        self.seen_lower.insert(lower, path.to_string());

        let is_readme = self
            .manifest
            .as_ref()
            .is_some_and(|(m, _)| m.package.readme.as_deref() == Some(path));
        let io_fail = |source| ArchiveError::Io {
            path: PathBuf::from(path),
            source,
        };
        let (sha256, size) = if path == MANIFEST_FILE || is_readme {
            let bytes = read_small(entry, declared, limits, path, read_error)?;
            on_file(path, &mut &bytes[..]).map_err(io_fail)?;
            let digest = sha256_hex(&bytes);
            let size = bytes.len() as u64;
            if path == MANIFEST_FILE {
                let text = String::from_utf8(bytes)
                    .map_err(|_| entry_error(path, "is not valid UTF-8"))?;
                let manifest = Manifest::from_toml_str_named(&text, MANIFEST_FILE)?;
                self.check_manifest_files(&manifest)?;
                self.manifest = Some((manifest, text));
            } else {
                self.readme = String::from_utf8(bytes).ok();
            }
            (digest, size)
        } else {
            // Errors reaching `on_file` come from the archive (reading) or from
            // the destination (writing); `FailFlag` tells which.
            let mut hashing = HashingReader::new(FailFlag {
                inner: entry,
                failed: false,
            });
            let result = on_file(path, &mut hashing);
            if let Err(e) = result {
                let (flagged, _, _) = hashing.finish();
                return Err(if flagged.failed {
                    read_error(Some(path), e)
                } else {
                    io_fail(e)
                });
            }
            io::copy(&mut hashing, &mut io::sink()).map_err(|e| read_error(Some(path), e))?;
            hashing.finish_hex()
        };
        if size != listed.size || sha256 != listed.sha256 {
            return Err(entry_error(
                path,
                format!(
                    "content (sha256 {sha256}, {size} bytes) does not match `{FILES_JSON}` \
                     (sha256 {}, {} bytes)",
                    listed.sha256, listed.size
                ),
            ));
        }
        Ok(())
    }

    /// Files named by the manifest must be in the listing; weights must be external.
    fn check_manifest_files(&self, manifest: &Manifest) -> Result<(), ArchiveError> {
        manifest.check_files(MANIFEST_FILE, |p| self.listed.by_path.contains_key(p))?;
        for source in manifest.model.iter().flat_map(|m| m.sources.iter()) {
            if self.listed.by_path.contains_key(source.produces.as_str()) {
                return Err(entry_error(
                    &source.produces,
                    "is made at install from [[model.sources]]; the package must not carry it",
                ));
            }
        }
        for weights in manifest.model.iter().flat_map(|m| m.weights.iter()) {
            if let Some(&i) = self.listed.by_path.get(weights.as_str())
                && !self.listed.files[i].external
            {
                return Err(entry_error(
                    weights,
                    "weights files must be external blobs, not inside the archive",
                ));
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Listing, ArchiveError> {
        if !self.have_listing {
            return Err(ArchiveError::Invalid(format!("`{FILES_JSON}` is missing")));
        }
        let Some((manifest, manifest_text)) = self.manifest else {
            return Err(ArchiveError::Invalid(format!(
                "`{MANIFEST_FILE}` is missing"
            )));
        };
        if let Some(missing) = self
            .listed
            .files
            .iter()
            .find(|f| !f.external && !self.seen_files.contains(&f.path))
        {
            return Err(entry_error(
                &missing.path,
                format!("is listed in `{FILES_JSON}` but not in the archive"),
            ));
        }
        Ok(Listing {
            manifest,
            manifest_text,
            files: self.listed.files,
            readme: self.readme,
        })
    }
}

/// Remembers whether reading from the archive failed.
struct FailFlag<'a> {
    inner: &'a mut dyn Read,
    failed: bool,
}

impl Read for FailFlag<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}

/// Reads a metadata entry into memory, refusing oversized ones up front.
fn read_small(
    entry: &mut dyn Read,
    declared: u64,
    limits: &Limits,
    path: &str,
    read_error: &dyn Fn(Option<&str>, io::Error) -> ArchiveError,
) -> Result<Vec<u8>, ArchiveError> {
    if declared > limits.max_metadata_size {
        return Err(ArchiveError::Limit {
            entry: Some(path.to_string()),
            reason: format!(
                "{declared} bytes; metadata files may be at most {} bytes",
                limits.max_metadata_size
            ),
        });
    }
    let mut bytes = Vec::with_capacity(declared as usize);
    entry
        .take(limits.max_metadata_size + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(Some(path), e))?;
    Ok(bytes)
}

/// Parses and checks `.zoo/files.json`: safe unique paths, sorted, canonical
/// hashes, no file/directory clashes, and `zoo.toml` listed inside the archive.
fn parse_listing(bytes: &[u8]) -> Result<Listed, ArchiveError> {
    let bad = |reason: String| entry_error(FILES_JSON, reason);
    let list: FileList =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("is not a valid file list: {e}")))?;
    let mut listed = Listed::default();
    let mut previous: Option<&str> = None;
    for (i, file) in list.files.iter().enumerate() {
        validate_rel_path(&file.path).map_err(|r| bad(format!("files[{i}].path: {r}")))?;
        if file.path.starts_with(".zoo/") {
            return Err(bad(format!("files[{i}].path: `.zoo/` is reserved")));
        }
        if !is_sha256_hex(&file.sha256) {
            return Err(bad(format!(
                "files[{i}].sha256 of `{}` is not 64 lowercase hex digits",
                file.path
            )));
        }
        if previous.is_some_and(|p| p >= file.path.as_str()) {
            return Err(bad(format!(
                "files[{i}] `{}` is out of order or duplicated (the list is sorted by path)",
                file.path
            )));
        }
        previous = Some(&file.path);
        let lower = file.path.to_lowercase();
        if listed.lower_dirs.contains(&lower) || !listed.lower_files.insert(lower.clone()) {
            return Err(bad(format!(
                "`{}` clashes with another path (paths differing only in case, or a file \
                 where a directory is)",
                file.path
            )));
        }
        let mut ancestor = lower.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if listed.lower_files.contains(parent) {
                return Err(bad(format!(
                    "`{}` lies below the file `{parent}`",
                    file.path
                )));
            }
            listed.lower_dirs.insert(parent.to_string());
            ancestor = parent;
        }
        listed.by_path.insert(file.path.clone(), i);
    }
    match listed.by_path.get(MANIFEST_FILE) {
        Some(&i) if !list.files[i].external => {}
        Some(_) => return Err(bad(format!("`{MANIFEST_FILE}` must not be external"))),
        None => return Err(bad(format!("does not list `{MANIFEST_FILE}`"))),
    }
    listed.files = list.files;
    Ok(listed)
}
