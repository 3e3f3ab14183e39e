//! A keychain that cannot be used fails before any code is requested, quickly, with a message
//! naming the fix — against a real gnome-keyring in a private D-Bus session: locked, and
//! locked with a password prompt that nobody answers (the call hangs until our timeout).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Creates a login keyring unlocked with a password, stores one item, then locks it.
const LOCKED_KEYRING: &str = r#"
export XDG_DATA_HOME=$(mktemp -d)
eval "$(printf throwaway | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
printf v | secret-tool store --label=probe service c2c-pair-locked-test user probe
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
  org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null
"#;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Panics (saying what is missing) without the D-Bus and gnome-keyring tools: these tests are
/// ignored by a plain `cargo test` and run by CI.
fn assert_tools_present() {
    let missing: Vec<&str> = [
        "dbus-run-session",
        "gnome-keyring-daemon",
        "secret-tool",
        "dbus-send",
    ]
    .into_iter()
    .filter(|tool| !have(tool))
    .collect();
    assert!(
        missing.is_empty(),
        "needs {missing:?} (Debian: dbus, gnome-keyring, libsecret-tools)"
    );
}

/// Runs `c2c-pair pair --json` inside a fresh D-Bus session prepared by `setup`.
fn pair_in_session(setup: &str, display: Option<&str>, timeout: &str) -> Output {
    let args = [
        "--keychain-timeout",
        timeout,
        "pair",
        "--device",
        "CAM-KEYCHAIN",
        "--json",
    ];
    in_session(setup, display, &args)
}

/// Runs `c2c-pair ARGS` inside a fresh D-Bus session prepared by `setup`.
fn in_session(setup: &str, display: Option<&str>, args: &[&str]) -> Output {
    let config = tempfile::tempdir().unwrap();
    let script = format!("{setup}\nexec \"$@\"");
    let mut command = Command::new("dbus-run-session");
    command
        .args(["--", "bash", "-c", &script, "session"])
        .arg(env!("CARGO_BIN_EXE_c2c-pair"))
        .args(args)
        .env("C2C_PAIR_KEYCHAIN_SERVICE", "c2c-pair-locked-test")
        .env("C2C_PAIR_CONFIG_DIR", config.path())
        .env("C2C_PAIR_LOG_DIR", config.path().join("logs"))
        .env_remove("C2C_PAIR_CLIENT_SECRET")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null());
    match display {
        Some(display) => command.env("DISPLAY", display),
        None => command.env_remove("DISPLAY"),
    };
    command.output().unwrap()
}

fn events(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn assert_keychain_failure(output: &Output, says: &str) {
    let events = events(output);
    assert_eq!(
        output.status.code(),
        Some(6),
        "{events:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        events.iter().all(|e| e["event"] != "code"),
        "no code before the keychain works: {events:?}"
    );
    let error = events.last().unwrap();
    assert_eq!(
        error["kind"], "keychain",
        "the failure is the keychain's: {error}"
    );
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(says), "{message}");
    assert!(
        message.contains("Unlock the login keyring"),
        "the fix is named: {message}"
    );
}

#[test]
#[ignore = "needs dbus-run-session, gnome-keyring and secret-tool (and an X display for the \
            unlock prompt); run .ci/run"]
fn a_locked_keychain_fails_before_any_code_and_says_to_unlock_it() {
    assert_tools_present();
    // Without a display the unlock prompt cannot open, so the keychain refuses at once.
    let output = pair_in_session(LOCKED_KEYRING, None, "5");
    assert_keychain_failure(&output, "locked or refused access");
}

#[test]
#[ignore = "needs dbus-run-session, gnome-keyring and secret-tool (and an X display for the \
            unlock prompt); run .ci/run"]
fn a_keychain_waiting_on_a_prompt_fails_at_the_timeout() {
    assert_tools_present();
    // With a display, gnome-keyring opens its unlock prompt and waits for a password nobody
    // types: the call hangs, and our timeout ends it.
    let display = std::env::var("DISPLAY")
        .ok()
        .filter(|d| !d.is_empty())
        .expect("an X display for the unlock prompt (run under xvfb-run -a)");
    let output = pair_in_session(LOCKED_KEYRING, Some(&display), "1");
    assert_keychain_failure(&output, "did not answer within 1 s");
}

#[test]
#[ignore = "needs dbus-run-session, gnome-keyring and secret-tool (and an X display for the \
            unlock prompt); run .ci/run"]
fn doctor_reports_a_locked_keychain_first_with_the_fix() {
    assert_tools_present();
    let closed = "http://127.0.0.1:9/";
    let output = in_session(LOCKED_KEYRING, None, &["--api-base", closed, "doctor"]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(6), "{report}");
    let keychain = report
        .lines()
        .find(|l| l.starts_with("Keychain: "))
        .unwrap_or_else(|| panic!("a keychain line: {report}"));
    assert!(
        keychain.contains("PROBLEM") && keychain.contains("Unlock the login keyring"),
        "{keychain}"
    );
    assert!(
        report.contains("Summary: 2 problem(s):"),
        "keychain and API base: {report}"
    );
}
