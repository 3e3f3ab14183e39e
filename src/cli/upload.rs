//! `c2c-pair upload`: send files and folders (or the shipped test clip) from a paired device
//! through the C2C asset API — streamed, resumable, retried, waiting out a paused device — or
//! a file still being written as a real-time upload; with bars on a terminal or JSON events.

use std::path::PathBuf;
use std::process::ExitCode;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use c2c_pair::device::upload::{
    self, FileState, Job, QueueControls, QueueOutcome, QueueStatus, UploadOptions,
};
use c2c_pair::device::{Context, FailureKind, LifecycleError};
use c2c_pair::registry::DeviceRecord;
use c2c_pair::settings;

use super::fleet::{locate, save_or_fail};
use super::{EXIT_CANCELLED, EXIT_PARTIAL, Invocation, fail, print_json, upload_view};

/// What `c2c-pair upload` was asked.
#[derive(Debug, Clone)]
pub struct UploadArgs {
    /// The device.
    pub device: String,
    /// Files and folders; none means the test clip (or, with `resume`, only what is kept).
    pub paths: Vec<PathBuf>,
    /// Send the files as growing files.
    pub realtime: bool,
    /// A growing file is finished once no process holds it open for writing.
    pub until_closed: bool,
    /// Continue every unfinished upload of the device.
    pub resume: bool,
    /// JSON events instead of bars.
    pub json: bool,
    /// No note on the test clip, whatever `upload.test_clip_note` says.
    pub no_note: bool,
}

/// Runs the upload queue to its end, heartbeating meanwhile. The network gone is waited for,
/// however long. Exit codes: 0 every file arrived; 7 some did and some did not (each failure
/// said; a file parked as recorded while the device was paused counts as not sent); else the
/// family of the failure (2 unreadable, 3 refused or parked, 5 network, 6 keychain); 130
/// cancelled (what was sent is kept for `--resume`), 5 when cancelled while waiting for the
/// network.
pub async fn run(invocation: &Invocation, args: &UploadArgs) -> ExitCode {
    let json = args.json;
    if args.until_closed && !upload::can_tell_writers() {
        return fail(
            json,
            FailureKind::Usage,
            "--until-closed works on Linux only; use --idle SECS instead",
        );
    }
    let (record, ctx) = match locate(invocation, &args.device).await {
        Ok(found) => found,
        Err((kind, message)) => return fail(json, kind, &message),
    };
    let options = invocation.upload_options(args.until_closed);
    let note = !args.no_note && invocation.settings.get(&settings::UPLOAD_TEST_CLIP_NOTE);
    let note = note.then(upload::rig_check_note);
    let plan = upload::Plan {
        record: &record,
        paths: &args.paths,
        realtime: args.realtime,
        resume: options.resume.as_ref().filter(|_| args.resume),
        test_clip_note: note.as_deref(),
    };
    let jobs = plan.jobs().await;
    if jobs.is_empty() {
        let line = format!("Nothing to resume for {}.", record.device_id);
        if json {
            print_json(
                &serde_json::json!({"event": "finished", "device": record.device_id,
                "uploaded": 0, "failed": 0, "cancelled": false}),
            );
        } else {
            out!("{line}");
        }
        return ExitCode::SUCCESS;
    }
    let controls = QueueControls::new();
    let on_signal = controls.clone();
    tokio::spawn(async move {
        super::stop_signal().await;
        on_signal.cancel();
    });
    // Part uploads to storage do not count as being online in Frame.io: heartbeats do, on
    // Frame.io's schedule, for the whole run.
    let on_this_machine =
        c2c_pair::c2c::profile::is_loopback(&ctx.backend.client.profile().api_base);
    let every = invocation.heartbeat_every(on_this_machine);
    let beating = CancellationToken::new();
    let heartbeats = {
        let (ctx, record, until) = (ctx.clone(), record.clone(), beating.clone());
        tokio::spawn(
            async move { c2c_pair::device::heartbeats(&ctx, &record, every, &until).await },
        )
    };
    let (status, watcher) = watch::channel(QueueStatus::default());
    let showing = tokio::spawn(upload_view::show(watcher, json));
    let outcome = run_saving(&ctx, &record, jobs, &options, &controls, &status).await;
    beating.cancel();
    let _ = heartbeats.await;
    drop(status);
    let _ = showing.await;
    conclude(&record, &outcome, json)
}

