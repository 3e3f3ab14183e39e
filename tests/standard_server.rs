//! Pairing against a standard RFC 8628 server nobody on this team wrote: panva's
//! oidc-provider (OpenID certified), run from `tests/standard-server` (see its README).
//! The real binary pairs, prints a token, refreshes (the server then refuses the spent
//! refresh token), and unpairs, with device information and heartbeat switched off and the
//! scope set to what that server grants; the stock configuration's failures each get a clear
//! message that names the server, not Frame.io.
//!
//! Needs Node.js, `npm ci` in tests/standard-server and a Secret Service, so it is ignored by
//! a plain `cargo test`; `.ci/run` installs all three and runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use c2c_pair::keychain::TokenSet;
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const SECRET: &str = "standard-secret";
const HERE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/standard-server");
/// Longest any one step may take (a pairing polls every 5 s: the server sends no interval).
const STEP: Duration = Duration::from_secs(60);

/// The server, stopped when dropped.
struct StandardServer {
    _child: Child,
    base: String,
}

async fn start_server() -> StandardServer {
    c2c_pair::c2c::install_crypto_provider();
    assert!(
        Path::new(HERE).join("node_modules").is_dir(),
        "run `npm ci` in {HERE} first (.ci/run does)"
    );
    let mut child = Command::new("node")
        .arg("server.mjs")
        .arg("0")
        .current_dir(HERE)
        .env("CLIENT_IDS", "CAM-STD,CAM-STOCK,CAM-INFO")
        .env("CLIENT_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(STEP, lines.next_line())
        .await
        .expect("the server starts")
        .unwrap()
        .expect("a LISTENING line");
    let base = line
        .strip_prefix("LISTENING ")
        .expect("LISTENING <base>")
        .to_owned();
    StandardServer {
        _child: child,
        base,
    }
}

/// The configuration a user writes for this server (`config.toml`).
fn write_config(dir: &Path, base: &str, scope: Option<&str>, device_info_off: bool) {
    let mut text = format!("api_base = \"{base}\"\n");
    if let Some(scope) = scope {
        text.push_str(&format!("scope = \"{scope}\"\n"));
    }
    text.push_str(
        "[endpoints]\ndevice_code = \"/device/auth\"\ntoken = \"/token\"\n\
         revoke = \"/token/revocation\"\nheartbeat = \"\"\n",
    );
    if device_info_off {
        text.push_str("device_info = \"\"\n");
    }
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

fn c2c_pair(kc: &common::TestKeychain, args: &[&str]) -> Command {
    let dir = kc.config_dir.path();
    let mut command = common::c2c_pair_in(&kc.service, dir, args);
    command
        .env("C2C_PAIR_CONFIG", dir.join("config.toml"))
        .env("C2C_PAIR_CLIENT_SECRET", SECRET);
    command
}

/// Runs `pair --json`, approving (or, for the stock scope, trying to approve) its code
/// through the server's own pages; returns exit code, stdout events and stderr.
async fn pair(kc: &common::TestKeychain, base: &str, device: &str) -> (i32, Vec<Value>, String) {
    let mut child = c2c_pair(kc, &["pair", "--device", device, "--json"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let event: Value = serde_json::from_str(&line).unwrap();
            if event["event"] == "code" {
                let code = event["user_code"].as_str().unwrap().to_owned();
                // For the stock scope the provider ends the flow after login; approve.mjs
                // then fails, and the app must say why.
                let _ = Command::new("node")
                    .args(["approve.mjs", base, &code])
                    .current_dir(HERE)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await;
            }
            events.push(event);
        }
    };
    tokio::time::timeout(STEP, run).await.expect("pairing ends");
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), events, stderr)
}

