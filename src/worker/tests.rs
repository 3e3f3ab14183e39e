//! The worker's loop driven directly, without a display, a keychain or a network: commands
//! and task reports in, state and events out; operations' tasks are kept instead of run, so
//! that a test decides when and how each one ends.

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::mpsc as tokio_mpsc;

use super::fleet::Observed;
use super::held::HeldSets;
use super::protocol::{Busy, Command, DeviceOp, Event, OpControl, UploadSetup, WorkerSetup};
use super::work::Work;
use super::{FromTask, Outbox, State, network};
use crate::backend::{Backend, BackendChoice};
use crate::c2c::C2cClient;
use crate::c2c::profile::Profile;
use crate::device::UnsavedTokens;
use crate::keychain::{Keychain, MemoryStore, TokenSet};
use crate::registry::{DeviceKey, Registry, test_record};

/// A worker's state with one listed device, the events it sends, and its task reports.
struct Rig {
    state: State,
    events: mpsc::Receiver<Event>,
    reports: tokio_mpsc::UnboundedReceiver<FromTask>,
    key: DeviceKey,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let profile = Profile::for_api_base("https://api.frame.io/".parse().unwrap());
    let backend = Backend {
        client: C2cClient::new(profile.clone()).unwrap(),
        client_secret: SecretString::from("s".to_owned()),
        warning: None,
    };
    let keychain = Keychain::new(Arc::new(MemoryStore::default()), Duration::from_secs(1));
    let registry = Registry::in_dir(dir.path());
    let record = test_record("CAM-1");
    registry.upsert(record.clone()).unwrap();
    let setup = WorkerSetup {
        choice: BackendChoice {
            profile,
            force_demo: false,
            demo_fallback: false,
            demo: crate::demo::DemoConfig::default(),
            env_secret: None,
        },
        keychain,
        registry,
        heartbeat_every: Duration::from_secs(120),
        uploads: UploadSetup::default(),
    };
    let (event_tx, events) = mpsc::channel();
    let (reports_tx, reports) = tokio_mpsc::unbounded_channel();
    let (network, _) = tokio::sync::watch::channel(network::target(&backend));
    let (seen, _) = tokio::sync::mpsc::unbounded_channel();
    let state = State {
        setup,
        backend: Arc::new(backend),
        demo_server: None,
        other_servers: std::collections::HashMap::new(),
        observed: Observed::default(),
        heartbeats_in_flight: std::collections::HashSet::new(),
        schedule: super::schedule::Schedule::new(Duration::from_secs(120)),
        fleet_sent_at: Instant::now(),
        devices: vec![record.clone()],
        fleet_loads: 0,
        fleet_shown_load: 0,
        held: HeldSets::default(),
        runs: std::collections::HashMap::new(),
        work: Work::default(),
        kept_ops: Vec::new(),
        unsaved: std::collections::HashMap::new(),
        reports: reports_tx,
        outbox: Outbox {
            events: event_tx,
            wake: Arc::new(|| {}),
        },
        network,
        seen,
    };
    Rig {
        state,
        events,
        reports,
        key: record.key(),
        _dir: dir,
    }
}

impl Rig {
    fn upload(&mut self) {
        let op = DeviceOp::Upload {
            files: Vec::new(),
            resume: false,
        };
        self.state.handle(Command::Device {
            key: self.key.clone(),
            op,
        });
    }

    fn control(&mut self, ctl: OpControl) {
        let key = self.key.clone();
        self.state.handle(Command::Control { key, ctl });
    }

    /// The notices sent so far.
    fn notices(&self) -> Vec<String> {
        self.events
            .try_iter()
            .filter_map(|e| match e {
                Event::Notice(line) => Some(line),
                _ => None,
            })
            .collect()
    }

    /// Hands the loop what the tasks reported so far.
    fn take_reports(&mut self) {
        while let Ok(report) = self.reports.try_recv() {
            self.state.take(report);
        }
    }
}

