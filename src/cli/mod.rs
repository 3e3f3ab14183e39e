//! The command line: its options, and the headless commands (`pair`, `status`, `token`,
//! `refresh`, `unpair`, `handoff`, `upload`, `comment`, `doctor`, `demo-server`, `secret set`,
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

mod comment;
mod docs;
mod doctor;
mod fleet;
mod handoff;
mod pair;
mod secret;
mod server;
mod setting_options;
mod upload;
mod upload_view;

pub use setting_options::SettingOptions;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use c2c_pair::backend::{BackendChoice, BackendError, CLIENT_SECRET_ENV};
use c2c_pair::demo::DemoConfig;
use c2c_pair::device::upload::{RealtimeOptions, ResumeStore, UploadOptions};
use c2c_pair::device::{DeviceId, FailureKind};
use c2c_pair::keychain::{self, Keychain, OsStore};
use c2c_pair::registry::Registry;
use c2c_pair::settings::{self, Settings};
use c2c_pair::ui::UiOptions;
use c2c_pair::worker::{UploadSetup, WorkerSetup};

/// Exit code after Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_CANCELLED: u8 = 130;
/// Exit code of an upload queue in which some files arrived and some did not.
pub const EXIT_PARTIAL: u8 = 7;
/// Environment variable naming the keychain service (tests use a throwaway one).
const KEYCHAIN_SERVICE_ENV: &str = "C2C_PAIR_KEYCHAIN_SERVICE";

/// Pair Frame.io Camera to Cloud devices from a laptop.
///
/// With no command, opens the pairing window. With no client secret configured, pairing
/// uses the built-in demo server.
///
/// Exit codes: 0 paired; 2 bad usage or configuration; 3 refused (denied, invalid grant,
/// invalid client); 4 code expired; 5 network or server failure; 6 keychain failure;
/// 7 some files of an upload arrived and some did not; 8 the network wants a sign-in first
/// (a hotel or venue Wi-Fi page); 130 cancelled.
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
    /// The configuration file and the demo server switch, for the window and every command.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Every setting that has an option (`--api-base`, `--presenter-linger`, …), as typed.
    #[command(flatten)]
    pub setting_options: SettingOptions,
    /// Window only: start pairing this device at once (repeat for several).
    #[arg(long, value_name = "ID")]
    pub device: Vec<String>,
    /// Window only: display name of the device, with a single --device.
    #[arg(long, value_name = "NAME", requires = "device")]
    pub name: Option<String>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The headless command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options that are not settings: which configuration file, and the demo server switch.
/// (The settings' own options come from their declarations: [`SettingOptions`].)
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// Configuration file [default: config.toml in the config directory].
    #[arg(long, global = true, env = settings::FILE_ENV, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use the built-in demo server even if a client secret is configured.
    #[arg(long, global = true)]
    pub demo: bool,
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
            required_unless_present_any = ["print", "output"],
            conflicts_with_all = ["print", "output"]
        )]
        exec: Option<String>,
        /// Write the credentials to FILE, a new file only its owner can read (never over an
        /// existing one), for a device that takes a copied file.
        #[arg(long, value_name = "FILE", conflicts_with = "print")]
        output: Option<PathBuf>,
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
    /// Upload files and folders (or, without any, the shipped 4-second test clip with a
    /// "Rig check" note) from a paired device through the C2C asset API: streamed, retried,
    /// resumable, waiting while the device is paused. Ctrl-C stops; `--resume` continues.
    ///
    /// Folders are walked recursively, files sorted by path, hidden entries skipped. Exit
    /// codes: 0 all arrived; 7 some did, some did not; 2, 3, 5, 6 as for other commands;
    /// 130 cancelled.
    Upload {
        /// The device.
        #[arg(long, value_name = "ID")]
        device: String,
        /// Files and folders to send [default: the test clip].
        #[arg(value_name = "FILES_OR_DIRS")]
        paths: Vec<PathBuf>,
        /// Send each file as a real-time upload while it is still being written; it is
        /// finished once it stops growing (`upload.realtime_idle`, --idle) or is closed (--until-closed).
        #[arg(long)]
        realtime: bool,
        /// With --realtime (Linux): finished once no process holds the file open for writing.
        #[arg(long, requires = "realtime")]
        until_closed: bool,
        /// Continue every unfinished upload of this device (after a kill or a lost network)
        /// from its first part not done.
        #[arg(long)]
        resume: bool,
        /// Do not add the "Rig check from COMPUTER at TIME" note to the test clip.
        #[arg(long)]
        no_note: bool,
        /// Print one JSON event per line (queued, started, progress, paused, uploaded,
        /// failed, finished…) instead of bars and sentences.
        #[arg(long)]
        json: bool,
    },
    /// Comment on an asset as a paired device (on a frame, or on the whole asset).
    Comment {
        /// The device.
        #[arg(long, value_name = "ID")]
        device: String,
        /// The asset's id (as `upload` printed it).
        #[arg(long, value_name = "ASSET_ID")]
        asset: String,
        /// The comment.
        text: String,
        /// The frame it is on, counted from 0 [default: the whole asset].
        #[arg(long, value_name = "N")]
        frame: Option<u64>,
        /// Print JSON.
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
    /// Print every setting (key, value, default, environment variable, option, meaning) as a
    /// Markdown table, as in the README.
    Docs,
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

    /// Whether this run appends to the log file (not for printing docs).
    pub fn writes_log_file(&self) -> bool {
        !matches!(
            self.command,
            Some(Command::Completions { .. } | Command::Man | Command::Config { .. })
        )
    }
}

