//! The hostile-server suite (issue 13, item 7): the app's real client, poller, pairing,
//! refresh, heartbeat, project lookup, upload and unpair — directly, through the window's
//! worker, and through the binary — against a server that answers from a seeded menu of
//! hostile-but-plausible responses (`tests/common/hostile.rs`).
//!
//! For every seed it asserts: nothing panics; nothing runs past the deadline the app promises
//! (three code requests and their waits, then the code's lifetime as shown, plus request
//! timeouts); every error message and every string the app would show (user code, links,
//! project and device names, asset ids, the stored token `token` prints, the device list
//! `status` prints, the binary's whole output) is free of control characters; a verification
//! link is https, or http to loopback; every exit code is a documented one; no token set the
//! server issued is lost; no refresh token is presented again after its rotation.
//!
//! The library scenarios run on tokio's paused clock, so a ten-year code or a stall past the
//! request timeout costs no real time; a pacer task keeps the clock from jumping while a
//! keychain call runs on the store's thread (auto-advance cannot see other threads). The
//! worker and the binary run on the real clock against the menu's real-clock variant (codes
//! that live seconds, short stalls).
//!
//! - `cargo test --test hostile` runs [`DEFAULT_SEEDS`] library seeds and
//!   [`DEFAULT_WORKER_SEEDS`] worker seeds; the binary's [`DEFAULT_CLI_SEEDS`] seeds need a
//!   Secret Service and are ignored there (`.ci/with-keyring cargo test --test hostile --
//!   --include-ignored`, as CI does, runs them).
//! - `C2C_PAIR_HOSTILE_SEEDS=N` (or `A..B`), `C2C_PAIR_HOSTILE_WORKER_SEEDS=N` and
//!   `C2C_PAIR_HOSTILE_CLI_SEEDS=N` run more.
//! - `C2C_PAIR_HOSTILE_SEED=K` runs seed K alone in each test and, with `-- --nocapture`,
//!   prints every answer served.
//!
//! A failing run prints a summary line, the failing seeds counted by kind (with the first seed
//! of each kind), and the first ten failing seeds with the answers they were served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use bytes::Bytes;
use c2c_pair::backend::Backend;
use c2c_pair::c2c::C2cClient;
use c2c_pair::c2c::profile::Profile;
use c2c_pair::device::upload::{FileState, QueueControls, QueueStatus, RetryPolicy};
use c2c_pair::device::{
    self, Context, DeviceId, Job, LifecycleError, Media, PairError, PairEvent, PairOutcome,
    UploadOptions,
};
use c2c_pair::keychain::{Keychain, MemoryStore, token_account};
use c2c_pair::registry::{DeviceRecord, Registry};
use hostile::{Clock, HostileServer, Journal, OnActivity, cut};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

/// Seeds `cargo test` runs: 20–35 s on two cores, with the other tests of this file beside it
/// (the summary line says how long it took).
const DEFAULT_SEEDS: u64 = 3000;
/// Seeds of the binary's test.
const DEFAULT_CLI_SEEDS: u64 = 20;
/// How many seeds to run.
const SEEDS_ENV: &str = "C2C_PAIR_HOSTILE_SEEDS";
/// Run only this seed, verbosely.
const SEED_ENV: &str = "C2C_PAIR_HOSTILE_SEED";
/// How many seeds the binary's test runs.
const CLI_SEEDS_ENV: &str = "C2C_PAIR_HOSTILE_CLI_SEEDS";
/// The client secret the scenarios send (the hostile server accepts any).
const SECRET: &str = "hostile-test-secret";
/// Seed threads are named with this prefix: their panics are captured, not printed.
const SEED_THREAD: &str = "hostile-seeds";
/// A seed that takes this long in real time is reported as stuck.
const STUCK_AFTER: Duration = Duration::from_secs(60);
/// Keychain calls never time out here: with the paused clock a timeout would fire while the
/// in-memory store's thread is merely slow to be scheduled. Far longer than any scenario.
const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// Allowance on top of every promised deadline (scheduling, keychain, device list).
const SLACK: Duration = Duration::from_secs(2);
/// The waits between a failed code request and the next: two, each at most the 5 s of
/// `Retry-After` the app honours there.
const CODE_RETRY_WAITS: Duration = Duration::from_secs(2 * 5);
/// Show this many failing seeds in full.
const SHOWN: usize = 10;

// ---------------------------------------------------------------------------------------------
// Printable text.

