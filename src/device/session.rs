//! Keeping a paired device's credentials alive: refresh with rotation, calls that retry once
//! after a refresh on 401, heartbeats, and the connected project.
//!
//! Refresh tokens are single-use (spec §5): the new set is written to the keychain before
//! anything uses it, the old one is forgotten only by that write, and the whole
//! read-refresh-write runs under a per-device lock shared with other processes, so the
//! window and a script never spend the same refresh token twice.

use std::future::Future;
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret as _, SecretString};

use super::{Context, FailureKind, Held, UnsavedTokens, token_set};
use crate::c2c::model::DeviceInfo;
use crate::c2c::{ClientError, Verdict};
use crate::device_id::DeviceId;
use crate::keychain::{KeychainError, TokenSet, unix_seconds};
use crate::registry::{DeviceRecord, DeviceState, Holder, Registry, RegistryError};

/// Refresh when less than this share of the access token's life is left (10 %).
const REFRESH_WHEN_LEFT: u64 = 10;
/// Refresh tokens live 14 days from issuance (spec §5).
pub const REFRESH_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);
/// Warn this long after the last refresh that the device must soon be paired again.
pub const WARN_AFTER: Duration = Duration::from_secs(12 * 24 * 3600);

/// Why an operation on a paired device failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No credentials for this device on this server.
    #[error("{device} is not paired with {host}: pair it first")]
    NotPaired {
        /// The device.
        device: DeviceId,
        /// Its server's keychain host.
        host: String,
    },
    /// The server no longer accepts the device's credentials.
    #[error("{device} must be paired again: {reason}")]
    NeedsRepairing {
        /// The device.
        device: DeviceId,
        /// What the server said.
        reason: String,
    },
    /// The server could not be reached or failed; nothing was changed.
    #[error("{device}: {error}. Nothing was changed{}.", again(.error))]
    Network {
        /// The device.
        device: DeviceId,
        /// What went wrong.
        error: ClientError,
    },
    /// The server refused the request for another reason (e.g. the client secret).
    #[error("{device}: {error}")]
    Refused {
        /// The device.
        device: DeviceId,
        /// What the server said.
        error: ClientError,
    },
    /// The server refused because of a setting (client secret, body encoding, token path),
    /// not because the pairing ended: the device stays paired.
    #[error("{device}: {error}; {hint}")]
    Settings {
        /// The device.
        device: DeviceId,
        /// What the server said.
        error: ClientError,
        /// What to check.
        hint: String,
    },
    /// The server has no such endpoint (a 404 or 405 from a server that is not Frame.io).
    #[error(
        "{server} has no {what} endpoint (HTTP {status} at {path}). Set the endpoint in the \
         settings, or switch it off with an empty path (endpoints.{key} = \"\")"
    )]
    NotOffered {
        /// How messages name the server.
        server: String,
        /// "device information", "heartbeat".
        what: &'static str,
        /// The settings key.
        key: &'static str,
        /// The path that was asked.
        path: String,
        /// The HTTP status.
        status: u16,
    },
    /// Another process holds the device's newest credentials, not yet saved.
    #[error(
        "{device}: another c2c-pair process (pid {pid}) refreshed it {ago} but the keychain has \
         not accepted the new credentials yet; that process holds them and keeps trying. Nothing \
         was sent: the stored refresh token is already spent. Unlock the keychain (that process \
         then saves them), or wait for it."
    )]
    HeldElsewhere {
        /// The device.
        device: DeviceId,
        /// The holding process.
        pid: u32,
        /// "3 min ago".
        ago: String,
    },
    /// The keychain failed.
    #[error("{0}")]
    Keychain(#[from] KeychainError),
    /// A refresh succeeded but its tokens could not be saved; they are kept for a retry.
    #[error(
        "{device} was refreshed, but the new credentials could not be saved: {error} The \
         keychain still holds the previous set; the new one is kept in memory until saving works."
    )]
    SaveFailed {
        /// The device.
        device: DeviceId,
        /// The keychain's complaint.
        error: KeychainError,
        /// The new tokens, waiting to be saved.
        unsaved: Box<UnsavedTokens>,
    },
    /// Unpairing could not reach the server; credentials are kept and it will be retried.
    #[error(
        "unpairing {device} is pending: {reason}. Its credentials are kept until the server \
         confirms; unpair again (or leave the window open) to retry."
    )]
    UnpairPending {
        /// The device.
        device: DeviceId,
        /// Why the revoke failed.
        reason: String,
    },
    /// The device list could not be read or written.
    #[error("{0}")]
    Registry(#[from] RegistryError),
    /// A file was not uploaded; the reason says why and what to do.
    #[error("{device}: {file} was not uploaded: {reason}")]
    Upload {
        /// The device.
        device: DeviceId,
        /// The file's name.
        file: String,
        /// Why.
        reason: String,
        /// The exit-code family.
        kind: FailureKind,
    },
    /// The device's credentials were handed to the device itself: the laptop holds none, so
    /// it neither refreshes, nor calls the server for it, nor can it revoke them.
    #[error(
        "{device}: handed off to the device at {}; pair again to manage it from here",
        crate::human_time::rfc3339(*at)
    )]
    HandedOff {
        /// The device.
        device: DeviceId,
        /// When, Unix seconds.
        at: u64,
    },
}

