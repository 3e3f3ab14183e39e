//! The background side of the GUI: a tokio runtime on its own named thread.
//!
//! Commands come in from the UI; events go out on a channel the UI drains each frame,
//! followed by a repaint request, so the UI never blocks and never repaints for nothing.
//!
//! Besides pairing, the worker keeps the fleet alive while the app runs: a heartbeat round
//! every two minutes (which also refreshes tokens near expiry and retries pending unpairs),
//! and refresh and unpair on request.

mod context;
mod errands;
mod fleet;
mod heartbeats;
mod held;
mod network;
mod ops;
mod protocol;
mod runs;
mod schedule;
mod server;
#[cfg(test)]
mod tests;
mod uploads;
mod wake;
mod work;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc as tokio_mpsc;
use tokio_util::sync::CancellationToken;

pub use crate::registry::DeviceKey;
pub use network::CHECK_EVERY;
pub use protocol::{
    Busy, Command, DeviceOp, DeviceView, Event, HEARTBEAT_EVERY, Mode, NetworkProblem,
    NetworkStatus, OpControl, RunEnd, Status, UploadSetup, Wake, WorkerSetup,
};

use crate::backend::{Backend, Connected};
use crate::demo::DemoServer;
use crate::device::{Context, UnsavedTokens};
use crate::registry::{DeviceRecord, Loaded};
use fleet::{AfterLoad, Observed};
use held::HeldSets;
use runs::PairRun;
use schedule::{Round, Schedule};
use server::{backend_message, connect, mode_of};
use work::{OpId, Work};

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

/// What background tasks report back to the worker's loop.
enum FromTask {
    /// A pairing run's tokens the keychain refused, kept for "Retry saving".
    Unsaved(u64, Box<UnsavedTokens>),
    /// A device's refreshed tokens the keychain refused, held until it accepts them.
    Held(DeviceKey, Box<UnsavedTokens>),
    /// A task saved the held tokens it took.
    HeldSaved(DeviceKey),
    /// A pairing run ended (the registry may have a new device: this one, when it was kept).
    RunEnded(u64, Option<DeviceKey>),
    /// A heartbeat ended: `None` when it went through, else why not.
    Heartbeat(DeviceKey, Option<String>),
    /// A round for a server without heartbeats kept the tokens fresh: nothing to show.
    KeptAlive(DeviceKey),
    /// The client secret was saved and the backend set up anew (or why not): new pairings
    /// use it (and leave demo mode); running ones finish with the backend they started with.
    Reconnected(Box<Result<Connected, String>>),
    /// The server of a device paired elsewhere, found by a task: kept for the next time.
    ServerFound(String, Arc<Backend>),
    /// An operation on a device ended (however it ended), with a line for the user.
    OpEnded {
        /// The device.
        key: DeviceKey,
        /// Which operation: only its own entry is cleared.
        id: OpId,
        /// What to tell the user.
        line: String,
    },
    /// Devices with unfinished uploads kept, found at start: continue them.
    Unfinished(Vec<DeviceKey>),
    /// The registry was read (the read's number, the list, what to do with it).
    Devices(u64, Result<Loaded, String>, AfterLoad),
}

