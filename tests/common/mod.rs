//! Shared test helpers: the embedded server with fast timings, its control API, and a real
//! OS keychain under a throwaway service name that is cleaned up afterwards.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

#[cfg(target_os = "linux")]
pub mod booth;
pub mod media;
pub mod upload_cli;
pub mod window;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use c2c_pair::backend::Backend;
use c2c_pair::c2c::C2cClient;
use c2c_pair::c2c::profile::Profile;
use c2c_pair::demo::state::LoggedRequest;
use c2c_pair::demo::{CONTROL_HEADER, DEMO_CLIENT_SECRET, DemoConfig, DemoServer};
use c2c_pair::keychain::{CredentialStore, Keychain, KeychainError, OsStore};
use c2c_pair::registry::Registry;
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

/// The `c2c-pair` binary with a clean environment (no client secret, server, configuration
/// file or log filter from the caller's), a keychain service and a config directory; output
/// piped, killed when dropped.
pub fn c2c_pair_in(
    service: &str,
    config_dir: &std::path::Path,
    args: &[&str],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_c2c-pair"));
    command.args(args);
    isolate(&mut command, service, config_dir);
    command
}

/// Gives a `c2c-pair` command (started directly or through a wrapper such as `ip netns exec`)
/// the clean environment of [`c2c_pair_in`].
pub fn isolate(command: &mut tokio::process::Command, service: &str, config_dir: &std::path::Path) {
    command
        .env("C2C_PAIR_KEYCHAIN_SERVICE", service)
        .env("C2C_PAIR_CONFIG_DIR", config_dir)
        .env("C2C_PAIR_LOG_DIR", config_dir.join("logs"))
        .env("C2C_PAIR_STATE_DIR", config_dir.join("state"))
        .env_remove("C2C_PAIR_CONFIG")
        .env_remove("C2C_PAIR_CLIENT_SECRET")
        .env_remove("C2C_PAIR_API_BASE")
        .env_remove("C2C_PAIR_CLIENT_VERSION")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
}

/// Set to 1 (CI does) to make keychain tests fail instead of skipping without a Secret Service.
pub const REQUIRE_KEYCHAIN_ENV: &str = "C2C_PAIR_REQUIRE_KEYCHAIN";

/// Poll interval of the test server: short, so tests are quick, but long enough to measure.
pub const FAST_INTERVAL: Duration = Duration::from_millis(200);

/// A demo server configuration with fast timings.
pub fn fast_config() -> DemoConfig {
    DemoConfig {
        interval: FAST_INTERVAL,
        expires_in: Duration::from_secs(30),
        ..DemoConfig::default()
    }
}

/// A client profile pointing at a demo server, as a real (non-demo) service.
pub fn profile_for(base: &Url) -> Profile {
    Profile::for_api_base(base.clone())
}

/// A backend for an already running demo server, using `secret`.
pub fn backend_for(server: &DemoServer, secret: &str) -> Backend {
    backend_with_profile(profile_for(server.base_url()), secret)
}

/// A backend for any profile.
pub fn backend_with_profile(profile: Profile, secret: &str) -> Backend {
    Backend {
        client: C2cClient::new(profile).expect("valid profile"),
        client_secret: SecretString::from(secret.to_owned()),
        warning: None,
    }
}

/// The demo server's secret.
pub fn demo_secret() -> &'static str {
    DEMO_CLIENT_SECRET
}

