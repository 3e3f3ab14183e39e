//! The command line: its options, and the headless commands (`pair`, `status`, `token`,
//! `refresh`, `unpair`, `handoff`, `upload`, `doctor`, `demo-server`, `secret set`,
//! `completions`, `man`). Printing is this module's job; it goes through `out!` and `err!`,
//! which never panic on a closed stream.

/// `println!` that never panics: a closed stdout (`c2c-pair status | head -1`) is not an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never panics.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod docs;
mod doctor;
mod fleet;
mod handoff;
mod pair;
mod secret;
mod server;
mod upload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use url::Url;

use c2c_pair::backend::{BackendChoice, BackendError, CLIENT_SECRET_ENV};
use c2c_pair::c2c::profile::BodyEncoding;
use c2c_pair::demo::DemoConfig;
use c2c_pair::device::{DeviceId, FailureKind};
use c2c_pair::keychain::{self, Keychain, OsStore};
use c2c_pair::registry::Registry;
use c2c_pair::settings::{self, EndpointLayer, Layer, PresenterLayer, Settings, parse};
use c2c_pair::ui::UiOptions;
use c2c_pair::worker::WorkerSetup;

/// Exit code after Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_CANCELLED: u8 = 130;
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
#[command(
    name = "c2c-pair",
    version = concat!(env!("CARGO_PKG_VERSION"), " (git ", env!("C2C_PAIR_GIT_REVISION"), ")"),
    about,
    long_about
)]
#[expect(
    clippy::doc_markdown,
    reason = "clap prints these doc comments verbatim in --help"
)]
pub struct Cli {
    /// Server settings, for the window and every command.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Window only: start pairing this device at once (repeat for several).
    #[arg(long, value_name = "ID")]
    pub device: Vec<String>,
    /// Window only: display name of the device, with a single --device.
    #[arg(long, value_name = "NAME", requires = "device")]
    pub name: Option<String>,
    /// Window only: start in presenter mode (booth loop, full screen; F11, H, Space, Esc)
    /// [config: presenter.start].
    #[arg(long)]
    pub presenter: bool,
    /// Window only: seconds presenter mode shows a success before the next code
    /// [default: 8; config: presenter.linger].
    #[arg(long, value_name = "SECONDS", value_parser = parse::wait)]
    pub presenter_linger: Option<Duration>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The headless command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The settings in effect, read by [`Cli::load_settings`] under the options above.
    #[arg(skip)]
    pub settings: Settings,
}

