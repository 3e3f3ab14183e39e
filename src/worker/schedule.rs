//! When each device's next heartbeat is due: on its own schedule, one period after its last
//! one, so devices paired at different times beat at different times instead of all at once
//! every period. A sweep of the whole list (devices paired by another process included) runs
//! at least once a period too.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::registry::DeviceKey;

/// Heartbeats due within this part of a period are sent together with the one that is due,
/// so that devices with nearby schedules share a round (and a registry read).
const BATCH_FRACTION: u32 = 10;

/// Which devices a heartbeat round takes.
#[derive(Debug, Clone)]
pub enum Round {
    /// Those whose heartbeat is due (the schedule's own rounds).
    Due,
    /// All of them (after waking from sleep).
    All,
    /// This one, now (after a pairing or an operation: "online" within seconds).
    Only(DeviceKey),
}

impl Round {
    /// Whether this round takes `key`, by `schedule` at `now`.
    pub fn takes(&self, key: &DeviceKey, schedule: &Schedule, now: Instant) -> bool {
        match self {
            Self::Due => schedule.is_due(key, now),
            Self::All => true,
            Self::Only(only) => only == key,
        }
    }
}

/// The heartbeat schedule of the devices in the list.
#[derive(Debug)]
pub struct Schedule {
    every: Duration,
    /// When each device's last heartbeat was started (or passed over, when it could not go).
    beaten: HashMap<DeviceKey, Instant>,
    /// When the last round over the whole list ran; `None` before the first.
    swept: Option<Instant>,
    /// A round is on its way (the list is being read): no other is started meanwhile.
    pending: bool,
}

impl Schedule {
    /// A schedule with heartbeats `every` apart; the first round is due at once.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            beaten: HashMap::new(),
            swept: None,
            pending: false,
        }
    }

    /// When the next round is due (far ahead while one is on its way).
    pub fn next(&self, now: Instant) -> Instant {
        if self.pending {
            return now + self.every;
        }
        let Some(swept) = self.swept else {
            return now;
        };
        self.beaten
            .values()
            .map(|at| *at + self.every)
            .fold(swept + self.every, Instant::min)
    }

    /// A round was started (its list is being read).
    pub fn started(&mut self) {
        self.pending = true;
    }

    /// A round is over, or could not run: the next comes at the latest a period later. Drops
    /// the schedules of devices no longer in `listed`.
    pub fn swept<'a>(&mut self, now: Instant, listed: impl IntoIterator<Item = &'a DeviceKey>) {
        let listed: std::collections::HashSet<&DeviceKey> = listed.into_iter().collect();
        self.beaten.retain(|key, _| listed.contains(key));
        self.swept = Some(now);
        self.pending = false;
    }

    /// Whether `key`'s heartbeat is due at `now` (or close enough to share this round).
    pub fn is_due(&self, key: &DeviceKey, now: Instant) -> bool {
        let slack = self.every / BATCH_FRACTION;
        self.beaten
            .get(key)
            .is_none_or(|at| now + slack >= *at + self.every)
    }

    /// `key`'s heartbeat was started at `now` (or passed over: it is not tried again before
    /// its next period).
    pub fn beaten(&mut self, key: &DeviceKey, now: Instant) {
        self.beaten.insert(key.clone(), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> DeviceKey {
        DeviceKey {
            id: crate::device::DeviceId::parse(id).unwrap(),
            host: "api.frame.io:443".into(),
        }
    }

    #[test]
    fn each_device_beats_a_period_after_its_last_beat() {
        let every = Duration::from_secs(120);
        let start = Instant::now();
        let mut schedule = Schedule::new(every);
        assert_eq!(schedule.next(start), start, "the first round at once");
        schedule.started();
        assert_eq!(
            schedule.next(start),
            start + every,
            "no round while one runs"
        );
        let (a, b) = (key("CAM-A"), key("CAM-B"));
        assert!(schedule.is_due(&a, start));
        schedule.beaten(&a, start);
        schedule.swept(start, [&a]);
        // B is paired 50 s later and beats at once (an explicit beat, not a round).
        let paired = start + Duration::from_secs(50);
        schedule.beaten(&b, paired);
        assert_eq!(schedule.next(paired), start + every, "A's turn first");
        let a_turn = start + every;
        assert!(schedule.is_due(&a, a_turn) && !schedule.is_due(&b, a_turn));
        schedule.started();
        schedule.beaten(&a, a_turn);
        schedule.swept(a_turn, [&a, &b]);
        assert_eq!(
            schedule.next(a_turn),
            paired + every,
            "then B's, on its own"
        );
    }

    #[test]
    fn nearby_schedules_share_a_round_and_gone_devices_are_dropped() {
        let every = Duration::from_secs(120);
        let start = Instant::now();
        let mut schedule = Schedule::new(every);
        let (a, b) = (key("CAM-A"), key("CAM-B"));
        schedule.beaten(&a, start);
        schedule.beaten(&b, start + Duration::from_secs(5));
        schedule.swept(start, [&a, &b]);
        assert!(
            schedule.is_due(&b, start + every),
            "5 s apart: one round for both"
        );
        schedule.swept(start, [&a]);
        assert_eq!(schedule.next(start), start + every);
        assert!(schedule.is_due(&b, start), "a device listed again is due");
    }
}