/// One run of the program: the arguments as typed ([`Cli`]) and the settings they resolve to
/// (the file and the environment under the options), made once by [`Invocation::resolve`].
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The arguments as typed.
    pub cli: Cli,
    /// The settings in effect.
    pub settings: Settings,
}

impl Invocation {
    /// Reads the configuration file and the environment under the options. On error the
    /// defaults are in effect, and the message names the file and line or the variable.
    pub fn resolve(cli: Cli) -> (Self, Result<(), String>) {
        let config_dir = c2c_pair::registry::config_dir();
        let loaded = Settings::load(
            cli.service.config.as_deref(),
            config_dir.as_deref(),
            cli.setting_options.0.clone(),
        );
        let (settings, outcome) = match loaded {
            Ok(settings) => (settings, Ok(())),
            Err(error) => (Settings::default(), Err(error.to_string())),
        };
        (Self { cli, settings }, outcome)
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
            self.settings.get(&settings::KEYCHAIN_TIMEOUT),
        )
    }

    /// What the window needs: the worker's setup and the start-up options.
    pub fn gui_setup(&self) -> Result<(WorkerSetup, UiOptions), String> {
        let cli = &self.cli;
        if cli.name.is_some() && cli.device.len() > 1 {
            return Err("--name goes with a single --device".into());
        }
        let devices = cli
            .device
            .iter()
            .map(|text| DeviceId::parse(text).map(|id| (id, cli.name.clone())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let settings = &self.settings;
        let choice = self.choice()?;
        let on_this_machine = choice.force_demo
            || choice.demo_fallback
            || c2c_pair::c2c::profile::is_loopback(&choice.profile.api_base);
        let setup = WorkerSetup {
            choice,
            keychain: self.keychain(),
            registry: self.registry()?,
            heartbeat_every: self.heartbeat_every(on_this_machine),
            uploads: UploadSetup {
                options: self.upload_options(false),
                test_clip_note: settings.get(&settings::UPLOAD_TEST_CLIP_NOTE),
            },
        };
        let options = UiOptions {
            devices,
            presenter: settings.get(&settings::PRESENTER_START),
            linger: settings.get(&settings::PRESENTER_LINGER),
            booth_wifi: settings.booth_wifi(),
            report_dir: settings.get(&settings::REPORT_DIR),
            config_file: settings.file.clone(),
        };
        Ok((setup, options))
    }

    /// Seconds between heartbeats: the setting, within Frame.io's 60–300 s (from 1 s for a
    /// server `on_this_machine`); a warning in the log when it had to be changed.
    pub fn heartbeat_every(&self, on_this_machine: bool) -> std::time::Duration {
        let wanted = self.settings.get(&settings::HEARTBEAT_INTERVAL);
        let (every, warning) = c2c_pair::device::heartbeat_interval(wanted, on_this_machine);
        if let Some(warning) = warning {
            tracing::warn!("{warning}");
        }
        every
    }

    /// How uploads are made: the settings' stall timeout and idle time, records kept in the
    /// state directory (none without one: nothing can be resumed, and the log says so).
    pub fn upload_options(&self, until_closed: bool) -> UploadOptions {
        let resume = ResumeStore::default_location();
        if resume.is_none() {
            tracing::warn!("no state directory: uploads cannot be resumed");
        }
        UploadOptions {
            stall: self.settings.get(&settings::UPLOAD_STALL_TIMEOUT),
            realtime: RealtimeOptions {
                idle: self.settings.get(&settings::UPLOAD_REALTIME_IDLE),
                until_closed,
            },
            resume,
            parallel_parts: usize::try_from(self.settings.get(&settings::UPLOAD_PARALLEL_PARTS))
                .unwrap_or(1),
            ..UploadOptions::default()
        }
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
            force_demo: self.cli.service.demo,
            demo_fallback: self.settings.api_base().is_none(),
            demo: DemoConfig {
                listen: self.settings.get(&settings::DEMO_LISTEN),
                ..DemoConfig::default()
            },
            env_secret,
        })
    }
}

