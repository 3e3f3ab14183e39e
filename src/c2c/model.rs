//! Wire types of the C2C device API, shared by the client and the embedded demo server.
//!
//! Numbers that the spec calls "number" are accepted as an integer, a float or a numeric
//! string, because RFC 8628 servers differ. Every secret is a [`SecretString`], so it never
//! appears in `Debug` output or logs.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// Grant type of the device-code exchange (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Grant type of a refresh (RFC 6749 §6).
pub const REFRESH_TOKEN_GRANT: &str = "refresh_token";
/// Scope a C2C hardware device asks for: create assets, and get refresh tokens.
pub const DEFAULT_SCOPE: &str = "asset_create offline";
/// RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What `slow_down` adds to the interval, for this and every later poll (RFC 8628 §3.5;
/// Frame.io does not state its own increment).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Header carrying the device firmware version, sent on every call.
pub const CLIENT_VERSION_HEADER: &str = "x-client-version";
/// Header that switches Frame.io to URL pairing (a verification link, hence a QR).
pub const URL_PAIRING_HEADER: &str = "x-client-platypus-enabled";

/// Answer to `POST /v2/auth/device/code`: what to show the user, and the hidden device code.
#[derive(Debug, Deserialize)]
pub struct DeviceAuthorization {
    /// Identifies this request when polling. Never shown.
    pub device_code: SecretString,
    /// The code the user types into Frame.io, exactly as issued (leading zeros matter).
    #[serde(deserialize_with = "non_empty_string")]
    pub user_code: String,
    /// Where the user enters the code. Google's servers call it `verification_url`.
    #[serde(default, alias = "verification_url")]
    pub verification_uri: Option<String>,
    /// The same page with the code pre-filled; what the QR encodes when present.
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    /// Lifetime of the code, counted from when the answer arrived.
    #[serde(deserialize_with = "lenient_seconds")]
    pub expires_in: Duration,
    /// Minimum wait between polls; missing means 5 s.
    #[serde(default = "default_interval", deserialize_with = "lenient_seconds")]
    pub interval: Duration,
    /// Name Frame.io gives the device being connected.
    #[serde(default)]
    pub name: Option<String>,
}

impl DeviceAuthorization {
    /// The link a QR code should carry: the pre-filled page when there is one.
    pub fn qr_target(&self) -> Option<&str> {
        self.verification_uri_complete
            .as_deref()
            .or(self.verification_uri.as_deref())
    }
}

fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}

/// Answer to a successful `POST /v2/auth/token` (device-code or refresh grant).
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// Bearer token for the device endpoints.
    pub access_token: SecretString,
    /// Single-use refresh token (present when the `offline` scope was granted).
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token.
    #[serde(default, deserialize_with = "lenient_optional_seconds")]
    pub expires_in: Option<Duration>,
    /// Always `bearer` at Frame.io.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Granted scope, when the server says.
    #[serde(default)]
    pub scope: Option<String>,
}

/// The project a device is connected to, from `GET /v2/devices/me`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ProjectRef {
    /// Project id.
    #[serde(default)]
    pub id: Option<String>,
    /// Project name, the "Connected to project X" label.
    #[serde(default)]
    pub name: Option<String>,
}

/// The part of `GET /v2/devices/me` this app uses. Every field is optional in the spec.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Project-device id.
    #[serde(default)]
    pub id: Option<String>,
    /// Device name as shown in Frame.io.
    #[serde(default)]
    pub name: Option<String>,
    /// Linked project.
    #[serde(default)]
    pub project: Option<ProjectRef>,
    /// `online`, `offline` or `paused`.
    #[serde(default)]
    pub status: Option<String>,
}

/// A file to create as an asset, for `POST /v2/devices/assets` (spec §3.6).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct NewAsset {
    /// Asset name in Frame.io.
    pub name: String,
    /// MIME type.
    pub filetype: String,
    /// Size in bytes.
    pub filesize: u64,
    /// Seconds since the media was created (Frame.io rejects media made while paused).
    pub offset: u64,
    /// Device channel (input) index.
    pub channel: u32,
    /// How many upload parts, one URL each.
    pub parts: u32,
}

