//! A booth network made by the test itself: two network namespaces, "laptop" and "phone",
//! joined by a veth pair, with 10.251.0.1 and 10.251.0.2. Code runs inside one of them on a
//! thread of its own (setns), and processes are started there with `ip netns exec`. Nothing
//! leaves these namespaces: the only addresses used are theirs and their loopbacks.
//!
//! The phone is Debian's Chromium driven through chromedriver (the W3C `WebDriver` protocol,
//! plain HTTP on the phone's own loopback) at a phone's viewport, clicking the page's real
//! controls.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::os::fd::AsFd as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The laptop's address on the booth network.
pub const LAPTOP_IP: &str = "10.251.0.1";
/// The phone's address on the booth network.
pub const PHONE_IP: &str = "10.251.0.2";
/// The laptop's address on the stranger's side of the booth Wi-Fi.
pub const LAPTOP_STRANGER_SIDE_IP: &str = "10.252.0.1";
/// The stranger's first address; it has [`STRANGER_ADDRESSES`] in all, from here up.
pub const STRANGER_IP: [u8; 4] = [10, 252, 0, 100];
/// How many addresses the stranger's laptop takes (privacy addresses are free to make).
pub const STRANGER_ADDRESSES: u8 = 12;

/// Which side of the booth network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Runs the app and its demo server.
    Laptop,
    /// Opens the approval page.
    Phone,
    /// A stranger's laptop with a script, on a network namespace of its own.
    Stranger,
}

/// The two namespaces; removed (with their veth pair) when dropped.
pub struct BoothNetwork {
    laptop: String,
    phone: String,
    stranger: Option<String>,
}

/// Runs `ip` with `args`; what it said on failure.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl BoothNetwork {
    /// Makes the namespaces; panics with what is missing (root, iproute2) when it cannot.
    pub fn create() -> Self {
        // Unique per test process and call, so tests can run side by side.
        let tag = format!(
            "{:x}{:03x}",
            std::process::id() & 0xf_ffff,
            rand::random::<u16>() & 0xfff
        );
        let network = Self {
            laptop: format!("c2c-lap-{tag}"),
            phone: format!("c2c-phn-{tag}"),
            stranger: None,
        };
        let (lap_if, phn_if) = (format!("l{tag}"), format!("p{tag}"));
        let made = (|| {
            ip(&["netns", "add", &network.laptop])?;
            ip(&["netns", "add", &network.phone])?;
            ip(&[
                "link", "add", &lap_if, "type", "veth", "peer", "name", &phn_if,
            ])?;
            ip(&["link", "set", &lap_if, "netns", &network.laptop])?;
            ip(&["link", "set", &phn_if, "netns", &network.phone])?;
            for (ns, dev, addr) in [
                (&network.laptop, &lap_if, LAPTOP_IP),
                (&network.phone, &phn_if, PHONE_IP),
            ] {
                ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
                ip(&["-n", ns, "link", "set", dev, "up"])?;
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
            }
            Ok::<(), String>(())
        })();
        if let Err(error) = made {
            panic!(
                "could not make the booth's network namespaces ({error}). These tests need root \
                 and iproute2 (ip netns, veth); .ci/run runs them as root"
            );
        }
        network
    }

    /// The booth network and a stranger's namespace joined to the laptop by a veth pair of
    /// its own (10.252.0.0/24), the stranger holding [`STRANGER_ADDRESSES`] addresses.
    pub fn with_stranger() -> Self {
        let mut network = Self::create();
        let name = network.laptop.replace("c2c-lap-", "c2c-str-");
        let tag = name.trim_start_matches("c2c-str-").to_owned();
        let (lap_if, str_if) = (format!("m{tag}"), format!("s{tag}"));
        let made = (|| {
            ip(&["netns", "add", &name])?;
            ip(&[
                "link", "add", &lap_if, "type", "veth", "peer", "name", &str_if,
            ])?;
            ip(&["link", "set", &lap_if, "netns", &network.laptop])?;
            ip(&["link", "set", &str_if, "netns", &name])?;
            let laptop_side = format!("{LAPTOP_STRANGER_SIDE_IP}/24");
            ip(&[
                "-n",
                &network.laptop,
                "addr",
                "add",
                &laptop_side,
                "dev",
                &lap_if,
            ])?;
            for n in 0..STRANGER_ADDRESSES {
                let [a, b, c, d] = STRANGER_IP;
                let address = format!("{a}.{b}.{c}.{}/24", d + n);
                ip(&["-n", &name, "addr", "add", &address, "dev", &str_if])?;
            }
            for (ns, dev) in [(&network.laptop, &lap_if), (&name, &str_if)] {
                ip(&["-n", ns, "link", "set", dev, "up"])?;
            }
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            Ok::<(), String>(())
        })();
        network.stranger = Some(name);
        if let Err(error) = made {
            panic!("could not make the stranger's namespace ({error}); root and iproute2 needed");
        }
        network
    }

    fn name(&self, side: Side) -> &str {
        match side {
            Side::Laptop => &self.laptop,
            Side::Phone => &self.phone,
            Side::Stranger => self.stranger.as_deref().expect("made with_stranger"),
        }
    }

    /// Starts `work` on a thread of its own inside `side`'s namespace.
    pub fn spawn_in<T: Send + 'static>(
        &self,
        side: Side,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = self.path(side);
        std::thread::Builder::new()
            .name(format!("booth-{side:?}").to_lowercase())
            .spawn(move || {
                enter(&path);
                work()
            })
            .expect("thread starts")
    }

    /// Runs `work` on a thread inside `side`'s namespace (threads it starts stay there).
    pub fn run_in<T: Send>(&self, side: Side, work: impl FnOnce() -> T + Send) -> T {
        let path = self.path(side);
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(format!("booth-{side:?}").to_lowercase())
                .spawn_scoped(scope, move || {
                    enter(&path);
                    work()
                })
                .expect("thread starts")
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn path(&self, side: Side) -> String {
        format!("/run/netns/{}", self.name(side))
    }

    /// `program` run inside `side`'s namespace.
    pub fn command(&self, side: Side, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.name(side), program]);
        command
    }

    /// The same as a tokio command, for tests that read its output as it comes.
    pub fn tokio_command(&self, side: Side, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", self.name(side), program]);
        command
    }
}

