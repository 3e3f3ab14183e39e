//! Whether each device is online, as Frame.io's C2C Connections tab shows it, driven by
//! heartbeats alone.
//!
//! Frame.io's heartbeat reference: the heartbeat drives the online indicator, called at least
//! every 5 minutes; S3 part uploads do not count. An older guide counted every call to
//! api.frame.io; we take the stricter reading (only `POST /v2/devices/heartbeat` counts), so
//! tests prove that a client heartbeats while it uploads rather than getting by on its other
//! calls.
//!
//! No timer runs: each device keeps its last heartbeat and a log of transitions, and a gap
//! longer than the limit between two heartbeats is written into the log when the second one
//! arrives (offline at the first one plus the limit, online again at the second).

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

/// Most transitions kept per device; the oldest make way.
pub const LOG_ENTRIES: usize = 256;

/// One change of a device's online state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// When, Unix milliseconds.
    pub at_unix_ms: u64,
    /// Online from then on (else offline).
    pub online: bool,
}

/// A time the device was offline, Unix milliseconds; `until_unix_ms` is `None` while it still
/// is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// When it went offline.
    pub from_unix_ms: u64,
    /// When it came back, if it has.
    pub until_unix_ms: Option<u64>,
}

/// A device's online state as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Presence {
    /// Its last heartbeat is younger than the limit.
    pub online: bool,
    /// Its last heartbeat, Unix milliseconds; `None` before the first.
    pub last_heartbeat_unix_ms: Option<u64>,
    /// Its transitions, oldest first, ending with the offline one when it is offline now.
    pub online_log: Vec<Transition>,
    /// The times it was offline since its first heartbeat, oldest first.
    pub offline_gaps: Vec<Gap>,
}

#[derive(Debug, Default)]
struct Heartbeats {
    last: Option<u64>,
    log: VecDeque<Transition>,
}

impl Heartbeats {
    fn push(&mut self, at_unix_ms: u64, online: bool) {
        self.log.push_back(Transition { at_unix_ms, online });
        while self.log.len() > LOG_ENTRIES {
            self.log.pop_front();
        }
    }
}

/// Every paired device's heartbeats (the device list bounds it: a device forgotten is
/// forgotten here too).
#[derive(Debug, Default)]
pub struct Online {
    devices: HashMap<String, Heartbeats>,
}

impl Online {
    /// A heartbeat from `client_id` at `now` (Unix ms), with devices going offline
    /// `offline_after` ms after their last heartbeat.
    pub fn heartbeat(&mut self, client_id: &str, now: u64, offline_after: u64) {
        let beats = self.devices.entry(client_id.to_owned()).or_default();
        match beats.last {
            None => beats.push(now, true),
            Some(previous) if now.saturating_sub(previous) > offline_after => {
                beats.push(previous.saturating_add(offline_after), false);
                beats.push(now, true);
            }
            Some(_) => {}
        }
        // A wall clock set back must not make the device look older than it is.
        beats.last = Some(beats.last.map_or(now, |previous| previous.max(now)));
    }

    /// True when the device's last heartbeat is younger than `offline_after` at `now`.
    pub fn is_online(&self, client_id: &str, now: u64, offline_after: u64) -> bool {
        self.devices
            .get(client_id)
            .and_then(|beats| beats.last)
            .is_some_and(|last| now.saturating_sub(last) < offline_after)
    }

    /// The device's state at `now` (Unix ms).
    pub fn presence(&self, client_id: &str, now: u64, offline_after: u64) -> Presence {
        let Some(beats) = self.devices.get(client_id) else {
            return Presence {
                online: false,
                last_heartbeat_unix_ms: None,
                online_log: Vec::new(),
                offline_gaps: Vec::new(),
            };
        };
        let mut online_log: Vec<Transition> = beats.log.iter().copied().collect();
        let online = self.is_online(client_id, now, offline_after);
        if let (false, Some(last)) = (online, beats.last) {
            online_log.push(Transition {
                at_unix_ms: last.saturating_add(offline_after),
                online: false,
            });
        }
        let offline_gaps = gaps(&online_log);
        Presence {
            online,
            last_heartbeat_unix_ms: beats.last,
            online_log,
            offline_gaps,
        }
    }

