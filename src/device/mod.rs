//! One device's lifecycle — pairing, keeping its tokens fresh, heartbeats, unpairing — and
//! the single place that decides what happens next.
//!
//! Everything here works on the keychain (secrets), the registry (everything else) and one
//! server through its [`Backend`].

mod pairing;
mod session;
mod unpair;
mod upload;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

pub use pairing::{
    CodeDisplay, NO_REFRESH_TOKEN, PairError, PairEvent, PairOutcome, PairedDevice, finish_pairing,
    pair, pair_for_show,
};
pub use session::{
    LifecycleError, OptionalEndpoint, RefreshWarning, connected_project, fresh_tokens, heartbeat,
    needs_refresh, not_offered, refresh, refresh_warning,
};
pub use unpair::{Unpaired, forget, unpair};
pub use upload::{Media, PART_SIZE, Progress, TEST_CLIP, UploadOutcome, Uploaded, upload};

use crate::backend::Backend;
use crate::c2c::TokenResponse;
use crate::keychain::{Keychain, KeychainError, TokenSet, unix_seconds};
use crate::registry::Registry;

/// What every device operation works with: one server, the keychain and the registry.
#[derive(Clone)]
pub struct Context {
    /// The server and its client secret.
    pub backend: Arc<Backend>,
    /// Where secrets live.
    pub keychain: Keychain,
    /// Where everything else lives.
    pub registry: Registry,
}

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

/// Tokens that were issued but not yet saved.
#[derive(Debug, Clone)]
pub struct UnsavedTokens {
    /// The device they belong to.
    pub device_id: String,
    /// Its display name, for the registry.
    pub name: Option<String>,
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

    /// Tries again and again (after 1, 2, 4 and 8 s) — for the CLI, which has no "Retry
    /// saving" button and must not exit while issued tokens could still be saved.
    pub async fn save_patiently(&self, keychain: &Keychain) -> Result<(), KeychainError> {
        retry_patiently(|| self.save(keychain)).await
    }
}

/// Tries `attempt` now and after 1, 2, 4 and 8 s more, until it succeeds.
async fn retry_patiently<F, Fut>(mut attempt: F) -> Result<(), KeychainError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), KeychainError>>,
{
    let mut outcome = attempt().await;
    for wait in [1, 2, 4, 8] {
        if outcome.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        outcome = attempt().await;
    }
    outcome
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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

    #[tokio::test(start_paused = true)]
    async fn saving_is_retried_for_fifteen_seconds_then_given_up() {
        let start = tokio::time::Instant::now();
        let tries = std::cell::RefCell::new(Vec::new());
        let refused = || {
            tries.borrow_mut().push(start.elapsed().as_secs());
            async {
                Err(KeychainError::Locked {
                    reason: "test".into(),
                })
            }
        };
        assert!(retry_patiently(refused).await.is_err());
        assert_eq!(*tries.borrow(), [0, 1, 3, 7, 15]);

        let calls = std::cell::Cell::new(0);
        let third_time_lucky = || {
            calls.set(calls.get() + 1);
            let outcome = if calls.get() < 3 {
                Err(KeychainError::Locked {
                    reason: "test".into(),
                })
            } else {
                Ok(())
            };
            async move { outcome }
        };
        let start = tokio::time::Instant::now();
        assert!(retry_patiently(third_time_lucky).await.is_ok());
        assert_eq!(
            start.elapsed().as_secs(),
            3,
            "saved on the third try, after 1 + 2 s"
        );
    }
}