/// When to try again after a network failure: at once after the sign-in a portal wants
/// (its message says so), else when the network is back.
fn again(error: &ClientError) -> &'static str {
    if error.sign_in_page().is_some() {
        ""
    } else {
        "; try again when the network is back"
    }
}

impl LifecycleError {
    /// The exit-code family, as for pairing.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::NotPaired { .. }
            | Self::Registry(_)
            | Self::Settings { .. }
            | Self::NotOffered { .. } => FailureKind::Usage,
            Self::NeedsRepairing { .. } | Self::Refused { .. } | Self::HandedOff { .. } => {
                FailureKind::Refused
            }
            Self::Network { error, .. } if error.sign_in_page().is_some() => FailureKind::SignIn,
            Self::Network { .. } | Self::UnpairPending { .. } => FailureKind::Network,
            Self::Keychain(_) | Self::SaveFailed { .. } | Self::HeldElsewhere { .. } => {
                FailureKind::Keychain
            }
            Self::Upload { kind, .. } => *kind,
        }
    }
}

/// True when the access token is expired or has less than 10 % of its life left.
/// A token without a known expiry is refreshed only when the server rejects it.
pub fn needs_refresh(tokens: &TokenSet, now: u64) -> bool {
    let Some(expires_at) = tokens.access_expires_at else {
        return false;
    };
    let life = expires_at.saturating_sub(tokens.issued_at);
    let left = expires_at.saturating_sub(now);
    left.saturating_mul(REFRESH_WHEN_LEFT) < life || now >= expires_at
}

/// A device not refreshed for 12 days: its refresh token dies 14 days after issuance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshWarning {
    /// Whole days until the refresh token expires (0 when already expired).
    pub days_left: u64,
}

impl std::fmt::Display for RefreshWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.days_left {
            0 => f.write_str("its refresh token has expired: pair it again"),
            1 => f.write_str("not refreshed for 13 days: refresh it today or pair it again"),
            days => write!(
                f,
                "not refreshed for 12 days: refresh it within {days} days or pair it again"
            ),
        }
    }
}

/// The day-12 warning for a record, if it is due (never for a device handed off: its
/// refresh token is the device's business now).
pub fn refresh_warning(record: &DeviceRecord, now: u64) -> Option<RefreshWarning> {
    if record.handed_off_at().is_some() {
        return None;
    }
    let issued = record.refresh_issued_at?;
    let age = now.saturating_sub(issued);
    if age < WARN_AFTER.as_secs() {
        return None;
    }
    let left = REFRESH_LIFETIME.as_secs().saturating_sub(age);
    Some(RefreshWarning {
        days_left: left.div_ceil(24 * 3600),
    })
}

