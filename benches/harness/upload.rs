//! Uploads at the size of real media, the real binary against the embedded server: the peak
//! resident memory of `c2c-pair upload` sending a large sparse file against sending 1 MiB
//! (parts are read from disk as they are sent, so memory must not grow with the file), its
//! throughput against `curl -T` of the same file to the same server in the same run (one PUT
//! to the part URL of an asset created for it), and on a link that adds 100 ms to every
//! request (the server's latency fault) its throughput with parts sent a few at once against
//! one at a time.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use c2c_pair::demo::DemoServer;
use c2c_pair::device::PairOutcome;
use secrecy::ExposeSecret as _;

use super::pairing::common::{self, Control, TestKeychain};
use super::{Section, median};

const MIB: u64 = 1024 * 1024;

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// The large file.
    pub large: u64,
    /// The small file, the memory floor.
    pub small: u64,
    /// Runs of each kind (medians are taken).
    pub runs: usize,
}

/// The full run: 2 GiB against 1 MiB, three runs of each.
pub const FULL: Size = Size {
    large: 2048 * MIB,
    small: MIB,
    runs: 3,
};

/// The smoke run.
pub const SMOKE: Size = Size {
    large: 24 * MIB,
    small: MIB,
    runs: 1,
};

/// Whether `/usr/bin/time` (peak memory of a child) and `curl` are there; without them the
/// figures are skipped, unless `C2C_PAIR_REQUIRE_DISPLAY=1` (CI, which installs both).
pub fn tools_ready() -> bool {
    let time = Path::new("/usr/bin/time").exists();
    let curl = Command::new("curl").arg("--version").output().is_ok();
    assert!(
        time && curl || std::env::var("C2C_PAIR_REQUIRE_DISPLAY").as_deref() != Ok("1"),
        "C2C_PAIR_REQUIRE_DISPLAY=1 but /usr/bin/time or curl is missing"
    );
    if !(time && curl) {
        eprintln!("skipped: upload figures need /usr/bin/time and curl");
    }
    time && curl
}

/// A paired device and its server, the binary's keychain and config directory.
struct Bench {
    runtime: tokio::runtime::Runtime,
    server: DemoServer,
    kc: TestKeychain,
    device: &'static str,
}

impl Bench {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let kc = common::os_keychain();
        let device = "CAM-BENCH-UPLOAD";
        let server = runtime.block_on(async {
            let server = DemoServer::start(common::fast_config()).await.unwrap();
            let control = Control::new(server.base_url());
            let ctx = kc.context(common::backend_for(&server, common::demo_secret()));
            let outcome = common::pair_approving(&ctx, &control, device).await;
            assert!(matches!(outcome, Ok(PairOutcome::Paired(_))), "{outcome:?}");
            server
        });
        let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
        kc.track(&format!("{device}@{host}"));
        Self {
            runtime,
            server,
            kc,
            device,
        }
    }

    /// `c2c-pair upload` of `file` under `/usr/bin/time -v`: wall time and peak RSS (MiB).
    fn client(&self, file: &Path) -> (Duration, f64) {
        self.client_with(file, &[])
    }

    /// [`Bench::client`] with more options (`--parallel-parts 1`).
    fn client_with(&self, file: &Path, options: &[&str]) -> (Duration, f64) {
        let base = self.server.base_url().to_string();
        let mut command = Command::new("/usr/bin/time");
        command
            .arg("-v")
            .arg(env!("CARGO_BIN_EXE_c2c-pair"))
            .args([
                "--api-base",
                &base,
                "upload",
                "--device",
                self.device,
                "--json",
            ])
            .args(options)
            .arg(file)
            .env("C2C_PAIR_KEYCHAIN_SERVICE", &self.kc.service)
            .env("C2C_PAIR_CONFIG_DIR", self.kc.config_dir.path())
            .env("C2C_PAIR_LOG_DIR", self.kc.config_dir.path().join("logs"))
            .env(
                "C2C_PAIR_STATE_DIR",
                self.kc.config_dir.path().join("state"),
            )
            .env("C2C_PAIR_CLIENT_SECRET", common::demo_secret())
            .env_remove("RUST_LOG");
        let started = Instant::now();
        let output = command.output().unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "upload failed: {stderr}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("\"uploaded\""), "{stdout}");
        let peak_kib: f64 = stderr
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Maximum resident set size (kbytes): ")
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {stderr}"));
        (took, peak_kib / 1024.0)
    }

    /// `curl -T` of `file` to the one part URL of an asset created for it: wall time.
    fn curl(&self, file: &Path, size: u64) -> Duration {
        let account = format!(
            "{}@127.0.0.1:{}",
            self.device,
            self.server.base_url().port().unwrap()
        );
        let tokens =
            c2c_pair::keychain::TokenSet::from_secret(&self.kc.read(&account).unwrap()).unwrap();
        let url = self.runtime.block_on(async {
            let answer: serde_json::Value = reqwest::Client::new()
                .post(self.server.base_url().join("/v2/devices/assets").unwrap())
                .bearer_auth(tokens.access_token.expose_secret())
                .json(
                    &serde_json::json!({"name": "curl.bin", "filetype": "application/octet-stream",
                    "filesize": size, "offset": 0, "channel": 0, "parts": 1}),
                )
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["upload_urls"][0].as_str().unwrap().to_owned()
        });
        let started = Instant::now();
        let output = Command::new("curl")
            // What the part URL signs, as the app sends it.
            .args(["-H", "Content-Type: application/octet-stream"])
            .args(["-H", "x-amz-acl: private"])
            .args(["-sS", "--fail", "-o", "/dev/null", "-T"])
            .arg(file)
            .arg(&url)
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(
            output.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        took
    }
}

