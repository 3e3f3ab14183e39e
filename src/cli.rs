//! The headless commands: `pair`, `demo-server`, `secret set`. Printing is this module's job,
//! so it may use stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use c2c_pair::backend::{self, Backend, BackendChoice, BackendError, CLIENT_SECRET_ENV};
use c2c_pair::c2c::PollStatus;
use c2c_pair::config::{self, BodyEncoding, FRAME_IO_API_BASE, Profile};
use c2c_pair::demo::{DemoConfig, DemoServer};
use c2c_pair::device::{
    self, CodeDisplay, DeviceId, FailureKind, PairError, PairEvent, PairOutcome, PairedDevice,
};
use c2c_pair::keychain::{self, Keychain, OsStore};
use c2c_pair::ui::{UiOptions, group_code};

/// Exit code after Ctrl-C (128 + SIGINT), as shells expect.
const EXIT_CANCELLED: u8 = 130;
/// Environment variable naming the keychain service (tests use a throwaway one).
const KEYCHAIN_SERVICE_ENV: &str = "C2C_PAIR_KEYCHAIN_SERVICE";

/// Pair Frame.io Camera to Cloud devices from a laptop.
///
/// With no command, opens the pairing window. With no client secret configured, pairing
/// uses the built-in demo server.
///
/// Exit codes: 0 paired; 2 bad usage or configuration; 3 refused (denied, invalid grant,
/// invalid client); 4 code expired; 5 network or server failure; 6 keychain failure;
/// 130 cancelled.
#[derive(Debug, Clone, Parser)]
#[command(name = "c2c-pair", version, about, long_about)]
pub struct Cli {
    /// Server settings, for the window and every command.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Window only: start pairing this device at once.
    #[arg(long, value_name = "ID")]
    pub device: Option<String>,
    /// Window only: display name of that device.
    #[arg(long, value_name = "NAME", requires = "device")]
    pub name: Option<String>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The headless command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Which server to talk to, and how.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// API base of the C2C server [default: https://api.frame.io, or the built-in demo
    /// server while no client secret is configured].
    #[arg(long, global = true, env = "C2C_PAIR_API_BASE", value_name = "URL")]
    pub api_base: Option<String>,
    /// Firmware version sent as x-client-version (semver).
    #[arg(long, global = true, env = "C2C_PAIR_CLIENT_VERSION", default_value = env!("CARGO_PKG_VERSION"))]
    pub client_version: String,
    /// Path of the device authorization endpoint.
    #[arg(long, global = true, default_value = "/v2/auth/device/code")]
    pub device_code_path: String,
    /// Path of the token endpoint.
    #[arg(long, global = true, default_value = "/v2/auth/token")]
    pub token_path: String,
    /// Path of the revocation endpoint.
    #[arg(long, global = true, default_value = "/v2/auth/revoke")]
    pub revoke_path: String,
    /// Form encoding of the OAuth requests.
    #[arg(long, global = true, default_value = "urlencoded", value_parser = ["urlencoded", "multipart"])]
    pub body: String,
    /// Do not ask for a verification link (no x-client-platypus-enabled header, no QR).
    #[arg(long, global = true)]
    pub no_url_pairing: bool,
    /// Use the built-in demo server even if a client secret is configured.
    #[arg(long, global = true)]
    pub demo: bool,
    /// Address of the built-in demo server (loopback).
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        default_value = "127.0.0.1:0"
    )]
    pub demo_listen: SocketAddr,
}

/// Headless commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Pair one device: print the code, the link and a QR, wait for approval, save the tokens.
    Pair {
        /// The device's client_id: its serial number or a UUID.
        #[arg(long, value_name = "ID")]
        device: String,
        /// Display name of the device.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Print one JSON object per line per event, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Run the built-in C2C server on its own (demo, tests, trade shows).
    DemoServer {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8480")]
        listen: SocketAddr,
        /// Seconds between polls the server asks for.
        #[arg(long, default_value_t = 5.0)]
        interval: f64,
        /// Seconds a code lives.
        #[arg(long, default_value_t = 120.0)]
        expires_in: f64,
    },
    /// Manage the client secret in the OS keychain.
    Secret {
        /// What to do.
        #[command(subcommand)]
        action: SecretAction,
    },
}

