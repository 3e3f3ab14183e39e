//! The fleet as the window shows it: each recorded device with what the running app has
//! learned about it (online, offline, busy) on top of what the registry says.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use super::protocol::{Busy, DeviceOp, DeviceView, Event, Status};
use super::schedule::Round;
use super::{FromTask, State};
use crate::clock::unix_seconds;
use crate::device::refresh_warning;
use crate::registry::{DeviceKey, DeviceRecord, DeviceState, Loaded};

/// What this run of the app has learned beyond the registry.
#[derive(Debug, Default)]
pub struct Observed {
    /// Last heartbeat outcome per device: `None` when it went through, else why not.
    pub heartbeats: HashMap<DeviceKey, Option<String>>,
}

impl Observed {
    /// The views of `records`, in registry order, each with what it is `busy` doing.
    pub fn views(
        &self,
        records: Vec<DeviceRecord>,
        busy: impl Fn(&DeviceKey) -> Option<Busy>,
        demo_gone: impl Fn(&DeviceRecord) -> bool,
    ) -> Vec<DeviceView> {
        let now = unix_seconds(SystemTime::now());
        records
            .into_iter()
            .map(|record| {
                let key = record.key();
                let status = match &record.state {
                    DeviceState::HandedOff { handed_off_at } => {
                        Status::HandedOff { at: *handed_off_at }
                    }
                    _ if demo_gone(&record) => Status::DemoGone,
                    DeviceState::NeedsRepairing { reason } => Status::NeedsRepairing {
                        reason: reason.clone(),
                    },
                    DeviceState::UnpairPending { reason } => Status::UnpairPending {
                        reason: reason.clone(),
                    },
                    DeviceState::Paired => match self.heartbeats.get(&key) {
                        None => Status::Paired,
                        Some(None) => Status::Online,
                        Some(Some(reason)) => Status::Offline {
                            reason: reason.clone(),
                        },
                    },
                };
                let warning = match record.state {
                    DeviceState::Paired => refresh_warning(&record, now).map(|w| w.to_string()),
                    _ => None,
                };
                let busy = busy(&key);
                DeviceView {
                    record,
                    status,
                    warning,
                    busy,
                }
            })
            .collect()
    }
}

/// What to do once a fresh device list is in.
pub(super) enum AfterLoad {
    /// Show it, then this line (so that when the user reads "unpaired" the list agrees).
    Show(Option<String>),
    /// Show it and run a heartbeat round over it.
    HeartbeatRound(Round),
    /// Show it, then this line, and send this device's heartbeat now (after a pairing or an
    /// operation: "online" within seconds, not at the next round).
    Beat(DeviceKey, Option<String>),
    /// Show it and start this operation on this device (see [`State::start`]).
    Start(DeviceKey, DeviceOp),
}

impl State {
    /// Reads the registry in a blocking task (the file is locked and may sit on a slow
    /// disk) and reports the list back; [`State::took_devices`] then does `then`.
    pub(super) fn reload_fleet(&mut self, then: AfterLoad) {
        self.fleet_loads = self.fleet_loads.wrapping_add(1);
        let (load, registry) = (self.fleet_loads, self.setup.registry.clone());
        let reports = self.reports.clone();
        tokio::task::spawn_blocking(move || {
            let loaded = registry.load().map_err(|e| e.to_string());
            let _ = reports.send(FromTask::Devices(load, loaded, then));
        });
    }

    /// A device list is in: keeps it (unless a later load already came back), shows it,
    /// then does what it was loaded for.
    pub(super) fn took_devices(
        &mut self,
        load: u64,
        loaded: Result<Loaded, String>,
        then: AfterLoad,
    ) {
        match loaded {
            Ok(loaded) if load >= self.fleet_shown_load => {
                let first = self.fleet_shown_load == 0;
                self.fleet_shown_load = load;
                self.devices = loaded.devices;
                if let Some(note) = loaded.moved_aside {
                    self.outbox.send(Event::Notice(note));
                }
                self.show_fleet();
                if first {
                    // The first list kept: uploads a closed or killed run left go on.
                    self.find_unfinished();
                }
            }
            Ok(_) => {}
            // A round that cannot read the list waits for the next, silently.
            Err(_) if matches!(then, AfterLoad::HeartbeatRound(_)) => {
                let listed: Vec<DeviceKey> = self.devices.iter().map(DeviceRecord::key).collect();
                self.schedule.swept(Instant::now(), &listed);
                return;
            }
            Err(error) => self.outbox.send(Event::Notice(error)),
        }
        match then {
            AfterLoad::Show(Some(line)) => self.outbox.send(Event::Notice(line)),
            AfterLoad::Show(None) => {}
            AfterLoad::HeartbeatRound(round) => self.heartbeat_round(&round),
            AfterLoad::Beat(key, line) => {
                if let Some(line) = line {
                    self.outbox.send(Event::Notice(line));
                }
                self.heartbeat_round(&Round::Only(key));
            }
            AfterLoad::Start(key, op) => self.start_listed(key, op),
        }
    }

    /// Sends the device list as last read, with what this run has observed.
    pub(super) fn show_fleet(&mut self) {
        self.fleet_sent_at = Instant::now();
        let views = self.observed.views(
            self.devices.clone(),
            |key| self.work.busy(key),
            |record| self.demo_gone(record),
        );
        self.outbox.send(Event::Fleet(views));
    }

    /// The record of `key` as last read.
    pub(super) fn record(&self, key: &DeviceKey) -> Option<DeviceRecord> {
        self.devices
            .iter()
            .find(|d| d.is(&key.id, &key.host))
            .cloned()
    }
}
