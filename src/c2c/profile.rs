//! The provider profile: which server to talk to and how (API base, endpoint paths, client
//! version, body encoding, URL pairing), validated before anything is sent.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use url::{Host, Url};

/// Frame.io's API base.
pub const FRAME_IO_API_BASE: &str = "https://api.frame.io";
/// Scope a C2C hardware device asks for: create assets, and get refresh tokens.
pub const DEFAULT_SCOPE: &str = "asset_create offline";
/// Keychain host name of the embedded demo server, whatever port it listens on.
pub const DEMO_KEYCHAIN_HOST: &str = "demo";

/// How form bodies are encoded on the OAuth endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyEncoding {
    /// `application/x-www-form-urlencoded`, as RFC 8628 and Frame.io's samples send.
    #[default]
    Urlencoded,
    /// `multipart/form-data`, as Frame.io's reference pages describe.
    Multipart,
}

impl FromStr for BodyEncoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "urlencoded" => Ok(Self::Urlencoded),
            "multipart" => Ok(Self::Multipart),
            other => Err(format!(
                "unknown body encoding {other:?}: use urlencoded or multipart"
            )),
        }
    }
}

impl fmt::Display for BodyEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Urlencoded => "urlencoded",
            Self::Multipart => "multipart",
        })
    }
}

/// Paths of the endpoints below the API base, so that any RFC 8628 server can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPaths {
    /// Device authorization request.
    pub device_code: String,
    /// Token endpoint (device-code and refresh grants).
    pub token: String,
    /// Revocation endpoint (RFC 7009).
    pub revoke: String,
    /// Device information (`/v2/devices/me`).
    pub device_info: String,
    /// Heartbeat.
    pub heartbeat: String,
    /// Asset creation (uploads).
    pub assets: String,
}

impl Default for EndpointPaths {
    fn default() -> Self {
        Self {
            device_code: "/v2/auth/device/code".into(),
            token: "/v2/auth/token".into(),
            revoke: "/v2/auth/revoke".into(),
            device_info: "/v2/devices/me".into(),
            heartbeat: "/v2/devices/heartbeat".into(),
            assets: "/v2/devices/assets".into(),
        }
    }
}

/// Everything the client needs to know about the server it talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Scheme, host and port of the API, e.g. `https://api.frame.io`.
    pub api_base: Url,
    /// Endpoint paths below the API base.
    pub paths: EndpointPaths,
    /// Sent as `x-client-version` on every call; must be semver.
    pub client_version: String,
    /// Body encoding of the OAuth endpoints.
    pub body: BodyEncoding,
    /// Ask for a verification link (`x-client-platypus-enabled: true`) so a QR can be shown.
    pub url_pairing: bool,
    /// Scope asked for with the device code.
    pub scope: String,
    /// Longest wait for one HTTP answer.
    pub request_timeout: Duration,
    /// This profile points at the embedded demo server.
    pub demo: bool,
}

impl Profile {
    /// Frame.io's production API with the defaults of the spec.
    pub fn frame_io() -> Self {
        Self::for_api_base(parse_api_base(FRAME_IO_API_BASE).unwrap_or_else(|_| unreachable!()))
    }

    /// The defaults of the spec pointed at another server.
    pub fn for_api_base(api_base: Url) -> Self {
        Self {
            api_base,
            paths: EndpointPaths::default(),
            client_version: env!("CARGO_PKG_VERSION").to_owned(),
            body: BodyEncoding::default(),
            url_pairing: true,
            scope: DEFAULT_SCOPE.to_owned(),
            request_timeout: Duration::from_secs(20),
            demo: false,
        }
    }

