//! Wire types of the C2C device API, shared by the client and the embedded demo server.
//!
//! Numbers that the spec calls "number" are accepted as an integer, a float or a numeric
//! string, because RFC 8628 servers differ. Every secret is a [`SecretString`], so it never
//! appears in `Debug` output or logs.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use crate::printable;

/// Grant type of the device-code exchange (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Grant type of a refresh (RFC 6749 §6).
pub const REFRESH_TOKEN_GRANT: &str = "refresh_token";
/// RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What `slow_down` adds to the interval, for this and every later poll (RFC 8628 §3.5;
/// Frame.io does not state its own increment).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Header carrying the device firmware version, sent on every call.
pub const CLIENT_VERSION_HEADER: &str = "x-client-version";
/// Header that switches Frame.io to URL pairing (a verification link, hence a QR).
pub const URL_PAIRING_HEADER: &str = "x-client-platypus-enabled";

/// Longest lifetime of a user code accepted (RFC 8628's example is 1800 s; Frame.io's 120 s):
/// a longer one is cut to this.
pub const MAX_CODE_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest poll interval accepted; a longer one is cut to this.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// Longest access-token lifetime believed: the refresh token's own 14 days (spec §5).
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);
/// Longest user code shown: a person has to type it.
pub const MAX_USER_CODE: usize = 64;

/// Answer to `POST /v2/auth/device/code`: what to show the user, and the hidden device code.
///
/// Read leniently (numbers as integers, floats or strings; duplicate keys, last wins; Google's
/// `verification_url` spelling) and clamped: the lifetime to [`MAX_CODE_LIFETIME`], the
/// interval to [`MAX_INTERVAL`]. Text is checked or made printable on arrival.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Value")]
pub struct DeviceAuthorization {
    /// Identifies this request when polling. Never shown.
    pub device_code: SecretString,
    /// The code the user types into Frame.io, exactly as issued (leading zeros matter).
    pub user_code: String,
    /// Where the user enters the code. Google's servers call it `verification_url`.
    pub verification_uri: Option<String>,
    /// The same page with the code pre-filled; what the QR encodes when present.
    pub verification_uri_complete: Option<String>,
    /// Lifetime of the code, counted from when the answer arrived.
    pub expires_in: Duration,
    /// Minimum wait between polls; missing means 5 s.
    pub interval: Duration,
    /// Name Frame.io gives the device being connected.
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

impl TryFrom<Value> for DeviceAuthorization {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let fields = Fields::of(value)?;
        let device_code = fields
            .token("device_code")?
            .ok_or_else(|| missing("device_code"))?;
        let user_code = fields
            .string("user_code")
            .ok_or_else(|| missing("user_code"))?;
        let user_code = user_code.trim();
        if user_code.is_empty() {
            return Err("field `user_code` is empty".into());
        }
        if !printable::is_printable(user_code) || user_code.chars().count() > MAX_USER_CODE {
            return Err("field `user_code` is not a code a person can type".into());
        }
        let link = |name| match fields.string(name) {
            Some(link)
                if link
                    .chars()
                    .any(|c| c.is_whitespace() || printable::is_unsafe(c)) =>
            {
                Err(format!("field `{name}` is not a link"))
            }
            link => Ok(link.map(str::to_owned)),
        };
        let verification_uri = match link("verification_uri")? {
            Some(uri) => Some(uri),
            None => link("verification_url")?,
        };
        let expires_in = match fields.get("expires_in").map(seconds_from_json) {
            Some(Ok(seconds)) => seconds.min(MAX_CODE_LIFETIME),
            Some(Err(reason)) => return Err(format!("field `expires_in` {reason}")),
            None => return Err(missing("expires_in")),
        };
        // A missing or unreadable interval means 5 s (RFC 8628 §3.2), never "poll at once".
        let interval = match fields.get("interval").map(seconds_from_json) {
            Some(Ok(seconds)) => seconds.min(MAX_INTERVAL),
            Some(Err(_)) | None => DEFAULT_INTERVAL,
        };
        Ok(Self {
            device_code,
            user_code: user_code.to_owned(),
            verification_uri,
            verification_uri_complete: link("verification_uri_complete")?,
            expires_in,
            interval,
            name: fields.text("name"),
        })
    }
}

