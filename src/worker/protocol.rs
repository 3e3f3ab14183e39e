//! The worker's protocol: the commands the window sends, the events it gets back, and what
//! the worker needs to start.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::backend::BackendChoice;
use crate::demo::{Reach, StrainWatch};
use crate::device::upload::{QueueStatus, UploadOptions};
use crate::device::{self, DeviceId, PairEvent, PairedDevice};
use crate::keychain::Keychain;
use crate::registry::{DeviceKey, DeviceRecord, Registry};
use crate::report;

/// How often each paired device sends a heartbeat unless the settings say otherwise.
pub const HEARTBEAT_EVERY: Duration = crate::settings::DEFAULT_HEARTBEAT;

/// An operation on one paired device: one at a time per device, each with its
/// [`Busy`] while it runs (heartbeats aside, which go on beside an upload).
#[derive(Debug)]
pub enum DeviceOp {
    /// Refresh its tokens now.
    Refresh,
    /// Ask the server whether it is still paired, and to which project.
    Check,
    /// Revoke its credentials at the server and forget it.
    Unpair,
    /// Forget it on this computer only, without the server.
    Forget,
    /// Send files and folders, one after another (none: the shipped test clip); status comes
    /// back as [`Event::Uploads`].
    Upload {
        /// Files and folders.
        files: Vec<PathBuf>,
        /// Continue the device's unfinished uploads first (with no files: only those).
        resume: bool,
    },
    /// Comment on an uploaded asset, as the device.
    AddNote {
        /// The asset.
        asset_id: String,
        /// The comment.
        text: String,
    },
    /// Hand its pairing to the device: run the command with its credentials (JSON) on
    /// standard input; only when it exits 0, forget them here and mark it handed off.
    HandOff {
        /// The command line, run through the shell. It may hold secrets of its own, so it is
        /// kept as one (never logged, `Debug` hides it).
        command: SecretString,
    },
}

impl DeviceOp {
    /// What the device shows while it runs.
    pub fn busy(&self) -> Busy {
        match self {
            Self::Refresh => Busy::Refreshing,
            Self::Check => Busy::Checking,
            Self::Unpair => Busy::Unpairing,
            Self::Forget => Busy::Forgetting,
            Self::Upload { .. } => Busy::Uploading,
            Self::AddNote { .. } => Busy::AddingNote,
            Self::HandOff { .. } => Busy::HandingOff,
        }
    }
}

/// What a device is doing, as its row shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Busy {
    /// Refreshing its tokens.
    Refreshing,
    /// Asking the server about it.
    Checking,
    /// Unpairing.
    Unpairing,
    /// Being forgotten here.
    Forgetting,
    /// Its upload queue runs.
    Uploading,
    /// A note is being added to an asset.
    AddingNote,
    /// Its pairing is being handed off.
    HandingOff,
}

impl Busy {
    /// The words its row shows.
    pub fn label(self) -> &'static str {
        match self {
            Self::Refreshing => "refreshing…",
            Self::Checking => "checking…",
            Self::Unpairing => "unpairing…",
            Self::Forgetting => "forgetting…",
            Self::Uploading => "uploading…",
            Self::AddingNote => "adding a note…",
            Self::HandingOff => "handing off…",
        }
    }
}

/// How to steer the operation under way on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpControl {
    /// Stop it (an upload keeps what was sent; a hand-off's command is killed, the laptop
    /// keeps the pairing). The device stays busy until the operation has stopped.
    Cancel,
    /// End a wait under way (back-off, a paused device, the network) and try at once.
    TryNow,
    /// Take one file out of the upload queue (the one under way stops; what was sent is
    /// kept to resume).
    CancelFile(usize),
    /// Send one file of the upload queue again once the files before it are done.
    RetryFile(usize),
}

/// What the UI asks for.
#[derive(Debug)]
pub enum Command {
    /// Start pairing a device. `run` tags every event of this run.
    Pair {
        /// Chosen by the UI; events carry it back.
        run: u64,
        /// The device to pair.
        device_id: DeviceId,
        /// Its display name.
        name: Option<String>,
        /// Its own firmware version, sent as `x-client-version` and kept with it (none: the
        /// setting's).
        firmware: Option<String>,
        /// Asked by presenter mode: on the demo server, keep nothing (pair for show).
        presenter: bool,
    },
    /// Stop a pairing run.
    Cancel {
        /// The run to stop.
        run: u64,
    },
    /// Try again to save tokens that could not be saved.
    RetrySave {
        /// The run whose tokens wait.
        run: u64,
    },
    /// Store the client secret for the configured service and switch to it.
    SaveClientSecret(SecretString),
    /// Start an operation on a paired device (refused, with a notice, while another runs).
    Device {
        /// The device.
        key: DeviceKey,
        /// What to do.
        op: DeviceOp,
    },
    /// Steer the operation under way on a device (ignored when none runs).
    Control {
        /// The device.
        key: DeviceKey,
        /// What to do with it.
        ctl: OpControl,
    },
    /// Read a list of devices (CSV) from a file dropped on the window.
    Import(PathBuf),
    /// Write the pairing report (CSV and JSON) into this folder.
    ExportReport(PathBuf),
    /// Gather diagnostics (answered with [`Event::Diagnostics`]).
    Diagnose,
    /// Forget every device paired with a demo server that is gone.
    ForgetGoneDemo,
}

