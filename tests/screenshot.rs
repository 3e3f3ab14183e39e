//! A real window on a real X display (Xvfb in CI): screenshot the pairing screen with
//! ImageMagick, decode its QR with zbarimg, and check that it scans to the verification link
//! the server issued. The screenshot is kept in `target/screenshots/` for the README.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The X display, with the tools the screenshots need; panics (saying what is missing)
/// without them: these tests are ignored by a plain `cargo test` and run by CI.
fn display() -> String {
    let display = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty());
    let missing: Vec<&str> = ["import", "zbarimg"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    match display {
        Some(display) if missing.is_empty() => display,
        _ => panic!("needs an X display (run under xvfb-run -a) and {missing:?}"),
    }
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The app on `display` with `args`, a keychain service and configuration folder of the
/// test's, its log on stderr.
fn app_on(display: &str, service: &str, config: &std::path::Path, args: &[&str]) -> KillOnDrop {
    KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_c2c-pair"))
            .args(args)
            .env("DISPLAY", display)
            .env("C2C_PAIR_KEYCHAIN_SERVICE", service)
            .env("C2C_PAIR_CONFIG_DIR", config)
            .env("C2C_PAIR_LOG_DIR", config.join("logs"))
            .env("RUST_LOG", "warn,c2c_pair=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the app starts"),
    )
}

/// One window on the display at a time: screenshots take the whole display.
static DISPLAY_IN_USE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What a screenshot run produced; the app keeps running until this is dropped.
struct Shot {
    /// The link the app showed.
    link: String,
    /// What zbarimg read from the screenshot.
    decoded: String,
    /// The screenshot.
    path: PathBuf,
    _app: KillOnDrop,
    _display: std::sync::MutexGuard<'static, ()>,
}

/// Starts the app on the display with `args`, waits for its QR to be on screen (in a window
/// of `window` pixels, e.g. `1920x1080`, when given), and takes a screenshot named `name`.
fn shoot(
    display: &str,
    kc: &common::TestKeychain,
    args: &[&str],
    name: &str,
    window: Option<&str>,
) -> Shot {
    let display_lock = DISPLAY_IN_USE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut app = app_on(display, &kc.service, kc.config_dir.path(), args);
    // Wait for the app to say the QR has been presented (a log line, not a timer).
    let stderr = BufReader::new(app.0.stderr.take().unwrap());
    let mut seen = Vec::new();
    let link = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            seen.push(line.clone());
            let sized = window.is_none_or(|size| line.contains(&format!("window={size}")));
            (line.contains("verification QR presented") && sized)
                .then(|| line.split("link=").nth(1).map(|l| l.trim().to_owned()))
                .flatten()
        })
        .unwrap_or_else(|| panic!("the app never showed a QR; its log:\n{}", seen.join("\n")));
    let (shot, codes) = screenshot_and_scan(display, name);
    let decoded = codes.join("\n");
    Shot {
        link,
        decoded,
        path: shot,
        _app: app,
        _display: display_lock,
    }
}

/// A screenshot of the whole display, kept in `target/screenshots/` as `name`, and what every
/// QR code on it says.
fn screenshot_and_scan(display: &str, name: &str) -> (PathBuf, Vec<String>) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join(name);
    let status = Command::new("import")
        .args(["-display", display, "-window", "root"])
        .arg(&shot)
        .status()
        .unwrap();
    assert!(status.success(), "import failed");
    let decoded = Command::new("zbarimg")
        .args(["-q", "--raw"])
        .arg(&shot)
        .output()
        .unwrap();
    let codes = String::from_utf8_lossy(&decoded.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    (shot, codes)
}

fn free_loopback() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("127.0.0.1:{}", listener.local_addr().unwrap().port())
}

#[test]
#[ignore = "needs an X display (xvfb-run), ImageMagick, zbarimg and a Secret Service; \
            run .ci/run"]
fn the_presenter_screen_fills_the_display_and_its_qr_scans() {
    let display = display();
    let kc = common::os_keychain();
    let listen = free_loopback();
    let booth = shoot(
        &display,
        &kc,
        &["--presenter", "--demo", "--demo-listen", &listen],
        "presenter.png",
        Some("1920x1080"),
    );
    let (link, decoded, shot) = (&booth.link, &booth.decoded, &booth.path);
    assert!(
        link.starts_with(&format!("http://{listen}/pair/")),
        "{link}"
    );
    assert_eq!(decoded, link, "the booth QR scans to the verification link");
    // Full screen: the screenshot of the whole display is the booth screen, edge to edge.
    let identify = Command::new("identify")
        .args(["-format", "%w %h"])
        .arg(shot)
        .output()
        .unwrap();
    let size = String::from_utf8_lossy(&identify.stdout).to_string();
    let corner = Command::new("convert")
        .arg(shot)
        .args(["-format", "%[pixel:p{1900,1060}]", "info:"])
        .output()
        .unwrap();
    let corner = String::from_utf8_lossy(&corner.stdout).to_string();
    assert!(
        corner.contains("255,255,255") || corner.contains("white"),
        "the far corner is the white booth screen, not the bare display: {corner} ({size})"
    );
}

