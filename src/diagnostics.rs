//! Diagnostics for support: "Copy diagnostics" and `c2c-pair doctor`.
//!
//! Versions, OS, keychain and its preflight, the API base step by step (DNS, TCP, TLS/HTTP),
//! clock skew against the
//! server's `Date`, proxy settings, and the last log lines. Nothing secret goes in: proxy
//! passwords and anything token-like are removed, the client secret is only said to exist.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::backend::BackendChoice;
use crate::c2c::profile::Profile;
use crate::c2c::{C2cClient, ClientError};
use crate::device::FailureKind;
use crate::keychain::{Keychain, client_secret_account, unix_seconds};
use crate::log_buffer;
use crate::log_file;
use crate::redact::redact;
use crate::registry::Registry;

/// Longest wait for each network step.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// A clock further off than this is reported as a problem (TLS certificates and token
/// lifetimes depend on it).
const SKEW_LIMIT: Duration = Duration::from_secs(300);
/// Proxy variables reqwest reads (besides the OS settings on macOS and Windows).
const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// What to examine.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The server settings; the API base of its profile is checked (also in demo mode: is
    /// Frame.io reachable from here?).
    pub choice: &'a BackendChoice,
    /// The keychain in use.
    pub keychain: &'a Keychain,
    /// The device list.
    pub registry: &'a Registry,
}

/// Something that does not work, with the exit-code family it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Which family (keychain, network, usage).
    pub kind: FailureKind,
    /// What is wrong and what to do, in words.
    pub text: String,
}

/// The gathered report.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// The whole text, ready to paste into a support ticket.
    pub text: String,
    /// The problems found (also listed in the text).
    pub problems: Vec<Problem>,
}

/// Gathers everything; never fails (a failed check is a finding).
pub async fn gather(subject: &Subject<'_>) -> Diagnostics {
    let mut report = Findings::default();
    report.line(&format!(
        "C2C Pairing Assistant diagnostics, {}",
        crate::human_time::rfc3339(unix_seconds(SystemTime::now()))
    ));
    report.fact("App", &format!("c2c-pair {}", env!("CARGO_PKG_VERSION")));
    report.fact("OS", &os_description());
    report.fact("Desktop", &desktop_session());
    report.fact("Mode", &describe_mode(subject.choice));
    keychain(&mut report, subject).await;
    devices(&mut report, subject.registry);
    api_base(&mut report, &subject.choice.profile).await;
    proxies(&mut report);
    recent_log(&mut report);
    report.finish()
}

/// The log file's place and its last lines (every run, window and commands), else the lines
/// of this run kept in memory.
fn recent_log(report: &mut Findings) {
    let file = log_file::active_dir().map(|dir| {
        let path = dir.join(log_file::FILE_NAME).display().to_string();
        (log_file::tail(&dir, log_buffer::KEPT), path)
    });
    let (place, origin, lines) = match file {
        Some((Ok(lines), path)) => (path, "of the log file", lines),
        Some((Err(error), path)) => (
            format!("{path} (unreadable: {error})"),
            "of this run",
            log_buffer::recent(),
        ),
        None => (
            "none (kept in memory for this run)".to_owned(),
            "of this run",
            log_buffer::recent(),
        ),
    };
    report.fact("Log file", &place);
    report.line(&format!(
        "Log (last {} lines {origin}, secrets removed):",
        lines.len()
    ));
    for line in lines {
        // The file is written redacted; this covers lines written by an older version.
        // Made printable too: a line may quote a server (or predate that rule).
        report.line(&format!(
            "  {}",
            crate::printable::printable(&redact(&line), 2000)
        ));
    }
}

/// How the app runs with these settings, in words.
pub fn describe_mode(choice: &BackendChoice) -> String {
    let base = &choice.profile.api_base;
    if choice.force_demo {
        "demo (--demo): the built-in server on this computer".into()
    } else if choice.demo_fallback {
        format!("{base}, or the built-in demo server while no client secret is configured")
    } else {
        format!("{base} (chosen in the settings; c2c-pair config show says where)")
    }
}

#[derive(Default)]
struct Findings {
    text: String,
    problems: Vec<Problem>,
}

impl Findings {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn fact(&mut self, name: &str, value: &str) {
        self.line(&format!("{name}: {value}"));
    }

    fn problem(&mut self, name: &str, kind: FailureKind, text: String) {
        self.line(&format!("{name}: PROBLEM: {text}"));
        self.problems.push(Problem { kind, text });
    }

    fn finish(mut self) -> Diagnostics {
        let summary = match self.problems.len() {
            0 => "Summary: no problem found.".to_owned(),
            n => {
                let mut summary = format!("Summary: {n} problem(s):");
                for problem in &self.problems {
                    let _ = write!(summary, "\n  - {}", problem.text);
                }
                summary
            }
        };
        self.line(&summary);
        Diagnostics {
            text: self.text,
            problems: self.problems,
        }
    }
}

fn os_description() -> String {
    let release = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok();
    let mut text = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
    if let Some(release) = release {
        let _ = write!(text, ", {release}");
    }
    if let Some(kernel) = kernel {
        let _ = write!(text, ", kernel {}", kernel.trim());
    }
    text
}

