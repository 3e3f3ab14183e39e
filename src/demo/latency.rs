//! Latency on demand (`POST /_control/latency {"ms": n}`): a delay before every request is
//! handled — the device API, the approval page and part uploads (before a byte of a part's
//! body is read) — as on a slow or distant network, until set back to 0. Control calls are
//! never delayed, so a test can always change it.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Shared;

/// Longest latency a control call may set (as long as a stalled upload is held).
pub const LONGEST: Duration = Duration::from_secs(600);

/// The delay in force, before the request is handled; cut short when the server stops.
pub async fn delayed(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let delay = shared.lock().latency();
    if !delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.stop.cancelled() => {}
        }
    }
    next.run(request).await
}

/// `ms` from a control call as the latency to set, at most [`LONGEST`].
pub fn clamped(ms: u64) -> Duration {
    Duration::from_millis(ms).min(LONGEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_clamped() {
        assert_eq!(clamped(250), Duration::from_millis(250));
        assert_eq!(clamped(u64::MAX), LONGEST);
    }
}
