//! What each paired device is doing: one entry per device for the operation under way
//! (refresh, unpair, forget, upload, note, hand-off), with what steers it and a number of its
//! own, so that only the end of that very operation clears it — an operation that ends after
//! it was cancelled and replaced leaves its successor alone.
//!
//! Heartbeats are not entered here: they go on beside an upload, and keep their own set.

use std::collections::HashMap;

use tokio::sync::mpsc as tokio_mpsc;
use tokio_util::sync::CancellationToken;

use super::FromTask;
use super::protocol::{Busy, OpControl};
use crate::device::upload::QueueControls;
use crate::registry::DeviceKey;

/// One operation's number, unique for the worker's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OpId(u64);

/// What steers an operation under way.
#[derive(Debug, Clone)]
pub(super) enum Handle {
    /// Nothing: it runs to its end (a refresh, an unpair, a note, forgetting).
    Unsteered,
    /// An upload queue: cancel, "try now", one file cancelled or sent again.
    Queue(QueueControls),
    /// A hand-off: cancelling kills its command.
    Stop(CancellationToken),
}

struct Entry {
    id: OpId,
    busy: Busy,
    handle: Handle,
    /// Asked to stop: it still runs until it says it ended, but another operation may take
    /// its place meanwhile.
    cancelled: bool,
}

/// The operations under way, one per device.
#[derive(Default)]
pub(super) struct Work {
    next: u64,
    entries: HashMap<DeviceKey, Entry>,
}

impl Work {
    /// Enters an operation on `key`: its number, or what the device is busy with (an
    /// operation that was cancelled makes way at once).
    pub(super) fn start(
        &mut self,
        key: &DeviceKey,
        busy: Busy,
        handle: Handle,
    ) -> Result<OpId, Busy> {
        if let Some(busy) = self.in_the_way(key) {
            return Err(busy);
        }
        self.next = self.next.wrapping_add(1);
        let id = OpId(self.next);
        let entry = Entry {
            id,
            busy,
            handle,
            cancelled: false,
        };
        self.entries.insert(key.clone(), entry);
        Ok(id)
    }

    /// Operation `id` on `key` ended: its entry goes; true when it was still the device's.
    pub(super) fn end(&mut self, key: &DeviceKey, id: OpId) -> bool {
        if self.entries.get(key).is_some_and(|e| e.id == id) {
            self.entries.remove(key);
            return true;
        }
        false
    }

    /// What the device is doing, if anything.
    pub(super) fn busy(&self, key: &DeviceKey) -> Option<Busy> {
        self.entries.get(key).map(|e| e.busy)
    }

    /// What keeps another operation from starting on the device: the operation under way,
    /// unless it was cancelled (it makes way).
    pub(super) fn in_the_way(&self, key: &DeviceKey) -> Option<Busy> {
        self.entries
            .get(key)
            .filter(|e| !e.cancelled)
            .map(|e| e.busy)
    }

    /// Steers the operation under way on `key` (nothing under way, or nothing to steer:
    /// ignored). Cancel only signals: the entry stays until the operation says it ended.
    pub(super) fn control(&mut self, key: &DeviceKey, ctl: OpControl) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        match (&entry.handle, ctl) {
            (Handle::Queue(controls), OpControl::Cancel) => controls.cancel(),
            (Handle::Queue(controls), OpControl::TryNow) => controls.retry_now(),
            (Handle::Queue(controls), OpControl::CancelFile(index)) => controls.cancel_file(index),
            (Handle::Queue(controls), OpControl::RetryFile(index)) => controls.retry_file(index),
            (Handle::Stop(stop), OpControl::Cancel) => stop.cancel(),
            _ => return,
        }
        if ctl == OpControl::Cancel {
            entry.cancelled = true;
        }
    }
}

/// Reports an operation's end to the loop: with its line ([`Ended::say`]), or, if the task
/// panicked or was dropped before, when dropped, with that said — so that no entry outlives
/// its operation.
pub(super) struct Ended(Option<(DeviceKey, OpId, tokio_mpsc::UnboundedSender<FromTask>)>);