/// True for characters no text shown to a user may carry raw: C0 controls, DEL, C1 controls,
/// and the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069).
fn forbidden(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// The first forbidden character of `text` and its position; `\n` and `\t` pass when
/// `layout` is set (terminal output).
fn first_forbidden(text: &str, layout: bool) -> Option<(usize, char)> {
    text.chars()
        .enumerate()
        .find(|&(_, c)| forbidden(c) && !(layout && (c == '\n' || c == '\t')))
}

/// Panics if `text` holds a character no message may carry raw (see [`forbidden`]).
fn assert_printable(text: &str) {
    if let Some((at, c)) = first_forbidden(text, false) {
        panic!("{c:?} at character {at} of {:?}", cut(text, 200));
    }
}

/// A verification link is safe to show and to put in a QR code: https, or http to loopback.
fn safe_link(link: &str) -> bool {
    Url::parse(link).is_ok_and(|url| {
        url.scheme() == "https"
            || (url.scheme() == "http" && c2c_pair::c2c::profile::is_loopback(&url))
    })
}

/// The exit codes the CLI documents for failures (8: a sign-in page answered for the server,
/// which a hostile server can play too).
const DOCUMENTED_FAILURES: [u8; 6] = [2, 3, 4, 5, 6, 8];

// ---------------------------------------------------------------------------------------------
// Failures.

/// One broken promise.
#[derive(Debug, Clone)]
struct Failure {
    /// What kind of promise: "panic", "hang", "control character", ...
    kind: &'static str,
    /// Where: the step and the text it is about.
    place: String,
    /// The specifics, for the report.
    detail: String,
}

/// What one seed did.
#[derive(Debug)]
struct SeedResult {
    /// The seed.
    seed: u64,
    /// Every promise it saw broken.
    failures: Vec<Failure>,
    /// What its server answered.
    journal: Journal,
    /// Paused-clock time the seed took.
    simulated: Duration,
}

/// A seed's failures, shared with the tasks that check it (and kept when one panics).
type Failures = Arc<Mutex<Vec<Failure>>>;

/// Records a failure.
fn push(
    failures: &Failures,
    kind: &'static str,
    place: impl Into<String>,
    detail: impl Into<String>,
) {
    failures.lock().unwrap().push(Failure {
        kind,
        place: place.into(),
        detail: detail.into(),
    });
}

/// Records a failure if `text` is not printable.
fn check_printable(failures: &Failures, place: &str, text: &str) {
    if let Some((at, c)) = first_forbidden(text, false) {
        push(
            failures,
            "control character",
            place,
            format!("{c:?} at character {at} of \"{}\"", cut(text, 160)),
        );
    }
}

/// Every string in a JSON value.
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Checks what a pairing event would show: printable text, safe links.
fn check_pair_event(failures: &Failures, event: &PairEvent) {
    match event {
        PairEvent::CodeIssued(code) => {
            check_printable(failures, "pair: user code", &code.user_code);
            let links = [
                ("verification_uri", code.verification_uri.as_deref()),
                (
                    "verification_uri_complete",
                    code.verification_uri_complete.as_deref(),
                ),
                ("QR target", code.qr_target()),
            ];
            for (what, link) in links {
                let Some(link) = link else { continue };
                check_printable(failures, &format!("pair: {what}"), link);
                if !safe_link(link) {
                    push(
                        failures,
                        "unsafe link",
                        format!("pair: {what}"),
                        cut(link, 120),
                    );
                }
            }
        }
        PairEvent::Polled { status, .. } => {
            check_printable(failures, "pair: poll status", &status.to_string());
        }
        _ => {}
    }
}

/// What earlier checks of a seed already reported.
#[derive(Debug, Default)]
struct Seen {
    /// Refresh-token reuses.
    reuses: usize,
    /// The answer whose lost tokens were reported (once, not after every later step).
    lost: Option<usize>,
}

/// What the keychain holds after a step.
struct Kept<'a> {
    /// The stored access token, if any.
    stored: Option<&'a str>,
    /// An access token the step's outcome holds unsaved, if any.
    held: Option<&'a str>,
    /// The step unpaired the device: the keychain must hold nothing.
    forgotten: bool,
}

/// No token lost: the keychain holds the last set the server issued (or the outcome holds it
/// unsaved); after an unpairing, it holds nothing. Also: no refresh token reused, and the
/// stored token is printable (`c2c-pair token` prints it).
fn check_kept(
    failures: &Failures,
    step: &str,
    journal: &Journal,
    seen: &mut Seen,
    kept: &Kept<'_>,
) {
    for reuse in journal.reused_refresh.iter().skip(seen.reuses) {
        push(failures, "refresh token reused", step, reuse.clone());
    }
    seen.reuses = journal.reused_refresh.len();
    if let Some(stored) = kept.stored {
        check_printable(
            failures,
            &format!("{step}: stored access token (printed by `token`)"),
            stored,
        );
    }
    if kept.forgotten {
        if kept.stored.is_some() {
            push(
                failures,
                "unexpected",
                step,
                "unpaired, but the keychain still holds tokens",
            );
        }
        return;
    }
    let Some(issued) = journal.last_issued() else {
        return;
    };
    let is_issued =
        |token: Option<&str>| token.is_some_and(|t| issued.access.iter().any(|a| a == t));
    if is_issued(kept.stored) || is_issued(kept.held) || seen.lost == Some(issued.request) {
        return;
    }
    seen.lost = Some(issued.request);
    let answer = journal
        .served
        .get(issued.request)
        .map_or("?", String::as_str);
    let holds = kept
        .stored
        .map_or_else(|| "nothing".to_owned(), |s| cut(s, 40));
    let foreign = kept.stored.is_some_and(|token| {
        !journal
            .issued
            .iter()
            .any(|i| i.access.iter().any(|a| a == token))
    });
    let place = if foreign {
        format!("{step} (replaced by a token from an answer that was not deliverable)")
    } else if issued.refresh_unusable {
        format!("{step} (the answer's refresh_token was unusable, its access token fine)")
    } else {
        step.to_owned()
    };
    let detail = format!(
        "answer #{} ({} grant) issued {} ({}); the keychain holds {holds}",
        issued.request,
        issued.grant,
        cut(&issued.access.join(" or "), 80),
        cut(answer, 200)
    );
    push(failures, "token lost", place, detail);
}

// ---------------------------------------------------------------------------------------------
// The paused clock's pacer.

/// Tells the pacer that something happened (a scenario step, a server event).
#[derive(Default)]
struct Pace {
    poked: AtomicBool,
    notify: Notify,
}

impl Pace {
    fn poke(&self) {
        self.poked.store(true, Ordering::Relaxed);
        self.notify.notify_one();
    }
}

/// The pacer's step right after anything happened.
const PACE_BASE: Duration = Duration::from_millis(1);
/// Its longest step.
const PACE_MAX: Duration = Duration::from_secs(365 * 24 * 3600);
/// Quiet steps before it starts doubling.
const PACE_QUIET: u32 = 4;

/// A timer that keeps tokio's auto-advance from jumping far while work it cannot see is under
/// way. Auto-advance jumps the paused clock to the next timer whenever the runtime is idle;
/// a keychain call runs on the store's own thread, so the runtime looks idle and the clock
/// would jump to the call's timeout. The pacer's timer is always the next one: a millisecond
/// after anything happened, then doubling while nothing happens and no keychain call runs,
/// so long waits (a ten-year code) still take a few dozen steps.
async fn pacer(pace: Arc<Pace>) {
    let mut period = PACE_BASE;
    let mut quiet = 0u32;
    loop {
        tokio::select! {
            () = pace.notify.notified() => {}
            () = tokio::time::sleep(period) => {}
        }
        if pace.poked.swap(false, Ordering::Relaxed) {
            period = PACE_BASE;
            quiet = 0;
            continue;
        }
        quiet = quiet.saturating_add(1);
        if quiet >= PACE_QUIET && !unseen_work_running() {
            period = period.saturating_mul(2).min(PACE_MAX);
        }
    }
}

