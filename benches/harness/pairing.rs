//! In-process figures against the embedded server with the real keychain: poll timing,
//! approval → "Paired" delivered to the window, token → window, and many pairings at once.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use c2c_pair::backend::BackendChoice;
use c2c_pair::c2c::profile::Profile;
use c2c_pair::demo::{DemoConfig, DemoServer};
use c2c_pair::device::{DeviceId, PairEvent, PairOutcome};
use c2c_pair::worker::{Command, Event, HEARTBEAT_EVERY, Mode, RunEnd, Worker, WorkerSetup};
use secrecy::SecretString;

use super::{Section, cpu_seconds, median, percentile, rss_mib};

#[path = "../../tests/common/mod.rs"]
pub mod common;

/// How much to measure: the full run, or a smoke run that only proves the harness works.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Concurrent pairings whose poll gaps are measured.
    pub poll_devices: usize,
    /// Polls each of them makes before approval.
    pub polls_each: usize,
    /// Approval rounds through the worker.
    pub rounds: usize,
    /// Concurrent pairings in the scale figure.
    pub scale: &'static [usize],
    /// Poll interval of the server.
    pub interval: Duration,
    /// Pairings counted at least per N in the scale figure (small N run in rounds).
    pub counted: usize,
}

/// The full run (`cargo bench`).
pub const FULL: Size = Size {
    poll_devices: 5,
    polls_each: 8,
    rounds: 20,
    scale: &[1, 10, 100, 1000],
    interval: Duration::from_secs(1),
    counted: 100,
};

/// The smoke run (`cargo test`): a few seconds.
pub const SMOKE: Size = Size {
    poll_devices: 2,
    polls_each: 2,
    rounds: 2,
    scale: &[1, 4],
    interval: Duration::from_millis(200),
    counted: 4,
};