fn now() -> u64 {
    unix_seconds(SystemTime::now())
}

pub(super) async fn load(ctx: &Context, record: &DeviceRecord) -> Result<TokenSet, LifecycleError> {
    ctx.keychain
        .load_tokens(&record.account())
        .await?
        .ok_or_else(|| LifecycleError::NotPaired {
            device: record.device_id.clone(),
            host: record.keychain_host.clone(),
        })
}

/// A device the server already refused is not tried again: no retry loops.
fn ensure_usable(record: &DeviceRecord) -> Result<(), LifecycleError> {
    ensure_held_here(record)?;
    match &record.state {
        DeviceState::NeedsRepairing { reason } => Err(LifecycleError::NeedsRepairing {
            device: record.device_id.clone(),
            reason: reason.clone(),
        }),
        DeviceState::Paired | DeviceState::UnpairPending { .. } | DeviceState::HandedOff { .. } => {
            Ok(())
        }
    }
}

/// Refuses a device whose credentials were handed to the device: whatever the keychain may
/// still hold for it, the laptop must not use it (a refresh would rotate the refresh token
/// the device now holds, and end its pairing).
pub(super) fn ensure_held_here(record: &DeviceRecord) -> Result<(), LifecycleError> {
    match record.handed_off_at() {
        Some(at) => Err(LifecycleError::HandedOff {
            device: record.device_id.clone(),
            at,
        }),
        None => Ok(()),
    }
}

/// Refuses a device whose newest credentials another process holds unsaved (the keychain's
/// refresh token is spent); a mark whose holder is gone means those credentials are lost,
/// and the device is marked for re-pairing.
pub(super) fn ensure_not_held(ctx: &Context, record: &DeviceRecord) -> Result<(), LifecycleError> {
    let Some(pending) = &record.save_pending else {
        return Ok(());
    };
    match ctx.registry.holder(&record.account())? {
        Holder::Alive => Err(LifecycleError::HeldElsewhere {
            device: record.device_id.clone(),
            pid: pending.pid,
            ago: crate::human_time::ago(pending.since, now()),
        }),
        Holder::Gone => {
            let reason = format!(
                "its newest credentials were lost: the process holding them (pid {}) ended \
                 before the keychain accepted them",
                pending.pid
            );
            ctx.registry
                .modify(&record.device_id, &record.keychain_host, |r| {
                    r.save_pending = None;
                })?;
            Err(needs_repairing(ctx, record, reason))
        }
    }
}

/// The device's tokens, refreshed first when less than 10 % of the access token's life is left.
pub async fn fresh_tokens(
    ctx: &Context,
    record: &DeviceRecord,
) -> Result<TokenSet, LifecycleError> {
    ensure_held_here(record)?;
    ensure_not_held(ctx, record)?;
    ensure_usable(record)?;
    let tokens = load(ctx, record).await?;
    if !needs_refresh(&tokens, now()) {
        return Ok(tokens);
    }
    refresh_if(ctx, record, Asked::Routinely, |current| {
        needs_refresh(current, now())
    })
    .await
}

/// Refreshes now, whatever the token's age. Asked for by the user, so a device marked "needs
/// re-pairing" is tried once more (the mark may come from a settings mistake since fixed).
pub async fn refresh(ctx: &Context, record: &DeviceRecord) -> Result<TokenSet, LifecycleError> {
    refresh_if(ctx, record, Asked::ByTheUser, |_| true).await
}

/// Who asked for a refresh: a device marked "needs re-pairing" is refreshed only on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Asked {
    Routinely,
    ByTheUser,
}

