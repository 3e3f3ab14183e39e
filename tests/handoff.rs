//! Handing a pairing to the device: a moved pairing, never a copied one.
//!
//! Through the real binary with the OS keychain (ignored without a Secret Service): a command
//! that exits 0 gets the documented JSON with working credentials, and the laptop deletes its
//! copy, marks the device and refuses to use it afterwards; a command that fails, or does not
//! exist, changes nothing; `--print --yes` prints and forgets. Without a Secret Service:
//! a device held unsaved by another process is not handed off, and no refresh runs while a
//! hand-off waits for its command (the in-memory store and a second, real process).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use c2c_pair::c2c::profile::Profile;
use c2c_pair::demo::DemoServer;
use c2c_pair::device::{self, Context, Delivery, HandoffDocument, LifecycleError, PairOutcome};
use c2c_pair::keychain::{Keychain, TokenSet};
use c2c_pair::registry::{DeviceRecord, DeviceState, Registry};
use c2c_pair::ui::{HANDOFF_COMMAND_LABEL, MANAGE};
use common::window::{Window, demo_choice};
use common::{Control, RefusingWrites, TestKeychain};
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio_util::sync::CancellationToken;

const REFRESH_GRANT: &str = "refresh_token";

/// Every key the README documents for `c2c-pair.handoff/1`.
const DOCUMENTED_KEYS: [&str; 17] = [
    "schema",
    "device_id",
    "device_name",
    "api_base",
    "token_url",
    "client_version",
    "token_type",
    "access_token",
    "refresh_token",
    "expires_at",
    "expires_at_unix",
    "issued_at",
    "issued_at_unix",
    "scope",
    "project_id",
    "project_name",
    "handed_off_at",
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary against `server` (its secret in the environment) to its end.
async fn run(kc: &TestKeychain, server: &DemoServer, args: &[&str]) -> Output {
    let base = server.base_url().to_string();
    let mut all = vec!["--api-base", base.as_str()];
    all.extend_from_slice(args);
    let mut command = common::c2c_pair_in(&kc.service, kc.config_dir.path(), &all);
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the binary ends")
        .unwrap()
}

/// Pairs `device` through the binary, approving its code; returns its keychain account.
async fn pair_with_cli(kc: &TestKeychain, server: &DemoServer, device: &str) -> String {
    let base = server.base_url().to_string();
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    let account = kc.track(&format!("{device}@{host}"));
    let args = [
        "--api-base",
        &base,
        "pair",
        "--device",
        device,
        "--name",
        "A-Cam",
        "--json",
    ];
    let mut command = common::c2c_pair_in(&kc.service, kc.config_dir.path(), &args);
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let control = Control::new(server.base_url());
    while let Some(line) = lines.next_line().await.unwrap() {
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "code" {
            control.approve(event["user_code"].as_str().unwrap()).await;
        }
    }
    assert!(child.wait().await.unwrap().success(), "paired");
    account
}

fn record(registry: &Registry, device: &str) -> DeviceRecord {
    registry
        .load()
        .unwrap()
        .devices
        .into_iter()
        .find(|d| d.device_id == device)
        .expect("recorded")
}

async fn refreshes(control: &Control, device: &str) -> usize {
    control
        .requests_to("/v2/auth/token", Some(device))
        .await
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some(REFRESH_GRANT))
        .count()
}

/// The document a command received, checked against the documented schema.
fn received(path: &Path) -> Value {
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut keys: Vec<&str> = document
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut documented = DOCUMENTED_KEYS;
    documented.sort_unstable();
    assert_eq!(keys, documented, "the documented keys, no more: {keys:?}");
    assert_eq!(
        document["schema"], "c2c-pair.handoff/1",
        "the schema's name"
    );
    assert_eq!(document["token_type"], "Bearer", "the token type");
    document
}

/// Whether the demo server behind `control` takes `refresh_token` from `device` (the device
/// refreshing on its own, with its model's client secret).
async fn device_can_refresh(server: &DemoServer, device: &str, refresh_token: &str) -> bool {
    let backend = common::backend_with_profile(
        Profile::for_api_base(server.base_url().clone()),
        common::demo_secret(),
    );
    backend
        .client
        .refresh(
            &backend.credentials(device),
            &SecretString::from(refresh_token.to_owned()),
        )
        .await
        .is_ok()
}

/// Every file's text under `dir`.
fn all_files_text(dir: &Path) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return text;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&all_files_text(&path));
        } else {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    text
}