/// A sparse file of `size` bytes (a hole reads as zeros without touching the disk).
fn sparse(dir: &Path, name: &str, size: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    path
}

/// The latency the server adds to every request for the long-link figures.
const LATENCY_MS: u64 = 100;

/// Peak memory and throughput of uploads.
pub fn measure(size: Size, section: &mut Section) {
    let bench = Bench::new();
    measure_loopback(&bench, size, section);
    measure_long_link(&bench, size, section);
}

/// Parts a few at once against one at a time, on a link that adds 100 ms to each request.
fn measure_long_link(bench: &Bench, size: Size, section: &mut Section) {
    let media = tempfile::tempdir().unwrap();
    let large = sparse(media.path(), "far.bin", size.large);
    let control = Control::new(bench.server.base_url());
    bench.runtime.block_on(control.latency(LATENCY_MS));
    let mut one_s = Vec::new();
    let mut many_s = Vec::new();
    for _ in 0..size.runs {
        one_s.push(
            bench
                .client_with(&large, &["--parallel-parts", "1"])
                .0
                .as_secs_f64(),
        );
        many_s.push(bench.client(&large).0.as_secs_f64());
    }
    bench.runtime.block_on(control.latency(0));
    let (one, many) = (median(&mut one_s), median(&mut many_s));
    let mib = size.large as f64 / MIB as f64;
    let parallel = c2c_pair::device::upload::PARALLEL_PARTS;
    section.figure(
        format!(
            "throughput of `c2c-pair upload`, {LATENCY_MS} ms added per request, {parallel} \
             parts at once, median"
        ),
        mib / many,
        Some(mib / one),
        "MiB/s",
        "≥ 3 × floor (floor: one part at a time, `--parallel-parts 1`, same link)",
        one >= 3.0 * many,
    );
    section.notes.push(format!(
        "On the long link (the embedded server's latency fault: {LATENCY_MS} ms before each \
         request is handled, a part's body included), wall times (medians): one part at a time \
         {one:.2} s, {parallel} at once {many:.2} s, for {} parts of 8 MiB.",
        size.large.div_ceil(8 * MIB)
    ));
}

/// Peak memory, and throughput against `curl -T`, on plain loopback.
fn measure_loopback(bench: &Bench, size: Size, section: &mut Section) {
    let media = tempfile::tempdir().unwrap();
    let small = sparse(media.path(), "small.bin", size.small);
    let large = sparse(media.path(), "large.bin", size.large);
    let mut small_rss = Vec::new();
    let mut large_rss = Vec::new();
    let mut client_s = Vec::new();
    let mut curl_s = Vec::new();
    for _ in 0..size.runs {
        small_rss.push(bench.client(&small).1);
        // Alternated, so that page-cache writeback on the server's side weighs on both alike.
        curl_s.push(bench.curl(&large, size.large).as_secs_f64());
        let (took, rss) = bench.client(&large);
        client_s.push(took.as_secs_f64());
        large_rss.push(rss);
    }
    let small_peak = median(&mut small_rss);
    let large_peak = median(&mut large_rss);
    let client = median(&mut client_s);
    let curl = median(&mut curl_s);
    let gib = size.large as f64 / (1024.0 * MIB as f64);
    let mib = size.large as f64 / MIB as f64;
    section.figure(
        format!(
            "peak RSS of `c2c-pair upload`, {gib:.2} GiB sparse file (median of {})",
            size.runs
        ),
        large_peak,
        Some(small_peak),
        "MiB",
        "≤ floor + 32 MiB (floor: the same upload of 1 MiB)",
        large_peak <= small_peak + 32.0,
    );
    let client_rate = mib / client;
    let curl_rate = mib / curl;
    let parallel = c2c_pair::device::upload::PARALLEL_PARTS;
    section.figure(
        format!(
            "throughput of `c2c-pair upload` (whole process, {} parts of 8 MiB, {parallel} at \
             once), median",
            size.large.div_ceil(8 * MIB)
        ),
        client_rate,
        Some(curl_rate),
        "MiB/s",
        "≥ 0.95 × floor (floor: `curl -T` of the same file to one part URL, same server)",
        client_rate >= 0.95 * curl_rate,
    );
    section.notes.push(format!(
        "Wall times (medians): `c2c-pair upload` {client:.2} s (start-up, keychain, asset \
         creation, a heartbeat and {} part PUTs, {parallel} at once, with the resume record \
         written after each), `curl -T` {curl:.2} s (one PUT). The embedded server runs in the \
         bench process on loopback and streams each part to a temporary file, then hashes the \
         assembled asset (SHA-256), for both. Peak RSS by `/usr/bin/time -v`; small-file \
         peak {small_peak:.1} MiB.",
        size.large.div_ceil(8 * MIB)
    ));
}
