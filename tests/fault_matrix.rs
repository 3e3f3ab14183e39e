//! The fault matrix: every injected fault against pairing, refresh, unpair and heartbeat, each
//! cell with a defined outcome and the same invariants (no panic, no early poll, no token
//! lost, a clear message without secrets). The table it produces must match RELIABILITY.md;
//! `C2C_PAIR_UPDATE_RELIABILITY=1 cargo test --test fault_matrix` rewrites it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use c2c_pair::c2c::PollStatus;
use c2c_pair::demo::fault::Fault;
use c2c_pair::demo::{DemoConfig, DemoServer};
use c2c_pair::device::{self, Context, LifecycleError, PairError, PairEvent, PairOutcome};
use c2c_pair::registry::{DeviceRecord, DeviceState};
use common::{Control, FAST_INTERVAL, TestKeychain};
use secrecy::ExposeSecret as _;

const TOKEN: &str = "/v2/auth/token";
const REVOKE: &str = "/v2/auth/revoke";
const HEARTBEAT: &str = "/v2/devices/heartbeat";
const START: &str = "<!-- fault-matrix:start -->";
const END: &str = "<!-- fault-matrix:end -->";

/// One row: a fault (or a short sequence) and how it is set up.
struct Row {
    name: &'static str,
    faults: Vec<Fault>,
    /// Code lifetime for the pairing cell.
    expires_in: Duration,
}

fn rows() -> Vec<Row> {
    let status = |status| Fault::Status {
        status,
        retry_after: None,
    };
    let oauth = |error: &str| Fault::OAuth {
        error: error.into(),
        status: None,
    };
    let normal = Duration::from_secs(30);
    let row = |name, faults| Row {
        name,
        faults,
        expires_in: normal,
    };
    vec![
        row("delay 300 ms", vec![Fault::Delay { ms: 300 }]),
        row("HTTP 500", vec![status(500)]),
        row("HTTP 502", vec![status(502)]),
        row("HTTP 503", vec![status(503)]),
        row(
            "HTTP 429 + Retry-After 1 s",
            vec![Fault::Status {
                status: 429,
                retry_after: Some(1),
            }],
        ),
        row("connection reset", vec![Fault::Reset]),
        row("truncated body", vec![Fault::Truncated]),
        row("malformed JSON", vec![Fault::MalformedJson]),
        row("HTML instead of JSON", vec![Fault::WrongContentType]),
        row("body over 64 KiB", vec![Fault::Oversized]),
        row(
            "slow_down storm (×2)",
            vec![oauth("slow_down"), oauth("slow_down")],
        ),
        Row {
            name: "authorization_pending after expiry",
            faults: vec![oauth("authorization_pending"); 50],
            expires_in: Duration::from_millis(900),
        },
        row(
            "expired_token, then invalid_grant",
            vec![oauth("expired_token"), oauth("invalid_grant")],
        ),
        // The status decides first: a gateway's OAuth-looking body does not end anything.
        row(
            "HTTP 503 + invalid_grant",
            vec![Fault::OAuth {
                error: "invalid_grant".into(),
                status: Some(503),
            }],
        ),
        row(
            "Date header 1 h ahead",
            vec![Fault::SkewedDate { seconds: 3600 }],
        ),
    ]
}

struct Cell {
    server: DemoServer,
    control: Control,
    ctx: Context,
}

async fn cell(kc: &TestKeychain, expires_in: Duration) -> Cell {
    let config = DemoConfig {
        expires_in,
        ..common::fast_config()
    };
    let server = DemoServer::start(config).await.unwrap();
    let control = Control::new(server.base_url());
    let ctx = kc.context(common::backend_for(&server, common::demo_secret()));
    Cell {
        server,
        control,
        ctx,
    }
}

async fn inject(control: &Control, path: &str, faults: &[Fault]) {
    for fault in faults {
        control.inject(path, fault, 1).await;
    }
}

/// Pairs `device`, approving as soon as the code is shown; returns the result and the poll
/// statuses seen on the way.
async fn pair(
    ctx: &Context,
    control: &Control,
    device: &str,
) -> (Result<PairOutcome, PairError>, Vec<PollStatus>) {
    let (run, mut events) = common::start_pairing(ctx, device);
    let mut statuses = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            PairEvent::CodeIssued(code) => control.approve(&code.user_code).await,
            PairEvent::Polled { status, .. } => statuses.push(status),
            _ => {}
        }
    }
    (run.await.unwrap(), statuses)
}

fn record(ctx: &Context, device: &str) -> Option<DeviceRecord> {
    ctx.registry
        .load()
        .unwrap()
        .devices
        .into_iter()
        .find(|d| d.device_id == device)
}

/// Checks a message for clarity and secrets.
fn clear_message(message: &str, secrets: &[String]) {
    assert!(message.len() > 20, "too terse: {message}");
    for secret in secrets {
        assert!(
            !message.contains(secret.as_str()),
            "secret in message: {message}"
        );
    }
}

