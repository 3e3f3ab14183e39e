//! The device API calls of an upload — create the asset, ask for real-time part URLs, add the
//! note — made patiently: a fresh token first and one refresh on 401 (`with_access`), failures
//! worth it tried again as [`super::tries`] says (the network gone waited for without end, a
//! lost answer to a create sent again at most once), and 409 Channel Paused handled by
//! Frame.io's rule: a create refused twice parks its file (the media was recorded while the
//! device was paused), while a call about an asset that exists waits for the device.

use std::future::Future;

use secrecy::SecretString;

use super::run::{Run, Stop};
use super::status::FileState;
use super::tries::{Repeat, Retry, Tries};
use crate::c2c::ClientError;
use crate::device::session::with_access;
use crate::device::{FailureKind, LifecycleError};

/// What the files of a queue show while every one of them is refused as recorded during a
/// pause: the device looks paused now.
pub const PAUSED_REASON: &str = "the server refuses every file as recorded while the device \
     is paused in Frame.io (409 Channel Paused); waiting, and going on by itself once it \
     accepts media again (resume the device in Frame.io's C2C Connections)";

/// True for Frame.io's answer to media of a paused device: 409 with "Channel Paused".
pub fn is_channel_paused(error: &ClientError) -> bool {
    let description = match error {
        ClientError::Http { description, .. } | ClientError::OAuth { description, .. } => {
            description.as_deref()
        }
        _ => None,
    };
    error.status() == Some(409)
        && description.is_some_and(|d| d.to_ascii_lowercase().contains("paused"))
}

/// Makes one device API call for the file `run` reports on, until it succeeds, fails for
/// good, or the queue (or this file) is cancelled. `what` names it in messages ("creating the
/// asset"); `repeat` says whether a lost answer may hide one that was carried out.
pub(super) async fn patiently<T, F, Fut>(
    run: &Run<'_>,
    what: &'static str,
    repeat: Repeat,
    call: F,
) -> Result<T, Stop>
where
    F: Fn(SecretString) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let policy = run.options.retry;
    let mut tries = Tries::new(policy, repeat);
    let mut paused_refusals = 0u32;
    loop {
        let answer = tokio::select! {
            biased;
            () = run.cancelled() => return Err(Stop::Cancelled),
            answer = with_access(run.ctx, run.record, &call) => answer,
        };
        let error = match answer {
            Ok(value) => {
                if paused_refusals > 0 || tries.failed_before() {
                    run.report.sending();
                }
                return Ok(value);
            }
            Err(error) => error,
        };
        match &error {
            LifecycleError::Refused { error: inner, .. } if is_channel_paused(inner) => {
                paused_refusals = paused_refusals.saturating_add(1);
                let wait = match repeat {
                    // A refusal is confirmed once (a pause lifted a moment ago, a server
                    // that changed its mind) before the file is parked for good.
                    Repeat::Creates if paused_refusals > 1 => {
                        return Err(Stop::Paused(inner.to_string()));
                    }
                    Repeat::Creates => policy.first.saturating_mul(2),
                    // The asset exists: the device itself is paused; wait for it.
                    Repeat::Harmless => {
                        if paused_refusals == 1 {
                            tracing::warn!(device = %run.record.device_id, "{what}: the device is paused; waiting for it to be resumed");
                            run.report.state(FileState::Paused {
                                reason: PAUSED_REASON.to_owned(),
                            });
                        }
                        policy.paused_delay(paused_refusals)
                    }
                };
                run.wait(wait).await?;
            }
            LifecycleError::Network { error: inner, .. } => match tries.after(what, inner) {
                Retry::Again {
                    wait,
                    state,
                    duplicate_possible,
                } => {
                    tracing::warn!(device = %run.record.device_id, error = %inner, ?wait, "{what} failed; trying again");
                    if duplicate_possible {
                        run.report.duplicate_possible(what);
                    }
                    run.report.state(state);
                    run.wait(wait).await?;
                }
                Retry::LostTwice => {
                    return Err(Stop::File {
                        reason: format!(
                            "{what}: the answer was lost twice after the request was sent \
                             ({inner}); Frame.io may already hold it twice, so it was not \
                             sent a third time. Check the project, then send the file again"
                        ),
                        kind: FailureKind::Network,
                    });
                }
                Retry::GiveUp => {
                    return Err(Stop::File {
                        reason: format!("{what}: {inner}"),
                        kind: FailureKind::Network,
                    });
                }
            },
            _ => return Err(Stop::from_lifecycle(error)),
        }
    }
}
