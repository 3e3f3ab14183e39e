//! The background side of the GUI: a tokio runtime on its own named thread.
//!
//! Commands come in from the UI; events go out on a channel the UI drains each frame,
//! followed by a repaint request, so the UI never blocks and never repaints for nothing.
//!
//! Besides pairing, the worker keeps the fleet alive while the app runs: a heartbeat round
//! every two minutes (which also refreshes tokens near expiry and retries pending unpairs),
//! and refresh and unpair on request.

mod fleet;
mod network;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use tokio::sync::mpsc as tokio_mpsc;
use tokio_util::sync::CancellationToken;

pub use fleet::{DeviceKey, DeviceView, Status};

use crate::backend::{self, Backend, BackendChoice};
use crate::c2c::PollStatus;
use crate::demo::Reach;
use crate::device::{
    self, Context, DeviceId, LifecycleError, PairError, PairEvent, PairOutcome, PairedDevice,
    UnsavedTokens,
};
use crate::diagnostics;
use crate::import;
use crate::keychain::{Keychain, unix_seconds};
use crate::registry::{DeviceRecord, DeviceState, Registry};
use crate::report;
use fleet::{Observed, key_of};
pub use network::NetworkStatus;

/// How often each paired device sends a heartbeat unless the settings say otherwise.
pub const HEARTBEAT_EVERY: Duration = crate::settings::DEFAULT_HEARTBEAT;

/// What the UI asks for.
#[derive(Debug)]
pub enum Command {
    /// Start pairing a device. `attempt` tags every event of this run.
    Pair {
        /// Chosen by the UI; events carry it back.
        attempt: u64,
        /// The device to pair.
        device_id: DeviceId,
        /// Its display name.
        name: Option<String>,
        /// Asked by presenter mode: on the demo server, keep nothing (pair for show).
        presenter: bool,
    },
    /// Stop a pairing run.
    Cancel {
        /// The run to stop.
        attempt: u64,
    },
    /// Try again to save tokens that could not be saved.
    RetrySave {
        /// The run whose tokens wait.
        attempt: u64,
    },
    /// Store the client secret for the configured service and switch to it.
    SaveClientSecret(SecretString),
    /// Refresh a paired device's tokens now.
    Refresh(DeviceKey),
    /// Revoke a device's credentials and forget it.
    Unpair(DeviceKey),
    /// Forget a device on this computer only, without the server.
    Forget(DeviceKey),
    /// Read a list of devices (CSV) from a file dropped on the window.
    Import(PathBuf),
    /// Send the shipped test clip from a paired device.
    Upload(DeviceKey),
    /// Stop a test upload.
    CancelUpload(DeviceKey),
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
    },
}

/// What the worker tells the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The backend is ready.
    Ready(Mode),
    /// No backend could be set up.
    StartFailed(String),
    /// Progress of a pairing run.
    Progress {
        /// The run.
        attempt: u64,
        /// What happened.
        event: PairEvent,
    },
    /// A pairing run ended.
    Finished {
        /// The run.
        attempt: u64,
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
    /// How far a test upload has come (sent at each whole percent).
    UploadProgress(DeviceKey, device::Progress),
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
}

/// Handle to the worker thread. Dropping it stops the worker.
pub struct Worker {
    commands: tokio_mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<Event>,
}

impl Worker {
    /// Starts the worker thread with its runtime; it sets up the backend at once.
    pub fn spawn(setup: WorkerSetup, wake: Wake) -> std::io::Result<Self> {
        let (commands, command_rx) = tokio_mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("c2c-runtime")
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("c2c-worker".into())
            .spawn(move || {
                let outbox = Outbox {
                    events: event_tx,
                    wake,
                };
                runtime.block_on(run(setup, command_rx, outbox));
                // Tasks still running are dropped with the runtime; a hung keychain call
                // lives on its own thread and does not hold this up.
                runtime.shutdown_background();
            })?;
        Ok(Self { commands, events })
    }

