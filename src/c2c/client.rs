//! HTTP client for the C2C device endpoints (reqwest with rustls and the OS trust store).
//!
//! Every call sends `x-client-version`; the OAuth endpoints take a form body, urlencoded or
//! multipart as the profile says; answers over [`MAX_BODY`] are refused before they are read
//! whole; every documented answer becomes a typed [`ClientError`].

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;

use url::Url;

use super::model::{
    CLIENT_VERSION_HEADER, DEVICE_CODE_GRANT, DeviceAuthorization, DeviceInfo, ErrorBody,
    OAuthErrorCode, REFRESH_TOKEN_GRANT, TokenResponse, URL_PAIRING_HEADER,
};
use crate::c2c::profile::{BodyEncoding, ConfigError, Profile};

/// Largest answer body read; the spec's answers are a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest token answer read. Larger than [`MAX_BODY`]: once the server has issued tokens
/// (and spent the old refresh token), an answer padded past 64 KiB must still be read.
pub const MAX_TOKEN_BODY: usize = 1024 * 1024;
/// Longest `Retry-After` honoured; a server asking for more is waited on this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Shortest poll interval towards a server on another machine (a server that says 0 must not
/// make us spin); on loopback (the demo server, tests) [`MIN_LOOPBACK_INTERVAL`].
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest poll interval towards a server on this machine.
pub const MIN_LOOPBACK_INTERVAL: Duration = Duration::from_millis(200);

/// Identity of one device towards the server.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// Chosen per physical device (serial number or UUID); the same on every call.
    pub client_id: String,
    /// Issued by Frame.io per device model.
    pub client_secret: SecretString,
}

/// Why a call failed. Messages say what happened in plain words; none contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The profile cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server answered with an OAuth error code.
    #[error("the server answered {error}{}", describe(.description))]
    OAuth {
        /// HTTP status of the answer.
        status: u16,
        /// The OAuth error code.
        error: OAuthErrorCode,
        /// The server's own words (`error_description` or the detailed message), verbatim.
        description: Option<String>,
    },
    /// The server answered with an HTTP error that carries no OAuth code.
    #[error("the server answered HTTP {status}{}", describe(.description))]
    Http {
        /// HTTP status.
        status: u16,
        /// The server's own words, when it gave any.
        description: Option<String>,
        /// How long the server asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// No connection could be made (DNS, refused, TLS, proxy).
    #[error("could not reach {host}: {reason}")]
    Connect {
        /// Host that was tried.
        host: String,
        /// What went wrong, from the network stack.
        reason: String,
    },
    /// The TLS handshake failed for another reason than the certificate (the peer does not
    /// speak TLS, or offers nothing this client accepts): nothing was sent, and it is the
    /// server's setup, not the network that is gone.
    #[error("could not set up a secure connection with {host}: {reason}")]
    Handshake {
        /// Host that was tried.
        host: String,
        /// What the TLS stack said.
        reason: String,
    },
    /// The server's TLS certificate could not be verified.
    #[error(
        "could not verify the TLS certificate of {host} ({reason}). If your network inspects \
         TLS, install its CA certificate in the OS trust store; otherwise check the API base"
    )]
    Untrusted {
        /// Host that was tried.
        host: String,
        /// What the TLS stack said.
        reason: String,
    },
    /// The network answers for the server with a sign-in page (a captive portal: hotel or
    /// venue Wi-Fi), found by [`super::portal`] after a call failed the way a portal makes
    /// calls fail.
    #[error(
        "this network needs a sign-in (a hotel or venue Wi-Fi page) before {host} can be \
         reached. Open {page} in a browser, accept it, then try again"
    )]
    SignIn {
        /// Host that was tried.
        host: String,
        /// The sign-in page to open (printable; from the network, not the server).
        page: String,
        /// A 2xx answer came back that was not the API's: most likely the portal's, but the
        /// request may have reached the server (see [`ClientError::may_have_been_done`]).
        answered: bool,
    },
    /// An upload made no progress (no byte taken, no answer) for the stall timeout.
    #[error("the upload to {host} made no progress for {} s", .after.as_secs())]
    Stalled {
        /// Host of the upload URL.
        host: String,
        /// The stall timeout.
        after: Duration,
    },
    /// A file being sent could not be read (a local problem, not the network's).
    #[error("{path} could not be read while it was sent: {reason}")]
    File {
        /// The file.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// The server did not answer in time.
    #[error("{host} did not answer within {} s", .after.as_secs())]
    Timeout {
        /// Host that was tried.
        host: String,
        /// The request timeout.
        after: Duration,
    },
    /// The connection broke while the answer was on its way.
    #[error("the connection to {host} broke: {reason}")]
    Broken {
        /// Host that was tried.
        host: String,
        /// What went wrong, from the network stack.
        reason: String,
    },
    /// The answer was larger than [`MAX_BODY`].
    #[error("the server's answer is larger than {} KiB, so it was not read", MAX_BODY / 1024)]
    TooLarge,
    /// The answer was not what the spec describes.
    #[error("the server's answer could not be understood ({0})")]
    Malformed(String),
    /// The answer was read and understood, but what it gives cannot be used (an upload URL
    /// that is not https, too many of them): asking again would get the same.
    #[error("the server's answer cannot be used: {0}")]
    Unusable(String),
    /// This computer cannot make HTTPS connections at all: its trust store could not be
    /// loaded (most often, no root certificates are installed).
    #[error(
        "could not set up HTTPS on this computer ({0}). Check that the system's root \
         certificates are installed (on Debian and Ubuntu: the ca-certificates package)"
    )]
    NoTrustStore(String),
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": \"{d}\""))
        .unwrap_or_default()
}

