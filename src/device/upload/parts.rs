//! Sends one part to its presigned URL, again and again while the failure is worth it (as
//! [`super::tries`] says: a dropped connection, a stall, a timeout, a 5xx or a 429 after its
//! `Retry-After`, and a network that is gone, waited for without end); anything else is
//! final for the file. A storage host that stays out of reach while the API answers is no
//! outage (the network is up; a venue firewall or a bad link keeps that host away): the
//! file fails, resumable, instead of waiting for ever.

use crate::c2c::ClientError;
use crate::c2c::part::PartBody;
use crate::clock::unix_seconds;
use crate::device::FailureKind;

use super::run::{Run, Stop};
use super::status::FileState;
use super::tries::{Repeat, Retry, Tries};

/// One part to send.
pub(super) struct PartJob<'a> {
    /// Its number, from 1.
    pub(super) number: u32,
    /// Where it goes.
    pub(super) url: &'a str,
    /// When its URL expires (Unix seconds), when the URL said so.
    pub(super) expires_at: Option<u64>,
    /// The asset's MIME type, sent as its `Content-Type` (the URL may sign it).
    pub(super) content_type: &'a str,
    /// Its bytes.
    pub(super) body: PartBody,
}

/// Sends `part`, reporting its bytes as they go; once it arrived, its bytes count as done.
pub(super) async fn send_part(run: &Run<'_>, part: PartJob<'_>) -> Result<(), Stop> {
    let client = run.client;
    let len = part.body.len();
    let what = format!("part {}", part.number);
    let mut tries = Tries::new(run.options.retry, Repeat::Harmless);
    loop {
        let progress = run.report.part_progress(part.number, len);
        let sending = client.put_part(
            part.url,
            part.content_type,
            part.body.clone(),
            run.options.stall,
            progress,
        );
        let answer = tokio::select! {
            biased;
            () = run.cancelled() => return Err(Stop::Cancelled),
            answer = sending => answer,
        };
        let error = match answer {
            Ok(()) => {
                run.report.part_done(part.number, len);
                if tries.failed_before() {
                    run.report.sending();
                }
                return Ok(());
            }
            Err(error) => error,
        };
        if matches!(error, ClientError::File { .. }) {
            return Err(part_failed(&part, &error));
        }
        match tries.after(&what, &error) {
            Retry::Again { wait, state, .. } => {
                if matches!(state, FileState::Offline { .. }) {
                    let api_answers = tokio::select! {
                        biased;
                        () = run.cancelled() => return Err(Stop::Cancelled),
                        reached = client.reach() => reached.is_ok(),
                    };
                    if api_answers {
                        return Err(storage_out_of_reach(&part, &error));
                    }
                }
                tracing::warn!(device = %run.record.device_id, part = part.number, %error, ?wait, "a part failed; sending it again");
                run.report.state(state);
                // Its bytes go again from the start.
                run.report.part_restarts(part.number);
                run.wait(wait).await?;
            }
            Retry::GiveUp | Retry::LostTwice => return Err(part_failed(&part, &error)),
        }
    }
}

/// A part whose storage host cannot be reached while the API answers.
fn storage_out_of_reach(part: &PartJob<'_>, error: &ClientError) -> Stop {
    let host = reqwest::Url::parse(part.url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| "the storage host".to_owned());
    Stop::File {
        reason: format!(
            "part {} could not reach {host} after every try ({error}), while the server \
             answers: the network is up, but something (a venue firewall, a proxy's allow \
             list, a bad upload link) keeps that host away. Run `c2c-pair upload --resume` \
             once it is reachable",
            part.number
        ),
        kind: FailureKind::Network,
    }
}

/// What a part's final failure means for its file: a file that cannot be read, a link the
/// storage host refused (403: expired, or its signature does not match what was sent — the
/// next try asks for a new asset), or another refusal.
fn part_failed(part: &PartJob<'_>, error: &ClientError) -> Stop {
    let number = part.number;
    match error {
        ClientError::File { .. } => Stop::File {
            reason: format!("{error}"),
            kind: FailureKind::Usage,
        },
        _ if error.status() == Some(403) => {
            let now = unix_seconds(std::time::SystemTime::now());
            let why = match part.expires_at {
                Some(at) if at <= now => format!(
                    "its upload link expired {}",
                    crate::human_time::ago(at, now)
                ),
                _ => format!(
                    "its upload link had not expired, so the storage host did not accept what \
                     the link signs (sent: Content-Type {}, x-amz-acl private); if it happens \
                     again, report it to the server's operator",
                    part.content_type
                ),
            };
            Stop::LinkRefused(format!(
                "part {number} was refused ({error}): {why}. Run `c2c-pair upload --resume` to \
                 send the file again as a new asset"
            ))
        }
        _ => Stop::File {
            reason: format!("part {number} was refused: {error}"),
            kind: if error.verdict() == crate::c2c::Verdict::Retry {
                FailureKind::Network
            } else {
                FailureKind::Refused
            },
        },
    }
}