/// True while a keychain store thread is running (not sleeping on its queue), or a thread
/// this one spawned has not named itself yet (it still carries this thread's name). Right
/// after a call is queued the store's thread is already marked runnable, so this cannot miss
/// a call.
#[cfg(target_os = "linux")]
fn unseen_work_running() -> bool {
    let read = |path: &std::path::Path, file: &str| {
        std::fs::read_to_string(path.join(file)).unwrap_or_default()
    };
    let me = std::fs::read_link("/proc/thread-self").unwrap_or_default();
    let my_name = read(std::path::Path::new("/proc/thread-self"), "comm");
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return true;
    };
    tasks.flatten().any(|task| {
        let path = task.path();
        let name = read(&path, "comm");
        if name == my_name {
            return me.file_name() != path.file_name();
        }
        if !name.starts_with("keychain") {
            return false;
        }
        // The state follows the parenthesised name: "123 (keychain) S ...".
        let stat = read(&path, "stat");
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        !state.starts_with('S') && !state.starts_with('I')
    })
}

/// Without /proc, assume a keychain call may be running: the pacer then never grows, which is
/// never wrong but makes seeds with long waits (hours of paused-clock time) crawl until they
/// are reported stuck. The suite is meant for Linux, where CI runs it.
#[cfg(not(target_os = "linux"))]
fn unseen_work_running() -> bool {
    true
}

// ---------------------------------------------------------------------------------------------
// Panics.

thread_local! {
    /// The last panic on this seed thread, with where it happened.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Captures panics on seed threads instead of printing them (a thousand panicking seeds would
/// bury the report); any other thread's panics print as usual.
fn capture_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with(SEED_THREAD));
            if !ours {
                previous(info);
                return;
            }
            let message = info.payload_as_str().unwrap_or("a non-text panic");
            let at = info
                .location()
                .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
            PANIC.with(|p| *p.borrow_mut() = Some(format!("{message}{at}")));
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// One seed's scenario.

/// A scenario: pair, refresh, heartbeat, project, upload, unpair, checking after each step.
struct Scenario {
    ctx: Context,
    server: Arc<HostileServer>,
    device: DeviceId,
    account: String,
    /// Longest wait for one request, as the app promises it (its timeout plus a second).
    request: Duration,
    failures: Failures,
    /// What was reported already.
    seen: Seen,
}

impl Scenario {
    fn new(seed: u64, ctx: Context, server: Arc<HostileServer>, failures: Failures) -> Self {
        let device = DeviceId::parse(&format!("HOSTILE-{seed}")).unwrap();
        let profile = ctx.backend.client.profile();
        let account = token_account(device.as_str(), &profile.keychain_host());
        let request = profile.request_timeout + Duration::from_secs(1);
        Self {
            ctx,
            server,
            device,
            account,
            request,
            failures,
            seen: Seen::default(),
        }
    }

    fn fail(&self, kind: &'static str, place: impl Into<String>, detail: impl Into<String>) {
        push(&self.failures, kind, place, detail);
    }

    fn printable(&self, place: &str, text: &str) {
        check_printable(&self.failures, place, text);
    }

    /// The scenario. Each step's deadline is what the app promises for it, counted in
    /// requests of at most `request` each: a refresh is the token request and the project
    /// lookup (2); a heartbeat or a project lookup may refresh first (2), call (1), refresh
    /// again after a 401 (2) and call again (1): 6; an upload retries (see
    /// [`Scenario::upload`]); an unpairing revokes two tokens (2). Pairing's deadline is [`Scenario::pair_deadline`].
    async fn run(mut self) {
        let Some(_) = self.pair().await else {
            return;
        };
        let ctx = self.ctx.clone();
        let r = self.request;
        let Some(record) = self.record() else { return };
        let Some(_) = self
            .step("refresh", r * 2, device::refresh(&ctx, &record))
            .await
        else {
            return;
        };
        let record = self.record().unwrap_or(record);
        let Some(_) = self
            .step("heartbeat", r * 6, device::heartbeat(&ctx, &record))
            .await
        else {
            return;
        };
        let record = self.record().unwrap_or(record);
        let project = device::connected_project(&ctx, &record);
        let Some(project) = self.step("connected_project", r * 6, project).await else {
            return;
        };
        if let Ok(Some(name)) = project {
            self.printable("connected_project: project name", &name);
        }
        let record = self.record().unwrap_or(record);
        if !self.upload(&record).await {
            return;
        }
        let record = self.record().unwrap_or(record);
        self.unpair(&record).await;
    }

    /// The device's record, checking every string `status` would print.
    fn record(&self) -> Option<DeviceRecord> {
        let loaded = match self.ctx.registry.load() {
            Ok(loaded) => loaded,
            Err(error) => {
                self.fail("unexpected", "device list", error.to_string());
                return None;
            }
        };
        let record = loaded
            .devices
            .into_iter()
            .find(|d| d.device_id == self.device.as_str())?;
        let mut texts = Vec::new();
        strings(
            &serde_json::to_value(&record).unwrap_or_default(),
            &mut texts,
        );
        for text in texts {
            self.printable("device list (printed by status)", &text);
        }
        Some(record)
    }

    /// The deadline pairing promises: three code requests and their waits before a code is
    /// shown; after that, the code's lifetime plus the poll in flight and the project lookup.
    fn pair_deadline(&self, started: Instant, events: &[(Instant, PairEvent)]) -> Instant {
        let code = events.iter().rev().find_map(|(at, event)| match event {
            PairEvent::CodeIssued(code) => Some((*at, code.expires_in)),
            _ => None,
        });
        let far = started + Duration::from_secs(1000 * 365 * 24 * 3600);
        match code {
            Some((at, expires_in)) => at
                .checked_add(expires_in.saturating_add(self.request * 2 + SLACK))
                .unwrap_or(far),
            None => {
                started + self.request * 3 + CODE_RETRY_WAITS + Duration::from_millis(1500) + SLACK
            }
        }
    }