impl ClientError {
    /// Worth retrying later: the network, a timeout, an untrusted certificate or a captive
    /// portal (until it is accepted), a 5xx, 429 or 408, `slow_down` or
    /// `authorization_pending`.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Connect { .. }
            | Self::SignIn { .. }
            | Self::Timeout { .. }
            | Self::Stalled { .. }
            | Self::Broken { .. }
            | Self::Untrusted { .. }
            | Self::Handshake { .. }
            // "Not now" answers (RFC 8628 §3.5), whatever the endpoint that gave them.
            | Self::OAuth {
                error: OAuthErrorCode::SlowDown | OAuthErrorCode::AuthorizationPending,
                ..
            } => true,
            _ => false,
        }
    }

    /// A 2xx answer that could not be read (not JSON, too large): on a network that rewrites
    /// answers (captive portals, proxies), worth retrying where retrying is harmless.
    pub fn is_garbled(&self) -> bool {
        matches!(self, Self::Malformed(_) | Self::TooLarge)
    }

    /// The request may have reached the server and been carried out although no answer said
    /// so: it timed out or broke after it was sent, or a 2xx answer could not be read. A
    /// request that creates something (an asset, a comment) must not be repeated blindly
    /// after one of these. No connection (DNS, refused, TLS handshake, a connect timeout)
    /// and an error status the server answered are not ambiguous: nothing was done.
    pub fn may_have_been_done(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. }
                | Self::Broken { .. }
                | Self::Stalled { .. }
                | Self::SignIn { answered: true, .. }
        ) || self.is_garbled()
    }

    /// The server cannot be reached, or is down behind a gateway that answers for it (502,
    /// 503, 504): what a network outage looks like, worth waiting out however long it lasts.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Http { status, .. } => matches!(status, 502..=504),
            Self::Connect { .. }
            | Self::SignIn { .. }
            | Self::Timeout { .. }
            | Self::Stalled { .. }
            | Self::Broken { .. }
            | Self::Untrusted { .. } => true,
            _ => false,
        }
    }

    /// The server refused the access token: 401, whichever error shape it used (the
    /// detailed one, or an OAuth body such as `{"error": "invalid_token"}`).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// What this error means for whoever made the call, decided here once for every caller:
    /// the HTTP status first (see [`ClientError::is_transient`]), then the OAuth code.
    pub fn verdict(&self) -> Verdict {
        if self.is_transient() || self.is_garbled() {
            return Verdict::Retry;
        }
        match self {
            Self::OAuth { error, .. } => match error {
                OAuthErrorCode::InvalidGrant | OAuthErrorCode::ExpiredToken => {
                    Verdict::CredentialsDead
                }
                OAuthErrorCode::AccessDenied => Verdict::Declined,
                OAuthErrorCode::InvalidClient => Verdict::ClientRejected,
                OAuthErrorCode::InvalidRequest => Verdict::RequestRejected,
                _ => Verdict::Refused,
            },
            Self::Config(_) | Self::NoTrustStore(_) => Verdict::Configuration,
            _ => Verdict::Refused,
        }
    }

    /// Whether this is how a captive portal makes a call fail, so a check for one is worth
    /// its request (see [`super::portal`]).
    fn portal_like(&self) -> bool {
        match self {
            Self::Untrusted { .. }
            | Self::Handshake { .. }
            | Self::Malformed(_)
            | Self::TooLarge => true,
            // RFC 6585's 511 Network Authentication Required, or a redirect: the API never
            // redirects, and redirects are not followed.
            Self::Http { status, .. } => *status == 511 || (300..400).contains(status),
            _ => false,
        }
    }

    /// The sign-in page of the captive portal that stopped the call, if one did.
    pub fn sign_in_page(&self) -> Option<&str> {
        match self {
            Self::SignIn { page, .. } => Some(page),
            _ => None,
        }
    }

    /// The HTTP status of an error answer, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } | Self::OAuth { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The wait the server asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What a failed call means (see [`ClientError::verdict`]). What to do about it, and which