/// Under the device's lock, reads the tokens again (another process may have refreshed
/// meanwhile) and refreshes only if `still_needed` says so.
async fn refresh_if(
    ctx: &Context,
    record: &DeviceRecord,
    asked: Asked,
    still_needed: impl Fn(&TokenSet) -> bool,
) -> Result<TokenSet, LifecycleError> {
    let _lock = lock_device(&ctx.registry, record).await?;
    // The record as it is now: another process may have marked it while we waited.
    let latest = latest_record(ctx, record)?;
    if let Some(latest) = &latest {
        ensure_held_here(latest)?;
        ensure_not_held(ctx, latest)?;
        if asked == Asked::Routinely {
            ensure_usable(latest)?;
        }
    }
    let paired_with = latest.and_then(|d| d.request_shape);
    let current = load(ctx, record).await?;
    if !still_needed(&current) {
        return Ok(current);
    }
    refresh_locked(ctx, record, paired_with, current).await
}

/// The device's record as the list has it now, if it is still there.
pub(super) fn latest_record(
    ctx: &Context,
    record: &DeviceRecord,
) -> Result<Option<DeviceRecord>, LifecycleError> {
    let devices = ctx.registry.load()?.devices;
    Ok(devices
        .into_iter()
        .find(|d| d.is(&record.device_id, &record.keychain_host)))
}

/// Refreshes `current`, the device's stored set, and saves the new one. The caller holds the
/// device's lock and has checked the record; `paired_with` is how its last successful token
/// request was made.
pub(super) async fn refresh_locked(
    ctx: &Context,
    record: &DeviceRecord,
    paired_with: Option<String>,
    current: TokenSet,
) -> Result<TokenSet, LifecycleError> {
    let device = record.device_id.clone();
    let Some(refresh_token) = current.refresh_token.clone() else {
        let reason = "no refresh token was issued (the offline scope was not granted)".to_owned();
        return Err(needs_repairing(ctx, record, reason));
    };
    let credentials = ctx.backend.credentials(&record.device_id);
    let answer = ctx
        .client(record)
        .refresh(&credentials, &refresh_token)
        .await;
    let shape = request_shape(ctx);
    let response = match answer {
        Ok(response) => response,
        Err(error) => {
            return Err(match refusal(&error, paired_with.as_deref(), &shape) {
                Refusal::DeadPairing => needs_repairing(ctx, record, error.to_string()),
                Refusal::Settings(hint) => LifecycleError::Settings {
                    device,
                    error,
                    hint,
                },
                Refusal::Retry => LifecycleError::Network { device, error },
                Refusal::Other => LifecycleError::Refused { device, error },
            });
        }
    };
    // The old refresh token is spent now: the new set must reach the keychain first.
    let rotated = response.refresh_token_unusable;
    if rotated {
        tracing::warn!(device = %record.device_id, "the server's new refresh token is not a token (RFC 6749 characters); dropped, the access token kept");
    }
    let mut renewed = token_set(response, SystemTime::now());
    if renewed.refresh_token.is_none() && !rotated {
        // RFC 6749 §6: a server that issues no new refresh token leaves the old one valid.
        renewed.refresh_token = Some(refresh_token);
        renewed.scope = renewed.scope.or(current.scope);
    }
    if let Err(error) = ctx.keychain.save_tokens(&record.account(), &renewed).await {
        // Marked before the device lock is released: from now on, other processes see that
        // this one holds the only valid refresh token.
        let unsaved = UnsavedTokens {
            device_id: record.device_id.clone(),
            name: record.name.clone(),
            client_version: None,
            account: record.account(),
            tokens: renewed,
            held: Some(std::sync::Arc::new(Held::mark(&ctx.registry, record))),
        };
        return Err(LifecycleError::SaveFailed {
            device,
            error,
            unsaved: Box::new(unsaved),
        });
    }
    tracing::info!(device = %record.device_id, "refreshed; new tokens saved");
    ctx.registry
        .modify(&record.device_id, &record.keychain_host, {
            let (expires_at, issued_at) = (renewed.access_expires_at, renewed.issued_at);
            move |r| {
                r.access_expires_at = expires_at;
                r.refresh_issued_at = Some(issued_at);
                r.state = DeviceState::Paired;
                r.request_shape = Some(shape);
            }
        })?;
    // After every refresh, ask which project the device is in (spec §3.4).
    if let Err(error) = update_project(ctx, record, &renewed.access_token).await {
        tracing::warn!(device = %record.device_id, %error, "could not read the connected project");
    }
    Ok(renewed)
}