/// Moves this thread into the network namespace at `path` (`/run/netns/NAME`).
pub fn enter(path: &str) {
    let ns = std::fs::File::open(path).expect("the namespace exists");
    rustix::thread::move_into_link_name_space(
        ns.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .expect("entering the namespace (root needed)");
}

/// The port the booth listens on inside the laptop's namespace (its own, so always free).
pub const PORT: u16 = 8480;

/// The worker on the embedded demo server listening on every address of the laptop's
/// namespace, with an in-memory keychain.
pub fn booth_setup(
    store: &std::sync::Arc<c2c_pair::keychain::MemoryStore>,
    registry: c2c_pair::registry::Registry,
) -> c2c_pair::worker::WorkerSetup {
    c2c_pair::worker::WorkerSetup {
        choice: c2c_pair::backend::BackendChoice {
            profile: c2c_pair::c2c::profile::Profile::frame_io(),
            force_demo: true,
            demo_fallback: true,
            demo: c2c_pair::demo::DemoConfig {
                listen: format!("0.0.0.0:{PORT}").parse().unwrap(),
                ..super::fast_config()
            },
            env_secret: None,
        },
        keychain: c2c_pair::keychain::Keychain::new(store.clone(), Duration::from_secs(5)),
        registry,
        heartbeat_every: c2c_pair::worker::HEARTBEAT_EVERY,
        uploads: c2c_pair::worker::UploadSetup::default(),
    }
}

/// Resident memory of process `pid`: now and at its peak, in KiB.
pub fn rss_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

impl Drop for BoothNetwork {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.laptop]);
        let _ = ip(&["netns", "del", &self.phone]);
        if let Some(stranger) = &self.stranger {
            let _ = ip(&["netns", "del", stranger]);
        }
    }
}

/// A phone's browser on the booth network: Chromium under chromedriver, in the phone's
/// namespace, at a phone's viewport.
pub struct Phone<'a> {
    network: &'a BoothNetwork,
    driver: Child,
    session: String,
    _profile: tempfile::TempDir,
}