/// Client secret actions.
#[derive(Debug, Clone, Subcommand)]
pub enum SecretAction {
    /// Read the client secret from stdin and store it for the --api-base host.
    Set,
}

impl Cli {
    /// Default log level: quiet, except the demo server, which tells what it does.
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            Some(Command::DemoServer { .. }) => "info",
            _ => "warn",
        }
    }

    /// The keychain: the OS store, under a test-only service name if one is set.
    pub fn keychain(&self) -> Keychain {
        let service = std::env::var(KEYCHAIN_SERVICE_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| keychain::SERVICE.to_owned());
        Keychain::new(
            std::sync::Arc::new(OsStore::new(service)),
            keychain::DEFAULT_TIMEOUT,
        )
    }

    /// What the window needs: the backend choice and its start-up options.
    pub fn gui_setup(&self) -> Result<(BackendChoice, UiOptions), String> {
        let choice = self.choice()?;
        let device_id = match &self.device {
            Some(text) => Some(DeviceId::parse(text).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok((
            choice,
            UiOptions {
                device_id,
                name: self.name.clone(),
            },
        ))
    }

    fn choice(&self) -> Result<BackendChoice, String> {
        let service = &self.service;
        let api_base = service.api_base.as_deref().unwrap_or(FRAME_IO_API_BASE);
        let api_base = config::parse_api_base(api_base).map_err(|e| e.to_string())?;
        let mut profile = Profile::for_api_base(api_base);
        profile.client_version = service.client_version.clone();
        profile.paths.device_code = service.device_code_path.clone();
        profile.paths.token = service.token_path.clone();
        profile.paths.revoke = service.revoke_path.clone();
        profile.body = service.body.parse::<BodyEncoding>()?;
        profile.url_pairing = !service.no_url_pairing;
        profile.validate().map_err(|e| e.to_string())?;
        if !service.demo_listen.ip().is_loopback() {
            return Err(format!(
                "the demo server listens on loopback only; {} is not a loopback address",
                service.demo_listen
            ));
        }
        let env_secret = std::env::var(CLIENT_SECRET_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| SecretString::from(s.trim().to_owned()));
        Ok(BackendChoice {
            profile,
            force_demo: service.demo,
            demo_fallback: service.api_base.is_none(),
            demo: DemoConfig {
                listen: service.demo_listen,
                ..DemoConfig::default()
            },
            env_secret,
        })
    }
}

/// Prints an error for the user on stderr.
pub fn report(message: &str) {
    eprintln!("c2c-pair: {message}");
}

/// Runs one headless command to its exit code.
pub async fn run(cli: &Cli, command: Command) -> ExitCode {
    match command {
        Command::Pair { device, name, json } => {
            let printer = Printer { json };
            pair(cli, &device, name.as_deref(), &printer).await
        }
        Command::DemoServer {
            listen,
            interval,
            expires_in,
        } => demo_server(listen, interval, expires_in).await,
        Command::Secret {
            action: SecretAction::Set,
        } => secret_set(cli).await,
    }
}

async fn pair(cli: &Cli, device: &str, name: Option<&str>, printer: &Printer) -> ExitCode {
    let device_id = match DeviceId::parse(device) {
        Ok(id) => id,
        Err(error) => return printer.fail(FailureKind::Usage, &error.to_string()),
    };
    let choice = match cli.choice() {
        Ok(choice) => choice,
        Err(message) => return printer.fail(FailureKind::Usage, &message),
    };
    let keychain = cli.keychain();
    let backend = match Backend::connect(choice, &keychain).await {
        Ok(backend) => backend,
        Err(error) => {
            let kind = match error {
                BackendError::SecretUnreadable(_) => FailureKind::Keychain,
                BackendError::DemoListen { .. } => FailureKind::Network,
                _ => FailureKind::Usage,
            };
            return printer.fail(kind, &error.to_string());
        }
    };
    printer.server(&backend);

    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let result = device::pair(&backend, &keychain, &device_id, &cancel, |event| {
        printer.progress(&device_id, name, &event);
    })
    .await;
    let result = match result {
        Err(PairError::SaveFailed { error, unsaved }) => {
            printer.note(&format!("Saving failed ({error}); retrying."));
            retry_save(&backend, &keychain, *unsaved, error).await
        }
        other => other,
    };
    match result {
        Ok(PairOutcome::Paired(paired)) => {
            printer.paired(&paired, name);
            ExitCode::SUCCESS
        }
        Ok(PairOutcome::Cancelled) => {
            printer.cancelled();
            ExitCode::from(EXIT_CANCELLED)
        }
        Err(error) => printer.fail(error.kind(), &error.to_string()),
    }
}

/// Tokens exist but are not saved: try again with back-off before giving up (exit 6).
async fn retry_save(
    backend: &Backend,
    keychain: &Keychain,
    unsaved: device::UnsavedTokens,
    mut last_error: keychain::KeychainError,
) -> Result<PairOutcome, PairError> {
    for wait in [1, 2, 4, 8] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        match unsaved.save(keychain).await {
            Ok(()) => {
                let paired = device::describe_paired(backend, keychain, &unsaved).await;
                return Ok(PairOutcome::Paired(paired));
            }
            Err(error) => last_error = error,
        }
    }
    Err(PairError::SaveFailed {
        error: last_error,
        unsaved: Box::new(unsaved),
    })
}