    /// Sends a command; ignored if the worker has stopped.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// The next event, if one is waiting. Never blocks.
    pub fn try_recv(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }
}

#[derive(Clone)]
struct Outbox {
    events: mpsc::Sender<Event>,
    wake: Wake,
}

impl Outbox {
    fn send(&self, event: Event) {
        if self.events.send(event).is_ok() {
            (self.wake)();
        }
    }

    /// Queues an event without waking the window: it is read on the next frame, which a
    /// code's countdown brings within a second. For "still waiting" polls, so a waiting code
    /// costs one frame a second, not one more per poll.
    fn send_quietly(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

/// Tokens waiting for a successful save, by pairing run.
type Unsaved = Arc<Mutex<HashMap<u64, UnsavedTokens>>>;

fn lock(unsaved: &Unsaved) -> std::sync::MutexGuard<'_, HashMap<u64, UnsavedTokens>> {
    unsaved.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Refreshed tokens the keychain refused, by device. The keychain still holds the spent set,
/// so nothing else may use that device until these are saved.
type Held = Arc<Mutex<HashMap<DeviceKey, UnsavedTokens>>>;

fn held_lock(held: &Held) -> std::sync::MutexGuard<'_, HashMap<DeviceKey, UnsavedTokens>> {
    held.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Saves any held tokens of a device; `false` while the keychain still refuses them.
async fn save_held(held: &Held, key: &DeviceKey, keychain: &Keychain) -> bool {
    let tokens = held_lock(held).remove(key);
    let Some(tokens) = tokens else { return true };
    match tokens.save(keychain).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(device = %key.0, %error, "held tokens still cannot be saved");
            held_lock(held).insert(key.clone(), tokens);
            false
        }
    }
}

/// What a failed operation means for the user, holding on to tokens a refresh could not save.
fn rescue(error: LifecycleError, key: &DeviceKey, held: &Held) -> String {
    match error {
        LifecycleError::SaveFailed { unsaved, error, .. } => {
            held_lock(held).insert(key.clone(), *unsaved);
            format!(
                "{}: refreshed, but the keychain refused the new credentials ({error}). They are \
                 kept in memory and saved as soon as the keychain accepts them; unlock it.",
                key.0
            )
        }
        other => other.to_string(),
    }
}

/// What a task needs to get a recorded device's context (see `State::context_source`).
struct ContextSource {
    known: Option<Arc<Backend>>,
    setup: WorkerSetup,
    reports: tokio_mpsc::UnboundedSender<Report>,
}

impl ContextSource {
    /// The device's context: its server as known, or found now (its client secret read from
    /// the keychain) and reported back to be kept.
    async fn context(self, record: &DeviceRecord) -> Result<Context, String> {
        let backend = if let Some(backend) = self.known {
            backend
        } else {
            let found = Backend::for_record(&self.setup.choice, record, &self.setup.keychain)
                .await
                .map_err(|e| format!("{}: {e}", record.device_id))?;
            let found = Arc::new(found);
            let _ = self.reports.send(Report::ServerFound(
                record.keychain_host.clone(),
                found.clone(),
            ));
            found
        };
        Ok(Context {
            backend,
            keychain: self.setup.keychain,
            registry: self.setup.registry,
        })
    }
}

/// What background tasks report back to the worker's loop.
enum Report {
    /// A pairing run ended (the registry may have a new device).
    RunEnded(u64),
    /// A heartbeat ended: `None` when it went through, else why not.
    Heartbeat(DeviceKey, Option<String>),
    /// A round for a server without heartbeats kept the tokens fresh: nothing to show.
    KeptAlive(DeviceKey),
    /// The client secret was saved and the backend set up anew (or why not): new pairings
    /// use it (and leave demo mode); running ones finish with the backend they started with.
    Reconnected(Box<Result<Backend, String>>),
    /// The server of a device paired elsewhere, found by a task: kept for the next time.
    ServerFound(String, Arc<Backend>),
    /// A requested action ended, with a line for the user.
    ActionDone(DeviceKey, String),
}

