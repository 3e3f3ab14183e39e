//! The demo server's memory: device codes, approvals, tokens, devices and the request log.
//! Pure logic on a clock passed in, so the HTTP layer stays thin.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use rand::Rng as _;
use serde::Serialize;
use tempfile::TempDir;
use tokio::time::Instant;

use crate::c2c::model::{OAuthErrorCode, SLOW_DOWN_STEP};

use super::DemoConfig;
use super::assets::{Announced, Announcement, Assets, CommentRefused, Evicted};
use super::comments::{Comment, NewComment};
pub use super::devices::{DemoDevice, DeviceView, Project};
use super::fault::Faults;
use super::guard::{Client, Guard, LIVE_CODES_PER_ADDRESS};
use super::limits::MAX_PARTS;
use super::limits::clipped;
use super::online::Online;
use super::pauses::{Pauses, WindowRefused};
use super::upload_fault::UploadFaults;

/// Refresh tokens live 14 days from issuance (spec §5).
const REFRESH_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);
/// Expired codes are forgotten this long after they died, to bound memory.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Most requests kept in the log.
const LOG_ENTRIES: usize = 20_000;
/// Most bytes of text the log keeps (its entries' strings, roughly).
const LOG_BYTES: usize = 4 * 1024 * 1024;
/// Longest text field of a log entry.
const LOG_FIELD_CHARS: usize = 160;
/// Most device codes remembered at once (live or recently dead), whoever asked.
const MAX_CODES: usize = 20_000;
/// Most paired devices remembered; the least recently seen make way.
const MAX_DEVICES: usize = 2_000;
/// Token sets kept per device for the control API (the newest).
const ISSUED_PER_DEVICE: usize = 8;
/// How long a spent refresh token is remembered, to answer its reuse as Frame.io does.
const SPENT_KEPT: Duration = Duration::from_secs(3600);
/// Least time between two sweeps of dead tokens.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Where a device code stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeStatus {
    /// Waiting for someone to approve or deny it.
    Pending,
    /// Approved; tokens go out on the next poll.
    Approved {
        /// Project chosen on the approval page.
        project: Project,
        /// Device name chosen on the approval page.
        device_name: String,
    },
    /// Declined.
    Denied,
    /// Tokens were issued; the code is spent.
    Redeemed,
    /// Expired early by the control API.
    Expired,
}

impl CodeStatus {
    fn label(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved { .. } => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
            Self::Expired => "expired",
        }
    }
}

struct Authorization {
    client_id: String,
    /// Who asked for it, when not this machine (for the per-address cap).
    requester: Option<Client>,
    device_code: String,
    expires_at: Instant,
    interval: Duration,
    last_poll: Option<Instant>,
    status: CodeStatus,
}

impl Authorization {
    fn is_live(&self, now: Instant) -> bool {
        now < self.expires_at
            && matches!(
                self.status,
                CodeStatus::Pending | CodeStatus::Approved { .. }
            )
    }
}

enum TokenKind {
    Access {
        expires_at: Instant,
    },
    Refresh {
        issued_at: Instant,
        used: Option<Instant>,
    },
}

struct TokenRecord {
    client_id: String,
    /// The pairing the token belongs to (its device record's id): a second pairing with
    /// the same `client_id` is a device of its own, with tokens of its own.
    pairing: String,
    kind: TokenKind,
}

/// One request as the server saw it, for tests (`GET /_control/requests`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoggedRequest {
    /// Seconds since the server started, on a monotonic clock.
    pub at: f64,
    /// Wall-clock time, Unix milliseconds.
    pub at_unix_ms: u128,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// The `x-client-version` header, when sent.
    pub client_version: Option<String>,
    /// `client_id` of the request, when it had one.
    pub client_id: Option<String>,
    /// `grant_type` of a token request.
    pub grant_type: Option<String>,
    /// Status answered.
    pub status: u16,
    /// OAuth error answered, if any.
    pub error: Option<String>,
    /// The injected fault this request met, if any.
    pub fault: Option<String>,
}

/// A device code as the control API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CodeView {
    /// The user code.
    pub user_code: String,
    /// The device's `client_id`.
    pub client_id: String,
    /// `pending`, `approved`, `denied`, `redeemed` or `expired`.
    pub status: String,
    /// Seconds of life left.
    pub expires_in: f64,
    /// Interval now in force for this code (raised by `slow_down`).
    pub interval: f64,
    /// The secret device code, only when asked for (leak tests need to know what to look for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_code: Option<String>,
}

/// The media was created while its device was paused in "Frame.io" (judged by the `offset`
/// sent with the asset): Frame.io refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Channel Paused")]
pub struct ChannelPaused;

/// A token set as issued, with when, for the control API.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedSet {
    /// Access token.
    pub access_token: String,
    /// Refresh token.
    pub refresh_token: String,
    /// Wall-clock time it was issued, Unix milliseconds.
    pub at_unix_ms: u128,
}

/// An issued token pair.
pub struct IssuedTokens {
    /// Access token.
    pub access_token: String,
    /// Refresh token.
    pub refresh_token: String,
    /// Access-token lifetime.
    pub expires_in: Duration,
}

/// A device code just issued.
pub struct IssuedCode {
    /// Secret device code.
    pub device_code: String,
    /// Code the user types.
    pub user_code: String,
    /// Code lifetime.
    pub expires_in: Duration,
    /// Poll interval.
    pub interval: Duration,
}

/// Why no device code was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefused {
    /// This address already holds its share of live codes.
    #[error("too many codes are waiting for this address; use one or let them expire")]
    TooManyForAddress,
    /// The server holds as many codes as it remembers.
    #[error("the server is busy; try again in a minute")]
    Full,
}

