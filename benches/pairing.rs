//! `cargo bench --bench pairing` (under `.ci/with-keyring`): poll timing, approval and token
//! to screen, and scale, written to target/bench/ for BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod harness;

use harness::Section;
use harness::pairing::{self, FULL, SMOKE};

fn main() {
    let size = if std::env::args().any(|a| a == "--quick") {
        SMOKE
    } else {
        FULL
    };
    let command = ".ci/with-keyring cargo bench --bench pairing";
    // `-- scale` runs only the scale figures (for profiling).
    let only_scale = std::env::args().any(|a| a == "scale");
    if only_scale {
        let mut scale = Section::new("Many pairings at once", command);
        pairing::scale(size, &mut scale);
        return scale.publish("5-scale");
    }
    let mut timing = Section::new("Poll timing, approval and token to screen", command);
    pairing::poll_timing(size, &mut timing);
    pairing::approval_to_screen(size, &mut timing);
    timing.publish("1-timing");
    let mut scale = Section::new("Many pairings at once", command);
    pairing::scale(size, &mut scale);
    scale.publish("5-scale");
}
