//! When to try an upload's part or call again: capped exponential back-off with jitter on
//! network errors, stalls, timeouts, 5xx and 429 (whose `Retry-After` is honoured, clamped);
//! and the slower, endless checks while a device is paused.
//!
//! Hand-written rather than a retry crate's loop (`backon`, `backoff`): each failure kind
//! takes its own next step here — a 401 refreshes once (`with_access`), a 409 Channel Paused
//! waits without a limit, a 429 waits what the server said — so only the delay formula is
//! shared, and it is these few lines.

use std::time::Duration;

use rand::Rng as _;

/// How patiently an upload retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait (before jitter).
    pub first: Duration,
    /// No wait is longer than this (before `Retry-After`).
    pub cap: Duration,
    /// Tries of one part or call before the failure is final (the first included).
    pub attempts: u32,
    /// Longest `Retry-After` honoured; a server asking for more is waited on this long.
    pub max_retry_after: Duration,
    /// Longest wait between two checks of a paused device.
    pub paused_cap: Duration,
}

impl Default for RetryPolicy {
    /// 1 s doubling to 30 s, 8 tries (about 90 s of waiting in all), `Retry-After` up to
    /// 5 min, a paused device checked again at most every 30 s.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            attempts: 8,
            max_retry_after: Duration::from_secs(300),
            paused_cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failure number `failures` (1 for the first): `first · 2^(failures-1)`
    /// capped at `cap`, of which a random half is taken off ("equal jitter", so that many
    /// devices cut off together do not come back together); at least the server's
    /// `Retry-After`, clamped to `max_retry_after`.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff(failures, self.cap);
        let half = backoff / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis().min(u128::from(u64::MAX)));
        let jittered = half + Duration::from_millis(u64::try_from(jitter).unwrap_or(u64::MAX));
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after)),
            None => jittered,
        }
    }

    /// The wait before check number `checks` (1 for the first) of a paused device: the same
    /// doubling, capped at `paused_cap`, without jitter (one device, one server).
    pub fn paused_delay(&self, checks: u32) -> Duration {
        self.backoff(checks, self.paused_cap)
    }

    /// The longest any one wait can be.
    pub fn longest_wait(&self) -> Duration {
        self.cap.max(self.max_retry_after)
    }

    fn backoff(&self, failures: u32, cap: Duration) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        self.first
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(cap)
            .min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_with_at_most_half_taken_off() {
        let policy = RetryPolicy::default();
        for (failures, full) in [
            (1, 1),
            (2, 2),
            (3, 4),
            (5, 16),
            (6, 30),
            (40, 30),
            (u32::MAX, 30),
        ] {
            let full = Duration::from_secs(full);
            for _ in 0..50 {
                let wait = policy.delay(failures, None);
                assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?}");
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_and_clamped() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(1, Some(Duration::from_secs(20))) >= Duration::from_secs(20));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(86_400))),
            Duration::from_secs(300),
            "a day is cut to five minutes"
        );
    }

    #[test]
    fn a_paused_device_is_checked_ever_more_slowly_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=7).map(|n| policy.paused_delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    }
}
