//! The worker's loop never waits on the keychain: while saving the client secret hangs (a
//! locked keychain waiting for a prompt), Refresh, a new Pair and Cancel still take effect at
//! once, and the save completes when the keychain answers. Events are awaited as the window
//! awaits them (woken by the worker), each with a bound far below the keychain's timeout, so
//! a loop that waits fails here instead of passing late.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use c2c_pair::device::{DeviceId, PairEvent};
use c2c_pair::keychain::{CredentialStore, Keychain, KeychainError, MemoryStore};
use c2c_pair::registry::{DeviceKey, Registry};
use c2c_pair::worker::{Command, Event, RunEnd, UploadSetup, Worker, WorkerSetup};
use common::Control;
use common::window::demo_choice;
use secrecy::SecretString;

/// Far longer than any wait below: a loop that waits on the keychain would show as a timeout.
const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the loop may take to show that a command took effect.
const AT_ONCE: Duration = Duration::from_secs(10);

/// An in-memory store whose client-secret writes block until released.
struct HangingSecretWrites {
    inner: MemoryStore,
    gate: Mutex<Option<mpsc::Receiver<()>>>,
}

impl CredentialStore for HangingSecretWrites {
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), KeychainError> {
        if account.starts_with("client-secret:") {
            let gate = self.gate.lock().unwrap().take();
            if let Some(gate) = gate {
                let _ = gate.recv();
            }
        }
        self.inner.set(account, secret)
    }
    fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError> {
        self.inner.get(account)
    }
    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        self.inner.delete(account)
    }
    fn describe(&self) -> String {
        "a store whose client-secret writes hang".into()
    }
}

/// The worker and the wake-ups it sends, as the window has them.
struct Loop {
    worker: Worker,
    woken: mpsc::Receiver<()>,
}

impl Loop {
    /// Waits (woken by the worker, never sleeping blindly) for an event `wanted` accepts,
    /// at most `within`; the events passed on the way are dropped.
    fn until<T>(&self, within: Duration, mut wanted: impl FnMut(&Event) -> Option<T>) -> T {
        let deadline = Instant::now() + within;
        loop {
            while let Some(event) = self.worker.try_recv() {
                if let Some(found) = wanted(&event) {
                    return found;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no such event within {within:?}");
            let _ = self.woken.recv_timeout(left);
        }
    }
}

#[test]
fn a_hanging_keychain_never_holds_up_cancel_refresh_or_a_new_pairing() {
    let (release, gate) = mpsc::channel();
    let store = Arc::new(HangingSecretWrites {
        inner: MemoryStore::default(),
        gate: Mutex::new(Some(gate)),
    });
    let config = tempfile::tempdir().unwrap();
    let setup = WorkerSetup {
        choice: demo_choice(common::fast_config()),
        keychain: Keychain::new(store, KEYCHAIN_TIMEOUT),
        registry: Registry::in_dir(config.path()),
        heartbeat_every: Duration::from_secs(3600),
        uploads: UploadSetup::default(),
    };
    let (wake_tx, woken) = mpsc::channel();
    let wake = Arc::new(move || {
        let _ = wake_tx.send(());
    });
    let run = Loop {
        worker: Worker::spawn(setup, wake).unwrap(),
        woken,
    };
    run.until(AT_ONCE, |e| matches!(e, Event::Ready(_)).then_some(()));

    // A paired device to refresh later.
    let pair = |run, device: &str| Command::Pair {
        run,
        device_id: DeviceId::parse(device).unwrap(),
        name: None,
        firmware: None,
        presenter: false,
    };
    run.worker.send(pair(1, "CAM-HANG"));
    let code = run.until(AT_ONCE, |e| match e {
        Event::Progress {
            run: 1,
            event: PairEvent::CodeIssued(code),
        } => Some(code.clone()),
        _ => None,
    });
    let link = code.verification_uri_complete.unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(Control::from_link(&link).approve(&code.user_code));
    run.until(AT_ONCE, |e| {
        matches!(
            e,
            Event::Finished {
                run: 1,
                end: RunEnd::Paired(_)
            }
        )
        .then_some(())
    });

    // The keychain hangs on the client secret; everything else must go on.
    run.worker
        .send(Command::SaveClientSecret(SecretString::from("new-secret")));
    let key = DeviceKey {
        id: DeviceId::parse("CAM-HANG").unwrap(),
        host: c2c_pair::c2c::profile::DEMO_KEYCHAIN_HOST.to_owned(),
    };
    let op = c2c_pair::worker::DeviceOp::Refresh;
    run.worker.send(Command::Device { key, op });
    run.until(AT_ONCE, |e| match e {
        Event::Fleet(devices) => devices
            .iter()
            .any(|d| {
                d.record.device_id == "CAM-HANG"
                    && d.busy == Some(c2c_pair::worker::Busy::Refreshing)
            })
            .then_some(()),
        _ => None,
    });
    run.worker.send(pair(2, "CAM-NEXT"));
    run.until(AT_ONCE, |e| {
        matches!(
            e,
            Event::Progress {
                run: 2,
                event: PairEvent::CheckingKeychain
            }
        )
        .then_some(())
    });
    run.worker.send(Command::Cancel { run: 2 });
    run.until(AT_ONCE, |e| {
        matches!(
            e,
            Event::Finished {
                run: 2,
                end: RunEnd::Cancelled
            }
        )
        .then_some(())
    });

    // Released, the save completes, the new backend is announced, and the refresh (queued
    // behind the save on the keychain's one thread) ends.
    release.send(()).unwrap();
    let saved = run.until(AT_ONCE, |e| match e {
        Event::SecretSaved(saved) => Some(saved.clone()),
        _ => None,
    });
    assert_eq!(saved, Ok(()));
    run.until(AT_ONCE, |e| match e {
        Event::Notice(line) => line.contains("CAM-HANG refreshed.").then_some(()),
        _ => None,
    });
}