    /// Checks every field, so a bad setting is reported before any request is made.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_api_base(&self.api_base)?;
        check_client_version(&self.client_version)?;
        for path in [
            &self.paths.device_code,
            &self.paths.token,
            &self.paths.revoke,
            &self.paths.assets,
        ] {
            self.endpoint(path)?;
        }
        // Optional: empty switches them off.
        for path in [&self.paths.device_info, &self.paths.heartbeat] {
            if !path.is_empty() {
                self.endpoint(path)?;
            }
        }
        Ok(())
    }

    /// Full URL of an endpoint path. It keeps the API base's scheme, host and port, or it is
    /// refused: the client secret and tokens travel to it.
    pub fn endpoint(&self, path: &str) -> Result<Url, ConfigError> {
        check_path(path)?;
        let url = self
            .api_base
            .join(path)
            .map_err(|_| ConfigError::BadPath(path.to_owned()))?;
        if url.origin() != self.api_base.origin() {
            return Err(ConfigError::OtherOrigin {
                path: path.to_owned(),
                origin: url.origin().ascii_serialization(),
            });
        }
        Ok(url)
    }

    /// Whether the server is asked which project a device joined (an empty
    /// `endpoints.device_info` switches it off, for servers other than Frame.io).
    pub fn offers_device_info(&self) -> bool {
        !self.paths.device_info.is_empty()
    }

    /// Whether heartbeats are sent (an empty `endpoints.heartbeat` switches them off).
    pub fn offers_heartbeat(&self) -> bool {
        !self.paths.heartbeat.is_empty()
    }

    /// Whether this profile talks to Frame.io itself.
    pub fn is_frame_io(&self) -> bool {
        self.api_base
            .host_str()
            .is_some_and(|host| host == "frame.io" || host.ends_with(".frame.io"))
    }

    /// How messages name the server: "Frame.io", "the demo server", or its host.
    pub fn server_name(&self) -> String {
        if self.demo {
            "the demo server".to_owned()
        } else if self.is_frame_io() {
            "Frame.io".to_owned()
        } else {
            self.api_base.host_str().unwrap_or("the server").to_owned()
        }
    }

    /// Checks a verification link a server sent before it is shown, linked or put in a QR
    /// code: `https://`, or `http://` to this machine, to the API base's own host, or from the
    /// demo server (which gives phones its network address). Says why not, without quoting
    /// more than the scheme.
    pub fn check_link(&self, link: &str) -> Result<(), String> {
        let url = Url::parse(link)
            .map_err(|_| "the server sent a verification link that is not a URL".to_owned())?;
        let own_host = url.host_str().is_some() && url.host_str() == self.api_base.host_str();
        match url.scheme() {
            "https" if url.host().is_some() => Ok(()),
            "http" if url.host().is_some() && (self.demo || own_host || is_loopback(&url)) => {
                Ok(())
            }
            "http" => Err(
                "the server sent a plain http:// verification link to another host; it is \
                 not shown (https:// is required)"
                    .to_owned(),
            ),
            scheme => Err(format!(
                "the server sent a verification link with the scheme {}: (only https:// is \
                 shown or put in a QR code)",
                crate::printable::printable(scheme, 20)
            )),
        }
    }

    /// The host part of keychain account names: `host:port`, or `demo` for the demo server.
    pub fn keychain_host(&self) -> String {
        if self.demo {
            return DEMO_KEYCHAIN_HOST.to_owned();
        }
        let host = self.api_base.host_str().unwrap_or("unknown-host");
        let port = self.api_base.port_or_known_default().unwrap_or(0);
        format!("{host}:{port}")
    }
}

/// A setting that cannot work, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The API base is not a usable URL.
    #[error("the API base {0:?} is not a URL like https://api.frame.io: {1}")]
    BadApiBase(String, String),
    /// Plain HTTP to a remote host would send secrets in clear text.
    #[error(
        "refusing plain http:// for {0}: tokens and the client secret would cross the network \
         unencrypted. Use https://, or http:// only with a loopback address (127.0.0.1, ::1, localhost)"
    )]
    InsecureApiBase(String),
    /// The client version is not semver.
    #[error("the client version {0:?} is not a semantic version; use the form 1.2.3")]
    BadClientVersion(String),
    /// An endpoint path is malformed.
    #[error(
        "the endpoint path {0:?} must start with a single / and contain no spaces, \\, or query"
    )]
    BadPath(String),
    /// An endpoint path would lead to another server than the API base.
    #[error(
        "the endpoint path {path:?} leads to {origin}, not to the API base's server; secrets \
         are sent only to the API base. Use a path such as /oauth/token"
    )]
    OtherOrigin {
        /// The path as configured.
        path: String,
        /// Where it would lead.
        origin: String,
    },
}

/// Parses and checks an API base given by the user.
pub fn parse_api_base(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text.trim())
        .map_err(|e| ConfigError::BadApiBase(text.to_owned(), e.to_string()))?;
    check_api_base(&url)?;
    Ok(url)
}

/// Checks a client version (`x-client-version` must be semver).
pub fn check_client_version(version: &str) -> Result<(), ConfigError> {
    match semver::Version::parse(version) {
        Ok(_) => Ok(()),
        Err(_) => Err(ConfigError::BadClientVersion(version.to_owned())),
    }
}

