//! `c2c-pair upload` (the real binary) against the embedded server: a device paired into the
//! OS keychain under a throwaway service, the binary run with its JSON events read line by
//! line, media files with their SHA-256, and bounded waits on the server's control API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use c2c_pair::demo::DemoServer;
use c2c_pair::device::PairOutcome;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use super::media::{patterned, sha256_hex};
use super::{Control, TestKeychain};

/// Sets a media file's modification time to `unix` seconds (when it was "recorded"; its
/// birth time is the test's, later, so the modification time is the earlier of both).
pub fn recorded_at(path: &Path, unix: f64) {
    let at = std::time::UNIX_EPOCH + Duration::from_secs_f64(unix);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(at)
        .unwrap();
}

/// Now, in Unix seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Longest wait for one event of the binary (a bound, so that a broken run fails, not hangs).
pub const EVENT_BOUND: Duration = Duration::from_secs(90);

/// A paired device, its server, and a folder for media.
pub struct Rig {
    /// The OS keychain under a throwaway service, and the config directory.
    pub kc: TestKeychain,
    /// The embedded server.
    pub server: DemoServer,
    /// Its control API.
    pub control: Control,
    /// The device's id.
    pub device: String,
    /// Media files live here.
    pub media: tempfile::TempDir,
}

/// A device paired with a fresh embedded server, in the OS keychain (the binary's).
pub async fn rig(device: &str) -> Rig {
    rig_with(device, super::fast_config()).await
}

/// A device paired with a fresh embedded server configured as `config`.
pub async fn rig_with(device: &str, config: c2c_pair::demo::DemoConfig) -> Rig {
    let kc = super::os_keychain();
    let server = DemoServer::start(config).await.unwrap();
    let control = Control::new(server.base_url());
    let ctx = kc.context(super::backend_for(&server, super::demo_secret()));
    let outcome = super::pair_approving(&ctx, &control, device).await;
    assert!(matches!(outcome, Ok(PairOutcome::Paired(_))), "{outcome:?}");
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    kc.track(&format!("{device}@{host}"));
    Rig {
        kc,
        server,
        control,
        device: device.to_owned(),
        media: tempfile::tempdir().unwrap(),
    }
}

impl Rig {
    /// `c2c-pair --api-base <server> ARGS` with the demo secret.
    pub fn command(&self, args: &[&str]) -> Command {
        let base = self.server.base_url().to_string();
        let mut all = vec!["--api-base", base.as_str()];
        all.extend_from_slice(args);
        let mut command = super::c2c_pair_in(&self.kc.service, self.kc.config_dir.path(), &all);
        command.env("C2C_PAIR_CLIENT_SECRET", super::demo_secret());
        command
    }

    /// `c2c-pair upload --device <device> ARGS`.
    pub fn upload(&self, args: &[&str]) -> Command {
        let mut all = vec!["upload", "--device", self.device.as_str()];
        all.extend_from_slice(args);
        self.command(&all)
    }

    /// Runs `upload ARGS --json`, its events read as they come.
    pub fn start_upload(&self, args: &[&str]) -> Events {
        let mut all = args.to_vec();
        all.push("--json");
        Events::start(self.upload(&all))
    }

    /// Writes `len` patterned bytes to `name` in the media folder; its path and SHA-256.
    pub fn file(&self, name: &str, len: usize, seed: u64) -> (PathBuf, String) {
        let path = self.media.path().join(name);
        let bytes = patterned(len, seed);
        std::fs::write(&path, &bytes).unwrap();
        (path, sha256_hex(&bytes))
    }

    /// The upload records the binary keeps.
    pub fn records(&self) -> Vec<PathBuf> {
        let dir = self.kc.config_dir.path().join("state").join("uploads");
        std::fs::read_dir(dir).map_or_else(
            |_| Vec::new(),
            |entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "json"))
                    .collect()
            },
        )
    }

    /// The first asset named `name` once `check` holds for it (bounded: 30 s in 10 ms steps).
    pub async fn asset_when(&self, name: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..3000 {
            let found = self
                .control
                .assets()
                .await
                .into_iter()
                .find(|a| a["name"] == name && check(a));
            if let Some(asset) = found {
                return asset;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "no asset {name} reached the state waited for: {:?}",
            self.control.assets().await
        );
    }

    /// Every asset named `name`.
    pub async fn assets_named(&self, name: &str) -> Vec<Value> {
        self.control
            .assets()
            .await
            .into_iter()
            .filter(|a| a["name"] == name)
            .collect()
    }
}

/// The receive count of every part of an asset, in part order.
pub fn receive_counts(asset: &Value) -> Vec<u64> {
    asset["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["received_count"].as_u64().unwrap())
        .collect()
}

/// The size of every part of an asset, in part order.
pub fn part_sizes(asset: &Value) -> Vec<u64> {
    asset["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size"].as_u64().unwrap())
        .collect()
}

/// A running binary whose stdout is JSON events.
pub struct Events {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: tokio::task::JoinHandle<String>,
    /// Every event read so far.
    pub seen: Vec<Value>,
}

impl Events {
    /// Starts `command`.
    pub fn start(mut command: Command) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        Self {
            child,
            lines: BufReader::new(stdout).lines(),
            stderr,
            seen: Vec::new(),
        }
    }

    /// The next event, or `None` once stdout closed.
    async fn next(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(EVENT_BOUND, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no event for {EVENT_BOUND:?}; seen: {:?}", self.seen))
            .unwrap()?;
        let event: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        self.seen.push(event.clone());
        Some(event)
    }

    /// Reads events until one for which `check` holds.
    pub async fn until_where(&mut self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        while let Some(event) = self.next().await {
            if check(&event) {
                return event;
            }
        }
        panic!("the run ended before {what}; seen: {:?}", self.seen);
    }

    /// Reads events until one named `name`.
    pub async fn until(&mut self, name: &str) -> Value {
        self.until_where(name, |e| e["event"] == name).await
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub async fn kill(mut self) -> String {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
        self.stderr.await.unwrap()
    }

    /// Reads the rest; the exit code, every event, and stderr.
    pub async fn finish(mut self) -> Finished {
        while self.next().await.is_some() {}
        let code = tokio::time::timeout(EVENT_BOUND, self.child.wait())
            .await
            .expect("the binary exits")
            .unwrap()
            .code()
            .expect("exited, not killed");
        Finished {
            code,
            events: self.seen,
            stderr: self.stderr.await.unwrap(),
        }
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    /// Its exit code.
    pub code: i32,
    /// Its events.
    pub events: Vec<Value>,
    /// Its stderr.
    pub stderr: String,
}

impl Finished {
    /// The events named `name`.
    pub fn named(&self, name: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == name).collect()
    }

    /// Panics unless it exited `code`.
    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code, code,
            "events: {:#?}\nstderr: {}",
            self.events, self.stderr
        );
    }
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> String {
    sha256_hex(&std::fs::read(path).unwrap())
}