/// command or setting to name, is for the caller at the edge (the CLI, the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worth trying again later: the network, a timeout, an untrusted certificate, a 5xx,
    /// 408 or 429, a garbled 2xx, `slow_down` or `authorization_pending`.
    Retry,
    /// The credentials sent (a device code, a refresh token) are dead: `invalid_grant`,
    /// `expired_token`.
    CredentialsDead,
    /// The user declined (`access_denied`).
    Declined,
    /// The client id or secret was refused (`invalid_client`): a setting, not the pairing.
    ClientRejected,
    /// The request was called malformed (`invalid_request`): a setting (body encoding, path),
    /// or at Frame.io a reused refresh token.
    RequestRejected,
    /// Our own configuration cannot work (the profile, no trust store).
    Configuration,
    /// Refused for another reason (403, 404, 409, another OAuth code…).
    Refused,
}

/// The API base answered (see [`C2cClient::reach`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// Its HTTP status.
    pub status: u16,
    /// Its `Date` header, if it sent a valid one.
    pub date: Option<SystemTime>,
}

/// Makes *ring* rustls' crypto for this process (reqwest is built without a provider of its
/// own; see Cargo.toml). Call before building any `reqwest::Client`; [`C2cClient::new`] does.
pub fn install_crypto_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Fails only when a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Talks to one C2C server as described by a [`Profile`].
#[derive(Debug, Clone)]
pub struct C2cClient {
    http: reqwest::Client,
    profile: Profile,
    /// Set once `/v2/devices/assets` answered 404 and `/v2/assets` worked: later assets go
    /// straight to the deprecated path (see [`C2cClient::create_asset`]).
    pub(super) legacy_assets: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// One device's own firmware version, sent as `x-client-version` instead of the
    /// profile's (see [`C2cClient::for_firmware`]).
    firmware: Option<HeaderValue>,
}

