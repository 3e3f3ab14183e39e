//! Soak: many pairings at once in one process against one embedded server that answers 5 % of
//! requests with a random fault. Every pairing must end in a defined state, nothing may panic,
//! and every device the server redeemed a code for must have its tokens in the keychain.
//!
//! `cargo test` runs 40 pairings. `C2C_PAIR_SOAK_PAIRINGS=1000` runs the full soak, and with
//! `C2C_PAIR_UPDATE_RELIABILITY=1` it records its counts in RELIABILITY.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use c2c_pair::demo::{DemoConfig, DemoServer};
use c2c_pair::device::PairOutcome;
use common::Control;

const START: &str = "<!-- soak:start -->";
const END: &str = "<!-- soak:end -->";
const CHAOS_RATE: f64 = 0.05;
const SEED: u64 = 20261128;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, read top to bottom"
)]
async fn pairings_under_random_faults_end_well_and_lose_no_token() {
    let kc = common::test_keychain();
    let pairings: usize = std::env::var("C2C_PAIR_SOAK_PAIRINGS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let config = DemoConfig {
        interval: Duration::from_secs(1),
        expires_in: Duration::from_secs(120),
        ..DemoConfig::default()
    };
    let server = DemoServer::start(config).await.unwrap();
    let control = Control::new(server.base_url());
    let ctx = kc.context(common::backend_for(&server, common::demo_secret()));
    control.chaos(CHAOS_RATE, SEED).await;
    let started = Instant::now();

    let runs: Vec<_> = (0..pairings)
        .map(|i| {
            let (ctx, control) = (ctx.clone(), control.clone());
            let device = format!("SOAK-{i:04}");
            kc.track(&format!(
                "{device}@{}",
                ctx.backend.client.profile().keychain_host()
            ));
            tokio::spawn(async move { common::pair_approving(&ctx, &control, &device).await })
        })
        .collect();

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut panics = 0;
    for run in runs {
        // A panic in pairing panics `pair_approving`, so it shows as this task's panic.
        match run.await {
            Err(join) if join.is_panic() => panics += 1,
            Err(join) => panic!("{join}"),
            Ok(Ok(PairOutcome::Paired(_))) => *outcomes.entry("paired".into()).or_default() += 1,
            Ok(Ok(PairOutcome::Cancelled)) => unreachable!("nothing cancels"),
            Ok(Err(error)) => {
                *outcomes
                    .entry(format!("stopped: {}", error.kind().as_str()))
                    .or_default() += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    control.chaos(0.0, 0).await;

    // No token lost: every code the server redeemed has its device's tokens in the keychain.
    let redeemed: Vec<String> = control
        .codes()
        .await
        .into_iter()
        .filter(|c| c["status"] == "redeemed")
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect();
    let host = ctx.backend.client.profile().keychain_host();
    let mut lost = 0;
    for device in &redeemed {
        if kc.read(&format!("{device}@{host}")).is_none() {
            lost += 1;
        }
    }
    let requests = control.requests().await;
    let faults = requests.iter().filter(|r| r.fault.is_some()).count();

    eprintln!(
        "outcomes: {outcomes:?}; redeemed {}; lost {lost}",
        redeemed.len()
    );
    assert_eq!(panics, 0);
    assert_eq!(
        outcomes.values().sum::<usize>(),
        pairings,
        "every pairing ended: {outcomes:?}"
    );
    assert_eq!(
        lost,
        0,
        "tokens lost for {lost} of {} redeemed codes",
        redeemed.len()
    );
    assert_eq!(
        outcomes.get("paired").copied().unwrap_or(0),
        redeemed.len(),
        "paired = redeemed"
    );
    assert!(
        outcomes["paired"] * 10 >= pairings * 9,
        "most pairings ride out 5 % faults: {outcomes:?}"
    );

    let others = outcomes
        .iter()
        .filter(|(name, _)| *name != "paired")
        .map(|(name, n)| format!("{name}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let report = format!(
        "| pairings | faults injected | requests | paired | lost tokens | panics | other endings | wall time |\n\
         |---|---|---|---|---|---|---|---|\n\
         | {pairings} | {faults} | {} | {} | {lost} | {panics} | {} | {:.1} s |\n",
        requests.len(),
        outcomes.get("paired").copied().unwrap_or(0),
        if others.is_empty() {
            "none".to_owned()
        } else {
            others
        },
        elapsed.as_secs_f64(),
    );
    eprintln!("{report}");
    if pairings >= 1000 && std::env::var("C2C_PAIR_UPDATE_RELIABILITY").as_deref() == Ok("1") {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("RELIABILITY.md");
        let document = std::fs::read_to_string(&path).unwrap();
        let (before, rest) = document.split_once(START).unwrap();
        let after = rest.split_once(END).unwrap().1;
        std::fs::write(&path, format!("{before}{START}\n{report}{END}{after}")).unwrap();
    }
}