async fn run(kc: &common::TestKeychain, args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(STEP, c2c_pair(kc, args).output())
        .await
        .expect("the command ends")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stored(kc: &common::TestKeychain, account: &str) -> TokenSet {
    TokenSet::from_secret(&kc.read(account).expect("stored")).unwrap()
}

async fn form(url: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(url)
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js, `npm ci` in tests/standard-server and a Secret Service; run .ci/run"]
async fn pair_token_refresh_unpair_against_a_standard_server() {
    let kc = common::os_keychain();
    let server = start_server().await;
    let base = server.base.as_str();
    let host = base.trim_start_matches("http://");
    let account = kc.track(&format!("CAM-STD@{host}"));
    write_config(
        kc.config_dir.path(),
        base,
        Some("openid offline_access"),
        true,
    );

    let (code, events, stderr) = pair(&kc, base, "CAM-STD").await;
    assert_eq!(code, 0, "{events:?} {stderr}");
    let paired = events.iter().find(|e| e["event"] == "paired").unwrap();
    assert_eq!(paired["refresh_token"], true, "{paired}");
    assert_eq!(
        paired["project_error"],
        Value::Null,
        "device info is off: {paired}"
    );
    assert!(!stderr.contains("Warning"), "{stderr}");

    // The token works at the server's own userinfo endpoint.
    let (code, token, stderr) = run(&kc, &["token", "--device", "CAM-STD"]).await;
    assert_eq!(code, 0, "{stderr}");
    let me = reqwest::Client::new()
        .get(format!("{base}/me"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    let before = stored(&kc, &account);
    let (code, out, stderr) = run(&kc, &["refresh", "--device", "CAM-STD"]).await;
    assert_eq!(code, 0, "{out} {stderr}");
    let after = stored(&kc, &account);
    let (old, new) = (
        before.refresh_token.unwrap(),
        after.refresh_token.clone().unwrap(),
    );
    assert_ne!(old.expose_secret(), new.expose_secret(), "rotated");

    let (code, out, stderr) = run(&kc, &["unpair", "--device", "CAM-STD"]).await;
    assert_eq!(code, 0, "{out} {stderr}");
    assert!(kc.read(&account).is_none(), "deleted after unpairing");
    // The new refresh token died with the unpairing, and the spent one was refused anyway.
    for spent in [&old, &new] {
        let (status, body) = form(
            &format!("{base}/token"),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "CAM-STD"),
                ("client_secret", SECRET),
                ("refresh_token", spent.expose_secret()),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js, `npm ci` in tests/standard-server and a Secret Service; run .ci/run"]
async fn the_stock_configuration_fails_clearly_against_a_standard_server() {
    let kc = common::os_keychain();
    let server = start_server().await;
    let base = server.base.as_str();
    let host = base.trim_start_matches("http://");
    kc.track(&format!("CAM-STOCK@{host}"));
    kc.track(&format!("CAM-INFO@{host}"));

    // Frame.io's scope: the server grants nothing and ends the flow with access_denied.
    write_config(kc.config_dir.path(), base, None, true);
    let (code, events, stderr) = pair(&kc, base, "CAM-STOCK").await;
    assert_eq!(code, 3, "{events:?} {stderr}");
    let error = events.iter().find(|e| e["event"] == "error").unwrap();
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("127.0.0.1 refused pairing (access_denied)")
            && message.contains("asset_create offline")
            && message.contains("--scope"),
        "{message}"
    );
    assert!(!message.contains("Frame.io"), "{message}");

    // The right scope, but device information left at Frame.io's path: paired, and told
    // once, plainly, that the server has no such endpoint (not "the network").
    write_config(
        kc.config_dir.path(),
        base,
        Some("openid offline_access"),
        false,
    );
    let (code, events, stderr) = pair(&kc, base, "CAM-INFO").await;
    assert_eq!(code, 0, "{events:?} {stderr}");
    let paired = events.iter().find(|e| e["event"] == "paired").unwrap();
    let why = paired["project_error"].as_str().unwrap();
    assert!(
        why.contains("has no device information endpoint (HTTP 404 at /v2/devices/me)")
            && why.contains("endpoints.device_info = \"\""),
        "{why}"
    );
    let (code, out, stderr) = run(&kc, &["refresh", "--device", "CAM-INFO"]).await;
    assert_eq!(
        code, 0,
        "a missing device-info endpoint does not fail a refresh: {out} {stderr}"
    );
    let (code, _, stderr) = run(&kc, &["unpair", "--device", "CAM-INFO"]).await;
    assert_eq!(code, 0, "{stderr}");
}
