//! Whole-process figures (release build, X display): cold start to the first frame showing a
//! code, the CLI's time to its `code` event, and CPU and memory while a code waits — each
//! against a bare eframe window (this bench binary re-run with `--bare-window`) measured in
//! the same run.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use c2c_pair::demo::{DemoConfig, DemoServer};
use c2c_pair::device::PairOutcome;

use super::pairing::common::{self, TestKeychain};
use super::{Section, cpu_seconds, median, rss_mib};

/// The argument that turns the bench binary into the bare window.
pub const BARE_WINDOW_ARG: &str = "--bare-window";
/// The argument that turns it into the bare window covering a 1920×1080 display.
pub const BARE_FULL_HD_ARG: &str = "--bare-window-1080p";
use super::bare::{self, FIRST_FRAME};
/// What the app logs when the first QR is on screen.
const QR_SHOWN: &str = "verification QR presented";

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Cold starts of each kind.
    pub starts: usize,
    /// How long CPU is counted while idle.
    pub idle: Duration,
    /// Paired devices in the list for the second idle figure.
    pub fleet: usize,
    /// Paired devices in the list for the third (what each device costs).
    pub large_fleet: usize,
}

/// The full run.
pub const FULL: Size = Size {
    starts: 10,
    idle: Duration::from_secs(60),
    fleet: 20,
    large_fleet: 100,
};

/// The smoke run.
pub const SMOKE: Size = Size {
    starts: 1,
    idle: Duration::from_secs(2),
    fleet: 2,
    large_fleet: 4,
};

/// Whether an X display and `curl` are there; without them the whole-process figures are
/// skipped, unless `C2C_PAIR_REQUIRE_DISPLAY=1` (CI), where that is a failure.
pub fn display_ready() -> bool {
    let display = std::env::var("DISPLAY").is_ok_and(|d| !d.is_empty());
    let curl = Command::new("curl").arg("--version").output().is_ok();
    assert!(
        display && curl || std::env::var("C2C_PAIR_REQUIRE_DISPLAY").as_deref() != Ok("1"),
        "C2C_PAIR_REQUIRE_DISPLAY=1 but there is no X display or no curl"
    );
    if !(display && curl) {
        eprintln!("skipped: whole-process figures need an X display and curl");
    }
    display && curl
}

/// Runs the bare eframe window the start-up and idle figures compare with.
pub fn bare_window() -> ExitCode {
    bare::run()
}

/// Runs the bare window over a whole 1920×1080 display, the presenter's floor.
pub fn bare_window_full_hd() -> ExitCode {
    bare::run_sized([1920.0, 1080.0])
}

