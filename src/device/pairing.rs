//! Pairing one device, start to end: keychain preflight, device code, polling, saving the
//! tokens, recording the device, and reading back which project it joined. Progress goes out
//! as [`PairEvent`]s.

use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::{Context, DeviceId, DeviceIdError, FailureKind, UnsavedTokens, token_set};
use crate::c2c::poller::{Next, PollEnd, poll_until_done};
use crate::c2c::{
    C2cClient, ClientCredentials, ClientError, DeviceAuthorization, OAuthErrorCode, PollStatus,
    Poller, StopReason, TokenResponse, Verdict,
};
use crate::clock::Later as _;
use crate::keychain::{KeychainError, token_account};
use crate::registry::{DeviceRecord, DeviceState};

/// What to show while a code waits. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDisplay {
    /// The user code, exactly as issued.
    pub user_code: String,
    /// Where to enter the code.
    pub verification_uri: Option<String>,
    /// The page with the code pre-filled.
    pub verification_uri_complete: Option<String>,
    /// Lifetime of the code.
    pub expires_in: Duration,
    /// When the code expires.
    pub expires_at: Instant,
    /// Poll interval asked for by the server.
    pub interval: Duration,
}

impl CodeDisplay {
    /// What the QR code carries: the pre-filled link when there is one.
    pub fn qr_target(&self) -> Option<&str> {
        self.verification_uri_complete
            .as_deref()
            .or(self.verification_uri.as_deref())
    }
}

/// Progress of a pairing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairEvent {
    /// Checking that the keychain works.
    CheckingKeychain,
    /// Asking the server for a code.
    RequestingCode,
    /// A code to show.
    CodeIssued(CodeDisplay),
    /// A poll was answered; the next check is at `next_check` (or the code expires then).
    Polled {
        /// What the server said.
        status: PollStatus,
        /// When the next poll goes out.
        next_check: Instant,
    },
    /// Approved; saving the tokens.
    Saving,
}

/// A device that finished pairing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedDevice {
    /// The device's id.
    pub device_id: DeviceId,
    /// Keychain account holding its tokens.
    pub keychain_account: String,
    /// Which keychain ("Secret Service, service c2c-pair").
    pub keychain: String,
    /// Project the device joined, from `/v2/devices/me`.
    pub project: Option<String>,
    /// Device name in Frame.io, from `/v2/devices/me`.
    pub remote_name: Option<String>,
    /// Why the project could not be read, if it could not.
    pub project_error: Option<String>,
    /// Why the device could not be recorded in the device list, if it could not.
    pub registry_error: Option<String>,
    /// The credentials were kept (false in presenter mode on the demo server).
    pub kept: bool,
    /// The server issued no refresh token: the pairing ends with the access token.
    pub no_refresh_token: bool,
}

/// What to say when a server issued no refresh token.
pub const NO_REFRESH_TOKEN: &str = "the server issued no refresh token (it did not grant \
    offline access), so this pairing ends when the access token expires. To keep devices \
    paired, ask for a scope that grants refresh tokens (the scope setting; Frame.io: \
    \"asset_create offline\")";

/// How a pairing ended, short of an error.
#[derive(Debug)]
pub enum PairOutcome {
    /// Paired, tokens saved.
    Paired(PairedDevice),
    /// The user cancelled.
    Cancelled,
}