/// Answer to a successful `POST /v2/auth/token` (device-code or refresh grant).
///
/// Once the server has issued tokens they must not be lost, so everything but the tokens is
/// read as leniently as can be: an unreadable `expires_in` is unknown, a lifetime over 14 days
/// is cut to 14 days, an odd `token_type` is kept. Tokens themselves must be visible ASCII
/// (RFC 6749 Appendix A): an access token that is not is a malformed answer; a refresh token
/// that is not is dropped (never saved or printed) and the access token kept.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Value")]
pub struct TokenResponse {
    /// Bearer token for the device endpoints.
    pub access_token: SecretString,
    /// Single-use refresh token (present when the `offline` scope was granted).
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token, at most [`MAX_TOKEN_LIFETIME`].
    pub expires_in: Option<Duration>,
    /// Always `bearer` at Frame.io.
    pub token_type: Option<String>,
    /// Granted scope, when the server says.
    pub scope: Option<String>,
    /// The answer had a refresh token that is no token (control characters, not a string):
    /// it was dropped. The server rotated all the same, so the old one must not be kept.
    pub refresh_token_unusable: bool,
}

impl TryFrom<Value> for TokenResponse {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let fields = Fields::of(value)?;
        let access_token = fields
            .token("access_token")?
            .ok_or_else(|| missing("access_token"))?;
        let expires_in = fields
            .get("expires_in")
            .and_then(|v| seconds_from_json(v).ok())
            .map(|lifetime| lifetime.min(MAX_TOKEN_LIFETIME));
        let (refresh_token, refresh_token_unusable) = match fields.token("refresh_token") {
            Ok(token) => (token, false),
            Err(_) => (None, true),
        };
        Ok(Self {
            access_token,
            refresh_token,
            expires_in,
            token_type: fields.text("token_type"),
            scope: fields.text("scope"),
            refresh_token_unusable,
        })
    }
}

/// The project a device is connected to, from `GET /v2/devices/me`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(from = "Value")]
pub struct ProjectRef {
    /// Project id.
    pub id: Option<String>,
    /// Project name, the "Connected to project X" label.
    pub name: Option<String>,
}

impl From<Value> for ProjectRef {
    fn from(value: Value) -> Self {
        let fields = Fields::lenient(value);
        Self {
            id: fields.text("id"),
            name: fields.text("name"),
        }
    }
}

/// The part of `GET /v2/devices/me` this app uses. Every field is optional in the spec, and
/// any field of another type is read as missing; text is made printable.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(try_from = "Value")]
pub struct DeviceInfo {
    /// Project-device id.
    pub id: Option<String>,
    /// Device name as shown in Frame.io.
    pub name: Option<String>,
    /// Linked project.
    pub project: Option<ProjectRef>,
    /// `online`, `offline` or `paused`.
    pub status: Option<String>,
}

impl TryFrom<Value> for DeviceInfo {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let fields = Fields::of(value)?;
        Ok(Self {
            id: fields.text("id"),
            name: fields.text("name"),
            project: fields
                .get("project")
                .filter(|p| p.is_object())
                .map(|p| ProjectRef::from(p.clone())),
            status: fields.text("status"),
        })
    }
}

/// The members of a JSON object, read leniently.
struct Fields(serde_json::Map<String, Value>);

impl Fields {
    /// The object's members; anything but an object is not an answer of ours.
    fn of(value: Value) -> Result<Self, String> {
        match value {
            Value::Object(map) => Ok(Self(map)),
            _ => Err("field `(answer)` is not a JSON object".into()),
        }
    }

    /// The object's members, or none when it is not an object.
    fn lenient(value: Value) -> Self {
        Self::of(value).unwrap_or(Self(serde_json::Map::new()))
    }