fn desktop_session() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let session = var("XDG_SESSION_TYPE").unwrap_or_else(|| "unknown session type".into());
    let wayland = var("WAYLAND_DISPLAY").map_or("no", |_| "yes");
    let x11 = var("DISPLAY").map_or("no", |_| "yes");
    format!("{session} (Wayland display: {wayland}, X display: {x11})")
}

async fn keychain(report: &mut Findings, subject: &Subject<'_>) {
    let store = subject.keychain.describe();
    let started = Instant::now();
    match subject.keychain.preflight().await {
        Ok(()) => report.fact(
            "Keychain",
            &format!(
                "{store}: works (write, read, delete in {} ms)",
                started.elapsed().as_millis()
            ),
        ),
        Err(error) => {
            report.problem(
                "Keychain",
                FailureKind::Keychain,
                format!("{store}: {error}"),
            );
            return;
        }
    }
    let host = subject.choice.profile.keychain_host();
    let secret = if subject.choice.env_secret.is_some() {
        "set in the environment (C2C_PAIR_CLIENT_SECRET)".to_owned()
    } else {
        match subject.keychain.get(&client_secret_account(&host)).await {
            Ok(Some(_)) => format!("stored in the keychain for {host}"),
            Ok(None) => format!("none for {host}"),
            Err(error) => format!("could not be checked: {error}"),
        }
    };
    report.fact("Client secret", &secret);
}

fn devices(report: &mut Findings, registry: &Registry) {
    let path = registry.path();
    match registry.load() {
        Ok(loaded) => {
            let paired = loaded
                .devices
                .iter()
                .filter(|d| d.state == crate::registry::DeviceState::Paired)
                .count();
            report.fact(
                "Devices",
                &format!(
                    "{} in {} ({paired} paired)",
                    loaded.devices.len(),
                    path.display()
                ),
            );
        }
        Err(error) => report.problem("Devices", FailureKind::Usage, error.to_string()),
    }
}

async fn api_base(report: &mut Findings, profile: &Profile) {
    let url = &profile.api_base;
    report.fact("API base", url.as_str());
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        report.problem("  URL", FailureKind::Usage, format!("{url} has no host"));
        return;
    };
    let proxied = proxy_for(url);
    if let Some(proxy) = &proxied {
        report.fact(
            "  Proxy",
            &format!("requests go through {proxy}; the DNS and TCP steps below are direct"),
        );
    }
    // A direct failure matters only when no proxy carries the requests.
    let direct_kind = proxied.is_none().then_some(FailureKind::Network);
    let connected = connect(report, host, port, direct_kind).await;
    if connected || proxied.is_some() {
        http(report, profile).await;
    } else {
        report.fact("  HTTP", "not tried without a connection");
    }
}

/// The direct DNS and TCP steps; whether a connection was made. Failures are problems of
/// `kind`, or mere facts when a proxy carries the requests (`None`).
async fn connect(report: &mut Findings, host: &str, port: u16, kind: Option<FailureKind>) -> bool {
    let started = Instant::now();
    let lookup = tokio::time::timeout(STEP_TIMEOUT, tokio::net::lookup_host((host, port))).await;
    let addresses: Vec<SocketAddr> = match lookup {
        Ok(Ok(found)) => found.collect(),
        Ok(Err(error)) => {
            step_failed(report, "  DNS", kind, format!("{host} not found: {error}"));
            return false;
        }
        Err(_) => {
            let text = format!("{host} not resolved within {} s", STEP_TIMEOUT.as_secs());
            step_failed(report, "  DNS", kind, text);
            return false;
        }
    };
    let Some(first) = addresses.first() else {
        step_failed(report, "  DNS", kind, format!("{host} has no address"));
        return false;
    };
    let shown: Vec<String> = addresses
        .iter()
        .take(4)
        .map(|a| a.ip().to_string())
        .collect();
    let took = started.elapsed().as_millis();
    report.fact(
        "  DNS",
        &format!("{host} is {} (in {took} ms)", shown.join(", ")),
    );
    let started = Instant::now();
    let text = match tokio::time::timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect(first)).await
    {
        Ok(Ok(_)) => {
            let took = started.elapsed().as_millis();
            report.fact("  TCP", &format!("connected to {first} in {took} ms"));
            return true;
        }
        Ok(Err(error)) => format!("{first}: {error} (a firewall, or the server is down)"),
        Err(_) => format!("{first}: no answer within {} s", STEP_TIMEOUT.as_secs()),
    };
    step_failed(report, "  TCP", kind, text);
    false
}

fn step_failed(report: &mut Findings, name: &str, kind: Option<FailureKind>, text: String) {
    match kind {
        Some(kind) => report.problem(name, kind, text),
        None => report.fact(
            name,
            &format!("{text} (direct only; the proxy may still work)"),
        ),
    }
}