    async fn pair(&mut self) -> Option<()> {
        let events: Arc<Mutex<Vec<(Instant, PairEvent)>>> = Arc::default();
        let sink = events.clone();
        let cancel = CancellationToken::new();
        let ctx = self.ctx.clone();
        let device = self.device.clone();
        let pairing = device::pair(
            &ctx,
            &device,
            Some("Hostile cam"),
            None,
            &cancel,
            move |event| {
                sink.lock().unwrap().push((Instant::now(), event));
            },
        );
        tokio::pin!(pairing);
        let started = Instant::now();
        let result = loop {
            let deadline = self.pair_deadline(started, &events.lock().unwrap());
            tokio::select! {
                result = &mut pairing => break Some(result),
                () = tokio::time::sleep_until(deadline) => {
                    if self.pair_deadline(started, &events.lock().unwrap()) <= Instant::now() {
                        break None;
                    }
                }
            }
        };
        let events = std::mem::take(&mut *events.lock().unwrap());
        self.check_pair_events(&events);
        let Some(result) = result else {
            let waited = started.elapsed();
            self.fail(
                "hang",
                "pair",
                format!("still running after {waited:?}, past its promised deadline"),
            );
            return None;
        };
        let held = match &result {
            Err(PairError::SaveFailed { unsaved, .. }) => {
                Some(unsaved.tokens.access_token.expose_secret().to_owned())
            }
            _ => None,
        };
        match result {
            Ok(PairOutcome::Paired(paired)) => {
                for (what, text) in [
                    ("project", &paired.project),
                    ("remote name", &paired.remote_name),
                    ("project error", &paired.project_error),
                    ("registry error", &paired.registry_error),
                ] {
                    if let Some(text) = text {
                        self.printable(&format!("pair: {what}"), text);
                    }
                }
                self.check_tokens("pair", held.as_deref(), false).await;
                Some(())
            }
            Ok(PairOutcome::Cancelled) => {
                self.fail("unexpected", "pair", "cancelled, though nobody cancelled");
                None
            }
            Err(error) => {
                self.check_error("pair", &error.to_string(), error.kind().exit_code());
                self.check_tokens("pair", held.as_deref(), false).await;
                None
            }
        }
    }

    fn check_pair_events(&self, events: &[(Instant, PairEvent)]) {
        for (_, event) in events {
            check_pair_event(&self.failures, event);
        }
    }

    fn check_error(&self, step: &str, message: &str, exit_code: u8) {
        self.printable(&format!("{step}: error message"), message);
        if !DOCUMENTED_FAILURES.contains(&exit_code) {
            self.fail(
                "undocumented exit code",
                step,
                format!("{exit_code}: {}", cut(message, 160)),
            );
        }
    }

    /// No token lost: the keychain holds the last set the server issued (or the outcome holds
    /// it unsaved); after an unpairing, it holds nothing. Also: no refresh token reused.
    async fn check_tokens(&mut self, step: &str, held: Option<&str>, forgotten: bool) {
        let stored = match self.ctx.keychain.load_tokens(&self.account).await {
            Ok(set) => set.map(|set| set.access_token.expose_secret().to_owned()),
            Err(error) => {
                self.fail("unexpected", step, format!("keychain: {error}"));
                return;
            }
        };
        let kept = Kept {
            stored: stored.as_deref(),
            held,
            forgotten,
        };
        check_kept(
            &self.failures,
            step,
            &self.server.journal(),
            &mut self.seen,
            &kept,
        );
    }

    /// Runs one lifecycle step within `budget`; `None` if it hung.
    async fn step<T>(
        &mut self,
        step: &'static str,
        budget: Duration,
        run: impl Future<Output = Result<T, LifecycleError>>,
    ) -> Option<Result<T, LifecycleError>> {
        let budget = budget + SLACK;
        let Ok(result) = tokio::time::timeout(budget, run).await else {
            self.fail(
                "hang",
                step,
                format!("still running after {budget:?}, past its promised deadline"),
            );
            return None;
        };
        let held = match &result {
            Err(error) => {
                self.check_error(step, &error.to_string(), error.kind().exit_code());
                match error {
                    LifecycleError::SaveFailed { unsaved, .. } => {
                        Some(unsaved.tokens.access_token.expose_secret().to_owned())
                    }
                    _ => None,
                }
            }
            Ok(_) => None,
        };
        self.check_tokens(step, held.as_deref(), false).await;
        Some(result)
    }

    /// A tiny upload; false if it hung. Its deadline: creating the asset takes at most the
    /// policy's tries of a device call (6 requests each, as a heartbeat) and its one part the
    /// same tries of a stall or a request each, with the longest wait between tries. A device
    /// the server calls paused (409 Channel Paused) is waited on without end, by design, and
    /// so is a server that cannot be reached once the tries are spent (the queue waits for
    /// the network): the scenario cancels the queue once its status says paused or offline.
    async fn upload(&mut self, record: &DeviceRecord) -> bool {
        let ctx = self.ctx.clone();
        let media = Media {
            name: "hostile-clip.mp4".to_owned(),
            bytes: Bytes::from_static(&[0x42; 1024]),
            recorded_at: c2c_pair::clock::unix_seconds(std::time::SystemTime::now()),
        };
        let options = UploadOptions {
            retry: RetryPolicy {
                attempts: 3,
                ..RetryPolicy::default()
            },
            ..UploadOptions::default()
        };
        let tries = options.retry.attempts;
        let per_try = self.request * 6 + options.stall.max(self.request);
        let budget = per_try * tries + options.retry.longest_wait() * (tries - 1) * 2;
        let controls = QueueControls::new();
        let (status, mut watcher) = tokio::sync::watch::channel(QueueStatus::default());
        let canceller = controls.clone();
        tokio::spawn(async move {
            let paused = watcher
                .wait_for(|s| {
                    s.files.iter().any(|f| {
                        matches!(
                            f.state,
                            FileState::Paused { .. } | FileState::Offline { .. }
                        )
                    })
                })
                .await
                .is_ok();
            if paused {
                canceller.cancel();
            }
        });
        let record = record.clone();
        let uploading = async move {
            let jobs = vec![Job::memory(media, None)];
            let outcome =
                device::run_queue(&ctx, &record, jobs, &options, &controls, &status).await;
            match outcome.stopped {
                Some(error) => Err(error),
                None => Ok(outcome.status),
            }
        };
        let Some(result) = self.step("upload", budget, uploading).await else {
            return false;
        };
        if let Ok(status) = result {
            for file in &status.files {
                self.printable("upload: asset name", &file.name);
                if let Some(id) = &file.asset_id {
                    self.printable("upload: asset id", id);
                }
                if let FileState::Failed { reason, .. } = &file.state {
                    self.printable("upload: failure", reason);
                }
                for notice in &file.notices {
                    self.printable("upload: notice", notice);
                }
            }
        }
        true
    }

