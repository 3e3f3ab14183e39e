//! Handing a pairing to the device itself: a moved pairing, never a copied one.
//!
//! Refresh tokens are single-use, so two holders of one set would end each other's pairing.
//! Under the device's lock (no refresh can run meanwhile, here or in another process), the
//! set is refreshed first — the device gets a full access-token lifetime and a refresh token
//! nobody else has spent — and delivered (a command's standard input, or the caller's
//! output). Only once delivery succeeded is the record marked "handed off" and the laptop's
//! copy deleted; from then on nothing here refreshes it or calls the server for it. A
//! delivery that failed changes nothing but that refresh: the laptop keeps the pairing.

mod document;
mod exec;

use std::time::SystemTime;

use secrecy::{ExposeSecret as _, SecretString};
use tokio_util::sync::CancellationToken;

pub use document::{HandoffDocument, SCHEMA};
pub use exec::DeliveryFailed;

use super::session::{
    LifecycleError, ensure_held_here, ensure_not_held, latest_record, load, lock_device,
    needs_repairing, refresh_locked,
};
use super::{Context, FailureKind};
use crate::c2c::ClientError;
use crate::clock::unix_seconds;
use crate::device_id::DeviceId;
use crate::registry::{DeviceRecord, DeviceState};

/// Where the credentials go.
pub enum Delivery<'a> {
    /// Run this command line through the shell with the document on its standard input;
    /// delivered when it reads it and exits 0. Cancelling kills it.
    Command {
        /// The command line, as typed (`sh -c` on Unix, `cmd /C` on Windows).
        line: &'a str,
        /// Stops it.
        cancel: &'a CancellationToken,
    },
    /// The caller writes the document out (`--print`); delivered when that succeeds.
    Write(WriteDocument<'a>),
}

/// Writes the hand-off document somewhere; the error says why it could not.
pub type WriteDocument<'a> = Box<dyn FnOnce(&SecretString) -> Result<(), String> + Send + 'a>;

/// A pairing handed to its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedOff {
    /// When, Unix seconds.
    pub at: u64,
    /// Whether the set was refreshed for the hand-off (not when the server issues no
    /// refresh tokens: the device then got the access token as it was).
    pub refreshed: bool,
    /// What was left behind on this computer, in words (the hand-off itself happened).
    pub leftover: Option<String>,
}

/// Why a pairing was not handed off. Holds no secret.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// The device could not be handed off as it stands (handed off already, held by another
    /// process, needs re-pairing, a refresh that failed…); nothing was delivered.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The credentials were not taken: the laptop keeps the pairing.
    #[error(
        "{device} was not handed off: {failure} The laptop keeps the pairing; nothing was \
         deleted."
    )]
    NotDelivered {
        /// The device.
        device: DeviceId,
        /// What happened.
        failure: DeliveryFailed,
    },
}

impl HandoffError {
    /// The exit-code family: a command that did not take the credentials is a refusal.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Lifecycle(error) => error.kind(),
            Self::NotDelivered { .. } => FailureKind::Refused,
        }
    }
}

