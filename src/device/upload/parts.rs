//! Sends one part to its presigned URL, again and again while the failure is worth it: a
//! dropped connection, a stall, a timeout, a 5xx or a 429 (after its `Retry-After`) are
//! retried with back-off up to the policy's tries; anything else is final.

use crate::c2c::part::PartBody;
use crate::c2c::{ClientError, Verdict};
use crate::device::{FailureKind, LifecycleError};

use super::queue::{Run, Stop};
use super::status::FileState;

/// One part to send.
pub(super) struct PartJob<'a> {
    /// Its number, from 1.
    pub(super) number: u32,
    /// Its first byte in the file (for progress).
    pub(super) offset: u64,
    /// Where it goes.
    pub(super) url: &'a str,
    /// Its bytes.
    pub(super) body: PartBody,
}

/// Sends `part`, reporting the file's bytes sent as it goes.
pub(super) async fn send_part(run: &Run<'_>, part: PartJob<'_>) -> Result<(), Stop> {
    let policy = run.options.retry;
    let client = &run.ctx.backend.client;
    let mut failures = 0u32;
    loop {
        let progress = run.report.part_progress(part.offset, part.body.len());
        let sending = client.put_part(part.url, part.body.clone(), run.options.stall, progress);
        let answer = tokio::select! {
            biased;
            () = run.controls.cancelled() => return Err(Stop::Cancelled),
            answer = sending => answer,
        };
        let error = match answer {
            Ok(()) => {
                if failures > 0 {
                    run.report.sending();
                }
                return Ok(());
            }
            Err(error) => error,
        };
        if error.verdict() == Verdict::Retry && failures.saturating_add(1) < policy.attempts {
            failures = failures.saturating_add(1);
            let wait = policy.delay(failures, error.retry_after());
            tracing::warn!(device = %run.record.device_id, part = part.number, %error, ?wait, "a part failed; sending it again");
            run.report.state(FileState::Retrying {
                attempt: failures,
                reason: format!("part {}: {error}", part.number),
                wait,
            });
            // Progress goes back to the part's start: it is sent again whole.
            run.report.sent(part.offset, true);
            run.wait(wait).await?;
            continue;
        }
        return Err(part_failed(run, part.number, error));
    }
}

/// What a part's final failure means: the network gone for good stops the queue (the upload
/// is kept for `--resume`); a file that cannot be read or a part the server refuses ends
/// this file only.
fn part_failed(run: &Run<'_>, number: u32, error: ClientError) -> Stop {
    let device = run.record.device_id.clone();
    match &error {
        ClientError::File { .. } => Stop::File {
            reason: format!("{error}"),
            kind: FailureKind::Usage,
        },
        _ if error.verdict() == Verdict::Retry => {
            Stop::Queue(LifecycleError::Network { device, error })
        }
        _ if error.status() == Some(403) => Stop::LinkRefused(format!(
            "part {number} was refused ({error}); its upload link may have expired. Run \
             `c2c-pair upload --resume` to send the file again as a new asset"
        )),
        _ => Stop::File {
            reason: format!("part {number} was refused: {error}"),
            kind: FailureKind::Refused,
        },
    }
}
