//! A laptop that slept: under libfaketime (Debian `faketime`) with
//! `FAKETIME_DONT_FAKE_MONOTONIC=1` and a timestamp file, only the wall clock jumps, as in a
//! suspend. The window's worker, with two paired devices and a code waiting for approval,
//! jumps nine hours: every device is refreshed exactly once and sends its heartbeat within
//! ten seconds, the code that died meanwhile is replaced by a fresh one (nobody saw it
//! expire), and nothing tells the user of a refused token.
//!
//! The test runs itself again under libfaketime (which must be preloaded at start), so
//! `cargo test` lists it as ignored; `.ci/run` installs `faketime` and runs it with
//! `--include-ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use c2c_pair::device::DeviceId;
use c2c_pair::keychain::{Keychain, MemoryStore};
use c2c_pair::registry::Registry;
use c2c_pair::worker::{Command, Event, Mode, RunEnd, Status, UploadSetup, Worker, WorkerSetup};
use common::Control;

/// Set in the copy of this test that runs under libfaketime: the timestamp file.
const INNER: &str = "C2C_PAIR_SLEEP_TIMESTAMP_FILE";
/// Debian's libfaketime.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// The night in the bag.
const NIGHT: Duration = Duration::from_secs(9 * 3600);

#[test]
#[ignore = "needs libfaketime (Debian faketime); .ci/run runs it: cargo test --test sleep -- --include-ignored"]
fn a_laptop_that_slept_refreshes_each_device_once_and_beats_again() {
    match std::env::var_os(INNER) {
        Some(file) => inner(Path::new(&file)),
        None => outer(),
    }
}

/// Runs this test again with libfaketime preloaded and a timestamp file of its own.
fn outer() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "libfaketime is missing: apt-get install faketime (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("faketime");
    std::fs::write(&stamp, "+0\n").unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_laptop_that_slept_refreshes_each_device_once_and_beats_again",
            "--include-ignored",
            "--nocapture",
        ])
        .env(INNER, &stamp)
        .env("LD_PRELOAD", LIBFAKETIME)
        .env("FAKETIME_TIMESTAMP_FILE", &stamp)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the copy under libfaketime ran: {stdout}"
    );
}

/// Events until `done` says stop (bounded by `bound`), every one kept in `seen`.
fn until(
    worker: &Mutex<Worker>,
    seen: &mut Vec<Event>,
    bound: Duration,
    mut done: impl FnMut(&Event) -> bool,
) -> Option<Event> {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        while let Some(event) = worker.lock().unwrap().try_recv() {
            seen.push(event.clone());
            if done(&event) {
                return Some(event);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn pair(run: u64, device: &str) -> Command {
    Command::Pair {
        run,
        device_id: DeviceId::parse(device).unwrap(),
        name: None,
        firmware: None,
        presenter: false,
    }
}

fn inner(stamp: &Path) {
    let before_night = std::time::SystemTime::now();
    let dir = tempfile::tempdir().unwrap();
    let worker = Mutex::new(Worker::spawn(setup(dir.path()), Arc::new(|| {})).unwrap());
    let mut seen = Vec::new();
    let patience = Duration::from_secs(30);
    let ready = until(&worker, &mut seen, patience, |e| {
        matches!(e, Event::Ready(_))
    });
    let Some(Event::Ready(Mode::Demo { approval_url, .. })) = ready else {
        panic!("no demo server: {seen:?}");
    };
    let control = Control::from_link(&approval_url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let devices = ["CAM-NIGHT-1", "CAM-NIGHT-2"];
    for (run, device) in (1..).zip(devices) {
        pair_one(&worker, &mut seen, &control, &runtime, (run, device));
    }
    // A third device's code waits on screen.
    worker.lock().unwrap().send(pair(3, "CAM-NIGHT-3"));
    let waiting = until(&worker, &mut seen, Duration::from_secs(30), |e| {
        matches!(
            e,
            Event::Progress {
                run: 3,
                event: c2c_pair::device::PairEvent::Polled { .. }
            }
        )
    });
    assert!(waiting.is_some(), "the third code is on screen: {seen:?}");
    let first_code = codes_of(&seen, 3).pop().expect("the third code was issued");
    let refreshes = |device: &str| {
        runtime
            .block_on(control.requests_to("/v2/auth/token", Some(device)))
            .iter()
            .filter(|r| r.grant_type.as_deref() == Some("refresh_token"))
            .count()
    };
    let beats = || {
        runtime
            .block_on(control.requests_to("/v2/devices/heartbeat", None))
            .len()
    };
    let beats_before = beats();
    assert!(
        devices.iter().all(|d| refreshes(d) == 0),
        "no refresh before the night"
    );

    // The lid closes; nine hours later it opens (the monotonic clock did not move).
    std::fs::write(stamp, format!("+{}\n", NIGHT.as_secs())).unwrap();
    let woke = std::time::SystemTime::now();
    assert!(
        woke.duration_since(before_night).unwrap() >= NIGHT,
        "libfaketime moved the wall clock"
    );
    let jumped = Instant::now();
    let (mut checked_in, mut fresh_after) = (None, None);
    while jumped.elapsed() < Duration::from_secs(10)
        && (checked_in.is_none() || fresh_after.is_none())
    {
        let _ = until(&worker, &mut seen, Duration::from_millis(100), |_| false);
        if checked_in.is_none()
            && devices.iter().all(|d| refreshes(d) >= 1)
            && beats() >= beats_before + devices.len()
        {
            checked_in = Some(jumped.elapsed());
        }
        // The waiting code died by the server's clock too: a fresh one is on screen.
        if fresh_after.is_none() && codes_of(&seen, 3).len() > 1 {
            fresh_after = Some(jumped.elapsed());
        }
    }
    eprintln!(
        "woke after 9 h: devices refreshed {:?}, checked in {checked_in:?}, {} heartbeats \
         since; a fresh code after {fresh_after:?}",
        devices.map(refreshes),
        beats() - beats_before,
    );
    assert!(
        checked_in.is_some(),
        "every device checked within 10 s of waking"
    );
    for device in devices {
        assert_eq!(refreshes(device), 1, "{device}: refreshed exactly once");
    }
    assert!(
        beats() >= beats_before + devices.len(),
        "heartbeats resumed"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Notice(n) if n.starts_with("Woke up after 9 h"))),
        "the window said it woke"
    );
    assert!(fresh_after.is_some(), "a fresh code within 10 s of waking");
    fresh_code_goes_on(&seen, &first_code);
    no_refused_token_shown(&seen);
}

/// The third run shows a second code, another than `first`, and goes on with it.
fn fresh_code_goes_on(seen: &[Event], first: &str) {
    let codes = codes_of(seen, 3);
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert_ne!(codes[1], first, "the fresh code is another one");
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::Finished { run: 3, .. })),
        "the third pairing goes on with its fresh code"
    );
}