/// Runs the queue; when a refresh's tokens could not be saved, saves them (patiently) and
/// runs what was left once more.
async fn run_saving(
    ctx: &Context,
    record: &DeviceRecord,
    jobs: Vec<Job>,
    options: &UploadOptions,
    controls: &QueueControls,
    status: &watch::Sender<QueueStatus>,
) -> QueueOutcome {
    let mut outcome = upload::run_queue(ctx, record, jobs.clone(), options, controls, status).await;
    if !matches!(outcome.stopped, Some(LifecycleError::SaveFailed { .. })) {
        return outcome;
    }
    let Some(error) = outcome.stopped.take() else {
        return outcome;
    };
    if let Err(error) = save_or_fail(error, ctx).await {
        outcome.stopped = Some(error);
        return outcome;
    }
    // Saved: the files not done go again (the one stopped resumes from its record).
    let left: Vec<Job> = jobs
        .into_iter()
        .zip(&outcome.status.files)
        .enumerate()
        .filter(|(index, (_, file))| {
            file.state == FileState::Queued || outcome.stopped_at == Some(*index)
        })
        .map(|(_, (job, _))| job)
        .collect();
    let mut again = upload::run_queue(ctx, record, left, options, controls, status).await;
    again.uploaded.splice(0..0, outcome.uploaded);
    again
}

/// Says how the queue ended and gives the exit code.
fn conclude(record: &DeviceRecord, outcome: &QueueOutcome, json: bool) -> ExitCode {
    let status = &outcome.status;
    let (done, parked) = (status.done(), status.parked());
    let failed = status.failed().saturating_add(parked);
    if json {
        print_json(&serde_json::json!({
            "event": "finished",
            "device": record.device_id,
            "uploaded": done,
            "failed": failed,
            "parked": parked,
            "cancelled": status.cancelled,
            "offline": status.offline,
            "duplicates_possible": status.files.iter().filter(|f| f.duplicate_possible).count(),
            "stopped": status.stopped,
            "files_remaining": status.files_remaining(),
            "bytes_remaining": status.bytes_remaining(),
        }));
    }
    let resumable = status.files.iter().any(|f| f.path.is_some());
    if status.cancelled {
        if !json {
            let waiting = if status.offline {
                "Upload cancelled while waiting for the network"
            } else {
                "Upload cancelled"
            };
            if resumable {
                err!(
                    "{waiting}; what was sent is kept: `c2c-pair upload --device {} --resume` \
                     continues it.",
                    record.device_id
                );
            } else {
                err!("{waiting}; the asset stays incomplete in Frame.io.");
            }
        }
        if status.offline {
            return ExitCode::from(FailureKind::Network.exit_code());
        }
        return ExitCode::from(EXIT_CANCELLED);
    }
    if let Some(error) = &outcome.stopped {
        let kept = if resumable {
            format!(
                " What was sent is kept: `c2c-pair upload --device {} --resume` continues.",
                record.device_id
            )
        } else {
            String::new()
        };
        // The JSON `failed` event already carried it; say it once more for the exit.
        return fail(json, error.kind(), &format!("{error}{kept}"));
    }
    if failed == 0 {
        return ExitCode::SUCCESS;
    }
    if !json {
        err!(
            "c2c-pair: {failed} of {} files were not uploaded (each said above).",
            status.files.len()
        );
    }
    if done > 0 {
        return ExitCode::from(EXIT_PARTIAL);
    }
    let first = status.files.iter().find_map(|f| match &f.state {
        FileState::Failed { kind, .. } => Some(*kind),
        FileState::Parked { .. } => Some(FailureKind::Refused),
        _ => None,
    });
    ExitCode::from(first.unwrap_or(FailureKind::Usage).exit_code())
}
