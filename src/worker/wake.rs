//! A laptop that slept. Timers run on the monotonic clock, which stops during a suspend,
//! while tokens and codes expire by the wall clock: after a night in a bag every token may be
//! hours past its expiry while the next heartbeat round is still minutes away. A tick every
//! [`TICK`] compares how far each clock moved; the wall clock ahead by more than [`JUMP`]
//! means the computer slept (or its clock was set forward), and the worker checks every
//! device at once (each refreshes once, when due, then sends its heartbeat).

use std::time::{Duration, Instant, SystemTime};

/// How often the clocks are compared.
pub const TICK: Duration = Duration::from_secs(5);
/// How far the wall clock may run ahead of the monotonic one between two ticks before it
/// counts as a sleep (clock corrections by NTP are far smaller).
pub const JUMP: Duration = Duration::from_secs(30);

/// The two clocks as last seen.
#[derive(Debug, Clone, Copy)]
pub struct ClockWatch {
    wall: SystemTime,
    mono: Instant,
}

impl ClockWatch {
    /// Starts watching from these readings.
    pub fn new(wall: SystemTime, mono: Instant) -> Self {
        Self { wall, mono }
    }

    /// How long the computer slept since the last look, if it did (the wall clock moved
    /// more than [`JUMP`] further than the monotonic one).
    pub fn slept(&mut self, wall: SystemTime, mono: Instant) -> Option<Duration> {
        let wall_moved = wall.duration_since(self.wall).unwrap_or_default();
        let mono_moved = mono.saturating_duration_since(self.mono);
        *self = Self::new(wall, mono);
        let gap = wall_moved.saturating_sub(mono_moved);
        (gap > JUMP).then_some(gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_jump_past_the_monotonic_one_is_a_sleep_and_small_drift_is_not() {
        let (wall, mono) = (
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            Instant::now(),
        );
        let mut watch = ClockWatch::new(wall, mono);
        // Awake: both clocks move together (a second of NTP drift is nothing).
        let (wall, mono) = (wall + Duration::from_secs(6), mono + Duration::from_secs(5));
        assert_eq!(watch.slept(wall, mono), None);
        // Nine hours in a bag: the monotonic clock moved five seconds.
        let night = Duration::from_secs(9 * 3600);
        let (wall, mono) = (wall + night + TICK, mono + TICK);
        assert_eq!(watch.slept(wall, mono), Some(night));
        // Once: the next tick is ordinary again.
        let (wall, mono) = (wall + TICK, mono + TICK);
        assert_eq!(watch.slept(wall, mono), None);
        // A clock set back is no sleep.
        assert_eq!(watch.slept(wall - night, mono + TICK), None);
    }
}