async fn run(
    setup: WorkerSetup,
    mut commands: tokio_mpsc::UnboundedReceiver<Command>,
    outbox: Outbox,
) {
    let Some(backend) = connect(setup.choice.clone(), &setup.keychain, &outbox).await else {
        return;
    };
    let (reports, mut report_rx) = tokio_mpsc::unbounded_channel();
    let (network, watched) = tokio::sync::watch::channel(network::target(&backend));
    tokio::spawn(network::watch_reachability(watched, outbox.clone()));
    let mut worker = State {
        network,
        backend: Arc::new(backend),
        other_servers: HashMap::new(),
        observed: Observed::default(),
        heartbeats_in_flight: HashSet::new(),
        fleet_sent_at: std::time::Instant::now(),
        held: Held::default(),
        runs: HashMap::new(),
        uploads: HashMap::new(),
        unsaved: Unsaved::default(),
        reports,
        outbox,
        setup,
    };
    worker.send_fleet();
    let mut ticker = tokio::time::interval(worker.setup.heartbeat_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => worker.handle(command).await,
                None => break,
            },
            Some(report) = report_rx.recv() => worker.take(report),
            _ = ticker.tick() => worker.heartbeat_round(),
        }
    }
    #[expect(
        clippy::iter_over_hash_type,
        reason = "every run is cancelled; the order does not matter"
    )]
    for cancel in worker.runs.values() {
        cancel.cancel();
    }
}

/// The worker loop's state.
struct State {
    setup: WorkerSetup,
    /// The server new pairings go to.
    backend: Arc<Backend>,
    /// Servers of recorded devices paired elsewhere, by keychain host.
    other_servers: HashMap<String, Arc<Backend>>,
    observed: Observed,
    heartbeats_in_flight: HashSet<DeviceKey>,
    /// When the device list was last sent to the window.
    fleet_sent_at: std::time::Instant,
    /// Tokens a refresh produced but could not save, by device.
    held: Held,
    runs: HashMap<u64, CancellationToken>,
    uploads: HashMap<DeviceKey, CancellationToken>,
    unsaved: Unsaved,
    reports: tokio_mpsc::UnboundedSender<Report>,
    outbox: Outbox,
    /// The server the network indicator watches.
    network: tokio::sync::watch::Sender<network::Target>,
}

