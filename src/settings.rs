//! The configuration file and its overrides.
//!
//! Each setting comes from the command line, else
//! the environment (`C2C_PAIR_` and the key in capitals, dots as `_`), else `config.toml` in
//! the config directory, else its default. Values are checked where they are read, so an error
//! names the file and line, or the variable, that holds the bad value.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::c2c::profile::{BodyEncoding, Profile};

/// The file's name in the config directory.
pub const FILE_NAME: &str = "config.toml";
/// Environment variable (and `--config`) naming another configuration file.
pub const FILE_ENV: &str = "C2C_PAIR_CONFIG";
/// Prefix of the environment variables that override settings.
const ENV_PREFIX: &str = "C2C_PAIR_";

/// Default seconds between heartbeats of a paired device (the spec's window is 60–300 s).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(120);
/// Default longest wait for one keychain call.
pub const DEFAULT_KEYCHAIN_TIMEOUT: Duration = crate::keychain::DEFAULT_TIMEOUT;
/// Default time presenter mode shows a success before the next code.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(8);
/// Default address of the built-in demo server: loopback, any free port.
pub const DEFAULT_DEMO_LISTEN: &str = "127.0.0.1:0";

/// Allowed heartbeat intervals, in seconds.
const HEARTBEAT_RANGE: (f64, f64) = (10.0, 3600.0);
/// Allowed keychain timeouts and presenter lingers, in seconds.
const WAIT_RANGE: (f64, f64) = (0.1, 600.0);

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Nothing set it.
    Default,
    /// The configuration file.
    File,
    /// An environment variable.
    Environment,
    /// A command-line option.
    CommandLine,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::File => "from the file",
            Self::Environment => "from the environment",
            Self::CommandLine => "from the command line",
        }
    }
}

/// The settings of one place (file, environment or command line); `None` is "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// API base of the C2C server.
    #[serde(default, deserialize_with = "de::api_base")]
    pub api_base: Option<Url>,
    /// `x-client-version` (semver).
    #[serde(default, deserialize_with = "de::client_version")]
    pub client_version: Option<String>,
    /// Form encoding of the OAuth requests.
    #[serde(default, deserialize_with = "de::body")]
    pub body: Option<BodyEncoding>,
    /// Scope asked for with a device code (Frame.io: `asset_create offline`).
    #[serde(default, deserialize_with = "de::scope")]
    pub scope: Option<String>,
    /// Ask for a verification link (and show a QR).
    #[serde(default)]
    pub url_pairing: Option<bool>,
    /// Seconds between heartbeats of a paired device.
    #[serde(default, deserialize_with = "de::heartbeat")]
    pub heartbeat_interval: Option<Duration>,
    /// Longest wait for one keychain call.
    #[serde(default, deserialize_with = "de::wait")]
    pub keychain_timeout: Option<Duration>,
    /// Address of the built-in demo server.
    #[serde(default, deserialize_with = "de::listen")]
    pub demo_listen: Option<SocketAddr>,
    /// Where "Export report" saves.
    #[serde(default, deserialize_with = "de::dir")]
    pub report_dir: Option<PathBuf>,
    /// Where the log files go.
    #[serde(default, deserialize_with = "de::dir")]
    pub log_dir: Option<PathBuf>,
    /// Endpoint paths below the API base.
    #[serde(default)]
    pub endpoints: EndpointLayer,
    /// Presenter mode.
    #[serde(default)]
    pub presenter: PresenterLayer,
}

/// Endpoint paths (`[endpoints]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointLayer {
    /// Device authorization request.
    #[serde(default, deserialize_with = "de::endpoint")]
    pub device_code: Option<String>,
    /// Token endpoint.
    #[serde(default, deserialize_with = "de::endpoint")]
    pub token: Option<String>,
    /// Revocation endpoint.
    #[serde(default, deserialize_with = "de::endpoint")]
    pub revoke: Option<String>,
    /// Device information; empty switches it off.
    #[serde(default, deserialize_with = "de::optional_endpoint")]
    pub device_info: Option<String>,
    /// Heartbeat; empty switches it off.
    #[serde(default, deserialize_with = "de::optional_endpoint")]
    pub heartbeat: Option<String>,
    /// Asset creation (uploads).
    #[serde(default, deserialize_with = "de::endpoint")]
    pub assets: Option<String>,
}

