//! When to try an upload's part or call again: capped exponential back-off with jitter on
//! network errors, stalls, timeouts, 5xx and 429 (whose `Retry-After` is honoured, clamped);
//! past the policy's tries, a network that is gone is waited for without end, tried ever
//! more slowly up to once a minute; and the endless checks while a device is paused.
//!
//! Hand-written rather than a retry crate's loop (`backon`, `backoff`): each failure kind
//! takes its own next step (see `tries`) — a 401 refreshes once (`with_access`), a 409
//! Channel Paused parks the file, a lost answer to a create is retried at most once, a 429
//! waits what the server said — so only the delay formula is shared, and it is these few
//! lines.

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
    /// Longest wait between two tries once the network is taken to be gone (past
    /// `attempts`).
    pub offline_cap: Duration,
}

impl Default for RetryPolicy {
    /// 1 s doubling to 30 s, 8 tries (about 90 s of waiting in all), then the network is
    /// taken to be gone and tried at most a minute apart; `Retry-After` up to 5 min, a paused
    /// device checked again at most every 30 s.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            attempts: 8,
            max_retry_after: Duration::from_secs(300),
            paused_cap: Duration::from_secs(30),
            offline_cap: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after failure number `failures` (1 for the first): `first · 2^(failures-1)`
    /// capped at `cap`, of which a random half is taken off ("equal jitter", so that many
    /// devices cut off together do not come back together); at least the server's
    /// `Retry-After`, clamped to `max_retry_after`.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let jittered = jittered(self.backoff(failures, self.cap));
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after)),
            None => jittered,
        }
    }

    /// The wait after failure number `failures` once the network is taken to be gone: the
    /// same doubling with jitter, up to `offline_cap`.
    pub fn offline_delay(&self, failures: u32) -> Duration {
        jittered(self.backoff(failures, self.offline_cap))
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

/// `wait` with a random part of its second half taken off ("equal jitter").
fn jittered(wait: Duration) -> Duration {
    let half = wait / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis().min(u128::from(u64::MAX)));
    half + Duration::from_millis(u64::try_from(jitter).unwrap_or(u64::MAX))
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
    fn a_network_that_is_gone_is_tried_at_most_a_minute_apart() {
        let policy = RetryPolicy::default();
        for failures in [9, 20, u32::MAX] {
            let wait = policy.offline_delay(failures);
            assert!(
                wait >= Duration::from_secs(30) && wait <= Duration::from_secs(60),
                "{failures}: {wait:?}"
            );
        }
    }

    #[test]
    fn a_paused_device_is_checked_ever_more_slowly_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=7).map(|n| policy.paused_delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    }
}
