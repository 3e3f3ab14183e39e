//! One device's pairing, start to end: keychain preflight, device code, polling, saving the
//! tokens, and reading back which project the device joined. This is the single place that
//! decides what happens next; progress goes out as [`PairEvent`]s.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::c2c::poller::{Next, PollEnd, poll_until_done};
use crate::c2c::{ClientError, OAuthErrorCode, PollStatus, Poller, StopReason, TokenResponse};
use crate::keychain::{Keychain, KeychainError, TokenSet, token_account, unix_seconds};

/// Longest device id accepted.
pub const MAX_DEVICE_ID_LEN: usize = 128;

/// A device's `client_id`: its serial number or a UUID, unique per physical device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(String);

/// Why a device id is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    /// Nothing but whitespace.
    #[error("enter a device id: the device's serial number or a UUID")]
    Empty,
    /// Longer than [`MAX_DEVICE_ID_LEN`].
    #[error("the device id is {0} characters long; the limit is {MAX_DEVICE_ID_LEN}")]
    TooLong(usize),
    /// Holds a control character (a pasted tab or newline, say).
    #[error("the device id contains a control character (tab, newline …); type it again")]
    ControlCharacter,
}

impl DeviceId {
    /// Checks a typed device id. Whitespace around it is dropped, nothing else is changed.
    pub fn parse(text: &str) -> Result<Self, DeviceIdError> {
        let id = text.trim();
        if id.is_empty() {
            return Err(DeviceIdError::Empty);
        }
        let len = id.chars().count();
        if len > MAX_DEVICE_ID_LEN {
            return Err(DeviceIdError::TooLong(len));
        }
        if id.chars().any(char::is_control) {
            return Err(DeviceIdError::ControlCharacter);
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as sent to the server.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
}

/// How a pairing ended, short of an error.
#[derive(Debug)]
pub enum PairOutcome {
    /// Paired, tokens saved.
    Paired(PairedDevice),
    /// The user cancelled.
    Cancelled,
}

/// Kinds of failure, which decide the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Bad usage or configuration (exit 2).
    Usage,
    /// The server refused: denied, invalid grant, invalid client (exit 3).
    Refused,
    /// The code expired (exit 4).
    Expired,
    /// Network or server failure (exit 5).
    Network,
    /// Keychain failure (exit 6).
    Keychain,
}

impl FailureKind {
    /// The CLI exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Usage => 2,
            Self::Refused => 3,
            Self::Expired => 4,
            Self::Network => 5,
            Self::Keychain => 6,
        }
    }

    /// A stable name for scripts (`--json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::Refused => "refused",
            Self::Expired => "expired",
            Self::Network => "network",
            Self::Keychain => "keychain",
        }
    }
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

impl PairError {
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
            Self::Stopped(StopReason::Failed { .. }) => FailureKind::Network,
        }
    }

    fn code_request(error: ClientError) -> Self {
        let (kind, hint) = match &error {
            ClientError::Config(_) => (FailureKind::Usage, ""),
            ClientError::OAuth {
                error: OAuthErrorCode::InvalidClient,
                ..
            } => (
                FailureKind::Refused,
                " Check the client secret for this device model (Settings, `c2c-pair secret set` \
                 or C2C_PAIR_CLIENT_SECRET).",
            ),
            ClientError::OAuth { .. } => (FailureKind::Refused, ""),
            ClientError::Connect { .. }
            | ClientError::Timeout { .. }
            | ClientError::Broken { .. } => (
                FailureKind::Network,
                " Check the network connection, the API base, and proxy settings \
                 (HTTPS_PROXY / NO_PROXY), then try again.",
            ),
            _ => (
                FailureKind::Network,
                " Check that the API base and endpoint paths point at a C2C server.",
            ),
        };
        Self::CodeRequest {
            message: format!("{error}.{hint}"),
            kind,
        }
    }
}

/// Tokens that were issued but not yet saved.
#[derive(Debug, Clone)]
pub struct UnsavedTokens {
    /// The device they belong to.
    pub device_id: DeviceId,
    /// Keychain account they belong in.
    pub account: String,
    /// The tokens.
    pub tokens: TokenSet,
}

impl UnsavedTokens {
    /// Tries to save them again.
    pub async fn save(&self, keychain: &Keychain) -> Result<(), KeychainError> {
        keychain.save_tokens(&self.account, &self.tokens).await
    }
}