/// Why pairing failed. Messages are for a field engineer: what happened, what to do.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// The device id is not usable.
    #[error("{0}")]
    DeviceId(#[from] DeviceIdError),
    /// The keychain failed its check before any code was requested.
    #[error("Cannot pair yet: {0}")]
    KeychainUnusable(KeychainError),
    /// No code could be obtained.
    #[error("Could not get a pairing code: {message}")]
    CodeRequest {
        /// What went wrong and what to do.
        message: String,
        /// Which kind of failure it was.
        kind: FailureKind,
        /// What the user must fix, when it is something the app can point at.
        remedy: Option<Remedy>,
        /// The server could not be reached (see [`ClientError::is_unreachable`]).
        unreachable: bool,
    },
    /// Polling stopped without tokens.
    #[error("{0}")]
    Stopped(StopReason),
    /// Tokens were issued but could not be saved. They are kept in `unsaved` for a retry.
    #[error(
        "The device was approved, but its credentials could not be saved: {error} \
         They are kept in memory until saving works; nothing was written to a plain file."
    )]
    SaveFailed {
        /// The keychain's complaint.
        error: KeychainError,
        /// The tokens, waiting to be saved.
        unsaved: Box<UnsavedTokens>,
    },
}

/// What the user must fix after a refusal, as this layer understands the cause.
///
/// The edges say which command or control does it (the CLI names its command that stores a
/// secret, the window its Settings), so the words for it live there, not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// The server wants a valid client secret for this device model (`invalid_client`).
    ClientSecret,
    /// The network wants a sign-in on this page first (a captive portal).
    SignIn {
        /// The sign-in page (printable).
        page: String,
    },
}

impl PairError {
    /// What the user must fix, when it is something the app can point at.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Self::CodeRequest { remedy, .. } => remedy.clone(),
            Self::Stopped(StopReason::Refused {
                code: OAuthErrorCode::InvalidClient,
                ..
            }) => Some(Remedy::ClientSecret),
            _ => None,
        }
    }

    /// Whether the server could not be reached (the network, not an answer, stopped it).
    pub fn unreachable(&self) -> bool {
        match self {
            Self::CodeRequest { unreachable, .. } => *unreachable,
            Self::Stopped(StopReason::Unreachable { .. }) => true,
            _ => false,
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::DeviceId(_) => FailureKind::Usage,
            Self::KeychainUnusable(_) | Self::SaveFailed { .. } => FailureKind::Keychain,
            Self::CodeRequest { kind, .. } => *kind,
            Self::Stopped(StopReason::Expired { .. }) => FailureKind::Expired,
            Self::Stopped(StopReason::Denied { .. } | StopReason::Refused { .. }) => {
                FailureKind::Refused
            }
            Self::Stopped(StopReason::Failed { .. } | StopReason::Unreachable { .. }) => {
                FailureKind::Network
            }
        }
    }

    fn code_request(error: &ClientError) -> Self {
        let remedy = matches!(
            error,
            ClientError::OAuth {
                error: OAuthErrorCode::InvalidClient,
                ..
            }
        )
        .then_some(Remedy::ClientSecret)
        .or_else(|| {
            error.sign_in_page().map(|page| Remedy::SignIn {
                page: page.to_owned(),
            })
        });
        let (kind, hint) = match error {
            ClientError::Config(_) | ClientError::File { .. } => (FailureKind::Usage, ""),
            ClientError::OAuth {
                error: OAuthErrorCode::InvalidClient,
                ..
            } => (
                FailureKind::Refused,
                " The server wants the client secret of this device model.",
            ),
            ClientError::OAuth { .. } => (FailureKind::Refused, ""),
            ClientError::Connect { .. }
            | ClientError::Timeout { .. }
            | ClientError::Stalled { .. }
            | ClientError::Broken { .. } => (
                FailureKind::Network,
                " Check the network connection, the API base, and proxy settings \
                 (HTTPS_PROXY / NO_PROXY), then try again.",
            ),
            ClientError::SignIn { .. } => (FailureKind::SignIn, ""),
            ClientError::Untrusted { .. }
            | ClientError::Handshake { .. }
            | ClientError::NoTrustStore(_) => (FailureKind::Network, ""),
            ClientError::Malformed(_) | ClientError::TooLarge => (
                FailureKind::Network,
                " On a guest or venue network, open a web page to accept its terms first; \
                 otherwise check that the API base points at a C2C server.",
            ),
            ClientError::Http { .. } | ClientError::Unusable(_) => (
                FailureKind::Network,
                " Check that the API base and endpoint paths point at a C2C server.",
            ),
        };
        Self::CodeRequest {
            message: format!("{error}.{hint}"),
            kind,
            remedy,
            unreachable: error.is_unreachable(),
        }
    }
}

