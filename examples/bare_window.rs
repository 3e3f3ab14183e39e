//! A bare eframe window (glow, 1 Hz repaint): the floor BENCHMARKS.md compares the app's
//! binary size with. `cargo run --release --example bare_window`.
#![allow(clippy::print_stderr)]

#[path = "../benches/harness/bare.rs"]
mod bare;

fn main() -> std::process::ExitCode {
    bare::run()
}