impl C2cClient {
    /// Builds a client; proxies come from the system (never for this computer), trust from
    /// the OS store.
    pub fn new(profile: Profile) -> Result<Self, ClientError> {
        profile.validate()?;
        let mut headers = HeaderMap::new();
        let version = HeaderValue::from_str(&profile.client_version)
            .map_err(|_| ConfigError::BadClientVersion(profile.client_version.clone()))?;
        headers.insert(CLIENT_VERSION_HEADER, version);
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("c2c-pair/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(profile.request_timeout)
            .connect_timeout(profile.request_timeout.min(Duration::from_secs(10)))
            // Secrets travel in bodies; never follow a redirect that could resend them elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .proxy(super::proxy::system_except_loopback())
            .build()
            .map_err(|e| ClientError::NoTrustStore(crate::errors::chain(&e)))?;
        Ok(Self {
            http,
            profile,
            legacy_assets: std::sync::Arc::default(),
            firmware: None,
        })
    }

    /// The same client speaking for a device whose firmware is `version`: every call sends
    /// it as `x-client-version` (Frame.io picks the device model's configuration by it);
    /// `None` keeps the profile's. Fails on a version that is not semver.
    pub fn for_firmware(&self, version: Option<&str>) -> Result<Self, ConfigError> {
        let firmware = match version {
            None => None,
            Some(version) => {
                crate::c2c::profile::check_client_version(version)?;
                Some(
                    HeaderValue::from_str(version)
                        .map_err(|_| ConfigError::BadClientVersion(version.to_owned()))?,
                )
            }
        };
        Ok(Self {
            firmware,
            ..self.clone()
        })
    }

    /// The `x-client-version` this client sends.
    pub fn client_version(&self) -> &str {
        self.firmware
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or(&self.profile.client_version)
    }

    /// A request of `method` to `url`, with the device's own firmware version when it has one
    /// (the profile's is a default header).
    pub(super) fn request(&self, method: reqwest::Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.firmware {
            Some(version) => request.header(CLIENT_VERSION_HEADER, version.clone()),
            None => request,
        }
    }

    /// The same client (connection pool, TLS setup, headers) for another API base, with the
    /// rest of the profile unchanged: building a client loads the OS trust store, which costs
    /// milliseconds.
    pub fn with_api_base(&self, api_base: Url) -> Self {
        Self {
            http: self.http.clone(),
            profile: Profile {
                api_base,
                ..self.profile.clone()
            },
            legacy_assets: std::sync::Arc::default(),
            firmware: self.firmware.clone(),
        }
    }

    /// The profile this client was built with.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// `POST /v2/auth/device/code`: asks for a user code for one device.
    pub async fn request_device_code(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<DeviceAuthorization, ClientError> {
        let fields = [
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose_secret()),
            ("scope", self.profile.scope.as_str()),
        ];
        let mut request = self.form_post(&self.profile.paths.device_code, &fields)?;
        if self.profile.url_pairing {
            request = request.header(URL_PAIRING_HEADER, "true");
        }
        let mut authorization: DeviceAuthorization = self.send_json(request, MAX_BODY).await?;
        for link in [
            &authorization.verification_uri,
            &authorization.verification_uri_complete,
        ]
        .into_iter()
        .flatten()
        {
            self.profile
                .check_link(link)
                .map_err(ClientError::Malformed)?;
        }
        let floor = if crate::c2c::profile::is_loopback(&self.profile.api_base) {
            MIN_LOOPBACK_INTERVAL
        } else {
            MIN_INTERVAL
        };
        authorization.interval = authorization.interval.max(floor);
        Ok(authorization)
    }

    /// `POST /v2/auth/token` with the device-code grant: one poll.
    pub async fn exchange_device_code(
        &self,
        credentials: &ClientCredentials,
        device_code: &SecretString,
    ) -> Result<TokenResponse, ClientError> {
        let fields = [
            ("grant_type", DEVICE_CODE_GRANT),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose_secret()),
            ("device_code", device_code.expose_secret()),
        ];
        let request = self.form_post(&self.profile.paths.token, &fields)?;
        self.send_json(request, MAX_TOKEN_BODY).await
    }

    /// `POST /v2/auth/token` with the refresh grant. The refresh token is spent by this call.
    pub async fn refresh(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, ClientError> {
        let fields = [
            ("grant_type", REFRESH_TOKEN_GRANT),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose_secret()),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        let request = self.form_post(&self.profile.paths.token, &fields)?;
        self.send_json(request, MAX_TOKEN_BODY).await
    }

    /// `POST /v2/auth/revoke` (RFC 7009): any 2xx means the token is gone.
    pub async fn revoke(
        &self,
        credentials: &ClientCredentials,
        token: &SecretString,
    ) -> Result<(), ClientError> {
        let fields = [
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose_secret()),
            ("token", token.expose_secret()),
        ];
        let request = self.form_post(&self.profile.paths.revoke, &fields)?;
        // Frame.io answers `{"success": true}` (older pages: `{}`).
        self.send_confirmation(request).await
    }