/// What a refused refresh means.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The refresh token is dead: pair again.
    DeadPairing,
    /// Our settings are wrong (client secret, body encoding, token path); the pairing may
    /// well be fine. The hint says what to check.
    Settings(String),
    /// Worth trying again later; nothing was changed.
    Retry,
    /// A refusal without a verdict on the pairing.
    Other,
}

/// How the refresh request was made: body encoding and token path. Recorded with every
/// success, so that `invalid_request` can be told apart from a changed setting.
fn request_shape(ctx: &Context) -> String {
    let profile = ctx.backend.client.profile();
    format!("{} {}", profile.body, profile.paths.token)
}

/// Reads a refused refresh. Only a 4xx with an OAuth code is a verdict (5xx, 408 and 429
/// never reach here as OAuth errors). `invalid_grant` and `expired_token` mean the pairing is
/// over; `invalid_client` (400 or 401, RFC 6749 §5.2) is the client secret, never the
/// pairing; `invalid_request` is Frame.io's answer to a reused refresh token only when the
/// request was made the way that worked before — after a change of body encoding or token
/// path it is the change.
fn refusal(error: &ClientError, paired_with: Option<&str>, shape: &str) -> Refusal {
    match error.verdict() {
        Verdict::Retry => Refusal::Retry,
        Verdict::CredentialsDead => Refusal::DeadPairing,
        Verdict::ClientRejected => Refusal::Settings(
            "the server did not accept the client secret or device id; the pairing is kept. \
             Check the client secret for this server, then refresh again"
                .into(),
        ),
        Verdict::RequestRejected if paired_with == Some(shape) => Refusal::DeadPairing,
        Verdict::RequestRejected => Refusal::Settings(match paired_with {
            Some(before) => format!(
                "the server called the request malformed. This device last refreshed with \
                 \"{before}\" (body encoding and token path) and the settings now say \
                 \"{shape}\": put them back, then refresh again; the pairing is kept"
            ),
            None => format!(
                "the server called the request malformed (sent as \"{shape}\", body encoding \
                 and token path). Check those settings for this server, then refresh again; \
                 the pairing is kept"
            ),
        }),
        _ => Refusal::Other,
    }
}

pub(super) fn needs_repairing(
    ctx: &Context,
    record: &DeviceRecord,
    reason: String,
) -> LifecycleError {
    tracing::warn!(device = %record.device_id, %reason, "needs re-pairing");
    let state = DeviceState::NeedsRepairing {
        reason: reason.clone(),
    };
    if let Err(error) = ctx
        .registry
        .modify(&record.device_id, &record.keychain_host, |r| {
            r.state = state;
        })
    {
        return error.into();
    }
    LifecycleError::NeedsRepairing {
        device: record.device_id.clone(),
        reason,
    }
}

/// Takes the device's cross-process lock without blocking the runtime.
pub(super) async fn lock_device(
    registry: &Registry,
    record: &DeviceRecord,
) -> Result<std::fs::File, LifecycleError> {
    let registry = registry.clone();
    let account = record.account();
    tokio::task::spawn_blocking(move || registry.lock_device(&account))
        .await
        .map_err(|e| RegistryError::Io {
            path: "device lock".into(),
            action: "locked",
            reason: e.to_string(),
        })?
        .map_err(LifecycleError::from)
}