fn config(size: Size) -> DemoConfig {
    DemoConfig {
        interval: size.interval,
        expires_in: Duration::from_secs(120),
        ..DemoConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Each gap between consecutive token requests of each device divided by the interval in
/// force (RFC 8628 §3.5: every `slow_down` adds 5 s for good), as the server saw them; and the
/// gaps that followed a `slow_down` answer, in seconds.
async fn gap_ratios(
    control: &common::Control,
    devices: &[String],
    interval: f64,
) -> (Vec<f64>, Vec<f64>) {
    let log = control.requests().await;
    let (mut ratios, mut after_slow_down) = (Vec::new(), Vec::new());
    for device in devices {
        let polls: Vec<_> = log
            .iter()
            .filter(|r| r.path == "/v2/auth/token" && r.client_id.as_deref() == Some(device))
            .collect();
        let mut in_force = interval;
        for pair in polls.windows(2) {
            let gap = pair[1].at - pair[0].at;
            if pair[0].error.as_deref() == Some("slow_down") {
                in_force += 5.0;
                after_slow_down.push(gap);
            }
            ratios.push(gap / in_force);
        }
    }
    (ratios, after_slow_down)
}

/// Poll timing: gaps / interval for several devices polling at once, and the gap after a
/// `slow_down`.
pub fn poll_timing(size: Size, section: &mut Section) {
    let kc = common::test_keychain();
    let rt = runtime();
    let interval = size.interval.as_secs_f64();
    let (mut ratios, after_slow_down) = rt.block_on(async {
        let server = DemoServer::start(config(size)).await.unwrap();
        let control = common::Control::new(server.base_url());
        let ctx = kc.context(common::backend_for(&server, common::demo_secret()));
        let devices: Vec<String> = (0..size.poll_devices)
            .map(|i| format!("POLL-{i}"))
            .collect();
        let runs: Vec<_> = devices
            .iter()
            .map(|device| {
                kc.track(&format!(
                    "{device}@{}",
                    ctx.backend.client.profile().keychain_host()
                ));
                let (ctx, control, device) = (ctx.clone(), control.clone(), device.clone());
                let polls_each = size.polls_each;
                tokio::spawn(async move {
                    let (run, mut events) = common::start_pairing(&ctx, &device);
                    let mut polls = 0;
                    while let Some(event) = events.recv().await {
                        if !matches!(event, PairEvent::Polled { .. }) {
                            continue;
                        }
                        polls += 1;
                        // One slow_down for the first device, halfway.
                        if device == "POLL-0" && polls == polls_each / 2 {
                            control.slow_down(1).await;
                        }
                        if polls == polls_each {
                            let codes = control.codes().await;
                            let code = codes
                                .iter()
                                .find(|c| c["client_id"] == device.as_str())
                                .unwrap();
                            control.approve(code["user_code"].as_str().unwrap()).await;
                        }
                    }
                    let outcome = run.await.unwrap();
                    assert!(
                        matches!(outcome, Ok(PairOutcome::Paired(_))),
                        "expected Paired, got {outcome:?}"
                    );
                })
            })
            .collect();
        for run in runs {
            run.await.unwrap();
        }
        gap_ratios(&control, &devices, interval).await
    });
    let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let med = median(&mut ratios);
    section.figure(
        format!("poll gap / interval, smallest of {}", ratios.len()),
        min,
        None,
        "×",
        "≥ 1.000",
        min >= 1.0,
    );
    section.figure(
        "poll gap / interval, median",
        med,
        None,
        "×",
        "≤ 1.004",
        med <= 1.004,
    );
    let slowed = after_slow_down
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    section.figure(
        "gap after slow_down",
        slowed,
        Some(interval + 5.0),
        "s",
        "≥ interval + 5 s",
        !after_slow_down.is_empty() && slowed >= interval + 5.0,
    );
    section.notes.push(format!(
        "Poll timing: {} devices polling at once against the embedded server (interval {interval} s), \
         {} polls each; gaps are between consecutive token requests as the server logged them. \
         One `slow_down` is forced halfway for one device.",
        size.poll_devices, size.polls_each
    ));
}

fn unix_ms_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Approval → "Paired" delivered to the window, and token response → "Paired" delivered
/// (keychain write included), through the worker the window uses.
#[expect(
    clippy::too_many_lines,
    reason = "one measured scenario, read top to bottom"
)]
pub fn approval_to_screen(size: Size, section: &mut Section) {
    let kc = common::test_keychain();
    let (woke, wakes) = mpsc::channel::<()>();
    let setup = WorkerSetup {
        choice: BackendChoice {
            profile: Profile::frame_io(),
            force_demo: true,
            demo_fallback: true,
            demo: config(size),
            env_secret: None,
        },
        keychain: kc.keychain.clone(),
        registry: kc.registry.clone(),
        heartbeat_every: HEARTBEAT_EVERY,
        uploads: c2c_pair::worker::UploadSetup::default(),
    };
    let worker = Worker::spawn(
        setup,
        Arc::new(move || {
            let _ = woke.send(());
        }),
    )
    .unwrap();
    let next = |wanted: &dyn Fn(&Event) -> bool| -> (Event, f64) {
        loop {
            while let Some(event) = worker.try_recv() {
                if wanted(&event) {
                    return (event, unix_ms_now());
                }
            }
            wakes
                .recv_timeout(Duration::from_secs(30))
                .expect("worker events");
        }
    };
    let (ready, _) = next(&|e| matches!(e, Event::Ready(_)));
    let Event::Ready(Mode::Demo { approval_url, .. }) = ready else {
        panic!("demo mode");
    };
    let control = common::Control::from_link(&approval_url);
    let rt = runtime();
    let interval_ms = size.interval.as_secs_f64() * 1000.0;
    let (mut to_paired, mut token_to_screen) = (Vec::new(), Vec::new());
    for round in 0..size.rounds {
        let device = format!("SCREEN-{round}");
        kc.track(&format!("{device}@demo"));
        worker.send(Command::Pair {
            run: round as u64 + 1,
            device_id: DeviceId::parse(&device).unwrap(),
            name: None,
            firmware: None,
            presenter: false,
        });
        let (issued, _) = next(&|e| {
            matches!(
                e,
                Event::Progress {
                    event: PairEvent::CodeIssued(_),
                    ..
                }
            )
        });
        let Event::Progress {
            event: PairEvent::CodeIssued(code),
            ..
        } = issued
        else {
            unreachable!()
        };
        // Approve at a different phase of the poll cycle each round.
        let phase = (round % 10) as f64 / 10.0;
        std::thread::sleep(size.interval.mul_f64(phase));
        rt.block_on(control.approve(&code.user_code));
        let approved = unix_ms_now();
        let (_, shown) = next(&|e| {
            matches!(
                e,
                Event::Finished {
                    end: RunEnd::Paired(_),
                    ..
                }
            )
        });
        to_paired.push(shown - approved);
        let log = rt.block_on(control.requests());
        let token = log
            .iter()
            .find(|r| {
                r.client_id.as_deref() == Some(device.as_str())
                    && r.grant_type
                        .as_deref()
                        .is_some_and(|g| g.ends_with("device_code"))
                    && r.status == 200
            })
            .expect("the token answer");
        token_to_screen.push(shown - token.at_unix_ms as f64);
    }
    // Floor: one keychain write of a token set's size, in the same run.
    let mut writes: Vec<f64> = (0..size.rounds.max(3))
        .map(|i| {
            let account = kc.track(&format!("floor-{i}"));
            let started = Instant::now();
            rt.block_on(
                kc.keychain
                    .set(&account, SecretString::from("x".repeat(1500))),
            )
            .unwrap();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let write_floor = median(&mut writes);
    let p95_paired = percentile(&mut to_paired, 95.0);
    section.figure(
        "approval → \"Paired\" delivered, p95",
        p95_paired,
        Some(interval_ms),
        "ms",
        "≤ interval + 50 ms",
        p95_paired <= interval_ms + 50.0,
    );
    let p95_token = percentile(&mut token_to_screen, 95.0);
    section.figure(
        "token answer → keychain saved → \"Paired\" delivered, p95",
        p95_token,
        Some(write_floor),
        "ms",
        "≤ 50 ms",
        p95_token <= 50.0,
    );
    section.notes.push(format!(
        "Approval: {} pairings through the worker the window uses (demo mode, interval {} s), \
         approved at phases 0–0.9 of the poll cycle; \"delivered\" is when the window's event \
         queue hands over `Finished(Paired)`. Token → screen starts at the server's log time of \
         the token answer (ms resolution). Its floor is one keychain write of a token set's \
         size (median of {}).",
        size.rounds,
        size.interval.as_secs_f64(),
        writes.len()
    ));
}

/// N pairings at once in one process: CPU seconds and RSS per pairing, early polls.
pub fn scale(size: Size, section: &mut Section) {
    let kc = common::test_keychain();
    let rt = runtime();
    let pid = std::process::id();
    let mut per_pairing = Vec::new();
    for &n in size.scale {
        // At least `size.counted` pairings per N, so 10 ms ticks are precise enough.
        let rounds = size.counted.div_ceil(n).max(1);
        let (cpu, rss, early) = rt.block_on(async {
            // One HTTP client for every round, as the app keeps one.
            let unused: url::Url = "http://127.0.0.1:9/".parse().unwrap();
            let client = common::backend_with_profile(common::profile_for(&unused), "").client;
            let rss_before = rss_mib(pid, false);
            let cpu_before = cpu_seconds(pid);
            let (mut peak_rss, mut early) = (rss_before, 0);
            for round in 0..rounds {
                // A new server each round, so every pairing opens its own connection, as
                // pairings of one batch do (the client is the one the app keeps).
                let server = DemoServer::start(config(size)).await.unwrap();
                let control = common::Control::new(server.base_url());
                let ctx = kc.context(c2c_pair::backend::Backend {
                    client: client.with_api_base(server.base_url().clone()),
                    client_secret: SecretString::from(common::demo_secret()),
                    warning: None,
                });
                let host = ctx.backend.client.profile().keychain_host();
                let runs: Vec<_> = (0..n)
                    .map(|i| {
                        let device = format!("SCALE-{n}-{round}-{i}");
                        kc.track(&format!("{device}@{host}"));
                        let (ctx, control) = (ctx.clone(), control.clone());
                        tokio::spawn(async move {
                            common::pair_approving(&ctx, &control, &device).await
                        })
                    })
                    .collect();
                for run in runs {
                    peak_rss = peak_rss.max(rss_mib(pid, false));
                    let outcome = run.await.unwrap();
                    assert!(
                        matches!(outcome, Ok(PairOutcome::Paired(_))),
                        "expected Paired, got {outcome:?}"
                    );
                }
                early += control
                    .requests()
                    .await
                    .iter()
                    .filter(|r| r.error.as_deref() == Some("slow_down"))
                    .count();
            }
            let cpu = cpu_seconds(pid) - cpu_before;
            (cpu / rounds as f64, peak_rss - rss_before, early)
        });
        let per = cpu / n as f64;
        per_pairing.push((n, per));
        section.figure(
            format!(
                "N = {n}: CPU per pairing (RSS growth {:.2} MiB, {early} early polls)",
                rss / n as f64
            ),
            per * 1000.0,
            None,
            "ms",
            "no early poll",
            early == 0,
        );
    }
    let at = |n: usize| per_pairing.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
    if let (Some(small), Some(large)) = (at(10), at(1000)) {
        section.figure(
            "CPU per pairing at N = 1000",
            large * 1000.0,
            Some(small * 1000.0),
            "ms",
            "≤ 1.5 × N = 10",
            large <= 1.5 * small,
        );
    }
    section.notes.push(
        "Scale: N devices pair at once in one process (client, embedded server and the real \
         keychain's client side; gnome-keyring's own CPU is not counted), each approved as soon \
         as its code is shown. CPU from /proc/self/stat (10 ms ticks; small N run in several rounds so that at least 100 pairings are counted); RSS growth is the highest \
         VmRSS seen while the pairings ran minus VmRSS before. Early polls are `slow_down` \
         answers, which the embedded server gives to any poll sooner than the interval."
            .to_owned(),
    );
}