fn assert_clean(place: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a token ({}…) appears in {place}",
            &secret[..6.min(secret.len())]
        );
    }
}

fn tokens_of(set: &TokenSet) -> Vec<String> {
    let mut found = vec![set.access_token.expose_secret().to_owned()];
    found.extend(
        set.refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
    );
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one hand-off and everything the laptop does afterwards, read top to bottom"
)]
#[ignore = "needs a Secret Service; run .ci/run or .ci/with-keyring cargo test --test handoff -- --include-ignored"]
async fn a_command_that_exits_0_takes_the_pairing_and_the_laptop_lets_go() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let account = pair_with_cli(&kc, &server, "CAM-GIVE").await;
    let before = TokenSet::from_secret(&kc.read(&account).unwrap()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("received.json");

    let exec = format!("cat > '{}'", file.display());
    let out = run(
        &kc,
        &server,
        &["handoff", "--device", "CAM-GIVE", "--exec", &exec],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with("Handed CAM-GIVE off to the device at ")
            && said.contains("sends no more heartbeats or refreshes"),
        "{said}"
    );

    // The laptop let go: no keychain entry, the record marked.
    assert!(kc.read(&account).is_none(), "the laptop's copy is deleted");
    let marked = record(&kc.registry, "CAM-GIVE");
    let at = marked.handed_off_at().expect("marked handed off");
    assert!(matches!(marked.state, DeviceState::HandedOff { .. }));

    // The device got the documented document, refreshed for it, and it works.
    let document = received(&file);
    assert_eq!(document["device_id"], "CAM-GIVE");
    assert_eq!(document["device_name"], "A-Cam");
    assert_eq!(document["api_base"], server.base_url().as_str());
    assert_eq!(
        document["token_url"],
        server.base_url().join("/v2/auth/token").unwrap().as_str()
    );
    assert_eq!(document["client_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(document["project_name"], "Demo Project");
    assert!(
        document["scope"].is_null(),
        "the demo server does not say which scope it granted: null, not made up"
    );
    assert_eq!(
        document["handed_off_at"],
        c2c_pair::human_time::rfc3339(at).as_str()
    );
    assert!(document["expires_at_unix"].as_u64().unwrap() > at);
    assert!(document["expires_at"].as_str().unwrap().ends_with('Z'));
    let access = document["access_token"].as_str().unwrap().to_owned();
    let refresh = document["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(
        access,
        before.access_token.expose_secret(),
        "refreshed first"
    );
    assert_eq!(
        refreshes(&control, "CAM-GIVE").await,
        1,
        "one refresh, for it"
    );
    assert!(
        control.device_info(&access).await.is_some(),
        "the server accepts the handed access token at /v2/devices/me"
    );

    // The laptop refuses to act for it, says why, and sends nothing.
    for args in [
        &["refresh", "--device", "CAM-GIVE"][..],
        &["token", "--device", "CAM-GIVE"][..],
        &["upload", "--device", "CAM-GIVE"][..],
        &["handoff", "--device", "CAM-GIVE", "--exec", "cat"][..],
    ] {
        let out = run(&kc, &server, args).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("CAM-GIVE: handed off to the device at ")
                && stderr.contains("pair again to manage it from here"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed nothing");
    }
    let out = run(&kc, &server, &["unpair", "--device", "CAM-GIVE"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot be unpaired from here") && stderr.contains("--local"),
        "{stderr}"
    );
    let out = run(&kc, &server, &["status"]).await;
    let table = text(&out.stdout);
    assert!(
        table.contains("handed off") && table.contains("with the device"),
        "{table}"
    );
    assert!(
        table.contains("! CAM-GIVE: handed off to the device at"),
        "{table}"
    );
    assert_eq!(
        refreshes(&control, "CAM-GIVE").await,
        1,
        "nothing refreshed it"
    );
    assert!(
        control
            .requests_to("/v2/auth/revoke", Some("CAM-GIVE"))
            .await
            .is_empty(),
        "nothing revoked it"
    );
    // The refresh token the device holds is unspent: the device can refresh on its own.
    assert!(device_can_refresh(&server, "CAM-GIVE", &refresh).await);

    // Forgetting it here removes the record only.
    let out = run(&kc, &server, &["unpair", "--device", "CAM-GIVE", "--local"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Removed CAM-GIVE from the device list"),
        "{}",
        text(&out.stdout)
    );
    assert!(kc.registry.load().unwrap().devices.is_empty());

    // No token in the log files or the list.
    let mut secrets = tokens_of(&before);
    secrets.push(access);
    secrets.push(refresh);
    let logs = all_files_text(&kc.config_dir.path().join("logs"));
    assert!(
        logs.contains("handed off to the device"),
        "the log says a hand-off ran: {logs}"
    );
    assert_clean(
        "the log files and the device list",
        &all_files_text(kc.config_dir.path()),
        &secrets,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service; run .ci/run or .ci/with-keyring cargo test --test handoff -- --include-ignored"]
async fn a_command_that_fails_or_does_not_exist_changes_nothing() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let account = pair_with_cli(&kc, &server, "CAM-KEEP").await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("received.json");

    // It reads the credentials, echoes them on stderr, and fails.
    let exec = format!("tee '{}' >&2; exit 1", file.display());
    let out = run(
        &kc,
        &server,
        &["handoff", "--device", "CAM-KEEP", "--exec", &exec],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("CAM-KEEP was not handed off: the command failed (exit status 1)")
            && stderr.contains("The laptop keeps the pairing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[redacted]"),
        "what it echoed is shown without the tokens: {stderr}"
    );
    let offered = received(&file);
    let kept =
        TokenSet::from_secret(&kc.read(&account).expect("the laptop keeps its copy")).unwrap();
    let offered_tokens = [
        offered["access_token"].as_str().unwrap().to_owned(),
        offered["refresh_token"].as_str().unwrap().to_owned(),
    ];
    assert_eq!(
        tokens_of(&kept),
        offered_tokens,
        "the laptop holds exactly the set it offered"
    );
    assert_clean("stderr", &stderr, &offered_tokens);
    assert_eq!(
        record(&kc.registry, "CAM-KEEP").state,
        DeviceState::Paired,
        "not marked"
    );

    // A command that is not there.
    let out = run(
        &kc,
        &server,
        &[
            "handoff",
            "--device",
            "CAM-KEEP",
            "--exec",
            "no-such-cmd-c2c",
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("exit status 127") && stderr.contains("not found"),
        "{stderr}"
    );
    assert!(kc.read(&account).is_some(), "kept");
    assert_eq!(record(&kc.registry, "CAM-KEEP").state, DeviceState::Paired);

    // The laptop still manages it.
    let out = run(&kc, &server, &["token", "--device", "CAM-KEEP"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert!(control.device_info(&token).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service; run .ci/run or .ci/with-keyring cargo test --test handoff -- --include-ignored"]
async fn print_asks_first_then_prints_the_document_and_forgets() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let account = pair_with_cli(&kc, &server, "CAM-PASTE").await;

    // Not at a terminal, and no --yes: refused before anything happens.
    let out = run(
        &kc,
        &server,
        &["handoff", "--device", "CAM-PASTE", "--print"],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("add --yes") && stderr.contains("Nothing was changed"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert!(kc.read(&account).is_some());
    assert_eq!(
        refreshes(&control, "CAM-PASTE").await,
        0,
        "not even refreshed"
    );

    let out = run(
        &kc,
        &server,
        &["handoff", "--device", "CAM-PASTE", "--print", "--yes"],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let printed = text(&out.stdout);
    assert_eq!(printed.lines().count(), 1, "one line of JSON: {printed}");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("printed.json");
    std::fs::write(&file, &printed).unwrap();
    let document = received(&file);
    assert_eq!(document["device_id"], "CAM-PASTE");
    assert!(
        control
            .device_info(document["access_token"].as_str().unwrap())
            .await
            .is_some()
    );
    assert!(
        stderr.starts_with("Handed CAM-PASTE off to the device at "),
        "the sentence goes to stderr: {stderr}"
    );
    assert_clean(
        "stderr",
        &stderr,
        &[document["access_token"].as_str().unwrap().to_owned()],
    );
    assert!(kc.read(&account).is_none(), "forgotten here");
    assert!(record(&kc.registry, "CAM-PASTE").handed_off_at().is_some());
}

/// A context on `server` over an in-memory store whose writes can be refused, with a list in
/// `config`.
fn in_memory_context(server: &DemoServer, config: &Path, store: Arc<RefusingWrites>) -> Context {
    Context {
        backend: Arc::new(common::backend_for(server, common::demo_secret())),
        keychain: Keychain::new(store, Duration::from_secs(5)),
        registry: Registry::in_dir(config),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_held_unsaved_by_another_process_is_not_handed_off() {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let config = tempfile::tempdir().unwrap();
    let store = Arc::new(RefusingWrites::in_memory());
    let ctx = in_memory_context(&server, config.path(), store.clone());
    let paired = common::pair_approving(&ctx, &control, "CAM-HELD").await;
    assert!(matches!(paired, Ok(PairOutcome::Paired(_))), "{paired:?}");
    let record = record(&ctx.registry, "CAM-HELD");

    // This process refreshes, and the keychain refuses the new set: it holds it, marked.
    store.refuse.store(true, Ordering::SeqCst);
    let held = match device::refresh(&ctx, &record).await {
        Err(LifecycleError::SaveFailed { unsaved, .. }) => unsaved,
        other => panic!("expected SaveFailed, got {other:?}"),
    };

    // Another process (the binary) may not hand it off: it would hand over a spent set.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("received.json");
    let base = server.base_url().to_string();
    let exec = format!("cat > '{}'", file.display());
    let mut command = common::c2c_pair_in(
        "c2c-pair-test-handoff-never-used",
        config.path(),
        &[
            "--api-base",
            &base,
            "handoff",
            "--device",
            "CAM-HELD",
            "--exec",
            &exec,
        ],
    );
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("answers at once")
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another c2c-pair process (pid {})",
            std::process::id()
        )),
        "{stderr}"
    );
    assert!(!file.exists(), "the command never ran");
    assert_eq!(
        refreshes(&control, "CAM-HELD").await,
        1,
        "nothing more sent"
    );
    assert!(
        self::record(&ctx.registry, "CAM-HELD")
            .handed_off_at()
            .is_none()
    );
    drop(held);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_refresh_runs_while_a_hand_off_waits_for_its_command() {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let config = tempfile::tempdir().unwrap();
    let store = Arc::new(RefusingWrites::in_memory());
    let ctx = in_memory_context(&server, config.path(), store);
    let paired = common::pair_approving(&ctx, &control, "CAM-LOCK").await;
    assert!(matches!(paired, Ok(PairOutcome::Paired(_))), "{paired:?}");
    let record = record(&ctx.registry, "CAM-LOCK");

    // The command takes the credentials, says so, then waits on a FIFO the test opens.
    let work = tempfile::tempdir().unwrap();
    let (file, started, gate) = (
        work.path().join("received.json"),
        work.path().join("started"),
        work.path().join("gate"),
    );
    let made = std::process::Command::new("mkfifo")
        .arg(&gate)
        .status()
        .unwrap();
    assert!(made.success());
    let line = format!(
        "cat > '{}' && : > '{}' && read _ < '{}'",
        file.display(),
        started.display(),
        gate.display()
    );
    let handing = tokio::spawn({
        let (ctx, record) = (ctx.clone(), record.clone());
        async move {
            let cancel = CancellationToken::new();
            let delivery = Delivery::Command {
                line: &line,
                cancel: &cancel,
            };
            device::hand_off(&ctx, &record, delivery).await
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A refresh asked for now waits for the device's lock: the device holds the only valid
    // refresh token, and a refresh would spend it. (Without the lock it would be done in a
    // few milliseconds on loopback; this bounds a wait expected not to end.)
    let waiting = tokio::time::timeout(Duration::from_millis(500), device::refresh(&ctx, &record));
    assert!(
        waiting.await.is_err(),
        "the refresh went ahead during the hand-off"
    );
    let after = tokio::spawn({
        let (ctx, record) = (ctx.clone(), record.clone());
        async move { device::refresh(&ctx, &record).await }
    });
    tokio::task::spawn_blocking(move || std::fs::write(gate, "go\n"))
        .await
        .unwrap()
        .unwrap();
    let done = handing.await.unwrap().expect("handed off");
    assert!(done.refreshed && done.leftover.is_none(), "{done:?}");
    match after.await.unwrap() {
        Err(LifecycleError::HandedOff { device, at }) => {
            assert_eq!((device.as_str(), at), ("CAM-LOCK", done.at));
        }
        other => panic!("expected HandedOff, got {other:?}"),
    }
    assert_eq!(
        refreshes(&control, "CAM-LOCK").await,
        1,
        "only the hand-off's"
    );
    let document: HandoffDocument =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let refresh = document.refresh_token.expect("a refresh token");
    assert!(device_can_refresh(&server, "CAM-LOCK", refresh.expose_secret()).await);
}

/// Every text the window exposes: labels and values of every accessibility node.
fn all_texts(window: &Window) -> String {
    let mut text = String::new();
    for node in window.harness.root().children_recursive() {
        let node = node.accesskit_node();
        for part in [node.label(), node.value(), node.description()]
            .into_iter()
            .flatten()
        {
            text.push_str(&part);
            text.push('\n');
        }
    }
    text
}

/// Pairs `device` through the window's form and approves it; returns the server's control
/// API and its address.
fn pair_in_window(
    window: &mut Window,
    rt: &tokio::runtime::Runtime,
    device: &str,
) -> (Control, url::Url) {
    let link = window.request_code(device);
    let base = url::Url::parse(&link).unwrap().join("/").unwrap();
    let control = Control::from_link(&link);
    let codes = rt.block_on(control.codes());
    let code = codes
        .iter()
        .find(|c| c["client_id"] == device && c["status"] == "pending")
        .expect("its code");
    rt.block_on(control.approve(code["user_code"].as_str().unwrap()));
    window.until_label("Paired");
    window.click("Close");
    (control, base)
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "the window's whole hand-off and what the app does afterwards, read top to bottom"
)]
fn the_window_hands_off_once_told_the_laptop_lets_go_then_leaves_the_device_alone() {
    let kc = common::test_keychain();
    let account = kc.track("CAM-WIN@demo");
    kc.track("CAM-WITNESS@demo");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let every = Duration::from_millis(200);
    let mut window = Window::open_with_heartbeat(demo_choice(common::fast_config()), &kc, every);
    window.until_label_contains("Demo — not connected to Frame.io");
    let (control, base) = pair_in_window(&mut window, &rt, "CAM-WIN");

    // The form says what happens; "Keep it here" closes it and sends nothing.
    window.manage("Hand off…");
    window
        .harness
        .get_by_label_contains("When it exits 0, this laptop lets go");
    assert!(
        window
            .harness
            .get_by_label("Hand off now")
            .accesskit_node()
            .is_disabled(),
        "no command, no hand-off"
    );
    window.click("Keep it here");
    assert!(
        window
            .harness
            .query_by_label(HANDOFF_COMMAND_LABEL)
            .is_none()
    );

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("received.json");
    window.manage("Hand off…");
    window.harness.get_by_label(HANDOFF_COMMAND_LABEL).focus();
    window.harness.run_ok();
    window
        .harness
        .get_by_label(HANDOFF_COMMAND_LABEL)
        .type_text(&format!("cat > '{}'", file.display()));
    window.harness.run_ok();
    window.click("Hand off now");
    window.until_label_contains("CAM-WIN handed off to the device");
    window.until_label("handed off");
    window
        .harness
        .get_by_label_contains("Handed off to the device at");
    assert!(
        window.harness.query_by_label(MANAGE).is_none()
            && window.harness.query_by_label("Send test clip").is_none(),
        "no action but Forget"
    );
    assert!(kc.read(&account).is_none(), "the laptop's copy is deleted");
    assert!(record(&kc.registry, "CAM-WIN").handed_off_at().is_some());
    let document = received(&file);
    assert_eq!(document["device_id"], "CAM-WIN");
    let access = document["access_token"].as_str().unwrap().to_owned();
    assert!(rt.block_on(control.device_info(&access)).is_some());
    assert!(
        !all_texts(&window).contains(&access),
        "the token is never shown"
    );

    // Even with a copy back in the keychain (a delete that failed, say), the window neither
    // beats nor refreshes for it while another device beats on.
    let document: HandoffDocument = serde_json::from_value(document).unwrap();
    let copy = TokenSet {
        access_token: document.access_token.clone(),
        refresh_token: document.refresh_token.clone(),
        access_expires_at: document.expires_at_unix,
        issued_at: document.issued_at_unix,
        scope: document.scope.clone(),
    };
    rt.block_on(kc.keychain.save_tokens(&account, &copy))
        .unwrap();
    pair_in_window(&mut window, &rt, "CAM-WITNESS");
    let count =
        |path: &str, device: &str| rt.block_on(control.requests_to(path, Some(device))).len();
    let beats = count("/v2/devices/heartbeat", "CAM-WIN");
    let token_requests = count("/v2/auth/token", "CAM-WIN");
    let witness = count("/v2/devices/heartbeat", "CAM-WITNESS");
    window.until("three witness heartbeats", |_| {
        count("/v2/devices/heartbeat", "CAM-WITNESS") >= witness + 3
    });
    assert_eq!(
        count("/v2/devices/heartbeat", "CAM-WIN"),
        beats,
        "no heartbeat"
    );
    assert_eq!(
        count("/v2/auth/token", "CAM-WIN"),
        token_requests,
        "no refresh"
    );

    // Forget removes the record; the device keeps its pairing.
    window.click("Forget");
    window.until_label("CAM-WIN removed from the list; the device keeps its pairing.");
    window.harness.get_by_label("Devices (1)");
    let refresh = document.refresh_token.expect("a refresh token");
    let backend = common::backend_with_profile(Profile::for_api_base(base), common::demo_secret());
    let refreshed = rt.block_on(
        backend
            .client
            .refresh(&backend.credentials("CAM-WIN"), &refresh),
    );
    assert!(
        refreshed.is_ok(),
        "the device's refresh token is unspent: {refreshed:?}"
    );
}

#[test]
fn the_readme_documents_every_key_of_the_schema_and_no_other() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let (_, section) = readme
        .split_once("### The JSON a device receives (`c2c-pair.handoff/1`)")
        .expect("the schema's section");
    let mut rows: Vec<&str> = section
        .lines()
        .take_while(|line| !line.starts_with("```"))
        .filter_map(|line| {
            line.strip_prefix("| `")?
                .split_once('`')
                .map(|(key, _)| key)
        })
        .collect();
    rows.sort_unstable();
    let mut documented = DOCUMENTED_KEYS;
    documented.sort_unstable();
    assert_eq!(rows, documented);
}

#[tokio::test]
async fn exec_or_print_one_of_them_and_yes_only_with_print() {
    let config = tempfile::tempdir().unwrap();
    for args in [
        &["handoff", "--device", "CAM-1"][..],
        &["handoff", "--device", "CAM-1", "--exec", "cat", "--print"][..],
        &["handoff", "--device", "CAM-1", "--exec", "cat", "--yes"][..],
        &["handoff", "--device", "CAM-1", "--print", "--json"][..],
    ] {
        let out = common::c2c_pair_in("c2c-pair-test-handoff-never-used", config.path(), args)
            .output()
            .await
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("Usage: c2c-pair handoff"),
            "{args:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service; run .ci/run or .ci/with-keyring cargo test --test handoff -- --include-ignored"]
async fn output_makes_a_new_private_file_and_never_writes_over_one() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let account = pair_with_cli(&kc, &server, "CAM-FILE").await;
    let work = tempfile::tempdir().unwrap();

    // A name already taken: refused before anything happens, the file untouched.
    let taken = work.path().join("taken.json");
    std::fs::write(&taken, "keep me").unwrap();
    let taken_arg = taken.display().to_string();
    let out = run(
        &kc,
        &server,
        &["handoff", "--device", "CAM-FILE", "--output", &taken_arg],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "keep me");
    assert!(kc.read(&account).is_some());
    assert_eq!(
        refreshes(&control, "CAM-FILE").await,
        0,
        "not even refreshed"
    );

    let file = work.path().join("cam-file.json");
    let file_arg = file.display().to_string();
    let out = run(
        &kc,
        &server,
        &["handoff", "--device", "CAM-FILE", "--output", &file_arg],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.starts_with("Handed CAM-FILE off"), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let document = received(&file);
    assert_eq!(document["device_id"], "CAM-FILE");
    let token = document["access_token"].as_str().unwrap().to_owned();
    assert!(control.device_info(&token).await.is_some());
    assert_clean("stdout", &stdout, &[token]);
    assert!(kc.read(&account).is_none(), "forgotten here");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service; run .ci/run or .ci/with-keyring cargo test --test handoff -- --include-ignored"]
async fn print_into_a_file_others_can_read_warns() {
    use std::os::unix::fs::PermissionsExt as _;
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let _account = pair_with_cli(&kc, &server, "CAM-SHARED").await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("cam-shared.json");
    let target = std::fs::File::create(&file).unwrap();
    target
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let base = server.base_url().to_string();
    let args = [
        "--api-base",
        base.as_str(),
        "handoff",
        "--device",
        "CAM-SHARED",
        "--print",
        "--yes",
    ];
    let mut command = common::c2c_pair_in(&kc.service, kc.config_dir.path(), &args);
    command
        .env("C2C_PAIR_CLIENT_SECRET", common::demo_secret())
        .stdout(target);
    // `output()` would pipe stdout whatever was set; a spawned child keeps the file.
    let child = command.spawn().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the binary ends")
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("can be read by other users") && stderr.contains("--output FILE"),
        "{stderr}"
    );
    assert_eq!(received(&file)["device_id"], "CAM-SHARED");
}
