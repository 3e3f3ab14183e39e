//! The upload queue of one device: its files one after another, each sent whole or as a
//! growing file, with the status snapshots the window and the CLI show, and the one place
//! that decides what a failure stops — this file only (unreadable, refused, parked as
//! recorded while the device was paused), or the queue (credentials, keychain), or
//! everything (cancel). The network gone stops nothing: it is waited for.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::calls::PAUSED_REASON;
use super::job::Job;
use super::progress::Reporter;
use super::run::{Run, Stop};
use super::source::Source;
use super::status::{FileState, FileStatus, QueueStatus};
use super::{Progress, UploadOptions, Uploaded, realtime, whole};
use crate::device::session;
use crate::device::{Context, FailureKind, LifecycleError};
use crate::registry::DeviceRecord;

/// Cancel, "check now", and per-file Cancel and Retry for a queue, shared with whoever shows
/// it.
#[derive(Debug, Clone, Default)]
pub struct QueueControls {
    cancel: CancellationToken,
    wake: Arc<Notify>,
    files: Arc<Mutex<FileControls>>,
}

/// What was asked of single files, and the file under way.
#[derive(Debug, Default)]
struct FileControls {
    /// The running queue's snapshots, so that a file cancelled or retried shows it at once.
    status: Option<watch::Sender<QueueStatus>>,
    /// Files cancelled one by one.
    cancelled: BTreeSet<usize>,
    /// Files to send again, in the order asked.
    again: Vec<usize>,
    /// The file under way, and what cancels it alone.
    current: Option<(usize, CancellationToken)>,
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
            ..Self::default()
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

    /// Ends any wait under way (back-off, a paused device, the network) so the queue tries at
    /// once: the panel's "Resume" after the device was resumed in Frame.io.
    pub fn retry_now(&self) {
        self.wake.notify_waiters();
    }

    /// Takes file `index` out of the queue: the one under way stops (what was sent is kept
    /// for `--resume`), one still to come is skipped; the rest goes on.
    pub fn cancel_file(&self, index: usize) {
        let mut files = self.lock();
        files.cancelled.insert(index);
        files.again.retain(|&i| i != index);
        match &files.current {
            Some((current, stop)) if *current == index => stop.cancel(),
            _ => {
                if let Some(status) = &files.status {
                    status.send_modify(|s| {
                        if let Some(file) = s.files.get_mut(index)
                            && !matches!(file.state, FileState::Done | FileState::Failed { .. })
                        {
                            file.state = FileState::Cancelled;
                            file.rate = None;
                        }
                    });
                }
            }
        }
        drop(files);
        self.wake.notify_waiters();
    }

    /// Sends file `index` again once the files before it in line are done: a file that
    /// failed, was parked as recorded while the device was paused, or was cancelled.
    pub fn retry_file(&self, index: usize) {
        let mut files = self.lock();
        let Some(status) = files.status.clone() else {
            return;
        };
        let retried = status.send_if_modified(|s| match s.files.get_mut(index) {
            Some(file) if file.state.can_retry() => {
                file.state = FileState::Queued;
                file.sent = 0;
                true
            }
            _ => false,
        });
        if retried && !files.again.contains(&index) {
            files.cancelled.remove(&index);
            files.again.push(index);
        }
        drop(files);
        self.wake.notify_waiters();
    }

    pub(super) async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FileControls> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queue starts publishing on `status`.
    fn attach(&self, status: &watch::Sender<QueueStatus>) {
        self.lock().status = Some(status.clone());
    }

    /// The queue ended: single-file asks no longer reach it.
    fn detach(&self) {
        let mut files = self.lock();
        files.status = None;
        files.current = None;
    }

    /// File `index` starts: what cancels it alone (a child of the queue's cancel), or `None`
    /// when it was cancelled already.
    fn start_file(&self, index: usize) -> Option<CancellationToken> {
        let mut files = self.lock();
        if files.cancelled.contains(&index) {
            return None;
        }
        let stop = self.cancel.child_token();
        files.current = Some((index, stop.clone()));
        Some(stop)
    }

    /// The files asked to go again since the last call.
    fn take_again(&self) -> Vec<usize> {
        std::mem::take(&mut self.lock().again)
    }

