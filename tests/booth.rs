//! The booth as it really runs: the app on a laptop with its own network address, strangers'
//! phones on the booth network. Two network namespaces made here, joined by a veth pair
//! (see `common::booth`); the phone is headless Chromium at a phone's viewport, clicking the
//! approval page's real controls. Only addresses inside these namespaces are used.
//!
//! These tests need root (network namespaces) and Debian's chromium and chromium-driver, so
//! `cargo test` lists them as ignored; `.ci/run` runs them with `--include-ignored`.
//! `C2C_PAIR_BOOTH_VISITORS=100` runs the unattended loop for a hundred visitors
//! (RELIABILITY.md).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use c2c_pair::demo::Stats;
use c2c_pair::keychain::MemoryStore;
use c2c_pair::registry::Registry;
use c2c_pair::ui::UiOptions;
use common::Control;
use common::booth::{BoothNetwork, LAPTOP_IP, PORT, Phone, Side, booth_setup, rss_kib, rss_of};
use common::window::{PATIENCE, Window};
use egui_kittest::kittest::Queryable as _;
use url::Url;

/// A laptop's screen.
const SIZE: [f32; 2] = [1280.0, 720.0];
/// What the laptop keeps: its keychain (in memory, so the test can see it stays empty), its
/// device list and the folder that holds it.
struct Laptop {
    store: Arc<MemoryStore>,
    registry: Registry,
    _config_dir: tempfile::TempDir,
}

/// The window (call it inside the laptop's namespace) whose worker runs the embedded demo
/// server on every address of the laptop.
fn booth_window(options: UiOptions) -> (Window, Laptop) {
    let store = Arc::new(MemoryStore::default());
    let config_dir = tempfile::tempdir().unwrap();
    let registry = Registry::in_dir(config_dir.path());
    let setup = booth_setup(&store, registry.clone());
    let laptop = Laptop {
        store,
        registry,
        _config_dir: config_dir,
    };
    (Window::open_sized(setup, options, SIZE), laptop)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The demo server's control API, over the laptop's own loopback.
fn control() -> Control {
    Control::new(&Url::parse(&format!("http://127.0.0.1:{PORT}/")).unwrap())
}

/// A visitor scans the QR code (the link it carries) and presses Approve.
fn visitor_approves(phone: &Phone<'_>, link: &str) {
    phone.open_link(link);
    // The page is laid out for the phone, not as a shrunk desktop page.
    assert_eq!(phone.viewport_width(), 390, "a phone's viewport");
    phone.click("button.approve");
    let done = phone.text("p.done");
    assert!(done.contains("was approved"), "{done}");
}

#[test]
#[ignore = "needs root (network namespaces) and Debian chromium + chromium-driver; .ci/run runs it: cargo test --test booth -- --include-ignored"]
fn phones_on_the_booth_network_approve_and_the_presenter_loops_keeping_nothing() {
    let visitors: usize = std::env::var("C2C_PAIR_BOOTH_VISITORS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let network = BoothNetwork::create();
    let phone = Phone::open(&network);
    network.run_in(Side::Laptop, || {
        let options = UiOptions {
            presenter: true,
            linger: Duration::from_millis(300),
            ..UiOptions::default()
        };
        let (mut window, laptop) = booth_window(options);
        let rt = runtime();
        let control = control();
        let mut previous: Option<String> = None;
        let mut rss_at_10 = None;
        let started = Instant::now();
        for visitor in 1..=visitors {
            let link = window.next_link(previous.as_deref());
            // The link phones get carries the laptop's network address, never loopback.
            let prefix = format!("http://{LAPTOP_IP}:{PORT}/pair/");
            assert!(link.starts_with(&prefix), "{link}");
            if visitor == 1 {
                window
                    .harness
                    .get_by_label_contains("Phones must be on the same network as this laptop");
            }
            visitor_approves(&phone, &link);
            window.until_label_contains("is now connected to Demo Project");
            // Nothing is kept: the tokens shown were revoked at the server.
            let stats: Stats = serde_json::from_value(rt.block_on(control.stats())).expect("stats");
            assert_eq!(stats.tokens, 0, "visitor {visitor}: tokens revoked");
            if visitor == 10 {
                rss_at_10 = Some(rss_kib());
            }
            previous = Some(link);
        }
        // The next visitor's code comes by itself.
        window.next_link(previous.as_deref());
        assert!(laptop.store.accounts().is_empty(), "no credentials kept");
        assert!(
            laptop.registry.load().unwrap().devices.is_empty(),
            "device list untouched"
        );
        let rss = rss_kib();
        eprintln!(
            "booth loop: {visitors}/{visitors} visitors paired in {:.1} s, 0 tokens kept, \
             RSS {} KiB at the end{}",
            started.elapsed().as_secs_f64(),
            rss,
            rss_at_10.map_or(String::new(), |at_10| format!(
                ", {at_10} KiB at visitor 10 ({:+} KiB)",
                i64::try_from(rss).unwrap() - i64::try_from(at_10).unwrap()
            ))
        );
        if let Some(at_10) = rss_at_10 {
            assert!(
                rss <= at_10 + 5 * 1024,
                "memory grew from {at_10} KiB at visitor 10 to {rss} KiB"
            );
        }
    });
}

/// Lines of a child's output as they come, for waiting on what it says.
fn lines_of(stdout: std::process::ChildStdout) -> Receiver<String> {
    use std::io::BufRead as _;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("child-output".into())
        .spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .unwrap();
    rx
}

/// The next line that satisfies `wanted`, within the patience.
fn line_where(lines: &Receiver<String>, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if wanted(&line) => return line,
            Ok(_) => {}
            Err(error) => panic!("the expected line did not come: {error}"),
        }
    }
}

