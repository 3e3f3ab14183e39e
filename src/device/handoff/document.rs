//! What a device receives when its pairing is handed to it: one JSON object, documented here
//! and in the README ("Handing a pairing to the device").

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::device_id::DeviceId;
use crate::human_time::rfc3339;
use crate::keychain::TokenSet;
use crate::registry::DeviceRecord;

/// The value of [`HandoffDocument::schema`]; an incompatible change gets a new number.
pub const SCHEMA: &str = "c2c-pair.handoff/1";

/// The token type of every set handed off: the access token goes in
/// `Authorization: Bearer …` on the device endpoints.
pub const TOKEN_TYPE: &str = "Bearer";

/// A device's credentials and where to use them, as handed to the device (`c2c-pair handoff`).
///
/// Every key is always present; values that are unknown are `null`. Times come twice: as RFC
/// 3339 UTC text and as Unix seconds (`…_unix`), for firmware without a date parser. The
/// client secret is not in it: the device refreshes with its own model's client secret and
/// [`device_id`](Self::device_id) as `client_id`. `Debug` shows no token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoffDocument {
    /// Always [`SCHEMA`] (`"c2c-pair.handoff/1"`).
    pub schema: String,
    /// The `client_id` the tokens were issued to: the device must send this same id when it
    /// refreshes them.
    pub device_id: DeviceId,
    /// The name given when pairing, if any.
    pub device_name: Option<String>,
    /// The server's API base (`https://api.frame.io/`); the device endpoints are below it.
    pub api_base: String,
    /// The token endpoint, for the refresh grant (`grant_type=refresh_token`).
    pub token_url: String,
    /// The `x-client-version` the laptop sent for the device; a device sends its own
    /// firmware version from now on.
    pub client_version: String,
    /// Always `"Bearer"`.
    pub token_type: String,
    /// The access token, freshly issued for the hand-off.
    #[serde(serialize_with = "expose")]
    pub access_token: SecretString,
    /// The refresh token: single-use, rotated on each refresh (keep the new one each time).
    /// `null` when the server grants no offline access: the pairing then ends with the
    /// access token.
    #[serde(serialize_with = "expose_optional")]
    pub refresh_token: Option<SecretString>,
    /// When the access token expires (RFC 3339 UTC), `null` when the server did not say.
    pub expires_at: Option<String>,
    /// The same, in Unix seconds.
    pub expires_at_unix: Option<u64>,
    /// When this set was issued (RFC 3339 UTC). Frame.io's refresh tokens live 14 days from
    /// here unless refreshed.
    pub issued_at: String,
    /// The same, in Unix seconds.
    pub issued_at_unix: u64,
    /// The scope the server granted, when it said (`"asset_create offline"`).
    pub scope: Option<String>,
    /// The Frame.io project the device is connected to, as last read.
    pub project_id: Option<String>,
    /// That project's name.
    pub project_name: Option<String>,
    /// When the laptop handed the set over (RFC 3339 UTC); it kept no copy.
    pub handed_off_at: String,
}

impl HandoffDocument {
    /// The document for `record`'s freshly issued `tokens`, handed off at `now`.
    pub fn new(
        record: &DeviceRecord,
        tokens: &TokenSet,
        profile: &crate::c2c::profile::Profile,
        token_url: String,
        now: u64,
    ) -> Self {
        Self {
            schema: SCHEMA.to_owned(),
            device_id: record.device_id.clone(),
            device_name: record.name.clone(),
            api_base: profile.api_base.to_string(),
            token_url,
            client_version: profile.client_version.clone(),
            token_type: TOKEN_TYPE.to_owned(),
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
            expires_at: tokens.access_expires_at.map(rfc3339),
            expires_at_unix: tokens.access_expires_at,
            issued_at: rfc3339(tokens.issued_at),
            issued_at_unix: tokens.issued_at,
            scope: tokens.scope.clone(),
            project_id: record.project_id.clone(),
            project_name: record.project_name.clone(),
            handed_off_at: rfc3339(now),
        }
    }

    /// The JSON text (one line), as a secret.
    pub fn to_json(&self) -> Result<SecretString, String> {
        serde_json::to_string(self)
            .map(SecretString::from)
            .map_err(|e| format!("the hand-off document could not be written: {e}"))
    }
}

fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

fn expose_optional<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_str(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_key_is_there_and_debug_shows_no_token() {
        let record = crate::registry::test_record("CAM-1");
        let profile = crate::c2c::profile::Profile::frame_io();
        let document = HandoffDocument::new(
            &record,
            &TokenSet::sample(),
            &profile,
            "https://api.frame.io/v2/auth/token".into(),
            1_800_000_100,
        );
        let json: serde_json::Value =
            serde_json::from_str(document.to_json().unwrap().expose_secret()).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        // The README's table lists these; change both together.
        let mut documented = [
            "schema",
            "device_id",
            "device_name",
            "api_base",
            "token_url",
            "client_version",
            "token_type",
            "access_token",
            "refresh_token",
            "expires_at",
            "expires_at_unix",
            "issued_at",
            "issued_at_unix",
            "scope",
            "project_id",
            "project_name",
            "handed_off_at",
        ];
        documented.sort_unstable();
        assert_eq!(keys, documented);
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["device_id"], "CAM-1");
        assert_eq!(json["device_name"], "A-Cam");
        assert_eq!(json["api_base"], "https://api.frame.io/");
        assert_eq!(json["token_url"], "https://api.frame.io/v2/auth/token");
        assert_eq!(json["token_type"], "Bearer");
        assert_eq!(json["access_token"], "access-sample");
        assert_eq!(json["refresh_token"], "refresh-sample");
        assert_eq!(json["expires_at"], "2027-01-15T16:00:00Z");
        assert_eq!(json["expires_at_unix"], 1_800_028_800);
        assert_eq!(json["issued_at_unix"], 1_800_000_000);
        assert_eq!(json["scope"], "asset_create offline");
        assert_eq!(json["project_name"], "Dailies");
        assert_eq!(json["handed_off_at"], "2027-01-15T08:01:40Z");
        let read: HandoffDocument = serde_json::from_value(json).unwrap();
        let debug = format!("{read:?}");
        assert!(
            !debug.contains("access-sample") && !debug.contains("refresh-sample"),
            "{debug}"
        );

        let without_refresh = TokenSet {
            refresh_token: None,
            access_expires_at: None,
            ..TokenSet::sample()
        };
        let document = HandoffDocument::new(&record, &without_refresh, &profile, String::new(), 0);
        let json: serde_json::Value =
            serde_json::from_str(document.to_json().unwrap().expose_secret()).unwrap();
        assert!(json["refresh_token"].is_null() && json["expires_at"].is_null());
        assert!(json.as_object().unwrap().contains_key("refresh_token"));
    }
}