async fn secrets_of(kc: &TestKeychain, account: &str) -> Vec<String> {
    let mut secrets = vec![common::demo_secret().to_owned()];
    if let Some(set) = kc.keychain.load_tokens(account).await.unwrap() {
        secrets.push(set.access_token.expose_secret().to_owned());
        secrets.extend(set.refresh_token.map(|t| t.expose_secret().to_owned()));
    }
    secrets
}

/// The stored access token still opens the server (no token lost).
async fn stored_set_works(kc: &TestKeychain, control: &Control, account: &str) -> bool {
    let Some(set) = kc.keychain.load_tokens(account).await.unwrap() else {
        return false;
    };
    control
        .device_info(set.access_token.expose_secret())
        .await
        .is_some()
}

fn counted(statuses: &[PollStatus]) -> String {
    let retries = statuses
        .iter()
        .filter(|s| matches!(s, PollStatus::Retrying { .. }))
        .count();
    let slow_downs = statuses
        .iter()
        .filter(|s| matches!(s, PollStatus::SlowDown { .. }))
        .count();
    match (retries, slow_downs) {
        (0, 0) => String::new(),
        (1, 0) => " after 1 retry".into(),
        (n, 0) => format!(" after {n} retries"),
        (0, n) => format!(" after {n} slow_down (+5 s each)"),
        (r, s) => format!(" after {r} retries and {s} slow_down"),
    }
}

async fn pairing_cell(kc: &TestKeychain, row: &Row, device: &str) -> String {
    let c = cell(kc, row.expires_in).await;
    let account = kc.track(&format!(
        "{device}@{}",
        c.ctx.backend.client.profile().keychain_host()
    ));
    inject(&c.control, TOKEN, &row.faults).await;
    let (result, statuses) = pair(&c.ctx, &c.control, device).await;

    // Never a poll sooner than the interval, counting the server's slow_down raises.
    let code_at = c.control.code_request_time(device).await;
    let polls = c.control.token_request_times(device).await;
    let mut previous = code_at;
    for at in &polls {
        assert!(
            at - previous >= FAST_INTERVAL.as_secs_f64(),
            "{}: poll {:.3}s after the last",
            row.name,
            at - previous
        );
        previous = *at;
    }
    // No poll after the code's own deadline.
    assert!(
        polls
            .iter()
            .all(|at| at - code_at < row.expires_in.as_secs_f64() + 0.1),
        "{}: late poll",
        row.name
    );

    let outcome = match result {
        Ok(PairOutcome::Paired(_)) => {
            assert!(
                stored_set_works(kc, &c.control, &account).await,
                "{}: token lost",
                row.name
            );
            format!("paired{}", counted(&statuses))
        }
        Ok(PairOutcome::Cancelled) => unreachable!(),
        Err(error) => {
            clear_message(&error.to_string(), &secrets_of(kc, &account).await);
            // Nothing was issued that could be lost: the server redeemed no code.
            let codes = c.control.codes().await;
            assert!(
                codes.iter().all(|code| code["status"] != "redeemed"),
                "{}: {codes:?}",
                row.name
            );
            format!(
                "stops: {} (exit {}){}",
                error.kind().as_str(),
                error.kind().exit_code(),
                counted(&statuses)
            )
        }
    };
    c.server.shutdown().await;
    outcome
}

/// Pairs a device cleanly on a fresh server, then injects `faults` on `path`.
async fn paired_cell(
    kc: &TestKeychain,
    device: &str,
    path: &str,
    faults: &[Fault],
) -> (Cell, DeviceRecord, String) {
    let c = cell(kc, Duration::from_secs(30)).await;
    let (result, _) = pair(&c.ctx, &c.control, device).await;
    assert!(
        matches!(result, Ok(PairOutcome::Paired(_))),
        "{device}: expected Paired, got {result:?}"
    );
    let record = record(&c.ctx, device).unwrap();
    let account = kc.track(&record.account());
    inject(&c.control, path, faults).await;
    (c, record, account)
}

fn lifecycle_outcome(error: &LifecycleError) -> String {
    let what = match error {
        LifecycleError::Network { .. } => "nothing changed, retry later",
        LifecycleError::NeedsRepairing { .. } => "needs re-pairing, no retry",
        LifecycleError::Refused { .. } => "refused, credentials kept",
        LifecycleError::UnpairPending { .. } => "unpair pending, credentials kept",
        other => panic!("unexpected: {other}"),
    };
    format!("{what} (exit {})", error.kind().exit_code())
}

