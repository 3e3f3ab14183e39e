//! The worker's protocol: the commands the window sends, the events it gets back, and what
//! the worker needs to start.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use super::{DeviceKey, DeviceView, NetworkStatus};
use crate::backend::BackendChoice;
use crate::demo::Reach;
use crate::device::upload::{QueueStatus, UploadOptions};
use crate::device::{self, DeviceId, PairEvent, PairedDevice};
use crate::keychain::Keychain;
use crate::registry::Registry;
use crate::report;

/// How often each paired device sends a heartbeat unless the settings say otherwise.
pub const HEARTBEAT_EVERY: Duration = crate::settings::DEFAULT_HEARTBEAT;

/// What a device's row says while its pairing is being handed off.
pub const HANDING_OFF: &str = "handing off…";

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
    /// Refresh a paired device's tokens now.
    Refresh(DeviceKey),
    /// Revoke a device's credentials and forget it.
    Unpair(DeviceKey),
    /// Forget a device on this computer only, without the server.
    Forget(DeviceKey),
    /// Hand a device's pairing to the device: run the command with its credentials (JSON) on
    /// standard input; only when it exits 0, forget them here and mark the device handed off.
    HandOff {
        /// The device.
        key: DeviceKey,
        /// The command line, run through the shell. It may hold secrets of its own, so it is
        /// kept as one (never logged, `Debug` hides it).
        command: SecretString,
    },
    /// Stop a hand-off under way (its command is killed; the laptop keeps the pairing).
    CancelHandOff(DeviceKey),
    /// Read a list of devices (CSV) from a file dropped on the window.
    Import(PathBuf),
    /// Send files and folders from a paired device, one after another (none: the shipped
    /// test clip). Status comes back as [`Event::Uploads`].
    Upload {
        /// The device.
        key: DeviceKey,
        /// Files and folders; empty for the test clip.
        files: Vec<PathBuf>,
    },
    /// Stop a device's upload queue; what was sent is kept to resume.
    CancelUpload(DeviceKey),
    /// End a wait in a device's upload queue (back-off, a paused device) and try at once.
    RetryUpload(DeviceKey),
    /// Take one file out of a device's running queue (the one under way stops; what was sent
    /// is kept to resume).
    CancelUploadFile {
        /// The device.
        key: DeviceKey,
        /// The file, as the queue's status numbers it.
        index: usize,
    },
    /// Send one file of a device's running queue again once the files before it are done.
    RetryUploadFile {
        /// The device.
        key: DeviceKey,
        /// The file, as the queue's status numbers it.
        index: usize,
    },
    /// Add a comment to an uploaded asset, as the device.
    AddNote {
        /// The device.
        key: DeviceKey,
        /// The asset.
        asset_id: String,
        /// The comment.
        text: String,
    },
    /// Write the pairing report (CSV and JSON) into this folder.
    ExportReport(PathBuf),
    /// Gather diagnostics (answered with [`Event::Diagnostics`]).
    Diagnose,
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
