//! Time per layer type, for finding where a graph's forward pass goes
//! (`zoo-bench package … --profile`). Off by default: when off, a run pays
//! one relaxed atomic load per layer.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ENABLED: AtomicBool = AtomicBool::new(false);
static TOTALS: Mutex<BTreeMap<String, Entry>> = Mutex::new(BTreeMap::new());

/// Calls and wall time spent in one kind of layer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Entry {
    pub calls: u64,
    pub time: Duration,
}

/// Starts (or stops) recording; starting clears what was recorded.
pub fn enable(on: bool) {
    if on && let Ok(mut totals) = TOTALS.lock() {
        totals.clear();
    }
    ENABLED.store(on, Ordering::Relaxed);
}

pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(crate) fn record(kind: &str, time: Duration) {
    if let Ok(mut totals) = TOTALS.lock() {
        let entry = totals.entry(kind.to_string()).or_default();
        entry.calls += 1;
        entry.time += time;
    }
}

/// What was recorded since [`enable`], by layer kind, most time first.
pub fn totals() -> Vec<(String, Entry)> {
    let mut rows: Vec<(String, Entry)> = TOTALS
        .lock()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1.time));
    rows
}
