//! Whether the server pairings go to can be reached, for the window's indicator: one request
//! at start, then one every [`CHECK_EVERY`] (sooner while it cannot be reached), and at once
//! when the server changes. The UI hears only of changes, so nothing repaints in between.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Outbox;
use super::protocol::{Event, NetworkStatus};
use crate::backend::Backend;
use crate::c2c::C2cClient;

/// Time between checks while the server answers.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);
/// Time between checks while it does not.
pub const RECHECK_EVERY: Duration = Duration::from_secs(10);

/// The server to watch, with its name for people.
#[derive(Debug, Clone)]
pub struct Target {
    /// A client for its API base.
    pub client: C2cClient,
    /// Its name.
    pub server: String,
}

/// The target for the server `backend` talks to.
pub fn target(backend: &Backend) -> Target {
    let server = if backend.is_demo() {
        "the built-in demo server".to_owned()
    } else {
        let base = &backend.client.profile().api_base;
        base.host_str().unwrap_or(base.as_str()).to_owned()
    };
    Target {
        client: backend.client.clone(),
        server,
    }
}

/// Checks `target` until the sender is dropped, sending [`Event::Network`] on each change.
pub async fn watch_reachability(mut target: watch::Receiver<Target>, outbox: Outbox) {
    let mut shown: Option<NetworkStatus> = None;
    loop {
        let current = target.borrow_and_update().clone();
        let started = Instant::now();
        let problem = current.client.reach().await.err().map(|e| e.to_string());
        tracing::debug!(server = %current.server, took_ms = started.elapsed().as_millis(), ?problem, "reachability");
        let next = if problem.is_some() {
            RECHECK_EVERY
        } else {
            CHECK_EVERY
        };
        let status = NetworkStatus {
            server: current.server,
            problem,
        };
        if shown.as_ref() != Some(&status) {
            outbox.send(Event::Network(status.clone()));
            shown = Some(status);
        }
        tokio::select! {
            changed = target.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(next) => {}
        }
    }
}