/// chromedriver's port on the phone's own loopback.
const DRIVER_PORT: u16 = 9515;
/// Longest wait for one `WebDriver` call (a page load included).
const DRIVER_PATIENCE: Duration = Duration::from_secs(60);

impl<'a> Phone<'a> {
    /// Starts chromedriver and a browser session in the phone's namespace.
    pub fn open(network: &'a BoothNetwork) -> Self {
        c2c_pair::c2c::install_crypto_provider();
        let driver = network
            .command(Side::Phone, "chromedriver")
            .arg(format!("--port={DRIVER_PORT}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; .ci/run installs it)");
        let profile = tempfile::tempdir().unwrap();
        let mut phone = Self {
            network,
            driver,
            session: String::new(),
            _profile: profile,
        };
        phone.wait_for_driver();
        let user_data = phone._profile.path().display().to_string();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={user_data}"),
                ],
                "mobileEmulation": {
                    "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0},
                    "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) \
                        AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 \
                        Safari/604.1"
                }
            }
        }}});
        let answer = phone.call("POST", "/session", capabilities);
        phone.session = answer["value"]["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_owned();
        phone
    }

    /// Waits for chromedriver's own word that it listens (its first line of output).
    fn wait_for_driver(&mut self) {
        use std::io::BufRead as _;
        let stdout = self.driver.stdout.take().expect("piped");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let started = lines
            .by_ref()
            .take(20)
            .map_while(Result::ok)
            .any(|line| line.contains("started successfully"));
        assert!(started, "chromedriver did not start");
        // Keep reading (and dropping) its output so it never blocks on a full pipe.
        std::thread::Builder::new()
            .name("chromedriver-output".into())
            .spawn(move || lines.for_each(drop))
            .expect("thread starts");
    }

    /// One `WebDriver` call from inside the phone's namespace; its `value`.
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("http://127.0.0.1:{DRIVER_PORT}{path}");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer: Value = self.network.run_in(Side::Phone, move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let request = reqwest::Client::new()
                    .request(method, &url)
                    .timeout(DRIVER_PATIENCE);
                let request = if body.is_null() {
                    request
                } else {
                    request.json(&body)
                };
                request
                    .send()
                    .await
                    .expect("chromedriver answers")
                    .json()
                    .await
                    .expect("JSON")
            })
        });
        assert!(
            !answer["value"]["error"].is_string(),
            "WebDriver {path}: {}",
            answer["value"]
        );
        answer
    }

    fn session_call(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body)["value"].clone()
    }

    /// Opens a link, as scanning the QR code does.
    pub fn open_link(&self, link: &str) {
        self.session_call("POST", "/url", json!({ "url": link }));
    }

    fn element(&self, css: &str) -> String {
        let found = self.session_call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Clicks the element `css` selects, as a finger would.
    pub fn click(&self, css: &str) {
        let element = self.element(css);
        self.session_call("POST", &format!("/element/{element}/click"), json!({}));
    }

    /// Types `text` into the field `css` selects.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.session_call("POST", &format!("/element/{element}/clear"), json!({}));
        self.session_call(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    /// The visible text of the element `css` selects.
    pub fn text(&self, css: &str) -> String {
        let element = self.element(css);
        self.session_call("GET", &format!("/element/{element}/text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's viewport width in CSS pixels (a phone's: 390).
    pub fn viewport_width(&self) -> u64 {
        let width = self.session_call(
            "POST",
            "/execute/sync",
            json!({"script": "return window.innerWidth;", "args": []}),
        );
        width.as_u64().unwrap_or_default()
    }

    /// A screenshot of the page as PNG bytes.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.session_call("GET", "/screenshot", Value::Null);
        decode_base64(encoded.as_str().unwrap_or_default())
    }
}

impl Drop for Phone<'_> {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let url = format!("http://127.0.0.1:{DRIVER_PORT}{path}");
            let _ = self.network.run_in(Side::Phone, move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async move {
                    reqwest::Client::new()
                        .delete(&url)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await
                        .ok()
                })
            });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (`WebDriver`'s screenshots).
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            n |= u32::from(*d) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// This process's resident memory, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_default()
}