    async fn unpair(&mut self, record: &DeviceRecord) {
        let ctx = self.ctx.clone();
        let budget = self.request * 2 + SLACK;
        let Ok(result) = tokio::time::timeout(budget, device::unpair(&ctx, record)).await else {
            self.fail(
                "hang",
                "unpair",
                format!("still running after {budget:?}, past its promised deadline"),
            );
            return;
        };
        match result {
            Ok(done) => {
                if let Some(note) = &done.note {
                    self.printable("unpair: note", note);
                }
                self.check_tokens("unpair", None, true).await;
                if self.record().is_some() {
                    self.fail(
                        "unexpected",
                        "unpair",
                        "unpaired, but the device list still has it",
                    );
                }
            }
            Err(error) => {
                self.check_error("unpair", &error.to_string(), error.kind().exit_code());
                self.check_tokens("unpair", None, false).await;
                let _ = self.record();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running seeds.

/// A scratch directory for one seed's device list: on tmpfs when there is one, so that the
/// list's fsyncs cost nothing.
fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

/// Runs one seed on its own runtime, whose clock is paused once the keychain's thread runs.
fn run_seed(seed: u64, client: &C2cClient) -> SeedResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let failures: Failures = Arc::default();
    let (journal, simulated) = runtime.block_on({
        let failures = failures.clone();
        async move {
            // The store's thread names itself only once it runs: until then the pacer could
            // not tell that a call is waiting for it. One call on the real clock gets it
            // running (and named); then the clock is paused.
            let keychain = Keychain::new(Arc::new(MemoryStore::default()), KEYCHAIN_TIMEOUT);
            keychain.get("warm-up").await.unwrap();
            tokio::time::pause();
            let pace = Arc::new(Pace::default());
            let pacing = tokio::spawn(pacer(pace.clone()));
            let poke: OnActivity = {
                let pace = pace.clone();
                Arc::new(move || pace.poke())
            };
            let server = Arc::new(HostileServer::start(seed, Clock::Paused, Some(poke)).await);
            let dir = scratch_dir();
            // The thread's client, pointed at this seed's server: building one loads the OS
            // trust store (20 ms, more than a whole seed). It shares no connection across
            // seeds: the server closes every one after its answer.
            let backend = Backend {
                client: client.with_api_base(server.base_url().clone()),
                client_secret: SecretString::from(SECRET),
                warning: None,
            };
            let ctx = Context {
                backend: Arc::new(backend),
                keychain,
                registry: Registry::in_dir(dir.path()),
            };
            let started = Instant::now();
            let mut scenario =
                Box::pin(Scenario::new(seed, ctx, server.clone(), failures.clone()).run());
            // Every poll of the scenario pokes the pacer: whatever it starts (a request, a
            // keychain call), the clock moves by a millisecond at most until it is seen.
            let driven = std::future::poll_fn(move |cx| {
                pace.poke();
                scenario.as_mut().poll(cx)
            });
            if let Err(error) = tokio::spawn(driven).await {
                let message = PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| error.to_string());
                push(
                    &failures,
                    "panic",
                    message,
                    "the seed's task panicked (message and place above)",
                );
            }
            pacing.abort();
            (server.journal(), started.elapsed())
        }
    });
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    SeedResult {
        seed,
        failures,
        journal,
        simulated,
    }
}

/// The seeds to run: one from `C2C_PAIR_HOSTILE_SEED` (verbosely), else
/// `C2C_PAIR_HOSTILE_SEEDS`: a count from 0 (`5000`) or a range (`3000..4000`).
fn seeds() -> (Vec<u64>, bool) {
    let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned());
    if let Some(seed) = var(SEED_ENV).and_then(|v| v.parse::<u64>().ok()) {
        return (vec![seed], true);
    }
    let wanted = var(SEEDS_ENV).unwrap_or_default();
    let range = match wanted.split_once("..") {
        Some((from, to)) => from.parse().unwrap_or(0)..to.parse().unwrap_or(0),
        None => 0..wanted.parse().unwrap_or(DEFAULT_SEEDS),
    };
    (range.collect(), false)
}

/// The seed a thread is running, and since when (real time).
type Running = Option<(u64, std::time::Instant)>;

/// Runs `seeds` on `threads` threads; a seed stuck in real time is reported, not waited for.
fn run_all(seeds: &[u64], threads: usize) -> Vec<SeedResult> {
    capture_panics();
    let (done, results) = std::sync::mpsc::channel();
    let running: Arc<Mutex<Vec<Running>>> = Arc::new(Mutex::new(vec![None; threads]));
    for thread in 0..threads {
        let mine: Vec<u64> = seeds
            .iter()
            .copied()
            .skip(thread)
            .step_by(threads)
            .collect();
        let done = done.clone();
        let running = running.clone();
        std::thread::Builder::new()
            .name(format!("{SEED_THREAD}-{thread}"))
            .spawn(move || {
                let placeholder = Url::parse("http://127.0.0.1:9/").unwrap();
                let client = C2cClient::new(Profile::for_api_base(placeholder)).unwrap();
                for seed in mine {
                    running.lock().unwrap()[thread] = Some((seed, std::time::Instant::now()));
                    let _ = done.send((thread, Some(run_seed(seed, &client))));
                }
                running.lock().unwrap()[thread] = None;
                let _ = done.send((thread, None));
            })
            .unwrap();
    }
    drop(done);
    let mut out = Vec::new();
    // Per thread: still running, finished, or abandoned (stuck; its later seeds never run).
    let mut finished = vec![false; threads];
    let mut abandoned = vec![false; threads];
    while (0..threads).any(|t| !finished[t] && !abandoned[t]) {
        match results.recv_timeout(Duration::from_secs(1)) {
            Ok((thread, _)) if abandoned[thread] => {}
            Ok((_, Some(result))) => out.push(result),
            Ok((thread, None)) => finished[thread] = true,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        let running = running.lock().unwrap();
        for (thread, slot) in running.iter().enumerate() {
            if let Some((seed, since)) = slot
                && since.elapsed() > STUCK_AFTER
                && !abandoned[thread]
            {
                abandoned[thread] = true;
                out.push(SeedResult {
                    seed: *seed,
                    failures: vec![Failure {
                        kind: "stuck",
                        place: "real time".to_owned(),
                        detail: format!(
                            "still running after {STUCK_AFTER:?} of real time; abandoned, with \
                             the later seeds of its thread"
                        ),
                    }],
                    journal: Journal::default(),
                    simulated: Duration::ZERO,
                });
            }
        }
    }
    out.sort_by_key(|r| r.seed);
    out
}

/// Writes the report's first line to stderr past the test harness's capture, so that every
/// run shows how many seeds ran and how long they took (the full report shows on failure).
fn summary_line(what: &str, report: &str) {
    use std::io::Write as _;
    let first = report.lines().next().unwrap_or_default();
    let _ = writeln!(std::io::stderr().lock(), "{what}: {first}");
}

/// The report: a summary line, counts by kind, and the first failing seeds in full.
fn report(results: &[SeedResult], wall: Duration, verbose: bool, test: &str) -> String {
    let failed: Vec<&SeedResult> = results.iter().filter(|r| !r.failures.is_empty()).collect();
    let simulated: Duration = results.iter().map(|r| r.simulated).sum();
    let issued = results
        .iter()
        .filter(|r| !r.journal.issued.is_empty())
        .count();
    let mut text = format!(
        "hostile: {} seeds in {:.1} s ({:.1} ms per seed; {:.0} days of paused-clock time; tokens issued in {issued}), {} failed\n",
        results.len(),
        wall.as_secs_f64(),
        wall.as_secs_f64() * 1000.0 / results.len().max(1) as f64,
        simulated.as_secs_f64() / 86400.0,
        failed.len()
    );
    let mut by_kind: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for result in &failed {
        let mut seen = std::collections::BTreeSet::new();
        for failure in &result.failures {
            let key = format!("{}: {}", failure.kind, cut(&failure.place, 90));
            if seen.insert(key.clone()) {
                by_kind.entry(key).or_insert((0, result.seed)).0 += 1;
            }
        }
    }
    if !by_kind.is_empty() {
        text.push_str("seeds failing, by kind (count, first seed):\n");
        let mut rows: Vec<_> = by_kind.into_iter().collect();
        rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
        for (key, (count, seed)) in rows {
            text.push_str(&format!("  {count:>6}  {key}  (seed {seed})\n"));
        }
        text.push_str(&format!(
            "first failing seeds (reproduce one with {SEED_ENV}=K cargo test --test hostile {test} -- --nocapture):\n"
        ));
    }
    let shown = if verbose { results.len() } else { SHOWN };
    for result in results
        .iter()
        .filter(|r| verbose || !r.failures.is_empty())
        .take(shown)
    {
        text.push_str(&format!("  seed {}:\n", result.seed));
        for failure in &result.failures {
            text.push_str(&format!(
                "    {}: {}: {}\n",
                failure.kind,
                cut(&failure.place, 100),
                cut(&failure.detail, 300)
            ));
        }
        let width = if verbose { 400 } else { 160 };
        text.push_str(&format!(
            "   answers served:\n{}\n",
            result.journal.summary(width)
        ));
    }
    text
}

#[test]
fn the_app_survives_a_hostile_server_seed_after_seed() {
    c2c_pair::c2c::install_crypto_provider();
    let (seeds, verbose) = seeds();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    let started = std::time::Instant::now();
    let results = run_all(&seeds, threads);
    let report = report(
        &results,
        started.elapsed(),
        verbose,
        "the_app_survives_a_hostile_server_seed_after_seed",
    );
    summary_line("the library", &report);
    eprintln!("{report}");
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    assert_eq!(
        failed, 0,
        "{failed} seeds broke a promise; see the report above"
    );
}

#[test]
fn printable_means_no_controls_no_c1_and_no_bidi_overrides() {
    for ok in [
        "204518",
        "Demo Project",
        "Caméra 2 — 東京",
        "https://next.frame.io/pair",
    ] {
        assert_printable(ok);
    }
    for bad in [
        "a\u{1b}[31m",
        "\u{1b}c",
        "\u{9b}31m",
        "\u{202e}x",
        "\u{2066}x",
        "x\u{7f}",
        "a\nb",
        "a\tb",
        "\u{0}",
    ] {
        assert!(
            first_forbidden(bad, false).is_some(),
            "{bad:?} must be refused"
        );
    }
    assert!(
        first_forbidden("a\nb\tc", true).is_none(),
        "terminal layout is allowed"
    );
    assert!(
        first_forbidden("a\rb", true).is_some(),
        "a carriage return is not layout"
    );
    assert!(safe_link("https://next.frame.io/pair/1"), "https is safe");
    assert!(
        safe_link("http://127.0.0.1:8080/pair"),
        "loopback http is safe"
    );
    for bad in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://192.0.2.7/pair",
        "/pair",
    ] {
        assert!(!safe_link(bad), "{bad} must be refused");
    }
}

// ---------------------------------------------------------------------------------------------
// The binary and the window's worker, on the real clock.

/// Seeds of the worker's test.
const DEFAULT_WORKER_SEEDS: u64 = 12;
/// How many seeds the worker's test runs.
const WORKER_SEEDS_ENV: &str = "C2C_PAIR_HOSTILE_WORKER_SEEDS";
/// Seeds run at once by the real-clock tests.
const AT_ONCE: usize = 4;

/// The seed from `C2C_PAIR_HOSTILE_SEED` alone, else `count` seeds from `env` (or `default`),
/// from 0.
fn real_clock_seeds(env: &str, default: u64) -> Vec<u64> {
    let number = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse().ok());
    if let Some(seed) = number(SEED_ENV) {
        return vec![seed];
    }
    (0..number(env).unwrap_or(default)).collect()
}

