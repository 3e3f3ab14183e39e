//! `cargo bench --bench upload` (release, under `.ci/with-keyring`; needs `/usr/bin/time` and
//! `curl`): peak memory of `c2c-pair upload` sending a 2 GiB sparse file against sending
//! 1 MiB, and its throughput against `curl -T` of the same file to the same server, written to
//! target/bench/ for BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod harness;

use std::process::ExitCode;

use harness::Section;
use harness::upload::{self, FULL, SMOKE};

fn main() -> ExitCode {
    let size = if std::env::args().any(|a| a == "--quick") {
        SMOKE
    } else {
        FULL
    };
    if !upload::tools_ready() {
        return ExitCode::FAILURE;
    }
    let mut section = Section::new(
        "Uploads at the size of real media",
        ".ci/with-keyring cargo bench --bench upload",
    );
    upload::measure(size, &mut section);
    section.publish("7-upload");
    ExitCode::SUCCESS
}
