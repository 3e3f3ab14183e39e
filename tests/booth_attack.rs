//! The booth against a stranger on its Wi-Fi with a script: three network namespaces made
//! here (the laptop running the booth, a phone, and the stranger's laptop with a dozen
//! addresses of its own), joined to the laptop by veth pairs (see `common::booth`). Only
//! addresses inside these namespaces are used; every loop is bounded in count and time.
//!
//! These tests need root (network namespaces), and the first Debian's chromium and
//! chromium-driver, so `cargo test` lists them as ignored; `.ci/run` runs them with
//! `--include-ignored`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use c2c_pair::demo::{DemoConfig, DemoServer};
use c2c_pair::keychain::MemoryStore;
use c2c_pair::registry::Registry;
use c2c_pair::ui::UiOptions;
use common::booth::{
    BoothNetwork, LAPTOP_IP, LAPTOP_STRANGER_SIDE_IP, PORT, Phone, STRANGER_ADDRESSES, STRANGER_IP,
    Side, booth_setup, rss_of,
};
use common::window::Window;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

const MIB: usize = 1024 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    c2c_pair::c2c::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The stranger's `n`th address (wrapping round its [`STRANGER_ADDRESSES`]).
fn stranger_address(n: usize) -> IpAddr {
    let [a, b, c, d] = STRANGER_IP;
    let offset = u8::try_from(n % usize::from(STRANGER_ADDRESSES)).unwrap();
    IpAddr::from([a, b, c, d + offset])
}

