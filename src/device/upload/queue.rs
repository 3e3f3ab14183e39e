//! The upload queue of one device: its files one after another, each sent whole or as a
//! growing file, with the status snapshots the window and the CLI show, and the one place
//! that decides what a failure stops — this file only (unreadable, refused), or the queue
//! (credentials, keychain, the network gone after every retry), or everything (cancel).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::progress::Reporter;
use super::resume::UploadState;
use super::source::{Listed, Media, Source};
use super::status::{FileState, FileStatus, QueueStatus};
use super::{Progress, UploadOptions, Uploaded, realtime, whole};
use crate::device::{Context, FailureKind, LifecycleError};
use crate::registry::DeviceRecord;

/// One thing to send.
#[derive(Debug, Clone)]
pub struct Job {
    /// What to send.
    pub source: Source,
    /// A comment to add once it arrived (the test clip's "Rig check from …").
    pub note: Option<String>,
    /// Send it as a growing file (real-time upload).
    pub realtime: bool,
    /// Set when the path could not even be listed: the job fails with this reason.
    pub unreadable: Option<String>,
}

impl Job {
    /// A file on disk, sent whole.
    pub fn file(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            source: Source::File(path.into()),
            note: None,
            realtime: false,
            unreadable: None,
        }
    }

    /// The shipped test clip, with a note (or none).
    pub fn test_clip(note: Option<String>) -> Self {
        Self::memory(Media::test_clip(), note)
    }

    /// Bytes in memory.
    pub fn memory(media: Media, note: Option<String>) -> Self {
        Self {
            source: Source::Memory(media),
            note,
            realtime: false,
            unreadable: None,
        }
    }

    /// An entry of [`super::list_files`], sent whole or growing.
    pub fn listed(listed: Listed, realtime: bool) -> Self {
        match listed {
            Listed::File(path) => Self {
                realtime,
                ..Self::file(path)
            },
            Listed::Unreadable { path, reason } => Self {
                unreadable: Some(reason),
                realtime,
                ..Self::file(path)
            },
        }
    }

    /// An upload kept from an earlier run, to continue it as it was started.
    pub fn resumed(state: &UploadState) -> Self {
        Self {
            source: Source::File(state.path.clone()),
            note: state.note.clone(),
            realtime: state.realtime,
            unreadable: None,
        }
    }
}

/// Cancel and "check now" for a queue, shared with whoever shows it.
#[derive(Debug, Clone, Default)]
pub struct QueueControls {
    cancel: CancellationToken,
    wake: Arc<Notify>,
}

impl QueueControls {
    /// Controls for a new queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Controls cancelled by `cancel`.
    pub fn with_cancel(cancel: CancellationToken) -> Self {
        Self {
            cancel,
            wake: Arc::default(),
        }
    }

    /// Stops the queue: the part under way is abandoned, what was sent is kept for
    /// `upload --resume`.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Ends any wait under way (back-off, a paused device) so the queue tries at once: the
    /// panel's "Resume" after the device was resumed in Frame.io.
    pub fn retry_now(&self) {
        self.wake.notify_waiters();
    }

    pub(super) async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }
}

/// How a queue ended.
#[derive(Debug)]
pub struct QueueOutcome {
    /// The last snapshot.
    pub status: QueueStatus,
    /// Every file that arrived, in order.
    pub uploaded: Vec<Uploaded>,
    /// What stopped the queue before its end, other than a file's own trouble: the files not
    /// done are kept (a refresh whose tokens could not be saved carries them here).
    pub stopped: Option<LifecycleError>,
    /// The file at which it stopped (an index into the status's files); it is not sent.
    pub stopped_at: Option<usize>,
}

/// How the sending of one file ended, short of arriving.
#[derive(Debug)]
pub(super) enum Stop {
    /// The queue was cancelled.
    Cancelled,
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
    pub(super) record: &'a DeviceRecord,
    pub(super) options: &'a UploadOptions,
    pub(super) controls: &'a QueueControls,
    pub(super) report: Reporter,
    /// A failure after the file arrived (adding its note) that must still stop the queue:
    /// a refresh whose tokens could not be saved carries them.
    pub(super) deferred: Mutex<Option<LifecycleError>>,
}