/// Human text or JSON lines.
struct Printer {
    json: bool,
}

impl Printer {
    fn line(&self, value: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }

    fn server(&self, backend: &Backend) {
        let api_base = backend.client.profile().api_base.as_str();
        if self.json {
            self.line(json!({"event": "server", "api_base": api_base, "demo": backend.is_demo()}));
            return;
        }
        if let Some(url) = backend.demo_approval_url() {
            println!("Demo mode: not connected to Frame.io. Codes are approved at {url}");
            if let Some(warning) = &backend.warning {
                println!("{warning}");
            }
        }
    }

    fn progress(&self, device_id: &DeviceId, name: Option<&str>, event: &PairEvent) {
        match event {
            PairEvent::CodeIssued(code) => self.code(device_id, name, code),
            PairEvent::Polled { status, next_check } => {
                let next = next_check
                    .saturating_duration_since(std::time::Instant::now())
                    .as_secs_f64();
                self.polled(status, next);
            }
            PairEvent::CheckingKeychain | PairEvent::RequestingCode | PairEvent::Saving => {}
        }
    }

    fn code(&self, device_id: &DeviceId, name: Option<&str>, code: &CodeDisplay) {
        if self.json {
            self.line(json!({
                "event": "code",
                "device": device_id.as_str(),
                "user_code": code.user_code,
                "verification_uri": code.verification_uri,
                "verification_uri_complete": code.verification_uri_complete,
                "expires_in": code.expires_in.as_secs_f64(),
                "interval": code.interval.as_secs_f64(),
            }));
            return;
        }
        let who = name.map_or_else(|| device_id.to_string(), |n| format!("{n} ({device_id})"));
        println!("\nPairing {who}\n");
        println!("  Code: {}", group_code(&code.user_code));
        match &code.verification_uri {
            Some(uri) => println!("  Enter it at {uri}"),
            None => println!("  Enter it in Frame.io (web or iOS), under C2C Connections"),
        }
        if let Some(complete) = &code.verification_uri_complete {
            println!("  or open {complete}");
        }
        if let Some(qr) = code.qr_target().and_then(c2c_pair::ui::qr::to_terminal) {
            println!("\n{qr}");
        }
        println!(
            "The code expires in {} s. Waiting for approval… (Ctrl-C cancels)",
            code.expires_in.as_secs()
        );
    }

    fn polled(&self, status: &PollStatus, next_in: f64) {
        if self.json {
            let (name, detail) = match status {
                PollStatus::Pending => ("authorization_pending", None),
                PollStatus::SlowDown { .. } => ("slow_down", None),
                PollStatus::Retrying { reason, .. } => ("retrying", Some(reason.as_str())),
            };
            self.line(json!({
                "event": "poll", "status": name, "message": detail,
                "next_poll_in": (next_in * 1000.0).round() / 1000.0,
            }));
        } else if !matches!(status, PollStatus::Pending) {
            println!("  {status}; next check in {} s", next_in.ceil());
        }
    }