    /// A member, with `null` read as missing.
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A string member as it is; `None` when missing or of another type.
    fn string(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// A text member to show: strings (and numbers, for ids) made printable and cut to
    /// [`printable::MAX_TEXT`]; empty text is missing.
    fn text(&self, name: &str) -> Option<String> {
        let text = match self.get(name)? {
            Value::String(s) => printable::text(s),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        (!text.is_empty()).then_some(text)
    }

    /// A secret: missing or empty is `None`; anything but visible ASCII is refused.
    fn token(&self, name: &str) -> Result<Option<SecretString>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if printable::is_token(s) => {
                Ok(Some(SecretString::from(s.clone())))
            }
            Some(Value::String(_)) => Err(format!(
                "field `{name}` holds characters a token cannot have (RFC 6749: visible ASCII)"
            )),
            Some(_) => Err(format!("field `{name}` is not a string")),
        }
    }
}

/// An id as a string or a number, made printable; empty is refused.
fn printable_id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let id = match Value::deserialize(deserializer)? {
        Value::String(s) => printable::text(&s),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if id.is_empty() {
        return Err(serde::de::Error::custom("field `id` is not an id"));
    }
    Ok(id)
}

/// Optional text made printable; anything but a string is missing.
fn printable_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => Some(printable::text(&s)).filter(|t| !t.is_empty()),
        _ => None,
    })
}

fn missing(name: &str) -> String {
    format!("missing field `{name}`")
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
    /// Asset id (made printable: it is shown and logged).
    #[serde(deserialize_with = "printable_id")]
    pub id: String,
    /// Name as the server keeps it (made printable).
    #[serde(default, deserialize_with = "printable_text")]
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
            // Shown in messages: made printable and short.
            other => Self::Other(printable::printable(other, 64)),
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
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        let fields = Fields::lenient(value);
        // Some servers put a string in `error`, others an object; only a string is an OAuth code.
        let error = fields
            .string("error")
            .map(str::trim)
            .filter(|code| !code.is_empty())
            .map(OAuthErrorCode::parse);
        let mut parts: Vec<String> = Vec::new();
        for text in [fields.string("error_description"), fields.string("message")]
            .into_iter()
            .flatten()
        {
            push_distinct(&mut parts, text);
        }
        let details = fields.get("errors").and_then(Value::as_array);
        for detail in details.into_iter().flatten().take(8) {
            let detail = Fields::lenient(detail.clone());
            if let Some(text) = detail.string("detail").or(detail.string("title")) {
                push_distinct(&mut parts, text);
            }
        }
        let description = (!parts.is_empty()).then(|| printable::text(&parts.join(": ")));
        Self { error, description }
    }
}

fn push_distinct(parts: &mut Vec<String>, text: &str) {
    let text = text.trim();
    if !text.is_empty() && !parts.iter().any(|p| p == text) {
        parts.push(text.to_owned());
    }
}

/// Ceiling of any number of seconds read: larger numbers (up to 1e308) are cut to it before
/// any arithmetic, and each field then clamps to its own, much smaller limit.
const MAX_SECONDS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;