/// How much the server holds, for tests of its memory bound (`GET /_control/stats`).
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Device codes remembered.
    pub codes: usize,
    /// Tokens alive or remembered as spent.
    pub tokens: usize,
    /// Paired devices.
    pub devices: usize,
    /// Assets.
    pub assets: usize,
    /// Request log entries.
    pub log_entries: usize,
    /// Bytes of text in the request log.
    pub log_bytes: usize,
    /// Client addresses the rate limits remember.
    pub addresses: usize,
    /// The latency added before every request is handled (`POST /_control/latency`), ms.
    pub latency_ms: u64,
}

/// Why a control action or approval could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// No such user code.
    #[error("there is no code {0}: check the digits")]
    Unknown(String),
    /// The code already expired.
    #[error("the code {0} has expired: ask the device for a new one")]
    Expired(String),
    /// The code was already approved, denied or used.
    #[error("the code {0} was already {1}")]
    Settled(String, &'static str),
    /// No such project.
    #[error("there is no project {0:?}")]
    UnknownProject(String),
    /// No such paired device (or it has no tokens).
    #[error("there is no paired device {0:?}")]
    UnknownDevice(String),
}

/// Everything the demo server remembers.
pub struct DemoState {
    config: DemoConfig,
    started: Instant,
    projects: Vec<Project>,
    codes: HashMap<String, Authorization>,
    by_device_code: HashMap<String, String>,
    tokens: HashMap<String, TokenRecord>,
    issued: HashMap<String, Vec<IssuedSet>>,
    assets: Assets,
    upload_faults: UploadFaults,
    legacy_only: bool,
    pauses: Pauses,
    online: Online,
    latency: Duration,
    strict_headers: bool,
    /// While a device is paused, refuse every new asset of it whatever its `offset`.
    pause_refuses_all: bool,
    devices: HashMap<String, DemoDevice>,
    forced_slow_downs: u32,
    faults: Faults,
    log: VecDeque<LoggedRequest>,
    log_bytes: usize,
    guard: Guard,
    pruned_at: Instant,
}

impl DemoState {
    /// Fresh state for a server started now.
    pub fn new(config: DemoConfig, now: Instant) -> Self {
        let projects = config
            .projects
            .iter()
            .map(|name| Project {
                id: random_uuid(),
                name: name.clone(),
            })
            .collect();
        let strict_headers = config.strict_headers;
        Self {
            config,
            started: now,
            projects,
            codes: HashMap::new(),
            by_device_code: HashMap::new(),
            tokens: HashMap::new(),
            devices: HashMap::new(),
            forced_slow_downs: 0,
            faults: Faults::default(),
            issued: HashMap::new(),
            assets: Assets::default(),
            upload_faults: UploadFaults::default(),
            legacy_only: false,
            pauses: Pauses::default(),
            online: Online::default(),
            latency: Duration::ZERO,
            strict_headers,
            pause_refuses_all: false,
            log: VecDeque::new(),
            log_bytes: 0,
            guard: Guard::default(),
            pruned_at: now,
        }
    }

    /// The server's configuration.
    pub fn config(&self) -> &DemoConfig {
        &self.config
    }

    /// Projects a code can be approved into.
    pub fn projects(&self) -> &[Project] {
        &self.projects
    }

    /// True when the client secret matches.
    pub fn client_secret_ok(&self, secret: Option<&str>) -> bool {
        secret == Some(self.config.client_secret.as_str())
    }

    /// Issues a device code for `client_id`, asked for by `requester` (`None`: this machine,
    /// which has no per-address cap).
    pub fn issue_code(
        &mut self,
        client_id: &str,
        requester: Option<Client>,
        now: Instant,
    ) -> Result<IssuedCode, CodeRefused> {
        self.codes.retain(|_, auth| {
            auth.expires_at
                .checked_add(FORGET_AFTER)
                .is_none_or(|forget_at| now < forget_at)
        });
        let codes = &self.codes;
        self.by_device_code
            .retain(|_, user_code| codes.contains_key(user_code));
        if let Some(requester) = requester {
            let live = self
                .codes
                .values()
                .filter(|auth| auth.requester == Some(requester) && auth.is_live(now))
                .count();
            if live >= LIVE_CODES_PER_ADDRESS {
                return Err(CodeRefused::TooManyForAddress);
            }
        }
        if self.codes.len() >= MAX_CODES {
            return Err(CodeRefused::Full);
        }
        let user_code = loop {
            let candidate = format!("{:06}", rand::rng().random_range(0..1_000_000));
            if !self.codes.contains_key(&candidate) {
                break candidate;
            }
        };
        let device_code = random_token();
        self.codes.insert(
            user_code.clone(),
            Authorization {
                client_id: client_id.to_owned(),
                requester,
                device_code: device_code.clone(),
                expires_at: now + self.config.expires_in,
                interval: self.config.interval,
                last_poll: None,
                status: CodeStatus::Pending,
            },
        );
        self.by_device_code
            .insert(device_code.clone(), user_code.clone());
        Ok(IssuedCode {
            device_code,
            user_code,
            expires_in: self.config.expires_in,
            interval: self.config.interval,
        })
    }

