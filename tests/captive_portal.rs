//! A venue's network between the laptop and the API, made by the test: three network
//! namespaces — the laptop, the venue's gateway and the API host — joined by veth pairs. The
//! laptop's hosts file (`ip netns exec` mounts `/etc/netns/NAME/hosts`) sends `api.c2c.test`
//! to the gateway, which is one of:
//!
//! - a **captive portal**: its own self-signed certificate on 443, and on 80 a 302 to its
//!   sign-in page on another host, for every request;
//! - a **TLS-inspecting middlebox**: on 443 a certificate for the API host from a CA the
//!   laptop does not trust, and port 80 relayed to the API host, which sends plain HTTP to
//!   HTTPS as API hosts do.
//!
//! `pair` and `doctor` (the real binary) and the window (kittest, in the laptop's namespace)
//! must name the sign-in and its page for the portal — sending it no secret — and keep the CA
//! advice for the middlebox. Nothing leaves the namespaces made here.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use c2c_pair::c2c::profile::parse_api_base;
use common::booth::{enter, ip};
use common::window::{Window, service_choice};
use egui_kittest::kittest::Queryable as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const LAPTOP_IP: &str = "10.253.0.1";
/// The captive portal's address on the venue network.
const PORTAL_IP: &str = "10.253.0.2";
/// The TLS-inspecting middlebox's address on the venue network.
const INSPECTOR_IP: &str = "10.253.0.3";
const GATEWAY_API_SIDE_IP: &str = "10.254.0.1";
const API_IP: &str = "10.254.0.2";
const API_HOST: &str = "api.c2c.test";
/// Where the portal sends every plain-HTTP request.
const SIGN_IN_PAGE: &str = "http://portal.test/login?dst=api.c2c.test";
/// The client secret the laptop holds; it must never reach the portal.
const SECRET: &str = "venue-test-client-secret-0123456789";

/// The three namespaces and the laptop's hosts file; all removed when dropped.
struct Venue {
    laptop: String,
    gateway: String,
    api: String,
}

impl Venue {
    fn create() -> Self {
        let tag = format!(
            "{:x}{:03x}",
            std::process::id() & 0xf_ffff,
            rand::random::<u16>() & 0xfff
        );
        let venue = Self {
            laptop: format!("c2c-vl-{tag}"),
            gateway: format!("c2c-vg-{tag}"),
            api: format!("c2c-va-{tag}"),
        };
        let made = (|| {
            for ns in [&venue.laptop, &venue.gateway, &venue.api] {
                ip(&["netns", "add", ns])?;
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
            }
            let links = [
                (
                    (&venue.laptop, format!("a{tag}"), vec![LAPTOP_IP]),
                    (
                        &venue.gateway,
                        format!("b{tag}"),
                        vec![PORTAL_IP, INSPECTOR_IP],
                    ),
                ),
                (
                    (&venue.gateway, format!("c{tag}"), vec![GATEWAY_API_SIDE_IP]),
                    (&venue.api, format!("d{tag}"), vec![API_IP]),
                ),
            ];
            for ((ns_a, if_a, ips_a), (ns_b, if_b, ips_b)) in &links {
                ip(&["link", "add", if_a, "type", "veth", "peer", "name", if_b])?;
                for (ns, dev, ips) in [(ns_a, if_a, ips_a), (ns_b, if_b, ips_b)] {
                    ip(&["link", "set", dev, "netns", ns])?;
                    for address in ips {
                        let cidr = format!("{address}/24");
                        ip(&["-n", ns, "addr", "add", &cidr, "dev", dev])?;
                    }
                    ip(&["-n", ns, "link", "set", dev, "up"])?;
                }
            }
            Ok::<(), String>(())
        })();
        if let Err(error) = made {
            panic!(
                "could not make the venue's network namespaces ({error}). This test needs root \
                 and iproute2 (ip netns, veth); .ci/run runs it as root"
            );
        }
        venue
    }

    /// Sends the API host to `address` in the laptop's hosts file.
    fn point_api_host_at(&self, address: &str) {
        let dir = self.hosts_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let hosts = format!("127.0.0.1 localhost\n{address} {API_HOST}\n");
        std::fs::write(dir.join("hosts"), hosts).unwrap();
    }

    fn hosts_dir(&self) -> std::path::PathBuf {
        std::path::Path::new("/etc/netns").join(&self.laptop)
    }