impl Ended {
    /// The end of operation `id` on `key`, to be reported on `reports`.
    pub(super) fn new(
        key: DeviceKey,
        id: OpId,
        reports: tokio_mpsc::UnboundedSender<FromTask>,
    ) -> Self {
        Self(Some((key, id, reports)))
    }

    /// The operation ended: `line` for the user.
    pub(super) fn say(mut self, line: String) {
        self.send(line);
    }

    fn send(&mut self, line: String) {
        if let Some((key, id, reports)) = self.0.take() {
            let _ = reports.send(FromTask::OpEnded { key, id, line });
        }
    }
}

impl Drop for Ended {
    fn drop(&mut self) {
        if let Some((key, ..)) = &self.0 {
            let line = format!("{}: the operation stopped unexpectedly.", key.id);
            self.send(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceId;

    fn key(id: &str) -> DeviceKey {
        DeviceKey {
            id: DeviceId::parse(id).unwrap(),
            host: "demo".into(),
        }
    }

    #[test]
    fn one_operation_at_a_time_and_only_its_own_end_clears_it() {
        let mut work = Work::default();
        let cam = key("CAM-1");
        let refresh = work
            .start(&cam, Busy::Refreshing, Handle::Unsteered)
            .unwrap();
        assert_eq!(work.busy(&cam), Some(Busy::Refreshing));
        assert_eq!(
            work.start(&cam, Busy::Unpairing, Handle::Unsteered),
            Err(Busy::Refreshing),
            "a second operation is refused"
        );
        let other = key("CAM-2");
        assert!(
            work.start(&other, Busy::Unpairing, Handle::Unsteered)
                .is_ok()
        );
        assert!(work.end(&cam, refresh));
        assert_eq!(work.busy(&cam), None);
        assert!(!work.end(&cam, refresh), "ended once");
        assert_eq!(
            work.busy(&other),
            Some(Busy::Unpairing),
            "the other is untouched"
        );
    }

    #[test]
    fn a_cancelled_operation_stays_until_it_ends_but_makes_way_for_the_next() {
        let mut work = Work::default();
        let cam = key("CAM-1");
        let first_controls = QueueControls::new();
        let first = work
            .start(&cam, Busy::Uploading, Handle::Queue(first_controls.clone()))
            .unwrap();
        work.control(&cam, OpControl::Cancel);
        assert!(first_controls.is_cancelled());
        assert_eq!(work.busy(&cam), Some(Busy::Uploading), "until it ends");
        // Another upload at once: the cancelled one makes way.
        let second_controls = QueueControls::new();
        let second = work
            .start(
                &cam,
                Busy::Uploading,
                Handle::Queue(second_controls.clone()),
            )
            .unwrap();
        assert!(!work.end(&cam, first), "the first's end leaves the second");
        assert_eq!(work.busy(&cam), Some(Busy::Uploading));
        work.control(&cam, OpControl::Cancel);
        assert!(second_controls.is_cancelled(), "the second is cancellable");
        assert!(work.end(&cam, second));
        assert_eq!(work.busy(&cam), None);
    }

    #[test]
    fn what_cannot_be_steered_is_left_alone() {
        let mut work = Work::default();
        let cam = key("CAM-1");
        work.start(&cam, Busy::Refreshing, Handle::Unsteered)
            .unwrap();
        work.control(&cam, OpControl::Cancel);
        assert_eq!(
            work.start(&cam, Busy::Unpairing, Handle::Unsteered),
            Err(Busy::Refreshing),
            "a refresh cannot be cancelled, so nothing takes its place"
        );
        let stop = CancellationToken::new();
        let hand = key("CAM-3");
        work.start(&hand, Busy::HandingOff, Handle::Stop(stop.clone()))
            .unwrap();
        work.control(&hand, OpControl::TryNow);
        assert!(!stop.is_cancelled());
        work.control(&hand, OpControl::Cancel);
        assert!(stop.is_cancelled());
        work.control(&key("NOBODY"), OpControl::Cancel);
    }
}