    fn paired(&self, paired: &PairedDevice, name: Option<&str>) {
        if self.json {
            self.line(json!({
                "event": "paired",
                "device": paired.device_id.as_str(),
                "name": name,
                "keychain_account": paired.keychain_account,
                "keychain": paired.keychain,
                "project": paired.project,
                "remote_name": paired.remote_name,
            }));
            return;
        }
        match &paired.project {
            Some(project) => println!(
                "Paired {}: connected to project {project}.",
                paired.device_id
            ),
            None => println!("Paired {}.", paired.device_id),
        }
        println!(
            "Credentials saved in the OS keychain ({}) as {}.",
            paired.keychain, paired.keychain_account
        );
    }

    fn cancelled(&self) {
        if self.json {
            self.line(json!({"event": "cancelled"}));
        } else {
            println!("Cancelled.");
        }
    }

    fn note(&self, message: &str) {
        if !self.json {
            eprintln!("{message}");
        }
    }

    fn fail(&self, kind: FailureKind, message: &str) -> ExitCode {
        if self.json {
            self.line(json!({"event": "error", "kind": kind.as_str(), "message": message}));
        } else {
            report(message);
        }
        ExitCode::from(kind.exit_code())
    }
}

async fn demo_server(listen: SocketAddr, interval: f64, expires_in: f64) -> ExitCode {
    let seconds = |value: f64, what: &str| {
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("--{what} must be a positive number of seconds"))
    };
    let (interval, expires_in) = match (
        seconds(interval, "interval"),
        seconds(expires_in, "expires-in"),
    ) {
        (Ok(i), Ok(e)) => (i, e),
        (Err(message), _) | (_, Err(message)) => {
            report(&message);
            return ExitCode::from(2);
        }
    };
    if !listen.ip().is_loopback() {
        tracing::warn!(%listen, "the demo server is reachable from other machines on this network");
    }
    let config = DemoConfig {
        listen,
        interval,
        expires_in,
        ..DemoConfig::default()
    };
    let secret = config.client_secret.clone();
    let server = match DemoServer::start(config).await {
        Ok(server) => server,
        Err(error) => {
            report(&format!("could not listen on {listen}: {error}"));
            return ExitCode::from(5);
        }
    };
    println!("Demo C2C server at {}", server.base_url());
    println!("Approval page:     {}", server.approval_url());
    println!("Client secret:     {secret}   (opens this demo server only)");
    println!(
        "Pair against it:   c2c-pair --api-base {} pair --device CAM-1",
        server.base_url()
    );
    println!("Ctrl-C stops it.");
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn secret_set(cli: &Cli) -> ExitCode {
    let profile = match cli.choice() {
        Ok(choice) => choice.profile,
        Err(message) => {
            report(&message);
            return ExitCode::from(2);
        }
    };
    let secret = match read_secret(&profile) {
        Ok(secret) => secret,
        Err(message) => {
            report(&message);
            return ExitCode::from(2);
        }
    };
    let keychain = cli.keychain();
    match backend::save_client_secret(&keychain, &profile, SecretString::from(secret.to_owned()))
        .await
    {
        Ok(()) => {
            println!(
                "Client secret for {} stored in the OS keychain ({}).",
                profile.keychain_host(),
                keychain.describe()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            report(&error.to_string());
            ExitCode::from(FailureKind::Keychain.exit_code())
        }
    }
}

/// The secret from the terminal without echo, or from piped stdin.
fn read_secret(profile: &Profile) -> Result<SecretString, String> {
    let line = if std::io::stdin().is_terminal() {
        let prompt = format!(
            "Client secret for {} (typing is hidden; stored in the OS keychain): ",
            profile.api_base
        );
        rpassword::prompt_password(prompt).map_err(|e| format!("could not read the secret: {e}"))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("could not read the secret from stdin: {e}"))?;
        line
    };
    let secret = line.trim();
    if secret.is_empty() {
        return Err("no secret given; nothing was stored".into());
    }
    Ok(SecretString::from(secret.to_owned()))
}
