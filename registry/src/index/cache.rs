//! Rendered index documents kept in memory, so that the hot path of an
//! install (one index request per package, mostly answered 304) costs no
//! database query, rendering or hashing.
//!
//! Freshness: this process invalidates a package's entry whenever it changes
//! the package (publish, yank, unyank), after the database commit. A reader
//! that rendered from the database while such a change was committing must
//! not put its older document back, so inserts carry the generation they
//! started from and are dropped when any invalidation happened since. When
//! several processes share one database (replicas), a change made by another
//! process is seen after at most `ttl`. Signed documents also bound the ttl
//! (see `AppState::with_index_cache_ttl`).

use axum::http::HeaderValue;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// One package's index document with its ETag.
#[derive(Debug)]
pub struct CachedDocument {
    pub body: bytes::Bytes,
    pub etag: HeaderValue,
    rendered_at: Instant,
}

/// Where an insert started: see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

#[derive(Debug)]
pub struct IndexCache {
    entries: RwLock<HashMap<String, Arc<CachedDocument>>>,
    generation: AtomicU64,
    ttl: Option<Duration>,
    capacity: usize,
}

impl IndexCache {
    /// `ttl: None` keeps entries until invalidated; `Some(ZERO)` disables the
    /// cache. At `capacity` entries the cache starts over (documents are small
    /// and re-rendered on demand).
    pub fn new(ttl: Option<Duration>, capacity: usize) -> IndexCache {
        IndexCache {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            ttl,
            capacity,
        }
    }

    fn enabled(&self) -> bool {
        self.ttl != Some(Duration::ZERO) && self.capacity > 0
    }

    /// The cached document of `name`, unless missing or older than the ttl.
    pub fn get(&self, name: &str) -> Option<Arc<CachedDocument>> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let document = entries.get(name)?;
        match self.ttl {
            Some(ttl) if document.rendered_at.elapsed() >= ttl => None,
            _ => Some(document.clone()),
        }
    }

    /// Taken before reading the database for a document to insert.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Stores a freshly rendered document unless an invalidation happened
    /// since `ticket` was taken; returns the document either way.
    pub fn insert(
        &self,
        ticket: Ticket,
        name: &str,
        body: bytes::Bytes,
        etag: HeaderValue,
    ) -> Arc<CachedDocument> {
        let document = Arc::new(CachedDocument {
            body,
            etag,
            rendered_at: Instant::now(),
        });
        if !self.enabled() {
            return document;
        }
        if let Ok(mut entries) = self.entries.write() {
            // Checked under the write lock, which `invalidate` also takes.
            if self.generation.load(Ordering::Acquire) == ticket.0 {
                if entries.len() >= self.capacity && !entries.contains_key(name) {
                    entries.clear();
                }
                entries.insert(name.to_string(), document.clone());
            }
        }
        document
    }

    /// Forgets `name` after a change to it has been committed.
    pub fn invalidate(&self, name: &str) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn serves_until_invalidated() {
        let cache = IndexCache::new(None, 8);
        assert!(cache.get("a").is_none());
        let t = cache.ticket();
        cache.insert(t, "a", "one".into(), tag("\"1\""));
        assert_eq!(cache.get("a").unwrap().body, "one");
        cache.invalidate("a");
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn a_render_that_raced_a_change_is_not_kept() {
        let cache = IndexCache::new(None, 8);
        let before_change = cache.ticket();
        cache.invalidate("a"); // a publish committed meanwhile
        cache.insert(before_change, "a", "stale".into(), tag("\"s\""));
        assert!(cache.get("a").is_none());
        let t = cache.ticket();
        cache.insert(t, "a", "fresh".into(), tag("\"f\""));
        assert_eq!(cache.get("a").unwrap().body, "fresh");
    }

    #[test]
    fn ttl_and_disabling() {
        let cache = IndexCache::new(Some(Duration::from_millis(30)), 8);
        let t = cache.ticket();
        cache.insert(t, "a", "x".into(), tag("\"x\""));
        assert!(cache.get("a").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("a").is_none());

        let off = IndexCache::new(Some(Duration::ZERO), 8);
        let t = off.ticket();
        off.insert(t, "a", "x".into(), tag("\"x\""));
        assert!(off.get("a").is_none());
    }

    #[test]
    fn capacity_bounds_memory() {
        let cache = IndexCache::new(None, 2);
        for name in ["a", "b", "c"] {
            let t = cache.ticket();
            cache.insert(t, name, name.to_string().into(), tag("\"t\""));
        }
        assert!(cache.get("c").is_some());
        assert!(cache.get("a").is_none());
    }
}