/// Which server to talk to, and how. Each option overrides the configuration file and its
/// environment variable (`c2c-pair config show` prints what is in effect).
#[derive(Debug, Clone, Args)]
#[expect(
    clippy::doc_markdown,
    reason = "clap prints these doc comments verbatim in --help"
)]
#[expect(
    rustdoc::bare_urls,
    reason = "clap prints these doc comments verbatim in --help"
)]
pub struct ServiceArgs {
    /// Configuration file [default: config.toml in the config directory].
    #[arg(long, global = true, env = settings::FILE_ENV, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// API base of the C2C server [default: https://api.frame.io, or the built-in demo
    /// server while no client secret is configured; env: C2C_PAIR_API_BASE].
    #[arg(long, global = true, value_name = "URL", value_parser = parse::api_base)]
    pub api_base: Option<Url>,
    /// Firmware version sent as x-client-version (semver) [default: this app's version;
    /// env: C2C_PAIR_CLIENT_VERSION].
    #[arg(long, global = true, value_name = "VERSION", value_parser = parse::client_version)]
    pub client_version: Option<String>,
    /// Path of the device authorization endpoint [default: /v2/auth/device/code].
    #[arg(long, global = true, value_name = "PATH", value_parser = parse::endpoint)]
    pub device_code_path: Option<String>,
    /// Path of the token endpoint [default: /v2/auth/token].
    #[arg(long, global = true, value_name = "PATH", value_parser = parse::endpoint)]
    pub token_path: Option<String>,
    /// Path of the revocation endpoint [default: /v2/auth/revoke].
    #[arg(long, global = true, value_name = "PATH", value_parser = parse::endpoint)]
    pub revoke_path: Option<String>,
    /// Scope asked for with a device code [default: asset_create offline (Frame.io's);
    /// env: C2C_PAIR_SCOPE]. Another RFC 8628 server may grant e.g. "openid offline_access".
    #[arg(long, global = true, value_name = "SCOPE", value_parser = parse::scope)]
    pub scope: Option<String>,
    /// Form encoding of the OAuth requests: urlencoded or multipart [default: urlencoded;
    /// env: C2C_PAIR_BODY].
    #[arg(long, global = true, value_name = "ENCODING", value_parser = parse::body)]
    pub body: Option<BodyEncoding>,
    /// Do not ask for a verification link (no x-client-platypus-enabled header, no QR)
    /// [config: url_pairing = false].
    #[arg(long, global = true)]
    pub no_url_pairing: bool,
    /// Use the built-in demo server even if a client secret is configured.
    #[arg(long, global = true)]
    pub demo: bool,
    /// Address of the built-in demo server. Loopback by default; an address on the network
    /// (or 0.0.0.0) lets phones at a booth open its approval page [default: 127.0.0.1:0;
    /// env: C2C_PAIR_DEMO_LISTEN].
    #[arg(long, global = true, value_name = "ADDR", value_parser = parse::listen)]
    pub demo_listen: Option<SocketAddr>,
    /// Longest wait for one keychain call, in seconds (a locked keychain may wait for a
    /// password prompt nobody sees) [default: 5; env: C2C_PAIR_KEYCHAIN_TIMEOUT].
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse::wait)]
    pub keychain_timeout: Option<Duration>,
    /// Window only: seconds between heartbeats of each paired device [default: 120; env:
    /// C2C_PAIR_HEARTBEAT_INTERVAL].
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse::heartbeat)]
    pub heartbeat_interval: Option<Duration>,
}

/// Headless commands.
#[derive(Debug, Clone, Subcommand)]
#[expect(
    clippy::doc_markdown,
    reason = "clap prints these doc comments verbatim in --help"
)]
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
    /// List the paired devices: state, project, token lifetime, last heartbeat.
    Status {
        /// Only this device.
        #[arg(long, value_name = "ID")]
        device: Option<String>,
        /// Print JSON instead of a table (the pairing report for scripts).
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV instead of a table (the pairing report for a spreadsheet).
        #[arg(long)]
        csv: bool,
    },
    /// Print a valid access token for a device (refreshing first when needed), and nothing else.
    Token {
        /// The device.
        #[arg(long, value_name = "ID")]
        device: String,
    },
    /// Refresh a device's tokens now.
    Refresh {
        /// The device.
        #[arg(long, value_name = "ID")]
        device: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device's credentials at the server, then delete them and forget the device.
    Unpair {
        /// The device.
        #[arg(long, value_name = "ID")]
        device: String,
        /// Forget the device on this computer only, without asking the server (for a server
        /// that is gone, or a record that is wrong). The server may still list it as paired.
        #[arg(long)]
        local: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hand a device's pairing to the device itself: its credentials go as JSON (schema
    /// c2c-pair.handoff/1, see the README) to COMMAND's standard input (--exec) or to stdout
    /// (--print). Refreshed first, so the device gets a full lifetime. Only when COMMAND exits
    /// 0 (or the JSON was written) does the laptop delete its copy and mark the device
    /// "handed off": no more heartbeats or refreshes from here; pair it again to manage it
    /// here. Anything else keeps the pairing. Ctrl-C stops COMMAND and keeps the pairing.
    Handoff {
        /// The device.
        #[arg(long, value_name = "ID")]
        device: String,
        /// Run COMMAND through the shell (sh -c; cmd /C on Windows) with the credentials on
        /// its standard input.
        #[arg(
            long,
            value_name = "COMMAND",
            required_unless_present = "print",
            conflicts_with = "print"
        )]
        exec: Option<String>,
        /// Write the credentials to stdout, for a device that takes a pasted file. Asks for
        /// the device id to be typed first, and refuses a terminal as stdout, unless --yes.
        #[arg(long)]
        print: bool,
        /// With --print: no confirmation, and a terminal is allowed as stdout.
        #[arg(long, conflicts_with = "exec")]
        yes: bool,
        /// Print one JSON event (with --exec).
        #[arg(long, conflicts_with = "print")]
        json: bool,
    },
    /// Upload a file (or, without FILE, the shipped 4-second test clip) from a paired device
    /// through the C2C asset API, with a progress bar. Ctrl-C cancels.
    Upload {
        /// The device.
        #[arg(long, value_name = "ID")]
        device: String,
        /// The file to send [default: the test clip].
        file: Option<PathBuf>,
        /// Print one JSON event instead of the bar and the sentence.
        #[arg(long)]
        json: bool,
    },
    /// Check this computer for pairing: versions, OS, keychain, the API base (DNS, TCP, TLS,
    /// clock), proxies and the recent log, with secrets removed. Paste it into a support
    /// ticket. Exits 0 when nothing is wrong, else 6 (keychain), 5 (network) or 2.
    Doctor,
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
    /// Print shell completions: `c2c-pair completions bash > /etc/bash_completion.d/c2c-pair`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff): `c2c-pair man > c2c-pair.1`.
    Man,
    /// The configuration file and the settings in effect.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// Configuration actions.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ConfigAction {
    /// Print the settings in effect as TOML, each with where it came from (default, file,
    /// environment, command line). Secrets are never shown.
    Show,
    /// Print the configuration file's path.
    Path,
}