/// Runs `one` for every seed, [`AT_ONCE`] at a time, and fails with the report if any broke
/// a promise.
async fn run_real_clock<F, Fut>(what: &str, test: &str, seeds: Vec<u64>, one: F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = SeedResult> + Send + 'static,
{
    let started = std::time::Instant::now();
    let seeds_len = seeds.len();
    let mut results = Vec::new();
    for chunk in seeds.chunks(AT_ONCE) {
        let mut running = tokio::task::JoinSet::new();
        for &seed in chunk {
            running.spawn(one(seed));
        }
        while let Some(joined) = running.join_next().await {
            results.push(joined.expect("a seed task panicked outside the app"));
        }
    }
    results.sort_by_key(|r| r.seed);
    let verbose = seeds_len == 1;
    let report = report(&results, started.elapsed(), verbose, test);
    summary_line(what, &report);
    eprintln!("{what}: {report}");
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    assert_eq!(
        failed, 0,
        "{what}: {failed} seeds broke a promise; see the report above"
    );
}

/// What one run of the binary did.
struct Ran {
    /// The exit code (`None`: killed by a signal, or by us at the bound).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// It ran past its bound and was killed.
    timed_out: bool,
}

/// Runs the binary with `args` against `base` (a clean environment, the test's keychain
/// service, a throwaway config directory, the test's client secret), killing it at `bound`.
async fn run_binary(
    kc: &common::TestKeychain,
    config_dir: &std::path::Path,
    base: &str,
    args: &[&str],
    bound: Duration,
) -> Ran {
    let mut full = vec!["--api-base", base];
    full.extend_from_slice(args);
    let mut command = common::c2c_pair_in(&kc.service, config_dir, &full);
    command.env("C2C_PAIR_CLIENT_SECRET", SECRET);
    let child = command.spawn().expect("the binary starts");
    match tokio::time::timeout(bound, child.wait_with_output()).await {
        Ok(Ok(output)) => Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            timed_out: false,
        },
        Ok(Err(error)) => Ran {
            code: None,
            stdout: String::new(),
            stderr: format!("could not wait for the binary: {error}"),
            timed_out: false,
        },
        Err(_) => Ran {
            code: None,
            stdout: String::new(),
            stderr: String::new(),
            timed_out: true,
        },
    }
}