#[test]
#[ignore = "needs an X display (xvfb-run), ImageMagick, zbarimg and a Secret Service; \
            run .ci/run"]
fn the_qr_on_screen_scans_to_the_verification_link() {
    let display = display();
    let kc = common::os_keychain();
    kc.track("CAM-SHOT@demo");
    let listen = free_loopback();
    let args = [
        "--demo",
        "--demo-listen",
        &listen,
        "--device",
        "CAM-SHOT",
        "--name",
        "A-Cam",
    ];
    let shot = shoot(&display, &kc, &args, "pairing.png", None);
    let (link, decoded) = (shot.link.clone(), shot.decoded.clone());

    // The QR carries the link the server issued for this device's pending code.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let codes = rt.block_on(common::Control::from_link(&link).codes());
    let code = codes
        .iter()
        .find(|c| c["client_id"] == "CAM-SHOT")
        .expect("a code for CAM-SHOT");
    let expected = format!(
        "http://{listen}/pair/{}",
        code["user_code"].as_str().unwrap()
    );
    assert_eq!(link, expected, "the app showed the server's link");
    assert_eq!(
        decoded, expected,
        "the QR on screen scans to the verification link"
    );
}

/// An X server of its own at `width`×`height`, for as long as this lives.
struct OwnDisplay {
    name: String,
    _server: KillOnDrop,
}

impl OwnDisplay {
    fn start(width: u32, height: u32) -> Self {
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-noreset",
                "-screen",
                "0",
            ])
            .arg(format!("{width}x{height}x24"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (Debian's xvfb; .ci/run installs it)");
        // Xvfb writes its display number once it accepts connections.
        let mut number = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut number)
            .unwrap();
        let number = number.trim();
        assert!(!number.is_empty(), "Xvfb did not start");
        Self {
            name: format!(":{number}"),
            _server: KillOnDrop(server),
        }
    }
}

/// Runs the booth on its own display of `width`×`height` with a Wi-Fi configured, takes a
/// screenshot, and returns it with every QR code zbarimg finds on it.
fn booth_shot(width: u32, height: u32) -> (PathBuf, String, Vec<String>) {
    let display = OwnDisplay::start(width, height);
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("config.toml"),
        "[presenter]\nwifi_ssid = \"C2C Booth\"\nwifi_password = \"visitors-welcome\"\n",
    )
    .unwrap();
    let listen = free_loopback();
    // Demo presenter mode keeps nothing; a service name of its own all the same.
    let args = ["--presenter", "--demo", "--demo-listen", &listen];
    let mut app = app_on(
        &display.name,
        "c2c-pair-test-booth-shot",
        config.path(),
        &args,
    );
    let stderr = BufReader::new(app.0.stderr.take().unwrap());
    let mut seen = Vec::new();
    // Both codes presented: the approval link's and the Wi-Fi one.
    let mut link = None;
    let mut wifi_shown = false;
    for line in stderr.lines().map_while(Result::ok) {
        seen.push(line.clone());
        // Presented over the whole display, not in the window before it covered it.
        if !line.contains(&format!("window={width}x{height}")) {
            continue;
        }
        if line.contains("verification QR presented") {
            link = line.split("link=").nth(1).map(|l| l.trim().to_owned());
        }
        wifi_shown |= line.contains("QR presented") && line.contains("Wi-Fi code to join");
        if link.is_some() && wifi_shown {
            break;
        }
    }
    let link = link.unwrap_or_else(|| panic!("no QR was shown; the log:\n{}", seen.join("\n")));
    let name = format!("presenter-{width}x{height}.png");
    let (shot, codes) = screenshot_and_scan(&display.name, &name);
    drop(app);
    (shot, link, codes)
}

#[test]
#[ignore = "needs Xvfb, ImageMagick and zbarimg; .ci/run runs it (cargo test -- --include-ignored)"]
fn the_booth_screen_scans_at_720p_and_at_4k_with_its_wifi_code() {
    for (width, height) in [(1280, 720), (3840, 2160)] {
        let (shot, link, codes) = booth_shot(width, height);
        assert!(
            codes.contains(&link),
            "{width}x{height}: {codes:?} lacks {link}"
        );
        assert!(
            codes.contains(&"WIFI:T:WPA;S:C2C Booth;P:visitors-welcome;;".to_owned()),
            "{width}x{height}: the Wi-Fi code scans: {codes:?}"
        );
        // The booth covers the whole display: its far corner is the booth's white.
        let corner = Command::new("convert")
            .arg(&shot)
            .arg("-format")
            .arg(format!("%[pixel:p{{{},{}}}]", width - 5, height - 5))
            .arg("info:")
            .output()
            .unwrap();
        let corner = String::from_utf8_lossy(&corner.stdout).to_string();
        assert!(
            corner.contains("255,255,255") || corner.contains("white"),
            "{width}x{height}: {corner}"
        );
    }
}