/// A child process whose stderr lines arrive on a channel; killed on drop.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    fn start(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        let (tx, lines) = mpsc::channel();
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stderr.take().unwrap()),
            Box::new(child.stdout.take().unwrap()),
        ];
        for stream in streams {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Self { child, lines }
    }

    /// Waits for a line containing `text`.
    fn until(&mut self, text: &str) -> String {
        let mut seen = Vec::new();
        loop {
            let Ok(line) = self.lines.recv_timeout(Duration::from_secs(60)) else {
                let status = self.child.try_wait();
                panic!(
                    "no line with {text:?} ({status:?}); the output:\n{}",
                    seen.join("\n")
                );
            };
            if line.contains(text) {
                return line;
            }
            seen.push(line);
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app, with the bench's keychain service and config directory.
fn app(kc: &TestKeychain, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_c2c-pair"));
    command
        .args(args)
        .env("C2C_PAIR_KEYCHAIN_SERVICE", &kc.service)
        .env("C2C_PAIR_CONFIG_DIR", kc.config_dir.path())
        .env("C2C_PAIR_LOG_DIR", kc.config_dir.path().join("logs"))
        .env("RUST_LOG", "warn,c2c_pair=info")
        .env_remove("C2C_PAIR_CLIENT_SECRET")
        .env_remove("C2C_PAIR_API_BASE");
    command
}

fn bare() -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg(BARE_WINDOW_ARG);
    command
}

/// Milliseconds from exec to the line containing `text`, over `runs` runs.
fn starts(runs: usize, command: impl Fn(usize) -> Command, text: &str) -> Vec<f64> {
    (0..runs)
        .map(|run| {
            let started = Instant::now();
            let mut running = Running::start(command(run));
            running.until(text);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// Milliseconds of one `curl` round trip to a running demo server (median of `runs`).
fn curl_round_trip(runs: usize) -> f64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(DemoServer::start(DemoConfig::default()))
        .unwrap();
    let url = server.base_url().to_string();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new("curl")
                .args(["-s", "-o", "/dev/null", &url])
                .status()
                .expect("curl");
            assert!(status.success(), "curl {url}: {status}");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    median(&mut times)
}

/// Cold start of the window and of the CLI's `pair --json`.
pub fn cold_start(size: Size, section: &mut Section) {
    let kc = common::os_keychain();
    let mut bare_ms = starts(size.starts, |_| bare(), FIRST_FRAME);
    let curl_ms = curl_round_trip(size.starts.max(3));
    let floor = median(&mut bare_ms) + curl_ms;
    let mut gui = starts(
        size.starts,
        |run| {
            kc.track(&format!("COLD-{run}@demo"));
            app(&kc, &["--device", &format!("COLD-{run}")])
        },
        QR_SHOWN,
    );
    let gui_median = median(&mut gui);
    section.figure(
        "window: exec → first frame showing a code, median",
        gui_median,
        Some(floor),
        "ms",
        "≤ 400 ms and ≤ 3 × floor",
        gui_median <= 400.0 && gui_median <= 3.0 * floor,
    );
    let mut cli = starts(
        size.starts,
        |run| app(&kc, &["pair", "--device", &format!("CLI-{run}"), "--json"]),
        "\"event\":\"code\"",
    );
    let cli_median = median(&mut cli);
    section.figure(
        "CLI: exec → `pair --json` code event, median",
        cli_median,
        Some(curl_ms),
        "ms",
        "≤ 100 ms",
        cli_median <= 100.0,
    );
    section.notes.push(format!(
        "Cold start: {} runs each, release build, demo mode on the embedded server, Xvfb. The \
         window's time ends at the log line written when the first QR is drawn; the floor is a \
         bare eframe 0.37 window (glow, same size) to its first frame, {:.0} ms median, plus \
         one `curl` round trip to the embedded server, {curl_ms:.1} ms. The CLI's floor is the \
         curl round trip alone.",
        size.starts,
        floor - curl_ms
    ));
}

/// CPU share of one core and RSS of a process over `idle`, once it is up.
fn idle_usage(running: &Running, idle: Duration) -> (f64, f64) {
    let pid = running.pid();
    // Let start-up work finish before counting.
    std::thread::sleep(Duration::from_secs(2));
    let before = cpu_seconds(pid);
    std::thread::sleep(idle);
    let used = cpu_seconds(pid) - before;
    (used / idle.as_secs_f64() * 100.0, rss_mib(pid, false))
}

/// CPU and memory while a code waits on screen: alone, and with paired devices listed.
pub fn idle(size: Size, section: &mut Section) {
    let kc = common::os_keychain();
    let mut bare = Running::start(bare());
    bare.until(FIRST_FRAME);
    let (bare_cpu, bare_rss) = idle_usage(&bare, size.idle);
    drop(bare);

    kc.track("IDLE@demo");
    let mut alone = Running::start(app(&kc, &["--device", "IDLE"]));
    alone.until(QR_SHOWN);
    let (cpu, rss) = idle_usage(&alone, size.idle);
    drop(alone);
    record_idle(section, "code waiting", (cpu, rss), (bare_cpu, bare_rss));

    // Fleets paired against a server that outlives the app, listed with heartbeats: the
    // usual rig, then a large one, so that the cost of each device is on record.
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Frame.io's timings (5 s polls), so the waiting code polls as it would in the field.
    let server = rt
        .block_on(DemoServer::start(DemoConfig::default()))
        .unwrap();
    let mut paired = 0;
    for fleet in [size.fleet, size.large_fleet] {
        pair_fleet(&rt, &server, &kc, paired..fleet);
        paired = fleet;
        let usage = fleet_idle(&kc, &server, size.idle);
        record_idle(
            section,
            &format!("code waiting, {fleet} paired devices listed"),
            usage,
            (bare_cpu, bare_rss),
        );
    }
    presenter_idle(size, section, &kc);
    section.notes.push(format!(
        "Idle: CPU time from /proc/<pid>/stat over {} s, starting 2 s after the first QR (or \
         first frame) was drawn; RSS is VmRSS at the end. Floor: the bare eframe window \
         repainting at 1 Hz, same renderer and size, same display. The waiting code polls every \
         5 s (Frame.io's interval). The fleet figures list {} and {} devices paired against \
         an embedded server that outlives the app; their heartbeat round runs at start-up, \
         inside the measured window.",
        size.idle.as_secs(),
        size.fleet,
        size.large_fleet
    ));
}

/// Pairs devices `FLEET-<n>` for each `n` of `numbers` on `server`, into the keychain and
/// device list the app will read.
fn pair_fleet(
    rt: &tokio::runtime::Runtime,
    server: &DemoServer,
    kc: &TestKeychain,
    numbers: std::ops::Range<usize>,
) {
    let control = common::Control::new(server.base_url());
    let ctx = kc.context(common::backend_for(server, common::demo_secret()));
    let host = ctx.backend.client.profile().keychain_host();
    let pairings: Vec<_> = numbers
        .map(|i| {
            let device = format!("FLEET-{i:03}");
            kc.track(&format!("{device}@{host}"));
            let (ctx, control) = (ctx.clone(), control.clone());
            rt.spawn(async move { common::pair_approving(&ctx, &control, &device).await })
        })
        .collect();
    for pairing in pairings {
        let outcome = rt.block_on(pairing).unwrap();
        assert!(
            matches!(outcome, Ok(PairOutcome::Paired(_))),
            "expected Paired, got {outcome:?}"
        );
    }
}

/// CPU and RSS of the app with a code waiting, its device list as paired so far on `server`.
fn fleet_idle(kc: &TestKeychain, server: &DemoServer, idle: Duration) -> (f64, f64) {
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    kc.track(&format!("IDLE-FLEET@{host}"));
    let base = server.base_url().to_string();
    let mut command = app(kc, &["--api-base", &base, "--device", "IDLE-FLEET"]);
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    let mut fleet = Running::start(command);
    fleet.until(QR_SHOWN);
    let usage = idle_usage(&fleet, idle);
    drop(fleet);
    usage
}

/// The booth screen full screen on a 1920×1080 display against the bare window covering the
/// same display, both repainting once a second.
fn presenter_idle(size: Size, section: &mut Section, kc: &TestKeychain) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg(BARE_FULL_HD_ARG);
    let mut bare = Running::start(command);
    bare.until(FIRST_FRAME);
    let floor = idle_usage(&bare, size.idle);
    drop(bare);
    let mut booth = Running::start(app(kc, &["--presenter", "--demo"]));
    booth.until(QR_SHOWN);
    let usage = idle_usage(&booth, size.idle);
    drop(booth);
    section.figure(
        "presenter, 1920×1080 full screen, code waiting: CPU, % of a core",
        usage.0,
        Some(floor.0),
        "%",
        "≤ 1.2 × floor",
        usage.0 <= 1.2 * floor.0.max(0.01),
    );
    section.figure(
        "presenter, 1920×1080 full screen: RSS",
        usage.1,
        Some(floor.1),
        "MiB",
        "≤ 1.3 × floor",
        usage.1 <= 1.3 * floor.1,
    );
    section.notes.push(
        "Presenter: `c2c-pair --presenter --demo` covering a 1920×1080 Xvfb display (the \
         booth screen with its code, QR and countdown), against the bare eframe window placed \
         over the same whole display at 1920×1080, repainting at 1 Hz; same renderer, same \
         display, same run."
            .to_owned(),
    );
}

fn record_idle(section: &mut Section, what: &str, (cpu, rss): (f64, f64), floor: (f64, f64)) {
    section.figure(
        format!("{what}: CPU, % of a core"),
        cpu,
        Some(floor.0),
        "%",
        "≤ 0.6 % and ≤ 1.2 × floor",
        cpu <= 0.6 && cpu <= 1.2 * floor.0.max(0.01),
    );
    section.figure(
        format!("{what}: RSS"),
        rss,
        Some(floor.1),
        "MiB",
        "≤ 1.15 × floor",
        rss <= 1.15 * floor.1,
    );
}