fn some_tokens(key: &DeviceKey) -> UnsavedTokens {
    UnsavedTokens {
        device_id: key.id.clone(),
        name: None,
        client_version: None,
        account: format!("{}@{}", key.id, key.host),
        tokens: TokenSet {
            access_token: SecretString::from("a".to_owned()),
            refresh_token: Some(SecretString::from("r".to_owned())),
            access_expires_at: None,
            issued_at: 0,
            scope: None,
        },
        held: None,
    }
}

#[tokio::test]
async fn an_upload_refused_while_held_tokens_are_saved_starts_once_they_are() {
    let mut rig = rig();
    let key = rig.key.clone();
    // A heartbeat's task took the device's held tokens to save them.
    rig.state.held.hold(key.clone(), some_tokens(&key));
    assert!(matches!(rig.state.held.take(&key), Ok(Some(_))));
    rig.upload();
    let notices = rig.notices();
    assert!(
        notices.iter().any(|n| n.contains("being saved")),
        "{notices:?}"
    );
    assert_eq!(rig.state.work.busy(&key), None, "nothing left behind");
    assert!(rig.state.kept_ops.is_empty());
    // Saved: the next upload starts.
    rig.state.take(FromTask::HeldSaved(key.clone()));
    rig.upload();
    assert_eq!(rig.state.work.busy(&key), Some(Busy::Uploading));
    assert_eq!(rig.state.kept_ops.len(), 1);
    // It ends: the device is free again.
    let (_, end) = rig.state.kept_ops.pop().unwrap();
    end.say("CAM-1: test clip uploaded.".into());
    rig.take_reports();
    assert_eq!(rig.state.work.busy(&key), None);
}

#[tokio::test]
async fn a_cancelled_upload_that_ends_late_leaves_the_next_one_running_and_cancellable() {
    let mut rig = rig();
    let key = rig.key.clone();
    rig.upload();
    rig.control(OpControl::Cancel);
    let (first_task, first_end) = rig.state.kept_ops.remove(0);
    assert!(first_task.controls().unwrap().is_cancelled());
    // Another upload at once, before the first task has stopped.
    rig.upload();
    assert_eq!(
        rig.state.kept_ops.len(),
        1,
        "the second started: {:?}",
        rig.notices()
    );
    // The first ends late: the second stays, running.
    first_end.say("CAM-1: upload cancelled.".into());
    rig.take_reports();
    assert_eq!(rig.state.work.busy(&key), Some(Busy::Uploading));
    let (second_task, second_end) = rig.state.kept_ops.remove(0);
    let second = second_task.controls().unwrap().clone();
    assert!(!second.is_cancelled());
    rig.control(OpControl::Cancel);
    assert!(second.is_cancelled(), "the second is cancellable");
    second_end.say("CAM-1: upload cancelled.".into());
    rig.take_reports();
    assert_eq!(rig.state.work.busy(&key), None);
}

#[tokio::test]
async fn an_operation_whose_task_dies_still_ends() {
    let mut rig = rig();
    let key = rig.key.clone();
    rig.state.handle(Command::Device {
        key: key.clone(),
        op: DeviceOp::Refresh,
    });
    assert_eq!(rig.state.work.busy(&key), Some(Busy::Refreshing));
    // A second operation meanwhile is refused, saying why.
    rig.upload();
    assert!(
        rig.notices()
            .iter()
            .any(|n| n.contains("refreshing is under way"))
    );
    // The task is dropped (it panicked): its end is reported all the same.
    drop(rig.state.kept_ops.pop());
    rig.take_reports();
    assert_eq!(rig.state.work.busy(&key), None);
    rig.upload();
    assert_eq!(rig.state.work.busy(&key), Some(Busy::Uploading));
}

#[tokio::test]
async fn a_device_no_longer_listed_is_said_and_nothing_is_entered() {
    let mut rig = rig();
    let key = rig.key.clone();
    rig.state.devices.clear();
    rig.state.start_listed(key.clone(), DeviceOp::Refresh);
    assert!(
        rig.notices()
            .iter()
            .any(|n| n.contains("no longer in the device list"))
    );
    assert_eq!(rig.state.work.busy(&key), None);
}
