//! The background side of the GUI: a tokio runtime on its own named thread. Commands come in
//! from the UI; events go out on a channel the UI drains each frame, followed by a repaint
//! request, so the UI never blocks and never repaints for nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use secrecy::SecretString;
use tokio::sync::mpsc as tokio_mpsc;
use tokio_util::sync::CancellationToken;

use crate::backend::{self, Backend, BackendChoice};
use crate::device::{
    self, DeviceId, PairError, PairEvent, PairOutcome, PairedDevice, UnsavedTokens,
};
use crate::keychain::Keychain;

/// What the UI asks for.
#[derive(Debug)]
pub enum Command {
    /// Start pairing a device. `attempt` tags every event of this run.
    Pair {
        /// Chosen by the UI; events carry it back.
        attempt: u64,
        /// The device to pair.
        device_id: DeviceId,
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
}

/// Called after each event so the UI wakes up (e.g. `egui::Context::request_repaint`).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Handle to the worker thread. Dropping it stops the worker.
pub struct Worker {
    commands: tokio_mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<Event>,
}

impl Worker {
    /// Starts the worker thread with its runtime; it sets up the backend at once.
    pub fn spawn(choice: BackendChoice, keychain: Keychain, wake: Wake) -> std::io::Result<Self> {
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
                runtime.block_on(run(choice, keychain, command_rx, outbox));
                // Pairings still running are dropped with the runtime; a hung keychain call
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
}

/// Tokens waiting for a successful save, by pairing run.
type Unsaved = Arc<Mutex<HashMap<u64, UnsavedTokens>>>;

async fn run(
    choice: BackendChoice,
    keychain: Keychain,
    mut commands: tokio_mpsc::UnboundedReceiver<Command>,
    outbox: Outbox,
) {
    let Some(backend) = connect(choice.clone(), &keychain, &outbox).await else {
        return;
    };
    let mut backend = Arc::new(backend);
    let mut runs: HashMap<u64, CancellationToken> = HashMap::new();
    let unsaved = Unsaved::default();
    let context = RunContext {
        keychain: keychain.clone(),
        outbox: outbox.clone(),
        unsaved: unsaved.clone(),
    };
    while let Some(command) = commands.recv().await {
        match command {
            Command::Pair { attempt, device_id } => {
                let cancel = CancellationToken::new();
                runs.retain(|_, token| !token.is_cancelled());
                runs.insert(attempt, cancel.clone());
                tokio::spawn(context.run(&backend, attempt).pair(device_id, cancel));
            }
            Command::Cancel { attempt } => {
                if let Some(cancel) = runs.remove(&attempt) {
                    cancel.cancel();
                }
            }
            Command::RetrySave { attempt } => {
                let tokens = lock(&unsaved).remove(&attempt);
                if let Some(tokens) = tokens {
                    tokio::spawn(context.run(&backend, attempt).retry_save(tokens));
                }
            }
            Command::SaveClientSecret(secret) => {
                let saved = backend::save_client_secret(&keychain, &choice.profile, secret).await;
                let reconnect = saved.is_ok();
                outbox.send(Event::SecretSaved(saved.map_err(|e| e.to_string())));
                // New pairings use the new secret (and leave demo mode); running ones finish
                // with the backend they started with.
                if reconnect && let Some(next) = connect(choice.clone(), &keychain, &outbox).await {
                    backend = Arc::new(next);
                }
            }
        }
    }
    for cancel in runs.values() {
        cancel.cancel();
    }
}

fn lock(unsaved: &Unsaved) -> std::sync::MutexGuard<'_, HashMap<u64, UnsavedTokens>> {
    unsaved.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn connect(choice: BackendChoice, keychain: &Keychain, outbox: &Outbox) -> Option<Backend> {
    match Backend::connect(choice, keychain).await {
        Ok(backend) => {
            let mode = match backend.demo_approval_url() {
                Some(url) => Mode::Demo {
                    approval_url: url.to_string(),
                    warning: backend.warning.clone(),
                },
                None => Mode::Live {
                    api_base: backend.client.profile().api_base.to_string(),
                },
            };
            outbox.send(Event::Ready(mode));
            Some(backend)
        }
        Err(error) => {
            outbox.send(Event::StartFailed(error.to_string()));
            None
        }
    }
}

/// What every pairing run shares.
#[derive(Clone)]
struct RunContext {
    keychain: Keychain,
    outbox: Outbox,
    unsaved: Unsaved,
}

impl RunContext {
    fn run(&self, backend: &Arc<Backend>, attempt: u64) -> PairRun {
        PairRun {
            backend: backend.clone(),
            context: self.clone(),
            attempt,
        }
    }
}

/// One pairing run and what it needs.
struct PairRun {
    backend: Arc<Backend>,
    context: RunContext,
    attempt: u64,
}

impl PairRun {
    async fn pair(self, device_id: DeviceId, cancel: CancellationToken) {
        let attempt = self.attempt;
        let outbox = self.context.outbox.clone();
        let progress = |event| outbox.send(Event::Progress { attempt, event });
        let result = device::pair(
            &self.backend,
            &self.context.keychain,
            &device_id,
            &cancel,
            progress,
        )
        .await;
        let end = match result {
            Ok(PairOutcome::Paired(paired)) => RunEnd::Paired(paired),
            Ok(PairOutcome::Cancelled) => RunEnd::Cancelled,
            Err(error) => self.failed(error),
        };
        self.finish(end);
    }

    async fn retry_save(self, tokens: UnsavedTokens) {
        self.context.outbox.send(Event::Progress {
            attempt: self.attempt,
            event: PairEvent::Saving,
        });
        let end = match tokens.save(&self.context.keychain).await {
            Ok(()) => RunEnd::Paired(
                device::describe_paired(&self.backend, &self.context.keychain, &tokens).await,
            ),
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
            lock(&self.context.unsaved).insert(self.attempt, *unsaved);
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
        self.context.outbox.send(Event::Finished {
            attempt: self.attempt,
            end,
        });
    }
}
