//! `cargo bench --bench process` (release, under `xvfb-run` and `.ci/with-keyring`): cold
//! start and idle figures of the real binary against a bare eframe window, written to
//! target/bench/ for BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod harness;

use std::process::ExitCode;

use harness::Section;
use harness::process::{self, BARE_FULL_HD_ARG, BARE_WINDOW_ARG, FULL, SMOKE};

fn main() -> ExitCode {
    if std::env::args().any(|a| a == BARE_WINDOW_ARG) {
        return process::bare_window();
    }
    if std::env::args().any(|a| a == BARE_FULL_HD_ARG) {
        return process::bare_window_full_hd();
    }
    let size = if std::env::args().any(|a| a == "--quick") {
        SMOKE
    } else {
        FULL
    };
    let command =
        "xvfb-run -a -s \"-screen 0 1920x1080x24\" .ci/with-keyring cargo bench --bench process";
    let mut start = Section::new("Cold start", command);
    process::cold_start(size, &mut start);
    start.publish("3-cold-start");
    let mut idle = Section::new("Idle while a code waits", command);
    process::idle(size, &mut idle);
    idle.publish("4-idle");
    ExitCode::SUCCESS
}