/// Waits before the second and third tries of a failed code request.
const CODE_REQUEST_RETRIES: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(1)];
/// Longest `Retry-After` honoured for a code request; the user is waiting.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Pairs one device: preflight, code, polling, saving, recording, project lookup.
///
/// `cancel` stops it at once while waiting; a poll already sent finishes first, and tokens it
/// brings are saved rather than lost.
pub async fn pair(
    ctx: &Context,
    device_id: &DeviceId,
    name: Option<&str>,
    firmware: Option<&str>,
    cancel: &CancellationToken,
    mut emit: impl FnMut(PairEvent),
) -> Result<PairOutcome, PairError> {
    emit(PairEvent::CheckingKeychain);
    tokio::select! {
        biased;
        () = cancel.cancelled() => return Ok(PairOutcome::Cancelled),
        checked = ctx.keychain.preflight() => checked.map_err(PairError::KeychainUnusable)?,
    }
    let client = ctx.client_for(firmware);
    let Some(tokens) = obtain_tokens(ctx, &client, device_id, cancel, &mut emit).await? else {
        return Ok(PairOutcome::Cancelled);
    };
    // From here on the tokens exist: nothing may drop them.
    if tokens.refresh_token_unusable {
        tracing::warn!(device = %device_id, "the server's refresh token is not a token (RFC 6749 characters); dropped, the access token kept");
    }
    emit(PairEvent::Saving);
    let unsaved = UnsavedTokens {
        device_id: device_id.clone(),
        name: name.map(str::to_owned),
        client_version: firmware.map(str::to_owned),
        account: token_account(
            device_id.as_str(),
            &ctx.backend.client.profile().keychain_host(),
        ),
        tokens: token_set(tokens, SystemTime::now()),
        // A new pairing: no other process knows this device yet, so there is nothing to mark.
        held: None,
    };
    if let Err(error) = unsaved.save(&ctx.keychain).await {
        return Err(PairError::SaveFailed {
            error,
            unsaved: Box::new(unsaved),
        });
    }
    tracing::info!(device = %device_id, account = %unsaved.account, "paired; tokens saved");
    Ok(PairOutcome::Paired(finish_pairing(ctx, &unsaved).await))
}

/// Pairs a demo device for show (presenter mode on the demo server).
///
/// The same code, QR and polling, then the connected project is read and the tokens are
/// revoked and dropped: nothing reaches the keychain or the device list, so no keychain is
/// needed either.
pub async fn pair_for_show(
    ctx: &Context,
    device_id: &DeviceId,
    cancel: &CancellationToken,
    mut emit: impl FnMut(PairEvent),
) -> Result<PairOutcome, PairError> {
    let client = &ctx.backend.client;
    let Some(tokens) = obtain_tokens(ctx, client, device_id, cancel, &mut emit).await? else {
        return Ok(PairOutcome::Cancelled);
    };
    let info = client.device_info(&tokens.access_token).await;
    let credentials = ctx.backend.credentials(device_id.as_str());
    let revoke = tokens
        .refresh_token
        .as_ref()
        .unwrap_or(&tokens.access_token);
    if let Err(error) = client.revoke(&credentials, revoke).await {
        tracing::info!(device = %device_id, %error, "could not revoke show tokens; they are dropped");
    }
    let (project, remote_name, project_error) = match info {
        Ok(info) => (info.project.and_then(|p| p.name), info.name, None),
        Err(error) => (None, None, Some(error.to_string())),
    };
    Ok(PairOutcome::Paired(PairedDevice {
        device_id: device_id.clone(),
        keychain_account: String::new(),
        keychain: String::new(),
        kept: false,
        project,
        remote_name,
        project_error,
        registry_error: None,
        no_refresh_token: tokens.refresh_token.is_none(),
    }))
}