    /// Runs `work` on a thread of its own inside `ns`, until it returns.
    fn run_in<T: Send>(ns: &str, work: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{ns}");
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    enter(&path);
                    work()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Serves `servers` inside `ns` on a thread of its own, once `bind` has bound their
    /// listeners there (returned before this returns), until the process ends.
    fn serve_in<F>(ns: &str, bind: impl FnOnce() -> F + Send + 'static)
    where
        F: Future<Output = ()> + 'static,
    {
        let path = format!("/run/netns/{ns}");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("venue-{ns}"))
            .spawn(move || {
                enter(&path);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                // Listeners are registered with this runtime's reactor.
                let servers = {
                    let _inside = runtime.enter();
                    bind()
                };
                ready_tx.send(()).unwrap();
                runtime.block_on(servers);
            })
            .unwrap();
        ready_rx.recv().expect("the servers are listening");
    }

    /// `c2c-pair ARGS` in the laptop's namespace (its hosts file mounted), with the client
    /// secret in the environment.
    async fn c2c_pair(&self, kc: &common::TestKeychain, args: &[&str]) -> (i32, String) {
        let mut command = tokio::process::Command::new("ip");
        command
            .args([
                "netns",
                "exec",
                &self.laptop,
                env!("CARGO_BIN_EXE_c2c-pair"),
            ])
            .args(args);
        common::isolate(&mut command, &kc.service, kc.config_dir.path());
        command
            .env("C2C_PAIR_CLIENT_SECRET", SECRET)
            .stderr(Stdio::inherit());
        let output = tokio::time::timeout(std::time::Duration::from_secs(90), command.output())
            .await
            .expect("c2c-pair ends within 90 s")
            .unwrap();
        (
            output.status.code().expect("an exit code"),
            String::from_utf8(output.stdout).unwrap(),
        )
    }
}

/// What `pair --json` and `doctor` said against the API host.
struct Tried {
    /// `pair`'s exit code.
    pair: i32,
    /// Its one error event.
    error: Value,
    /// `doctor`'s exit code.
    doctor: i32,
    /// Its report.
    report: String,
}

impl Venue {
    /// Runs `pair --json` for one device, then `doctor`, against `https://api.c2c.test/`.
    async fn pair_then_doctor(&self) -> Tried {
        let kc = common::os_keychain();
        let base = format!("https://{API_HOST}/");
        let pair = [
            "--api-base",
            &base,
            "pair",
            "--device",
            "CAM-VENUE",
            "--json",
        ];
        let (code, stdout) = self.c2c_pair(&kc, &pair).await;
        let mut errors = events(&stdout, "error");
        assert_eq!(errors.len(), 1, "one error: {stdout}");
        let (doctor, report) = self.c2c_pair(&kc, &["--api-base", &base, "doctor"]).await;
        Tried {
            pair: code,
            error: errors.remove(0),
            doctor,
            report,
        }
    }
}

impl Drop for Venue {
    fn drop(&mut self) {
        for ns in [&self.laptop, &self.gateway, &self.api] {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(self.hosts_dir());
    }
}

/// A TLS acceptor with `cert` (signed by its issuer, or self-signed).
fn acceptor(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> tokio_rustls::TlsAcceptor {
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A listener on `ip`:`port` for the runtime this is called in (see [`Venue::serve_in`]).
fn listen(ip: &str, port: u16) -> TcpListener {
    let listener = std::net::TcpListener::bind((ip, port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    TcpListener::from_std(listener).unwrap()
}

/// Accepts TLS on `listener` for ever; the laptop is expected to give up in the handshake.
async fn tls_for_ever(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    while let Ok((socket, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = acceptor.accept(socket).await;
        });
    }
}

/// Reads one request: its head, and the bytes that came after it within a short wait.
async fn read_request(socket: &mut TcpStream) -> (String, usize) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    while !bytes.windows(4).any(|w| w == b"\r\n\r\n") && bytes.len() < 64 * 1024 {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |at| at + 4);
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    (head, bytes.len() - end)
}

/// What the portal's port 80 received: each request's head and how many body bytes followed.
type Seen = Arc<Mutex<Vec<(String, usize)>>>;

/// The captive portal: a self-signed certificate of its own on 443; on 80, a 302 to
/// [`SIGN_IN_PAGE`] for whatever is asked.
fn start_portal(venue: &Venue) -> Seen {
    let seen = Seen::default();
    let recorded = seen.clone();
    Venue::serve_in(&venue.gateway, move || {
        let own = rcgen::generate_simple_self_signed(vec!["portal.test".into()]).unwrap();
        let tls = acceptor(&own.cert, &own.signing_key);
        let (https, http) = (listen(PORTAL_IP, 443), listen(PORTAL_IP, 80));
        async move {
            tokio::spawn(tls_for_ever(https, tls));
            while let Ok((mut socket, _)) = http.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut socket).await;
                    recorded.lock().unwrap().push(request);
                    let answer = format!(
                        "HTTP/1.1 302 Found\r\nLocation: {SIGN_IN_PAGE}\r\nContent-Type: \
                         text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        }
    });
    seen
}

/// The API host's plain-HTTP side: every request is sent to HTTPS on the same host.
fn start_api(venue: &Venue) {
    Venue::serve_in(&venue.api, || {
        let http = listen(API_IP, 80);
        async move {
            while let Ok((mut socket, _)) = http.accept().await {
                tokio::spawn(async move {
                    let _ = read_request(&mut socket).await;
                    let answer = format!(
                        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://{API_HOST}/\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        }
    });
}

/// The TLS-inspecting middlebox: on 443 a certificate for the API host issued by its own CA
/// (not in the laptop's trust store); port 80 relayed to the API host as it is.
fn start_inspector(venue: &Venue) {
    Venue::serve_in(&venue.gateway, || {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Venue Inspection CA");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![API_HOST.into()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let tls = acceptor(&leaf, &leaf_key);
        let (https, http) = (listen(INSPECTOR_IP, 443), listen(INSPECTOR_IP, 80));
        async move {
            tokio::spawn(tls_for_ever(https, tls));
            while let Ok((mut socket, _)) = http.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut api) = TcpStream::connect((API_IP, 80)).await {
                        let _ = tokio::io::copy_bidirectional(&mut socket, &mut api).await;
                    }
                });
            }
        }
    });
}

/// The JSON lines of `stdout` with `"event": name`.
fn events(stdout: &str, name: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (network namespaces) and a Secret Service for the binary; run \
            .ci/run, or as root: .ci/with-keyring cargo test --test captive_portal -- \
            --include-ignored"]
async fn a_captive_portal_is_named_with_its_sign_in_page_and_sent_no_secret() {
    let venue = Venue::create();
    let portal = start_portal(&venue);
    venue.point_api_host_at(PORTAL_IP);
    let tried = venue.pair_then_doctor().await;
    assert_eq!(
        tried.pair, 8,
        "the sign-in's own exit code: {}",
        tried.error
    );
    assert_eq!(tried.error["kind"], "sign_in", "{}", tried.error);
    let message = tried.error["message"].as_str().unwrap();
    assert!(
        message.contains("this network needs a sign-in (a hotel or venue Wi-Fi page)")
            && message.contains(&format!("Open {SIGN_IN_PAGE} in a browser")),
        "{message}"
    );
    assert!(!message.contains("CA certificate"), "{message}");

    let report = &tried.report;
    assert_eq!(tried.doctor, 8, "{report}");
    assert!(
        report.contains("needs a sign-in") && report.contains(SIGN_IN_PAGE),
        "{report}"
    );

    let seen = portal.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the portal was checked over plain HTTP");
    for (head, body) in &seen {
        assert!(head.starts_with("GET / HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("host: {API_HOST}\r\n")),
            "{head}"
        );
        assert!(
            !head.contains(SECRET) && *body == 0,
            "no secret, no body: {head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("authorization"),
            "{head}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (network namespaces) and a Secret Service for the binary; run \
            .ci/run, or as root: .ci/with-keyring cargo test --test captive_portal -- \
            --include-ignored"]
async fn a_tls_inspecting_middlebox_still_gets_the_ca_advice() {
    let venue = Venue::create();
    start_api(&venue);
    start_inspector(&venue);
    venue.point_api_host_at(INSPECTOR_IP);
    let tried = venue.pair_then_doctor().await;
    assert_eq!(tried.pair, 5, "a network failure: {}", tried.error);
    assert_eq!(tried.error["kind"], "network", "{}", tried.error);
    let message = tried.error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "could not verify the TLS certificate of {API_HOST}"
        )) && message.contains("install its CA certificate in the OS trust store"),
        "{message}"
    );
    assert!(!message.contains("sign-in"), "{message}");

    assert_eq!(tried.doctor, 5, "{}", tried.report);
    assert!(
        tried.report.contains("install its CA certificate"),
        "{}",
        tried.report
    );
}

#[test]
#[ignore = "needs root (network namespaces); run .ci/run, or as root: cargo test --test \
            captive_portal -- --include-ignored"]
fn the_window_names_the_sign_in_in_its_light_and_on_the_card() {
    let venue = Venue::create();
    let _portal = start_portal(&venue);
    let kc = common::test_keychain();
    // In-process, the laptop's hosts file is not mounted: the window is pointed at the
    // portal's address itself, which answers as it does for the API host's name.
    let base = parse_api_base(&format!("https://{PORTAL_IP}/")).unwrap();
    Venue::run_in(&venue.laptop, || {
        let mut window = Window::open(service_choice(&base, SECRET), &kc);
        window.until_label("Wi-Fi sign-in needed");
        assert!(
            window
                .harness
                .query_by_label("Open the sign-in page")
                .is_some(),
            "the light links to the page"
        );
        window.type_device_id("CAM-VENUE");
        window.click("Pair");
        window.until_label("This Wi-Fi wants a sign-in first");
        assert!(
            window
                .harness
                .query_by_label("Open the sign-in page in your browser")
                .is_some(),
            "the card links to the page"
        );
        window.until_label_contains(SIGN_IN_PAGE);
    });
}