    /// `GET /v2/devices/me`: which project the device is connected to.
    pub async fn device_info(
        &self,
        access_token: &SecretString,
    ) -> Result<DeviceInfo, ClientError> {
        let url = self.profile.endpoint(&self.profile.paths.device_info)?;
        let request = self
            .request(reqwest::Method::GET, url)
            .bearer_auth(access_token.expose_secret());
        self.send_json(request, MAX_BODY).await
    }

    /// `POST /v2/devices/heartbeat`: keeps the device shown as online.
    pub async fn heartbeat(&self, access_token: &SecretString) -> Result<(), ClientError> {
        let url = self.profile.endpoint(&self.profile.paths.heartbeat)?;
        let request = self
            .request(reqwest::Method::POST, url)
            .bearer_auth(access_token.expose_secret());
        self.send_confirmation(request).await
    }

    fn form_post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<RequestBuilder, ClientError> {
        let request = self.request(reqwest::Method::POST, self.profile.endpoint(path)?);
        Ok(match self.profile.body {
            BodyEncoding::Urlencoded => request.form(fields),
            BodyEncoding::Multipart => {
                let form = fields
                    .iter()
                    .fold(reqwest::multipart::Form::new(), |form, (name, value)| {
                        form.text(name.to_string(), value.to_string())
                    });
                request.multipart(form)
            }
        })
    }

    pub(super) async fn send_json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        limit: usize,
    ) -> Result<T, ClientError> {
        let body = self.send(request, limit).await?;
        match serde_json::from_slice(&body) {
            Ok(answer) => Ok(answer),
            Err(e) => Err(self
                .portal_or(ClientError::Malformed(malformed_reason(&e)))
                .await),
        }
    }

    /// Sends a request and returns the body of a 2xx answer (at most `limit` bytes); anything
    /// else becomes an error.
    pub(super) async fn send(
        &self,
        request: RequestBuilder,
        limit: usize,
    ) -> Result<Vec<u8>, ClientError> {
        self.send_to(&self.host(), request, limit).await
    }

    /// [`C2cClient::send`] to a host other than the API base's (an upload URL's), which
    /// errors then name.
    pub(super) async fn send_to(
        &self,
        host: &str,
        request: RequestBuilder,
        limit: usize,
    ) -> Result<Vec<u8>, ClientError> {
        match self.send_unchecked(host, request, limit).await {
            Ok(body) => Ok(body),
            Err(error) => Err(self.portal_or(error).await),
        }
    }

    /// [`C2cClient::send_to`] without the captive-portal check.
    async fn send_unchecked(
        &self,
        host: &str,
        request: RequestBuilder,
        limit: usize,
    ) -> Result<Vec<u8>, ClientError> {
        let host = host.to_owned();
        // Errors never carry the URL: a presigned upload URL's query is a credential.
        let mut response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&host, &e.without_url()))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = read_capped(&mut response, limit)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => ClientError::TooLarge,
                ReadError::Transport(e) => self.transport_error(&host, &e.without_url()),
            });
        match (status.is_success(), body) {
            (true, body) => body,
            // An error status counts, even if its body could not be read.
            (false, body) => Err(error_from_answer(
                status,
                &body.unwrap_or_default(),
                retry_after,
            )),
        }
    }

    /// Sends a request whose answer only confirms (revoke, heartbeat): a 2xx with no body or
    /// a JSON body. A 2xx with anything else is a captive portal or a proxy talking, not the
    /// server confirming.
    async fn send_confirmation(&self, request: RequestBuilder) -> Result<(), ClientError> {
        let body = self.send(request, MAX_BODY).await?;
        let empty = body.iter().all(u8::is_ascii_whitespace);
        if empty || serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
            Ok(())
        } else {
            let garbled =
                ClientError::Malformed("the answer is not the server's (not JSON)".into());
            Err(self.portal_or(garbled).await)
        }
    }

    /// `error`, or [`ClientError::SignIn`] when it is how a captive portal makes calls fail
    /// and a plain-HTTP check of the API host finds one (see [`super::portal`]).
    async fn portal_or(&self, error: ClientError) -> ClientError {
        if !error.portal_like() {
            return error;
        }
        match super::portal::probe(&self.http, &self.profile.api_base).await {
            Some(page) => ClientError::SignIn {
                host: self.host(),
                page,
                answered: error.is_garbled(),
            },
            None => error,
        }
    }

    /// Asks the API base for anything at all, without credentials: any HTTP answer (even a
    /// 404) proves DNS, proxy, TCP and TLS work — unless it is a captive portal's (a
    /// certificate not for the host, or over plain HTTP a 511 or a redirect elsewhere).
    /// Gives the status and the server's clock.
    pub async fn reach(&self) -> Result<Reached, ClientError> {
        let host = self.host();
        let sent = self
            .request(reqwest::Method::GET, self.profile.api_base.clone())
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => return Err(self.portal_or(self.transport_error(&host, &e)).await),
        };
        let status = answer.status().as_u16();
        if self.profile.api_base.scheme() == "http"
            && (status == 511 || answer.status().is_redirection())
        {
            let location = answer
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            if let Some(page) =
                super::portal::recognise(&self.profile.api_base, status, location, None)
            {
                return Err(ClientError::SignIn {
                    host,
                    page,
                    answered: false,
                });
            }
        }
        let date = answer
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        Ok(Reached { status, date })
    }

    pub(super) fn host(&self) -> String {
        self.profile
            .api_base
            .host_str()
            .unwrap_or("the server")
            .to_owned()
    }

    pub(super) fn transport_error(&self, host: &str, error: &reqwest::Error) -> ClientError {
        let host = host.to_owned();
        let reason = crate::errors::chain(error);
        if reason.contains("certificate") {
            return ClientError::Untrusted { host, reason };
        }
        if tls_failed(error) {
            return ClientError::Handshake { host, reason };
        }
        // A connect timeout is no connection: nothing was sent (see `may_have_been_done`).
        if error.is_connect() {
            return ClientError::Connect { host, reason };
        }
        if error.is_timeout() {
            return ClientError::Timeout {
                host,
                after: self.profile.request_timeout,
            };
        }
        ClientError::Broken { host, reason }
    }
}