    /// The queue has nothing left: the files asked to go again meanwhile, or none, and then
    /// the queue is detached at once (so that no ask falls between the two).
    fn again_or_detach(&self) -> Vec<usize> {
        let mut files = self.lock();
        let again = std::mem::take(&mut files.again);
        if again.is_empty() {
            files.status = None;
            files.current = None;
        }
        again
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

/// The files the server refused as recorded while the device was paused, and what is known
/// of why: for their own recording times (Frame.io's rule), or because the device is paused
/// now and the server refuses all its media (every file refused, and the server says so).
#[derive(Default)]
struct Parked {
    /// Refused files, in queue order.
    files: Vec<usize>,
    /// The server accepted media in this run: the refusals are about those files' times.
    accepted: bool,
    /// The device was paused and is no more: the refused files had their one more try.
    resumed: bool,
}

impl Parked {
    /// Nothing else to send and every file refused: the device may be paused now.
    fn maybe_device_paused(&self) -> bool {
        !self.accepted && !self.resumed && !self.files.is_empty()
    }

    /// Files asked to go again join the end of `order` (no longer parked), once each.
    fn requeue(&mut self, again: Vec<usize>, jobs: usize, order: &mut VecDeque<usize>) {
        for index in again {
            if index < jobs && !order.contains(&index) {
                self.files.retain(|&i| i != index);
                order.push_back(index);
            }
        }
    }
}

/// Sends `jobs` one after another for `record`, publishing snapshots on `status`.
///
/// It runs until the end or a cancel; the network gone is waited for, never the end. A
/// file's own failure (unreadable, refused) is recorded with its reason and the queue goes
/// on. A file the server refuses as recorded while the device was paused (Frame.io's rule,
/// judged by its recording time) is parked and the queue goes on; when every file is refused
/// so and the server says the device is paused now, the files wait until it is not, then
/// each gets one more try. Single files can be cancelled or sent again meanwhile
/// ([`QueueControls::cancel_file`], [`QueueControls::retry_file`]).
pub async fn run_queue(
    ctx: &Context,
    record: &DeviceRecord,
    jobs: Vec<Job>,
    options: &UploadOptions,
    controls: &QueueControls,
    status: &watch::Sender<QueueStatus>,
) -> QueueOutcome {
    status.send_replace(first_status(record, &jobs).await);
    controls.attach(status);
    let mut uploaded = Vec::new();
    let mut stopped = None;
    let mut stopped_at = None;
    let mut order: VecDeque<usize> = (0..jobs.len()).collect();
    let mut parked = Parked::default();
    let client = ctx.client(record);
    loop {
        if controls.is_cancelled() {
            break;
        }
        parked.requeue(controls.take_again(), jobs.len(), &mut order);
        let Some(index) = order.pop_front() else {
            let resumed = if parked.maybe_device_paused() {
                wait_while_paused(ctx, record, options, controls, status, &mut parked).await
            } else {
                Vec::new()
            };
            let next = if !resumed.is_empty() {
                resumed
            } else if controls.is_cancelled() {
                Vec::new()
            } else {
                controls.again_or_detach()
            };
            if next.is_empty() {
                break;
            }
            order.extend(next.into_iter().filter(|&i| i < jobs.len()));
            continue;
        };
        let Some(stop) = controls.start_file(index) else {
            mark(status, index, FileState::Cancelled);
            continue;
        };
        let Some(job) = jobs.get(index) else { continue };
        status.send_modify(|s| s.current = Some(index));
        let run = Run {
            ctx,
            client: &client,
            record,
            options,
            wake: &controls.wake,
            report: Reporter::new(status.clone(), index),
            stop,
            accepted: AtomicBool::new(false),
            deferred: Mutex::new(None),
        };
        let sent = send(&run, job).await;
        // Media got through: the files refused so far were refused for their own times.
        parked.accepted |= run.accepted.load(Ordering::Relaxed);
        match settle(&run, controls, job, sent) {
            Settled::Next(Some(done)) => uploaded.push(done),
            Settled::Next(None) => {}
            Settled::Parked => {
                let at = parked.files.partition_point(|&i| i < index);
                parked.files.insert(at, index);
            }
            Settled::Cancelled => break,
            Settled::Stopped(error) => {
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
    controls.detach();
    let cancelled = controls.is_cancelled();
    status.send_modify(|s| {
        s.current = None;
        s.finished = true;
        s.cancelled = cancelled;
        s.stopped = stopped.as_ref().map(ToString::to_string);
        for file in &mut s.files {
            // What waited (a paused device's files) stays to be sent another time.
            if cancelled && matches!(file.state, FileState::Paused { .. }) {
                file.state = FileState::Cancelled;
            }
        }
    });
    QueueOutcome {
        status: status.borrow().clone(),
        uploaded,
        stopped,
        stopped_at,
    }
}

/// Sends one job, whole or growing (or fails it at once when it could not be listed).
async fn send(run: &Run<'_>, job: &Job) -> Result<Uploaded, Stop> {
    if let Some(reason) = &job.unreadable {
        return Err(Stop::File {
            reason: format!("{} could not be read: {reason}", job.source.name()),
            kind: FailureKind::Usage,
        });
    }
    run.report.sending();
    if job.realtime {
        realtime::send_growing(run, job).await
    } else {
        whole::send(run, job).await
    }
}

/// What a file's end means for the queue.
enum Settled {
    /// On to the next file (with the file that arrived, if it did).
    Next(Option<Uploaded>),
    /// The file was refused as recorded while the device was paused.
    Parked,
    /// The queue was cancelled.
    Cancelled,
    /// Nothing more can be sent.
    Stopped(LifecycleError),
}

/// Shows how a file ended, and says what it means for the queue.
fn settle(
    run: &Run<'_>,
    controls: &QueueControls,
    job: &Job,
    sent: Result<Uploaded, Stop>,
) -> Settled {
    let (device, name) = (&run.record.device_id, job.source.name());
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
            Settled::Next(Some(done))
        }
        Err(Stop::Cancelled) => {
            let offline = run.report.is_offline();
            run.report.state(FileState::Cancelled);
            if !controls.is_cancelled() {
                return Settled::Next(None);
            }
            run.report.queue(|s| s.offline = offline);
            Settled::Cancelled
        }
        Err(Stop::Paused(reason)) => {
            tracing::warn!(%device, file = %name, %reason, "parked");
            run.report.state(FileState::Parked { reason });
            Settled::Parked
        }
        Err(Stop::File { reason, kind }) => {
            tracing::warn!(%device, file = %name, %reason, "not uploaded");
            run.report.state(FileState::Failed { reason, kind });
            Settled::Next(None)
        }
        Err(Stop::LinkRefused(reason)) => {
            tracing::warn!(%device, file = %name, %reason, "not uploaded");
            run.report.state(FileState::Failed {
                reason,
                kind: FailureKind::Refused,
            });
            Settled::Next(None)
        }
        Err(Stop::Queue(error)) => {
            tracing::warn!(%device, file = %name, %error, "the upload queue stopped");
            run.report.state(FileState::Failed {
                reason: error.to_string(),
                kind: error.kind(),
            });
            Settled::Stopped(error)
        }
    }
}

/// Sets file `index`'s state.
fn mark(status: &watch::Sender<QueueStatus>, index: usize, state: FileState) {
    status.send_modify(|s| {
        if let Some(file) = s.files.get_mut(index) {
            file.rate = None;
            file.state = state;
        }
    });
}

/// Every file was refused as recorded while the device was paused. When the server says the
/// device is paused now, shows them as waiting for it and checks again (ever more slowly, up
/// to the policy's cap, or at once when woken) until it is no more; then every file still
/// refused gets one more try: the files to send again. None when the server does not say the
/// device is paused (the refusals are about the files' own times: they stay parked), or the
/// queue was cancelled, or every refused file was.
async fn wait_while_paused(
    ctx: &Context,
    record: &DeviceRecord,
    options: &UploadOptions,
    controls: &QueueControls,
    status: &watch::Sender<QueueStatus>,
    parked: &mut Parked,
) -> Vec<usize> {
    if session::paused_now(ctx, record).await != Some(true) {
        return Vec::new();
    }
    tracing::warn!(device = %record.device_id, "the device is paused in Frame.io; waiting for it to be resumed");
    for &file in &parked.files {
        mark(
            status,
            file,
            FileState::Paused {
                reason: PAUSED_REASON.to_owned(),
            },
        );
    }
    status.send_modify(|s| s.current = None);
    let mut checks = 0u32;
    loop {
        checks = checks.saturating_add(1);
        tokio::select! {
            biased;
            () = controls.cancelled() => return Vec::new(),
            () = controls.wake.notified() => {}
            () = tokio::time::sleep(options.retry.paused_delay(checks)) => {}
        }
        let cancelled: BTreeSet<usize> = controls.lock().cancelled.clone();
        parked.files.retain(|i| !cancelled.contains(i));
        if parked.files.is_empty() {
            return Vec::new();
        }
        if session::paused_now(ctx, record).await != Some(true) {
            break;
        }
    }
    // Each shows "paused" until its turn comes (then "sending": it was resumed).
    parked.resumed = true;
    std::mem::take(&mut parked.files)
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
        Some(FileState::Parked { reason }) => Err(LifecycleError::Upload {
            device: record.device_id.clone(),
            file: name,
            reason,
            kind: FailureKind::Refused,
        }),
        Some(FileState::Failed { reason, kind }) => Err(LifecycleError::Upload {
            device: record.device_id.clone(),
            file: name,
            reason,
            kind,
        }),
        _ => Ok(UploadOutcome::Cancelled),
    }
}