    /// One poll with the device-code grant (RFC 8628 §3.4–3.5).
    pub fn poll(
        &mut self,
        client_id: &str,
        device_code: &str,
        now: Instant,
    ) -> Result<IssuedTokens, OAuthErrorCode> {
        let Some(user_code) = self.by_device_code.get(device_code).cloned() else {
            return Err(OAuthErrorCode::InvalidGrant);
        };
        let forced = self.forced_slow_downs > 0;
        let Some(auth) = self.codes.get_mut(&user_code) else {
            return Err(OAuthErrorCode::InvalidGrant);
        };
        if auth.client_id != client_id || auth.status == CodeStatus::Redeemed {
            return Err(OAuthErrorCode::InvalidGrant);
        }
        if now >= auth.expires_at || auth.status == CodeStatus::Expired {
            return Err(OAuthErrorCode::ExpiredToken);
        }
        let too_soon = auth
            .last_poll
            .is_some_and(|last| now.duration_since(last) < auth.interval);
        auth.last_poll = Some(now);
        if forced || too_soon {
            auth.interval += SLOW_DOWN_STEP;
            if forced {
                self.forced_slow_downs -= 1;
            }
            return Err(OAuthErrorCode::SlowDown);
        }
        match std::mem::replace(&mut auth.status, CodeStatus::Redeemed) {
            CodeStatus::Approved {
                project,
                device_name,
            } => {
                let client_id = auth.client_id.clone();
                self.make_room_for_device();
                let pairing = random_uuid();
                self.devices.insert(
                    pairing.clone(),
                    DemoDevice {
                        id: pairing.clone(),
                        client_id: client_id.clone(),
                        name: device_name,
                        project,
                        last_seen: self.seconds_since_start(now),
                    },
                );
                Ok(self.issue_tokens(&client_id, &pairing, now))
            }
            other => {
                let error = match other {
                    CodeStatus::Denied => OAuthErrorCode::AccessDenied,
                    _ => OAuthErrorCode::AuthorizationPending,
                };
                auth.status = other;
                Err(error)
            }
        }
    }

    /// A refresh: the refresh token is spent, and a new pair replaces the old one.
    pub fn refresh(
        &mut self,
        client_id: &str,
        refresh_token: &str,
        now: Instant,
    ) -> Result<IssuedTokens, OAuthErrorCode> {
        let Some(record) = self.tokens.get_mut(refresh_token) else {
            return Err(OAuthErrorCode::InvalidGrant);
        };
        let TokenKind::Refresh { issued_at, used } = &mut record.kind else {
            return Err(OAuthErrorCode::InvalidGrant);
        };
        if record.client_id != client_id {
            return Err(OAuthErrorCode::InvalidGrant);
        }
        // Frame.io answers a reused refresh token with invalid_request (spec §5).
        if used.is_some() {
            return Err(OAuthErrorCode::InvalidRequest);
        }
        if now.saturating_duration_since(*issued_at) >= REFRESH_LIFETIME {
            return Err(OAuthErrorCode::InvalidGrant);
        }
        *used = Some(now);
        let pairing = record.pairing.clone();
        // The previous access token of this pairing stops working at once.
        self.tokens
            .retain(|_, t| !(t.pairing == pairing && matches!(t.kind, TokenKind::Access { .. })));
        Ok(self.issue_tokens(client_id, &pairing, now))
    }

    /// Revokes every token of the pairing that owns `token` (its token family), and no other
    /// pairing's, even with the same `client_id`. Unknown tokens are fine (RFC 7009).
    pub fn revoke(&mut self, client_id: &str, token: &str) {
        let owner = self
            .tokens
            .get(token)
            .filter(|t| t.client_id == client_id)
            .map(|t| t.pairing.clone());
        if let Some(pairing) = owner {
            self.tokens.retain(|_, t| t.pairing != pairing);
        }
    }

    /// The device an access token belongs to, marking it seen; `None` if the token is not valid.
    pub fn authenticate(&mut self, access_token: &str, now: Instant) -> Option<DemoDevice> {
        let record = self.tokens.get(access_token)?;
        let TokenKind::Access { expires_at } = record.kind else {
            return None;
        };
        if now >= expires_at {
            return None;
        }
        let seen = self.seconds_since_start(now);
        let device = self.devices.get_mut(&record.pairing)?;
        device.last_seen = seen;
        Some(device.clone())
    }

    /// Approves a pending code into a project (by id or name).
    pub fn approve(
        &mut self,
        user_code: &str,
        project: Option<&str>,
        device_name: Option<&str>,
        now: Instant,
    ) -> Result<(), ApprovalError> {
        let project = match project {
            None => self.projects.first().cloned(),
            Some(wanted) => self
                .projects
                .iter()
                .find(|p| p.id == wanted || p.name == wanted)
                .cloned(),
        }
        .ok_or_else(|| ApprovalError::UnknownProject(project.unwrap_or_default().to_owned()))?;
        let auth = self.pending(user_code, now)?;
        let device_name = device_name
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map_or_else(|| auth.client_id.clone(), str::to_owned);
        auth.status = CodeStatus::Approved {
            project,
            device_name,
        };
        Ok(())
    }

    /// Declines a pending code.
    pub fn deny(&mut self, user_code: &str, now: Instant) -> Result<(), ApprovalError> {
        self.pending(user_code, now)?.status = CodeStatus::Denied;
        Ok(())
    }

    /// Expires a code at once.
    pub fn expire(&mut self, user_code: &str) -> Result<(), ApprovalError> {
        let auth = self
            .codes
            .get_mut(user_code)
            .ok_or_else(|| ApprovalError::Unknown(user_code.to_owned()))?;
        auth.status = CodeStatus::Expired;
        Ok(())
    }

