//! The server new pairings go to: set up at start (or anew after the client secret was
//! saved), what the window shows of it, and why it could not be set up, in the window's words.

use super::{Event, Mode, Outbox};
use crate::backend::{Backend, BackendChoice, BackendError, CLIENT_SECRET_ENV, Connected};
use crate::demo::DemoServer;
use crate::keychain::Keychain;

/// Sets the backend up and tells the window ([`Event::Ready`] or [`Event::StartFailed`]).
pub(super) async fn connect(
    choice: BackendChoice,
    keychain: &Keychain,
    outbox: &Outbox,
) -> Option<Connected> {
    match Backend::connect(choice, keychain).await {
        Ok(connected) => {
            let mode = mode_of(&connected.backend, connected.demo_server.as_ref());
            outbox.send(Event::Ready(mode));
            Some(connected)
        }
        Err(error) => {
            outbox.send(Event::StartFailed(backend_message(&error)));
            None
        }
    }
}

/// A backend that could not be set up, in words, with where the window fixes it.
pub(super) fn backend_message(error: &BackendError) -> String {
    match error {
        BackendError::NoSecret { .. } | BackendError::EnvSecretElsewhere { .. } => {
            format!("{error}. Save the client secret under Settings, or set {CLIENT_SECRET_ENV}.")
        }
        other => other.to_string(),
    }
}

/// What the window shows of a backend (on `demo_server` in demo mode).
pub(super) fn mode_of(backend: &Backend, demo_server: Option<&DemoServer>) -> Mode {
    match demo_server {
        Some(server) => Mode::Demo {
            approval_url: server.approval_url().to_string(),
            warning: backend.warning.clone(),
            reach: server.reach().clone(),
            strain: server.strain_watch(),
        },
        None => Mode::Live {
            api_base: backend.client.profile().api_base.to_string(),
        },
    }
}