impl State {
    async fn handle(&mut self, command: Command) {
        match command {
            Command::Pair {
                attempt,
                device_id,
                name,
                presenter,
            } => {
                let for_show = presenter && self.backend.is_demo();
                let cancel = CancellationToken::new();
                self.runs.insert(attempt, cancel.clone());
                tokio::spawn(
                    self.pair_run(attempt)
                        .pair(device_id, name, for_show, cancel),
                );
            }
            Command::Cancel { attempt } => {
                if let Some(cancel) = self.runs.remove(&attempt) {
                    cancel.cancel();
                }
            }
            Command::RetrySave { attempt } => {
                let tokens = lock(&self.unsaved).remove(&attempt);
                if let Some(tokens) = tokens {
                    tokio::spawn(self.pair_run(attempt).retry_save(tokens));
                }
            }
            Command::SaveClientSecret(secret) => {
                // Saving and reconnecting wait on the keychain: a task does both and reports
                // the new backend back, so the loop goes on serving Cancel and the rest.
                let (setup, outbox) = (self.setup.clone(), self.outbox.clone());
                let reports = self.reports.clone();
                tokio::spawn(async move {
                    let saved =
                        backend::save_client_secret(&setup.keychain, &setup.choice.profile, secret)
                            .await;
                    let reconnect = saved.is_ok();
                    outbox.send(Event::SecretSaved(saved.map_err(|e| e.to_string())));
                    if reconnect {
                        let next = Backend::connect(setup.choice, &setup.keychain)
                            .await
                            .map_err(|e| e.to_string());
                        let _ = reports.send(Report::Reconnected(Box::new(next)));
                    }
                });
            }
            Command::Import(path) => {
                let outbox = self.outbox.clone();
                tokio::spawn(async move { import_file(&path, &outbox).await });
            }
            Command::Upload(key) => {
                let cancel = CancellationToken::new();
                self.uploads.insert(key.clone(), cancel.clone());
                self.act(key, "uploading the test clip…", Action::Upload(cancel));
            }
            Command::ExportReport(dir) => {
                let (registry, outbox) = (self.setup.registry.clone(), self.outbox.clone());
                tokio::task::spawn_blocking(move || {
                    let written = registry.load().map_err(|e| e.to_string()).and_then(|l| {
                        let devices: Vec<&DeviceRecord> = l.devices.iter().collect();
                        report::write_files(&dir, &devices, unix_seconds(SystemTime::now()))
                    });
                    outbox.send(Event::ReportWritten(written));
                });
            }
            Command::Diagnose => {
                let (setup, outbox) = (self.setup.clone(), self.outbox.clone());
                tokio::spawn(async move {
                    let subject = diagnostics::Subject {
                        choice: &setup.choice,
                        keychain: &setup.keychain,
                        registry: &setup.registry,
                    };
                    let found = diagnostics::gather(&subject).await;
                    outbox.send(Event::Diagnostics(found.text));
                });
            }
            Command::CancelUpload(key) => {
                if let Some(cancel) = self.uploads.remove(&key) {
                    cancel.cancel();
                }
            }
            Command::Refresh(key) => self.act(key, "refreshing…", Action::Refresh),
            Command::Unpair(key) => self.act(key, "unpairing…", Action::Unpair),
            Command::Forget(key) => self.forget(key),
        }
    }