/// Fresh codes asked for in one pairing because the last one died while the laptop slept.
const MAX_CODES_AFTER_SLEEP: usize = 3;

/// Code request, display, polling: the tokens once approved, or `None` if cancelled. A code
/// that died while the laptop slept is replaced by a fresh one (at most
/// [`MAX_CODES_AFTER_SLEEP`] times): nobody saw it expire.
async fn obtain_tokens(
    ctx: &Context,
    client: &C2cClient,
    device_id: &DeviceId,
    cancel: &CancellationToken,
    emit: &mut impl FnMut(PairEvent),
) -> Result<Option<TokenResponse>, PairError> {
    let credentials = ctx.backend.credentials(device_id.as_str());
    for renewal in 0..=MAX_CODES_AFTER_SLEEP {
        emit(PairEvent::RequestingCode);
        let Some(authorization) = request_code(client, &credentials, device_id, cancel).await?
        else {
            return Ok(None);
        };
        match poll_code(client, &credentials, authorization, cancel, emit).await {
            PollEnd::Authorized(tokens) => return Ok(Some(tokens)),
            PollEnd::Stopped(reason) => {
                return Err(PairError::Stopped(reason.at(client.profile())));
            }
            PollEnd::Cancelled => return Ok(None),
            PollEnd::Slept if renewal < MAX_CODES_AFTER_SLEEP => {
                tracing::info!(device = %device_id, "the code expired while this laptop slept; asking for a fresh one");
            }
            PollEnd::Slept => {}
        }
    }
    Err(PairError::Stopped(StopReason::Expired { by_server: false }))
}