/// True when a TLS error lies in `error`'s chain (the handshake failed).
fn tls_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        // tokio-rustls hands a TLS error on inside `io::Error`s (nested), whose `source`
        // skips what they wrap.
        let mut wrapped = Some(cause);
        while let Some(inner) = wrapped {
            if inner.is::<rustls::Error>() {
                return true;
            }
            let io = inner.downcast_ref::<std::io::Error>();
            let next: Option<&(dyn std::error::Error + 'static)> =
                match io.and_then(|e| e.get_ref()) {
                    Some(e) => Some(e),
                    None => None,
                };
            wrapped = next;
        }
        source = cause.source();
    }
    false
}

/// The error an answer stands for. The status decides first: a 5xx, 408 or 429 is a server
/// in trouble whatever its body says (a gateway's `{"error":"invalid_grant"}` page must not
/// end a pairing); only other 4xx answers are read for an OAuth error code.
fn error_from_answer(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> ClientError {
    let parsed = ErrorBody::parse(body);
    let in_trouble = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    match parsed.error {
        Some(error) if status.is_client_error() && !in_trouble => ClientError::OAuth {
            status: status.as_u16(),
            error,
            description: parsed.description,
        },
        code => ClientError::Http {
            status: status.as_u16(),
            description: match (code, parsed.description) {
                (Some(code), Some(text)) => Some(format!("{code}: {text}")),
                (Some(code), None) => Some(code.to_string()),
                (None, text) => text,
            },
            retry_after,
        },
    }
}

enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Reads a body chunk by chunk, stopping as soon as it passes `limit`.
async fn read_capped(response: &mut Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110 §10.2.3), at most
/// [`MAX_RETRY_AFTER`]; a date in the past means now.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        // Any run of digits, even past u64: only its size matters once capped.
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(SystemTime::now()).unwrap_or_default()
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Why a body did not parse, without echoing any of it: a value could be a token.
fn malformed_reason(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        // "missing field `user_code` at line 1 column 40" names the field, never a value; so
        // do the model's own reasons ("field `interval` is negative").
        Category::Data
            if ["missing field", "field `"]
                .iter()
                .any(|prefix| error.to_string().starts_with(prefix)) =>
        {
            let text = error.to_string();
            text.split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned()
        }
        Category::Data => "a field has the wrong type or value".into(),
        Category::Eof => "the answer ended early".into(),
        Category::Syntax | Category::Io => "the answer is not valid JSON".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
        );
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
        for huge in ["18446744073709551615", "99999999999999999999999999"] {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(huge));
            assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER), "{huge}");
        }
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date is now"
        );
    }

    #[test]
    fn answers_become_typed_errors() {
        let oauth = error_from_answer(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_client"}"#,
            None,
        );
        assert!(matches!(
            oauth,
            ClientError::OAuth {
                status: 400,
                error: OAuthErrorCode::InvalidClient,
                ..
            }
        ));
        assert!(!oauth.is_transient());

        let busy = error_from_answer(
            StatusCode::TOO_MANY_REQUESTS,
            b"",
            Some(Duration::from_secs(3)),
        );
        assert!(busy.is_transient());
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(3)));

        for status in [500, 502, 503, 408, 429] {
            let busy = error_from_answer(
                StatusCode::from_u16(status).unwrap(),
                br#"{"error":"invalid_grant","error_description":"down for maintenance"}"#,
                None,
            );
            assert!(busy.is_transient(), "{status}: the status decides first");
            assert!(
                busy.to_string()
                    .contains("invalid_grant: down for maintenance"),
                "{busy}"
            );
        }

        let detailed = error_from_answer(
            StatusCode::UNAUTHORIZED,
            br#"{"code":401,"message":"Not Authorized","errors":[]}"#,
            None,
        );
        assert_eq!(
            detailed.to_string(),
            "the server answered HTTP 401: \"Not Authorized\""
        );
    }

    #[test]
    fn every_error_has_one_verdict_status_first() {
        let answer = |status, body: &[u8]| {
            error_from_answer(StatusCode::from_u16(status).unwrap(), body, None).verdict()
        };
        let grant = br#"{"error":"invalid_grant"}"#;
        assert_eq!(answer(503, grant), Verdict::Retry);
        assert_eq!(answer(400, grant), Verdict::CredentialsDead);
        assert_eq!(
            answer(400, br#"{"error":"expired_token"}"#),
            Verdict::CredentialsDead
        );
        assert_eq!(
            answer(401, br#"{"error":"invalid_client"}"#),
            Verdict::ClientRejected
        );
        assert_eq!(
            answer(400, br#"{"error":"invalid_request"}"#),
            Verdict::RequestRejected
        );
        assert_eq!(
            answer(400, br#"{"error":"access_denied"}"#),
            Verdict::Declined
        );
        assert_eq!(answer(400, br#"{"error":"slow_down"}"#), Verdict::Retry);
        assert_eq!(answer(409, b"{}"), Verdict::Refused);
        assert_eq!(answer(429, b""), Verdict::Retry);
        assert_eq!(ClientError::TooLarge.verdict(), Verdict::Retry);
    }

    #[test]
    fn malformed_reasons_never_quote_the_body() {
        let err = serde_json::from_str::<TokenResponse>(r#"{"access_token": 12}"#).unwrap_err();
        assert_eq!(
            malformed_reason(&err),
            "field `access_token` is not a string"
        );
        let err = serde_json::from_str::<TokenResponse>(r#"{"token_type": "bearer"}"#).unwrap_err();
        assert_eq!(malformed_reason(&err), "missing field `access_token`");
        let err =
            serde_json::from_str::<TokenResponse>(r#"{"access_token": "AT-1", "#).unwrap_err();
        assert_eq!(malformed_reason(&err), "the answer ended early");
    }
}
