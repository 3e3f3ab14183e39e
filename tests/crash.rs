//! Crash safety: `c2c-pair refresh` and `c2c-pair pair` are killed with SIGKILL at random
//! points around the moment the server rotates or issues tokens. After every kill the keychain
//! holds one complete token set the server issued — the old one or the new one, never a mix,
//! never a damaged value — and a set the server issued is only missing when the kill landed
//! in the window between the server answering and the process finishing its keychain write.
//! The widths of that window are reported; RELIABILITY.md records a run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use c2c_pair::demo::DemoServer;
use c2c_pair::device::PairOutcome;
use c2c_pair::keychain::TokenSet;
use common::{Control, TestKeychain};
use rand::Rng as _;
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Token sets the server issued to a device: (access, refresh, issued at ms).
async fn issued(base: &url::Url, device: &str) -> Vec<(String, String, u128)> {
    let url = base
        .join(&format!("/_control/issued/{device}?reveal=1"))
        .unwrap();
    let list: Vec<Value> = reqwest::Client::new()
        .get(url)
        .header(c2c_pair::demo::CONTROL_HEADER, "1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.iter()
        .map(|s| {
            (
                s["access_token"].as_str().unwrap().to_owned(),
                s["refresh_token"].as_str().unwrap().to_owned(),
                s["at_unix_ms"].as_u64().unwrap().into(),
            )
        })
        .collect()
}

fn stored(kc: &TestKeychain, account: &str) -> Option<(String, String)> {
    let secret = kc.read(account)?;
    let set = TokenSet::from_secret(&secret).expect("a complete, readable set");
    Some((
        set.access_token.expose_secret().to_owned(),
        set.refresh_token.unwrap().expose_secret().to_owned(),
    ))
}

fn binary(kc: &TestKeychain, base: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_c2c-pair"));
    command
        .args(["--api-base", base])
        .args(args)
        .env("C2C_PAIR_KEYCHAIN_SERVICE", &kc.service)
        .env("C2C_PAIR_CONFIG_DIR", kc.config_dir.path())
        .env("C2C_PAIR_LOG_DIR", kc.config_dir.path().join("logs"))
        .env("C2C_PAIR_CLIENT_SECRET", common::demo_secret())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Pairs through the library (to set up or restore a device after a lost refresh).
async fn pair_directly(kc: &TestKeychain, server: &DemoServer, control: &Control, device: &str) {
    let ctx = kc.context(common::backend_for(server, common::demo_secret()));
    let outcome = common::pair_approving(&ctx, control, device).await;
    assert!(
        matches!(outcome, Ok(PairOutcome::Paired(_))),
        "expected Paired, got {outcome:?}"
    );
}

#[derive(Default, Debug)]
struct Tally {
    kills: usize,
    before_the_server_answered: usize,
    new_set_saved: usize,
    lost_in_window: Vec<u128>,
    saved_after: Vec<u128>,
}

impl Tally {
    fn summary(&self, what: &str) -> String {
        let widest = self
            .lost_in_window
            .iter()
            .max()
            .map_or("-".into(), |ms| format!("{ms} ms"));
        let fastest = self
            .saved_after
            .iter()
            .min()
            .map_or("-".into(), |ms| format!("{ms} ms"));
        format!(
            "| {what} | {} | {} | {} | {} | {widest} | {fastest} |\n",
            self.kills,
            self.before_the_server_answered,
            self.new_set_saved,
            self.lost_in_window.len()
        )
    }
}

/// Kills landing later than this after the server answered must find the new set saved.
const WINDOW_BOUND_MS: u128 = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, read top to bottom"
)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn killed_refreshes_and_pairings_never_leave_a_mixed_or_damaged_set() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let base = server.base_url().to_string();
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    let rounds: usize = std::env::var("C2C_PAIR_CRASH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let mut rng = rand::rng();

    // Refresh, killed around the moment the server rotates.
    let device = "CAM-CRASH";
    let account = kc.track(&format!("{device}@{host}"));
    pair_directly(&kc, &server, &control, device).await;
    // One uninterrupted run tells when, after spawning, the server rotates.
    let spawned = now_ms();
    let first = binary(&kc, &base, &["refresh", "--device", device])
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let rotated_after = issued(server.base_url(), device).await.last().unwrap().2 - spawned;

    let mut refresh = Tally::default();
    for _ in 0..rounds {
        let before = stored(&kc, &account).unwrap();
        // The newest set the server issued so far (it keeps the last few per device).
        let known = issued(server.base_url(), device).await.last().cloned();
        let mut child = binary(&kc, &base, &["refresh", "--device", device])
            .spawn()
            .unwrap();
        let spawned = Instant::now();
        // The kill point is the experiment's random variable, not a wait for an event.
        let aim = rng.random_range(rotated_after.saturating_sub(25)..rotated_after + 40) as u64;
        tokio::time::sleep_until((spawned + Duration::from_millis(aim)).into()).await;
        let killed_at = now_ms();
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        refresh.kills += 1;

        let sets = issued(server.base_url(), device).await;
        let after = stored(&kc, &account).expect("a set is always stored");
        let issued_sets: Vec<(String, String)> = sets
            .iter()
            .map(|(a, r, _)| (a.clone(), r.clone()))
            .collect();
        assert!(
            issued_sets.contains(&after),
            "the stored set is one the server issued, not a mix"
        );
        if sets.last() == known.as_ref() {
            assert_eq!(after, before, "nothing rotated: the old set is kept");
            refresh.before_the_server_answered += 1;
            continue;
        }
        let answered_at = sets.last().unwrap().2;
        let since = killed_at.saturating_sub(answered_at);
        if after == before {
            // Rotated, but the process died before its keychain write finished.
            assert!(
                since <= WINDOW_BOUND_MS,
                "new set lost {since} ms after the server answered"
            );
            refresh.lost_in_window.push(since);
            pair_directly(&kc, &server, &control, device).await;
        } else {
            refresh.new_set_saved += 1;
            refresh.saved_after.push(since);
        }
    }

    // Pairing, killed around the first poll (the code is approved at once).
    let mut pairing = Tally::default();
    for round in 0..rounds {
        let device = format!("CAM-CRASHPAIR-{round:02}");
        let account = kc.track(&format!("{device}@{host}"));
        let mut child = binary(&kc, &base, &["pair", "--device", &device, "--json"])
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            let event: Value = serde_json::from_str(&line).unwrap();
            if event["event"] == "code" {
                control.approve(event["user_code"].as_str().unwrap()).await;
                break;
            }
        }
        // The first poll goes out one interval (200 ms) after the code.
        let aim = rng.random_range(170..260);
        tokio::time::sleep(Duration::from_millis(aim)).await;
        let killed_at = now_ms();
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        pairing.kills += 1;

        let sets = issued(server.base_url(), &device).await;
        let after = stored(&kc, &account);
        match (sets.last(), after) {
            (None, after) => {
                assert!(after.is_none());
                pairing.before_the_server_answered += 1;
            }
            (Some((access, refresh_token, answered_at)), Some(after)) => {
                assert_eq!(
                    after,
                    (access.clone(), refresh_token.clone()),
                    "the issued set, complete"
                );
                pairing.new_set_saved += 1;
                pairing
                    .saved_after
                    .push(killed_at.saturating_sub(*answered_at));
            }
            (Some((_, _, answered_at)), None) => {
                let since = killed_at.saturating_sub(*answered_at);
                assert!(
                    since <= WINDOW_BOUND_MS,
                    "issued set lost {since} ms after the server answered"
                );
                pairing.lost_in_window.push(since);
            }
        }
    }

    let table = format!(
        "| operation | kills | before the server answered | new set saved | lost in the window | widest window seen | fastest save seen |\n\
         |---|---|---|---|---|---|---|\n{}{}",
        refresh.summary("refresh"),
        pairing.summary("pair")
    );
    eprintln!("{table}");
    assert!(
        refresh.new_set_saved + refresh.lost_in_window.len() > 0,
        "some kills landed after the rotation"
    );
    if std::env::var("C2C_PAIR_UPDATE_RELIABILITY").as_deref() == Ok("1") {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("RELIABILITY.md");
        let document = std::fs::read_to_string(&path).unwrap();
        let (before, rest) = document.split_once("<!-- crash:start -->").unwrap();
        let after = rest.split_once("<!-- crash:end -->").unwrap().1;
        std::fs::write(
            &path,
            format!("{before}<!-- crash:start -->\n{table}<!-- crash:end -->{after}"),
        )
        .unwrap();
    }
}