/// Asks for a code, retrying a failed request a little; `None` if cancelled.
async fn request_code(
    client: &C2cClient,
    credentials: &ClientCredentials,
    device_id: &DeviceId,
    cancel: &CancellationToken,
) -> Result<Option<DeviceAuthorization>, PairError> {
    let mut waits = CODE_REQUEST_RETRIES.iter();
    loop {
        let answer = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(None),
            answer = client.request_device_code(credentials) => answer,
        };
        // A failed code request is retried a little: nothing was issued that could be lost,
        // and venue networks drop a request now and then.
        let wait = match answer {
            Ok(authorization) => return Ok(Some(authorization)),
            Err(error) if error.verdict() == Verdict::Retry => match waits.next() {
                Some(wait) => {
                    tracing::info!(device = %device_id, %error, "code request failed; retrying");
                    error
                        .retry_after()
                        .map_or(*wait, |asked| asked.min(MAX_RETRY_AFTER))
                }
                None => return Err(PairError::code_request(&error)),
            },
            Err(error) => return Err(PairError::code_request(&error)),
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(None),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Shows `authorization`'s code and polls until it ends.
async fn poll_code(
    client: &C2cClient,
    credentials: &ClientCredentials,
    authorization: DeviceAuthorization,
    cancel: &CancellationToken,
    emit: &mut impl FnMut(PairEvent),
) -> PollEnd {
    let received = tokio::time::Instant::now();
    emit(PairEvent::CodeIssued(CodeDisplay {
        user_code: authorization.user_code.clone(),
        verification_uri: authorization.verification_uri.clone(),
        verification_uri_complete: authorization.verification_uri_complete.clone(),
        expires_in: authorization.expires_in,
        expires_at: received.later(authorization.expires_in).into_std(),
        interval: authorization.interval,
    }));
    tracing::info!(expires_in = ?authorization.expires_in,
        interval = ?authorization.interval, "code issued; polling");

    let poller = Poller::new(received, authorization.expires_in, authorization.interval);
    let device_code = &authorization.device_code;
    poll_until_done(
        poller,
        cancel,
        || client.exchange_device_code(credentials, device_code),
        |status, next| {
            let (Next::PollAt(at) | Next::ExpireAt(at)) = next;
            emit(PairEvent::Polled {
                status: status.clone(),
                next_check: at.into_std(),
            });
        },
    )
    .await
}

/// Once the tokens are saved: asks the server which project the device joined, records the
/// device in the registry, and sums it up.
///
/// The project is spec §2 step 5. Neither step can undo the pairing; a failure is reported
/// in the summary.
pub async fn finish_pairing(ctx: &Context, saved: &UnsavedTokens) -> PairedDevice {
    let client = ctx.client_for(saved.client_version.as_deref());
    let profile = client.profile();
    let info = if profile.offers_device_info() {
        Some(client.device_info(&saved.tokens.access_token).await)
    } else {
        None
    };
    let (project, project_id, remote_name, project_error) = match info {
        Some(Ok(info)) => {
            let (project, project_id) = info.project.map_or((None, None), |p| (p.name, p.id));
            (project, project_id, info.name, None)
        }
        Some(Err(error)) => {
            let shown = super::session::not_offered(
                profile,
                super::session::OptionalEndpoint::DeviceInfo,
                &error,
            )
            .map_or_else(|| error.to_string(), |e| e.to_string());
            (None, None, None, Some(shown))
        }
        None => (None, None, None, None),
    };
    let record = DeviceRecord {
        device_id: saved.device_id.clone(),
        name: saved.name.clone(),
        api_base: profile.api_base.to_string(),
        keychain_host: profile.keychain_host(),
        paired_at: saved.tokens.issued_at,
        project_name: project.clone(),
        project_id,
        remote_name: remote_name.clone(),
        access_expires_at: saved.tokens.access_expires_at,
        // None says "no refresh token" in the list: the pairing ends with the access token.
        refresh_issued_at: saved
            .tokens
            .refresh_token
            .as_ref()
            .map(|_| saved.tokens.issued_at),
        last_heartbeat: None,
        last_upload: None,
        client_version: saved.client_version.clone(),
        request_shape: Some(format!("{} {}", profile.body, profile.paths.token)),
        save_pending: None,
        state: DeviceState::Paired,
    };
    let registry_error = ctx.registry.upsert(record).err().map(|e| e.to_string());
    PairedDevice {
        device_id: saved.device_id.clone(),
        keychain_account: saved.account.clone(),
        keychain: ctx.keychain.describe(),
        project,
        remote_name,
        project_error,
        registry_error,
        kept: true,
        no_refresh_token: saved.tokens.refresh_token.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_the_documented_exit_codes() {
        let stopped = |reason| PairError::Stopped(reason).kind().exit_code();
        assert_eq!(stopped(StopReason::Expired { by_server: false }), 4);
        assert_eq!(
            stopped(StopReason::Denied {
                description: None,
                server: None,
                scope: None
            }),
            3
        );
        assert_eq!(
            stopped(StopReason::Refused {
                code: OAuthErrorCode::InvalidGrant,
                description: None
            }),
            3
        );
        assert_eq!(
            stopped(StopReason::Failed {
                message: "x".into()
            }),
            5
        );
        assert_eq!(PairError::from(DeviceIdError::Empty).kind().exit_code(), 2);
        let offline = PairError::code_request(&ClientError::Connect {
            host: "api.frame.io".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(offline.kind().exit_code(), 5);
        assert!(offline.to_string().contains("proxy"), "{offline}");
        let secret = PairError::code_request(&ClientError::OAuth {
            status: 400,
            error: OAuthErrorCode::InvalidClient,
            description: None,
        });
        assert_eq!(secret.kind().exit_code(), 3);
        let keychain =
            PairError::KeychainUnusable(KeychainError::Unavailable { reason: "x".into() });
        assert_eq!(keychain.kind().exit_code(), 6);
    }
}
