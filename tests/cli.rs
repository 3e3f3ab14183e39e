//! The `c2c-pair` binary, as scripts use it: JSON events on stdout, documented exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Output, Stdio};

use c2c_pair::demo::{DemoConfig, DemoServer};
use c2c_pair::keychain::TokenSet;
use common::{Control, Hostile, TestKeychain};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The binary with a clean environment, the test's keychain service and config directory.
fn c2c_pair(kc: &TestKeychain, args: &[&str]) -> Command {
    common::c2c_pair_in(&kc.service, kc.config_dir.path(), args)
}

struct Running {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Running {
    fn start(mut command: Command) -> Self {
        let mut child = command.spawn().expect("binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        Self {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next JSON event on stdout.
    async fn event(&mut self) -> Value {
        let line = self
            .lines
            .next_line()
            .await
            .unwrap()
            .expect("another event");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Reads events until one named `name`.
    async fn until(&mut self, name: &str) -> Value {
        loop {
            let event = self.event().await;
            if event["event"] == name {
                return event;
            }
            assert_ne!(
                event["event"], "error",
                "failed while waiting for {name}: {event}"
            );
        }
    }

    async fn exit_code(mut self) -> i32 {
        self.child.wait().await.unwrap().code().expect("exited")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn pair_against_a_server_prints_json_events_and_stores_the_tokens() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let base = server.base_url().to_string();
    let host = server
        .base_url()
        .port()
        .map(|p| format!("127.0.0.1:{p}"))
        .unwrap();
    let account = kc.track(&format!("CAM-CLI-1@{host}"));
    let mut command = c2c_pair(
        &kc,
        &[
            "--api-base",
            &base,
            "pair",
            "--device",
            "CAM-CLI-1",
            "--json",
        ],
    );
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    let mut run = Running::start(command);

    let server_event = run.until("server").await;
    assert_eq!(server_event["demo"], false);
    let code = run.until("code").await;
    let user_code = code["user_code"].as_str().unwrap();
    assert_eq!(code["verification_uri"], format!("{base}pair"));
    assert_eq!(
        code["verification_uri_complete"],
        format!("{base}pair/{user_code}")
    );
    assert_eq!(code["interval"], 0.2);
    Control::new(server.base_url()).approve(user_code).await;
    let paired = run.until("paired").await;
    assert_eq!(paired["keychain_account"], account);
    assert_eq!(paired["project"], "Demo Project");
    assert_eq!(run.exit_code().await, 0);

    let stored = TokenSet::from_secret(&kc.read(&account).expect("in the keychain")).unwrap();
    assert!(stored.refresh_token.is_some() && stored.access_expires_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn with_no_secret_pair_uses_the_built_in_demo_server() {
    let kc = common::os_keychain();
    let account = kc.track("CAM-DEMO-1@demo");
    let mut run = Running::start(c2c_pair(&kc, &["pair", "--device", "CAM-DEMO-1", "--json"]));
    assert_eq!(run.until("server").await["demo"], true);
    let code = run.until("code").await;
    let link = code["verification_uri_complete"].as_str().unwrap();
    assert!(link.starts_with("http://127.0.0.1:"), "{link}");
    Control::from_link(link)
        .approve(code["user_code"].as_str().unwrap())
        .await;
    assert_eq!(run.until("paired").await["keychain_account"], account);
    assert_eq!(run.exit_code().await, 0);
    assert!(kc.read(&account).is_some());
}

async fn run_to_end(kc: &TestKeychain, args: &[&str], secret: Option<&str>) -> Output {
    let mut command = c2c_pair(kc, args);
    if let Some(secret) = secret {
        command.env("C2C_PAIR_CLIENT_SECRET", secret);
    }
    command.output().await.unwrap()
}

/// Asserts an exit code and that stderr explains it, without a panic or a secret.
fn assert_failure(output: &Output, code: i32, says: &str) {
    let stderr = text(&output.stderr);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains(common::demo_secret()),
        "secret leaked: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn bad_usage_and_configuration_exit_2() {
    let kc = common::os_keychain();
    let long = "x".repeat(129);
    for (args, says) in [
        (vec!["pair", "--device", ""], "enter a device id"),
        (vec!["pair", "--device", "   "], "enter a device id"),
        (vec!["pair", "--device", &long], "the limit is 128"),
        (vec!["pair", "--device", "CAM\t1"], "control character"),
        (
            vec!["--api-base", "http://example.com", "pair", "--device", "X"],
            "refusing plain http://",
        ),
        (
            vec!["--api-base", "not a url", "pair", "--device", "X"],
            "is not a URL",
        ),
        (
            vec!["--client-version", "1.2", "pair", "--device", "X"],
            "not a semantic version",
        ),
        (
            vec!["--token-path", "v2/token", "pair", "--device", "X"],
            "must start with a single /",
        ),
        // Paths that URL joining would resolve to another host: secrets would go there.
        (
            vec!["--token-path", "//evil.example/t", "pair", "--device", "X"],
            "must start with a single /",
        ),
        (
            vec!["--token-path", "/\\evil.example/t", "pair", "--device", "X"],
            "must start with a single /",
        ),
        (
            vec!["--scope", "asset_create \"x\"", "pair", "--device", "X"],
            "is not a scope",
        ),
    ] {
        let output = run_to_end(&kc, &args, Some("s")).await;
        assert_failure(&output, 2, says);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn refusals_and_failures_have_their_own_exit_codes() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let base = server.base_url().to_string();

    let wrong_secret = run_to_end(
        &kc,
        &["--api-base", &base, "pair", "--device", "X"],
        Some("wrong"),
    )
    .await;
    assert_failure(&wrong_secret, 3, "invalid_client");
    // The command line, not the protocol, names the command that stores the secret.
    assert_failure(&wrong_secret, 3, "c2c-pair secret set");
    assert!(
        !text(&wrong_secret.stderr).contains("wrong"),
        "the secret is never echoed"
    );

    let no_secret = run_to_end(&kc, &["--api-base", &base, "pair", "--device", "X"], None).await;
    assert_failure(
        &no_secret,
        2,
        "no client secret is configured for 127.0.0.1:",
    );

    let down = common::closed_port_url().to_string();
    let output = run_to_end(
        &kc,
        &["--api-base", &down, "pair", "--device", "X"],
        Some("s"),
    )
    .await;
    assert_failure(&output, 5, "could not reach 127.0.0.1");

    for (kind, says) in [
        (Hostile::MalformedJson, "could not be understood"),
        (Hostile::Oversized, "larger than 64 KiB"),
        (Hostile::BadGateway, "HTTP 502"),
    ] {
        let base = common::hostile_server(kind).await.to_string();
        let output = run_to_end(
            &kc,
            &["--api-base", &base, "pair", "--device", "X"],
            Some("s"),
        )
        .await;
        assert_failure(&output, 5, says);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn an_expired_code_exits_4_and_a_denied_one_exits_3() {
    let kc = common::os_keychain();
    let config = DemoConfig {
        expires_in: std::time::Duration::from_millis(600),
        ..common::fast_config()
    };
    let server = DemoServer::start(config).await.unwrap();
    let base = server.base_url().to_string();
    let output = run_to_end(
        &kc,
        &["--api-base", &base, "pair", "--device", "CAM-EXP"],
        Some(common::demo_secret()),
    )
    .await;
    assert_failure(&output, 4, "The code expired");

    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let base = server.base_url().to_string();
    let mut command = c2c_pair(
        &kc,
        &["--api-base", &base, "pair", "--device", "CAM-NO", "--json"],
    );
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    let mut run = Running::start(command);
    let code = run.until("code").await;
    Control::new(server.base_url())
        .deny(code["user_code"].as_str().unwrap())
        .await;
    let error = run.until_error().await;
    assert_eq!(error["kind"], "refused");
    assert!(error["message"].as_str().unwrap().contains("declined"));
    assert_eq!(run.exit_code().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_service_fails_before_any_code_with_exit_6() {
    // A D-Bus address where nothing listens: no keychain at all.
    let config = tempfile::tempdir().unwrap();
    let mut command = common::c2c_pair_in(
        "c2c-pair-test-nokeychain",
        config.path(),
        &["pair", "--device", "CAM-NOKEY", "--json"],
    );
    command.env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/c2c-pair-test-bus",
    );
    let output = command.output().await.unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(6), "{stdout}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events.iter().all(|e| e["event"] != "code"),
        "no code before the keychain works"
    );
    let error = events.last().unwrap();
    assert_eq!(error["kind"], "keychain");
    assert!(
        error["message"].as_str().unwrap().contains("gnome-keyring"),
        "{error}"
    );
}

impl Running {
    async fn until_error(&mut self) -> Value {
        loop {
            let event = self.event().await;
            if event["event"] == "error" {
                return event;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn a_client_secret_set_from_stdin_is_used_from_the_keychain() {
    use tokio::io::AsyncWriteExt as _;
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let base = server.base_url().to_string();
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    let secret_account = kc.track(&format!("client-secret:{host}"));
    let token_account = kc.track(&format!("CAM-KEYSECRET@{host}"));

    let mut command = c2c_pair(&kc, &["--api-base", &base, "secret", "set"]);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", common::demo_secret()).as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        !text(&output.stdout).contains(common::demo_secret()),
        "the secret is never printed"
    );
    assert!(kc.read(&secret_account).is_some());

    // No environment secret: the stored one is used.
    let mut run = Running::start(c2c_pair(
        &kc,
        &[
            "--api-base",
            &base,
            "pair",
            "--device",
            "CAM-KEYSECRET",
            "--json",
        ],
    ));
    assert_eq!(run.until("server").await["demo"], false);
    let code = run.until("code").await;
    Control::new(server.base_url())
        .approve(code["user_code"].as_str().unwrap())
        .await;
    run.until("paired").await;
    assert_eq!(run.exit_code().await, 0);
    assert!(kc.read(&token_account).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_server_runs_on_its_own_and_says_how_to_use_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let config = tempfile::tempdir().unwrap();
    let mut run = Running::start(common::c2c_pair_in(
        "unused",
        config.path(),
        &["demo-server", "--listen", &listen, "--interval", "0.2"],
    ));
    let first = run.lines.next_line().await.unwrap().unwrap();
    assert_eq!(first, format!("Demo C2C server at http://{listen}/"));
    let base = url::Url::parse(&format!("http://{listen}/")).unwrap();
    let client = c2c_pair::c2c::C2cClient::new(common::profile_for(&base)).unwrap();
    let credentials = c2c_pair::c2c::ClientCredentials {
        client_id: "CAM-STANDALONE".into(),
        client_secret: secrecy::SecretString::from(common::demo_secret()),
    };
    let auth = client.request_device_code(&credentials).await.unwrap();
    assert_eq!(auth.interval, std::time::Duration::from_millis(200));
    assert_eq!(auth.expires_in, std::time::Duration::from_secs(120));
}

/// The demo servers' folders of received media in `temp`.
fn media_folders(temp: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(temp)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(c2c_pair::demo::MEDIA_FOLDER_PREFIX)
        })
        .map(|e| e.path())
        .collect()
}

/// `demo-server` in its own temporary directory, once it said where it listens.
async fn standalone_server(temp: &std::path::Path) -> Running {
    let config = tempfile::tempdir().unwrap();
    let mut command = common::c2c_pair_in(
        "unused",
        config.path(),
        &["demo-server", "--listen", "127.0.0.1:0"],
    );
    command.env("TMPDIR", temp);
    let mut run = Running::start(command);
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), run.lines.next_line())
        .await
        .expect("the server starts")
        .unwrap()
        .unwrap();
    assert!(first.starts_with("Demo C2C server at "), "{first}");
    run
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_server_leaves_no_media_behind_whether_stopped_or_killed() {
    let temp = tempfile::tempdir().unwrap();
    let signal = |run: &Running, name: &str| {
        let pid = run.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    for stop in ["-TERM", "-HUP"] {
        let server = standalone_server(temp.path()).await;
        assert_eq!(
            media_folders(temp.path()).len(),
            1,
            "its folder while it runs"
        );
        signal(&server, stop);
        assert_eq!(server.exit_code().await, 0, "{stop}");
        assert!(media_folders(temp.path()).is_empty(), "{stop} removes it");
    }
    // Killed: nothing can tidy up, so the next server does.
    let mut killed = standalone_server(temp.path()).await;
    killed.child.kill().await.unwrap();
    let left = media_folders(temp.path());
    assert_eq!(left.len(), 1, "SIGKILL leaves it");
    let next = standalone_server(temp.path()).await;
    let now = media_folders(temp.path());
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, left, "the next server removed the dead one's folder");
    signal(&next, "-TERM");
    assert_eq!(next.exit_code().await, 0);
    assert!(media_folders(temp.path()).is_empty());
}

/// Pairs a device through the binary against `server`, approving it; returns its account.
async fn pair_with_cli(kc: &TestKeychain, server: &DemoServer, device: &str) -> String {
    let base = server.base_url().to_string();
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    let account = kc.track(&format!("{device}@{host}"));
    let mut command = c2c_pair(
        kc,
        &[
            "--api-base",
            &base,
            "pair",
            "--device",
            device,
            "--name",
            "A-Cam",
            "--json",
        ],
    );
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    run_approved(command, server).await;
    account
}

/// Runs a `pair --json` command to its end, approving its code on `server`; returns the
/// `paired` event.
async fn run_approved(command: Command, server: &DemoServer) -> Value {
    let mut run = Running::start(command);
    let code = run.until("code").await;
    Control::new(server.base_url())
        .approve(code["user_code"].as_str().unwrap())
        .await;
    let paired = run.until("paired").await;
    assert_eq!(run.exit_code().await, 0, "`pair` exits 0 once paired");
    paired
}

/// Runs a fleet command against `server` with its secret in the environment.
async fn fleet_command(kc: &TestKeychain, server: &DemoServer, args: &[&str]) -> Output {
    let base = server.base_url().to_string();
    let mut all = vec!["--api-base", base.as_str()];
    all.extend_from_slice(args);
    run_to_end(kc, &all, Some(common::demo_secret())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn token_prints_only_the_token_and_refreshes_an_expired_one_first() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let account = pair_with_cli(&kc, &server, "CAM-TOKEN").await;
    let stored = TokenSet::from_secret(&kc.read(&account).unwrap()).unwrap();

    let output = fleet_command(&kc, &server, &["token", "--device", "CAM-TOKEN"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let printed = text(&output.stdout);
    assert_eq!(
        printed,
        format!(
            "{}\n",
            secrecy::ExposeSecret::expose_secret(&stored.access_token)
        ),
        "one line, the token"
    );
    assert!(
        output.stderr.is_empty(),
        "nothing else: {}",
        text(&output.stderr)
    );

    // The server expires the access token, and the local copy says so too (time passed).
    control.expire_access("CAM-TOKEN").await;
    let expired = TokenSet {
        access_expires_at: Some(stored.issued_at),
        ..stored
    };
    kc.keychain.save_tokens(&account, &expired).await.unwrap();
    let output = fleet_command(&kc, &server, &["token", "--device", "CAM-TOKEN"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let fresh = text(&output.stdout).trim().to_owned();
    assert_ne!(
        fresh,
        secrecy::ExposeSecret::expose_secret(&expired.access_token)
    );
    assert!(
        control.device_info(&fresh).await.is_some(),
        "the printed token works"
    );
    let refreshes = control
        .requests_to("/v2/auth/token", Some("CAM-TOKEN"))
        .await;
    assert_eq!(
        refreshes
            .iter()
            .filter(|r| r.grant_type.as_deref() == Some("refresh_token"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn status_refresh_and_unpair_from_the_command_line() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let account = pair_with_cli(&kc, &server, "CAM-FLEET").await;

    let output = fleet_command(&kc, &server, &["status"]).await;
    let table = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(table.starts_with("DEVICE"), "{table}");
    assert!(
        table.contains("CAM-FLEET (A-Cam)")
            && table.contains("paired")
            && table.contains("Demo Project"),
        "{table}"
    );

    let output = fleet_command(&kc, &server, &["status", "--json"]).await;
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(list[0]["device"], "CAM-FLEET");
    assert_eq!(list[0]["state"], "paired");
    assert_eq!(list[0]["project"], "Demo Project");
    assert_eq!(list[0]["keychain_account"], account);
    assert!(
        !text(&output.stdout).contains("access_token"),
        "no secret in status"
    );

    let output = fleet_command(&kc, &server, &["status", "--csv"]).await;
    assert_eq!(output.status.code(), Some(0));
    let csv = text(&output.stdout);
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next(),
        Some(c2c_pair::report::CSV_HEADER.join(",").as_str())
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&row[..4], ["CAM-FLEET", "A-Cam", "paired", "Demo Project"]);
    assert!(row[6].ends_with('Z'), "token expiry in RFC 3339: {csv}");

    let output = fleet_command(&kc, &server, &["refresh", "--device", "CAM-FLEET"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("Refreshed CAM-FLEET: token valid for"),
        "{}",
        text(&output.stdout)
    );

    let output = fleet_command(&kc, &server, &["unpair", "--device", "CAM-FLEET", "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let done: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(done["event"], "unpaired");
    assert_eq!(done["revoked"], true);
    assert!(kc.read(&account).is_none());

    let output = fleet_command(&kc, &server, &["status", "--device", "CAM-FLEET"]).await;
    assert_failure(&output, 2, "CAM-FLEET is not in the device list");
    let output = fleet_command(&kc, &server, &["token", "--device", "CAM-FLEET"]).await;
    assert_failure(&output, 2, "CAM-FLEET is not paired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn a_wrong_secret_on_refresh_keeps_the_pairing_and_unpair_local_forgets_without_the_server() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let account = pair_with_cli(&kc, &server, "CAM-CONF").await;

    // A settings mistake (another device model's secret) is not a dead pairing.
    let base = server.base_url().to_string();
    let output = run_to_end(
        &kc,
        &["--api-base", &base, "refresh", "--device", "CAM-CONF"],
        Some("not-the-secret"),
    )
    .await;
    assert_failure(&output, 2, "invalid_client");
    assert!(text(&output.stderr).contains("the pairing is kept"));
    let output = fleet_command(&kc, &server, &["status", "--json"]).await;
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(list[0]["state"], "paired", "not flagged: {list}");
    // With the right secret it refreshes at once.
    let output = fleet_command(&kc, &server, &["refresh", "--device", "CAM-CONF"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    // Forgotten here only: keychain entry and record gone, the server never asked.
    let output = fleet_command(
        &kc,
        &server,
        &["unpair", "--device", "CAM-CONF", "--local", "--json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let done: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (done["event"].as_str(), done["revoked"].as_bool()),
        (Some("forgotten"), Some(false))
    );
    assert!(kc.read(&account).is_none());
    assert!(
        control
            .requests_to("/v2/auth/revoke", Some("CAM-CONF"))
            .await
            .is_empty()
    );
    let output = fleet_command(&kc, &server, &["status", "--device", "CAM-CONF"]).await;
    assert_failure(&output, 2, "CAM-CONF is not in the device list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn a_revoked_device_needs_re_pairing_exit_3() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    pair_with_cli(&kc, &server, "CAM-REVOKED").await;
    Control::new(server.base_url())
        .revoke_device("CAM-REVOKED")
        .await;
    let output = fleet_command(&kc, &server, &["refresh", "--device", "CAM-REVOKED"]).await;
    assert_failure(&output, 3, "CAM-REVOKED must be paired again");
    let output = fleet_command(&kc, &server, &["status", "--json"]).await;
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(list[0]["state"], "needs_repairing");
}

#[tokio::test]
async fn a_closed_stdout_is_not_a_crash() {
    // `c2c-pair status | true`: the reader is gone before anything is printed.
    let config = tempfile::tempdir().unwrap();
    let mut child = common::c2c_pair_in("unused", config.path(), &["status"])
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().await.unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn upload_sends_the_test_clip_with_its_note_or_a_file() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    pair_with_cli(&kc, &server, "CAM-UP").await;

    // Without FILE: the shipped test clip and its note, as JSON events.
    let output = fleet_command(&kc, &server, &["upload", "--device", "CAM-UP", "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let events: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let done = events.iter().find(|e| e["event"] == "uploaded").unwrap();
    assert_eq!(done["bytes"], c2c_pair::device::TEST_CLIP.len());
    assert_eq!(done["name"], "c2c-pair-test-clip.mp4");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "notice"
                && e["message"].as_str().unwrap().contains("Rig check from")),
        "{events:?}"
    );
    let finished = events.last().unwrap();
    assert_eq!(
        (
            &finished["event"],
            &finished["uploaded"],
            &finished["failed"]
        ),
        (&Value::from("finished"), &Value::from(1), &Value::from(0))
    );
    let on_server = control.assets().await;
    assert_eq!(on_server.len(), 1);
    assert_eq!(on_server[0]["id"], done["asset_id"]);
    assert_eq!(on_server[0]["complete"], true);
    assert_eq!(on_server[0]["filesize"], c2c_pair::device::TEST_CLIP.len());

    // A file of our own, in more than one part; the sentence names it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("take 1.mov");
    let size = usize::try_from(c2c_pair::device::PART_SIZE).unwrap() + 1000;
    std::fs::write(&file, vec![7u8; size]).unwrap();
    let path = file.to_str().unwrap();
    let output = fleet_command(&kc, &server, &["upload", "--device", "CAM-UP", path]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let sentence = text(&output.stdout);
    assert!(
        sentence.starts_with("Uploaded take 1.mov (")
            && sentence.contains("KB) from CAM-UP: asset "),
        "{sentence}"
    );
    let on_server = control.assets().await;
    let take = on_server
        .iter()
        .find(|a| a["name"] == "take 1.mov")
        .unwrap();
    assert_eq!(take["complete"], true);
    assert_eq!(take["filesize"], size);
    assert_eq!(take["filetype"], "video/quicktime");

    // A file that is not there: exit 2, named.
    let missing = dir.path().join("missing.mov");
    let output = fleet_command(
        &kc,
        &server,
        &["upload", "--device", "CAM-UP", missing.to_str().unwrap()],
    )
    .await;
    assert_failure(&output, 2, "missing.mov");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn doctor_names_an_unreachable_api_base_and_prints_no_secret() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let account = pair_with_cli(&kc, &server, "CAM-DOCTOR").await;
    let stored = TokenSet::from_secret(&kc.read(&account).unwrap()).unwrap();
    let proxy_password = "pr0xyPassw0rd";
    let doctor = |base: String| {
        let mut command = c2c_pair(&kc, &["--api-base", &base, "doctor"]);
        command
            .env("C2C_PAIR_CLIENT_SECRET", common::demo_secret())
            .env(
                "HTTPS_PROXY",
                // Without a scheme, as the HTTP stack also accepts it: still no password shown.
                format!("engineer:{proxy_password}@proxy.invalid:3128"),
            )
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("RUST_LOG", "trace");
        command
    };
    let secrets = [
        common::demo_secret(),
        proxy_password,
        secrecy::ExposeSecret::expose_secret(&stored.access_token),
        secrecy::ExposeSecret::expose_secret(stored.refresh_token.as_ref().unwrap()),
    ];
    let no_secret = |output: &Output| {
        let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
        for secret in secrets {
            assert!(!all.contains(secret), "a secret was printed: {all}");
        }
    };

    // A server that works: no problem, exit 0, the clock compared.
    let output = doctor(server.base_url().to_string())
        .output()
        .await
        .unwrap();
    let report = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{report}");
    for expected in [
        "Keychain: Secret Service",
        "Client secret: set in the environment",
        "Devices: 1 in ",
        "  TCP: connected to 127.0.0.1:",
        "  HTTP: no TLS (http), answered HTTP ",
        "  Clock: within ",
        "Proxy settings: HTTPS_PROXY=http://proxy.invalid:3128",
        "Summary: no problem found.",
    ] {
        assert!(report.contains(expected), "{expected:?} in {report}");
    }
    // The log file's place, and its last lines: those of the earlier `pair` run too.
    let log_file = kc.config_dir.path().join("logs/c2c-pair.log");
    for expected in [
        format!("Log file: {}\n", log_file.display()),
        "Log (last ".to_owned(),
        "paired; tokens saved device=CAM-DOCTOR".to_owned(),
    ] {
        assert!(report.contains(&expected), "{expected:?} in {report}");
    }
    no_secret(&output);

    // Nothing listens: one problem, named with the fix, exit 5.
    let closed = common::closed_port_url();
    let output = doctor(closed.to_string()).output().await.unwrap();
    let report = text(&output.stdout);
    assert_eq!(output.status.code(), Some(5), "{report}");
    let tcp = report.lines().find(|l| l.starts_with("  TCP: ")).unwrap();
    assert!(
        tcp.contains("PROBLEM") && tcp.contains("refused") && tcp.contains("server is down"),
        "{tcp}"
    );
    assert!(report.contains("Summary: 1 problem(s):"), "{report}");
    no_secret(&output);
}

/// Runs a command that touches neither keychain nor device list.
async fn offline(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let output = common::c2c_pair_in("c2c-pair-test-docs", dir.path(), args).output();
    output.await.unwrap()
}

#[tokio::test]
async fn completions_man_page_and_version_are_generated() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef c2c-pair"),
        ("fish", "complete -c c2c-pair"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = offline(&["completions", shell]).await;
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = text(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("unpair") && script.contains("doctor"),
            "{shell} knows the commands"
        );
    }
    let output = offline(&["man"]).await;
    assert_eq!(output.status.code(), Some(0));
    let page = text(&output.stdout);
    assert!(page.contains(".TH c2c-pair"), "roff: {page}");
    assert!(
        page.contains("\\-\\-api\\-base"),
        "options documented: {page}"
    );

    let version = text(&offline(&["--version"]).await.stdout);
    let expected = format!("c2c-pair {} (git ", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&expected), "{version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn the_configuration_file_is_used_overridden_shown_and_its_errors_name_the_line() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let file = kc.config_dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "# the rig's settings\napi_base = \"{}\"\nheartbeat_interval = 45\n\n[presenter]\nlinger = 3\n",
            server.base_url()
        ),
    )
    .unwrap();

    // The file's server is the one paired with: no --api-base anywhere.
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    let account = kc.track(&format!("CAM-CONF@{host}"));
    let mut command = c2c_pair(&kc, &["pair", "--device", "CAM-CONF", "--json"]);
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    let paired = run_approved(command, &server).await;
    assert_eq!(
        paired["keychain_account"], account,
        "saved under the file's server"
    );

    // Environment over the file, options over both; each value says where it came from.
    let mut command = c2c_pair(&kc, &["--heartbeat-interval", "30", "config", "show"]);
    command
        .env("C2C_PAIR_PRESENTER_LINGER", "5")
        .env("C2C_PAIR_CLIENT_SECRET", "s3cr3t-not-for-eyes");
    let output = command.output().await.unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let shown = text(&output.stdout);
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in {shown}"))
            .to_owned()
    };
    assert!(
        shown.contains(&format!("# File: {}\n", file.display())),
        "{shown}"
    );
    let api_base = line("api_base");
    assert!(api_base.contains(server.base_url().as_str()), "{api_base}");
    assert!(api_base.ends_with("# from the file"), "{api_base}");
    assert!(line("heartbeat_interval").starts_with("heartbeat_interval = 30 "));
    assert!(line("heartbeat_interval").ends_with("# from the command line, seconds"));
    assert!(line("linger").starts_with("linger = 5 "));
    assert!(line("linger").ends_with("# from the environment, seconds"));
    assert!(line("keychain_timeout").ends_with("# default, seconds"));
    assert!(shown.contains("Client secret: set in C2C_PAIR_CLIENT_SECRET (not shown)"));
    assert!(!shown.contains("s3cr3t-not-for-eyes"));

    // A broken file stops every command with exit 2, naming the file, the line and the fix.
    for (broken, line, says) in [
        (
            "api_base = \"https://api.frame.io\"\n\n[presenter]\nlinger = \"long\"\n",
            4,
            "invalid type",
        ),
        (
            "heartbeat_interval = 45\nbody = multipart\n",
            2,
            "string values must be quoted",
        ),
        (
            "api_base = \"http://c2c.example.com\"\n",
            1,
            "refusing plain http://",
        ),
    ] {
        std::fs::write(&file, broken).unwrap();
        for args in [&["config", "show"][..], &["status"]] {
            let output = run_to_end(&kc, args, None).await;
            assert_failure(&output, 2, &format!("{}, line {line}: ", file.display()));
            let stderr = text(&output.stderr);
            assert!(stderr.contains(says), "{stderr}");
            let bad_line = broken.lines().nth(line - 1).unwrap();
            assert!(stderr.contains(&format!("{line} | {bad_line}")), "{stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn a_computer_without_root_certificates_is_told_what_to_install() {
    let kc = common::os_keychain();
    // An empty trust store, as on a minimal system without ca-certificates.
    let empty = tempfile::tempdir().unwrap();
    let bundle = empty.path().join("none.pem");
    std::fs::write(&bundle, "").unwrap();
    let mut command = c2c_pair(&kc, &["--demo", "pair", "--device", "CAM-NOCA"]);
    command
        .env("SSL_CERT_FILE", &bundle)
        .env("SSL_CERT_DIR", empty.path());
    let output = command.output().await.unwrap();
    assert_failure(&output, 2, "No CA certificates were loaded");
    assert!(text(&output.stderr).contains("the ca-certificates package"));
}

/// A setting declared once is read from the file, the environment and its option, and
/// `config show` says which: `upload.stall_timeout` (`--stall`, before or after the command).
#[tokio::test]
async fn the_stall_timeout_comes_from_the_file_the_environment_or_its_option() {
    let dir = tempfile::tempdir().unwrap();
    let show = |args: &[&str], env: Option<&str>| {
        let mut command = common::c2c_pair_in("c2c-pair-test-docs", dir.path(), args);
        if let Some(value) = env {
            command.env("C2C_PAIR_UPLOAD_STALL_TIMEOUT", value);
        }
        command.output()
    };
    let line = |output: &Output| {
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let shown = text(&output.stdout);
        shown
            .lines()
            .find(|l| l.starts_with("stall_timeout = "))
            .unwrap_or_else(|| panic!("no stall_timeout in {shown}"))
            .to_owned()
    };
    let default = line(&show(&["config", "show"], None).await.unwrap());
    assert!(default.starts_with("stall_timeout = 30 "), "{default}");
    assert!(default.ends_with("# default, seconds"), "{default}");

    std::fs::write(
        dir.path().join("config.toml"),
        "[upload]\nstall_timeout = 90\n",
    )
    .unwrap();
    let from_file = line(&show(&["config", "show"], None).await.unwrap());
    assert!(from_file.starts_with("stall_timeout = 90 "), "{from_file}");
    assert!(
        from_file.ends_with("# from the file, seconds"),
        "{from_file}"
    );

    let from_env = line(&show(&["config", "show"], Some("45")).await.unwrap());
    assert!(from_env.starts_with("stall_timeout = 45 "), "{from_env}");
    assert!(
        from_env.ends_with("# from the environment, seconds"),
        "{from_env}"
    );

    let option = show(&["--stall", "12", "config", "show"], Some("45"));
    let from_option = line(&option.await.unwrap());
    assert!(
        from_option.starts_with("stall_timeout = 12 "),
        "{from_option}"
    );
    assert!(
        from_option.ends_with("# from the command line, seconds"),
        "{from_option}"
    );

    // Out of range: each place says so, naming where the value is.
    let output = show(&["--stall", "0", "config", "show"], None)
        .await
        .unwrap();
    assert_failure(&output, 2, "between 1 and 600");
    let output = show(&["config", "show"], Some("601")).await.unwrap();
    assert_failure(&output, 2, "C2C_PAIR_UPLOAD_STALL_TIMEOUT: 601 is not");
    std::fs::write(
        dir.path().join("config.toml"),
        "[upload]\nstall_timeout = \"soon\"\n",
    )
    .unwrap();
    let output = show(&["config", "show"], None).await.unwrap();
    assert_failure(&output, 2, "config.toml, line 2: invalid type");
    std::fs::remove_file(dir.path().join("config.toml")).unwrap();
    // Global: after the command (as in `upload --device D --stall 5 FILE`) it is the same option.
    let after = show(&["config", "show", "--stall", "12"], None);
    let from_after = line(&after.await.unwrap());
    assert!(
        from_after.starts_with("stall_timeout = 12 "),
        "{from_after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn pair_client_version_is_the_devices_own_and_goes_on_its_uploads() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let base = server.base_url().to_string();
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    kc.track(&format!("REC-FW@{host}"));
    let mut command = c2c_pair(
        &kc,
        &[
            "--api-base",
            &base,
            "pair",
            "--device",
            "REC-FW",
            "--client-version",
            "3.1.4",
            "--json",
        ],
    );
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    run_approved(command, &server).await;
    // A later command without the option still speaks as that firmware for this device.
    let output = fleet_command(&kc, &server, &["upload", "--device", "REC-FW", "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let status = fleet_command(&kc, &server, &["status", "--json"]).await;
    let devices: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(devices[0]["client_version"], "3.1.4", "{devices}");
    let log = control.requests().await;
    let versions: Vec<_> = log
        .iter()
        .filter(|r| r.client_id.as_deref() == Some("REC-FW"))
        .map(|r| (r.path.as_str(), r.client_version.as_deref()))
        .collect();
    assert!(
        versions
            .iter()
            .any(|(path, _)| *path == "/v2/devices/assets"),
        "{versions:?}"
    );
    assert!(
        versions.iter().all(|(_, v)| *v == Some("3.1.4")),
        "{versions:?}"
    );
}
