//! A hostile C2C server: raw HTTP/1.1 on 127.0.0.1 that answers every request from a seeded
//! menu of hostile-but-plausible responses, mixed with normal ones.
//!
//! Raw TCP, because a real HTTP stack refuses to send most of what is on the menu: a 1xx and
//! then nothing, a 204 with a body, a lying `Content-Length`, duplicate headers, garbage status
//! lines. The server serves the endpoints of the app's default profile (device code, token with
//! both grants, revoke, `devices/me`, heartbeat, assets) and the upload URLs it hands out, and
//! approves each code after a few polls.
//!
//! It keeps a [`Journal`]: every answer served (one line each, for failure reports), every token
//! set it issued in an answer that reached the client intact and well-formed (so a test can
//! check that no issued token was lost), and every refresh token presented again after its
//! rotation had been delivered (so a test can check that none is spent twice).
//!
//! What counts as an intact, well-formed token answer ("deliverable"): a 2xx other than 204,
//! delivered completely within the client's request timeout, valid JSON, whose `access_token`
//! is a non-empty string of printable ASCII, space included (RFC 6749's `1*VSCHAR`; when the
//! key is duplicated, any value that is one counts: a client may keep either). Everything
//! else in it may be odd (`token_type`, a missing or garbled `refresh_token`, an `expires_in`
//! of 1e308, a 100 KiB token): a client is expected to clamp and cope, not to throw issued
//! tokens away. Only deliverable answers change the server's state (a consumed device code, a
//! rotated refresh token, a revocation); any other answer is treated as if a middlebox had
//! eaten the request.
//!
//! Each connection carries one request and one answer, then closes: no client can carry a
//! connection from one answer (or one seed) to the next.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

/// The client's request timeout in the default profile.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest request head or body read; anything longer is dropped.
const MAX_REQUEST: usize = 1024 * 1024;
/// Longest wait for a client to send its request.
const READ_DEADLINE: Duration = Duration::from_secs(120);

/// A tiny seeded random source (splitmix64): the same seed gives the same answers.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5eed_c2c0_0bad_f00d)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Which clock the client runs on, which decides how long the menu's waits may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Tokio's paused clock: waits cost no real time, so anything goes (ten-year codes,
    /// stalls past the request timeout, a 1xx followed by silence).
    Paused,
    /// The real clock (the binary, the worker): codes live seconds, polls come every 50 ms at
    /// most, stalls are short, and silence is replaced by a closed connection.
    Real,
}

/// A token set the server issued in a deliverable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// `device_code` or `refresh_token`.
    pub grant: &'static str,
    /// The access token (of a duplicated `access_token`, every value that is one: a client
    /// may keep any).
    pub access: Vec<String>,
    /// The refresh token, if the answer carried a usable one.
    pub refresh: Option<String>,
    /// The answer had a `refresh_token` that is not one (wrong type, control characters).
    pub refresh_unusable: bool,
    /// Which request (0-based, in arrival order) issued it.
    pub request: usize,
}

/// What the server did, for the test's checks and its failure reports.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    /// One line per request: what was asked and what was answered.
    pub served: Vec<String>,
    /// Every token set issued in a deliverable answer, in order.
    pub issued: Vec<Issued>,
    /// Refresh tokens presented again after their rotation had been delivered.
    pub reused_refresh: Vec<String>,
}

impl Journal {
    /// The token set issued last, if any.
    pub fn last_issued(&self) -> Option<&Issued> {
        self.issued.last()
    }

