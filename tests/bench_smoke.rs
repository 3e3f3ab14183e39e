//! The benchmark harness works: a small run of every figure, in-process and whole-process.
//! The timings themselves belong to `cargo bench` and BENCHMARKS.md, not to tests. Its own
//! `main` (no libtest), because the whole-process figures re-run this binary as the bare
//! eframe window they compare with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

#[path = "../benches/harness/mod.rs"]
mod harness;

use std::process::ExitCode;

use harness::Section;
use harness::{pairing, process, upload};

fn measured(section: &Section, count: usize) {
    assert_eq!(section.figures.len(), count, "{}", section.markdown());
    for figure in &section.figures {
        assert!(
            figure.value.is_finite() && figure.value >= 0.0,
            "{figure:?}"
        );
    }
    let table_rows = section
        .markdown()
        .lines()
        .filter(|l| l.starts_with("| "))
        .count();
    assert_eq!(table_rows, count + 1, "a header and a row per figure");
}

fn in_process() {
    let mut timing = Section::new("timing", "smoke");
    pairing::poll_timing(pairing::SMOKE, &mut timing);
    pairing::approval_to_screen(pairing::SMOKE, &mut timing);
    measured(&timing, 5);
    let mut scale = Section::new("scale", "smoke");
    pairing::scale(pairing::SMOKE, &mut scale);
    measured(&scale, pairing::SMOKE.scale.len());
    assert!(
        scale.figures.iter().all(|f| f.met),
        "no early poll at any N: {}",
        scale.markdown()
    );
}

fn whole_process() {
    let mut start = Section::new("cold start", "smoke");
    process::cold_start(process::SMOKE, &mut start);
    measured(&start, 2);
    let mut idle = Section::new("idle", "smoke");
    process::idle(process::SMOKE, &mut idle);
    measured(&idle, 8);
    if upload::tools_ready() {
        let mut uploads = Section::new("uploads", "smoke");
        upload::measure(upload::SMOKE, &mut uploads);
        measured(&uploads, 3);
    }
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == process::BARE_WINDOW_ARG) {
        return process::bare_window();
    }
    if std::env::args().any(|a| a == process::BARE_FULL_HD_ARG) {
        return process::bare_window_full_hd();
    }
    // In-process figures run anywhere (the OS keychain, or the in-memory store without one).
    in_process();
    eprintln!("bench smoke: in-process harness ok");
    // Whole-process figures start the app's window, so they need a display and, for the
    // binary, a Secret Service: CI (and .ci/with-keyring under xvfb-run) has both.
    let required = std::env::var("C2C_PAIR_REQUIRE_DISPLAY").as_deref() == Ok("1");
    if process::display_ready() {
        whole_process();
        eprintln!("bench smoke: whole-process harness ok");
    } else if required {
        eprintln!("bench smoke: C2C_PAIR_REQUIRE_DISPLAY=1 but there is no display");
        return ExitCode::FAILURE;
    } else {
        eprintln!(
            "bench smoke: whole-process harness NOT RUN (no X display); CI runs it \
             (xvfb-run -a .ci/with-keyring cargo test --test bench_smoke)"
        );
    }
    ExitCode::SUCCESS
}