    /// Injected faults: queue them, or turn chaos on.
    pub fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }

    /// Makes the device's access tokens expire now (its refresh token stays valid).
    pub fn expire_access(&mut self, client_id: &str, now: Instant) -> Result<(), ApprovalError> {
        let mut found = false;
        for token in self
            .tokens
            .values_mut()
            .filter(|t| t.client_id == client_id)
        {
            if let TokenKind::Access { expires_at } = &mut token.kind {
                *expires_at = now;
                found = true;
            }
        }
        found
            .then_some(())
            .ok_or_else(|| ApprovalError::UnknownDevice(client_id.to_owned()))
    }

    /// Revokes every token of the device, as Frame.io's web app would.
    pub fn revoke_device(&mut self, client_id: &str) -> Result<(), ApprovalError> {
        let before = self.tokens.len();
        self.tokens.retain(|_, t| t.client_id != client_id);
        (self.tokens.len() != before)
            .then_some(())
            .ok_or_else(|| ApprovalError::UnknownDevice(client_id.to_owned()))
    }

    /// Removes the device (each pairing with its `client_id`) from its project: its tokens
    /// die and it is no longer listed.
    pub fn remove_device(&mut self, client_id: &str) -> Result<(), ApprovalError> {
        self.tokens.retain(|_, t| t.client_id != client_id);
        self.online.forget(client_id);
        let before = self.devices.len();
        self.devices
            .retain(|_, device| device.client_id != client_id);
        (self.devices.len() != before)
            .then_some(())
            .ok_or_else(|| ApprovalError::UnknownDevice(client_id.to_owned()))
    }

    /// The next `count` device-code polls get `slow_down`.
    pub fn force_slow_down(&mut self, count: u32) {
        self.forced_slow_downs = self.forced_slow_downs.saturating_add(count);
    }

    /// The client id waiting behind a live code, for the approval page.
    pub fn pending_client(&self, user_code: &str, now: Instant) -> Result<String, ApprovalError> {
        match self.codes.get(user_code) {
            None => Err(ApprovalError::Unknown(user_code.to_owned())),
            Some(auth) if auth.is_live(now) && auth.status == CodeStatus::Pending => {
                Ok(auth.client_id.clone())
            }
            Some(auth) if now >= auth.expires_at || auth.status == CodeStatus::Expired => {
                Err(ApprovalError::Expired(user_code.to_owned()))
            }
            Some(auth) => Err(ApprovalError::Settled(
                user_code.to_owned(),
                auth.status.label(),
            )),
        }
    }

    /// Every code the server remembers, newest last.
    pub fn codes(&self, now: Instant, reveal: bool) -> Vec<CodeView> {
        let mut views: Vec<(Instant, CodeView)> = self
            .codes
            .iter()
            .map(|(user_code, auth)| {
                let expired = now >= auth.expires_at && auth.status == CodeStatus::Pending;
                (
                    auth.expires_at,
                    CodeView {
                        user_code: user_code.clone(),
                        client_id: auth.client_id.clone(),
                        status: if expired {
                            "expired"
                        } else {
                            auth.status.label()
                        }
                        .to_owned(),
                        expires_in: auth.expires_at.saturating_duration_since(now).as_secs_f64(),
                        interval: auth.interval.as_secs_f64(),
                        device_code: reveal.then(|| auth.device_code.clone()),
                    },
                )
            })
            .collect();
        views.sort_by_key(|(expires_at, _)| *expires_at);
        views.into_iter().map(|(_, view)| view).collect()
    }

    /// Paired devices, by client id, with their online state (heartbeats) and pauses at
    /// `now_unix_ms`.
    pub fn device_views(&self, now_unix_ms: u64) -> Vec<DeviceView> {
        let limit = self.offline_after_ms();
        self.devices()
            .into_iter()
            .map(|device| {
                let id = device.client_id.as_str();
                DeviceView {
                    presence: self.online.presence(id, now_unix_ms, limit),
                    pauses: self.pauses.views(id),
                    paused: self.pauses.is_paused(id),
                    device,
                }
            })
            .collect()
    }

    /// Paired devices, by client id.
    pub fn devices(&self) -> Vec<DemoDevice> {
        let mut devices: Vec<DemoDevice> = self.devices.values().cloned().collect();
        devices.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        devices
    }

    /// Records a request in the log, its text fields clipped; the oldest entries make way
    /// when the log is full (by count or by bytes).
    pub fn record(&mut self, mut entry: LoggedRequest, now: Instant) {
        entry.at = self.seconds_since_start(now);
        entry.at_unix_ms = unix_ms();
        let clip = |field: &mut Option<String>| {
            if let Some(text) = field.as_mut() {
                *text = clipped(text, LOG_FIELD_CHARS);
            }
        };
        entry.path = clipped(&entry.path, LOG_FIELD_CHARS);
        clip(&mut entry.client_version);
        clip(&mut entry.client_id);
        clip(&mut entry.grant_type);
        clip(&mut entry.error);
        clip(&mut entry.fault);
        self.log_bytes = self.log_bytes.saturating_add(entry_bytes(&entry));
        self.log.push_back(entry);
        while self.log.len() > LOG_ENTRIES || self.log_bytes > LOG_BYTES {
            let Some(oldest) = self.log.pop_front() else {
                break;
            };
            self.log_bytes = self.log_bytes.saturating_sub(entry_bytes(&oldest));
        }
    }

    /// The request log, oldest first.
    pub fn log(&self) -> &VecDeque<LoggedRequest> {
        &self.log
    }

    /// The rate limits of client addresses.
    pub fn guard(&mut self) -> &mut Guard {
        &mut self.guard
    }

    /// How much the server holds.
    pub fn stats(&self) -> Stats {
        Stats {
            codes: self.codes.len(),
            tokens: self.tokens.len(),
            devices: self.devices.len(),
            assets: self.assets.len(),
            log_entries: self.log.len(),
            log_bytes: self.log_bytes,
            addresses: self.guard.len(),
            latency_ms: u64::try_from(self.latency.as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn pending(
        &mut self,
        user_code: &str,
        now: Instant,
    ) -> Result<&mut Authorization, ApprovalError> {
        self.pending_client(user_code, now)?;
        self.codes
            .get_mut(user_code)
            .ok_or_else(|| ApprovalError::Unknown(user_code.to_owned()))
    }

    fn issue_tokens(&mut self, client_id: &str, pairing: &str, now: Instant) -> IssuedTokens {
        self.prune_tokens(now);
        let access_token = random_token();
        let refresh_token = random_token();
        let expires_in = self.config.access_lifetime;
        self.tokens.insert(
            access_token.clone(),
            TokenRecord {
                client_id: client_id.to_owned(),
                pairing: pairing.to_owned(),
                kind: TokenKind::Access {
                    expires_at: now + expires_in,
                },
            },
        );
        self.tokens.insert(
            refresh_token.clone(),
            TokenRecord {
                client_id: client_id.to_owned(),
                pairing: pairing.to_owned(),
                kind: TokenKind::Refresh {
                    issued_at: now,
                    used: None,
                },
            },
        );
        let sets = self.issued.entry(client_id.to_owned()).or_default();
        sets.push(IssuedSet {
            access_token: access_token.clone(),
            refresh_token: refresh_token.clone(),
            at_unix_ms: unix_ms(),
        });
        let excess = sets.len().saturating_sub(ISSUED_PER_DEVICE);
        sets.drain(..excess);
        IssuedTokens {
            access_token,
            refresh_token,
            expires_in,
        }
    }

    /// Creates an asset (its announcement already checked) for a device at `now_unix_ms`, in
    /// `folder`, and returns it with the assets forgotten to make room. Refused when the media
    /// was created (`offset` seconds before now) during one of the device's pauses, as
    /// Frame.io does. A normal asset gets the parts asked for, give or take the upload fault's
    /// `upload_urls_delta`.
    pub fn create_asset(
        &mut self,
        client_id: &str,
        mut announcement: Announcement,
        folder: TempDir,
        now_unix_ms: u64,
    ) -> Result<Created, ChannelPaused> {
        let offset_ms = announcement.offset.unwrap_or(0).saturating_mul(1000);
        // An offset larger than now means the epoch.
        let recorded_at = now_unix_ms.saturating_sub(offset_ms);
        let refused = if self.pause_refuses_all {
            self.pauses.is_paused(client_id)
        } else {
            self.pauses.covers(client_id, recorded_at)
        };
        if refused {
            return Err(ChannelPaused);
        }
        if let Announced::Normal { parts, .. } = &mut announcement.kind {
            let delta = self.upload_faults.urls_delta();
            let wanted = i64::from(*parts).saturating_add(delta);
            *parts = u32::try_from(wanted.clamp(1, i64::from(MAX_PARTS))).unwrap_or(1);
        }
        let parts = match announcement.kind {
            Announced::Normal { parts, .. } => parts,
            Announced::Realtime { .. } => 0,
        };
        let id = random_uuid();
        let (name, evicted) =
            self.assets
                .create(id.clone(), client_id, announcement, recorded_at, folder);
        Ok(Created {
            id,
            name,
            parts,
            evicted,
        })
    }

    /// Every asset and its parts.
    pub fn assets(&self) -> &Assets {
        &self.assets
    }

    /// Every asset and its parts, to change.
    pub fn assets_mut(&mut self) -> &mut Assets {
        &mut self.assets
    }

    /// Keeps a device's comment on one of its assets, with a new id and the time now.
    pub fn comment(
        &mut self,
        asset_id: &str,
        client_id: &str,
        comment: NewComment,
    ) -> Result<Comment, CommentRefused> {
        let seconds = u64::try_from(unix_ms() / 1000).unwrap_or(u64::MAX);
        let inserted_at = crate::human_time::rfc3339(seconds);
        self.assets
            .comment(asset_id, client_id, comment, random_uuid(), inserted_at)
    }

    /// True while a device is paused in "Frame.io" (it has an open pause window).
    pub fn is_paused(&self, client_id: &str) -> bool {
        self.pauses.is_paused(client_id)
    }

    /// Every device's pause windows.
    pub fn pauses(&self) -> &Pauses {
        &self.pauses
    }

    /// Every device's heartbeats.
    pub fn online(&self) -> &Online {
        &self.online
    }

    /// A heartbeat from a device at `now_unix_ms`: it is online until
    /// [`DemoConfig::offline_after`] without another.
    pub fn heartbeat(&mut self, client_id: &str, now_unix_ms: u64) {
        let limit = self.offline_after_ms();
        self.online.heartbeat(client_id, now_unix_ms, limit);
    }

    /// [`DemoConfig::offline_after`] in milliseconds.
    pub fn offline_after_ms(&self) -> u64 {
        u64::try_from(self.config.offline_after.as_millis()).unwrap_or(u64::MAX)
    }

    /// The latency added before every request is handled.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Sets the latency added before every request is handled (zero: none).
    pub fn set_latency(&mut self, latency: Duration) {
        self.latency = latency;
    }

    /// True while part uploads must carry the headers their URL signs.
    pub fn strict_headers(&self) -> bool {
        self.strict_headers
    }

    /// Insists on the signed headers of part uploads, or stops.
    pub fn set_strict_headers(&mut self, on: bool) {
        self.strict_headers = on;
    }

    /// Plays a server that refuses every new asset of a device while it is paused, whatever
    /// its `offset`, and takes them all once it is resumed (not Frame.io's documented rule,
    /// which judges each file by when it was made; a client copes with both), or goes back to
    /// judging by `offset`.
    pub fn set_pause_refuses_all(&mut self, on: bool) {
        self.pause_refuses_all = on;
    }

    /// Faults of part uploads (dropped, stalled or throttled reads).
    pub fn upload_faults(&mut self) -> &mut UploadFaults {
        &mut self.upload_faults
    }

    /// True while the server plays an older Frame.io that has only `POST /v2/assets`.
    pub fn legacy_only(&self) -> bool {
        self.legacy_only
    }

    /// Plays an older Frame.io (`POST /v2/devices/assets` unknown), or stops.
    pub fn set_legacy_only(&mut self, on: bool) {
        self.legacy_only = on;
    }

    /// Pauses a device from `now_unix_ms` until resumed, as Frame.io's C2C Connections menu
    /// does.
    pub fn pause(&mut self, client_id: &str, now_unix_ms: u64) {
        self.pauses.open(client_id, now_unix_ms);
    }

    /// Resumes a paused device at `now_unix_ms`.
    pub fn resume(&mut self, client_id: &str, now_unix_ms: u64) {
        self.pauses.close(client_id, now_unix_ms);
    }

    /// Records a pause window of a device, Unix ms (`until` `None`: still paused).
    pub fn record_pause(
        &mut self,
        client_id: &str,
        from: u64,
        until: Option<u64>,
    ) -> Result<(), WindowRefused> {
        self.pauses.record(client_id, from, until)
    }

    /// Every token set issued to a device, oldest first (crash tests check what was stored
    /// against it).
    pub fn issued(&self, client_id: &str) -> &[IssuedSet] {
        self.issued.get(client_id).map_or(&[], Vec::as_slice)
    }

    fn seconds_since_start(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.started).as_secs_f64()
    }

    /// Forgets expired access tokens, refresh tokens past their lifetime, and spent refresh
    /// tokens once their reuse no longer needs answering; at most once a second.
    fn prune_tokens(&mut self, now: Instant) {
        if now.saturating_duration_since(self.pruned_at) < PRUNE_EVERY {
            return;
        }
        self.pruned_at = now;
        self.tokens.retain(|_, token| match token.kind {
            TokenKind::Access { expires_at } => now < expires_at,
            TokenKind::Refresh { issued_at, used } => {
                now.saturating_duration_since(issued_at) < REFRESH_LIFETIME
                    && used.is_none_or(|at| now.saturating_duration_since(at) < SPENT_KEPT)
            }
        });
    }

    /// Below the device cap, forgetting the least recently seen pairing (and its tokens;
    /// with it the last of its `client_id`, that client's pauses and online record).
    fn make_room_for_device(&mut self) {
        if self.devices.len() < MAX_DEVICES {
            return;
        }
        let idlest = self
            .devices
            .values()
            .min_by(|a, b| a.last_seen.total_cmp(&b.last_seen))
            .map(|device| (device.id.clone(), device.client_id.clone()));
        if let Some((pairing, client_id)) = idlest {
            self.devices.remove(&pairing);
            self.tokens.retain(|_, t| t.pairing != pairing);
            if !self.devices.values().any(|d| d.client_id == client_id) {
                self.issued.remove(&client_id);
                self.pauses.forget(&client_id);
                self.online.forget(&client_id);
            }
        }
    }
}

/// Roughly what a log entry holds: its fixed part and its strings.
fn entry_bytes(entry: &LoggedRequest) -> usize {
    let text = |field: &Option<String>| field.as_ref().map_or(0, String::len);
    [
        size_of::<LoggedRequest>(),
        entry.method.len(),
        entry.path.len(),
        text(&entry.client_version),
        text(&entry.client_id),
        text(&entry.grant_type),
        text(&entry.error),
        text(&entry.fault),
    ]
    .into_iter()
    .fold(0, usize::saturating_add)
}

/// A normal or real-time asset just created.
#[must_use = "forgotten assets remove their folders when dropped"]
pub struct Created {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// How many parts (and upload URLs) a normal asset has; 0 for a real-time one.
    pub parts: u32,
    /// The assets forgotten to make room.
    pub evicted: Evicted,
}

/// Now, Unix milliseconds (the wall clock pauses and heartbeats are judged on).
pub fn now_unix_ms() -> u64 {
    u64::try_from(unix_ms()).unwrap_or(u64::MAX)
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// 256 random bits, hex.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID v4 in its usual text form.
fn random_uuid() -> String {
    let n: u128 = rand::random::<u128>() & !(0xf000 << 64) & !(0xc000 << 48);
    let n = n | (0x4000 << 64) | (0x8000 << 48);
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::guard::client_of;

    fn state() -> (DemoState, Instant) {
        let now = Instant::now();
        (DemoState::new(DemoConfig::default(), now), now)
    }

    #[test]
    fn codes_are_six_digits_and_unique() {
        let (mut state, now) = state();
        let mut seen = std::collections::HashSet::new();
        for i in 0..2000 {
            let code = state.issue_code(&format!("dev-{i}"), None, now).unwrap();
            assert_eq!(code.user_code.len(), 6);
            assert!(code.user_code.chars().all(|c| c.is_ascii_digit()));
            assert!(seen.insert(code.user_code));
        }
    }

    /// Pairs `client_id` into `project` under `name`, at `now`.
    fn pair(
        state: &mut DemoState,
        client_id: &str,
        project: &str,
        name: &str,
        now: Instant,
    ) -> IssuedTokens {
        let code = state.issue_code(client_id, None, now).unwrap();
        state
            .approve(&code.user_code, Some(project), Some(name), now)
            .unwrap();
        state
            .poll(client_id, &code.device_code, now + code.interval)
            .unwrap()
    }

    #[test]
    fn a_second_pairing_with_the_same_client_id_is_a_device_of_its_own() {
        let (mut state, t0) = state();
        let first = pair(&mut state, "CAM-1", "Field Test", "A-Cam", t0);
        let later = t0 + Duration::from_secs(30);
        let second = pair(&mut state, "CAM-1", "Demo Project", "Intruder", later);
        let now = later + Duration::from_secs(30);
        let me = |state: &mut DemoState, tokens: &IssuedTokens| {
            state
                .authenticate(&tokens.access_token, now)
                .map(|d| (d.name, d.project.name))
        };
        assert_eq!(
            me(&mut state, &first),
            Some(("A-Cam".into(), "Field Test".into())),
            "the first keeps its name and project"
        );
        // The second refreshes and revokes its own family: the first is untouched.
        let refreshed = state.refresh("CAM-1", &second.refresh_token, now).unwrap();
        assert!(
            me(&mut state, &second).is_none(),
            "its old access token ended"
        );
        assert!(me(&mut state, &first).is_some(), "not the first's");
        state.revoke("CAM-1", &refreshed.refresh_token);
        assert!(me(&mut state, &refreshed).is_none());
        assert!(me(&mut state, &first).is_some(), "the first still works");
        assert!(state.refresh("CAM-1", &first.refresh_token, now).is_ok());
    }

    #[test]
    fn polling_follows_rfc_8628() {
        let (mut state, t0) = state();
        let code = state.issue_code("CAM-1", None, t0).unwrap();
        let i = code.interval;
        let poll = |s: &mut DemoState, at| s.poll("CAM-1", &code.device_code, at).map(drop);
        assert_eq!(
            poll(&mut state, t0 + i),
            Err(OAuthErrorCode::AuthorizationPending)
        );
        // Too soon: slow_down, and the interval grows by 5 s.
        assert_eq!(
            poll(&mut state, t0 + i + i / 2),
            Err(OAuthErrorCode::SlowDown)
        );
        assert_eq!(
            state.codes(t0, false)[0].interval,
            (i + SLOW_DOWN_STEP).as_secs_f64()
        );
        state
            .approve(&code.user_code, None, Some("A cam"), t0)
            .unwrap();
        let later = t0 + Duration::from_secs(60);
        assert!(state.poll("CAM-1", &code.device_code, later).is_ok());
        // Spent.
        let again = later + Duration::from_secs(30);
        assert_eq!(poll(&mut state, again), Err(OAuthErrorCode::InvalidGrant));
        assert_eq!(state.devices()[0].name, "A cam");
    }

    #[test]
    fn denial_expiry_and_wrong_client() {
        let (mut state, t0) = state();
        let a = state.issue_code("A", None, t0).unwrap();
        let b = state.issue_code("B", None, t0).unwrap();
        state.deny(&a.user_code, t0).unwrap();
        let at = t0 + Duration::from_secs(5);
        assert_eq!(
            state.poll("A", &a.device_code, at).err(),
            Some(OAuthErrorCode::AccessDenied)
        );
        assert_eq!(
            state.poll("A", &b.device_code, at).err(),
            Some(OAuthErrorCode::InvalidGrant)
        );
        let dead = t0 + Duration::from_secs(121);
        assert_eq!(
            state.poll("B", &b.device_code, dead).err(),
            Some(OAuthErrorCode::ExpiredToken)
        );
        assert_eq!(
            state.approve(&b.user_code, None, None, dead),
            Err(ApprovalError::Expired(b.user_code.clone()))
        );
        assert_eq!(
            state.approve(&a.user_code, None, None, at),
            Err(ApprovalError::Settled(a.user_code.clone(), "denied"))
        );
    }

    #[test]
    fn refresh_tokens_rotate_and_are_single_use() {
        let (mut state, t0) = state();
        let code = state.issue_code("CAM-1", None, t0).unwrap();
        state.approve(&code.user_code, None, None, t0).unwrap();
        let first = state
            .poll("CAM-1", &code.device_code, t0 + code.interval)
            .ok()
            .unwrap();
        let t1 = t0 + Duration::from_secs(10);
        let second = state
            .refresh("CAM-1", &first.refresh_token, t1)
            .ok()
            .unwrap();
        assert_eq!(
            state.refresh("CAM-1", &first.refresh_token, t1).err(),
            Some(OAuthErrorCode::InvalidRequest)
        );
        assert!(
            state.authenticate(&first.access_token, t1).is_none(),
            "old access token dead"
        );
        assert!(state.authenticate(&second.access_token, t1).is_some());
        state.revoke("CAM-1", &second.refresh_token);
        assert!(
            state.authenticate(&second.access_token, t1).is_none(),
            "revoke kills both"
        );
    }

    #[test]
    fn uuids_look_like_v4() {
        let id = random_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }

    #[test]
    fn one_address_holds_a_few_live_codes_and_this_machine_any_number() {
        let (mut state, now) = state();
        let phone = client_of([10, 251, 0, 2].into());
        let issued = (0..50)
            .filter(|n| state.issue_code(&format!("p-{n}"), phone, now).is_ok())
            .count();
        assert_eq!(issued, LIVE_CODES_PER_ADDRESS);
        assert_eq!(
            state.issue_code("one-more", phone, now).err(),
            Some(CodeRefused::TooManyForAddress)
        );
        assert!((0..50).all(|n| state.issue_code(&format!("l-{n}"), None, now).is_ok()));
        // Once they expire, the address may ask again.
        let later = now + DemoConfig::default().expires_in;
        assert!(state.issue_code("next", phone, later).is_ok());
    }

    #[test]
    fn the_request_log_is_bounded_by_bytes_and_its_fields_clipped() {
        let (mut state, now) = state();
        let huge = "x".repeat(100_000);
        for _ in 0..2_000 {
            let entry = LoggedRequest {
                at: 0.0,
                at_unix_ms: 0,
                method: "POST".into(),
                path: huge.clone(),
                client_version: Some(huge.clone()),
                client_id: Some(huge.clone()),
                grant_type: Some(huge.clone()),
                status: 400,
                error: Some(huge.clone()),
                fault: None,
            };
            state.record(entry, now);
        }
        let stats = state.stats();
        assert!(stats.log_bytes <= LOG_BYTES, "{stats:?}");
        assert_eq!(
            stats.log_entries, 2_000,
            "clipped entries are small: all kept"
        );
        assert!(state.log().iter().all(|e| e.path.len() <= LOG_FIELD_CHARS));
    }

    #[test]
    fn media_made_during_a_pause_is_refused_whatever_the_wait() {
        let (mut state, _) = state();
        let files = super::super::part_files::PartFiles::new().unwrap();
        let now: u64 = 1_800_000_000_000;
        let clip = |offset: Option<u64>| Announcement {
            name: "clip.mp4".into(),
            filetype: "video/mp4".into(),
            created_via: super::super::assets::CreatedVia::Devices,
            kind: Announced::Normal {
                filesize: 10,
                parts: 1,
            },
            offset,
        };
        let create = |state: &mut DemoState, offset, at| {
            let folder = files.asset_folder().unwrap();
            state
                .create_asset("CAM", clip(offset), folder, at)
                .map(|created| created.parts)
        };
        state
            .record_pause("CAM", now - 600_000, Some(now - 300_000))
            .unwrap();
        assert_eq!(create(&mut state, Some(400), now), Err(ChannelPaused));
        assert_eq!(
            create(&mut state, Some(400), now + 86_400_000),
            Ok(1),
            "a day later it was made the day after the pause"
        );
        assert_eq!(create(&mut state, Some(700), now), Ok(1), "made before");
        assert_eq!(create(&mut state, Some(100), now), Ok(1), "made after");
        assert_eq!(create(&mut state, None, now), Ok(1), "no offset: now");
        assert_eq!(create(&mut state, Some(u64::MAX), now), Ok(1), "the epoch");
        let views = state.assets().views();
        assert_eq!(views.len(), 5, "the refused one was not kept");
        assert_eq!(views[0].offset, Some(400));
        assert_eq!(views[3].offset, None);
        assert!((views[3].recorded_at_unix - 1_800_000_000.0).abs() < 1e-6);
        assert!(views[4].recorded_at_unix.abs() < 1e-6);
        // Paused now: media made since is refused, media made before is not.
        state.pause("CAM", now - 1_000);
        assert!(state.is_paused("CAM"));
        assert_eq!(create(&mut state, Some(0), now), Err(ChannelPaused));
        assert_eq!(create(&mut state, Some(2), now), Ok(1));
        state.resume("CAM", now);
        assert_eq!(create(&mut state, Some(0), now), Ok(1));
    }

    #[test]
    fn the_upload_urls_delta_changes_a_normal_assets_parts() {
        let (mut state, _) = state();
        let files = super::super::part_files::PartFiles::new().unwrap();
        let parts_of = |state: &mut DemoState, asked: u32| {
            let announcement = Announcement {
                name: "clip.mp4".into(),
                filetype: "video/mp4".into(),
                created_via: super::super::assets::CreatedVia::Devices,
                kind: Announced::Normal {
                    filesize: 100 * 1024 * 1024,
                    parts: asked,
                },
                offset: None,
            };
            let folder = files.asset_folder().unwrap();
            let created = state.create_asset("CAM", announcement, folder, 0).unwrap();
            created.parts
        };
        let delta = |n: i64| super::super::upload_fault::UploadFaultSettings {
            upload_urls_delta: Some(n),
            ..Default::default()
        };
        state.upload_faults().set(delta(2));
        assert_eq!(parts_of(&mut state, 3), 5);
        state.upload_faults().set(delta(-2));
        assert_eq!(parts_of(&mut state, 3), 1);
        assert_eq!(parts_of(&mut state, 1), 1, "at least one");
        state.upload_faults().set(delta(i64::MAX));
        assert_eq!(parts_of(&mut state, 3), MAX_PARTS);
        state.upload_faults().clear();
        assert_eq!(parts_of(&mut state, 3), 3);
        assert_eq!(state.assets().views()[0].parts.len(), 5);
    }

    #[test]
    fn devices_beyond_the_cap_make_way_for_new_ones() {
        let (mut state, t0) = state();
        for n in 0..(MAX_DEVICES + 5) {
            let client = format!("cam-{n}");
            let code = state.issue_code(&client, None, t0).unwrap();
            state.approve(&code.user_code, None, None, t0).unwrap();
            state
                .poll(&client, &code.device_code, t0 + code.interval)
                .ok()
                .unwrap();
        }
        assert_eq!(state.stats().devices, MAX_DEVICES);
    }
}