/// Pairs one device: preflight, code, polling, saving, project lookup.
///
/// `cancel` stops it at once while waiting; a poll already sent finishes first, and tokens it
/// brings are saved rather than lost.
pub async fn pair(
    backend: &Backend,
    keychain: &Keychain,
    device_id: &DeviceId,
    cancel: &CancellationToken,
    mut emit: impl FnMut(PairEvent),
) -> Result<PairOutcome, PairError> {
    let client = &backend.client;
    emit(PairEvent::CheckingKeychain);
    tokio::select! {
        biased;
        () = cancel.cancelled() => return Ok(PairOutcome::Cancelled),
        checked = keychain.preflight() => checked.map_err(PairError::KeychainUnusable)?,
    }
    emit(PairEvent::RequestingCode);
    let credentials = crate::c2c::ClientCredentials {
        client_id: device_id.as_str().to_owned(),
        client_secret: backend.client_secret.clone(),
    };
    let authorization = tokio::select! {
        biased;
        () = cancel.cancelled() => return Ok(PairOutcome::Cancelled),
        answer = client.request_device_code(&credentials) => answer.map_err(PairError::code_request)?,
    };
    let received = tokio::time::Instant::now();
    emit(PairEvent::CodeIssued(CodeDisplay {
        user_code: authorization.user_code.clone(),
        verification_uri: authorization.verification_uri.clone(),
        verification_uri_complete: authorization.verification_uri_complete.clone(),
        expires_in: authorization.expires_in,
        expires_at: (received + authorization.expires_in).into_std(),
        interval: authorization.interval,
    }));
    tracing::info!(device = %device_id, expires_in = ?authorization.expires_in,
        interval = ?authorization.interval, "code issued; polling");

    let poller = Poller::new(received, authorization.expires_in, authorization.interval);
    let device_code = &authorization.device_code;
    let end = poll_until_done(
        poller,
        cancel,
        || client.exchange_device_code(&credentials, device_code),
        |status, next| {
            let (Next::PollAt(at) | Next::ExpireAt(at)) = next;
            emit(PairEvent::Polled {
                status: status.clone(),
                next_check: at.into_std(),
            });
        },
    )
    .await;
    let tokens = match end {
        PollEnd::Authorized(tokens) => tokens,
        PollEnd::Stopped(reason) => return Err(PairError::Stopped(reason)),
        PollEnd::Cancelled => return Ok(PairOutcome::Cancelled),
    };

    // From here on the tokens exist: nothing may drop them.
    emit(PairEvent::Saving);
    let unsaved = UnsavedTokens {
        device_id: device_id.clone(),
        account: token_account(device_id.as_str(), &client.profile().keychain_host()),
        tokens: token_set(tokens, SystemTime::now()),
    };
    if let Err(error) = unsaved.save(keychain).await {
        return Err(PairError::SaveFailed {
            error,
            unsaved: Box::new(unsaved),
        });
    }
    tracing::info!(device = %device_id, account = %unsaved.account, "paired; tokens saved");
    Ok(PairOutcome::Paired(
        describe_paired(backend, keychain, &unsaved).await,
    ))
}

/// The token set a token answer gives, stamped with the time it arrived.
pub fn token_set(response: TokenResponse, received_at: SystemTime) -> TokenSet {
    let issued_at = unix_seconds(received_at);
    TokenSet {
        access_token: response.access_token,
        refresh_token: response.refresh_token,
        access_expires_at: response
            .expires_in
            .map(|lifetime| issued_at.saturating_add(lifetime.as_secs())),
        issued_at,
        scope: response.scope,
    }
}

/// Builds the "Paired" summary once the tokens are saved, asking the server which project
/// the device joined (spec §2 step 5). A failure here does not undo the pairing.
pub async fn describe_paired(
    backend: &Backend,
    keychain: &Keychain,
    saved: &UnsavedTokens,
) -> PairedDevice {
    let info = backend.client.device_info(&saved.tokens.access_token).await;
    let (project, remote_name, project_error) = match info {
        Ok(info) => (info.project.and_then(|p| p.name), info.name, None),
        Err(error) => (None, None, Some(error.to_string())),
    };
    PairedDevice {
        device_id: saved.device_id.clone(),
        keychain_account: saved.account.clone(),
        keychain: keychain.describe(),
        project,
        remote_name,
        project_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_checked() {
        assert_eq!(
            DeviceId::parse("  CAM-0042 \n").unwrap().as_str(),
            "CAM-0042"
        );
        assert_eq!(DeviceId::parse(""), Err(DeviceIdError::Empty));
        assert_eq!(DeviceId::parse(" \t "), Err(DeviceIdError::Empty));
        assert_eq!(
            DeviceId::parse(&"x".repeat(129)),
            Err(DeviceIdError::TooLong(129))
        );
        assert!(
            DeviceId::parse(&"é".repeat(128)).is_ok(),
            "the limit counts characters"
        );
        assert_eq!(
            DeviceId::parse("CAM\t1"),
            Err(DeviceIdError::ControlCharacter)
        );
        assert_eq!(
            DeviceId::parse("CAM\u{7}1"),
            Err(DeviceIdError::ControlCharacter)
        );
    }

    #[test]
    fn token_lifetimes_come_from_the_answer() {
        let response: TokenResponse = serde_json::from_str(
            r#"{"access_token":"a","refresh_token":"r","expires_in":28800,"token_type":"bearer"}"#,
        )
        .unwrap();
        let set = token_set(
            response,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
        );
        assert_eq!(set.issued_at, 1_000);
        assert_eq!(set.access_expires_at, Some(29_800));
    }

    #[test]
    fn failures_map_to_the_documented_exit_codes() {
        let stopped = |reason| PairError::Stopped(reason).kind().exit_code();
        assert_eq!(stopped(StopReason::Expired { by_server: false }), 4);
        assert_eq!(stopped(StopReason::Denied { description: None }), 3);
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
        let offline = PairError::code_request(ClientError::Connect {
            host: "api.frame.io".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(offline.kind().exit_code(), 5);
        assert!(offline.to_string().contains("proxy"), "{offline}");
        let secret = PairError::code_request(ClientError::OAuth {
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