/// Calls a device endpoint with a fresh access token; on 401, refreshes once and retries once.
pub(super) async fn with_access<T, F, Fut>(
    ctx: &Context,
    record: &DeviceRecord,
    call: F,
) -> Result<T, LifecycleError>
where
    F: Fn(SecretString) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let tokens = fresh_tokens(ctx, record).await?;
    let device = record.device_id.clone();
    match call(tokens.access_token.clone()).await {
        Err(error) if error.is_unauthorized() => {
            let stale = tokens.access_token;
            let renewed = refresh_if(ctx, record, Asked::Routinely, |current| {
                current.access_token.expose_secret() == stale.expose_secret()
            })
            .await?;
            match call(renewed.access_token).await {
                // Fresh credentials refused too: the device was removed or revoked.
                Err(error) if error.is_unauthorized() => {
                    Err(needs_repairing(ctx, record, error.to_string()))
                }
                Err(error) => Err(call_failed(device, error)),
                Ok(value) => Ok(value),
            }
        }
        Err(error) => Err(call_failed(device, error)),
        Ok(value) => Ok(value),
    }
}

/// A device call that failed for another reason than a 401: the network (try again later),
/// or the server's refusal (a 403, a 409 Channel Paused…), which no retry changes.
fn call_failed(device: DeviceId, error: ClientError) -> LifecycleError {
    match error.verdict() {
        Verdict::Retry => LifecycleError::Network { device, error },
        _ => LifecycleError::Refused { device, error },
    }
}

/// The clear word for a 404 or 405 from an optional endpoint: the server has none, which is
/// no network trouble (a standard OAuth server has neither heartbeat nor device information).
pub fn not_offered(
    profile: &crate::c2c::profile::Profile,
    endpoint: OptionalEndpoint,
    error: &ClientError,
) -> Option<LifecycleError> {
    let ClientError::Http {
        status: status @ (404 | 405),
        ..
    } = error
    else {
        return None;
    };
    let (what, key, path) = match endpoint {
        OptionalEndpoint::DeviceInfo => (
            "device information",
            "device_info",
            &profile.paths.device_info,
        ),
        OptionalEndpoint::Heartbeat => ("heartbeat", "heartbeat", &profile.paths.heartbeat),
    };
    Some(LifecycleError::NotOffered {
        server: profile.server_name(),
        what,
        key,
        path: path.clone(),
        status: *status,
    })
}

/// The endpoints a server other than Frame.io may not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionalEndpoint {
    /// `GET /v2/devices/me`.
    DeviceInfo,
    /// `POST /v2/devices/heartbeat`.
    Heartbeat,
}

/// Maps a 404/405 from an optional endpoint to [`LifecycleError::NotOffered`].
fn or_not_offered(
    ctx: &Context,
    endpoint: OptionalEndpoint,
    error: LifecycleError,
) -> LifecycleError {
    match &error {
        LifecycleError::Network { error: inner, .. }
        | LifecycleError::Refused { error: inner, .. } => {
            not_offered(ctx.backend.client.profile(), endpoint, inner).unwrap_or(error)
        }
        _ => error,
    }
}

/// Frame.io's heartbeat window (spec §3.5): no more than once a minute, at least every 5
/// minutes (the device shows offline after 5 minutes without one).
pub const HEARTBEAT_WINDOW: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(300));
/// The shortest heartbeat interval towards a server on this machine (the embedded one, whose
/// online timer tests shorten).
pub const MIN_LOCAL_HEARTBEAT: Duration = Duration::from_secs(1);

/// The interval to heartbeat at for the setting `wanted`: within Frame.io's 60–300 s, or for
/// a server `on_this_machine` from 1 s to 300 s; with a warning when it had to be changed.
pub fn heartbeat_interval(wanted: Duration, on_this_machine: bool) -> (Duration, Option<String>) {
    let (low, high) = HEARTBEAT_WINDOW;
    let low = if on_this_machine {
        MIN_LOCAL_HEARTBEAT
    } else {
        low
    };
    let every = wanted.clamp(low, high);
    let warning = (every != wanted).then(|| {
        format!(
            "heartbeat_interval {} s is outside the {}–{} s Frame.io asks for; heartbeats go              every {} s",
            wanted.as_secs_f64(),
            low.as_secs(),
            high.as_secs(),
            every.as_secs_f64()
        )
    });
    (every, warning)
}

