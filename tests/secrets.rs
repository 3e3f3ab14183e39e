//! Secrets never leak: a pair → refresh → unpair run with trace logging, then every place a
//! secret could end up is searched for every secret involved — client secret, device code,
//! access and refresh tokens before and after rotation: stdout, stderr, the config directory,
//! `Debug` output, and every text in the window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Output, Stdio};

use c2c_pair::demo::{DemoConfig, DemoServer};
use c2c_pair::keychain::TokenSet;
use common::{Control, TestKeychain};
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

fn c2c_pair(kc: &TestKeychain, secret: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_c2c-pair"));
    command
        .args(args)
        .env("C2C_PAIR_KEYCHAIN_SERVICE", &kc.service)
        .env("C2C_PAIR_CONFIG_DIR", kc.config_dir.path())
        // The log file goes to its default place, the state directory, moved here.
        .env("XDG_STATE_HOME", state_home(kc))
        .env_remove("C2C_PAIR_LOG_DIR")
        .env("C2C_PAIR_CLIENT_SECRET", secret)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// `XDG_STATE_HOME` of the test's runs (inside its config directory, so it is searched too).
fn state_home(kc: &TestKeychain) -> std::path::PathBuf {
    kc.config_dir.path().join("state")
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

fn assert_clean(place: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({}…) appears in {place}",
            &secret[..6.min(secret.len())]
        );
    }
}

fn all_files_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&all_files_text(&path));
        } else {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, read top to bottom"
)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn no_secret_reaches_logs_output_files_or_debug() {
    let kc = common::os_keychain();
    let client_secret = format!("model-secret-{:016x}", rand::random::<u64>());
    let config = DemoConfig {
        client_secret: client_secret.clone(),
        ..common::fast_config()
    };
    let server = DemoServer::start(config).await.unwrap();
    let control = Control::new(server.base_url());
    let base = server.base_url().to_string();
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    let account = kc.track(&format!("CAM-LEAK@{host}"));

    // Pair, with every log line the app can write.
    let mut pair = c2c_pair(
        &kc,
        &client_secret,
        &[
            "--api-base",
            &base,
            "pair",
            "--device",
            "CAM-LEAK",
            "--json",
        ],
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(pair.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    let mut device_code = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        stdout.push_str(&line);
        stdout.push('\n');
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "code" {
            let user_code = event["user_code"].as_str().unwrap();
            device_code = control.device_code(user_code).await;
            control.approve(user_code).await;
        }
    }
    let paired: Output = pair.wait_with_output().await.unwrap();
    assert!(paired.status.success());
    let first = TokenSet::from_secret(&kc.read(&account).unwrap()).unwrap();

    let refreshed = c2c_pair(
        &kc,
        &client_secret,
        &["--api-base", &base, "refresh", "--device", "CAM-LEAK"],
    )
    .output()
    .await
    .unwrap();
    assert!(
        refreshed.status.success(),
        "{}",
        String::from_utf8_lossy(&refreshed.stderr)
    );
    let second = TokenSet::from_secret(&kc.read(&account).unwrap()).unwrap();
    // The one command that prints a secret, by design — and proof that the search finds one.
    let token = c2c_pair(
        &kc,
        &client_secret,
        &["--api-base", &base, "token", "--device", "CAM-LEAK"],
    )
    .output()
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&token.stdout).contains(second.access_token.expose_secret()));
    assert_clean(
        "token's logs",
        &String::from_utf8_lossy(&token.stderr),
        &tokens_of(&first),
    );
    let unpaired = c2c_pair(
        &kc,
        &client_secret,
        &["--api-base", &base, "unpair", "--device", "CAM-LEAK"],
    )
    .output()
    .await
    .unwrap();
    assert!(
        unpaired.status.success(),
        "{}",
        String::from_utf8_lossy(&unpaired.stderr)
    );

    let mut secrets = vec![client_secret.clone(), device_code.clone()];
    secrets.extend(tokens_of(&first));
    secrets.extend(tokens_of(&second));
    assert_eq!(secrets.len(), 6, "two secrets and two token pairs");
    assert!(secrets.iter().all(|s| s.len() >= 16));

    let stderr = String::from_utf8_lossy(&paired.stderr);
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "trace logging was on"
    );
    assert_clean("pair's stdout", &stdout, &secrets);
    assert_clean("pair's logs", &stderr, &secrets);
    for (name, output) in [("refresh", &refreshed), ("unpair", &unpaired)] {
        assert_clean(
            &format!("{name}'s stdout"),
            &String::from_utf8_lossy(&output.stdout),
            &secrets,
        );
        assert_clean(
            &format!("{name}'s logs"),
            &String::from_utf8_lossy(&output.stderr),
            &secrets,
        );
    }
    assert_clean(
        "the config directory",
        &all_files_text(kc.config_dir.path()),
        &secrets,
    );
    // The trace-level runs wrote the log file in the state directory (Linux's
    // $XDG_STATE_HOME/c2c-pair), the three commands' events in it, and no secret.
    let log = std::fs::read_to_string(state_home(&kc).join("c2c-pair/c2c-pair.log"))
        .expect("a log file in the state directory");
    assert!(log.contains(" TRACE "), "trace events are kept: {log:.300}");
    for step in [
        "paired; tokens saved",
        "refreshed; new tokens saved",
        "unpaired",
    ] {
        assert!(log.contains(step), "the log has {step:?}");
    }
    assert_clean("the log file", &log, &secrets);

    // Debug output of every type that holds a secret.
    let authorization: c2c_pair::c2c::DeviceAuthorization =
        serde_json::from_value(serde_json::json!({
            "device_code": device_code, "user_code": "123456", "expires_in": 120
        }))
        .unwrap();
    let backend = common::backend_for(&server, &client_secret);
    let credentials = backend.credentials("CAM-LEAK");
    let debug = format!(
        "{authorization:?} {first:?} {second:?} {backend:?} {credentials:?} {:?}",
        kc.keychain
    );
    assert_clean("Debug output", &debug, &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn the_embedded_server_logs_no_secret_either() {
    let kc = common::os_keychain();
    let account = kc.track("CAM-DEMOLEAK@demo");
    let mut pair = c2c_pair(&kc, "", &["pair", "--device", "CAM-DEMOLEAK", "--json"]);
    pair.env_remove("C2C_PAIR_CLIENT_SECRET");
    let mut pair = pair.spawn().unwrap();
    let mut lines = BufReader::new(pair.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    let mut device_code = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        stdout.push_str(&line);
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "code" {
            let control = Control::from_link(event["verification_uri_complete"].as_str().unwrap());
            let user_code = event["user_code"].as_str().unwrap();
            device_code = control.device_code(user_code).await;
            control.approve(user_code).await;
        }
    }
    let output = pair.wait_with_output().await.unwrap();
    assert!(output.status.success());
    let mut secrets = vec![device_code];
    secrets.extend(tokens_of(
        &TokenSet::from_secret(&kc.read(&account).unwrap()).unwrap(),
    ));
    assert_clean("demo pair's stdout", &stdout, &secrets);
    assert_clean(
        "demo pair's logs (client and server)",
        &String::from_utf8_lossy(&output.stderr),
        &secrets,
    );
}
