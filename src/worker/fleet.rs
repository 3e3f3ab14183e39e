//! The fleet as the window shows it: each recorded device with what the running app has
//! learned about it (online, offline, busy) on top of what the registry says.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::device::refresh_warning;
use crate::keychain::unix_seconds;
use crate::registry::{DeviceRecord, DeviceState};

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
