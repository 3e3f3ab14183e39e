//! The fleet as the window shows it: each recorded device with what the running app has
//! learned about it (online, offline, busy) on top of what the registry says.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use super::actions::Action;
use super::{Event, FromTask, State};
use crate::clock::unix_seconds;
use crate::device::refresh_warning;
use crate::registry::{DeviceRecord, DeviceState, Loaded};

pub use crate::registry::DeviceKey;

/// How a device is doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Paired; no heartbeat answered yet in this run.
    Paired,
    /// The last heartbeat went through.
    Online,
    /// The last heartbeat failed for a reason that may pass (network, server).
    Offline {
        /// What went wrong.
        reason: String,
    },
    /// The server refused the credentials: pair again.
    NeedsRepairing {
        /// What the server said.
        reason: String,
    },
    /// Unpairing waits for the server.
    UnpairPending {
        /// Why the last attempt failed.
        reason: String,
    },
    /// Its credentials were handed to the device: nothing here uses them any more.
    HandedOff {
        /// When, Unix seconds.
        at: u64,
    },
}

impl Status {
    /// A short badge text.
    pub fn badge(&self) -> &'static str {
        match self {
            Self::Paired => "paired",
            Self::Online => "online",
            Self::Offline { .. } => "offline",
            Self::NeedsRepairing { .. } => "needs re-pairing",
            Self::UnpairPending { .. } => "unpair pending",
            Self::HandedOff { .. } => "handed off",
        }
    }
}

/// One device in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    /// What the registry says.
    pub record: DeviceRecord,
    /// How it is doing.
    pub status: Status,
    /// The day-12 warning, if due.
    pub warning: Option<String>,
    /// An action under way ("refreshing…").
    pub busy: Option<&'static str>,
}

/// What this run of the app has learned beyond the registry.
#[derive(Debug, Default)]
pub struct Observed {
    /// Last heartbeat outcome per device: `None` when it went through, else why not.
    pub heartbeats: HashMap<DeviceKey, Option<String>>,
    /// Actions under way.
    pub busy: HashMap<DeviceKey, &'static str>,
}

impl Observed {
    /// The views of `records`, in registry order.
    pub fn views(&self, records: Vec<DeviceRecord>) -> Vec<DeviceView> {
        let now = unix_seconds(SystemTime::now());
        records
            .into_iter()
            .map(|record| {
                let key = record.key();
                let status = match &record.state {
                    DeviceState::NeedsRepairing { reason } => Status::NeedsRepairing {
                        reason: reason.clone(),
                    },
                    DeviceState::UnpairPending { reason } => Status::UnpairPending {
                        reason: reason.clone(),
                    },
                    DeviceState::HandedOff { handed_off_at } => {
                        Status::HandedOff { at: *handed_off_at }
                    }
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
                let busy = self.busy.get(&key).copied();
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
    HeartbeatRound,
    /// Show it and start this action on this device (see [`State::act`]).
    Act(DeviceKey, &'static str, Action),
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
            // A round that cannot read the list waits for the next tick, silently.
            Err(_) if matches!(then, AfterLoad::HeartbeatRound) => return,
            Err(error) => self.outbox.send(Event::Notice(error)),
        }
        match then {
            AfterLoad::Show(Some(line)) => self.outbox.send(Event::Notice(line)),
            AfterLoad::Show(None) => {}
            AfterLoad::HeartbeatRound => self.heartbeat_round(),
            AfterLoad::Act(key, busy, action) => self.act_on_listed(key, busy, action),
        }
    }

    /// Sends the device list as last read, with what this run has observed.
    pub(super) fn show_fleet(&mut self) {
        self.fleet_sent_at = Instant::now();
        let views = self.observed.views(self.devices.clone());
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