/// Keeps the device shown online in Frame.io while something else runs.
///
/// Part uploads to storage do not count as being online, so an upload needs this: one
/// heartbeat now, then one every `every`, until `until` is cancelled. A failed heartbeat is
/// logged and the next one goes on schedule; what failed is for the work it runs beside to
/// meet and say.
pub async fn heartbeats(
    ctx: &Context,
    record: &DeviceRecord,
    every: Duration,
    until: &tokio_util::sync::CancellationToken,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = until.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let beat = tokio::select! {
            biased;
            () = until.cancelled() => return,
            beat = heartbeat(ctx, record) => beat,
        };
        match beat {
            Ok(()) => tracing::debug!(device = %record.device_id, "heartbeat"),
            Err(error) => tracing::warn!(device = %record.device_id, %error, "heartbeat failed"),
        }
    }
}

/// Sends one heartbeat and records when it went through.
///
/// With heartbeats switched off (an empty `endpoints.heartbeat`) none is sent, but the tokens
/// are still refreshed when due: the heartbeat round is what keeps a pairing alive.
pub async fn heartbeat(ctx: &Context, record: &DeviceRecord) -> Result<(), LifecycleError> {
    let client = &*ctx.client(record);
    if !client.profile().offers_heartbeat() {
        return fresh_tokens(ctx, record).await.map(drop);
    }
    with_access(ctx, record, |token| async move {
        client.heartbeat(&token).await
    })
    .await
    .map_err(|e| or_not_offered(ctx, OptionalEndpoint::Heartbeat, e))?;
    ctx.registry
        .modify(&record.device_id, &record.keychain_host, |r| {
            r.last_heartbeat = Some(now());
        })?;
    Ok(())
}

/// Whether the server says the device is paused now (`GET /v2/devices/me`'s `status`, which a
/// legacy schema lists as `paused`): `Some(true)` paused, `Some(false)` not, `None` when it
/// does not say (no such endpoint, no status, no answer).
pub async fn paused_now(ctx: &Context, record: &DeviceRecord) -> Option<bool> {
    let client = &*ctx.client(record);
    if !client.profile().offers_device_info() {
        return None;
    }
    let info = with_access(ctx, record, |token| async move {
        client.device_info(&token).await
    })
    .await
    .ok()?;
    info.status
        .map(|status| status.eq_ignore_ascii_case("paused"))
}

/// Asks the server which project the device is connected to and records it.
pub async fn connected_project(
    ctx: &Context,
    record: &DeviceRecord,
) -> Result<Option<String>, LifecycleError> {
    let client = &*ctx.client(record);
    if !client.profile().offers_device_info() {
        return Ok(record.project_name.clone());
    }
    let info = with_access(ctx, record, |token| async move {
        client.device_info(&token).await
    })
    .await
    .map_err(|e| or_not_offered(ctx, OptionalEndpoint::DeviceInfo, e))?;
    record_project(ctx, record, &info)?;
    Ok(info.project.and_then(|p| p.name))
}

async fn update_project(
    ctx: &Context,
    record: &DeviceRecord,
    access: &SecretString,
) -> Result<(), LifecycleError> {
    let client = ctx.client(record);
    let profile = client.profile();
    if !profile.offers_device_info() {
        return Ok(());
    }
    let info = client.device_info(access).await.map_err(|error| {
        not_offered(profile, OptionalEndpoint::DeviceInfo, &error).unwrap_or(
            LifecycleError::Network {
                device: record.device_id.clone(),
                error,
            },
        )
    })?;
    record_project(ctx, record, &info)
}