    /// Forgets a device here: no server, so no context (a server that is gone or a record
    /// that is wrong must not stand in the way).
    fn forget(&mut self, key: DeviceKey) {
        let Some(record) = self.record(&key) else {
            return;
        };
        held_lock(&self.held).remove(&key);
        self.observed.busy.insert(key.clone(), "forgetting…");
        self.send_fleet();
        let (keychain, registry) = (self.setup.keychain.clone(), self.setup.registry.clone());
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let line = match device::forget(&keychain, &registry, &record).await {
                Ok(()) => format!(
                    "{} forgotten on this computer; the server was not asked.",
                    record.device_id
                ),
                Err(error) => error.to_string(),
            };
            let _ = reports.send(Report::ActionDone(key, line));
        });
    }

    fn pair_run(&self, attempt: u64) -> PairRun {
        PairRun {
            context: Context {
                backend: self.backend.clone(),
                keychain: self.setup.keychain.clone(),
                registry: self.setup.registry.clone(),
            },
            attempt,
            outbox: self.outbox.clone(),
            unsaved: self.unsaved.clone(),
            reports: self.reports.clone(),
        }
    }

    fn take(&mut self, report: Report) {
        let notice = match report {
            Report::RunEnded(attempt) => {
                self.runs.remove(&attempt);
                None
            }
            Report::KeptAlive(key) => {
                self.heartbeats_in_flight.remove(&key);
                return;
            }
            Report::Reconnected(next) => {
                match *next {
                    Ok(next) => {
                        self.network.send_replace(network::target(&next));
                        // Ready only now: a pairing started on it goes to the new backend.
                        self.outbox.send(Event::Ready(mode_of(&next)));
                        self.backend = Arc::new(next);
                        self.other_servers.clear();
                    }
                    Err(error) => self.outbox.send(Event::StartFailed(error)),
                }
                return;
            }
            Report::ServerFound(host, backend) => {
                self.other_servers.insert(host, backend);
                return;
            }
            Report::Heartbeat(key, outcome) => {
                self.heartbeats_in_flight.remove(&key);
                self.observed.heartbeats.insert(key, outcome);
                // A round's results go out together (or once a second while one is slow):
                // twenty devices, one repaint.
                let round_on = !self.heartbeats_in_flight.is_empty();
                if round_on && self.fleet_sent_at.elapsed() < Duration::from_secs(1) {
                    return;
                }
                None
            }
            Report::ActionDone(key, line) => {
                self.observed.busy.remove(&key);
                self.uploads.remove(&key);
                Some(line)
            }
        };
        // The list first, so that when the user reads "unpaired" the list already agrees.
        self.send_fleet();
        if let Some(line) = notice {
            self.outbox.send(Event::Notice(line));
        }
    }

    /// Sends the device list as the registry has it now.
    fn send_fleet(&mut self) {
        self.fleet_sent_at = std::time::Instant::now();
        match self.setup.registry.load() {
            Ok(loaded) => {
                if let Some(note) = loaded.moved_aside {
                    self.outbox.send(Event::Notice(note));
                }
                self.outbox
                    .send(Event::Fleet(self.observed.views(loaded.devices)));
            }
            Err(error) => self.outbox.send(Event::Notice(error.to_string())),
        }
    }

    fn record(&self, key: &DeviceKey) -> Option<DeviceRecord> {
        let devices = self.setup.registry.load().ok()?.devices;
        devices.into_iter().find(|d| d.is(&key.0, &key.1))
    }

    /// Where a recorded device's context comes from: its server when this worker already
    /// knows it, else what a task needs to find it (reading a client secret can hang on the
    /// keychain, so it never happens in the loop).
    fn context_source(&self, record: &DeviceRecord) -> ContextSource {
        let known = if record.keychain_host == self.backend.client.profile().keychain_host() {
            Some(self.backend.clone())
        } else {
            self.other_servers.get(&record.keychain_host).cloned()
        };
        ContextSource {
            known,
            setup: self.setup.clone(),
            reports: self.reports.clone(),
        }
    }

    fn act(&mut self, key: DeviceKey, busy: &'static str, action: Action) {
        let Some(record) = self.record(&key) else {
            self.outbox.send(Event::Notice(format!(
                "{} is no longer in the device list",
                key.0
            )));
            return;
        };
        let source = self.context_source(&record);
        self.observed.busy.insert(key.clone(), busy);
        self.send_fleet();
        let reports = self.reports.clone();
        let held = self.held.clone();
        let outbox = self.outbox.clone();
        tokio::spawn(async move {
            let context = match source.context(&record).await {
                Ok(context) => context,
                Err(message) => {
                    let _ = reports.send(Report::ActionDone(key, message));
                    return;
                }
            };
            if !save_held(&held, &key, &context.keychain).await {
                let line = format!(
                    "{}: the keychain still refuses its new credentials; unlock it first.",
                    key.0
                );
                let _ = reports.send(Report::ActionDone(key, line));
                return;
            }
            let line = match action {
                Action::Refresh => match device::refresh(&context, &record).await {
                    Ok(_) => format!("{} refreshed.", record.device_id),
                    Err(error) => rescue(error, &key, &held),
                },
                Action::Unpair => match device::unpair(&context, &record).await {
                    Ok(done) => match done.note {
                        Some(note) => format!("{} unpaired: {note}.", record.device_id),
                        None => format!("{} unpaired.", record.device_id),
                    },
                    Err(error) => error.to_string(),
                },
                Action::Upload(cancel) => {
                    upload_test_clip(&context, &record, &key, &outbox, &cancel, &held).await
                }
            };
            let _ = reports.send(Report::ActionDone(key, line));
        });
    }

    /// One heartbeat per paired device (refreshing first when due), and a retry of each
    /// pending unpair. Devices that need re-pairing are left alone: no retry loops.
    fn heartbeat_round(&mut self) {
        let Ok(loaded) = self.setup.registry.load() else {
            return;
        };
        for record in loaded.devices {
            let key = key_of(&record);
            if self.observed.busy.contains_key(&key) || self.heartbeats_in_flight.contains(&key) {
                continue;
            }
            let chore = match record.state {
                DeviceState::Paired => Chore::Heartbeat,
                DeviceState::UnpairPending { .. } => Chore::RetryUnpair,
                DeviceState::NeedsRepairing { .. } => continue,
            };
            let source = self.context_source(&record);
            self.heartbeats_in_flight.insert(key.clone());
            let reports = self.reports.clone();
            let held = self.held.clone();
            tokio::spawn(async move {
                // No server or held tokens still unsaved: nothing to show this round.
                let context = match source.context(&record).await {
                    Ok(context) if save_held(&held, &key, &context.keychain).await => context,
                    _ => {
                        let _ = reports.send(Report::KeptAlive(key));
                        return;
                    }
                };
                let report = match chore {
                    Chore::Heartbeat => {
                        let beats = context.backend.client.profile().offers_heartbeat();
                        let problem = match device::heartbeat(&context, &record).await {
                            // Without heartbeats, "online" would be a guess: show "paired".
                            Ok(()) if !beats => {
                                let _ = reports.send(Report::KeptAlive(key));
                                return;
                            }
                            Ok(()) => None,
                            Err(error @ LifecycleError::SaveFailed { .. }) => {
                                Some(rescue(error, &key, &held))
                            }
                            Err(error) => Some(offline_reason(error)),
                        };
                        Report::Heartbeat(key, problem)
                    }
                    Chore::RetryUnpair => {
                        let outcome = device::unpair(&context, &record).await;
                        if let Err(error) = outcome {
                            tracing::info!(%error, "unpair still pending");
                        }
                        Report::Heartbeat(key, None)
                    }
                };
                let _ = reports.send(report);
            });
        }
    }
}