/// The approval page's form token, read from the page at `page` as a browser would get it.
pub async fn form_token(http: &reqwest::Client, page: &str) -> String {
    let html = http.get(page).send().await.unwrap().text().await.unwrap();
    let (_, rest) = html
        .split_once(r#"name="form_token" value=""#)
        .expect("the page has a form token");
    rest.split('"').next().unwrap().to_owned()
}

/// Posts the approval form as the page at `page` would, token included; the answer's text.
pub async fn submit_approval(
    http: &reqwest::Client,
    page: &str,
    fields: &[(&str, &str)],
) -> String {
    let token = form_token(http, page).await;
    let action = Url::parse(page).unwrap().join("/pair").unwrap();
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("form_token", &token));
    http.post(action)
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The control API of a demo server.
#[derive(Clone)]
pub struct Control {
    base: Url,
    http: reqwest::Client,
}

impl Control {
    /// Control API of the server at `base`.
    pub fn new(base: &Url) -> Self {
        c2c_pair::c2c::install_crypto_provider();
        Self {
            base: base.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// Control API of the server whose approval link is `link` (`http://host:port/pair/123456`).
    pub fn from_link(link: &str) -> Self {
        let url = Url::parse(link).expect("a link");
        Self::new(&url.join("/").expect("base"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = self.base.join(path).expect("url");
        let request = self.http.post(url).header(CONTROL_HEADER, "1");
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        let response = request.send().await.expect("control API reachable");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON answer");
        assert!(
            status.is_success(),
            "control call {path} failed: {status} {body}"
        );
        body
    }

    async fn get(&self, path: &str) -> Value {
        let url = self.base.join(path).expect("url");
        self.http
            .get(url)
            .header(CONTROL_HEADER, "1")
            .send()
            .await
            .expect("reachable")
            .json()
            .await
            .expect("JSON")
    }

    /// How much the server holds (`GET /_control/stats`).
    pub async fn stats(&self) -> Value {
        self.get("/_control/stats").await
    }

    /// Approves a code into the first project.
    pub async fn approve(&self, user_code: &str) {
        self.post(&format!("/_control/codes/{user_code}/approve"), Value::Null)
            .await;
    }

    /// Approves a code into a named project with a device name.
    pub async fn approve_into(&self, user_code: &str, project: &str, device_name: &str) {
        let body = serde_json::json!({"project": project, "device_name": device_name});
        self.post(&format!("/_control/codes/{user_code}/approve"), body)
            .await;
    }

    /// Pauses a device now until resumed, as Frame.io's C2C Connections page does: media
    /// created from now on is refused (409 Channel Paused) when its asset is created.
    pub async fn pause(&self, client_id: &str) {
        self.post(&format!("/_control/devices/{client_id}/pause"), Value::Null)
            .await;
    }

    /// Resumes a paused device.
    pub async fn resume(&self, client_id: &str) {
        self.post(
            &format!("/_control/devices/{client_id}/resume"),
            Value::Null,
        )
        .await;
    }

    /// Records a past pause of a device, Unix seconds: media created from `from` until
    /// `until` is refused with 409 Channel Paused, whenever it is sent.
    pub async fn pause_window(&self, client_id: &str, from: f64, until: f64) {
        self.post(
            &format!("/_control/devices/{client_id}/pause"),
            serde_json::json!({"from": from, "until": until}),
        )
        .await;
    }

    /// Pauses a device since `from` (Unix seconds), until it is resumed.
    pub async fn pause_since(&self, client_id: &str, from: f64) {
        self.post(
            &format!("/_control/devices/{client_id}/pause"),
            serde_json::json!({ "from": from }),
        )
        .await;
    }

    /// Paired devices (`GET /_control/devices`): each with `online`, `last_heartbeat_unix_ms`,
    /// `online_log`, `offline_gaps`, `pauses` and `paused`.
    pub async fn devices(&self) -> Value {
        self.get("/_control/devices").await
    }

    /// Plays a server that refuses every new asset of a paused device whatever its `offset`.
    pub async fn pause_refuses_all(&self, on: bool) {
        self.post(
            "/_control/pause_refuses_all",
            serde_json::json!({ "on": on }),
        )
        .await;
    }

    /// Part uploads must carry the headers their URL signs (`Content-Type` equal to the
    /// asset's filetype, `x-amz-acl: private`), else 403; or not.
    pub async fn strict_headers(&self, on: bool) {
        self.post(
            "/_control/uploads/strict_headers",
            serde_json::json!({ "on": on }),
        )
        .await;
    }

    /// A delay of `ms` before every request is handled (control calls aside); 0 for none.
    pub async fn latency(&self, ms: u64) {
        self.post("/_control/latency", serde_json::json!({ "ms": ms }))
            .await;
    }

    /// The network gone for `seconds` (at most 3600): the server answers, then refuses
    /// connections and cuts the open ones until it listens again. The control API is
    /// unreachable meanwhile.
    pub async fn outage(&self, seconds: u64) {
        self.post(
            "/_control/outage",
            serde_json::json!({ "seconds": seconds }),
        )
        .await;
    }

    /// Declines a code.
    pub async fn deny(&self, user_code: &str) {
        self.post(&format!("/_control/codes/{user_code}/deny"), Value::Null)
            .await;
    }

    /// Expires a code now.
    pub async fn expire(&self, user_code: &str) {
        self.post(&format!("/_control/codes/{user_code}/expire"), Value::Null)
            .await;
    }

    /// The next `count` polls get `slow_down`.
    pub async fn slow_down(&self, count: u32) {
        self.post("/_control/slow_down", serde_json::json!({"count": count}))
            .await;
    }

    /// Makes a device's access token expire now.
    pub async fn expire_access(&self, client_id: &str) {
        self.post(
            &format!("/_control/devices/{client_id}/expire_access"),
            Value::Null,
        )
        .await;
    }

    /// Revokes all of a device's tokens, as if done in Frame.io.
    pub async fn revoke_device(&self, client_id: &str) {
        self.post(
            &format!("/_control/devices/{client_id}/revoke"),
            Value::Null,
        )
        .await;
    }

    /// Removes a device from its project.
    pub async fn remove_device(&self, client_id: &str) {
        self.post(
            &format!("/_control/devices/{client_id}/remove"),
            Value::Null,
        )
        .await;
    }

    /// Answers the next `count` requests to `path` with `status`.
    pub async fn fault(&self, path: &str, status: u16, count: u32) {
        self.inject(
            path,
            &c2c_pair::demo::fault::Fault::Status {
                status,
                retry_after: None,
            },
            count,
        )
        .await;
    }

    /// Queues a fault for the next `count` requests to `path`.
    pub async fn inject(&self, path: &str, fault: &c2c_pair::demo::fault::Fault, count: u32) {
        let body = serde_json::json!({"path": path, "fault": fault, "count": count});
        self.post("/_control/faults", body).await;
    }

    /// A random fault for `rate` of all requests from now on.
    pub async fn chaos(&self, rate: f64, seed: u64) {
        self.post(
            "/_control/chaos",
            serde_json::json!({"rate": rate, "seed": seed}),
        )
        .await;
    }

    /// Requests to `path` by `client_id` (any client when `None`), with their grant types.
    pub async fn requests_to(&self, path: &str, client_id: Option<&str>) -> Vec<LoggedRequest> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| {
                r.path == path && (client_id.is_none() || r.client_id.as_deref() == client_id)
            })
            .collect()
    }

    /// The secret device code behind a user code (the control API reveals it on request).
    pub async fn device_code(&self, user_code: &str) -> String {
        let codes: Vec<Value> =
            serde_json::from_value(self.get("/_control/codes?reveal=1").await).unwrap();
        let code = codes
            .iter()
            .find(|c| c["user_code"] == user_code)
            .expect("known code");
        code["device_code"].as_str().expect("revealed").to_owned()
    }

    /// Every asset the server received or is receiving.
    pub async fn assets(&self) -> Vec<Value> {
        let answer = self.get("/_control/assets").await;
        serde_json::from_value(answer["assets"].clone()).expect("a list of assets")
    }

    /// Sets upload faults (`POST /_control/uploads/fault`): any of `drop_after_bytes`,
    /// `stall_after_bytes` (the next part upload), `read_bytes_per_second` (every part upload
    /// until cleared) and `upload_urls_delta` (every normal asset until cleared). The faults
    /// now in force.
    pub async fn upload_fault(&self, settings: Value) -> Value {
        self.post("/_control/uploads/fault", settings).await["faults"].clone()
    }

    /// Clears every upload fault.
    pub async fn clear_upload_faults(&self) {
        self.post("/_control/uploads/fault/clear", Value::Null)
            .await;
    }

    /// Plays an older Frame.io whose only asset path is `POST /v2/assets` (or stops).
    pub async fn legacy_only(&self, on: bool) {
        self.post(
            "/_control/assets/legacy_only",
            serde_json::json!({ "on": on }),
        )
        .await;
    }

    /// Every code the server knows.
    pub async fn codes(&self) -> Vec<Value> {
        serde_json::from_value(self.get("/_control/codes").await).expect("a list")
    }

    /// The request log.
    pub async fn requests(&self) -> Vec<LoggedRequest> {
        let value = self.get("/_control/requests").await;
        value
            .as_array()
            .expect("a list")
            .iter()
            .map(|r| LoggedRequest {
                at: r["at"].as_f64().expect("at"),
                at_unix_ms: r["at_unix_ms"].as_u64().expect("ms").into(),
                method: r["method"].as_str().expect("method").to_owned(),
                path: r["path"].as_str().expect("path").to_owned(),
                client_version: r["client_version"].as_str().map(str::to_owned),
                client_id: r["client_id"].as_str().map(str::to_owned),
                grant_type: r["grant_type"].as_str().map(str::to_owned),
                status: r["status"].as_u64().expect("status") as u16,
                error: r["error"].as_str().map(str::to_owned),
                fault: r["fault"].as_str().map(str::to_owned),
            })
            .collect()
    }

    /// Times (seconds since server start) of the token requests of one device.
    pub async fn token_request_times(&self, client_id: &str) -> Vec<f64> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.path == "/v2/auth/token" && r.client_id.as_deref() == Some(client_id))
            .map(|r| r.at)
            .collect()
    }

    /// Time of the device-code request of one device.
    pub async fn code_request_time(&self, client_id: &str) -> f64 {
        self.requests()
            .await
            .into_iter()
            .find(|r| r.path == "/v2/auth/device/code" && r.client_id.as_deref() == Some(client_id))
            .map(|r| r.at)
            .expect("a code request")
    }

    /// Calls `/v2/devices/me` with an access token; the JSON on 200.
    pub async fn device_info(&self, access_token: &str) -> Option<Value> {
        let url = self.base.join("/v2/devices/me").expect("url");
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .expect("reachable");
        if response.status().is_success() {
            Some(response.json().await.expect("JSON"))
        } else {
            None
        }
    }
}

/// A keychain for a test — the real OS one under a throwaway service name, or (for tests of
/// logic and UI on a machine without a Secret Service) an in-memory store — and a throwaway
/// config directory for the device list; both are cleaned up on drop.
pub struct TestKeychain {
    /// Async access, as the app uses it.
    pub keychain: Keychain,
    /// The throwaway service name.
    pub service: String,
    /// The device list, in a temporary config directory.
    pub registry: Registry,
    /// The temporary config directory (`C2C_PAIR_CONFIG_DIR` for the binary).
    pub config_dir: tempfile::TempDir,
    store: Backing,
    accounts: Mutex<Vec<String>>,
}

/// Where a [`TestKeychain`] keeps its secrets.
#[derive(Clone)]
enum Backing {
    Os(Arc<OsStore>),
    Memory(Arc<c2c_pair::keychain::MemoryStore>),
}

impl Backing {
    fn store(&self) -> Arc<dyn CredentialStore> {
        match self {
            Self::Os(store) => store.clone(),
            Self::Memory(store) => store.clone(),
        }
    }
}

impl TestKeychain {
    /// Remembers an account to delete at the end.
    pub fn track(&self, account: &str) -> String {
        self.accounts.lock().unwrap().push(account.to_owned());
        account.to_owned()
    }

    /// A device context for a backend, with this keychain and device list.
    pub fn context(&self, backend: Backend) -> c2c_pair::device::Context {
        c2c_pair::device::Context {
            backend: Arc::new(backend),
            keychain: self.keychain.clone(),
            registry: self.registry.clone(),
        }
    }

    /// Reads an account directly from the store.
    pub fn read(&self, account: &str) -> Option<SecretString> {
        self.store.store().get(account).expect("keychain readable")
    }

    /// Every account stored under this keychain's service.
    pub fn accounts(&self) -> Vec<String> {
        match &self.store {
            Backing::Os(store) => store.accounts().expect("keychain listable"),
            Backing::Memory(store) => store.accounts(),
        }
    }

    /// The same store, with writes a test can refuse (see [`RefusingWrites`]).
    pub fn refusing_writes(&self) -> RefusingWrites {
        RefusingWrites::over(self.store.store())
    }

    /// Whether this is the real OS keychain (else the in-memory store).
    pub fn is_os(&self) -> bool {
        matches!(self.store, Backing::Os(_))
    }
}

impl Drop for TestKeychain {
    /// Deletes what the test named and anything else left under the throwaway service.
    fn drop(&mut self) {
        let mut accounts = self.accounts.lock().unwrap().clone();
        if let Backing::Os(store) = &self.store {
            accounts.extend(store.accounts().unwrap_or_default());
        }
        let store = self.store.store();
        for account in accounts {
            let _ = store.delete(&account);
        }
    }
}

/// The real OS keychain under a throwaway service, for tests whose subject is the keychain
/// or the binary (which always uses the OS keychain). Such tests are `#[ignore]`d for a plain
/// `cargo test`; CI runs them (`--include-ignored`), and without a Secret Service they fail,
/// saying so — they never pass having done nothing.
pub fn os_keychain() -> TestKeychain {
    try_os_keychain().unwrap_or_else(|error| {
        panic!("this test needs a Secret Service (run it inside .ci/with-keyring): {error}")
    })
}

/// A keychain for tests of logic and UI: the OS keychain when a Secret Service answers, else
/// an in-memory store, so the test runs for real on any machine. `C2C_PAIR_REQUIRE_KEYCHAIN=1`
/// (CI) insists on the OS keychain.
pub fn test_keychain() -> TestKeychain {
    match try_os_keychain() {
        Ok(keychain) => keychain,
        Err(error) if std::env::var(REQUIRE_KEYCHAIN_ENV).as_deref() == Ok("1") => {
            panic!("{REQUIRE_KEYCHAIN_ENV}=1 but the OS keychain is not usable: {error}")
        }
        Err(_) => {
            let store = Arc::new(c2c_pair::keychain::MemoryStore::default());
            test_keychain_over(
                "in-memory".to_owned(),
                Backing::Memory(store.clone()),
                store,
            )
        }
    }
}

fn try_os_keychain() -> Result<TestKeychain, KeychainError> {
    let service = format!(
        "c2c-pair-test-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let store = Arc::new(OsStore::new(service.clone()));
    let probe = format!("availability-{:08x}", rand::random::<u32>());
    store
        .set(&probe, &SecretString::from("probe"))
        .and_then(|()| store.delete(&probe))?;
    Ok(test_keychain_over(
        service,
        Backing::Os(store.clone()),
        store,
    ))
}

fn test_keychain_over(
    service: String,
    backing: Backing,
    store: Arc<dyn CredentialStore>,
) -> TestKeychain {
    let config_dir = tempfile::tempdir().unwrap();
    TestKeychain {
        keychain: Keychain::new(store, c2c_pair::keychain::DEFAULT_TIMEOUT),
        service,
        registry: Registry::in_dir(config_dir.path()),
        config_dir,
        store: backing,
        accounts: Mutex::new(Vec::new()),
    }
}

/// What a hostile test server answers to every request.
#[derive(Debug, Clone, Copy)]
pub enum Hostile {
    /// 200 with a body that is not JSON.
    MalformedJson,
    /// 200 with 100 KiB of JSON, announced by Content-Length.
    Oversized,
    /// 200 with 100 KiB streamed in chunks, no Content-Length.
    OversizedChunked,
    /// 502 with an HTML page, as a proxy would send.
    BadGateway,
}

/// A loopback server that answers every request badly; its base URL. Raw TCP, so that the
/// answers can be exactly as broken as a real proxy or server makes them.
pub async fn hostile_server(kind: Hostile) -> Url {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head and whatever body the client sends with it.
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let big = format!("{{\"device_code\":\"{}\"}}", "x".repeat(100 * 1024));
                let answer = match kind {
                    Hostile::MalformedJson => {
                        let body = "{\"device_code\": \"abc\", ";
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    Hostile::Oversized => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{big}",
                        big.len()
                    ),
                    Hostile::OversizedChunked => {
                        let mut text = String::from(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                        );
                        for chunk in big.as_bytes().chunks(4096) {
                            text.push_str(&format!(
                                "{:x}\r\n{}\r\n",
                                chunk.len(),
                                String::from_utf8_lossy(chunk)
                            ));
                        }
                        text.push_str("0\r\n\r\n");
                        text
                    }
                    Hostile::BadGateway => {
                        let body = "<html><body>Bad gateway</body></html>";
                        format!(
                            "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                };
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Url::parse(&format!("http://{addr}/")).unwrap()
}

/// A loopback address where nothing listens.
pub fn closed_port_url() -> Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    Url::parse(&format!("http://{addr}/")).unwrap()
}

/// A store (the real OS one, or one in memory) whose writes a test can refuse: all of them,
/// or only token sets (so the preflight passes and the failure comes after the tokens were
/// issued).
pub struct RefusingWrites {
    inner: Arc<dyn CredentialStore>,
    /// Set to refuse every write.
    pub refuse: std::sync::atomic::AtomicBool,
    /// Set to refuse writes of token sets (accounts with an `@`) only.
    pub refuse_token_sets: std::sync::atomic::AtomicBool,
}

impl RefusingWrites {
    /// The OS store under `service`, accepting writes for now.
    pub fn new(service: &str) -> Self {
        Self::over(Arc::new(OsStore::new(service.to_owned())))
    }

    /// An in-memory store, accepting writes for now (for tests that need no Secret Service).
    pub fn in_memory() -> Self {
        Self::over(Arc::new(c2c_pair::keychain::MemoryStore::default()))
    }

    /// `inner`, accepting writes for now.
    pub fn over(inner: Arc<dyn CredentialStore>) -> Self {
        Self {
            inner,
            refuse: std::sync::atomic::AtomicBool::new(false),
            refuse_token_sets: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl CredentialStore for RefusingWrites {
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), KeychainError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.refuse.load(SeqCst)
            || (self.refuse_token_sets.load(SeqCst) && account.contains('@'))
        {
            return Err(KeychainError::Locked {
                reason: "writes refused by the test".into(),
            });
        }
        self.inner.set(account, secret)
    }
    fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError> {
        self.inner.get(account)
    }
    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        self.inner.delete(account)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Starts pairing `device` in the background; its events arrive on the receiver, which closes
/// when the run ends.
pub fn start_pairing(
    ctx: &c2c_pair::device::Context,
    device: &str,
) -> (
    tokio::task::JoinHandle<Result<c2c_pair::device::PairOutcome, c2c_pair::device::PairError>>,
    tokio::sync::mpsc::UnboundedReceiver<c2c_pair::device::PairEvent>,
) {
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let id = c2c_pair::device::DeviceId::parse(device).unwrap();
    let ctx = ctx.clone();
    let run = tokio::spawn(async move {
        let cancel = tokio_util::sync::CancellationToken::new();
        c2c_pair::device::pair(&ctx, &id, None, None, &cancel, |e| {
            let _ = tx.send(e);
        })
        .await
    });
    (run, events)
}

/// Pairs `device`, approving each code it is given on the server behind `control`.
pub async fn pair_approving(
    ctx: &c2c_pair::device::Context,
    control: &Control,
    device: &str,
) -> Result<c2c_pair::device::PairOutcome, c2c_pair::device::PairError> {
    let (run, mut events) = start_pairing(ctx, device);
    while let Some(event) = events.recv().await {
        if let c2c_pair::device::PairEvent::CodeIssued(code) = event {
            control.approve(&code.user_code).await;
        }
    }
    run.await.unwrap()
}