/// Presenter defaults (`[presenter]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenterLayer {
    /// Open the window in presenter mode.
    #[serde(default)]
    pub start: Option<bool>,
    /// Seconds a success stays on screen.
    #[serde(default, deserialize_with = "de::wait")]
    pub linger: Option<Duration>,
    /// The booth Wi-Fi phones join, shown as a "join the Wi-Fi" QR code.
    #[serde(default, deserialize_with = "de::ssid")]
    pub wifi_ssid: Option<String>,
    /// Its password (none: an open network). Shown to visitors in that QR code, nowhere else.
    #[serde(default, deserialize_with = "de::wifi_password")]
    pub wifi_password: Option<secrecy::SecretString>,
    /// The booth Wi-Fi does not broadcast its name.
    #[serde(default)]
    pub wifi_hidden: Option<bool>,
}

impl PartialEq for PresenterLayer {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret as _;
        let password = |layer: &Self| {
            layer
                .wifi_password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
        };
        self.start == other.start
            && self.linger == other.linger
            && self.wifi_ssid == other.wifi_ssid
            && self.wifi_hidden == other.wifi_hidden
            && password(self) == password(other)
    }
}

impl Eq for PresenterLayer {}

/// Copies every value set in `$upper` over `$lower`, noting its source under its key.
macro_rules! cover {
    ($lower:ident, $upper:ident, $source:ident, $sources:ident; $($key:literal: $($field:ident).+;)*) => {
        $(
            if let Some(value) = $upper.$($field).+ {
                $lower.$($field).+ = Some(value);
                $sources.insert($key, $source);
            }
        )*
    };
}

