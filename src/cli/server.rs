//! `c2c-pair demo-server`: the embedded C2C server on its own.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use c2c_pair::demo::{CONTROL_HEADER, DemoConfig, DemoServer};

use super::report;

/// Runs the server until Ctrl-C (or SIGTERM, SIGHUP), then removes what it received.
pub async fn run(listen: SocketAddr, interval: f64, expires_in: f64) -> ExitCode {
    let seconds = |value: f64, what: &str| {
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("--{what} must be a positive number of seconds"))
    };
    let (interval, expires_in) = match (
        seconds(interval, "interval"),
        seconds(expires_in, "expires-in"),
    ) {
        (Ok(i), Ok(e)) => (i, e),
        (Err(message), _) | (_, Err(message)) => {
            report(&message);
            return ExitCode::from(2);
        }
    };
    let config = DemoConfig {
        listen,
        interval,
        expires_in,
        ..DemoConfig::default()
    };
    let secret = config.client_secret.clone();
    // Taken over before anything is said, so that a stop right after is tidy.
    let stopped = super::stop_signal();
    let server = match DemoServer::start(config).await {
        Ok(server) => server,
        Err(error) => {
            report(&format!("could not listen on {listen}: {error}"));
            return ExitCode::from(5);
        }
    };
    out!("Demo C2C server at {}", server.base_url());
    if server.exposed() {
        out!("On the network at: {}", server.public_url());
    }
    out!("Approval page:     {}", server.approval_url());
    if let Some(warning) = server.reach().unusable() {
        out!("Warning:           {warning}");
    }
    out!("Client secret:     {secret}   (opens this demo server only)");
    out!(
        "Pair against it:   c2c-pair --api-base {} pair --device CAM-1",
        server.base_url()
    );
    out!(
        "Control API:       {}_control/… (this machine only, with the header {CONTROL_HEADER}: 1)",
        server.base_url()
    );
    out!("Ctrl-C stops it.");
    stopped.await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