/// The asset the server created, with where to send each part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Asset {
    /// Asset id.
    pub id: String,
    /// Name as the server keeps it.
    #[serde(default)]
    pub name: Option<String>,
    /// One presigned URL per part, in part order.
    #[serde(default)]
    pub upload_urls: Vec<String>,
}

/// OAuth error codes of the token endpoint (RFC 6749 §5.2, RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// The user has not approved yet: keep polling.
    AuthorizationPending,
    /// Polled too fast: add 5 s to the interval.
    SlowDown,
    /// The device code expired.
    ExpiredToken,
    /// The user denied the request.
    AccessDenied,
    /// The device code (or refresh token) is unknown, used or revoked.
    InvalidGrant,
    /// Wrong client id or client secret.
    InvalidClient,
    /// A field is missing or malformed; Frame.io also says this for a reused refresh token.
    InvalidRequest,
    /// Any other code, kept verbatim.
    Other(String),
}

impl OAuthErrorCode {
    /// Parses a code as it appears in `{"error": "..."}`.
    pub fn parse(code: &str) -> Self {
        match code {
            "authorization_pending" => Self::AuthorizationPending,
            "slow_down" => Self::SlowDown,
            "expired_token" => Self::ExpiredToken,
            "access_denied" => Self::AccessDenied,
            "invalid_grant" => Self::InvalidGrant,
            "invalid_client" => Self::InvalidClient,
            "invalid_request" => Self::InvalidRequest,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::AccessDenied => "access_denied",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::InvalidRequest => "invalid_request",
            Self::Other(code) => code,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer, in either of Frame.io's two shapes.
///
/// Simple `{"error": "...", "error_description": "..."}` (the OAuth endpoints) or
/// detailed `{"code": 401, "errors": [{"detail": "...", "title": "..."}], "message": "..."}`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// The OAuth error code, when the body has one.
    pub error: Option<OAuthErrorCode>,
    /// Human text from the server: `error_description`, or the detailed shape's message and details.
    pub description: Option<String>,
}

impl ErrorBody {
    /// Reads an error body; anything that is not JSON of either shape gives an empty body.
    pub fn parse(body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Detail {
            #[serde(default)]
            title: Option<String>,
            #[serde(default)]
            detail: Option<String>,
        }
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            error: Option<serde_json::Value>,
            #[serde(default)]
            error_description: Option<String>,
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            errors: Vec<Detail>,
        }
        let Ok(raw) = serde_json::from_slice::<Raw>(body) else {
            return Self::default();
        };
        // Some servers put a string in `error`, others an object; only a string is an OAuth code.
        let error = match raw.error {
            Some(serde_json::Value::String(code)) if !code.is_empty() => {
                Some(OAuthErrorCode::parse(&code))
            }
            _ => None,
        };
        let mut parts: Vec<String> = Vec::new();
        for text in raw.error_description.into_iter().chain(raw.message) {
            push_distinct(&mut parts, &text);
        }
        for detail in raw.errors {
            if let Some(text) = detail.detail.or(detail.title) {
                push_distinct(&mut parts, &text);
            }
        }
        let description = (!parts.is_empty()).then(|| parts.join(": "));
        Self { error, description }
    }
}

fn push_distinct(parts: &mut Vec<String>, text: &str) {
    let text = text.trim();
    if !text.is_empty() && !parts.iter().any(|p| p == text) {
        parts.push(text.to_owned());
    }
}

/// Seconds as an integer, a float or a numeric string, e.g. `5`, `5.0` or `"5"`.
fn lenient_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    seconds_from_json(&value).map_err(serde::de::Error::custom)
}

fn lenient_optional_seconds<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    if value.is_null() {
        return Ok(None);
    }
    seconds_from_json(&value)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Longest lifetime or interval accepted: ten years. Anything larger is a server bug.
const MAX_SECONDS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;