/// A setting that cannot be used, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The file is not valid TOML, has an unknown key, or a bad value.
    #[error("{path}, line {line}: {message}\n  {line} | {text}")]
    File {
        /// The file.
        path: String,
        /// 1-based line of the problem.
        line: usize,
        /// That line's text.
        text: String,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("could not read the configuration file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// An environment variable holds a bad value.
    #[error("the environment variable {name}: {reason}")]
    Environment {
        /// The variable.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// The settings in effect (the default value: nothing read, every default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The configuration file looked for (`None` when the user has no config directory).
    pub file: Option<PathBuf>,
    /// Whether that file exists and was read.
    pub file_found: bool,
    values: Layer,
    sources: BTreeMap<&'static str, Source>,
}

impl Settings {
    /// Reads the configuration file (`explicit`, else `config.toml` in `config_dir`), then
    /// the environment, and puts `command_line` over both. A missing default file is fine;
    /// a missing explicit one is an error.
    pub fn load(
        explicit: Option<&Path>,
        config_dir: Option<&Path>,
        command_line: Layer,
    ) -> Result<Self, SettingsError> {
        let file = explicit
            .map(Path::to_path_buf)
            .or_else(|| config_dir.map(|dir| dir.join(FILE_NAME)));
        let text = match &file {
            Some(path) => read_file(path, explicit.is_some())?,
            None => None,
        };
        let from_file = match (&file, &text) {
            (Some(path), Some(text)) => parse_file(path, text)?,
            _ => Layer::default(),
        };
        let from_env = from_env(|name| std::env::var(name).ok())?;
        Ok(Self::resolve(
            file,
            text.is_some(),
            [from_file, from_env, command_line],
        ))
    }

    /// Puts the layers over one another, the last winning: file, environment, command line.
    pub fn resolve(file: Option<PathBuf>, file_found: bool, layers: [Layer; 3]) -> Self {
        let mut values = Layer::default();
        let mut sources = BTreeMap::new();
        let [file_layer, env_layer, cli_layer] = layers;
        for (source, upper) in [
            (Source::File, file_layer),
            (Source::Environment, env_layer),
            (Source::CommandLine, cli_layer),
        ] {
            cover!(values, upper, source, sources;
                "api_base": api_base;
                "client_version": client_version;
                "body": body;
                "scope": scope;
                "url_pairing": url_pairing;
                "heartbeat_interval": heartbeat_interval;
                "keychain_timeout": keychain_timeout;
                "demo_listen": demo_listen;
                "report_dir": report_dir;
                "log_dir": log_dir;
                "endpoints.device_code": endpoints.device_code;
                "endpoints.token": endpoints.token;
                "endpoints.revoke": endpoints.revoke;
                "endpoints.device_info": endpoints.device_info;
                "endpoints.heartbeat": endpoints.heartbeat;
                "endpoints.assets": endpoints.assets;
                "presenter.start": presenter.start;
                "presenter.linger": presenter.linger;
                "presenter.wifi_ssid": presenter.wifi_ssid;
                "presenter.wifi_password": presenter.wifi_password;
                "presenter.wifi_hidden": presenter.wifi_hidden;
            );
        }
        Self {
            file,
            file_found,
            values,
            sources,
        }
    }

    /// Where a setting came from (`"endpoints.token"` for keys in a table).
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).copied().unwrap_or(Source::Default)
    }

    /// The API base a user chose; `None` means Frame.io, or the demo server while no client
    /// secret is configured.
    pub fn api_base(&self) -> Option<&Url> {
        self.values.api_base.as_ref()
    }

    /// The provider profile these settings describe (already checked).
    pub fn profile(&self) -> Profile {
        let mut profile = match self.api_base() {
            Some(base) => Profile::for_api_base(base.clone()),
            None => Profile::frame_io(),
        };
        let values = &self.values;
        if let Some(version) = &values.client_version {
            profile.client_version.clone_from(version);
        }
        profile.body = values.body.unwrap_or_default();
        if let Some(scope) = &values.scope {
            profile.scope.clone_from(scope);
        }
        profile.url_pairing = values.url_pairing.unwrap_or(true);
        let endpoints = &values.endpoints;
        let paths = &mut profile.paths;
        for (slot, chosen) in [
            (&mut paths.device_code, &endpoints.device_code),
            (&mut paths.token, &endpoints.token),
            (&mut paths.revoke, &endpoints.revoke),
            (&mut paths.device_info, &endpoints.device_info),
            (&mut paths.heartbeat, &endpoints.heartbeat),
            (&mut paths.assets, &endpoints.assets),
        ] {
            if let Some(path) = chosen {
                slot.clone_from(path);
            }
        }
        profile
    }

    /// Seconds between heartbeats of a paired device.
    pub fn heartbeat_interval(&self) -> Duration {
        self.values.heartbeat_interval.unwrap_or(DEFAULT_HEARTBEAT)
    }

    /// Longest wait for one keychain call.
    pub fn keychain_timeout(&self) -> Duration {
        self.values
            .keychain_timeout
            .unwrap_or(DEFAULT_KEYCHAIN_TIMEOUT)
    }

    /// Address of the built-in demo server.
    pub fn demo_listen(&self) -> SocketAddr {
        self.values
            .demo_listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Where "Export report" saves: the chosen folder, else Downloads, Documents or home.
    pub fn report_dir(&self) -> PathBuf {
        self.values
            .report_dir
            .clone()
            .unwrap_or_else(crate::report::default_dir)
    }

    /// Where the log files go: the chosen folder, else the OS state directory.
    pub fn log_dir(&self) -> Option<PathBuf> {
        self.values
            .log_dir
            .clone()
            .or_else(crate::log_file::default_dir)
    }

    /// Whether the window opens in presenter mode.
    pub fn presenter_start(&self) -> bool {
        self.values.presenter.start.unwrap_or(false)
    }

    /// How long presenter mode shows a success.
    pub fn presenter_linger(&self) -> Duration {
        self.values.presenter.linger.unwrap_or(DEFAULT_LINGER)
    }

    /// The booth Wi-Fi to offer phones, when one is named.
    pub fn booth_wifi(&self) -> Option<crate::wifi::BoothWifi> {
        let presenter = &self.values.presenter;
        Some(crate::wifi::BoothWifi {
            ssid: presenter.wifi_ssid.clone()?,
            password: presenter.wifi_password.clone(),
            hidden: presenter.wifi_hidden.unwrap_or(false),
        })
    }

    /// The `[presenter]` rows of [`Self::show`]: key, value, note. The Wi-Fi password is
    /// never shown, only whether it is set.
    fn presenter_rows(&self) -> Vec<(&'static str, String, &'static str)> {
        let presenter = &self.values.presenter;
        let password_note = if presenter.wifi_password.is_some() {
            "; set, but never shown: keep it in your own file"
        } else {
            ""
        };
        vec![
            ("presenter.start", self.presenter_start().to_string(), ""),
            (
                "presenter.linger",
                seconds(self.presenter_linger()),
                ", seconds",
            ),
            (
                "presenter.wifi_ssid",
                quoted(presenter.wifi_ssid.as_deref().unwrap_or("")),
                "; empty: no Wi-Fi QR code",
            ),
            ("presenter.wifi_password", quoted(""), password_note),
            (
                "presenter.wifi_hidden",
                presenter.wifi_hidden.unwrap_or(false).to_string(),
                "",
            ),
        ]
    }

    /// The settings in effect as TOML, each with where it came from; usable as a file.
    pub fn show(&self) -> String {
        let mut out =
            String::from("# c2c-pair configuration in effect (secrets are never shown).\n");
        let _ = match (&self.file, self.file_found) {
            (Some(path), true) => writeln!(out, "# File: {}", path.display()),
            (Some(path), false) => writeln!(out, "# File: {} (not found)", path.display()),
            (None, _) => writeln!(out, "# File: none (no config directory for this user)"),
        };
        out.push_str(
            "# Overrides: C2C_PAIR_<KEY> variables (C2C_PAIR_ENDPOINTS_TOKEN for \
             [endpoints] token), then command-line options.\n\n",
        );
        let profile = self.profile();
        let paths = &profile.paths;
        let demo_note = match self.api_base() {
            Some(_) => "",
            None => "; the built-in demo server while no client secret is configured",
        };
        let log_dir = self.log_dir().unwrap_or_default();
        let sections = [
            (
                "",
                vec![
                    ("api_base", quoted(profile.api_base.as_str()), demo_note),
                    ("client_version", quoted(&profile.client_version), ""),
                    ("body", quoted(&profile.body.to_string()), ""),
                    ("scope", quoted(&profile.scope), ""),
                    ("url_pairing", profile.url_pairing.to_string(), ""),
                    (
                        "heartbeat_interval",
                        seconds(self.heartbeat_interval()),
                        ", seconds",
                    ),
                    (
                        "keychain_timeout",
                        seconds(self.keychain_timeout()),
                        ", seconds",
                    ),
                    ("demo_listen", quoted(&self.demo_listen().to_string()), ""),
                    (
                        "report_dir",
                        quoted(&self.report_dir().to_string_lossy()),
                        "",
                    ),
                    ("log_dir", quoted(&log_dir.to_string_lossy()), ""),
                ],
            ),
            (
                "endpoints",
                vec![
                    ("endpoints.device_code", quoted(&paths.device_code), ""),
                    ("endpoints.token", quoted(&paths.token), ""),
                    ("endpoints.revoke", quoted(&paths.revoke), ""),
                    (
                        "endpoints.device_info",
                        quoted(&paths.device_info),
                        optional_note(&paths.device_info),
                    ),
                    (
                        "endpoints.heartbeat",
                        quoted(&paths.heartbeat),
                        optional_note(&paths.heartbeat),
                    ),
                    ("endpoints.assets", quoted(&paths.assets), ""),
                ],
            ),
            ("presenter", self.presenter_rows()),
        ];
        for (table, rows) in sections {
            if !table.is_empty() {
                let _ = writeln!(out, "\n[{table}]");
            }
            for (key, value, note) in rows {
                let name = key.rsplit('.').next().unwrap_or(key);
                let assignment = format!("{name} = {value}");
                let source = self.source(key).describe();
                let _ = writeln!(out, "{assignment:<44} # {source}{note}");
            }
        }
        out
    }
}

/// A TOML string literal.
/// `config show`'s note for an optional endpoint that is switched off.
fn optional_note(path: &str) -> &'static str {
    if path.is_empty() { ", off" } else { "" }
}

fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Seconds as a TOML number (`120`, `0.5`).
fn seconds(duration: Duration) -> String {
    duration.as_secs_f64().to_string()
}

/// The file's text; `None` when a default location holds no file.
fn read_file(path: &Path, explicit: bool) -> Result<Option<String>, SettingsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
        Err(e) => Err(SettingsError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Parses a configuration file's text; an error names the line.
pub fn parse_file(path: &Path, text: &str) -> Result<Layer, SettingsError> {
    toml::from_str(text).map_err(|error| {
        let start = error.span().map_or(0, |span| span.start).min(text.len());
        let line = text[..start].matches('\n').count() + 1;
        let message = error
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        SettingsError::File {
            path: path.display().to_string(),
            line,
            text: text
                .lines()
                .nth(line - 1)
                .unwrap_or("")
                .trim_end()
                .to_owned(),
            message,
        }
    })
}

/// The environment's layer, read through `var` (`std::env::var` outside tests).
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Layer, SettingsError> {
    let read = |key: &str| {
        let name = env_name(key);
        var(&name)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (name, value))
    };
    fn checked<T>(
        found: Option<(String, String)>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, SettingsError> {
        found
            .map(|(name, value)| {
                parse(&value).map_err(|reason| SettingsError::Environment { name, reason })
            })
            .transpose()
    }
    Ok(Layer {
        api_base: checked(read("api_base"), parse::api_base)?,
        client_version: checked(read("client_version"), parse::client_version)?,
        body: checked(read("body"), parse::body)?,
        scope: checked(read("scope"), parse::scope)?,
        url_pairing: checked(read("url_pairing"), parse::flag)?,
        heartbeat_interval: checked(read("heartbeat_interval"), parse::heartbeat)?,
        keychain_timeout: checked(read("keychain_timeout"), parse::wait)?,
        demo_listen: checked(read("demo_listen"), parse::listen)?,
        report_dir: checked(read("report_dir"), parse::dir)?,
        log_dir: checked(read("log_dir"), parse::dir)?,
        endpoints: EndpointLayer {
            device_code: checked(read("endpoints.device_code"), parse::endpoint)?,
            token: checked(read("endpoints.token"), parse::endpoint)?,
            revoke: checked(read("endpoints.revoke"), parse::endpoint)?,
            device_info: checked(read("endpoints.device_info"), parse::optional_endpoint)?,
            heartbeat: checked(read("endpoints.heartbeat"), parse::optional_endpoint)?,
            assets: checked(read("endpoints.assets"), parse::endpoint)?,
        },
        presenter: PresenterLayer {
            start: checked(read("presenter.start"), parse::flag)?,
            linger: checked(read("presenter.linger"), parse::wait)?,
            wifi_ssid: checked(read("presenter.wifi_ssid"), crate::wifi::check_ssid)?,
            wifi_password: checked(read("presenter.wifi_password"), crate::wifi::check_password)?,
            wifi_hidden: checked(read("presenter.wifi_hidden"), parse::flag)?,
        },
    })
}

/// `api_base` → `C2C_PAIR_API_BASE`, `endpoints.token` → `C2C_PAIR_ENDPOINTS_TOKEN`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Reading each kind of setting from text (environment, command line); errors say what is
/// expected.
pub mod parse {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    use url::Url;

    use super::{DEFAULT_DEMO_LISTEN, HEARTBEAT_RANGE, WAIT_RANGE};
    use crate::c2c::profile::{self, BodyEncoding};

    /// An API base: https://, or http:// on loopback only.
    pub fn api_base(text: &str) -> Result<Url, String> {
        profile::parse_api_base(text).map_err(|e| e.to_string())
    }

    /// A semantic version.
    pub fn client_version(text: &str) -> Result<String, String> {
        let text = text.trim();
        profile::check_client_version(text)
            .map(|()| text.to_owned())
            .map_err(|e| e.to_string())
    }

    /// `urlencoded` or `multipart`.
    pub fn body(text: &str) -> Result<BodyEncoding, String> {
        text.trim().parse()
    }

    /// true/false (also 1/0, yes/no, on/off).
    pub fn flag(text: &str) -> Result<bool, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("{text:?} is not true or false")),
        }
    }

    /// Seconds in `range`.
    pub fn seconds_in(value: f64, (min, max): (f64, f64)) -> Result<Duration, String> {
        if value.is_finite() && (min..=max).contains(&value) {
            Ok(Duration::from_secs_f64(value))
        } else {
            Err(format!(
                "{value} is not a number of seconds between {min} and {max}"
            ))
        }
    }

    fn seconds_text(text: &str, range: (f64, f64)) -> Result<Duration, String> {
        let value = text.trim().parse::<f64>().map_err(|_| {
            format!(
                "{text:?} is not a number of seconds between {} and {}",
                range.0, range.1
            )
        })?;
        seconds_in(value, range)
    }

    /// Seconds between heartbeats (10 to 3600).
    pub fn heartbeat(text: &str) -> Result<Duration, String> {
        seconds_text(text, HEARTBEAT_RANGE)
    }

    /// A wait: keychain timeout, presenter linger (0.1 to 600 seconds).
    pub fn wait(text: &str) -> Result<Duration, String> {
        seconds_text(text, WAIT_RANGE)
    }

    /// An address and port to listen on.
    pub fn listen(text: &str) -> Result<SocketAddr, String> {
        text.trim().parse().map_err(|_| {
            format!(
                "{text:?} is not an address and port such as {DEFAULT_DEMO_LISTEN} or 0.0.0.0:8480"
            )
        })
    }

    /// A folder; a leading `~/` is the home folder.
    pub fn dir(text: &str) -> Result<PathBuf, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the folder is empty".into());
        }
        match text.strip_prefix("~/") {
            Some(rest) => directories::BaseDirs::new()
                .map(|dirs| dirs.home_dir().join(rest))
                .ok_or_else(|| format!("{text:?}: no home folder is known for ~")),
            None => Ok(PathBuf::from(text)),
        }
    }

    /// An endpoint path below the API base.
    pub fn endpoint(text: &str) -> Result<String, String> {
        profile::check_path(text.trim())
            .map(|()| text.trim().to_owned())
            .map_err(|e| e.to_string())
    }

    /// A path, or empty (`off` in the environment, where empty means unset) to switch an
    /// endpoint a server may not have (device information, heartbeat) off.
    pub fn optional_endpoint(text: &str) -> Result<String, String> {
        match text.trim() {
            "" | "off" => Ok(String::new()),
            path => endpoint(path),
        }
    }

    /// Space-separated scope tokens (RFC 6749 §3.3: visible ASCII but `"` and `\\`).
    pub fn scope(text: &str) -> Result<String, String> {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let valid = |token: &str| {
            token
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        };
        if tokens.is_empty() || !tokens.iter().all(|t| valid(t)) {
            return Err(format!(
                "{:?} is not a scope: give space-separated scope names such as \
                 \"asset_create offline\" (Frame.io) or \"openid offline_access\"",
                crate::printable::text(text)
            ));
        }
        Ok(tokens.join(" "))
    }
}