/// A connection to the booth from the stranger's `n`th address.
async fn connect_from(n: usize) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(stranger_address(n), 0))?;
    let booth = SocketAddr::new(LAPTOP_STRANGER_SIDE_IP.parse().unwrap(), PORT);
    tokio::time::timeout(Duration::from_secs(5), socket.connect(booth))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Whether the server closed `stream` within `patience` (a read that ends or fails).
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> bool {
    let mut buffer = [0_u8; 1024];
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// What the stranger's flood got: connections the booth took, connections it turned away
/// at once, and of those it took, how many it closed by itself before the test ended.
#[derive(Debug)]
struct Flood {
    taken: usize,
    turned_away: usize,
    idle_closed: usize,
    slow_closed: usize,
    slow: usize,
}

/// 1,100 idle connections from eleven addresses and 20 that send half a header from a
/// twelfth; `ready` once they are open, then held until `release`, then checked: the booth
/// must have closed each one that it took (the header timer) within `c2c_pair`'s timeout.
async fn flood(ready: mpsc::Sender<()>, release: mpsc::Receiver<()>) -> Flood {
    let mut idle = Vec::new();
    for n in 0..1_100 {
        if let Ok(stream) = connect_from(n % 11).await {
            idle.push(stream);
        }
    }
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from(11).await.unwrap();
        let half =
            format!("GET /pair HTTP/1.1\r\nHost: {LAPTOP_STRANGER_SIDE_IP}:{PORT}\r\nX-Slow: ");
        stream.write_all(half.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    // Those turned away are closed at once; the rest stay open.
    let mut taken = Vec::new();
    let mut turned_away = 0;
    for mut stream in idle {
        if closed_within(&mut stream, Duration::from_millis(20)).await {
            turned_away += 1;
        } else {
            taken.push(stream);
        }
    }
    ready.send(()).unwrap();
    let _ =
        tokio::task::spawn_blocking(move || release.recv_timeout(Duration::from_secs(120))).await;
    // The header timer ends every connection the booth took, idle or half-sent.
    let patience = c2c_pair::demo::HEAD_TIMEOUT + Duration::from_secs(10);
    let mut idle_closed = 0;
    for stream in &mut taken {
        idle_closed += usize::from(closed_within(stream, patience).await);
    }
    let mut slow_closed = 0;
    for stream in &mut slow {
        slow_closed += usize::from(closed_within(stream, patience).await);
    }
    Flood {
        taken: taken.len(),
        turned_away,
        idle_closed,
        slow_closed,
        slow: slow.len(),
    }
}

#[test]
#[ignore = "needs root (network namespaces) and Debian chromium + chromium-driver; .ci/run runs it: cargo test --test booth_attack -- --include-ignored"]
fn a_phone_approves_while_a_stranger_floods_the_booth_with_connections() {
    // The stranger's script lives in this process too: room for its 1,120 sockets.
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let network = BoothNetwork::with_stranger();
    let phone = Phone::open(&network);
    network.run_in(Side::Laptop, || {
        let options = UiOptions {
            presenter: true,
            linger: Duration::from_secs(30),
            ..UiOptions::default()
        };
        let store = Arc::new(MemoryStore::default());
        let config_dir = tempfile::tempdir().unwrap();
        let setup = booth_setup(&store, Registry::in_dir(config_dir.path()));
        let mut window = Window::open_sized(setup, options, [1280.0, 720.0]);
        let link = window.next_link(None);
        assert!(
            link.starts_with(&format!("http://{LAPTOP_IP}:{PORT}/pair/")),
            "{link}"
        );

        let (ready_tx, ready) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let stranger = network.spawn_in(Side::Stranger, move || {
            runtime().block_on(flood(ready_tx, release_rx))
        });
        ready.recv_timeout(Duration::from_secs(120)).unwrap();

        // A visitor scans the code and approves while the flood holds.
        let started = Instant::now();
        phone.open_link(&link);
        phone.click("button.approve");
        let done = phone.text("p.done");
        let took = started.elapsed();
        assert!(done.contains("was approved"), "{done}");
        window.until_label_contains("is now connected to Demo Project");
        // Booth staff are told what is going on.
        window.until_label_contains("opened far more connections than a phone");
        release.send(()).unwrap();
        let flood = stranger.join().unwrap();
        eprintln!(
            "flood: {} of 1100 idle connections taken, {} turned away at once, {} of those \
             taken closed by the header timer, {}/{} half-sent headers closed; the phone \
             approved in {:.1} s",
            flood.taken,
            flood.turned_away,
            flood.idle_closed,
            flood.slow_closed,
            flood.slow,
            took.as_secs_f64()
        );
        assert!(took <= Duration::from_secs(15), "approval took {took:?}");
        let per_address = c2c_pair::demo::CONNECTIONS_PER_ADDRESS;
        assert_eq!(flood.taken, 11 * per_address, "{flood:?}");
        assert_eq!(flood.taken + flood.turned_away, 1_100, "{flood:?}");
        assert_eq!(flood.idle_closed, flood.taken, "{flood:?}");
        assert_eq!(flood.slow_closed, flood.slow, "{flood:?}");
    });
}

#[test]
#[ignore = "needs root (network namespaces); .ci/run runs it: cargo test --test booth_attack -- --include-ignored"]
fn big_half_sent_heads_cost_little_and_a_foreign_host_is_refused() {
    let network = BoothNetwork::with_stranger();
    let config = tempfile::tempdir().unwrap();
    let mut server = network
        .command(Side::Laptop, env!("CARGO_BIN_EXE_c2c-pair"))
        .args(["demo-server", "--listen", &format!("0.0.0.0:{PORT}")])
        .env("C2C_PAIR_CONFIG_DIR", config.path())
        .env("C2C_PAIR_LOG_DIR", config.path().join("logs"))
        .env("TMPDIR", config.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(server.stdout.take().unwrap()));
    let listening = lines
        .by_ref()
        .take(40)
        .map_while(Result::ok)
        .any(|line| line.starts_with("Ctrl-C stops it"));
    assert!(listening, "the demo server did not start");
    std::thread::spawn(move || lines.for_each(drop));
    let pid = server.id();
    let (rss_before, _) = rss_of(pid);

    let (answered, refused_hosts) = network.run_in(Side::Stranger, || {
        runtime().block_on(async {
            // 300 connections, each sending a 384 KB header, all at once.
            let big = format!(
                "GET /pair HTTP/1.1\r\nHost: {LAPTOP_STRANGER_SIDE_IP}:{PORT}\r\nX-Big: {}\r\n\r\n",
                "a".repeat(384 * 1024)
            );
            let big = Arc::new(big);
            let mut tasks = tokio::task::JoinSet::new();
            for n in 0..300 {
                let big = Arc::clone(&big);
                tasks.spawn(async move {
                    let mut stream = connect_from(n).await.unwrap();
                    let _ = stream.write_all(big.as_bytes()).await;
                    let mut answer = Vec::new();
                    let _ = tokio::time::timeout(
                        Duration::from_secs(30),
                        stream.read_to_end(&mut answer),
                    )
                    .await;
                    answer.starts_with(b"HTTP/1.1 431")
                });
            }
            let mut answered = 0;
            while let Some(got) = tasks.join_next().await {
                answered += usize::from(got.unwrap());
            }
            // A foreign Host is refused on every route.
            let http = reqwest::Client::new();
            let base = format!("http://{LAPTOP_STRANGER_SIDE_IP}:{PORT}");
            let mut refused = 0;
            for (method, path) in [
                ("GET", "/pair"),
                ("POST", "/pair"),
                ("POST", "/v2/auth/device/code"),
                ("POST", "/v2/auth/token"),
                ("GET", "/v2/devices/me"),
                ("POST", "/v2/devices/assets"),
                ("PUT", "/_uploads/x/1"),
                ("GET", "/_control/stats"),
            ] {
                let answer = http
                    .request(method.parse().unwrap(), format!("{base}{path}"))
                    .header("host", "booth.attacker.example")
                    .send()
                    .await
                    .unwrap();
                refused += usize::from(answer.status() == reqwest::StatusCode::FORBIDDEN);
            }
            (answered, refused)
        })
    });
    let (rss_after, peak) = rss_of(pid);
    // The booth still serves a phone.
    let page = network.run_in(Side::Phone, || {
        runtime().block_on(async {
            reqwest::get(format!("http://{LAPTOP_IP}:{PORT}/pair"))
                .await
                .unwrap()
                .status()
        })
    });
    let _ = server.kill();
    let _ = server.wait();
    eprintln!(
        "big heads: {answered}/300 answered 431; server RSS {rss_before} KiB before, \
         {rss_after} KiB after, peak {peak} KiB (+{} KiB); foreign Host refused on \
         {refused_hosts}/8 routes",
        peak.saturating_sub(rss_before)
    );
    assert_eq!(answered, 300);
    assert!(
        peak <= rss_before + 32 * 1024,
        "peak {peak} KiB vs {rss_before} KiB"
    );
    assert_eq!(refused_hosts, 8);
    assert_eq!(page, reqwest::StatusCode::OK);
}

/// Bytes of the files under `folder`.
fn bytes_under(folder: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => bytes_under(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A device of the stranger's, paired by the stranger itself on the approval page (the demo
/// secret is public): its access token.
async fn self_approved_token(http: &reqwest::Client, base: &str) -> String {
    let code: Value = http
        .post(format!("{base}/v2/auth/device/code"))
        .form(&[
            ("client_id", "STRANGER"),
            ("client_secret", common::demo_secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = code["user_code"].as_str().unwrap();
    let form = [("code", user_code), ("action", "approve")];
    let answer = common::submit_approval(http, &format!("{base}/pair"), &form).await;
    assert!(answer.contains("was approved"), "{answer}");
    let token: Value = http
        .post(format!("{base}/v2/auth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", code["device_code"].as_str().unwrap()),
            ("client_id", "STRANGER"),
            ("client_secret", common::demo_secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

/// Creates a one-part asset of `size` bytes; its part's upload URL.
async fn one_part_asset(http: &reqwest::Client, base: &str, token: &str, size: usize) -> String {
    let created: Value = http
        .post(format!("{base}/v2/devices/assets"))
        .bearer_auth(token)
        .json(&json!({
            "name": "big.mov", "filetype": "video/quicktime", "filesize": size,
            "offset": 0, "channel": 1, "parts": 1,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["upload_urls"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned()
}

/// Sends the head of a PUT of `announced` bytes to `url` from the stranger's `n`th address,
/// then `sent` bytes of its body.
async fn put_partly(n: usize, url: &str, announced: usize, sent: usize) -> TcpStream {
    let url = url::Url::parse(url).unwrap();
    let target = format!("{}?{}", url.path(), url.query().unwrap());
    let mut stream = connect_from(n).await.unwrap();
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: {LAPTOP_STRANGER_SIDE_IP}:{PORT}\r\n\
         Content-Type: video/quicktime\r\nx-amz-acl: private\r\nContent-Length: {announced}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![7_u8; MIB];
    let mut left = sent;
    while left > 0 {
        let piece = left.min(MIB);
        if stream.write_all(&chunk[..piece]).await.is_err() {
            break;
        }
        left -= piece;
    }
    stream
}

/// The status line of what `stream` reads within 30 s.
async fn status_line(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
#[ignore = "needs root (network namespaces); .ci/run runs it: cargo test --test booth_attack -- --include-ignored"]
fn parallel_uploads_of_one_part_hold_one_part_and_a_network_client_has_a_quota() {
    let network = BoothNetwork::with_stranger();
    let (server_tx, server_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // The booth's server runs on the laptop until the test is done with it.
    let booth = network.spawn_in(Side::Laptop, move || {
        runtime().block_on(async move {
            let config = DemoConfig {
                listen: format!("0.0.0.0:{PORT}").parse().unwrap(),
                ..common::fast_config()
            };
            let server = DemoServer::start(config).await.unwrap();
            server_tx.send(server.upload_dir().unwrap()).unwrap();
            let _ =
                tokio::task::spawn_blocking(move || done_rx.recv_timeout(Duration::from_secs(300)))
                    .await;
            server.shutdown().await;
        });
    });
    let folder = server_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let part = 8 * MIB;
    let (sending_tx, sending) = mpsc::channel();
    let stranger = network.spawn_in(Side::Stranger, move || {
        runtime().block_on(async move {
            let http = reqwest::Client::new();
            let base = format!("http://{LAPTOP_STRANGER_SIDE_IP}:{PORT}");
            let token = self_approved_token(&http, &base).await;
            let url = one_part_asset(&http, &base, &token, part).await;
            // Forty parallel uploads of the part, each one byte short, from twelve addresses.
            let mut uploads = tokio::task::JoinSet::new();
            for n in 0..40 {
                let url = url.clone();
                uploads.spawn(async move { put_partly(n, &url, part, part - 1).await });
            }
            let mut streams = Vec::new();
            while let Some(stream) = uploads.join_next().await {
                streams.push(stream.unwrap());
            }
            sending_tx.send(()).unwrap();
            let mut superseded = 0;
            for stream in &mut streams {
                let status = tokio::time::timeout(Duration::from_millis(500), status_line(stream))
                    .await
                    .unwrap_or_default();
                superseded += usize::from(status.starts_with("HTTP/1.1 409"));
            }
            // Past one address's quota: refused with the reason, before the body is kept.
            let big = one_part_asset(&http, &base, &token, 1536 * MIB).await;
            let mut over = put_partly(0, &big, 1536 * MIB, MIB).await;
            let quota = status_line(&mut over).await;
            (superseded, quota)
        })
    });
    // Bytes on disk, sampled while the uploads run.
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sending.try_recv().is_err() && Instant::now() < deadline {
        most = most.max(bytes_under(&folder));
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..100 {
        most = most.max(bytes_under(&folder));
        std::thread::sleep(Duration::from_millis(5));
    }
    let (superseded, quota) = stranger.join().unwrap();
    done_tx.send(()).unwrap();
    booth.join().unwrap();
    eprintln!(
        "40 parallel uploads of one {part}-byte part: at most {most} bytes on disk, \
         {superseded} told a newer upload took over; past the quota: {quota}"
    );
    assert!(most <= part as u64, "{most} bytes on disk");
    assert_eq!(superseded, 39);
    assert!(quota.starts_with("HTTP/1.1 507"), "{quota}");
}
