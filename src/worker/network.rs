//! Whether the server pairings go to can be reached, for the window's indicator: one request
//! at start, then one every [`CHECK_EVERY`] (sooner while it cannot be reached), and at once
//! when the server changes. Real API calls count too ([`Observation`]): a heartbeat that
//! could not reach the server turns the light red at once, and one that went through turns
//! it green, so the light never disagrees with what the devices just met. The UI hears only
//! of changes, so nothing repaints in between.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use url::Url;

use super::Outbox;
use super::protocol::{Event, NetworkProblem, NetworkStatus};
use crate::backend::Backend;
use crate::c2c::C2cClient;
use crate::device::LifecycleError;

/// What a real API call met: the API base it went to, and why it could not reach it (`None`:
/// it did).
#[derive(Debug, Clone)]
pub struct Observation {
    /// The API base called.
    pub api_base: Url,
    /// Why the server could not be reached, if it could not.
    pub problem: Option<NetworkProblem>,
}

impl Observation {
    /// What a call to `api_base` that ended with `result` says about the network; `None`
    /// when it says nothing (it never left this computer: a keychain failure).
    pub fn of(api_base: &Url, result: &Result<(), LifecycleError>) -> Option<Self> {
        let problem = match result {
            Err(LifecycleError::Network { error, .. }) if error.is_unreachable() => {
                Some(NetworkProblem::of(error))
            }
            Ok(()) | Err(LifecycleError::Network { .. } | LifecycleError::Refused { .. }) => None,
            Err(_) => return None,
        };
        Some(Self {
            api_base: api_base.clone(),
            problem,
        })
    }
}

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

/// Checks `target` until the sender is dropped, sending [`Event::Network`] on each change;
/// an [`Observation`] of a call to the same API base stands for a check.
pub async fn watch_reachability(
    mut target: watch::Receiver<Target>,
    mut seen: mpsc::UnboundedReceiver<Observation>,
    outbox: Outbox,
) {
    let mut shown: Option<NetworkStatus> = None;
    let mut show = |status: NetworkStatus| {
        if shown.as_ref() != Some(&status) {
            outbox.send(Event::Network(status.clone()));
            shown = Some(status);
        }
    };
    let mut current = target.borrow_and_update().clone();
    let mut problem = probe(&current).await;
    loop {
        let next = if problem.is_some() {
            RECHECK_EVERY
        } else {
            CHECK_EVERY
        };
        show(NetworkStatus {
            server: current.server.clone(),
            problem: problem.clone(),
        });
        tokio::select! {
            changed = target.changed() => {
                if changed.is_err() {
                    return;
                }
                current = target.borrow_and_update().clone();
                problem = probe(&current).await;
            }
            Some(observed) = seen.recv() => {
                if observed.api_base == current.client.profile().api_base {
                    problem = observed.problem;
                }
            }
            () = tokio::time::sleep(next) => problem = probe(&current).await,
        }
    }
}

/// One check of `target`: why it cannot be reached, if it cannot.
async fn probe(target: &Target) -> Option<NetworkProblem> {
    let started = Instant::now();
    let problem = target
        .client
        .reach()
        .await
        .err()
        .map(|e| NetworkProblem::of(&e));
    tracing::debug!(server = %target.server, took_ms = started.elapsed().as_millis(), ?problem, "reachability");
    problem
}