fn record_project(
    ctx: &Context,
    record: &DeviceRecord,
    info: &DeviceInfo,
) -> Result<(), LifecycleError> {
    ctx.registry
        .modify(&record.device_id, &record.keychain_host, {
            let project = info.project.clone();
            let remote_name = info.name.clone();
            move |r| {
                r.project_name = project.as_ref().and_then(|p| p.name.clone());
                r.project_id = project.and_then(|p| p.id);
                r.remote_name = remote_name;
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod heartbeat_tests {
    use super::*;

    #[test]
    fn heartbeats_keep_to_frame_ios_window_except_on_this_machine() {
        let secs = Duration::from_secs;
        assert_eq!(heartbeat_interval(secs(120), false), (secs(120), None));
        let (every, warning) = heartbeat_interval(secs(10), false);
        assert_eq!(every, secs(60));
        assert!(warning.unwrap().contains("outside the 60–300 s"));
        assert_eq!(heartbeat_interval(secs(3600), false).0, secs(300));
        assert_eq!(heartbeat_interval(secs(2), true), (secs(2), None));
        assert_eq!(heartbeat_interval(secs(900), true).0, secs(300));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c2c::OAuthErrorCode;

    fn tokens(issued_at: u64, expires_at: u64) -> TokenSet {
        TokenSet {
            issued_at,
            access_expires_at: Some(expires_at),
            ..TokenSet::sample()
        }
    }

    #[test]
    fn refresh_is_due_in_the_last_tenth_of_the_access_token_life() {
        let set = tokens(0, 28_800);
        assert!(!needs_refresh(&set, 0));
        assert!(!needs_refresh(&set, 25_920), "exactly 10 % left");
        assert!(needs_refresh(&set, 25_921));
        assert!(needs_refresh(&set, 28_800));
        assert!(needs_refresh(&set, 99_999));
        let unknown = TokenSet {
            access_expires_at: None,
            ..set
        };
        assert!(!needs_refresh(&unknown, 99_999));
    }

    #[test]
    fn only_a_verdict_on_the_token_flags_a_device() {
        let oauth = |status, code: &str| ClientError::OAuth {
            status,
            error: OAuthErrorCode::parse(code),
            description: None,
        };
        let shape = "urlencoded /v2/auth/token";
        assert_eq!(
            refusal(&oauth(400, "invalid_grant"), None, shape),
            Refusal::DeadPairing
        );
        assert!(matches!(
            refusal(&oauth(401, "invalid_client"), Some(shape), shape),
            Refusal::Settings(_)
        ));
        assert_eq!(
            refusal(&oauth(400, "invalid_request"), Some(shape), shape),
            Refusal::DeadPairing,
            "the same request that worked before: Frame.io's reused-token answer"
        );
        let changed = refusal(
            &oauth(400, "invalid_request"),
            Some("multipart /v2/auth/token"),
            shape,
        );
        assert!(
            matches!(&changed, Refusal::Settings(hint) if hint.contains("multipart")),
            "{changed:?}"
        );
        assert!(matches!(
            refusal(&oauth(400, "invalid_request"), None, shape),
            Refusal::Settings(_)
        ));
        let gateway = ClientError::Http {
            status: 401,
            description: None,
            retry_after: None,
        };
        assert_eq!(refusal(&gateway, Some(shape), shape), Refusal::Other);
    }

    #[test]
    fn the_re_pair_warning_starts_on_day_twelve() {
        let day = 24 * 3600;
        let record = |issued| DeviceRecord {
            refresh_issued_at: Some(issued),
            ..crate::registry::test_record("CAM-1")
        };
        assert_eq!(refresh_warning(&record(0), 12 * day - 1), None);
        assert_eq!(
            refresh_warning(&record(0), 12 * day),
            Some(RefreshWarning { days_left: 2 })
        );
        assert_eq!(
            refresh_warning(&record(0), 13 * day + 5),
            Some(RefreshWarning { days_left: 1 })
        );
        assert_eq!(
            refresh_warning(&record(0), 15 * day),
            Some(RefreshWarning { days_left: 0 })
        );
        assert!(
            RefreshWarning { days_left: 2 }
                .to_string()
                .contains("within 2 days")
        );
    }
}
