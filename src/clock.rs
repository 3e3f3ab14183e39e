//! Time arithmetic that cannot overflow, and the wall clock in Unix seconds.
//!
//! `Instant + Duration` panics when the sum does not fit, and a server can send any number
//! (`Retry-After: 18446744073709551615`). Every deadline computed from an outside number goes
//! through [`Later::later`], which saturates instead.

use std::time::{Duration, SystemTime};

/// A point in time that can be moved later without panicking.
pub trait Later: Sized + Copy {
    /// `self + by`, or the latest representable point near it when that overflows.
    fn later(self, by: Duration) -> Self;
}

/// A fallback step when `by` does not fit: far beyond any deadline this app keeps.
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

macro_rules! later_by_checked_add {
    ($($t:ty),*) => {$(
        impl Later for $t {
            fn later(self, by: Duration) -> Self {
                self.checked_add(by)
                    .or_else(|| self.checked_add(FAR))
                    .unwrap_or(self)
            }
        }
    )*};
}

later_by_checked_add!(std::time::Instant, tokio::time::Instant, SystemTime);

/// Seconds since the Unix epoch (0 for a clock set before 1970).
pub fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_waits_saturate_instead_of_panicking() {
        let now = tokio::time::Instant::now();
        assert!(now.later(Duration::MAX) > now.later(Duration::from_secs(3600)));
        let std_now = std::time::Instant::now();
        assert!(std_now.later(Duration::MAX) > std_now);
        let wall = SystemTime::now();
        assert!(wall.later(Duration::MAX) >= wall);
        assert_eq!(
            now.later(Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }
}