/// Checks one run of the binary: in time, a documented exit code, printable output.
fn check_ran(failures: &Failures, name: &str, ran: &Ran, bound: Duration) {
    if ran.timed_out {
        push(
            failures,
            "hang",
            name,
            format!("still running after {bound:?}; killed"),
        );
        return;
    }
    let tail = cut(ran.stderr.lines().last().unwrap_or_default(), 200);
    match ran.code {
        Some(0) => {}
        Some(code) if u8::try_from(code).is_ok_and(|c| DOCUMENTED_FAILURES.contains(&c)) => {}
        Some(101) => push(
            failures,
            "panic",
            format!("{name}: exit 101"),
            cut(&ran.stderr, 400),
        ),
        Some(code) => push(
            failures,
            "undocumented exit code",
            name,
            format!("{code}: {tail}"),
        ),
        None => push(
            failures,
            "crash",
            name,
            format!("killed by a signal: {tail}"),
        ),
    }
    for (stream, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
        if let Some((at, c)) = first_forbidden(text, true) {
            let around: String = text.chars().skip(at.saturating_sub(40)).take(100).collect();
            push(
                failures,
                "control character",
                format!("{name}: {stream}"),
                format!("{c:?} at character {at}, in \"{}\"", cut(&around, 100)),
            );
        }
    }
}

