//! The device API calls of an upload — create the asset, ask for real-time part URLs, add the
//! note — made patiently: a fresh token first and one refresh on 401 (`with_access`), network
//! trouble, 5xx and 429 retried with back-off, and a device paused in Frame.io (409 Channel
//! Paused) waited out, however long, until it is resumed or the queue is cancelled.

use std::future::Future;

use secrecy::SecretString;

use super::queue::{Run, Stop};
use super::status::FileState;
use crate::c2c::ClientError;
use crate::device::LifecycleError;
use crate::device::session::with_access;

/// What a paused device's file shows while the queue waits.
pub const PAUSED_REASON: &str = "the device is paused in Frame.io (409 Channel Paused); \
     waiting, and going on by itself once it is resumed in Frame.io's C2C Connections";

/// True for Frame.io's answer to a device that is paused: 409 with "Channel Paused".
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
/// good, or the queue is cancelled.
pub(super) async fn patiently<T, F, Fut>(
    run: &Run<'_>,
    what: &'static str,
    call: F,
) -> Result<T, Stop>
where
    F: Fn(SecretString) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let policy = run.options.retry;
    let mut failures = 0u32;
    let mut paused_checks = 0u32;
    loop {
        let answer = tokio::select! {
            biased;
            () = run.controls.cancelled() => return Err(Stop::Cancelled),
            answer = with_access(run.ctx, run.record, &call) => answer,
        };
        let error = match answer {
            Ok(value) => {
                if paused_checks > 0 || failures > 0 {
                    run.report.sending();
                }
                return Ok(value);
            }
            Err(error) => error,
        };
        match &error {
            LifecycleError::Refused { error: inner, .. } if is_channel_paused(inner) => {
                paused_checks = paused_checks.saturating_add(1);
                if paused_checks == 1 {
                    tracing::warn!(device = %run.record.device_id, "{what}: the device is paused; waiting for it to be resumed");
                    run.report.state(FileState::Paused {
                        reason: PAUSED_REASON.to_owned(),
                    });
                }
                run.wait(policy.paused_delay(paused_checks)).await?;
            }
            LifecycleError::Network { error: inner, .. }
                if failures.saturating_add(1) < policy.attempts =>
            {
                failures = failures.saturating_add(1);
                let wait = policy.delay(failures, inner.retry_after());
                tracing::warn!(device = %run.record.device_id, error = %inner, ?wait, "{what} failed; trying again");
                run.report.state(FileState::Retrying {
                    attempt: failures,
                    reason: format!("{what}: {inner}"),
                    wait,
                });
                run.wait(wait).await?;
            }
            _ => return Err(Stop::from_lifecycle(error)),
        }
    }
}