/// A backend that could not be set up, in words, with the command that fixes it.
pub fn backend_message(error: &BackendError) -> String {
    match error {
        BackendError::NoSecret { .. } => format!(
            "{error}. Store it with `c2c-pair secret set`, or set {CLIENT_SECRET_ENV}; --demo \
             uses the built-in demo server"
        ),
        BackendError::EnvSecretElsewhere { host, .. } => format!(
            "{error}. Store one with `c2c-pair secret set --api-base …`, or point --api-base at \
             {host}"
        ),
        other => other.to_string(),
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

/// Resolves on Ctrl-C, or (on Unix) SIGTERM — what `timeout` and service managers send — or
/// SIGHUP (the terminal closed): the command then stops as on Cancel, tidying up (an upload
/// keeps what was sent for `--resume`; the demo server removes its received media).
///
/// The signals are taken over when this is called, not when the future is first awaited, so
/// that a signal sent right after the command said it runs is not fatal.
pub fn stop_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate())
            .ok()
            .zip(signal(SignalKind::hangup()).ok())
    };
    async move {
        #[cfg(unix)]
        if let Some((mut term, mut hangup)) = signals {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hangup.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Prints an error for the user on stderr.
pub fn report(message: &str) {
    err!("c2c-pair: {message}");
}

/// Runs one headless command to its exit code.
pub async fn run(invocation: &Invocation, command: Command) -> ExitCode {
    match command {
        Command::Pair { device, name, json } => {
            pair::run(invocation, &device, name.as_deref(), json).await
        }
        Command::Status { device, json, csv } => {
            fleet::status(invocation, device.as_deref(), json, csv)
        }
        Command::Token { device } => fleet::token(invocation, &device).await,
        Command::Refresh { device, json } => fleet::refresh(invocation, &device, json).await,
        Command::Unpair {
            device,
            local,
            json,
        } => fleet::unpair(invocation, &device, local, json).await,
        Command::Handoff {
            device,
            exec,
            output,
            print: _,
            yes,
            json,
        } => {
            // clap insists on one of --exec, --output and --print.
            let target = match (exec.as_deref(), output.as_deref()) {
                (Some(line), _) => handoff::Target::Exec(line),
                (None, Some(file)) => handoff::Target::Output(file),
                (None, None) => handoff::Target::Print { yes },
            };
            handoff::run(invocation, &device, target, json).await
        }
        Command::Upload {
            device,
            paths,
            realtime,
            until_closed,
            resume,
            no_note,
            json,
        } => {
            let args = upload::UploadArgs {
                device,
                paths,
                realtime,
                until_closed,
                resume,
                json,
                no_note,
            };
            upload::run(invocation, &args).await
        }
        Command::Comment {
            device,
            asset,
            text,
            frame,
            json,
        } => comment::run(invocation, &device, &asset, &text, frame, json).await,
        Command::Doctor => doctor::run(invocation).await,
        Command::DemoServer {
            listen,
            interval,
            expires_in,
        } => server::run(listen, interval, expires_in).await,
        Command::Secret {
            action: SecretAction::Set,
        } => secret::set(invocation).await,
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
        Command::Config { action } => config_command(invocation, action),
    }
}

/// `c2c-pair config show|path|docs`.
fn config_command(invocation: &Invocation, action: ConfigAction) -> ExitCode {
    let settings = &invocation.settings;
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
        ConfigAction::Docs => out!("{}", settings::reference().trim_end()),
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
