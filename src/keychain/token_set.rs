//! The token set of one device, as one JSON document in one keychain entry.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Layout version of the stored document.
const VERSION: u32 = 1;

/// A device's credentials. `Debug` shows no secret.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenSet {
    /// Bearer token for the device endpoints.
    pub access_token: SecretString,
    /// Single-use refresh token.
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, in Unix seconds.
    #[serde(default)]
    pub access_expires_at: Option<u64>,
    /// When this set was issued, in Unix seconds (the refresh token lives 14 days from here).
    pub issued_at: u64,
    /// Granted scope, when the server said.
    #[serde(default)]
    pub scope: Option<String>,
}

/// The stored form, borrowing the secrets only while the JSON is written.
#[derive(Serialize)]
struct Stored<'a> {
    v: u32,
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_expires_at: Option<u64>,
    issued_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

impl TokenSet {
    /// The JSON document, as a secret.
    pub fn to_secret(&self) -> Result<SecretString, String> {
        let stored = Stored {
            v: VERSION,
            access_token: self.access_token.expose_secret(),
            refresh_token: self.refresh_token.as_ref().map(|t| t.expose_secret()),
            access_expires_at: self.access_expires_at,
            issued_at: self.issued_at,
            scope: self.scope.as_deref(),
        };
        serde_json::to_string(&stored)
            .map(SecretString::from)
            .map_err(|e| format!("the token set could not be encoded: {e}"))
    }

    /// Reads the JSON document; the error names what is wrong, never the value.
    pub fn from_secret(secret: &SecretString) -> Result<Self, String> {
        serde_json::from_str(secret.expose_secret()).map_err(|e| {
            format!(
                "not a token set: {:?} at column {}",
                e.classify(),
                e.column()
            )
        })
    }

    /// A fixed set for tests.
    #[doc(hidden)]
    pub fn sample() -> Self {
        Self {
            access_token: SecretString::from("access-sample"),
            refresh_token: Some(SecretString::from("refresh-sample")),
            access_expires_at: Some(1_800_028_800),
            issued_at: 1_800_000_000,
            scope: Some("asset_create offline".into()),
        }
    }
}

impl PartialEq for TokenSet {
    fn eq(&self, other: &Self) -> bool {
        self.access_token.expose_secret() == other.access_token.expose_secret()
            && self.refresh_token.as_ref().map(ExposeSecret::expose_secret)
                == other
                    .refresh_token
                    .as_ref()
                    .map(ExposeSecret::expose_secret)
            && self.access_expires_at == other.access_expires_at
            && self.issued_at == other.issued_at
            && self.scope == other.scope
    }
}

pub use crate::clock::unix_seconds;

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows Credential Manager holds at most 2560 bytes per entry.
    const CREDENTIAL_MANAGER_LIMIT: usize = 2560;

    #[test]
    fn a_realistic_token_set_fits_windows_credential_manager() {
        // A large JWT access token (1.8 KB, RS256 with a dozen claims) and a UUID refresh token.
        let set = TokenSet {
            access_token: SecretString::from("e".repeat(1800)),
            refresh_token: Some(SecretString::from("5f0c6c58-3a2e-4c6e-9d1e-8b7a8f6d2c41")),
            access_expires_at: Some(u64::from(u32::MAX)),
            issued_at: u64::from(u32::MAX),
            scope: Some("asset_create offline".into()),
        };
        let stored = set.to_secret().unwrap();
        let size = stored.expose_secret().len();
        assert!(size <= CREDENTIAL_MANAGER_LIMIT, "{size} bytes");
        assert!(
            CREDENTIAL_MANAGER_LIMIT - size > 500,
            "room to spare: {size} bytes"
        );
    }

    #[test]
    fn round_trips_and_stays_small() {
        let set = TokenSet::sample();
        let secret = set.to_secret().unwrap();
        assert_eq!(TokenSet::from_secret(&secret).unwrap(), set);
        assert!(secret.expose_secret().starts_with(r#"{"v":1,"#));
    }
}