/// Shells with completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// PowerShell.
    Powershell,
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

    /// Reads the configuration file and the environment under the command line into
    /// [`Cli::settings`]. On error the defaults stay, and the message names the file and
    /// line or the variable.
    pub fn load_settings(&mut self) -> Result<(), String> {
        let config_dir = c2c_pair::registry::config_dir();
        let settings = Settings::load(
            self.service.config.as_deref(),
            config_dir.as_deref(),
            self.command_line_layer(),
        )
        .map_err(|e| e.to_string())?;
        self.settings = settings;
        Ok(())
    }

    /// The settings given as options.
    fn command_line_layer(&self) -> Layer {
        let service = &self.service;
        Layer {
            api_base: service.api_base.clone(),
            client_version: service.client_version.clone(),
            body: service.body,
            scope: service.scope.clone(),
            url_pairing: service.no_url_pairing.then_some(false),
            heartbeat_interval: service.heartbeat_interval,
            keychain_timeout: service.keychain_timeout,
            demo_listen: service.demo_listen,
            endpoints: EndpointLayer {
                device_code: service.device_code_path.clone(),
                token: service.token_path.clone(),
                revoke: service.revoke_path.clone(),
                ..EndpointLayer::default()
            },
            presenter: PresenterLayer {
                start: self.presenter.then_some(true),
                linger: self.presenter_linger,
                ..PresenterLayer::default()
            },
            ..Layer::default()
        }
    }

    /// Whether this run appends to the log file (not for printing docs).
    pub fn writes_log_file(&self) -> bool {
        !matches!(
            self.command,
            Some(Command::Completions { .. } | Command::Man | Command::Config { .. })
        )
    }

    /// The device list in the config directory.
    #[expect(
        clippy::unused_self,
        reason = "beside keychain() and choice(): where this run's state lives"
    )]
    pub fn registry(&self) -> Result<Registry, String> {
        Registry::default_location().map_err(|e| e.to_string())
    }

    /// The keychain: the OS store, under a test-only service name if one is set.
    pub fn keychain(&self) -> Keychain {
        let service = std::env::var(KEYCHAIN_SERVICE_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| keychain::SERVICE.to_owned());
        Keychain::new(
            std::sync::Arc::new(OsStore::new(service)),
            self.settings.keychain_timeout(),
        )
    }

    /// What the window needs: the worker's setup and the start-up options.
    pub fn gui_setup(&self) -> Result<(WorkerSetup, UiOptions), String> {
        if self.name.is_some() && self.device.len() > 1 {
            return Err("--name goes with a single --device".into());
        }
        let devices = self
            .device
            .iter()
            .map(|text| DeviceId::parse(text).map(|id| (id, self.name.clone())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let setup = WorkerSetup {
            choice: self.choice()?,
            keychain: self.keychain(),
            registry: self.registry()?,
            heartbeat_every: self.settings.heartbeat_interval(),
        };
        let options = UiOptions {
            devices,
            presenter: self.settings.presenter_start(),
            linger: self.settings.presenter_linger(),
            booth_wifi: self.settings.booth_wifi(),
            report_dir: self.settings.report_dir(),
            config_file: self.settings.file.clone(),
        };
        Ok((setup, options))
    }

    /// The user's server settings.
    pub fn choice(&self) -> Result<BackendChoice, String> {
        let profile = self.settings.profile();
        profile.validate().map_err(|e| e.to_string())?;
        let env_secret = std::env::var(CLIENT_SECRET_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| SecretString::from(s.trim().to_owned()));
        Ok(BackendChoice {
            profile,
            force_demo: self.service.demo,
            demo_fallback: self.settings.api_base().is_none(),
            demo: DemoConfig {
                listen: self.settings.demo_listen(),
                ..DemoConfig::default()
            },
            env_secret,
        })
    }
}

/// The exit-code family of a backend that could not be set up.
pub fn backend_failure(error: &BackendError) -> FailureKind {
    match error {
        BackendError::SecretUnreadable(_) => FailureKind::Keychain,
        BackendError::DemoListen { .. } => FailureKind::Network,
        _ => FailureKind::Usage,
    }
}

/// Prints one JSON value as a line on stdout.
pub fn print_json(value: &serde_json::Value) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Reports a failure (as a JSON `error` event with `--json`, else on stderr) and returns its
/// exit code.
pub fn fail(json: bool, kind: FailureKind, message: &str) -> ExitCode {
    if json {
        print_json(
            &serde_json::json!({"event": "error", "kind": kind.as_str(), "message": message}),
        );
    } else {
        report(message);
    }
    ExitCode::from(kind.exit_code())
}

/// Prints an error for the user on stderr.
pub fn report(message: &str) {
    err!("c2c-pair: {message}");
}

/// Runs one headless command to its exit code.
pub async fn run(cli: &Cli, command: Command) -> ExitCode {
    match command {
        Command::Pair { device, name, json } => {
            pair::run(cli, &device, name.as_deref(), json).await
        }
        Command::Status { device, json, csv } => fleet::status(cli, device.as_deref(), json, csv),
        Command::Token { device } => fleet::token(cli, &device).await,
        Command::Refresh { device, json } => fleet::refresh(cli, &device, json).await,
        Command::Unpair {
            device,
            local,
            json,
        } => fleet::unpair(cli, &device, local, json).await,
        Command::Handoff {
            device,
            exec,
            print: _,
            yes,
            json,
        } => {
            // clap insists on one of --exec and --print.
            let target = exec
                .as_deref()
                .map_or(handoff::Target::Print { yes }, handoff::Target::Exec);
            handoff::run(cli, &device, target, json).await
        }
        Command::Upload { device, file, json } => {
            upload::run(cli, &device, file.as_deref(), json).await
        }
        Command::Doctor => doctor::run(cli).await,
        Command::DemoServer {
            listen,
            interval,
            expires_in,
        } => server::run(listen, interval, expires_in).await,
        Command::Secret {
            action: SecretAction::Set,
        } => secret::set(cli).await,
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
        Command::Config { action } => config_command(cli, action),
    }
}

/// `c2c-pair config show|path`.
fn config_command(cli: &Cli, action: ConfigAction) -> ExitCode {
    let settings = &cli.settings;
    match action {
        ConfigAction::Show => {
            out!("{}", settings.show().trim_end());
            let secret = if std::env::var_os(CLIENT_SECRET_ENV).is_some() {
                format!("set in {CLIENT_SECRET_ENV} (not shown)")
            } else {
                "read from the keychain when needed (c2c-pair doctor checks it)".to_owned()
            };
            out!("\n# Client secret: {secret}");
        }
        ConfigAction::Path => match &settings.file {
            Some(path) => out!("{}", path.display()),
            None => {
                return fail(
                    false,
                    FailureKind::Usage,
                    "no config directory was found for this user; use --config FILE",
                );
            }
        },
    }
    ExitCode::SUCCESS
}