/// Hands `record`'s pairing to the device: refresh, deliver, then mark the record and delete
/// the laptop's copy (see the module's notes). Holds the device's lock throughout.
pub async fn hand_off(
    ctx: &Context,
    record: &DeviceRecord,
    delivery: Delivery<'_>,
) -> Result<HandedOff, HandoffError> {
    let device = record.device_id.clone();
    ensure_held_here(record)?;
    let _lock = lock_device(&ctx.registry, record).await?;
    // The record as it is now, under the lock: another process may have changed it.
    let latest = latest_record(ctx, record)?.ok_or_else(|| LifecycleError::NotPaired {
        device: device.clone(),
        host: record.keychain_host.clone(),
    })?;
    ensure_held_here(&latest)?;
    ensure_not_held(ctx, &latest)?;
    match &latest.state {
        DeviceState::NeedsRepairing { reason } => {
            return Err(LifecycleError::NeedsRepairing {
                device,
                reason: reason.clone(),
            }
            .into());
        }
        DeviceState::UnpairPending { reason } => {
            return Err(LifecycleError::UnpairPending {
                device,
                reason: reason.clone(),
            }
            .into());
        }
        DeviceState::Paired | DeviceState::HandedOff { .. } => {}
    }
    let current = load(ctx, &latest).await?;
    let refreshed = current.refresh_token.is_some();
    // A refresh answer without a scope grants the same scope as before (RFC 6749 §5.1).
    let granted = current.scope.clone();
    let mut tokens = if refreshed {
        refresh_locked(ctx, &latest, latest.request_shape.clone(), current).await?
    } else if current
        .access_expires_at
        .is_some_and(|expires| expires <= now())
    {
        let reason = "its access token has expired and the server issued no refresh token \
                      (the offline scope was not granted)"
            .to_owned();
        return Err(needs_repairing(ctx, &latest, reason).into());
    } else {
        current
    };
    tokens.scope = tokens.scope.or(granted);
    let profile = ctx.backend.client.profile();
    let token_url =
        profile
            .endpoint(&profile.paths.token)
            .map_err(|error| LifecycleError::Refused {
                device: device.clone(),
                error: ClientError::Config(error),
            })?;
    let at = now();
    let document = HandoffDocument::new(&latest, &tokens, profile, token_url.to_string(), at);
    let not_delivered = |failure| HandoffError::NotDelivered {
        device: device.clone(),
        failure,
    };
    let json = document
        .to_json()
        .map_err(|reason| not_delivered(DeliveryFailed::Output { reason }))?;
    let delivered = match delivery {
        Delivery::Command { line, cancel } => {
            let mut secrets = vec![tokens.access_token.expose_secret()];
            secrets.extend(tokens.refresh_token.as_ref().map(|t| t.expose_secret()));
            exec::run(line, &json, &secrets, cancel).await
        }
        Delivery::Write(write) => write(&json).map_err(|reason| DeliveryFailed::Output { reason }),
    };
    drop(json);
    if let Err(failure) = delivered {
        // The command line and what it said may hold secrets of their own: only the outcome
        // is logged.
        tracing::warn!(%device, outcome = failure.outcome(), "hand-off not taken; the pairing is kept");
        return Err(not_delivered(failure));
    }
    tracing::info!(%device, outcome = "exit status 0", "handed off to the device");
    Ok(HandedOff {
        at,
        refreshed,
        leftover: let_go(ctx, &latest, &tokens, at).await,
    })
}

/// After delivery: marks the record handed off, then deletes the laptop's copy. The mark
/// comes first, so that nothing here uses the device even if the keychain refuses; the copy
/// is deleted even if the list cannot be written, so that nothing here can. What could not be
/// done is returned in words.
async fn let_go(
    ctx: &Context,
    record: &DeviceRecord,
    tokens: &crate::keychain::TokenSet,
    at: u64,
) -> Option<String> {
    let (expires_at, issued_at) = (tokens.access_expires_at, tokens.issued_at);
    let marked = ctx
        .registry
        .modify(&record.device_id, &record.keychain_host, move |r| {
            r.state = DeviceState::HandedOff { handed_off_at: at };
            r.save_pending = None;
            r.access_expires_at = expires_at;
            r.refresh_issued_at = Some(issued_at);
        });
    let deleted = ctx.keychain.delete(&record.account()).await;
    let mut leftover = Vec::new();
    if let Err(error) = marked {
        tracing::warn!(device = %record.device_id, %error, "handed off, but not marked in the device list");
        leftover.push(format!(
            "the device list could not be updated ({error}), so it may still show the device \
             as paired; the laptop's copy of its credentials is deleted, so nothing here can \
             use it"
        ));
    }
    if let Err(error) = deleted {
        tracing::warn!(device = %record.device_id, %error, "handed off, but the keychain copy is still there");
        leftover.push(format!(
            "the laptop's copy of its credentials could not be deleted from the keychain \
             ({error}); nothing here will use it. Forget the device here to delete it"
        ));
    }
    (!leftover.is_empty()).then(|| leftover.join("; "))
}

impl DeliveryFailed {
    /// How it ended, in a few words with nothing the command said: what the log keeps.
    pub fn outcome(&self) -> &str {
        match self {
            Self::CouldNotStart { .. } => "could not start",
            Self::Exited { status, .. } => status,
            Self::DidNotRead { .. } => "did not read its input",
            Self::Output { .. } => "could not be written",
            Self::Cancelled => "cancelled",
        }
    }
}

fn now() -> u64 {
    unix_seconds(SystemTime::now())
}
