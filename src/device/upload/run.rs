//! What sending one file works with (`Run`) and how it ends short of arriving (`Stop`):
//! the types the queue hands to the file senders (`whole`, `realtime`) and they to the calls
//! and parts they make.

use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::UploadOptions;
use super::progress::Reporter;
use crate::c2c::C2cClient;
use crate::device::{Context, FailureKind, LifecycleError};
use crate::registry::DeviceRecord;

/// How the sending of one file ended, short of arriving.
#[derive(Debug)]
pub(super) enum Stop {
    /// The queue, or this file alone, was cancelled.
    Cancelled,
    /// The server refused the file as recorded while the device was paused (409 Channel
    /// Paused, confirmed): it is parked, the queue goes on. Why, in plain words.
    Paused(String),
    /// This file cannot be sent; the queue goes on.
    File {
        /// Why, and what to do.
        reason: String,
        /// The exit-code family.
        kind: FailureKind,
    },
    /// The server refused a part's URL (403): the links may be dead.
    LinkRefused(String),
    /// Nothing more can be sent: the queue stops, the rest kept.
    Queue(LifecycleError),
}

impl Stop {
    /// What a device call's final failure stops.
    pub(super) fn from_lifecycle(error: LifecycleError) -> Self {
        match error {
            LifecycleError::Refused { .. } => Self::File {
                reason: error.to_string(),
                kind: error.kind(),
            },
            other => Self::Queue(other),
        }
    }
}

/// What sending one file works with.
pub(super) struct Run<'a> {
    pub(super) ctx: &'a Context,
    /// The client that speaks for the device (its own firmware version, if it has one).
    pub(super) client: &'a C2cClient,
    pub(super) record: &'a DeviceRecord,
    pub(super) options: &'a UploadOptions,
    /// Notified to end every wait at once ("try now").
    pub(super) wake: &'a Notify,
    pub(super) report: Reporter,
    /// Cancelled with the queue, or for this file alone.
    pub(super) stop: CancellationToken,
    /// The server accepted media from this device in this run (an asset was created).
    pub(super) accepted: AtomicBool,
    /// A failure after the file arrived (adding its note) that must still stop the queue:
    /// a refresh whose tokens could not be saved carries them.
    pub(super) deferred: Mutex<Option<LifecycleError>>,
}

impl Run<'_> {
    /// Waits `wait`, or less when asked to try now; an error when cancelled.
    pub(super) async fn wait(&self, wait: Duration) -> Result<(), Stop> {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(Stop::Cancelled),
            () = self.wake.notified() => Ok(()),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }

    /// Resolves once the queue or this file is cancelled.
    pub(super) async fn cancelled(&self) {
        self.stop.cancelled().await;
    }

    /// Keeps an error for the queue to stop on once this file is done.
    pub(super) fn defer(&self, error: LifecycleError) {
        *self.deferred.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}
