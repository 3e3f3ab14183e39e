//! One device's lifecycle — pairing, keeping its tokens fresh, heartbeats, unpairing — and
//! the single place that decides what happens next.
//!
//! Everything here works on the keychain (secrets), the registry (everything else) and one
//! server through its [`Backend`].

mod handoff;
mod pairing;
mod restore;
mod session;
mod unpair;
pub mod upload;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

pub use crate::device_id::{DeviceId, DeviceIdError, MAX_DEVICE_ID_LEN};
pub use handoff::{
    Delivery, DeliveryFailed, HandedOff, HandoffDocument, HandoffError, SCHEMA as HANDOFF_SCHEMA,
    WriteDocument, hand_off,
};
pub use pairing::{
    CodeDisplay, NO_REFRESH_TOKEN, PairError, PairEvent, PairOutcome, PairedDevice, Remedy,
    finish_pairing, pair, pair_for_show,
};
pub use restore::restore;
pub use session::{
    HEARTBEAT_WINDOW, LifecycleError, OptionalEndpoint, RefreshWarning, connected_project,
    fresh_tokens, heartbeat, heartbeat_interval, heartbeats, needs_refresh, not_offered, refresh,
    refresh_warning,
};
pub use unpair::{Unpaired, forget, unpair};
pub use upload::{
    Job, Media, PART_SIZE, Progress, QueueControls, QueueStatus, TEST_CLIP, UploadOptions,
    UploadOutcome, Uploaded, comment, run_queue, upload,
};

use crate::backend::Backend;
use crate::c2c::{C2cClient, TokenResponse};
use crate::keychain::{Keychain, KeychainError, TokenSet, unix_seconds};
use crate::registry::{DeviceState, HeldClaim, Registry, SavePending};

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

impl Context {
    /// The client that speaks for a device whose firmware is `version` (sent as
    /// `x-client-version` on each of its calls), or the backend's own for none. A version that
    /// is not semver (a hand-edited device list) is logged and the setting's sent instead.
    pub fn client_for(&self, version: Option<&str>) -> Cow<'_, C2cClient> {
        match version.map(|v| self.backend.client.for_firmware(Some(v))) {
            None => Cow::Borrowed(&self.backend.client),
            Some(Ok(client)) => Cow::Owned(client),
            Some(Err(error)) => {
                tracing::warn!(%error, "the device's firmware version cannot be sent; sending the setting's");
                Cow::Borrowed(&self.backend.client)
            }
        }
    }

    /// The client that speaks for the device of `record`.
    pub fn client(&self, record: &crate::registry::DeviceRecord) -> Cow<'_, C2cClient> {
        self.client_for(record.client_version.as_deref())
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
    /// The network wants a sign-in first: a captive portal answers for the server (exit 8).
    SignIn,
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
            Self::SignIn => 8,
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
            Self::SignIn => "sign_in",
        }
    }
}

impl crate::registry::DeviceRecord {
    /// The keychain account of its token set (the record itself holds no secret; this is
    /// where the device layer finds them).
    pub fn account(&self) -> String {
        crate::keychain::token_account(&self.device_id, &self.keychain_host)
    }
}

/// Tokens that were issued but not yet saved.
#[derive(Debug, Clone)]
pub struct UnsavedTokens {
    /// The device they belong to.
    pub device_id: DeviceId,
    /// Its display name, for the registry.
    pub name: Option<String>,
    /// Its own firmware version, for the registry (a new pairing's; `None` otherwise).
    pub client_version: Option<String>,
    /// Keychain account they belong in.
    pub account: String,
    /// The tokens.
    pub tokens: TokenSet,
    /// For a refresh's tokens: this process's claim on them, marked in the device list so
    /// no other process spends the keychain's (already spent) refresh token meanwhile.
    pub held: Option<Arc<Held>>,
}

/// A device marked "save pending" by this process, and the claim that proves it is alive.
///
/// Saving the tokens clears the mark; dropping them unsaved releases the claim, which other
/// processes read as "the credentials are lost".
#[derive(Debug)]
pub struct Held {
    /// Released once the tokens are saved: this process then holds nothing special.
    claim: std::sync::Mutex<Option<HeldClaim>>,
    registry: Registry,
    device_id: DeviceId,
    keychain_host: String,
}

impl Held {
    /// Claims the device's newest credentials and marks it in the device list.
    fn mark(registry: &Registry, record: &crate::registry::DeviceRecord) -> Self {
        let claim = registry.claim_held(&record.account());
        let pending = SavePending {
            pid: std::process::id(),
            since: unix_seconds(SystemTime::now()),
        };
        let marked = registry.modify(&record.device_id, &record.keychain_host, move |r| {
            r.save_pending = Some(pending);
        });
        for error in [claim.as_ref().err(), marked.as_ref().err()]
            .into_iter()
            .flatten()
        {
            tracing::warn!(device = %record.device_id, %error, "could not mark the device as holding unsaved credentials");
        }
        Self {
            claim: std::sync::Mutex::new(claim.ok().flatten()),
            registry: registry.clone(),
            device_id: record.device_id.clone(),
            keychain_host: record.keychain_host.clone(),
        }
    }

    /// Clears the mark once the tokens are saved.
    fn saved(&self) {
        let cleared = self
            .registry
            .modify(&self.device_id, &self.keychain_host, |r| {
                r.save_pending = None;
            });
        if let Err(error) = cleared {
            tracing::warn!(device = %self.device_id, %error, "saved, but the device list still says save pending");
        }
        drop(
            self.claim
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
    }

    /// Marks the device as needing re-pairing: the holder is giving its tokens up unsaved.
    pub fn give_up(&self, reason: &str) {
        let state = DeviceState::NeedsRepairing {
            reason: reason.to_owned(),
        };
        let _ = self
            .registry
            .modify(&self.device_id, &self.keychain_host, |r| {
                r.save_pending = None;
                r.state = state;
            });
    }
}

impl UnsavedTokens {
    /// Tries to save them again; once saved, the device's "save pending" mark is cleared.
    pub async fn save(&self, keychain: &Keychain) -> Result<(), KeychainError> {
        keychain.save_tokens(&self.account, &self.tokens).await?;
        if let Some(held) = &self.held {
            held.saved();
        }
        Ok(())
    }
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
}