/// Largest device list read from a file.
const MAX_IMPORT: u64 = 1024 * 1024;

async fn import_file(path: &Path, outbox: &Outbox) {
    let shown = path.display();
    let size = tokio::fs::metadata(path).await.map(|m| m.len());
    let read = match size {
        Ok(size) if size > MAX_IMPORT => Err(format!(
            "{shown} is larger than 1 MiB; is it a device list?"
        )),
        Ok(_) => tokio::fs::read(path)
            .await
            .map_err(|e| format!("{shown} could not be read: {e}")),
        Err(e) => Err(format!("{shown} could not be read: {e}")),
    };
    match read {
        Ok(bytes) => {
            let (text, problem) = import::decode(&bytes);
            if let Some(problem) = problem {
                outbox.send(Event::Notice(format!("{shown}: {problem}")));
            }
            outbox.send(Event::Imported(text));
        }
        Err(message) => outbox.send(Event::Notice(message)),
    }
}

/// Sends the test clip, forwarding progress at each whole percent; the line to show at the end.
async fn upload_test_clip(
    context: &Context,
    record: &DeviceRecord,
    key: &DeviceKey,
    outbox: &Outbox,
    cancel: &CancellationToken,
    held: &Held,
) -> String {
    let (progress, mut watcher) = tokio::sync::watch::channel(device::Progress::default());
    let forward = {
        let (outbox, key) = (outbox.clone(), key.clone());
        tokio::spawn(async move {
            let mut shown = None;
            while watcher.changed().await.is_ok() {
                let now = *watcher.borrow_and_update();
                let percent = now.sent.saturating_mul(100).checked_div(now.total);
                if percent != shown {
                    shown = percent;
                    outbox.send(Event::UploadProgress(key.clone(), now));
                }
            }
        })
    };
    let outcome = device::upload(
        context,
        record,
        device::Media::test_clip(),
        &progress,
        cancel,
    )
    .await;
    drop(progress);
    let _ = forward.await;
    match outcome {
        Ok(device::UploadOutcome::Done(done)) => format!(
            "{}: test clip uploaded ({} KB), asset {}.",
            record.device_id,
            done.bytes.div_ceil(1024),
            done.asset_id
        ),
        Ok(device::UploadOutcome::Cancelled) => {
            format!("{}: test upload cancelled.", record.device_id)
        }
        Err(error) => rescue(error, key, held),
    }
}