    /// Forgets a device (it was forgotten or removed).
    pub fn forget(&mut self, client_id: &str) {
        self.devices.remove(client_id);
    }
}

/// Each offline transition to the next online one.
fn gaps(log: &[Transition]) -> Vec<Gap> {
    let mut gaps: Vec<Gap> = Vec::new();
    for transition in log {
        match (transition.online, gaps.last_mut()) {
            (
                false,
                Some(Gap {
                    until_unix_ms: None,
                    ..
                }),
            ) => {}
            (false, _) => gaps.push(Gap {
                from_unix_ms: transition.at_unix_ms,
                until_unix_ms: None,
            }),
            (
                true,
                Some(
                    open @ Gap {
                        until_unix_ms: None,
                        ..
                    },
                ),
            ) => open.until_unix_ms = Some(transition.at_unix_ms),
            (true, _) => {}
        }
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 300_000;

    #[test]
    fn heartbeats_keep_a_device_online_and_a_long_silence_is_a_gap() {
        let mut online = Online::default();
        let before = online.presence("CAM", 1_000, LIMIT);
        assert!(!before.online && before.last_heartbeat_unix_ms.is_none());
        assert!(before.online_log.is_empty() && before.offline_gaps.is_empty());

        online.heartbeat("CAM", 1_000, LIMIT);
        online.heartbeat("CAM", 1_000 + LIMIT, LIMIT); // Exactly the limit: no gap.
        let steady = online.presence("CAM", 1_000 + LIMIT + 10, LIMIT);
        assert!(steady.online);
        assert_eq!(
            steady.online_log,
            [Transition {
                at_unix_ms: 1_000,
                online: true
            }]
        );
        assert!(steady.offline_gaps.is_empty());

        // Silent for longer than the limit: offline at the last beat plus the limit.
        let last = 1_000 + LIMIT;
        let back = last + LIMIT + 5_000;
        online.heartbeat("CAM", back, LIMIT);
        let after = online.presence("CAM", back + 1, LIMIT);
        assert!(after.online);
        assert_eq!(
            after.offline_gaps,
            [Gap {
                from_unix_ms: last + LIMIT,
                until_unix_ms: Some(back)
            }]
        );
        assert_eq!(after.online_log.len(), 3);

        // Read while silent: offline now, with the open gap at the end.
        let now = back + LIMIT;
        let silent = online.presence("CAM", now, LIMIT);
        assert!(!silent.online, "a heartbeat exactly the limit old is stale");
        assert_eq!(
            silent.online_log.last(),
            Some(&Transition {
                at_unix_ms: back + LIMIT,
                online: false
            })
        );
        assert_eq!(
            silent.offline_gaps.last(),
            Some(&Gap {
                from_unix_ms: back + LIMIT,
                until_unix_ms: None
            })
        );
        assert_eq!(silent.last_heartbeat_unix_ms, Some(back));
    }

    #[test]
    fn the_log_is_bounded_and_a_clock_set_back_does_not_age_a_device() {
        let mut online = Online::default();
        let mut at = 0;
        for _ in 0..1_000 {
            at += LIMIT * 2;
            online.heartbeat("CAM", at, LIMIT);
        }
        let presence = online.presence("CAM", at, LIMIT);
        assert_eq!(presence.online_log.len(), LOG_ENTRIES);
        assert!(presence.online);
        online.heartbeat("CAM", at - 50_000, LIMIT);
        assert_eq!(
            online.presence("CAM", at, LIMIT).last_heartbeat_unix_ms,
            Some(at)
        );
        online.forget("CAM");
        assert!(online.presence("CAM", at, LIMIT).online_log.is_empty());
    }
}
