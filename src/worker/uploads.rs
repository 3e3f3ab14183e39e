//! Upload queues from the window: one per device (an operation of `ops`), its status
//! forwarded at most four times a second (and always its end), and the unfinished uploads of
//! every paired device continued when the app starts.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc as tokio_mpsc, watch};

use super::held::rescue;
use super::protocol::{Event, UploadSetup};
use super::{FromTask, Outbox, State};
use crate::device::upload::{self, FileState, Plan, QueueControls, QueueOutcome, QueueStatus};
use crate::device::{Context, LifecycleError};
use crate::registry::{DeviceKey, DeviceRecord, DeviceState};

/// The shortest time between two status events of one queue (a frame's worth for the eye,
/// and no flood of repaints from a fast link).
const STATUS_EVERY: Duration = Duration::from_millis(250);

/// What an upload action sends.
pub(super) struct Batch {
    /// Files and folders; with none (and no resume), the test clip.
    pub(super) files: Vec<PathBuf>,
    /// Continue the device's unfinished uploads first.
    pub(super) resume: bool,
    /// The queue's Cancel and "try now".
    pub(super) controls: QueueControls,
}

impl State {
    /// Finds the paired devices with unfinished uploads kept (reading the records touches
    /// the disk, so a task does it) and reports them to be continued. Devices of the
    /// built-in demo server are left out: it starts empty, on a new port, every run.
    pub(super) fn find_unfinished(&self) {
        let Some(store) = self.setup.uploads.options.resume.clone() else {
            return;
        };
        let devices = self.devices.clone();
        let reports = self.reports.clone();
        tokio::task::spawn_blocking(move || {
            let keys = devices
                .iter()
                // The built-in demo server keeps nothing between runs: its uploads cannot go on.
                .filter(|d| d.state == DeviceState::Paired && !d.is_demo())
                .filter(|d| !store.unfinished(&d.device_id, &d.keychain_host).is_empty())
                .map(DeviceRecord::key)
                .collect();
            let _ = reports.send(FromTask::Unfinished(keys));
        });
    }
}

/// Sends a batch as `record`, forwarding its status; the line to show at the end.
pub(super) async fn send_batch(
    context: &Context,
    record: &DeviceRecord,
    batch: Batch,
    setup: &UploadSetup,
    outbox: &Outbox,
    reports: &tokio_mpsc::UnboundedSender<FromTask>,
) -> String {
    let note = setup.test_clip_note.then(upload::rig_check_note);
    let plan = Plan {
        record,
        paths: &batch.files,
        realtime: false,
        resume: setup.options.resume.as_ref().filter(|_| batch.resume),
        test_clip_note: note.as_deref(),
    };
    let jobs = plan.jobs().await;
    if jobs.is_empty() {
        return format!("{}: nothing left to upload.", record.device_id);
    }
    let key = record.key();
    let (status, watcher) = watch::channel(QueueStatus::default());
    let forwarding = tokio::spawn(forward(watcher, key.clone(), outbox.clone()));
    let outcome = upload::run_queue(
        context,
        record,
        jobs,
        &setup.options,
        &batch.controls,
        &status,
    )
    .await;
    drop(status);
    let _ = forwarding.await;
    summary(outcome, &key, reports)
}

/// Sends the queue's snapshots to the window, at most one per [`STATUS_EVERY`]; the last
/// one always goes (a watch channel keeps the newest value for a reader that was away).
async fn forward(mut watcher: watch::Receiver<QueueStatus>, key: DeviceKey, outbox: Outbox) {
    while watcher.changed().await.is_ok() {
        let now = watcher.borrow_and_update().clone();
        outbox.send(Event::Uploads(key.clone(), now));
        tokio::time::sleep(STATUS_EVERY).await;
    }
}

/// The line that ends a queue.
fn summary(
    outcome: QueueOutcome,
    key: &DeviceKey,
    reports: &tokio_mpsc::UnboundedSender<FromTask>,
) -> String {
    let id = &key.id;
    if let Some(error) = outcome.stopped {
        // Tokens a refresh could not save are held here; the files left are kept on disk.
        return match error {
            LifecycleError::SaveFailed { .. } => rescue(error, key, reports),
            other => format!("{id}: the upload stopped: {other}"),
        };
    }
    let status = &outcome.status;
    let test_clip = status.files.len() == 1 && status.files[0].path.is_none();
    if let ([done], true) = (outcome.uploaded.as_slice(), test_clip) {
        let noted = if done.note.is_some() {
            " Note added."
        } else {
            ""
        };
        return format!(
            "{id}: test clip uploaded ({} KB), asset {}.{noted}",
            done.bytes.div_ceil(1024),
            done.asset_id
        );
    }
    if status.cancelled {
        return if test_clip {
            format!("{id}: test upload cancelled.")
        } else {
            format!("{id}: upload cancelled; what was sent is kept, Resume continues it.")
        };
    }
    let (done, failed, parked) = (status.done(), status.failed(), status.parked());
    if let ([file], 1) = (status.files.as_slice(), failed + parked)
        && let FileState::Failed { reason, .. } | FileState::Parked { reason } = &file.state
    {
        return format!("{id}: {} was not uploaded: {reason}", file.name);
    }
    let total = status.files.len();
    let mut line = format!("{id}: {done} of {total} files uploaded");
    if failed > 0 {
        line.push_str(&format!(", {failed} failed"));
    }
    if parked > 0 {
        line.push_str(&format!(
            ", {parked} recorded while the device was paused in Frame.io (not uploaded)"
        ));
    }
    if failed + parked > 0 {
        line.push_str(" (reasons in the upload panel)");
    }
    line.push('.');
    line
}