/// The user codes issued to run `run`, in order.
fn codes_of(seen: &[Event], run: u64) -> Vec<String> {
    seen.iter()
        .filter_map(|e| match e {
            Event::Progress {
                run: r,
                event: c2c_pair::device::PairEvent::CodeIssued(code),
            } if *r == run => Some(code.user_code.clone()),
            _ => None,
        })
        .collect()
}

/// No refused token reached the user: no notice of one, no device needing re-pairing.
fn no_refused_token_shown(seen: &[Event]) {
    for event in seen {
        match event {
            Event::Notice(text) => assert!(!text.contains("401"), "{text}"),
            Event::Fleet(views) => assert!(
                views
                    .iter()
                    .all(|v| !matches!(v.status, Status::NeedsRepairing { .. })),
                "{views:?}"
            ),
            _ => {}
        }
    }
}

/// Pairs `device` in run `run`, approving its code through the control API.
fn pair_one(
    worker: &Mutex<Worker>,
    seen: &mut Vec<Event>,
    control: &Control,
    runtime: &tokio::runtime::Runtime,
    (run, device): (u64, &str),
) {
    let patience = Duration::from_secs(30);
    worker.lock().unwrap().send(pair(run, device));
    let code = (0..300)
        .find_map(|_| {
            let codes = runtime.block_on(control.codes());
            let found = codes
                .iter()
                .find(|c| c["client_id"] == device && c["status"] == "pending")
                .and_then(|c| c["user_code"].as_str().map(str::to_owned));
            if found.is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
            found
        })
        .expect("a code for the device");
    runtime.block_on(control.approve(&code));
    let end = until(
        worker,
        seen,
        patience,
        |e| matches!(e, Event::Finished { run: r, .. } if *r == run),
    );
    assert!(
        matches!(
            end,
            Some(Event::Finished {
                end: RunEnd::Paired(_),
                ..
            })
        ),
        "{device}: {end:?}"
    );
}

/// The window's worker on the built-in demo server, its device list in `dir`.
fn setup(dir: &Path) -> WorkerSetup {
    let config = c2c_pair::demo::DemoConfig {
        // Codes live ten minutes here, so only the night ends the waiting one.
        expires_in: Duration::from_secs(600),
        ..common::fast_config()
    };
    WorkerSetup {
        choice: common::window::demo_choice(config),
        keychain: Keychain::new(Arc::new(MemoryStore::default()), Duration::from_secs(5)),
        registry: Registry::in_dir(dir),
        // Rounds two minutes apart: only waking can explain a check within ten seconds.
        heartbeat_every: c2c_pair::worker::HEARTBEAT_EVERY,
        uploads: UploadSetup::default(),
    }
}