impl Run<'_> {
    /// Waits `wait`, or less when asked to try now; an error when cancelled.
    pub(super) async fn wait(&self, wait: Duration) -> Result<(), Stop> {
        tokio::select! {
            biased;
            () = self.controls.cancelled() => Err(Stop::Cancelled),
            () = self.controls.wake.notified() => Ok(()),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }

    /// Keeps an error for the queue to stop on once this file is done.
    pub(super) fn defer(&self, error: LifecycleError) {
        *self.deferred.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}

/// The first snapshot of a queue: every file queued, with its size when it can be read.
async fn first_status(record: &DeviceRecord, jobs: &[Job]) -> QueueStatus {
    let mut files = Vec::with_capacity(jobs.len());
    for job in jobs {
        let name = job.source.name();
        let entry = match &job.source {
            Source::Memory(media) => FileStatus::queued(name, None, Some(media.bytes.len() as u64)),
            Source::File(path) => {
                let size = tokio::fs::metadata(path).await.ok().map(|m| m.len());
                let size = if job.realtime { None } else { size };
                let mut entry = FileStatus::queued(name, Some(path.clone()), size);
                if job.realtime {
                    entry.seen = tokio::fs::metadata(path).await.map_or(0, |m| m.len());
                }
                entry
            }
        };
        files.push(entry);
    }
    QueueStatus {
        device: record.device_id.to_string(),
        files,
        ..QueueStatus::default()
    }
}

/// Sends `jobs` one after another for `record`, publishing snapshots on `status`.
///
/// It runs until the end, a cancel, or a failure that stops the queue. A file's own failure
/// (unreadable, refused) is recorded with its reason and the queue goes on.
pub async fn run_queue(
    ctx: &Context,
    record: &DeviceRecord,
    jobs: Vec<Job>,
    options: &UploadOptions,
    controls: &QueueControls,
    status: &watch::Sender<QueueStatus>,
) -> QueueOutcome {
    status.send_replace(first_status(record, &jobs).await);
    let mut uploaded = Vec::new();
    let mut stopped = None;
    let mut stopped_at = None;
    for (index, job) in jobs.iter().enumerate() {
        if controls.is_cancelled() {
            break;
        }
        status.send_modify(|s| s.current = Some(index));
        let run = Run {
            ctx,
            record,
            options,
            controls,
            report: Reporter::new(status.clone(), index),
            deferred: Mutex::new(None),
        };
        let sent = if let Some(reason) = &job.unreadable {
            Err(Stop::File {
                reason: format!("{} could not be read: {reason}", job.source.name()),
                kind: FailureKind::Usage,
            })
        } else {
            run.report.sending();
            if job.realtime {
                realtime::send_growing(&run, job).await
            } else {
                whole::send(&run, job).await
            }
        };
        match sent {
            Ok(done) => {
                run.report.update(|file| {
                    file.asset_id = Some(done.asset_id.clone());
                    file.size = Some(done.bytes);
                    file.seen = done.bytes;
                    file.sent = done.bytes;
                    file.rate = None;
                    file.state = FileState::Done;
                });
                uploaded.push(done);
            }
            Err(Stop::Cancelled) => {
                run.report.state(FileState::Cancelled);
                break;
            }
            Err(Stop::File { reason, kind }) => {
                tracing::warn!(device = %record.device_id, file = %job.source.name(), %reason, "not uploaded");
                run.report.state(FileState::Failed { reason, kind });
            }
            Err(Stop::LinkRefused(reason)) => {
                tracing::warn!(device = %record.device_id, file = %job.source.name(), %reason, "not uploaded");
                run.report.state(FileState::Failed {
                    reason,
                    kind: FailureKind::Refused,
                });
            }
            Err(Stop::Queue(error)) => {
                tracing::warn!(device = %record.device_id, file = %job.source.name(), %error, "the upload queue stopped");
                run.report.state(FileState::Failed {
                    reason: error.to_string(),
                    kind: error.kind(),
                });
                stopped = Some(error);
                stopped_at = Some(index);
                break;
            }
        }
        let deferred = run
            .deferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(error) = deferred {
            stopped = Some(error);
            break;
        }
    }
    status.send_modify(|s| {
        s.current = None;
        s.finished = true;
        s.cancelled = controls.is_cancelled();
        s.stopped = stopped.as_ref().map(ToString::to_string);
    });
    QueueOutcome {
        status: status.borrow().clone(),
        uploaded,
        stopped,
        stopped_at,
    }
}

/// How a single upload ended, short of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Every part arrived.
    Done(Uploaded),
    /// The user cancelled; what was sent is kept for `upload --resume` (for a file).
    Cancelled,
}

/// One job, for callers that show one bar (the window's "Send test clip"): progress of its
/// bytes on `progress`; a failure of the file becomes [`LifecycleError::Upload`].
pub async fn upload(
    ctx: &Context,
    record: &DeviceRecord,
    job: Job,
    options: &UploadOptions,
    progress: &watch::Sender<Progress>,
    cancel: &CancellationToken,
) -> Result<UploadOutcome, LifecycleError> {
    let controls = QueueControls::with_cancel(cancel.clone());
    let (status, mut watcher) = watch::channel(QueueStatus::default());
    let forward = {
        let progress = progress.clone();
        async move {
            while watcher.changed().await.is_ok() {
                let file = watcher.borrow_and_update().files.first().cloned();
                if let Some(file) = file {
                    progress.send_replace(Progress {
                        sent: file.sent,
                        total: file.size.unwrap_or(file.seen),
                    });
                }
            }
        }
    };
    let name = job.source.name();
    let running = async {
        let outcome = run_queue(ctx, record, vec![job], options, &controls, &status).await;
        drop(status);
        outcome
    };
    let (outcome, ()) = tokio::join!(running, forward);
    if let Some(error) = outcome.stopped {
        return Err(error);
    }
    if let Some(done) = outcome.uploaded.into_iter().next() {
        return Ok(UploadOutcome::Done(done));
    }
    match outcome.status.files.into_iter().next().map(|f| f.state) {
        Some(FileState::Failed { reason, kind }) => Err(LifecycleError::Upload {
            device: record.device_id.clone(),
            file: name,
            reason,
            kind,
        }),
        _ => Ok(UploadOutcome::Cancelled),
    }
}