async fn refresh_cell(kc: &TestKeychain, row: &Row, device: &str) -> String {
    let (c, record, account) = paired_cell(kc, device, TOKEN, &row.faults).await;
    let before = kc.keychain.load_tokens(&account).await.unwrap().unwrap();
    let outcome = match device::refresh(&c.ctx, &record).await {
        Ok(renewed) => {
            assert_ne!(renewed, before, "{}: a refresh gives a new set", row.name);
            assert!(
                stored_set_works(kc, &c.control, &account).await,
                "{}: new set not stored",
                row.name
            );
            "refreshed".to_owned()
        }
        Err(error) => {
            clear_message(&error.to_string(), &secrets_of(kc, &account).await);
            let kept = kc.keychain.load_tokens(&account).await.unwrap().unwrap();
            assert_eq!(kept, before, "{}: the old set is kept", row.name);
            if let LifecycleError::NeedsRepairing { .. } = error {
                let state = record_state(&c.ctx, device);
                assert!(
                    matches!(state, Some(DeviceState::NeedsRepairing { .. })),
                    "{}: the device is marked for re-pairing, not {state:?}",
                    row.name
                );
            } else {
                assert!(
                    stored_set_works(kc, &c.control, &account).await,
                    "{}: old set should still work",
                    row.name
                );
            }
            lifecycle_outcome(&error)
        }
    };
    c.server.shutdown().await;
    outcome
}

fn record_state(ctx: &Context, device: &str) -> Option<DeviceState> {
    record(ctx, device).map(|r| r.state)
}

async fn unpair_cell(kc: &TestKeychain, row: &Row, device: &str) -> String {
    let (c, record, account) = paired_cell(kc, device, REVOKE, &row.faults).await;
    let outcome = match device::unpair(&c.ctx, &record).await {
        Ok(done) => {
            assert!(
                kc.keychain.load_tokens(&account).await.unwrap().is_none(),
                "{}: the tokens are deleted",
                row.name
            );
            assert!(
                record_state(&c.ctx, device).is_none(),
                "{}: the device is forgotten",
                row.name
            );
            match done.note {
                None if done.revoked => "unpaired".to_owned(),
                note => format!("unpaired: {}", note.unwrap_or_default()),
            }
        }
        Err(error) => {
            clear_message(&error.to_string(), &secrets_of(kc, &account).await);
            assert!(
                stored_set_works(kc, &c.control, &account).await,
                "{}: credentials must be kept",
                row.name
            );
            lifecycle_outcome(&error)
        }
    };
    c.server.shutdown().await;
    outcome
}

async fn heartbeat_cell(kc: &TestKeychain, row: &Row, device: &str) -> String {
    let (c, record, account) = paired_cell(kc, device, HEARTBEAT, &row.faults).await;
    let outcome = match device::heartbeat(&c.ctx, &record).await {
        Ok(()) => "online".to_owned(),
        Err(error) => {
            clear_message(&error.to_string(), &secrets_of(kc, &account).await);
            format!("offline: {}", lifecycle_outcome(&error))
        }
    };
    assert!(
        stored_set_works(kc, &c.control, &account).await,
        "{}: token lost",
        row.name
    );
    c.server.shutdown().await;
    outcome
}

fn table(results: &[(String, [String; 4])]) -> String {
    let mut text = String::from(
        "| Fault | Pairing (on polls) | Refresh | Unpair (on revoke) | Heartbeat |\n|---|---|---|---|---|\n",
    );
    for (fault, [pairing, refresh, unpair, heartbeat]) in results {
        text.push_str(&format!(
            "| {fault} | {pairing} | {refresh} | {unpair} | {heartbeat} |\n"
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_against_every_operation_has_a_defined_outcome() {
    let kc = common::test_keychain();
    let kc = std::sync::Arc::new(kc);
    let mut tasks = Vec::new();
    for (index, row) in rows().into_iter().enumerate() {
        let kc = kc.clone();
        tasks.push(tokio::spawn(async move {
            let ids = ["PAIR", "REFRESH", "UNPAIR", "BEAT"].map(|op| format!("FM-{index:02}-{op}"));
            let cells = tokio::join!(
                pairing_cell(&kc, &row, &ids[0]),
                refresh_cell(&kc, &row, &ids[1]),
                unpair_cell(&kc, &row, &ids[2]),
                heartbeat_cell(&kc, &row, &ids[3]),
            );
            (row.name.to_owned(), <[_; 4]>::from(cells))
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let table = table(&results);

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("RELIABILITY.md");
    let document = std::fs::read_to_string(&path).unwrap_or_default();
    let (before, rest) = document.split_once(START).unwrap_or((&document, ""));
    let after = rest.split_once(END).map_or("", |(_, after)| after);
    let updated = format!("{before}{START}\n{table}{END}{after}");
    if std::env::var("C2C_PAIR_UPDATE_RELIABILITY").as_deref() == Ok("1") {
        std::fs::write(&path, updated).unwrap();
    } else {
        assert_eq!(
            document, updated,
            "RELIABILITY.md is out of date; run C2C_PAIR_UPDATE_RELIABILITY=1 cargo test --test fault_matrix"
        );
    }
}