async fn run(
    setup: WorkerSetup,
    mut commands: tokio_mpsc::UnboundedReceiver<Command>,
    outbox: Outbox,
) {
    let Some(Connected {
        backend,
        demo_server,
    }) = connect(setup.choice.clone(), &setup.keychain, &outbox).await
    else {
        return;
    };
    let (reports, mut report_rx) = tokio_mpsc::unbounded_channel();
    let (network, watched) = tokio::sync::watch::channel(network::target(&backend));
    let (seen, observations) = tokio_mpsc::unbounded_channel();
    tokio::spawn(network::watch_reachability(
        watched,
        observations,
        outbox.clone(),
    ));
    let mut worker = State {
        network,
        seen,
        backend: Arc::new(backend),
        demo_server: demo_server.map(Arc::new),
        other_servers: HashMap::new(),
        observed: Observed::default(),
        heartbeats_in_flight: HashSet::new(),
        schedule: Schedule::new(setup.heartbeat_every),
        fleet_sent_at: Instant::now(),
        devices: Vec::new(),
        fleet_loads: 0,
        fleet_shown_load: 0,
        held: HeldSets::default(),
        runs: HashMap::new(),
        work: Work::default(),
        #[cfg(test)]
        kept_ops: Vec::new(),
        unsaved: HashMap::new(),
        reports,
        outbox,
        setup,
    };
    worker.reload_fleet(AfterLoad::Show(None));
    let mut clocks = tokio::time::interval(wake::TICK);
    clocks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watch = wake::ClockWatch::new(SystemTime::now(), Instant::now());
    loop {
        tokio::select! {
            biased;
            // Tasks first: a run's unsaved tokens are in before the "Retry saving" it offers.
            Some(report) = report_rx.recv() => worker.take(report),
            command = commands.recv() => match command {
                Some(command) => worker.handle(command),
                None => break,
            },
            () = tokio::time::sleep_until(worker.schedule.next(Instant::now()).into()) => {
                worker.schedule.started();
                worker.reload_fleet(AfterLoad::HeartbeatRound(Round::Due));
            }
            _ = clocks.tick() => {
                if let Some(slept) = watch.slept(SystemTime::now(), Instant::now()) {
                    worker.woke(slept);
                }
            }
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
    /// The demo server it runs on, in demo mode: started here, so owned here, and lent to
    /// each pairing run on it (a run outlives a switch to another server).
    demo_server: Option<Arc<DemoServer>>,
    /// Servers of recorded devices paired elsewhere, by keychain host.
    other_servers: HashMap<String, Arc<Backend>>,
    observed: Observed,
    heartbeats_in_flight: HashSet<DeviceKey>,
    /// When each device's next heartbeat is due.
    schedule: Schedule,
    /// When the device list was last sent to the window.
    fleet_sent_at: Instant,
    /// The device list as last read from the registry.
    devices: Vec<DeviceRecord>,
    /// Registry reads started, and the latest one whose list is kept (reads run in tasks
    /// and may come back out of order).
    fleet_loads: u64,
    fleet_shown_load: u64,
    /// Tokens a refresh produced but could not save, by device.
    held: HeldSets,
    runs: HashMap<u64, CancellationToken>,
    /// What each device is doing.
    work: Work,
    /// Operations' tasks, kept instead of run (tests drive their ends).
    #[cfg(test)]
    kept_ops: Vec<(ops::OpTask, work::Ended)>,
    /// Tokens of pairing runs the keychain refused, by run.
    unsaved: HashMap<u64, UnsavedTokens>,
    reports: tokio_mpsc::UnboundedSender<FromTask>,
    outbox: Outbox,
    /// The server the network indicator watches.
    network: tokio::sync::watch::Sender<network::Target>,
    /// What real calls met, for the network indicator.
    seen: tokio_mpsc::UnboundedSender<network::Observation>,
}

impl State {
    fn handle(&mut self, command: Command) {
        match command {
            Command::Pair {
                run,
                device_id,
                name,
                firmware,
                presenter,
            } => {
                let for_show = presenter && self.backend.is_demo();
                let cancel = CancellationToken::new();
                self.runs.insert(run, cancel.clone());
                let asked = crate::import::Entry {
                    device_id,
                    name,
                    firmware,
                };
                tokio::spawn(self.pair_run(run).pair(asked, for_show, cancel));
            }
            Command::Cancel { run } => {
                if let Some(cancel) = self.runs.remove(&run) {
                    cancel.cancel();
                }
            }
            Command::RetrySave { run } => {
                let tokens = self.unsaved.remove(&run);
                if let Some(tokens) = tokens {
                    tokio::spawn(self.pair_run(run).retry_save(tokens));
                }
            }
            Command::SaveClientSecret(secret) => self.save_client_secret(secret),
            Command::Import(path) => self.import(path),
            Command::Device { key, op } => self.start(key, op),
            Command::Control { key, ctl } => self.work.control(&key, ctl),
            Command::ExportReport(dir) => self.export_report(dir),
            Command::Diagnose => self.diagnose(),
            Command::ForgetGoneDemo => {
                let gone: Vec<DeviceKey> = self
                    .devices
                    .iter()
                    .filter(|record| self.demo_gone(record))
                    .map(DeviceRecord::key)
                    .collect();
                for key in gone {
                    self.start_listed(key, DeviceOp::Forget);
                }
            }
        }
    }

    fn pair_run(&self, run: u64) -> PairRun {
        PairRun {
            context: Context {
                backend: self.backend.clone(),
                keychain: self.setup.keychain.clone(),
                registry: self.setup.registry.clone(),
            },
            run,
            outbox: self.outbox.clone(),
            reports: self.reports.clone(),
            seen: self.seen.clone(),
            _demo_server: self.demo_server.clone(),
        }
    }

    fn take(&mut self, report: FromTask) {
        let notice = match report {
            FromTask::Unsaved(run, tokens) => {
                self.unsaved.insert(run, *tokens);
                return;
            }
            FromTask::Held(key, tokens) => {
                self.held.hold(key, *tokens);
                return;
            }
            FromTask::HeldSaved(key) => {
                self.held.saved(&key);
                return;
            }
            FromTask::RunEnded(run, paired) => {
                self.runs.remove(&run);
                if let Some(key) = paired {
                    self.reload_fleet(AfterLoad::Beat(key, None));
                    return;
                }
                None
            }
            FromTask::KeptAlive(key) => {
                self.heartbeats_in_flight.remove(&key);
                return;
            }
            FromTask::Reconnected(next) => {
                match *next {
                    Ok(Connected {
                        backend,
                        demo_server,
                    }) => {
                        self.network.send_replace(network::target(&backend));
                        // Ready only now: a pairing started on it goes to the new backend.
                        let mode = mode_of(&backend, demo_server.as_ref());
                        self.outbox.send(Event::Ready(mode));
                        self.backend = Arc::new(backend);
                        self.demo_server = demo_server.map(Arc::new);
                        self.other_servers.clear();
                    }
                    Err(error) => self.outbox.send(Event::StartFailed(error)),
                }
                return;
            }
            FromTask::Unfinished(keys) => {
                for key in keys {
                    let op = DeviceOp::Upload {
                        files: Vec::new(),
                        resume: true,
                    };
                    self.start(key, op);
                }
                return;
            }
            FromTask::Devices(load, loaded, then) => {
                self.took_devices(load, loaded, then);
                return;
            }
            FromTask::ServerFound(host, backend) => {
                self.other_servers.insert(host, backend);
                return;
            }
            FromTask::Heartbeat(key, outcome) => {
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
            FromTask::OpEnded { key, id, line } => {
                self.work.end(&key, id);
                // A refreshed or checked device shows online now (one no longer paired is
                // left alone by the round).
                self.reload_fleet(AfterLoad::Beat(key, Some(line)));
                return;
            }
        };
        self.reload_fleet(AfterLoad::Show(notice));
    }
}