/// One seed of the binary's test: pair, status, token, refresh, upload, unpair.
async fn cli_seed(kc: Arc<common::TestKeychain>, seed: u64) -> SeedResult {
    let server = HostileServer::start(seed, Clock::Real, None).await;
    let base = server.base_url().to_string();
    let port = server.base_url().port().unwrap_or_default();
    let config = tempfile::tempdir().unwrap();
    let device = format!("HOSTILE-CLI-{seed}");
    let account = kc.track(&token_account(&device, &format!("127.0.0.1:{port}")));
    let failures: Failures = Arc::default();
    let json = if seed.is_multiple_of(2) { "--json" } else { "" };
    let long = Duration::from_secs(150);
    let short = Duration::from_secs(100);
    // An upload link the server's own host cannot serve (https on its plain-HTTP port) is
    // tried for the default policy's ~90 s; then the API is asked, at most a minute apart,
    // whether the network is up (these answers may be hostile too) before the file fails.
    let upload = Duration::from_secs(240);
    let steps: [(&str, Vec<&str>, Duration); 6] = [
        ("pair", vec!["pair", "--device", &device, json], long),
        ("status", vec!["status", json], short),
        ("token", vec!["token", "--device", &device], short),
        ("refresh", vec!["refresh", "--device", &device, json], short),
        ("upload", vec!["upload", "--device", &device, json], upload),
        ("unpair", vec!["unpair", "--device", &device, json], short),
    ];
    let mut seen = Seen::default();
    for (name, args, bound) in steps {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        let ran = run_binary(&kc, config.path(), &base, &args, bound).await;
        check_ran(&failures, name, &ran, bound);
        let stored = kc.read(&account).and_then(|secret| {
            c2c_pair::keychain::TokenSet::from_secret(&secret)
                .ok()
                .map(|set| set.access_token.expose_secret().to_owned())
        });
        let kept = Kept {
            stored: stored.as_deref(),
            held: None,
            forgotten: name == "unpair" && ran.code == Some(0),
        };
        check_kept(&failures, name, &server.journal(), &mut seen, &kept);
    }
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    SeedResult {
        seed,
        failures,
        journal: server.journal(),
        simulated: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test hostile -- --include-ignored"]
async fn the_binary_survives_a_hostile_server() {
    let kc = common::os_keychain();
    let kc = Arc::new(kc);
    let seeds = real_clock_seeds(CLI_SEEDS_ENV, DEFAULT_CLI_SEEDS);
    run_real_clock(
        "the binary",
        "the_binary_survives_a_hostile_server",
        seeds,
        move |seed| cli_seed(kc.clone(), seed),
    )
    .await;
}

/// Checks every string a worker event would put on screen.
fn check_worker_event(failures: &Failures, event: &c2c_pair::worker::Event) {
    use c2c_pair::worker::{Event, RunEnd, Status};
    match event {
        Event::StartFailed(text) => {
            check_printable(failures, "worker: start failure", text);
            push(
                failures,
                "unexpected",
                "worker",
                format!("could not start: {}", cut(text, 200)),
            );
        }
        Event::Progress { event, .. } => check_pair_event(failures, event),
        Event::Finished {
            end: RunEnd::Paired(paired),
            ..
        } => {
            let texts = [
                &paired.project,
                &paired.remote_name,
                &paired.project_error,
                &paired.registry_error,
            ];
            for text in texts.into_iter().flatten() {
                check_printable(failures, "worker: paired summary", text);
            }
        }
        Event::Finished {
            end: RunEnd::Failed { kind, message, .. },
            ..
        } => {
            check_printable(failures, "worker: pairing failure", message);
            if !DOCUMENTED_FAILURES.contains(&kind.exit_code()) {
                push(
                    failures,
                    "undocumented exit code",
                    "worker: pairing",
                    cut(message, 160),
                );
            }
        }
        Event::Notice(text) => check_printable(failures, "worker: notice", text),
        Event::Fleet(views) => {
            for view in views {
                let mut texts = Vec::new();
                strings(
                    &serde_json::to_value(&view.record).unwrap_or_default(),
                    &mut texts,
                );
                texts.extend(view.warning.clone());
                if let Status::Offline { reason }
                | Status::NeedsRepairing { reason }
                | Status::UnpairPending { reason } = &view.status
                {
                    texts.push(reason.clone());
                }
                for text in texts {
                    check_printable(failures, "worker: device list", &text);
                }
            }
        }
        _ => {}
    }
}

/// Drains the worker's events into the checks until `done` says so or `bound` passes.
async fn drain_until(
    worker: &Mutex<c2c_pair::worker::Worker>,
    failures: &Failures,
    bound: Duration,
    mut done: impl FnMut(&c2c_pair::worker::Event) -> bool,
) -> Option<c2c_pair::worker::Event> {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        loop {
            let Some(event) = worker.lock().unwrap().try_recv() else {
                break;
            };
            check_worker_event(failures, &event);
            if done(&event) {
                return Some(event);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// The access token the keychain holds for `account` once the last set the server issued is
/// in, or after `patience`: heartbeats every 500 ms refresh in the background, and one may be
/// between the server's answer and its save when a step ends. A token truly lost never
/// lands, and is then reported.
async fn settled(
    worker: &Mutex<c2c_pair::worker::Worker>,
    failures: &Failures,
    keychain: &Keychain,
    account: &str,
    server: &HostileServer,
    patience: Duration,
) -> Option<String> {
    let deadline = Instant::now() + patience;
    loop {
        let stored = keychain
            .load_tokens(account)
            .await
            .ok()
            .flatten()
            .map(|set| set.access_token.expose_secret().to_owned());
        let journal = server.journal();
        let landed = journal.last_issued().is_none_or(|issued| {
            stored
                .as_deref()
                .is_some_and(|t| issued.access.iter().any(|a| a == t))
        });
        if landed || Instant::now() >= deadline {
            return stored;
        }
        drain_until(worker, failures, Duration::from_millis(50), |_| false).await;
    }
}

/// One seed of the worker's test: pair, then refresh, upload and unpair as the window asks.
/// Refresh, upload the test clip, unpair: what the window asks of a paired device.
fn device_steps(
    key: &c2c_pair::registry::DeviceKey,
) -> [(&'static str, Option<c2c_pair::worker::Command>); 3] {
    use c2c_pair::worker::{Command, DeviceOp};
    let on = |op| {
        Some(Command::Device {
            key: key.clone(),
            op,
        })
    };
    let upload = DeviceOp::Upload {
        files: Vec::new(),
        resume: false,
    };
    [
        ("refresh", on(DeviceOp::Refresh)),
        ("upload", on(upload)),
        ("unpair", on(DeviceOp::Unpair)),
    ]
}

/// Run 1: pair `device` as "Hostile cam", firmware 2.16.4.
fn pair_command(device: &DeviceId) -> c2c_pair::worker::Command {
    c2c_pair::worker::Command::Pair {
        run: 1,
        device_id: device.clone(),
        name: Some("Hostile cam".to_owned()),
        firmware: Some("2.16.4".to_owned()),
        presenter: false,
    }
}

async fn worker_seed(seed: u64) -> SeedResult {
    use c2c_pair::worker::{Command, Event, RunEnd, UploadSetup, Worker, WorkerSetup};
    let server = HostileServer::start(seed, Clock::Real, None).await;
    let dir = scratch_dir();
    let keychain = Keychain::new(Arc::new(MemoryStore::default()), Duration::from_secs(5));
    let setup = WorkerSetup {
        choice: common::window::service_choice(server.base_url(), SECRET),
        keychain: keychain.clone(),
        registry: Registry::in_dir(dir.path()),
        heartbeat_every: Duration::from_millis(500),
        uploads: UploadSetup::default(),
    };
    let failures: Failures = Arc::default();
    // In a mutex: the handle is not `Sync`, and the seed's future must be `Send`.
    let worker = Mutex::new(Worker::spawn(setup, Arc::new(|| {})).expect("the worker starts"));
    let device = DeviceId::parse(&format!("HOSTILE-WORKER-{seed}")).unwrap();
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap_or_default());
    let account = token_account(device.as_str(), &host);
    worker.lock().unwrap().send(pair_command(&device));
    let finished = drain_until(&worker, &failures, Duration::from_secs(150), |e| {
        matches!(e, Event::Finished { run: 1, .. })
    })
    .await;
    let mut seen = Seen::default();
    let mut steps: Vec<(&str, Option<Command>)> = vec![("pair", None)];
    match finished {
        None => push(
            &failures,
            "hang",
            "worker: pair",
            "no end of the pairing run after 150 s",
        ),
        Some(Event::Finished {
            end: RunEnd::Paired(_),
            ..
        }) => {
            let key = c2c_pair::registry::DeviceKey {
                id: device.clone(),
                host: host.clone(),
            };
            steps.extend(device_steps(&key));
        }
        Some(_) => {}
    }
    for (name, command) in steps {
        if let Some(command) = command {
            worker.lock().unwrap().send(command);
            // An upload link the server's own host cannot serve is tried for ~90 s, then the
            // API is asked (its answers may be hostile too) before the file fails: as in
            // the binary's test, the upload gets 240 s.
            let bound = Duration::from_secs(if name == "upload" { 240 } else { 150 });
            let notice =
                drain_until(&worker, &failures, bound, |e| matches!(e, Event::Notice(_))).await;
            if notice.is_none() {
                push(
                    &failures,
                    "hang",
                    format!("worker: {name}"),
                    format!("no notice after {bound:?}"),
                );
                break;
            }
        }
        let unpaired = name == "unpair"
            && Registry::in_dir(dir.path())
                .load()
                .is_ok_and(|l| l.devices.iter().all(|d| d.device_id != device.as_str()));
        // After an unpairing nothing is to land: the keychain must hold nothing at once.
        let patience = if unpaired {
            Duration::ZERO
        } else {
            Duration::from_secs(10)
        };
        let stored = settled(&worker, &failures, &keychain, &account, &server, patience).await;
        let kept = Kept {
            stored: stored.as_deref(),
            held: None,
            forgotten: unpaired,
        };
        check_kept(
            &failures,
            &format!("worker: {name}"),
            &server.journal(),
            &mut seen,
            &kept,
        );
    }
    drop(worker);
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    SeedResult {
        seed,
        failures,
        journal: server.journal(),
        simulated: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_worker_survives_a_hostile_server() {
    c2c_pair::c2c::install_crypto_provider();
    let seeds = real_clock_seeds(WORKER_SEEDS_ENV, DEFAULT_WORKER_SEEDS);
    run_real_clock(
        "the worker",
        "the_window_worker_survives_a_hostile_server",
        seeds,
        worker_seed,
    )
    .await;
}
