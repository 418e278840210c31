//! Slows down token guessing: a client address that presents too many bad
//! API tokens (malformed, unknown, wrong secret, revoked) within a sliding
//! window is locked out of every token-authenticated request until the
//! oldest of those failures leaves the window.
//!
//! Locking out valid tokens too is deliberate: if only failures were
//! refused, a guesser would still learn which guess is right (its answer
//! differs from 429). Requests without any token are not counted (cargo
//! probes a private registry without one first), nor are anonymous reads.
//!
//! IPv6 clients are keyed by their /64 prefix, since one host usually owns
//! a whole /64. Behind a reverse proxy every client shares the proxy's
//! address: pass `--auth-failures-per-minute 0` there and limit at the proxy.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per address within [`DEFAULT_WINDOW`].
pub const DEFAULT_MAX_FAILURES: u32 = 10;
/// The sliding window over which failures are counted.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked addresses, idle ones are forgotten.
const PRUNE_ABOVE: usize = 4096;

/// Per-address counts of recent authentication failures.
#[derive(Debug)]
pub struct AuthLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Default for AuthLimiter {
    fn default() -> Self {
        AuthLimiter::new(DEFAULT_MAX_FAILURES, DEFAULT_WINDOW)
    }
}

impl AuthLimiter {
    /// At most `max_failures` failures per `window` per address; 0 disables
    /// the limit.
    pub fn new(max_failures: u32, window: Duration) -> AuthLimiter {
        AuthLimiter {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long `client` must wait if it is locked out at `now`.
    pub fn locked_out(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        if self.max_failures == 0 {
            return None;
        }
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let recent = failures.get_mut(&key(client))?;
        self.forget_old(recent, now);
        (recent.len() >= self.max_failures as usize)
            .then(|| recent.front().map(|&oldest| oldest + self.window - now))
            .flatten()
    }

    /// Counts a failed attempt by `client` at `now`.
    pub fn record_failure(&self, client: IpAddr, now: Instant) {
        if self.max_failures == 0 {
            return;
        }
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > PRUNE_ABOVE {
            failures.retain(|_, recent| {
                recent
                    .back()
                    .is_some_and(|&last| now.saturating_duration_since(last) < self.window)
            });
        }
        let recent = failures.entry(key(client)).or_default();
        self.forget_old(recent, now);
        recent.push_back(now);
        // Only the newest `max_failures` matter for the lock-out.
        while recent.len() > self.max_failures as usize {
            recent.pop_front();
        }
    }

    fn forget_old(&self, recent: &mut VecDeque<Instant>, now: Instant) {
        while recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.window)
        {
            recent.pop_front();
        }
    }
}

/// The address limits are kept for: IPv4 as is (also when IPv4-mapped),
/// IPv6 by its /64 prefix.
fn key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// Whole seconds for a `Retry-After` header (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn locks_out_after_the_limit_until_the_oldest_failure_expires() {
        let limiter = AuthLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.locked_out(A, t0), None, "failure {i}");
            limiter.record_failure(A, t0 + Duration::from_secs(i * 10));
        }
        let now = t0 + Duration::from_secs(25);
        assert_eq!(limiter.locked_out(A, now), Some(Duration::from_secs(35)));
        assert_eq!(limiter.locked_out(B, now), None, "other addresses are free");
        // The first failure leaves the window at t0 + 60 s: one more try.
        assert_eq!(limiter.locked_out(A, t0 + Duration::from_secs(60)), None);
        limiter.record_failure(A, t0 + Duration::from_secs(61));
        assert!(
            limiter
                .locked_out(A, t0 + Duration::from_secs(62))
                .is_some()
        );
    }

    #[test]
    fn zero_disables_and_ipv6_is_keyed_by_its_64_prefix() {
        let off = AuthLimiter::new(0, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..100 {
            off.record_failure(A, now);
        }
        assert_eq!(off.locked_out(A, now), None);

        let limiter = AuthLimiter::new(1, Duration::from_secs(60));
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        limiter.record_failure(one, now);
        assert!(limiter.locked_out(same_net, now).is_some());
        assert!(limiter.locked_out(other_net, now).is_none());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        limiter.record_failure(mapped, now);
        assert!(limiter.locked_out(A, now).is_some());
    }

    #[test]
    fn idle_addresses_are_forgotten() {
        let limiter = AuthLimiter::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE as u32 {
            limiter.record_failure(IpAddr::V4(i.into()), t0);
        }
        limiter.record_failure(A, t0 + Duration::from_secs(5));
        assert_eq!(limiter.failures.lock().unwrap().len(), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