    /// The answers served, one per line, each cut to `width` characters.
    pub fn summary(&self, width: usize) -> String {
        self.served
            .iter()
            .enumerate()
            .map(|(i, line)| format!("    #{i} {}", cut(line, width)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Cuts `text` to `width` characters, escaping anything unprintable.
pub fn cut(text: &str, width: usize) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| {
            let unprintable = c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c);
            let shown: Vec<char> = if unprintable {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect();
    if escaped.chars().count() <= width {
        return escaped;
    }
    let head: String = escaped.chars().take(width).collect();
    format!("{head}…")
}

/// Called on every server event, so a test's clock pacer knows the server is busy.
pub type OnActivity = Arc<dyn Fn() + Send + Sync>;

/// A running hostile server. It stops when dropped.
pub struct HostileServer {
    base: Url,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl HostileServer {
    /// Starts a server on 127.0.0.1 answering from the menu seeded with `seed`.
    pub async fn start(seed: u64, clock: Clock, on_activity: Option<OnActivity>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let base = Url::parse(&format!("http://{addr}/")).expect("base URL");
        let state = Arc::new(Mutex::new(State::new(seed, clock, base.as_str())));
        let on_activity: OnActivity = on_activity.unwrap_or_else(|| Arc::new(|| {}));
        let accept = tokio::spawn({
            let state = state.clone();
            async move {
                while let Ok((socket, _)) = listener.accept().await {
                    on_activity();
                    tokio::spawn(serve(socket, state.clone(), on_activity.clone()));
                }
            }
        });
        Self {
            base,
            state,
            accept,
        }
    }

    /// The API base (`http://127.0.0.1:port/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// What the server did so far.
    pub fn journal(&self) -> Journal {
        lock(&self.state).journal.clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One request as read off the wire.
#[derive(Debug, Default)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn form(&self) -> HashMap<String, String> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&self.body)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
    }
}

/// Reads one request; `None` if the client went away or sent nonsense.
async fn read_request(socket: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if data.len() > MAX_REQUEST {
            return None;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let mut request = Request {
        method: first.next()?.to_owned(),
        path: first.next()?.to_owned(),
        ..Request::default()
    };
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            request
                .headers
                .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let mut body = data[head_end + 4..].to_vec();
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        request.body = read_chunked(socket, body).await?;
        return Some(request);
    }
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return None;
    }
    while body.len() < length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(length);
    request.body = body;
    Some(request)
}

/// Decodes a chunked request body (the client's streamed uploads may use it).
async fn read_chunked(socket: &mut TcpStream, mut data: Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&data[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                return Some(body);
            }
            let needed = line_end + 2 + size + 2;
            if data.len() >= needed {
                body.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
                data.drain(..needed);
                continue;
            }
        }
        if data.len() + body.len() > MAX_REQUEST {
            return None;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
}

/// Serves one connection: one request, one answer, then the connection is closed.
async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>, on_activity: OnActivity) {
    let read = tokio::time::timeout(READ_DEADLINE, read_request(&mut socket)).await;
    on_activity();
    let Ok(Some(request)) = read else {
        return;
    };
    let wire = lock(&state).answer(&request);
    on_activity();
    match wire {
        Wire::Bytes(bytes) => {
            let _ = socket.write_all(&bytes).await;
        }
        Wire::Slow { first, stall, rest } => {
            let _ = socket.write_all(&first).await;
            on_activity();
            tokio::time::sleep(stall).await;
            on_activity();
            let _ = socket.write_all(&rest).await;
        }
        Wire::Close => {}
    }
    on_activity();
    let _ = socket.shutdown().await;
}

/// How an answer goes onto the wire.
#[derive(Debug)]
enum Wire {
    /// All at once, then the connection closes.
    Bytes(Vec<u8>),
    /// `first`, a stall, then `rest` (possibly nothing), then the connection closes.
    Slow {
        first: Vec<u8>,
        stall: Duration,
        rest: Vec<u8>,
    },
    /// No answer at all: the connection just closes.
    Close,
}

/// What an answer means, before the transport has its way with it.
#[derive(Debug)]
struct Semantic {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    label: String,
    /// What happens at the server if the answer arrives intact.
    effects: Vec<Effect>,
    /// The answer is well-formed enough that a client must act on it (for token answers: it
    /// carries a usable token set).
    well_formed: bool,
}

impl Semantic {
    fn json(status: u16, body: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.into().into_bytes(),
            label: label.into(),
            effects: Vec::new(),
            well_formed: true,
        }
    }

    fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// A change of server state that takes effect when an answer is delivered intact.
#[derive(Debug)]
enum Effect {
    Issue(Issued),
    ConsumeCode(String),
    Spend(String),
    Revoke(String),
}

/// The state of a refresh token at the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    Valid,
    /// Its rotation was delivered: presenting it again is a reuse.
    Spent,
    Revoked,
}

/// Everything the server knows.
struct State {
    rng: Rng,
    seed: u64,
    clock: Clock,
    base: String,
    /// Percent of answers that are hostile, fixed per seed.
    rate: u64,
    /// Polls answered `authorization_pending` before the code is approved.
    approve_after: u32,
    polls: u32,
    consumed_codes: HashSet<String>,
    next_id: u32,
    access: HashMap<String, bool>,
    refresh: HashMap<String, RefreshState>,
    journal: Journal,
}

impl State {
    fn new(seed: u64, clock: Clock, base: &str) -> Self {
        let mut rng = Rng::new(seed);
        let rate = *rng.pick(&[10, 25, 40, 60]);
        let approve_after = u32::try_from(rng.below(4)).unwrap_or(0);
        Self {
            rng,
            seed,
            clock,
            base: base.to_owned(),
            rate,
            approve_after,
            polls: 0,
            consumed_codes: HashSet::new(),
            next_id: 0,
            access: HashMap::new(),
            refresh: HashMap::new(),
            journal: Journal::default(),
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:x}-{}", self.seed, self.next_id)
    }

    /// Decides the answer to one request, applies what it does, and journals it.
    fn answer(&mut self, request: &Request) -> Wire {
        let index = self.journal.served.len();
        let form = request.form();
        let asked = match form.get("grant_type") {
            Some(grant) => format!("{} {} [{grant}]", request.method, request.path),
            None => format!("{} {}", request.method, request.path),
        };
        let semantic = match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/v2/auth/device/code") => self.device_code(),
            ("POST", "/v2/auth/token") => match form.get("grant_type").map(String::as_str) {
                Some("urn:ietf:params:oauth:grant-type:device_code") => self.poll(&form, index),
                Some("refresh_token") => self.refresh_grant(&form, index),
                _ => Semantic::json(
                    400,
                    r#"{"error":"unsupported_grant_type"}"#,
                    "400 bad grant",
                ),
            },
            ("POST", "/v2/auth/revoke") => self.revoke(&form),
            ("GET", "/v2/devices/me") => self.device_info(request),
            ("POST", "/v2/devices/heartbeat") => self.heartbeat(request),
            ("POST", "/v2/devices/assets") => self.create_asset(request),
            ("PUT", path) if path.starts_with("/upload/") => self.upload_part(),
            _ => Semantic::json(404, r#"{"message":"Not Found"}"#, "404"),
        };
        let (wire, transport, intact) = self.transport(&semantic);
        let delivered = intact && semantic.well_formed;
        if delivered {
            for effect in semantic.effects {
                self.apply(effect);
            }
        }
        let mark = if delivered { "" } else { " (not delivered)" };
        self.journal
            .served
            .push(format!("{asked} -> {}{transport}{mark}", semantic.label));
        wire
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Issue(issued) => {
                for access in &issued.access {
                    self.access.insert(access.clone(), true);
                }
                if let Some(refresh) = &issued.refresh {
                    self.refresh.insert(refresh.clone(), RefreshState::Valid);
                }
                self.journal.issued.push(issued);
            }
            Effect::ConsumeCode(code) => {
                self.consumed_codes.insert(code);
            }
            Effect::Spend(token) => {
                self.refresh.insert(token, RefreshState::Spent);
            }
            Effect::Revoke(token) => {
                if self.refresh.contains_key(&token) {
                    self.refresh.insert(token.clone(), RefreshState::Revoked);
                }
                if self.access.contains_key(&token) {
                    self.access.insert(token, false);
                }
            }
        }
    }

    /// True when this answer should be hostile.
    fn hostile(&mut self) -> bool {
        let rate = self.rate;
        self.rng.percent(rate)
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile values.

/// A hostile string, as raw JSON (escaped control characters, bidi overrides, huge strings,
/// wrong types, and a raw control byte, which makes the JSON invalid).
fn hostile_text(rng: &mut Rng) -> (String, String) {
    const TEXTS: &[(&str, &str)] = &[
        ("ESC[31m", r#""\u001b[31mRED\u001b[0m""#),
        ("ESC c (reset)", r#""\u001bc""#),
        ("OSC 52 clipboard", r#""\u001b]52;c;aGVsbG8=\u0007""#),
        ("C1 CSI", r#""\u009b31mred""#),
        ("bidi override", r#""\u202eevil\u202c""#),
        ("bidi isolate", r#""\u2066iso\u2069""#),
        ("DEL", r#""del\u007f""#),
        ("newline", r#""line\nbreak""#),
        ("tab", r#""tab\there""#),
        ("CR", r#""over\rwrite""#),
        ("NUL", r#""nul\u0000""#),
        ("BEL", r#""bell\u0007""#),
        ("empty", r#""""#),
        ("blank", r#""   ""#),
        ("number", "204518"),
        ("null", "null"),
        ("array", r#"["a"]"#),
        ("object", r#"{"a":1}"#),
        ("raw ESC byte", "\"raw\u{1b}[2Jesc\""),
    ];
    match rng.below(TEXTS.len() + 3) {
        i if i < TEXTS.len() => {
            let (label, raw) = TEXTS[i];
            (label.to_owned(), raw.to_owned())
        }
        i if i == TEXTS.len() => (
            "10000 chars".to_owned(),
            format!("\"{}\"", "W".repeat(10_000)),
        ),
        i if i == TEXTS.len() + 1 => (
            "10000 chars with ESC".to_owned(),
            format!("\"\\u001b[5m{}\\u001b[0m\"", "x".repeat(10_000)),
        ),
        _ => (
            "10000 escapes".to_owned(),
            format!("\"{}\"", "\\u001b[1m".repeat(1_500)),
        ),
    }
}

/// A hostile number of seconds, as raw JSON. With the real clock, a code's lifetime never
/// gets a value a client could honour (or clamp) as a long wait; an interval may, as a code
/// that expires in seconds ends any wait.
fn hostile_seconds(rng: &mut Rng, clock: Clock, lifetime: bool) -> (String, String) {
    const SMALL: &[&str] = &[
        "-5",
        "0",
        r#""NaN""#,
        "NaN",
        "1e-9",
        "null",
        "true",
        "[]",
        "-0",
        "4.9e-324",
        "-1e308",
        "0.5",
        r#""""#,
        "1e400",
        r#""  2 ""#,
        r#""-3""#,
    ];
    const HUGE: &[&str] = &[
        "1e308",
        r#""9999999999999999999""#,
        "18446744073709551615",
        "315360001",
        r#""inf""#,
        "9007199254740993",
    ];
    const LONG: &[&str] = &["315360000", r#""  1e3 ""#, "86400", "3600.5"];
    let all = clock == Clock::Paused || !lifetime;
    let i = rng.below(SMALL.len() + if all { HUGE.len() + LONG.len() } else { 0 });
    let raw = SMALL
        .iter()
        .chain(HUGE)
        .chain(LONG)
        .nth(i)
        .copied()
        .unwrap_or("0");
    (raw.to_owned(), raw.to_owned())
}

/// A hostile `Retry-After` value (or values, for duplicate headers).
fn hostile_retry_after(rng: &mut Rng) -> Vec<&'static str> {
    const VALUES: &[&[&str]] = &[
        &["18446744073709551615"],
        &["18446744073709551615"],
        &["Fri, 31 Dec 9999 23:59:59 GMT"],
        &["Thu, 01 Jan 1970 00:00:00 GMT"],
        &["-1"],
        &["999999999999"],
        &["1e9"],
        &["  2  "],
        &[""],
        &["soon"],
        &["1"],
        &["0"],
        &["1", "18446744073709551615"],
    ];
    rng.pick(VALUES).to_vec()
}

/// An error body with hostile text in every human field, in one of Frame.io's two shapes.
fn hostile_error_body(rng: &mut Rng, code: Option<&str>) -> (String, String) {
    let (label, text) = hostile_text(rng);
    let code = code.map_or_else(String::new, |c| format!(r#""error":"{c}","#));
    let body = match rng.below(3) {
        0 => format!(r#"{{{code}"error_description":{text}}}"#),
        1 => format!(r#"{{{code}"message":{text},"errors":[{{"detail":{text},"title":{text}}}]}}"#),
        _ => format!(r#"{{{code}"error_description":{text},"message":{text}}}"#),
    };
    (format!("text={label}"), body)
}

// ---------------------------------------------------------------------------------------------
// Bodies as ordered raw fields, so that keys can be duplicated and values can be invalid JSON.

#[derive(Debug, Clone, Default)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn raw(mut self, key: &str, raw: impl Into<String>) -> Self {
        self.set(key, raw.into());
        self
    }

    fn text(self, key: &str, value: &str) -> Self {
        let raw = serde_json::to_string(value).unwrap_or_default();
        self.raw(key, raw)
    }

    fn set(&mut self, key: &str, raw: String) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = raw,
            None => self.0.push((key.to_owned(), raw)),
        }
    }

    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    fn duplicate(&mut self, key: &str, raw: String) {
        self.0.push((key.to_owned(), raw));
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn render(&self) -> String {
        let fields: Vec<String> = self.0.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", fields.join(","))
    }
}

/// Mutates one field of `fields` in a hostile way; the label says how.
fn mutate(rng: &mut Rng, fields: &mut Fields, key: &str, numeric: bool, clock: Clock) -> String {
    // With the real clock a code's lifetime is never missing: a default could be long.
    let keep = clock == Clock::Real && key == "expires_in";
    match rng.below(10) {
        0 if !keep => {
            fields.remove(key);
            format!("{key} missing")
        }
        1 => {
            let (label, raw) = if numeric {
                hostile_seconds(rng, clock, key == "expires_in")
            } else {
                hostile_text(rng)
            };
            fields.duplicate(key, raw);
            format!("{key} twice ({label})")
        }
        _ if numeric => {
            let (label, raw) = hostile_seconds(rng, clock, key == "expires_in");
            fields.set(key, raw);
            format!("{key}={label}")
        }
        _ => {
            let (label, raw) = hostile_text(rng);
            fields.set(key, raw);
            format!("{key}={label}")
        }
    }
}

/// A hostile verification link, as raw JSON.
fn hostile_link(rng: &mut Rng) -> (String, String) {
    const LINKS: &[&str] = &[
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "file:///etc/passwd",
        "data:text/html,<script>alert(1)</script>",
        "http://192.0.2.7/pair",
        "//evil.example/pair",
        "/pair",
        "ftp://evil.example/pair",
        "https://next.frame.io/pair\u{1b}[2J",
        "https://user:pass@next.frame.io/pair",
        "https://next.frame.io/pair\u{202e}lmth.exe",
        " https://next.frame.io/pair",
        "HTTPS://NEXT.FRAME.IO/pair",
        "http://127.0.0.1:1/pair",
        "vbscript:msgbox(1)",
    ];
    if rng.percent(10) {
        let long = format!("https://next.frame.io/{}", "p".repeat(10_000));
        return ("10000-char link".to_owned(), format!("\"{long}\""));
    }
    let link = *rng.pick(LINKS);
    (
        cut(link, 40),
        serde_json::to_string(link).unwrap_or_default(),
    )
}

// ---------------------------------------------------------------------------------------------
// Endpoints.

impl State {
    /// `POST /v2/auth/device/code`.
    fn device_code(&mut self) -> Semantic {
        let device_code = self.id("dc");
        let user_code = *self
            .rng
            .pick(&["204518", "WDJB-MJHT", "012345", "A1B2C3D4"]);
        let (expires_in, interval) = match self.clock {
            Clock::Paused => (
                *self.rng.pick(&["30", "120", "600", "1800"]),
                *self.rng.pick(&["0", "1", "2.5", "5"]),
            ),
            Clock::Real => (
                *self.rng.pick(&["2", "3", "4"]),
                *self.rng.pick(&["0", "0.05", "0.1"]),
            ),
        };
        let link = if self.rng.percent(50) {
            "https://next.frame.io/pair".to_owned()
        } else {
            format!("{}pair", self.base)
        };
        let mut fields = Fields::default()
            .text("device_code", &device_code)
            .text("user_code", user_code)
            .text("verification_uri", &link)
            .text("verification_uri_complete", &format!("{link}/{user_code}"))
            .raw("expires_in", expires_in)
            .raw("interval", interval)
            .text("name", "ACME-Recorder-00417");
        if !self.hostile() {
            return Semantic::json(200, fields.render(), "200 code");
        }
        if self.rng.percent(35) {
            return self.error_answer(&["invalid_client", "invalid_request", "access_denied"]);
        }
        let mut labels = Vec::new();
        for _ in 0..=self.rng.below(3) {
            labels.push(self.mutate_code(&mut fields));
        }
        Semantic::json(
            200,
            fields.render(),
            format!("200 code: {}", labels.join(", ")),
        )
    }

    fn mutate_code(&mut self, fields: &mut Fields) -> String {
        let clock = self.clock;
        match self.rng.below(9) {
            0 => {
                let (label, raw) = hostile_link(&mut self.rng);
                fields.set("verification_uri", raw);
                format!("verification_uri={label}")
            }
            1 => {
                let (label, raw) = hostile_link(&mut self.rng);
                fields.set("verification_uri_complete", raw);
                format!("verification_uri_complete={label}")
            }
            2 => {
                let (label, raw) = hostile_link(&mut self.rng);
                fields.set("verification_url", raw);
                format!("verification_uri and verification_url ({label})")
            }
            3 => {
                fields.remove("verification_uri");
                let (label, raw) = hostile_link(&mut self.rng);
                fields.set("verification_url", raw);
                format!("verification_url only ({label})")
            }
            4 => {
                // A numeric interval with the real clock: never a missing one (5 s).
                if clock == Clock::Real {
                    let (label, raw) = hostile_seconds(&mut self.rng, clock, false);
                    fields.set("interval", raw);
                    return format!("interval={label}");
                }
                mutate(&mut self.rng, fields, "interval", true, clock)
            }
            5 => mutate(&mut self.rng, fields, "expires_in", true, clock),
            6 => mutate(&mut self.rng, fields, "name", false, clock),
            7 => {
                fields.remove("device_code");
                "device_code missing".to_owned()
            }
            _ => mutate(&mut self.rng, fields, "user_code", false, clock),
        }
    }

    /// `POST /v2/auth/token` with the device-code grant: pending a few times, then tokens.
    fn poll(&mut self, form: &HashMap<String, String>, index: usize) -> Semantic {
        let code = form.get("device_code").cloned().unwrap_or_default();
        if self.consumed_codes.contains(&code) {
            return Semantic::json(
                400,
                r#"{"error":"invalid_grant"}"#,
                "400 invalid_grant (used)",
            );
        }
        if self.hostile() && self.rng.percent(60) {
            return self.poll_error();
        }
        self.polls += 1;
        if self.polls <= self.approve_after {
            return Semantic::json(
                400,
                r#"{"error":"authorization_pending"}"#,
                "400 authorization_pending",
            );
        }
        let mut answer = self.token_answer("device_code", index);
        if answer.well_formed {
            answer.effects.push(Effect::ConsumeCode(code));
        }
        answer
    }

    /// A hostile answer to a poll: `slow_down`, refusals, 5xx with odd `Retry-After`s.
    fn poll_error(&mut self) -> Semantic {
        match self.rng.below(8) {
            0 => Semantic::json(400, r#"{"error":"slow_down"}"#, "400 slow_down"),
            1 => {
                let (label, body) =
                    hostile_error_body(&mut self.rng, Some("authorization_pending"));
                Semantic::json(400, body, format!("400 authorization_pending {label}"))
            }
            2 => self.retry_after_answer(503, r#"{"error":"temporarily_unavailable"}"#),
            3 => self.retry_after_answer(429, ""),
            4 => Semantic::json(503, r#"{"error":"invalid_grant"}"#, "503 invalid_grant"),
            5 => {
                let (label, code) = hostile_text(&mut self.rng);
                let body = format!(r#"{{"error":{code}}}"#);
                Semantic::json(400, body, format!("400 error={label}"))
            }
            _ => self.error_answer(&["access_denied", "expired_token", "invalid_grant"]),
        }
    }

    fn retry_after_answer(&mut self, status: u16, body: &str) -> Semantic {
        let values = hostile_retry_after(&mut self.rng);
        let label = format!("{status} Retry-After {}", values.join(" + "));
        let mut semantic = Semantic::json(status, body, label);
        for value in values {
            semantic = semantic.with_header("retry-after", value);
        }
        semantic
    }

    /// An OAuth or plain error answer, with hostile text.
    fn error_answer(&mut self, codes: &[&str]) -> Semantic {
        match self.rng.below(6) {
            0 => Semantic::json(401, r#"{"error":"invalid_client"}"#, "401 invalid_client"),
            1 => {
                let code = *self.rng.pick(codes);
                let (label, body) = hostile_error_body(&mut self.rng, Some(code));
                Semantic::json(400, body, format!("400 {code} {label}"))
            }
            2 => self.retry_after_answer(503, r#"{"error":"temporarily_unavailable"}"#),
            3 => {
                let (label, body) = hostile_error_body(&mut self.rng, None);
                Semantic::json(418, body, format!("418 {label}"))
            }
            4 => {
                let mut semantic = Semantic::json(
                    500,
                    "<html><body><h1>500 \u{1b}[31mInternal\u{1b}[0m</h1></body></html>",
                    "500 HTML with ESC",
                );
                semantic.content_type = "text/html";
                semantic
            }
            _ => {
                let (label, body) = hostile_error_body(&mut self.rng, None);
                Semantic::json(404, body, format!("404 {label}"))
            }
        }
    }

    /// A token answer, normal or mutated; well-formed answers issue their tokens on delivery.
    fn token_answer(&mut self, grant: &'static str, index: usize) -> Semantic {
        let access = self.id("at");
        let refresh = self.id("rt");
        let expires = *self.rng.pick(&["28800", "3600", "0", "315360000"]);
        let mut fields = Fields::default()
            .text("access_token", &access)
            .text("refresh_token", &refresh)
            .raw("expires_in", expires)
            .text("token_type", "bearer")
            .text("scope", "asset_create offline");
        let mut status = 200;
        let mut labels = Vec::new();
        if self.hostile() {
            for _ in 0..=self.rng.below(2) {
                labels.push(self.mutate_tokens(&mut fields));
            }
            if self.rng.percent(10) {
                status = *self.rng.pick(&[201, 203]);
                labels.push(format!("status {status}"));
            }
        }
        let body = fields.render();
        let (well_formed, issued) = well_formed_tokens(&fields, grant, index);
        let label = if labels.is_empty() {
            format!("{status} tokens")
        } else {
            format!("{status} tokens: {}", labels.join(", "))
        };
        let mut semantic = Semantic::json(status, body, label);
        semantic.well_formed = well_formed;
        if let Some(issued) = issued {
            semantic.effects.push(Effect::Issue(issued));
        }
        semantic
    }

    fn mutate_tokens(&mut self, fields: &mut Fields) -> String {
        let clock = self.clock;
        match self.rng.below(12) {
            0 => {
                let kind = *self.rng.pick(&[
                    r#""mac""#,
                    r#""Bearer""#,
                    r#""BEARER""#,
                    r#""DPoP""#,
                    "null",
                    r#""bearer ""#,
                ]);
                fields.set("token_type", kind.to_owned());
                format!("token_type={kind}")
            }
            1 => {
                fields.remove("token_type");
                "token_type missing".to_owned()
            }
            2 => {
                fields.remove("refresh_token");
                "no refresh_token".to_owned()
            }
            3 => {
                let raw = *self.rng.pick(&[
                    "315360000",
                    "1e308",
                    "-1",
                    r#""x""#,
                    "18446744073709551615",
                    "null",
                    "NaN",
                    "0.5",
                ]);
                fields.set("expires_in", raw.to_owned());
                format!("expires_in={raw}")
            }
            4 => {
                let token = self.id("at");
                let (label, raw) = *self.rng.pick(&[
                    ("a newline", "\\n"),
                    ("ESC[31m", "\\u001b[31m"),
                    ("CR LF", "\\r\\n"),
                    ("a space", " "),
                    ("NUL", "\\u0000"),
                    ("a bidi override", "\\u202e"),
                    ("a non-ASCII letter", "é"),
                ]);
                fields.set("access_token", format!("\"{token}{raw}x\""));
                format!("access_token with {label}")
            }
            5 => {
                let token = self.id("at");
                let long = "a".repeat(100 * 1024);
                fields.set("access_token", format!("\"{token}-{long}\""));
                "access_token of 100 KiB".to_owned()
            }
            6 => {
                let token = self.id("at");
                fields.set("access_token", format!("\"{token}{}\"", "b".repeat(3000)));
                "access_token of 3 KiB".to_owned()
            }
            7 => {
                let raw = *self.rng.pick(&[r#""""#, "12345", "null", r#"["at"]"#]);
                fields.set("access_token", raw.to_owned());
                format!("access_token={raw}")
            }
            8 => {
                let token = self.id("at");
                fields.duplicate("access_token", format!("\"{token}\""));
                "access_token twice".to_owned()
            }
            9 => {
                fields.remove("access_token");
                "access_token missing".to_owned()
            }
            10 => mutate(&mut self.rng, fields, "scope", false, clock),
            _ => {
                let (label, raw) = hostile_text(&mut self.rng);
                fields.set("refresh_token", raw);
                format!("refresh_token={label}")
            }
        }
    }

    /// `POST /v2/auth/token` with the refresh grant: rotation, refusals, hostile answers.
    fn refresh_grant(&mut self, form: &HashMap<String, String>, index: usize) -> Semantic {
        let presented = form.get("refresh_token").cloned().unwrap_or_default();
        match self.refresh.get(&presented).copied() {
            Some(RefreshState::Valid) => {}
            Some(RefreshState::Spent) => {
                self.journal
                    .reused_refresh
                    .push(format!("{presented} (request #{index})"));
                return Semantic::json(
                    400,
                    r#"{"error":"invalid_grant"}"#,
                    "400 invalid_grant (reused)",
                );
            }
            Some(RefreshState::Revoked) | None => {
                return Semantic::json(
                    400,
                    r#"{"error":"invalid_grant"}"#,
                    "400 invalid_grant (unknown)",
                );
            }
        }
        if self.hostile() && self.rng.percent(50) {
            return match self.rng.below(5) {
                0 => self.retry_after_answer(503, r#"{"error":"temporarily_unavailable"}"#),
                1 => Semantic::json(503, r#"{"error":"invalid_grant"}"#, "503 invalid_grant"),
                2 => self.retry_after_answer(429, ""),
                _ => self.error_answer(&["invalid_grant", "invalid_request", "expired_token"]),
            };
        }
        let mut answer = self.token_answer("refresh_token", index);
        let rotated = answer.effects.iter().any(|e| {
            matches!(
                e,
                Effect::Issue(Issued {
                    refresh: Some(_),
                    ..
                })
            )
        });
        if rotated {
            answer.effects.push(Effect::Spend(presented));
        }
        answer
    }

    /// `POST /v2/auth/revoke`.
    fn revoke(&mut self, form: &HashMap<String, String>) -> Semantic {
        let token = form.get("token").cloned().unwrap_or_default();
        if self.hostile() && self.rng.percent(50) {
            return match self.rng.below(4) {
                0 => Semantic::json(400, r#"{"error":"invalid_grant"}"#, "400 invalid_grant"),
                1 => self.retry_after_answer(503, r#"{"error":"temporarily_unavailable"}"#),
                2 => Semantic::json(200, r#"{"success":false}"#, "200 success false"),
                _ => self.error_answer(&["invalid_request", "unsupported_token_type"]),
            };
        }
        let body = *self.rng.pick(&[r#"{"success":true}"#, "{}", ""]);
        let mut semantic = Semantic::json(200, body, "200 revoked");
        semantic.effects.push(Effect::Revoke(token));
        semantic
    }

    /// 401 for tokens this server did not issue (or revoked); `None` when the token is good.
    fn unauthorized(&mut self, request: &Request) -> Option<Semantic> {
        let token = request.bearer().unwrap_or_default();
        let valid = self.access.get(token).copied().unwrap_or(false);
        let random = valid && self.hostile() && self.rng.percent(15);
        if valid && !random {
            return None;
        }
        let label = if random {
            "401 (random)"
        } else {
            "401 (unknown token)"
        };
        Some(Semantic::json(
            401,
            r#"{"code":401,"errors":[{"code":401,"detail":"You are not allowed to access that resource","status":401,"title":"Not Authorized"}],"message":"Not Authorized"}"#,
            label,
        ))
    }

    /// `GET /v2/devices/me`.
    fn device_info(&mut self, request: &Request) -> Semantic {
        if let Some(refused) = self.unauthorized(request) {
            return refused;
        }
        let mut fields = Fields::default()
            .text("id", "pd-1")
            .text("name", "ACME-Recorder-00417")
            .raw("project", r#"{"id":"p-1","name":"Demo Project"}"#)
            .text("status", "online");
        if !self.hostile() {
            return Semantic::json(200, fields.render(), "200 me");
        }
        if self.rng.percent(30) {
            return self.error_answer(&["invalid_request"]);
        }
        let clock = self.clock;
        let label = match self.rng.below(5) {
            0 => {
                let (label, text) = hostile_text(&mut self.rng);
                fields.set("project", format!(r#"{{"id":"p-1","name":{text}}}"#));
                format!("project name={label}")
            }
            1 => {
                let (label, text) = hostile_text(&mut self.rng);
                fields.set("project", format!(r#"{{"id":{text},"name":{text}}}"#));
                format!("project id and name={label}")
            }
            2 => {
                let (label, text) = hostile_text(&mut self.rng);
                fields.set("project", text);
                format!("project={label}")
            }
            3 => mutate(&mut self.rng, &mut fields, "status", false, clock),
            _ => mutate(&mut self.rng, &mut fields, "name", false, clock),
        };
        Semantic::json(200, fields.render(), format!("200 me: {label}"))
    }

    /// `POST /v2/devices/heartbeat`.
    fn heartbeat(&mut self, request: &Request) -> Semantic {
        if let Some(refused) = self.unauthorized(request) {
            return refused;
        }
        if !self.hostile() {
            let body = *self.rng.pick(&["{}", ""]);
            return Semantic::json(200, body, "200 beat");
        }
        match self.rng.below(4) {
            0 => {
                let (label, body) = hostile_error_body(&mut self.rng, None);
                Semantic::json(409, body, format!("409 {label}"))
            }
            1 => {
                let mut semantic = Semantic::json(
                    200,
                    "<html>Welcome to Venue Wi-Fi</html>",
                    "200 HTML portal",
                );
                semantic.content_type = "text/html";
                semantic
            }
            _ => self.error_answer(&["invalid_request"]),
        }
    }

    /// `POST /v2/devices/assets`: an asset with upload URLs on this server, or not.
    fn create_asset(&mut self, request: &Request) -> Semantic {
        if let Some(refused) = self.unauthorized(request) {
            return refused;
        }
        let asset = self.id("asset");
        let part = format!("{}upload/{asset}/0", self.base);
        let name = serde_json::from_slice::<serde_json::Value>(&request.body)
            .ok()
            .and_then(|v| v["name"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut fields = Fields::default()
            .text("id", &asset)
            .text("name", &name)
            .raw("upload_urls", serde_json::json!([part]).to_string());
        if !self.hostile() {
            return Semantic::json(200, fields.render(), "200 asset");
        }
        let clock = self.clock;
        let label = match self.rng.below(7) {
            0 => {
                let (label, body) = hostile_error_body(&mut self.rng, None);
                let body = body.replacen('{', r#"{"code":409,"title":"Channel Paused","#, 1);
                return Semantic::json(409, body, format!("409 paused {label}"));
            }
            1 => {
                let url = *self.rng.pick(&[
                    "javascript:alert(1)",
                    "file:///etc/passwd",
                    "http://192.0.2.7/upload",
                    "not a url",
                    "ftp://127.0.0.1/upload",
                ]);
                fields.set("upload_urls", serde_json::json!([url]).to_string());
                format!("upload_urls=[{url}]")
            }
            2 => {
                let https = format!("https://127.0.0.1:{}/upload/x", self.port());
                fields.set("upload_urls", serde_json::json!([https]).to_string());
                "upload URL https on a plain-HTTP loopback port".to_owned()
            }
            3 => {
                let count = *self.rng.pick(&[0usize, 2, 10_000]);
                let urls: Vec<String> = (0..count).map(|i| format!("{part}{i}")).collect();
                fields.set("upload_urls", serde_json::json!(urls).to_string());
                format!("{count} upload_urls")
            }
            4 => mutate(&mut self.rng, &mut fields, "id", false, clock),
            5 => mutate(&mut self.rng, &mut fields, "name", false, clock),
            _ => return self.error_answer(&["invalid_request"]),
        };
        Semantic::json(200, fields.render(), format!("200 asset: {label}"))
    }

    fn port(&self) -> u16 {
        Url::parse(&self.base)
            .ok()
            .and_then(|u| u.port())
            .unwrap_or(0)
    }

    /// `PUT` of an upload part.
    fn upload_part(&mut self) -> Semantic {
        if !self.hostile() {
            return Semantic::json(200, "", "200 part");
        }
        match self.rng.below(3) {
            0 => {
                let mut semantic = Semantic::json(
                    403,
                    "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>\u{1b}[31mRequest has expired\u{1b}[0m</Message></Error>",
                    "403 S3 XML with ESC",
                );
                semantic.content_type = "application/xml";
                semantic
            }
            1 => Semantic::json(500, "", "500 empty"),
            _ => self.error_answer(&["invalid_request"]),
        }
    }
}

/// Whether a token answer carries a usable token set (see the module docs), and the set it
/// issues.
fn well_formed_tokens(
    fields: &Fields,
    grant: &'static str,
    index: usize,
) -> (bool, Option<Issued>) {
    if serde_json::from_str::<serde_json::Value>(&fields.render()).is_err() {
        return (false, None);
    }
    // RFC 6749 appendix A: a token is 1*VSCHAR, printable ASCII with the space.
    let printable =
        |text: &str| !text.is_empty() && text.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let token = |raw: &str| match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::String(text)) if printable(&text) => Some(text),
        _ => None,
    };
    // Of a duplicated key, any value that is a token counts: parsers keep the first or the
    // last, and a client that picks the valid one has done nothing wrong.
    let access: Vec<String> = fields.all("access_token").filter_map(token).collect();
    if access.is_empty() {
        return (false, None);
    }
    // A refresh token that is not one does not spoil the access token beside it.
    let raw_refresh = fields.all("refresh_token").last();
    let refresh = raw_refresh.and_then(token);
    let refresh_unusable = refresh.is_none() && raw_refresh.is_some_and(|raw| raw != "null");
    let issued = Issued {
        grant,
        access,
        refresh,
        refresh_unusable,
        request: index,
    };
    (true, Some(issued))
}

// ---------------------------------------------------------------------------------------------
// Transport.

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// A full HTTP/1.1 answer with `Content-Length` and `Connection: close`.
fn http(status: u16, content_type: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl State {
    /// Puts `semantic` on the wire, normally or with a hostile transport. Returns the wire,
    /// a label for the journal and whether the answer arrives intact within the client's
    /// request timeout.
    fn transport(&mut self, s: &Semantic) -> (Wire, String, bool) {
        let plain = http(s.status, s.content_type, &s.headers, &s.body);
        if !(self.hostile() && self.rng.percent(50)) {
            return (Wire::Bytes(plain), String::new(), true);
        }
        match self.rng.below(20) {
            choice @ 0..=3 => self.intact(choice, s, &plain),
            choice @ 10..=17 => self.malformed(choice, s),
            choice => self.substituted(choice, s, &plain),
        }
    }

    /// Odd but valid HTTP: the answer arrives intact.
    fn intact(&self, choice: usize, s: &Semantic, plain: &[u8]) -> (Wire, String, bool) {
        let paused = self.clock == Clock::Paused;
        match choice {
            0 => {
                let lie = http(s.status, "text/html; charset=utf-8", &s.headers, &s.body);
                (Wire::Bytes(lie), " [content-type lie]".to_owned(), true)
            }
            1 => {
                let mut bytes = format!(
                    "HTTP/1.0 {} {}\r\ncontent-type: {}\r\n\r\n",
                    s.status,
                    reason(s.status),
                    s.content_type
                )
                .into_bytes();
                bytes.extend_from_slice(&s.body);
                (
                    Wire::Bytes(bytes),
                    " [HTTP/1.0, body until close]".to_owned(),
                    true,
                )
            }
            2 => {
                let mut bytes =
                    b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n".to_vec();
                bytes.extend_from_slice(plain);
                (Wire::Bytes(bytes), " [after 103]".to_owned(), true)
            }
            _ => {
                let stall = if paused {
                    Duration::from_secs(2)
                } else {
                    Duration::from_millis(150)
                };
                let split = plain.len().min(20);
                let wire = Wire::Slow {
                    first: plain[..split].to_vec(),
                    stall,
                    rest: plain[split..].to_vec(),
                };
                (wire, format!(" [slow: {stall:?} stall]"), true)
            }
        }
    }

    /// The answer replaced, cut short or held back: it does not arrive.
    fn substituted(&mut self, choice: usize, s: &Semantic, plain: &[u8]) -> (Wire, String, bool) {
        let paused = self.clock == Clock::Paused;
        match choice {
            4 if paused => {
                let split = plain.len().min(30);
                let wire = Wire::Slow {
                    first: plain[..split].to_vec(),
                    stall: CLIENT_TIMEOUT * 2 + Duration::from_secs(5),
                    rest: plain[split..].to_vec(),
                };
                (wire, " [stalls past the request timeout]".to_owned(), false)
            }
            5 => {
                let cut = plain.len().saturating_sub(s.body.len() / 2 + 1);
                let mut bytes = http(s.status, s.content_type, &s.headers, &s.body);
                bytes.truncate(cut.max(12));
                (Wire::Bytes(bytes), " [truncated]".to_owned(), false)
            }
            6 if paused => {
                let wire = Wire::Slow {
                    first: b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
                    stall: Duration::from_secs(600),
                    rest: Vec::new(),
                };
                (wire, " [100 Continue, then silence]".to_owned(), false)
            }
            4 | 6 => (
                Wire::Bytes(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
                " [100 Continue, then close]".to_owned(),
                false,
            ),
            7 => {
                let bytes = http(204, s.content_type, &s.headers, &s.body);
                (
                    Wire::Bytes(bytes),
                    " [as 204 with a body]".to_owned(),
                    false,
                )
            }
            8 => {
                let status = *self.rng.pick(&[301, 302, 307]);
                let headers = vec![("location".to_owned(), "http://127.0.0.2:1/steal".to_owned())];
                let bytes = http(status, s.content_type, &headers, &s.body);
                (
                    Wire::Bytes(bytes),
                    format!(" [as {status} to another host]"),
                    false,
                )
            }
            9 => {
                let (label, body) = hostile_error_body(&mut self.rng, None);
                let bytes = http(418, "application/json", &[], body.as_bytes());
                (Wire::Bytes(bytes), format!(" [as 418 {label}]"), false)
            }
            18 => {
                let status = *self.rng.pick(&[500, 502, 503]);
                let mut headers = Vec::new();
                for value in hostile_retry_after(&mut self.rng) {
                    headers.push(("retry-after".to_owned(), value.to_owned()));
                }
                let label = format!(
                    " [as {status} with Retry-After {:?}]",
                    headers.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>()
                );
                let bytes = http(status, "text/html", &headers, b"<html>upstream down</html>");
                (Wire::Bytes(bytes), label, false)
            }
            _ => {
                let bytes = http(
                    200,
                    "text/html",
                    &[],
                    b"<html><body>Accept the terms of this network</body></html>",
                );
                (
                    Wire::Bytes(bytes),
                    " [captive portal 200 HTML]".to_owned(),
                    false,
                )
            }
        }
    }

    /// Broken HTTP framing: nothing a client can read as the answer.
    fn malformed(&mut self, choice: usize, s: &Semantic) -> (Wire, String, bool) {
        match choice {
            10 => {
                let padding = "p".repeat(100 * 1024);
                let body = format!(r#"{{"padding":"{padding}"}}"#);
                let bytes = http(s.status, s.content_type, &s.headers, body.as_bytes());
                (Wire::Bytes(bytes), " [oversized 100 KiB]".to_owned(), false)
            }
            11 => {
                let mut bytes = format!(
                    "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                    s.status,
                    reason(s.status),
                    s.content_type
                )
                .into_bytes();
                for _ in 0..(100 * 1024 / 4096) {
                    bytes.extend_from_slice(format!("1000\r\n{}\r\n", "c".repeat(4096)).as_bytes());
                }
                bytes.extend_from_slice(b"0\r\n\r\n");
                (Wire::Bytes(bytes), " [oversized chunked]".to_owned(), false)
            }
            12 => {
                let garbage = *self.rng.pick(&[
                    "HTTP/1.1 2000 OK\r\n\r\n",
                    "HTTP/1.1 abc\r\n\r\n",
                    "SSH-2.0-OpenSSH_9.6\r\n",
                    "\u{1b}[31mHTTP/1.1 200 OK\r\n\r\n",
                    "HTTP/1.1 200 \u{1b}[31mOK\r\ncontent-length: 2\r\n\r\n{}",
                    "HTTP/1.1 200 OK\r\nx-note: a\u{1b}]52;c;eA==\u{7}b\r\ncontent-length: 2\r\n\r\n{}",
                ]);
                (
                    Wire::Bytes(garbage.as_bytes().to_vec()),
                    format!(" [garbage: {}]", cut(garbage, 30)),
                    false,
                )
            }
            13 => (Wire::Close, " [closed without answer]".to_owned(), false),
            14 => {
                let mut headers = s.headers.clone();
                headers.push(("content-length".to_owned(), (s.body.len() + 7).to_string()));
                let bytes = http(s.status, s.content_type, &headers, &s.body);
                (
                    Wire::Bytes(bytes),
                    " [two different Content-Lengths]".to_owned(),
                    false,
                )
            }
            15 => {
                let mut bytes = format!(
                    "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    s.status,
                    reason(s.status),
                    s.content_type,
                    s.body.len() + 100
                )
                .into_bytes();
                bytes.extend_from_slice(&s.body);
                (
                    Wire::Bytes(bytes),
                    " [Content-Length 100 too large]".to_owned(),
                    false,
                )
            }
            16 => {
                let bytes = format!(
                    "HTTP/1.1 {} {}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\nnope\r\n",
                    s.status,
                    reason(s.status)
                );
                (
                    Wire::Bytes(bytes.into_bytes()),
                    " [bad chunk size]".to_owned(),
                    false,
                )
            }
            _ => {
                let mut headers = s.headers.clone();
                for i in 0..150 {
                    headers.push((format!("x-h{i}"), "v".to_owned()));
                }
                let bytes = http(s.status, s.content_type, &headers, &s.body);
                (Wire::Bytes(bytes), " [150 headers]".to_owned(), false)
            }
        }
    }
}