/// Seconds as an integer, a float or a numeric string, e.g. `5`, `5.0` or `"5"`; negative or
/// non-numeric values are refused, huge ones cut to [`MAX_SECONDS`]. The reason never quotes
/// the value.
fn seconds_from_json(value: &Value) -> Result<Duration, String> {
    let seconds = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| !s.is_nan())
    .ok_or("is not a number of seconds")?;
    if seconds < 0.0 {
        return Err("is negative".into());
    }
    Ok(Duration::from_secs_f64(seconds.min(MAX_SECONDS)))
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
            r#"{"device_code":"d","user_code":"1","expires_in":"NaN"}"#,
            r#"{"device_code":"d","user_code":" ","expires_in":120}"#,
            r#"{"device_code":"d","user_code":"1","expires_in":true}"#,
            r#"{"device_code":"d","user_code":"\u001bc1","expires_in":120}"#,
            r#"{"device_code":"d\n","user_code":"1","expires_in":120}"#,
            r#"{"device_code":"d","user_code":"1","expires_in":120,"verification_uri":"https://x/\u001b[31m"}"#,
            r#"[1, 2]"#,
        ] {
            assert!(
                serde_json::from_str::<DeviceAuthorization>(body).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn extreme_numbers_are_clamped_not_trusted() {
        let body = r#"{"device_code":"d","user_code":"1","expires_in":1e308,"interval":18446744073709551615}"#;
        let auth: DeviceAuthorization = serde_json::from_str(body).unwrap();
        assert_eq!(auth.expires_in, MAX_CODE_LIFETIME);
        assert_eq!(auth.interval, MAX_INTERVAL);
        let body = r#"{"device_code":"d","user_code":"1","expires_in":60,"interval":-3}"#;
        let auth: DeviceAuthorization = serde_json::from_str(body).unwrap();
        assert_eq!(
            auth.interval, DEFAULT_INTERVAL,
            "an unreadable interval means 5 s"
        );

        for (expires_in, want) in [
            ("315360000", Some(MAX_TOKEN_LIFETIME)),
            ("1e308", Some(MAX_TOKEN_LIFETIME)),
            ("-5", None),
            ("\"soon\"", None),
            ("{}", None),
        ] {
            let body = format!(r#"{{"access_token":"a","expires_in":{expires_in}}}"#);
            let tokens: TokenResponse = serde_json::from_str(&body).unwrap();
            assert_eq!(tokens.expires_in, want, "{expires_in}");
        }
    }

    #[test]
    fn issued_tokens_survive_odd_answers_but_not_unprintable_tokens() {
        let odd = r#"{"access_token":"AT-1","access_token":"AT-2","token_type":"mac",
            "scope":7,"refresh_token":"","expires_in":null,"extra":[1,2]}"#;
        let tokens: TokenResponse = serde_json::from_str(odd).unwrap();
        assert_eq!(
            tokens.access_token.expose_secret(),
            "AT-2",
            "the last duplicate wins"
        );
        assert_eq!(tokens.token_type.as_deref(), Some("mac"));
        assert!(tokens.refresh_token.is_none() && tokens.expires_in.is_none());
        for bad in [
            r#"{"access_token":"at-\u001b[31m"}"#,
            r#"{"access_token":"two\nlines"}"#,
            r#"{"access_token":5}"#,
        ] {
            assert!(serde_json::from_str::<TokenResponse>(bad).is_err(), "{bad}");
        }
        // An issued access token is kept; the refresh token that is no token is dropped.
        for odd in [r#""r\u0007""#, "17", r#"{"a":1}"#] {
            let body = format!(r#"{{"access_token":"ok","refresh_token":{odd}}}"#);
            let tokens: TokenResponse = serde_json::from_str(&body).unwrap();
            assert_eq!(tokens.access_token.expose_secret(), "ok");
            assert!(
                tokens.refresh_token.is_none() && tokens.refresh_token_unusable,
                "{odd}"
            );
        }
    }

    #[test]
    fn both_link_spellings_and_duplicate_keys_are_accepted() {
        let body = r#"{"device_code":"d","user_code":"1","expires_in":60,
            "verification_url":"https://example.com/google",
            "verification_uri":"https://example.com/rfc","user_code":"2"}"#;
        let auth: DeviceAuthorization = serde_json::from_str(body).unwrap();
        assert_eq!(
            auth.verification_uri.as_deref(),
            Some("https://example.com/rfc")
        );
        assert_eq!(auth.user_code, "2");
    }

    #[test]
    fn server_text_is_made_printable_on_arrival() {
        let info: DeviceInfo = serde_json::from_str(
            r#"{"name":"cam\u001bc","project":{"name":"P\u202eroj\u009b31m","id":42},"status":5}"#,
        )
        .unwrap();
        assert_eq!(info.name.as_deref(), Some("camc"));
        let project = info.project.unwrap();
        assert_eq!(project.name.as_deref(), Some("Proj31m"));
        assert_eq!(project.id.as_deref(), Some("42"));
        let error = ErrorBody::parse(
            format!(
                r#"{{"error":"x\u001b]52;c;aGk=\u0007","error_description":"{}"}}"#,
                "y".repeat(5000)
            )
            .as_bytes(),
        );
        assert_eq!(
            error.error,
            Some(OAuthErrorCode::Other("x]52;c;aGk=".into()))
        );
        assert_eq!(
            error.description.unwrap().chars().count(),
            printable::MAX_TEXT
        );
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