/// Serde adapters: each value is checked by the same function as its environment variable,
/// so the file's error carries the value's line.
mod de {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer};
    use url::Url;

    use super::{HEARTBEAT_RANGE, WAIT_RANGE, parse};
    use crate::c2c::profile::BodyEncoding;
    use serde::de::Error as _;

    fn text<'de, D: Deserializer<'de>, T>(
        deserializer: D,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map(Some).map_err(D::Error::custom)
    }

    fn seconds<'de, D: Deserializer<'de>>(
        deserializer: D,
        range: (f64, f64),
    ) -> Result<Option<Duration>, D::Error> {
        let value = f64::deserialize(deserializer)?;
        parse::seconds_in(value, range)
            .map(Some)
            .map_err(D::Error::custom)
    }

    pub fn api_base<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
        text(d, parse::api_base)
    }

    pub fn client_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        text(d, parse::client_version)
    }

    pub fn body<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BodyEncoding>, D::Error> {
        text(d, parse::body)
    }

    pub fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        text(d, parse::listen)
    }

    pub fn dir<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        text(d, parse::dir)
    }

    pub fn endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        text(d, parse::endpoint)
    }

    pub fn optional_endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        text(d, parse::optional_endpoint)
    }

    pub fn scope<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        text(d, parse::scope)
    }

    pub fn heartbeat<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        seconds(d, HEARTBEAT_RANGE)
    }

    pub fn wait<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        seconds(d, WAIT_RANGE)
    }

    /// Empty means "not set" for the optional text settings (as `config show` writes them).
    fn optional_text<'de, D: Deserializer<'de>, T>(
        deserializer: D,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() {
            return Ok(None);
        }
        parse(&text).map(Some).map_err(D::Error::custom)
    }

    pub fn ssid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        optional_text(d, crate::wifi::check_ssid)
    }

    pub fn wifi_password<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<secrecy::SecretString>, D::Error> {
        optional_text(d, crate::wifi::check_password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<Layer, SettingsError> {
        parse_file(Path::new("/etc/c2c/config.toml"), text)
    }

    #[test]
    fn a_full_file_is_read() {
        let layer = file(
            r#"
api_base = "https://c2c.example.com"
client_version = "2.16.4"
body = "multipart"
url_pairing = false
heartbeat_interval = 60
keychain_timeout = 2.5
demo_listen = "0.0.0.0:8480"
report_dir = "/srv/reports"

[endpoints]
token = "/oauth/token"

[presenter]
start = true
linger = 12
"#,
        )
        .unwrap();
        let settings = Settings::resolve(None, true, [layer, Layer::default(), Layer::default()]);
        let profile = settings.profile();
        assert_eq!(profile.api_base.as_str(), "https://c2c.example.com/");
        assert_eq!(profile.client_version, "2.16.4");
        assert_eq!(profile.body, BodyEncoding::Multipart);
        assert!(!profile.url_pairing);
        assert_eq!(profile.paths.token, "/oauth/token");
        assert_eq!(profile.paths.revoke, "/v2/auth/revoke");
        assert_eq!(settings.heartbeat_interval(), Duration::from_secs(60));
        assert_eq!(settings.keychain_timeout(), Duration::from_millis(2500));
        assert_eq!(settings.demo_listen().to_string(), "0.0.0.0:8480");
        assert_eq!(settings.report_dir(), PathBuf::from("/srv/reports"));
        assert!(settings.presenter_start());
        assert_eq!(settings.presenter_linger(), Duration::from_secs(12));
        assert_eq!(settings.source("endpoints.token"), Source::File);
        assert_eq!(settings.source("endpoints.revoke"), Source::Default);
    }

    #[test]
    fn environment_covers_the_file_and_the_command_line_covers_both() {
        let from_file = file("heartbeat_interval = 60\nbody = \"multipart\"\n").unwrap();
        let from_env = from_env(|name| match name {
            "C2C_PAIR_HEARTBEAT_INTERVAL" => Some("30".into()),
            "C2C_PAIR_ENDPOINTS_TOKEN" => Some("/env/token".into()),
            "C2C_PAIR_BODY" => Some("  ".into()),
            _ => None,
        })
        .unwrap();
        let command_line = Layer {
            heartbeat_interval: Some(Duration::from_secs(15)),
            ..Layer::default()
        };
        let settings = Settings::resolve(None, true, [from_file, from_env, command_line]);
        assert_eq!(settings.heartbeat_interval(), Duration::from_secs(15));
        assert_eq!(settings.source("heartbeat_interval"), Source::CommandLine);
        assert_eq!(settings.profile().paths.token, "/env/token");
        assert_eq!(settings.source("endpoints.token"), Source::Environment);
        // An empty variable sets nothing.
        assert_eq!(settings.profile().body, BodyEncoding::Multipart);
        assert_eq!(settings.source("body"), Source::File);
    }

    #[test]
    fn errors_name_the_line_and_what_is_wrong() {
        let cases = [
            (
                "api_base = \"http://api.frame.io\"\n",
                1,
                "refusing plain http://",
            ),
            ("\n\nheartbeat_interval = 5\n", 3, "between 10 and 3600"),
            ("body = \"json\"\n", 1, "use urlencoded or multipart"),
            ("url_pairing = \"yes please\"\n", 1, "invalid type"),
            (
                "[endpoints]\ntoken = \"oauth/token\"\n",
                2,
                "must start with a single /",
            ),
            ("client_version = \"2.16\"\n", 1, "not a semantic version"),
            ("heartbeet = 30\n", 1, "unknown field `heartbeet`"),
            ("[presenter]\nlinger = 0\n", 2, "between 0.1 and 600"),
            ("api_base = \"https://x\n", 1, ""),
            (
                "demo_listen = \"somewhere\"\n",
                1,
                "not an address and port",
            ),
        ];
        for (text, line, says) in cases {
            let error = file(text).unwrap_err();
            let shown = error.to_string();
            assert!(
                shown.starts_with(&format!("/etc/c2c/config.toml, line {line}: ")),
                "{text:?} → {shown}"
            );
            assert!(shown.contains(says), "{text:?} → {shown}");
            assert!(!shown.ends_with("| "), "the line's text is shown: {shown}");
        }
    }

    #[test]
    fn a_bad_environment_variable_is_named() {
        let error = from_env(|name| (name == "C2C_PAIR_KEYCHAIN_TIMEOUT").then(|| "soon".into()))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the environment variable C2C_PAIR_KEYCHAIN_TIMEOUT: \"soon\" is not a number of \
             seconds between 0.1 and 600"
        );
    }

    #[test]
    fn a_missing_default_file_is_fine_but_a_missing_chosen_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load(None, Some(dir.path()), Layer::default()).unwrap();
        assert!(!settings.file_found);
        assert_eq!(settings.file, Some(dir.path().join(FILE_NAME)));
        let missing = dir.path().join("elsewhere.toml");
        assert!(matches!(
            Settings::load(Some(&missing), Some(dir.path()), Layer::default()),
            Err(SettingsError::Unreadable { .. })
        ));
    }

    #[test]
    fn what_is_shown_reads_back_as_the_same_settings() {
        let from_file = file("heartbeat_interval = 45\n[presenter]\nlinger = 2.5\n").unwrap();
        let settings =
            Settings::resolve(None, false, [from_file, Layer::default(), Layer::default()]);
        let shown = settings.show();
        assert!(shown.contains("heartbeat_interval = 45"), "{shown}");
        assert!(shown.contains("# from the file"), "{shown}");
        let again = file(&shown).unwrap();
        let reread = Settings::resolve(None, true, [again, Layer::default(), Layer::default()]);
        assert_eq!(reread.profile(), settings.profile());
        assert_eq!(reread.heartbeat_interval(), settings.heartbeat_interval());
        assert_eq!(reread.presenter_linger(), Duration::from_millis(2500));
    }

    #[test]
    fn the_booth_wifi_is_read_and_its_password_never_shown() {
        let from_file = file(
            "[presenter]\nwifi_ssid = \"Booth 5G\"\nwifi_password = \"visitors-welcome\"\n\
             wifi_hidden = true\n",
        )
        .unwrap();
        let settings =
            Settings::resolve(None, false, [from_file, Layer::default(), Layer::default()]);
        let wifi = settings.booth_wifi().unwrap();
        assert_eq!(
            wifi.qr_payload(),
            "WIFI:T:WPA;S:Booth 5G;P:visitors-welcome;H:true;;"
        );
        let shown = settings.show();
        assert!(!shown.contains("visitors-welcome"), "{shown}");
        assert!(shown.contains("never shown"), "{shown}");
        // Read back, the name stays and the password is simply not there.
        let again = file(&shown).unwrap();
        let reread = Settings::resolve(None, true, [again, Layer::default(), Layer::default()]);
        let reread = reread.booth_wifi().unwrap();
        assert_eq!(reread.ssid, "Booth 5G");
        assert!(reread.password.is_none());
        let env = from_env(|name| {
            (name == "C2C_PAIR_PRESENTER_WIFI_PASSWORD").then(|| "short".to_owned())
        });
        assert!(env.is_err(), "a WPA password has at least 8 characters");
        assert!(
            file("[presenter]\nwifi_ssid = \"\"\n")
                .unwrap()
                .presenter
                .wifi_ssid
                .is_none()
        );
    }
}
