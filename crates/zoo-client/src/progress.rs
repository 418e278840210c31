//! Progress reporting, kept abstract so the library prints nothing itself;
//! the CLI draws indicatif bars.

use std::sync::Arc;

/// Something that shows progress and notes.
pub trait Progress: Send + Sync {
    /// A new task (a download or upload) of `total` bytes.
    fn start(&self, label: &str, total: u64) -> Arc<dyn Bar>;
    /// A detail shown with `--verbose` (resumed downloads, cache hits…).
    fn note(&self, message: &str);
    /// Something that went wrong but was worked around (a dead mirror),
    /// shown unless `--quiet`.
    fn warn(&self, message: &str) {
        self.note(message);
    }
}

/// One task's progress.
pub trait Bar: Send + Sync {
    /// Sets the bytes done so far (resumed downloads start above zero).
    fn set(&self, done: u64);
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// Shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

struct SilentBar;

impl Bar for SilentBar {
    fn set(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

impl Progress for Silent {
    fn start(&self, _: &str, _: u64) -> Arc<dyn Bar> {
        Arc::new(SilentBar)
    }
    fn note(&self, _: &str) {}
}