fn seconds_from_json(value: &serde_json::Value) -> Result<Duration, String> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("expected a number of seconds, got {value}"))?;
    if !(0.0..=MAX_SECONDS).contains(&seconds) {
        return Err(format!("{seconds} is not a sensible number of seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn non_empty_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = String::deserialize(deserializer)?;
    if value.trim().is_empty() {
        return Err(serde::de::Error::custom("empty string"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn device_authorization_accepts_the_spec_example() {
        let body = br#"{"device_code": "Zq3opaque", "expires_in": 120, "interval": 5,
            "name": "ACME-Recorder-00417", "user_code": "204518",
            "verification_uri": "https://next.frame.io/pair",
            "verification_uri_complete": "https://next.frame.io/pair/204518"}"#;
        let auth: DeviceAuthorization = serde_json::from_slice(body).unwrap();
        assert_eq!(auth.user_code, "204518");
        assert_eq!(auth.device_code.expose_secret(), "Zq3opaque");
        assert_eq!(auth.expires_in, Duration::from_secs(120));
        assert_eq!(auth.interval, Duration::from_secs(5));
        assert_eq!(auth.qr_target(), Some("https://next.frame.io/pair/204518"));
    }

    #[test]
    fn numbers_may_be_integers_floats_or_strings() {
        for (expires, interval, want_interval) in [
            ("120", "5", 5.0),
            ("120.0", "2.5", 2.5),
            ("\"120\"", "\" 7 \"", 7.0),
        ] {
            let body = format!(
                r#"{{"device_code":"d","user_code":"012345","expires_in":{expires},"interval":{interval}}}"#
            );
            let auth: DeviceAuthorization = serde_json::from_str(&body).unwrap();
            assert_eq!(auth.expires_in, Duration::from_secs(120));
            assert_eq!(auth.interval, Duration::from_secs_f64(want_interval));
            assert_eq!(auth.user_code, "012345", "leading zero kept");
        }
    }

    #[test]
    fn missing_interval_means_five_seconds_and_qr_falls_back_to_the_plain_uri() {
        let body = br#"{"device_code":"d","user_code":"WDJB-MJHT","expires_in":1800,
            "verification_url":"https://example.com/device"}"#;
        let auth: DeviceAuthorization = serde_json::from_slice(body).unwrap();
        assert_eq!(auth.interval, DEFAULT_INTERVAL);
        assert_eq!(auth.qr_target(), Some("https://example.com/device"));
    }

    #[test]
    fn nonsense_numbers_and_empty_codes_are_refused() {
        for body in [
            r#"{"device_code":"d","user_code":"1","expires_in":-1}"#,
            r#"{"device_code":"d","user_code":"1","expires_in":"soon"}"#,
            r#"{"device_code":"d","user_code":"1","expires_in":1e300}"#,
            r#"{"device_code":"d","user_code":" ","expires_in":120}"#,
            r#"{"device_code":"d","user_code":"1","expires_in":true}"#,
        ] {
            assert!(
                serde_json::from_str::<DeviceAuthorization>(body).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn debug_output_hides_every_secret() {
        let body = br#"{"access_token":"AT-secret","refresh_token":"RT-secret","expires_in":"28800","token_type":"bearer"}"#;
        let tokens: TokenResponse = serde_json::from_slice(body).unwrap();
        assert_eq!(tokens.expires_in, Some(Duration::from_secs(28800)));
        let debug = format!("{tokens:?}");
        assert!(
            !debug.contains("AT-secret") && !debug.contains("RT-secret"),
            "{debug}"
        );
    }

    #[test]
    fn error_bodies_of_both_shapes_are_read() {
        let simple = ErrorBody::parse(
            br#"{"error":"access_denied","error_description":"Device flow is disabled by policy"}"#,
        );
        assert_eq!(simple.error, Some(OAuthErrorCode::AccessDenied));
        assert_eq!(
            simple.description.as_deref(),
            Some("Device flow is disabled by policy")
        );

        let detailed = ErrorBody::parse(
            br#"{"code": 401, "message": "Not Authorized",
                 "errors": [{"code": 401, "status": 401, "title": "Not Authorized",
                             "detail": "You are not allowed to access that resource"}]}"#,
        );
        assert_eq!(detailed.error, None);
        assert_eq!(
            detailed.description.as_deref(),
            Some("Not Authorized: You are not allowed to access that resource")
        );

        assert_eq!(
            ErrorBody::parse(b"<html>Bad gateway</html>"),
            ErrorBody::default()
        );
        assert_eq!(
            ErrorBody::parse(br#"{"error":"slow_down"}"#).error,
            Some(OAuthErrorCode::SlowDown)
        );
        assert_eq!(
            ErrorBody::parse(br#"{"error":"weird_thing"}"#).error,
            Some(OAuthErrorCode::Other("weird_thing".into()))
        );
    }
}
