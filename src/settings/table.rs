//! Every setting, declared once: adding a setting is one entry here plus the code that uses it.
//!
//! An entry's doc comment is its help (`--help`, the README's settings table, `c2c-pair config
//! docs`); its key names it in the file, and its environment variable is `C2C_PAIR_` and the
//! key in capitals, dots as `_`. Read a value with [`Settings::get`](super::Settings::get).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::parse;
use super::spec::{Setting, Spec, settings};
use crate::c2c::profile::{BodyEncoding, EndpointPaths, Profile};

/// Default seconds between heartbeats of a paired device (the spec's window is 60–300 s).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(120);
/// Default longest wait for one keychain call.
pub const DEFAULT_KEYCHAIN_TIMEOUT: Duration = crate::keychain::DEFAULT_TIMEOUT;
/// Default time presenter mode shows a success before the next code.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(8);
/// Default address of the built-in demo server: loopback, any free port.
pub const DEFAULT_DEMO_LISTEN: &str = "127.0.0.1:0";

/// Allowed keychain timeouts and presenter lingers, in seconds.
const WAIT: (f64, f64) = (0.1, 600.0);

settings! {
    /// API base of the C2C server (`http://` only for loopback addresses).
    API_BASE: Url = Setting::text("api_base", parse::api_base, || Profile::frame_io().api_base)
        .value_name("URL")
        .unset_note("; the built-in demo server while no client secret is configured")
        .global_option("api-base");
    /// Firmware version sent as x-client-version (semver); given to `pair`, that device's
    /// own, kept with it.
    CLIENT_VERSION: String = Setting::text("client_version", parse::client_version, || {
        Profile::frame_io().client_version
    })
    .value_name("VERSION")
    .default_doc("this app's version")
    .global_option("client-version");
    /// Form encoding of the OAuth requests: urlencoded or multipart.
    BODY: BodyEncoding = Setting::text("body", parse::body, BodyEncoding::default)
        .value_name("ENCODING")
        .global_option("body");
    /// Scope asked for with a device code; another RFC 8628 server may grant e.g.
    /// `openid offline_access`.
    SCOPE: String = Setting::text("scope", parse::scope, || Profile::frame_io().scope)
        .value_name("SCOPE")
        .global_option("scope");
    /// Ask for a verification link (the x-client-platypus-enabled header) and show a QR code;
    /// false: the code only.
    URL_PAIRING: bool = Setting::flag("url_pairing", || true).switch(
        "no-url-pairing",
        true,
        "false",
        "Do not ask for a verification link (no x-client-platypus-enabled header, no QR)",
    );
    /// Seconds between heartbeats (the window, and `upload` while it runs); kept within
    /// Frame.io's 60–300 with a warning (1–300 for a server on this machine).
    HEARTBEAT_INTERVAL: Duration =
        Setting::seconds("heartbeat_interval", 1.0, 3600.0, || DEFAULT_HEARTBEAT)
            .global_option("heartbeat-interval");
    /// Longest wait for one keychain call (a locked keychain may wait for a password prompt
    /// nobody sees).
    KEYCHAIN_TIMEOUT: Duration =
        Setting::seconds("keychain_timeout", WAIT.0, WAIT.1, || DEFAULT_KEYCHAIN_TIMEOUT)
            .global_option("keychain-timeout");
    /// Address of the built-in demo server. Loopback by default; an address on the network
    /// (`0.0.0.0:8480`, `[::]:8480` or an interface's) lets phones at a booth open its approval
    /// page.
    DEMO_LISTEN: SocketAddr = Setting::text("demo_listen", parse::listen, || {
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
    .value_name("ADDR")
    .global_option("demo-listen");
    /// Where "Export report" saves.
    REPORT_DIR: PathBuf = Setting::text("report_dir", parse::dir, crate::report::default_dir)
        .value_name("FOLDER")
        .default_doc("Downloads, else Documents, else home");
    /// Where the log files go.
    LOG_DIR: Option<PathBuf> = Setting::optional("log_dir", parse::dir, crate::log_file::default_dir)
        .value_name("FOLDER")
        .default_doc("the OS state folder (see Logs)");
    /// Path of the device authorization endpoint.
    ENDPOINTS_DEVICE_CODE: String = Setting::text("endpoints.device_code", parse::endpoint, || {
        EndpointPaths::default().device_code
    })
    .value_name("PATH")
    .global_option("device-code-path");
    /// Path of the token endpoint.
    ENDPOINTS_TOKEN: String =
        Setting::text("endpoints.token", parse::endpoint, || EndpointPaths::default().token)
            .value_name("PATH")
            .global_option("token-path");
    /// Path of the revocation endpoint.
    ENDPOINTS_REVOKE: String =
        Setting::text("endpoints.revoke", parse::endpoint, || EndpointPaths::default().revoke)
            .value_name("PATH")
            .global_option("revoke-path");
    /// Path of the device information endpoint; empty (off in the environment) switches it
    /// off, for a server without it.
    ENDPOINTS_DEVICE_INFO: String = Setting::text(
        "endpoints.device_info",
        parse::optional_endpoint,
        || EndpointPaths::default().device_info,
    )
    .value_name("PATH");
    /// Path of the heartbeat endpoint; empty (off in the environment) switches heartbeats off
    /// (tokens are still kept fresh).
    ENDPOINTS_HEARTBEAT: String = Setting::text(
        "endpoints.heartbeat",
        parse::optional_endpoint,
        || EndpointPaths::default().heartbeat,
    )
    .value_name("PATH");
    /// Path of the asset creation endpoint (uploads).
    ENDPOINTS_ASSETS: String =
        Setting::text("endpoints.assets", parse::endpoint, || EndpointPaths::default().assets)
            .value_name("PATH");
    /// Window only: open in presenter mode (booth loop, full screen; F11, H, Space, Esc).
    PRESENTER_START: bool = Setting::flag("presenter.start", || false).switch(
        "presenter",
        false,
        "true",
        "Window only: start in presenter mode (booth loop, full screen; F11, H, Space, Esc)",
    );
    /// Window only: seconds presenter mode shows a success before the next code.
    PRESENTER_LINGER: Duration =
        Setting::seconds("presenter.linger", WAIT.0, WAIT.1, || DEFAULT_LINGER)
            .option("presenter-linger");
    /// The booth Wi-Fi phones join, shown as a "join the Wi-Fi" QR code.
    PRESENTER_WIFI_SSID: Option<String> =
        Setting::optional("presenter.wifi_ssid", crate::wifi::check_ssid, || None)
            .value_name("SSID")
            .default_doc("none")
            .note("; empty: no Wi-Fi QR code")
            .empty_unsets();
    /// Its WPA password (8 to 63 characters; none: an open network). Shown to visitors in
    /// that QR code, nowhere else.
    PRESENTER_WIFI_PASSWORD: Option<SecretString> =
        Setting::optional("presenter.wifi_password", crate::wifi::check_password, || None)
            .value_name("PASSWORD")
            .default_doc("none")
            .empty_unsets();
    /// The booth Wi-Fi does not broadcast its name.
    PRESENTER_WIFI_HIDDEN: bool = Setting::flag("presenter.wifi_hidden", || false);
    /// Seconds an upload may go without progress before it counts as stalled.
    UPLOAD_STALL_TIMEOUT: Duration =
        Setting::seconds("upload.stall_timeout", 1.0, 600.0, || Duration::from_secs(30))
            .global_option("stall");
    /// Add a "rig check" comment to the test clip when it is uploaded.
    UPLOAD_TEST_CLIP_NOTE: bool = Setting::flag("upload.test_clip_note", || true);
    /// Parts of a file sent at once (1: one after another).
    UPLOAD_PARALLEL_PARTS: u32 = Setting::count("upload.parallel_parts", 1, 16, || {
        u32::try_from(crate::device::upload::PARALLEL_PARTS).unwrap_or(4)
    })
    .global_option("parallel-parts");
    /// Seconds a real-time upload's file may go without growing before it counts as finished.
    UPLOAD_REALTIME_IDLE: Duration =
        Setting::seconds("upload.realtime_idle", 0.1, 3600.0, || Duration::from_secs(10))
            .global_option("idle");
}
