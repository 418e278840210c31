//! One writer per data directory: `serve` and `import` hold an exclusive
//! lock (`flock` through std's `File::try_lock`) on `DATA/registry.lock`
//! for as long as they run. A second server on the same directory would
//! empty `DATA/tmp` under the first one's uploads at start-up and serve
//! index documents from its own memory while the other changes them, so it
//! is refused with a message naming the directory and the holder.
//!
//! The lock is the kernel's: it goes when the process does (crash
//! included), so a stale lock file never blocks a restart. It is on the
//! local directory only: replicas on a shared PostgreSQL database and
//! bucket each have their own `--data` and do not contend. A SQLite
//! database kept outside the data directory (`--database sqlite://PATH`)
//! gets a lock of its own next to it, since two servers on one SQLite file
//! would each cache the index without seeing the other's changes.
//!
//! `gc` does not take this lock: it is built to run next to a live server
//! (see [`crate::ops::gc`]); it holds `DATA/gc.lock` instead, so that two
//! sweeps do not race each other.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file `serve` and `import` hold in the data directory.
pub const LOCK_FILE: &str = "registry.lock";
/// The lock file `gc` holds.
pub const GC_LOCK_FILE: &str = "gc.lock";

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another zoo-registry process{holder} is using {} (it holds {}); stop it first, or give \
         this one its own --data directory",
        .dir.display(), .file.display()
    )]
    Held {
        dir: PathBuf,
        file: PathBuf,
        /// ` (pid N, serve)` when the holder wrote it, else empty.
        holder: String,
    },
    #[error("{} is a file, not a directory: --data names the registry's data directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("locking {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Refuses a `--data` that names a file (rather than failing later with
/// the OS's "File exists" from creating a directory there).
pub fn check_data_dir(dir: &Path) -> Result<(), LockError> {
    if dir.exists() && !dir.is_dir() {
        return Err(LockError::NotADirectory(dir.to_path_buf()));
    }
    Ok(())
}

/// A held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes `dir/name` exclusively for `purpose` (`serve`, `import`, `gc`),
    /// creating `dir` if needed; refused at once (never waits) when another
    /// process holds it.
    pub fn acquire(dir: &Path, name: &str, purpose: &str) -> Result<DirLock, LockError> {
        check_data_dir(dir)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LockError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder: holder(&mut file),
                    file: path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        // Who holds it, for the next one's message; only informative.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "pid {}, {purpose}", std::process::id()));
        Ok(DirLock { _file: file })
    }

    /// The data directory's writer lock ([`LOCK_FILE`]), plus one beside a
    /// SQLite database kept outside it.
    pub fn data_dir(
        dir: &Path,
        sqlite_elsewhere: Option<&Path>,
        purpose: &str,
    ) -> Result<Vec<DirLock>, LockError> {
        let mut locks = vec![DirLock::acquire(dir, LOCK_FILE, purpose)?];
        if let Some(db) = sqlite_elsewhere {
            let parent = db.parent().filter(|p| !p.as_os_str().is_empty());
            let name = db.file_name().map_or_else(
                || "registry.sqlite3".to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            locks.push(DirLock::acquire(
                parent.unwrap_or(Path::new(".")),
                &format!("{name}.lock"),
                purpose,
            )?);
        }
        Ok(locks)
    }
}

/// ` (pid N, serve)` from a held lock file, if its holder wrote one.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let read = file.take(200).read_to_string(&mut text);
    match (read, text.lines().next()) {
        (Ok(_), Some(line)) if line.starts_with("pid ") => format!(" ({})", line.trim()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), LOCK_FILE, "serve").unwrap();
        let e = DirLock::acquire(dir.path(), LOCK_FILE, "serve").unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, LockError::Held { .. }), "{text}");
        assert!(
            text.contains(&dir.path().display().to_string())
                && text.contains("another zoo-registry process")
                && text.contains(&format!("pid {}, serve", std::process::id())),
            "{text}"
        );
        // Another lock file in the same directory is independent.
        DirLock::acquire(dir.path(), GC_LOCK_FILE, "gc").unwrap();
        drop(first);
        DirLock::acquire(dir.path(), LOCK_FILE, "serve").unwrap();
    }

    #[test]
    fn a_file_is_not_a_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("afile");
        std::fs::write(&file, b"x").unwrap();
        let e = DirLock::acquire(&file, LOCK_FILE, "serve").unwrap_err();
        assert!(e.to_string().contains("is a file, not a directory"), "{e}");
    }
}