#[test]
#[ignore = "needs root (network namespaces), a Secret Service and Debian chromium + chromium-driver; .ci/run runs it: cargo test --test booth -- --include-ignored"]
fn the_cli_pairs_on_the_booth_network_on_any_address_the_user_gives() {
    let kc = common::os_keychain();
    let network = BoothNetwork::create();
    let phone = Phone::open(&network);
    let config = tempfile::tempdir().unwrap();
    for (n, listen) in [
        format!("0.0.0.0:{PORT}"),
        format!("[::]:{PORT}"),
        format!("{LAPTOP_IP}:{PORT}"),
    ]
    .iter()
    .enumerate()
    {
        let device = format!("LAN-{n}");
        kc.track(&format!("{device}@demo"));
        let mut child = network
            .command(Side::Laptop, env!("CARGO_BIN_EXE_c2c-pair"))
            .args([
                "pair",
                "--device",
                &device,
                "--demo-listen",
                listen,
                "--json",
            ])
            .env("C2C_PAIR_CONFIG_DIR", config.path())
            .env("C2C_PAIR_LOG_DIR", config.path().join("logs"))
            .env("C2C_PAIR_KEYCHAIN_SERVICE", &kc.service)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        let server: serde_json::Value =
            serde_json::from_str(&line_where(&lines, |l| l.contains(r#""event":"server""#)))
                .unwrap();
        // The app talks to its own server over loopback, whatever address phones use.
        let api_base = server["api_base"].as_str().unwrap();
        assert!(
            api_base.starts_with("http://127.0.0.1:") || api_base.starts_with("http://[::1]:"),
            "{listen}: {api_base}"
        );
        let code: serde_json::Value =
            serde_json::from_str(&line_where(&lines, |l| l.contains(r#""event":"code""#))).unwrap();
        let page = code["verification_uri"].as_str().unwrap();
        assert_eq!(page, format!("http://{LAPTOP_IP}:{PORT}/pair"), "{listen}");
        if n == 0 {
            // Typed as read from the screen, on the page without the code in its link.
            phone.open_link(page);
            let user_code = code["user_code"].as_str().unwrap();
            phone.type_into("#code", &format!("{} {}", &user_code[..3], &user_code[3..]));
            phone.type_into("#device_name", "Typed cam");
            phone.click("button.approve");
            assert!(phone.text("p.done").contains("was approved"));
        } else {
            visitor_approves(&phone, code["verification_uri_complete"].as_str().unwrap());
        }
        let paired: serde_json::Value =
            serde_json::from_str(&line_where(&lines, |l| l.contains(r#""event":"paired""#)))
                .unwrap();
        assert_eq!(paired["device"], device.as_str());
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "{listen}: {stderr}");
        assert!(
            kc.read(&format!("{device}@demo")).is_some(),
            "saved in the keychain"
        );
    }
}

#[test]
#[ignore = "needs root (network namespaces) and Debian chromium + chromium-driver; .ci/run runs it: cargo test --test booth -- --include-ignored"]
fn a_device_paired_in_the_window_on_the_booth_network_uploads_through_loopback() {
    let network = BoothNetwork::create();
    let phone = Phone::open(&network);
    network.run_in(Side::Laptop, || {
        let (mut window, _laptop) = booth_window(UiOptions::default());
        window.until_label_contains("Phones on this network can open");
        window
            .harness
            .get_by_label(c2c_pair::ui::DEVICE_ID_LABEL)
            .focus();
        window.harness.run_ok();
        window
            .harness
            .get_by_label(c2c_pair::ui::DEVICE_ID_LABEL)
            .type_text("LAN-CAM");
        window.harness.run_ok();
        window.harness.get_by_label("Pair").click();
        let link = window.next_link(None);
        visitor_approves(&phone, &link);
        window.until("Paired", |h| h.query_by_label("Paired").is_some());
        window.harness.get_by_label("Close").click();
        window.until_label_contains("Send test clip");
        window.harness.get_by_label("Send test clip").click();
        window.until_label_contains("LAN-CAM: test clip uploaded");
        let assets = runtime().block_on(control().assets());
        assert_eq!(assets.len(), 1);
        assert_eq!(assets[0]["complete"], true);
    });
}

/// The page's text with the parts that differ between any two views (the code typed in, the
/// form token) taken out.
fn page_shape(page: &str, code: &str) -> String {
    let without_code = page.replace(code, "CODE");
    match without_code.split_once(r#"name="form_token" value=""#) {
        Some((head, rest)) => format!("{head}{}", rest.split_once('"').map_or("", |r| r.1)),
        None => without_code,
    }
}

#[test]
#[ignore = "needs root (network namespaces); .ci/run runs it: cargo test --test booth -- --include-ignored"]
fn the_exposed_demo_server_stops_sweeps_floods_and_web_pages() {
    let network = BoothNetwork::create();
    let config = tempfile::tempdir().unwrap();
    let mut server = network
        .command(Side::Laptop, env!("CARGO_BIN_EXE_c2c-pair"))
        .args(["demo-server", "--listen", &format!("0.0.0.0:{PORT}")])
        .env("C2C_PAIR_CONFIG_DIR", config.path())
        .env("C2C_PAIR_LOG_DIR", config.path().join("logs"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(server.stdout.take().unwrap());
    line_where(&lines, |l| l.starts_with("Ctrl-C stops it"));
    // `ip netns exec` runs the program in its own place: this pid is the server's.
    let pid = server.id();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "c2c-pair"
    );
    let public = format!("http://{LAPTOP_IP}:{PORT}");
    // A visitor's code, asked for by the laptop.
    let live = network.run_in(Side::Laptop, || {
        runtime().block_on(async {
            let client = reqwest::Client::new();
            let answer: serde_json::Value = client
                .post(format!("http://127.0.0.1:{PORT}/v2/auth/device/code"))
                .form(&[
                    ("client_id", "VISITOR"),
                    ("client_secret", common::demo_secret()),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["user_code"].as_str().unwrap().to_owned()
        })
    });
    let (rss_before, _) = rss_of(pid);

    let report = network.run_in(Side::Phone, || {
        runtime().block_on(async {
            let http = reqwest::Client::new();
            let page = format!("{public}/pair");
            no_oracle(&http, &page, &live).await;

            let (through, stopped, elapsed) = sweep(&http, &page, &live).await;
            let (polls_through, codes_issued) = caps(&http, &public).await;
            let refused = flood(&http, &public, &page).await;
            // The control API is not for other machines, whatever they send.
            let control = http
                .post(format!("{public}/_control/codes/{live}/approve"))
                .header(c2c_pair::demo::CONTROL_HEADER, "1")
                .header("host", format!("127.0.0.1:{PORT}"))
                .send()
                .await
                .unwrap();
            assert_eq!(control.status(), reqwest::StatusCode::FORBIDDEN);
            (
                through,
                stopped,
                elapsed,
                polls_through,
                codes_issued,
                refused,
            )
        })
    });
    let (through, stopped, elapsed, polls_through, codes_issued, refused) = report;
    let (rss_after, peak) = rss_of(pid);
    eprintln!(
        "sweep: {through} of {} guesses got through in {:.1} s, then locked out for {} min; \
         token requests through: {polls_through}/300; codes issued: {codes_issued}/30; flood: \
         {refused}/800 refused; server RSS {rss_before} KiB before, {rss_after} KiB after, peak \
         {peak} KiB",
        through + stopped,
        elapsed.as_secs_f64(),
        c2c_pair::demo::LOCKOUT.as_secs() / 60,
    );
    assert!(
        through <= c2c_pair::demo::WRONG_CODES_BEFORE_LOCKOUT as usize,
        "{through}"
    );
    assert!(polls_through <= c2c_pair::demo::TOKEN_REQUESTS_PER_MINUTE as usize);
    assert!(codes_issued <= c2c_pair::demo::LIVE_CODES_PER_ADDRESS);
    assert_eq!(refused, 800);
    assert!(
        peak <= rss_before + 32 * 1024,
        "peak {peak} KiB vs {rss_before} KiB"
    );

    // On the laptop: the control API wants a loopback Host, the header, and no form.
    network.run_in(Side::Laptop, || {
        control_refuses_web_pages(&live, codes_issued);
    });
    let _ = server.kill();
    let _ = server.wait();
}

/// What one phone's guessing got: guesses through, guesses stopped, and how long it took.
async fn sweep(http: &reqwest::Client, page: &str, live: &str) -> (usize, usize, Duration) {
    use c2c_pair::demo::WRONG_CODE;
    // A sweep: as many guesses as one phone can send, counted.
    let started = Instant::now();
    let mut through = 0;
    let mut stopped = 0;
    for n in 0..200_u32 {
        let guess = format!("{:06}", (n * 7919 + 13) % 1_000_000);
        if guess == live {
            continue;
        }
        let form = [("code", guess.as_str()), ("action", "approve")];
        let answer = common::submit_approval(http, page, &form).await;
        if answer.contains(WRONG_CODE) {
            through += 1;
        } else {
            assert!(answer.contains("Too many"), "{answer}");
            stopped += 1;
        }
    }
    let elapsed = started.elapsed();
    // Locked out: even the right code is refused now.
    let form = [("code", live), ("action", "approve")];
    let answer = common::submit_approval(http, page, &form).await;
    assert!(answer.contains("Too many wrong codes"), "{answer}");

    (through, stopped, elapsed)
}

/// How many of one address's token requests (of 300) and code requests (of 30) were served.
async fn caps(http: &reqwest::Client, public: &str) -> (usize, usize) {
    // Token requests and code requests from one address are capped.
    let mut polls_through = 0;
    for _ in 0..300 {
        let answer = http
            .post(format!("{public}/v2/auth/token"))
            .form(&[("client_id", "X"), ("client_secret", "wrong")])
            .send()
            .await
            .unwrap();
        if answer.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
            polls_through += 1;
        }
    }
    let mut codes_issued = 0;
    for n in 0..30 {
        let client_id = format!("{n:0>128}");
        let answer = http
            .post(format!("{public}/v2/auth/device/code"))
            .form(&[
                ("client_id", client_id.as_str()),
                ("client_secret", common::demo_secret()),
            ])
            .send()
            .await
            .unwrap();
        if answer.status().is_success() {
            codes_issued += 1;
        }
    }

    (polls_through, codes_issued)
}

/// How many of a flood's 800 oversized requests were refused.
async fn flood(http: &reqwest::Client, public: &str, page: &str) -> usize {
    // A flood of oversized ids, headers and bodies, bounded in count.
    let huge_id = "i".repeat(1024 * 1024);
    let huge_header = "h".repeat(200 * 1024);
    let big_body = vec![0u8; 8 * 1024 * 1024];
    let mut refused = 0;
    for n in 0..200 {
        let answers = [
            http.post(format!("{public}/v2/auth/device/code"))
                .form(&[
                    ("client_id", huge_id.as_str()),
                    ("client_secret", common::demo_secret()),
                ])
                .send()
                .await,
            http.post(format!("{public}/v2/auth/device/code"))
                .form(&[
                    ("client_id", &"c".repeat(129)),
                    ("client_secret", &common::demo_secret().to_owned()),
                ])
                .send()
                .await,
            http.get(page).header("x-junk", &huge_header).send().await,
            http.put(format!("{public}/_uploads/{n}/1"))
                .body(big_body.clone())
                .send()
                .await,
        ];
        for answer in answers {
            // Refused with a status, or the connection closed on the oversized part.
            match answer {
                Ok(answer) if answer.status().is_client_error() => refused += 1,
                Ok(answer) => panic!("a flood request was served: {}", answer.status()),
                Err(_) => refused += 1,
            }
        }
    }
    refused
}

/// On the laptop: a foreign Host (DNS rebinding), a missing header and a page's form are
/// refused by the control API; a program here with the header is served.
fn control_refuses_web_pages(live: &str, codes_issued: usize) {
    runtime().block_on(async {
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{PORT}/_control/codes/{live}/deny");
        let status = |request: reqwest::RequestBuilder| async move {
            request.send().await.unwrap().status()
        };
        let forbidden = reqwest::StatusCode::FORBIDDEN;
        let rebinding = http
            .post(&url)
            .header(c2c_pair::demo::CONTROL_HEADER, "1")
            .header("host", format!("booth.example:{PORT}"));
        assert_eq!(status(rebinding).await, forbidden, "foreign Host");
        assert_eq!(status(http.post(&url)).await, forbidden, "no header");
        let form = http
            .post(&url)
            .header(c2c_pair::demo::CONTROL_HEADER, "1")
            .form(&[("a", "b")]);
        assert_eq!(status(form).await, forbidden, "a page's form");
        let stats: Stats = serde_json::from_value(control().stats().await).unwrap();
        assert_eq!(
            stats.codes,
            1 + codes_issued,
            "only the visitor's and the capped codes"
        );
        let ok = http.post(&url).header(c2c_pair::demo::CONTROL_HEADER, "1");
        assert!(status(ok).await.is_success(), "a program here may");
    });
}

/// The page for a live code and for a dead one are the same page, naming no device.
async fn no_oracle(http: &reqwest::Client, page: &str, live: &str) {
    let dead = if live == "000000" { "000001" } else { "000000" };
    let live_page = http.get(format!("{page}/{live}")).send().await.unwrap();
    let live_page = live_page.text().await.unwrap();
    let dead_page = http.get(format!("{page}/{dead}")).send().await.unwrap();
    let dead_page = dead_page.text().await.unwrap();
    assert_eq!(
        page_shape(&live_page, live),
        page_shape(&dead_page, dead),
        "live and dead codes look alike"
    );
    assert!(
        !live_page.contains("VISITOR"),
        "no device named before the code"
    );
}