/// Why a device shows offline after a failed heartbeat: for a network failure, just what the
/// network said.
fn offline_reason(error: LifecycleError) -> String {
    match error {
        LifecycleError::Network { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}

/// What the user asked to be done to a device.
enum Action {
    Refresh,
    Unpair,
    /// Send the test clip, with progress and a way to cancel.
    Upload(CancellationToken),
}

/// What a heartbeat round does for a device.
#[derive(Clone, Copy)]
enum Chore {
    Heartbeat,
    RetryUnpair,
}

async fn connect(choice: BackendChoice, keychain: &Keychain, outbox: &Outbox) -> Option<Backend> {
    match Backend::connect(choice, keychain).await {
        Ok(backend) => {
            outbox.send(Event::Ready(mode_of(&backend)));
            Some(backend)
        }
        Err(error) => {
            outbox.send(Event::StartFailed(error.to_string()));
            None
        }
    }
}

/// What the window shows of a backend.
fn mode_of(backend: &Backend) -> Mode {
    match &backend.demo_server {
        Some(server) => Mode::Demo {
            approval_url: server.approval_url().to_string(),
            warning: backend.warning.clone(),
            reach: server.reach().clone(),
        },
        None => Mode::Live {
            api_base: backend.client.profile().api_base.to_string(),
        },
    }
}

/// One pairing run and what it needs.
struct PairRun {
    context: Context,
    attempt: u64,
    outbox: Outbox,
    unsaved: Unsaved,
    reports: tokio_mpsc::UnboundedSender<Report>,
}

impl PairRun {
    async fn pair(
        self,
        device_id: DeviceId,
        name: Option<String>,
        for_show: bool,
        cancel: CancellationToken,
    ) {
        let attempt = self.attempt;
        let outbox = self.outbox.clone();
        let progress = |event: PairEvent| {
            let routine = matches!(
                event,
                PairEvent::Polled {
                    status: PollStatus::Pending,
                    ..
                }
            );
            let event = Event::Progress { attempt, event };
            if routine {
                outbox.send_quietly(event);
            } else {
                outbox.send(event);
            }
        };
        let result = if for_show {
            device::pair_for_show(&self.context, &device_id, &cancel, progress).await
        } else {
            device::pair(
                &self.context,
                &device_id,
                name.as_deref(),
                &cancel,
                progress,
            )
            .await
        };
        let end = match result {
            Ok(PairOutcome::Paired(paired)) => RunEnd::Paired(paired),
            Ok(PairOutcome::Cancelled) => RunEnd::Cancelled,
            Err(error) => self.failed(error),
        };
        self.finish(end);
    }

    async fn retry_save(self, tokens: UnsavedTokens) {
        self.outbox.send(Event::Progress {
            attempt: self.attempt,
            event: PairEvent::Saving,
        });
        let end = match tokens.save(&self.context.keychain).await {
            Ok(()) => RunEnd::Paired(device::finish_pairing(&self.context, &tokens).await),
            Err(error) => self.failed(PairError::SaveFailed {
                error,
                unsaved: Box::new(tokens),
            }),
        };
        self.finish(end);
    }

    /// Turns an error into the run's end, keeping unsaved tokens for a retry.
    fn failed(&self, error: PairError) -> RunEnd {
        let kind = error.kind();
        let message = error.to_string();
        let can_retry_save = if let PairError::SaveFailed { unsaved, .. } = error {
            lock(&self.unsaved).insert(self.attempt, *unsaved);
            true
        } else {
            false
        };
        RunEnd::Failed {
            kind,
            message,
            can_retry_save,
        }
    }

    fn finish(&self, end: RunEnd) {
        self.outbox.send(Event::Finished {
            attempt: self.attempt,
            end,
        });
        let _ = self.reports.send(Report::RunEnded(self.attempt));
    }
}