/// Checks an endpoint path: absolute below the API base (one leading `/`; `//host` and `\`
/// would name another host), without spaces, controls or a query.
pub fn check_path(path: &str) -> Result<(), ConfigError> {
    let bad = !path.starts_with('/')
        || path.starts_with("//")
        || path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '\\' || c == '#');
    if bad {
        return Err(ConfigError::BadPath(path.to_owned()));
    }
    Ok(())
}

fn check_api_base(url: &Url) -> Result<(), ConfigError> {
    let shown = url.as_str().to_owned();
    if url.host().is_none() {
        return Err(ConfigError::BadApiBase(shown, "it has no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ConfigError::BadApiBase(
            shown,
            "it must not carry a query, fragment or user name".into(),
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(ConfigError::InsecureApiBase(shown)),
        other => Err(ConfigError::BadApiBase(
            shown,
            format!("the scheme {other}: is not http or https"),
        )),
    }
}

/// True for 127.0.0.0/8, `::1` and `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        for ok in [
            "https://api.frame.io",
            "http://127.0.0.1:8080",
            "http://[::1]:9",
            "http://localhost:3000",
        ] {
            assert!(parse_api_base(ok).is_ok(), "{ok}");
        }
        assert!(matches!(
            parse_api_base("http://api.frame.io"),
            Err(ConfigError::InsecureApiBase(_))
        ));
        assert!(matches!(
            parse_api_base("http://192.168.1.10:8080"),
            Err(ConfigError::InsecureApiBase(_))
        ));
        for bad in [
            "",
            "api.frame.io",
            "ftp://api.frame.io",
            "https://",
            "https://h/?x=1",
        ] {
            assert!(
                matches!(parse_api_base(bad), Err(ConfigError::BadApiBase(..))),
                "{bad}"
            );
        }
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let mut profile = Profile::frame_io();
        assert_eq!(profile.validate(), Ok(()));
        profile.client_version = "2.16".into();
        assert_eq!(
            profile.validate(),
            Err(ConfigError::BadClientVersion("2.16".into()))
        );
        profile.client_version = "2.16.4".into();
        profile.paths.token = "v2/auth/token".into();
        assert!(matches!(profile.validate(), Err(ConfigError::BadPath(_))));
    }

    #[test]
    fn endpoints_never_leave_the_api_base() {
        let profile = Profile::frame_io();
        for evil in [
            "//evil.example/t",
            "/\\evil.example/t",
            "\\\\evil.example",
            "https://evil.example/t",
            "/t#frag",
            "/t\u{0}",
        ] {
            assert!(profile.endpoint(evil).is_err(), "{evil:?}");
        }
        assert_eq!(
            profile.endpoint("/v2/auth/token").unwrap().as_str(),
            "https://api.frame.io/v2/auth/token"
        );
        let mut profile = Profile::frame_io();
        profile.paths.token = "//evil.example/t".into();
        assert!(matches!(profile.validate(), Err(ConfigError::BadPath(_))));
        profile.paths.token = "/v2/auth/token".into();
        profile.paths.device_info = String::new();
        profile.paths.heartbeat = String::new();
        assert_eq!(profile.validate(), Ok(()), "optional endpoints may be off");
        assert!(!profile.offers_device_info() && !profile.offers_heartbeat());
    }

    #[test]
    fn only_safe_verification_links_are_shown() {
        let mut profile = Profile::frame_io();
        assert!(profile.check_link("https://next.frame.io/pair/123").is_ok());
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "http://phish.example/pair",
            "data:text/html,hi",
            "not a url",
        ] {
            assert!(profile.check_link(bad).is_err(), "{bad}");
        }
        assert!(profile.check_link("http://127.0.0.1:9/pair").is_ok());
        profile.demo = true;
        assert!(profile.check_link("http://10.251.0.1:8480/pair").is_ok());
        assert!(profile.check_link("javascript:alert(1)").is_err());
    }

    #[test]
    fn keychain_host_is_host_and_port_or_demo() {
        let mut profile = Profile::frame_io();
        assert_eq!(profile.keychain_host(), "api.frame.io:443");
        profile.api_base = parse_api_base("http://127.0.0.1:4000").unwrap();
        assert_eq!(profile.keychain_host(), "127.0.0.1:4000");
        profile.demo = true;
        assert_eq!(profile.keychain_host(), "demo");
    }
}