async fn http(report: &mut Findings, profile: &Profile) {
    let name = if profile.api_base.scheme() == "https" {
        "  TLS/HTTP"
    } else {
        "  HTTP"
    };
    let client = match C2cClient::new(profile.clone()) {
        Ok(client) => client,
        Err(error) => return report.problem(name, FailureKind::Usage, error.to_string()),
    };
    let started = Instant::now();
    let sent_at = SystemTime::now();
    match client.reach().await {
        Ok(reached) => {
            let tls = if name == "  TLS/HTTP" {
                "certificate trusted, "
            } else {
                "no TLS (http), "
            };
            report.fact(
                name,
                &format!(
                    "{tls}answered HTTP {} in {} ms",
                    reached.status,
                    started.elapsed().as_millis()
                ),
            );
            clock(report, reached.date, sent_at, started.elapsed());
        }
        Err(error) => {
            let (kind, hint) = match &error {
                ClientError::Timeout { .. } => (
                    FailureKind::Network,
                    "; the network is slow or drops packets",
                ),
                ClientError::SignIn { .. } => (FailureKind::SignIn, ""),
                _ => (FailureKind::Network, ""),
            };
            report.problem(name, kind, format!("{error}{hint}"));
        }
    }
}

/// Compares our clock with the server's `Date` (to the second; half the round trip allowed).
fn clock(report: &mut Findings, date: Option<SystemTime>, sent_at: SystemTime, took: Duration) {
    let Some(server) = date else {
        report.fact("  Clock", "the server sent no Date header to compare with");
        return;
    };
    let ours = sent_at + took / 2;
    let (ahead, skew) = match ours.duration_since(server) {
        Ok(skew) => (true, skew),
        Err(behind) => (false, behind.duration()),
    };
    let seconds = skew.as_secs();
    let direction = if ahead { "ahead of" } else { "behind" };
    if skew > SKEW_LIMIT {
        report.problem(
            "  Clock",
            FailureKind::Network,
            format!(
                "this computer's clock is {} {direction} the server's; TLS certificates and \
                 token lifetimes depend on it. Set the clock automatically (NTP).",
                crate::human_time::span(seconds)
            ),
        );
    } else {
        report.fact(
            "  Clock",
            &format!("within {seconds} s of the server's (Date header)"),
        );
    }
}

/// The proxy the environment names for `url` (password removed), with `NO_PROXY`'s host and
/// domain entries honoured. An approximation of reqwest's own choice (which also reads the
/// OS settings on macOS and Windows, and CIDR entries): it only decides whether a failed
/// direct DNS/TCP step counts as a problem; the HTTP step goes through reqwest itself.
fn proxy_for(url: &url::Url) -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let host = url.host_str().unwrap_or_default();
    let bypass = var("NO_PROXY")
        .or_else(|| var("no_proxy"))
        .is_some_and(|list| {
            list.split(',').map(str::trim).any(|entry| {
                entry == "*"
                    || (!entry.is_empty()
                        && (host == entry.trim_start_matches('.')
                            || host.ends_with(&format!(".{}", entry.trim_start_matches('.')))))
            })
        });
    if bypass {
        return None;
    }
    let names: &[&str] = if url.scheme() == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names.iter().find_map(|n| var(n)).map(|v| show_proxy(&v))
}

/// A proxy setting as shown: scheme, host and port only, never a user name or password.
///
/// With or without a scheme: the HTTP stack accepts `user:pass@proxy:3128` as
/// `http://user:pass@proxy:3128`.
pub fn show_proxy(value: &str) -> String {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    match url::Url::parse(&with_scheme) {
        Ok(url) if url.host_str().is_some() => {
            let host = url.host_str().unwrap_or_default();
            match url.port_or_known_default() {
                Some(port) => format!("{}://{host}:{port}", url.scheme()),
                None => format!("{}://{host}", url.scheme()),
            }
        }
        _ => "(set, but not a proxy URL)".to_owned(),
    }
}

fn proxies(report: &mut Findings) {
    let set: Vec<String> = PROXY_VARS
        .iter()
        .filter_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    let shown = if name.eq_ignore_ascii_case("no_proxy") {
                        crate::printable::text(&v)
                    } else {
                        show_proxy(&v)
                    };
                    format!("{name}={shown}")
                })
        })
        .collect();
    let os = if cfg!(any(target_os = "macos", target_os = "windows")) {
        " (the OS proxy settings apply too)"
    } else {
        ""
    };
    if set.is_empty() {
        report.fact("Proxy settings", &format!("none in the environment{os}"));
    } else {
        report.fact("Proxy settings", &format!("{}{os}", set.join("; ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_never_shown() {
        for (value, shown) in [
            ("user:pass@proxy.corp:3128", "http://proxy.corp:3128"),
            (
                "http://user:pass@proxy.corp:3128/",
                "http://proxy.corp:3128",
            ),
            (
                "https://alice:s3cr%40t@proxy.corp",
                "https://proxy.corp:443",
            ),
            ("socks5h://bob:pw@10.0.0.1:1080", "socks5h://10.0.0.1:1080"),
            ("proxy.corp:8080", "http://proxy.corp:8080"),
        ] {
            assert_eq!(show_proxy(value), shown, "{value}");
        }
        assert!(!show_proxy("pass word@@").contains("pass"));
    }
}
