//! Admission of uploads: at most `max_per_user` bodies being received per
//! user (so minting more tokens does not help) and `max_concurrent` in all.
//! A permit is held from admission until the body is staged on disk; the
//! checks and storing after that do not count. Refused at once rather than
//! queued, so a slow client cannot line up requests that each hold a
//! connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::db::User;
use crate::http::ApiError;

/// Seconds a refused uploader is told to wait (`Retry-After`).
const RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_user: HashMap<i64, usize>,
}

/// Counts uploads in progress.
#[derive(Debug)]
pub struct UploadGate {
    max_concurrent: usize,
    max_per_user: usize,
    counts: Arc<Mutex<Counts>>,
}

impl Default for UploadGate {
    fn default() -> Self {
        UploadGate::new(super::DEFAULT_MAX_CONCURRENT, super::DEFAULT_MAX_PER_USER)
    }
}

/// One admitted upload; dropping it frees its place.
#[derive(Debug)]
pub struct UploadPermit {
    user: i64,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for UploadPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                counts.per_user.remove(&self.user);
            }
        }
    }
}

impl UploadGate {
    pub fn new(max_concurrent: usize, max_per_user: usize) -> UploadGate {
        UploadGate {
            max_concurrent,
            max_per_user,
            counts: Default::default(),
        }
    }

    /// Admits an upload by `user`: 429 when they already have
    /// `max_per_user` in progress, 503 when the server has `max_concurrent`.
    pub fn admit(&self, user: &User) -> Result<UploadPermit, ApiError> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mine = counts.per_user.get(&user.id).copied().unwrap_or(0);
        if mine >= self.max_per_user {
            return Err(ApiError::too_many_requests(
                format!(
                    "`{}` already has {mine} uploads in progress, the most one user may have \
                     (--max-uploads-per-user {}); retry when one has finished",
                    user.login, self.max_per_user
                ),
                RETRY_AFTER_SECS,
            ));
        }
        if counts.total >= self.max_concurrent {
            let mut refusal = ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the registry has {} uploads in progress, its limit \
                     (--max-concurrent-uploads {}); retry shortly",
                    counts.total, self.max_concurrent
                ),
            );
            refusal.retry_after = Some(RETRY_AFTER_SECS);
            return Err(refusal);
        }
        counts.total += 1;
        *counts.per_user.entry(user.id).or_default() += 1;
        Ok(UploadPermit {
            user: user.id,
            counts: self.counts.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> User {
        User {
            id,
            login: format!("u{id}"),
        }
    }

    #[test]
    fn caps_per_user_then_in_all_and_frees_on_drop() {
        let gate = UploadGate::new(3, 2);
        let a1 = gate.admit(&user(1)).unwrap();
        let _a2 = gate.admit(&user(1)).unwrap();
        let e = gate.admit(&user(1)).unwrap_err();
        assert_eq!(e.status.as_u16(), 429, "{}", e.detail);
        assert!(
            e.detail.contains("--max-uploads-per-user 2"),
            "{}",
            e.detail
        );
        let _b1 = gate.admit(&user(2)).unwrap();
        let e = gate.admit(&user(3)).unwrap_err();
        assert_eq!(e.status.as_u16(), 503, "{}", e.detail);
        assert_eq!(e.retry_after, Some(RETRY_AFTER_SECS));
        drop(a1);
        gate.admit(&user(3)).unwrap();
    }
}