/// Where pairing goes, as the UI should show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The embedded demo server.
    Demo {
        /// Its approval page.
        approval_url: String,
        /// Why demo mode was chosen against a configured secret, if so.
        warning: Option<String>,
        /// Who can open the approval page.
        reach: Reach,
        /// Whether the server is turning connections away (for booth staff).
        strain: StrainWatch,
    },
    /// A real service.
    Live {
        /// Its API base.
        api_base: String,
    },
}

/// How a pairing run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Paired and saved.
    Paired(PairedDevice),
    /// Cancelled by the user.
    Cancelled,
    /// Failed; `message` says why and what to do.
    Failed {
        /// Exit-code family of the failure.
        kind: device::FailureKind,
        /// What happened and what to do.
        message: String,
        /// The tokens exist but are not saved; [`Command::RetrySave`] can save them.
        can_retry_save: bool,
        /// What the user must fix, for the window to say where.
        remedy: Option<device::Remedy>,
    },
}

/// What the worker tells the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The backend is ready.
    Ready(Mode),
    /// No backend could be set up.
    StartFailed(String),
    /// Progress of a pairing run.
    Progress {
        /// The run.
        run: u64,
        /// What happened.
        event: PairEvent,
    },
    /// A pairing run ended.
    Finished {
        /// The run.
        run: u64,
        /// How.
        end: RunEnd,
    },
    /// Result of saving the client secret.
    SecretSaved(Result<(), String>),
    /// The whole device list, after any change.
    Fleet(Vec<DeviceView>),
    /// Something the user should read (an action's result, a registry problem).
    Notice(String),
    /// The text of an imported device list.
    Imported(String),
    /// A device's upload queue as it stands (at most four a second, and its end).
    Uploads(DeviceKey, QueueStatus),
    /// The pairing report was written (or why not).
    ReportWritten(Result<report::Written, String>),
    /// Whether the server can be reached changed.
    Network(NetworkStatus),
    /// The diagnostics text, secrets removed.
    Diagnostics(String),
}

/// How a device is doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Paired; no heartbeat answered yet in this run.
    Paired,
    /// The last heartbeat went through.
    Online,
    /// The last heartbeat failed for a reason that may pass (network, server).
    Offline {
        /// What went wrong.
        reason: String,
    },
    /// The server refused the credentials: pair again.
    NeedsRepairing {
        /// What the server said.
        reason: String,
    },
    /// Unpairing waits for the server.
    UnpairPending {
        /// Why the last attempt failed.
        reason: String,
    },
    /// Its credentials were handed to the device: nothing here uses them any more.
    HandedOff {
        /// When, Unix seconds.
        at: u64,
    },
    /// Paired with a built-in demo server that has stopped since: the pairing went with it.
    DemoGone,
}

impl Status {
    /// A short badge text.
    pub fn badge(&self) -> &'static str {
        match self {
            Self::Paired => "paired",
            Self::Online => "online",
            Self::Offline { .. } => "offline",
            Self::NeedsRepairing { .. } => "needs re-pairing",
            Self::UnpairPending { .. } => "unpair pending",
            Self::HandedOff { .. } => "handed off",
            Self::DemoGone => "demo server gone",
        }
    }
}

/// One device in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    /// What the registry says.
    pub record: DeviceRecord,
    /// How it is doing.
    pub status: Status,
    /// The day-12 warning, if due.
    pub warning: Option<String>,
    /// The operation under way, if any.
    pub busy: Option<Busy>,
}

/// What the indicator shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkStatus {
    /// The server, as people call it ("api.frame.io", "the built-in demo server").
    pub server: String,
    /// `None` when it answered; else why it could not be reached.
    pub problem: Option<NetworkProblem>,
}

/// Why the server could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkProblem {
    /// In plain words.
    pub text: String,
    /// The sign-in page of a captive portal that answers for the server, when one does.
    pub sign_in: Option<String>,
}

impl NetworkProblem {
    /// The problem `error` stands for.
    pub fn of(error: &crate::c2c::ClientError) -> Self {
        Self {
            text: error.to_string(),
            sign_in: error.sign_in_page().map(str::to_owned),
        }
    }
}

/// Called after each event so the UI wakes up (e.g. `egui::Context::request_repaint`).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Everything the worker needs to start.
#[derive(Debug, Clone)]
pub struct WorkerSetup {
    /// Which server to pair against.
    pub choice: BackendChoice,
    /// Where secrets live.
    pub keychain: Keychain,
    /// Where the device list lives.
    pub registry: Registry,
    /// Time between heartbeat rounds.
    pub heartbeat_every: Duration,
    /// How uploads are made.
    pub uploads: UploadSetup,
}

/// How the window's uploads are made.
#[derive(Debug, Clone)]
pub struct UploadSetup {
    /// Stall timeout, retries, part size; where upload records are kept (with none, nothing
    /// is resumed, on start or otherwise).
    pub options: UploadOptions,
    /// The test clip carries the "Rig check from …" note.
    pub test_clip_note: bool,
}

impl Default for UploadSetup {
    /// Default options, keeping no records (tests; the app sets a state directory).
    fn default() -> Self {
        Self {
            options: UploadOptions::default(),
            test_clip_note: true,
        }
    }
}
