//! `c2c-pair`: with no command, the pairing window; with a command, one headless action.

mod cli;

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use c2c_pair::log_file::LogFile;
use c2c_pair::settings;
use c2c_pair::ui::PairApp;
use c2c_pair::worker::Worker;

fn main() -> ExitCode {
    let (invocation, settings) = cli::Invocation::resolve(cli::Cli::parse());
    // A broken configuration may have meant to move the log folder: no file then.
    init_logging(&invocation, settings.is_ok());
    let Some(command) = invocation.cli.command.clone() else {
        return run_gui(&invocation, settings);
    };
    if let Err(message) = settings {
        cli::report(&message);
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("c2c-cli")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            cli::report(&format!("could not start the async runtime: {error}"));
            return ExitCode::from(5);
        }
    };
    let code = runtime.block_on(cli::run(&invocation, command));
    // A keychain call that hung must not keep the process alive.
    runtime.shutdown_background();
    code
}

/// Logs go to stderr (`RUST_LOG` if set, else the level from `-v`) and to the log file in
/// the state directory (at least debug for this app, more if `RUST_LOG` or `-v` asks), with
/// secrets removed. Without a usable log folder, the last lines stay in memory instead, for
/// diagnostics.
fn init_logging(invocation: &cli::Invocation, to_file: bool) {
    use tracing_subscriber::prelude::*;
    let args = &invocation.cli;
    let level = match args.verbose {
        0 => args.default_log_level(),
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let from_env = || EnvFilter::try_from_default_env().ok();
    let stderr_filter =
        from_env().unwrap_or_else(|| EnvFilter::new(format!("warn,c2c_pair={level}")));
    let kept_level = if args.verbose >= 3 { "trace" } else { "debug" };
    let kept_filter =
        from_env().unwrap_or_else(|| EnvFilter::new(format!("warn,c2c_pair={kept_level}")));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(stderr_filter);
    let (file, file_error) = match invocation.settings.get(&settings::LOG_DIR) {
        Some(dir) if to_file && args.writes_log_file() => match LogFile::open(&dir) {
            Ok(file) => {
                file.make_active();
                (Some(file), None)
            }
            Err(error) => (None, Some(format!("{}: {error}", dir.display()))),
        },
        _ => (None, None),
    };
    let kept_writer = match file {
        Some(file) => BoxMakeWriter::new(file),
        None => BoxMakeWriter::new(c2c_pair::log_buffer::LogBuffer),
    };
    let kept = tracing_subscriber::fmt::layer()
        .with_writer(kept_writer)
        .with_ansi(false)
        .with_filter(kept_filter);
    tracing_subscriber::registry()
        .with(stderr)
        .with(kept)
        .init();
    if let Some(error) = file_error {
        tracing::warn!("no log file (kept in memory instead): {error}");
    }
}

fn run_gui(invocation: &cli::Invocation, settings: Result<(), String>) -> ExitCode {
    // A bad setting still opens the window, with the error in it: launched from a desktop
    // entry, nobody would see stderr.
    let setup = settings.and_then(|()| invocation.gui_setup());
    if let Err(message) = &setup {
        cli::report(message);
    }
    let setup_failed = setup.is_err();
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("C2C Pairing Assistant")
        .with_app_id("c2c-pair")
        .with_inner_size([1180.0, 760.0])
        .with_min_inner_size([720.0, 480.0]);
    if let Some(icon) = window_icon() {
        viewport = viewport.with_icon(icon);
    }
    if invocation.settings.get(&settings::PRESENTER_START) {
        viewport = viewport.with_fullscreen(true);
    }
    let native = eframe::NativeOptions {
        viewport,
        // glow idles at a quarter of wgpu's CPU under software GL (design notes).
        renderer: eframe::Renderer::Glow,
        // Window size, theme and zoom are remembered beside the device list (egui keeps
        // cursor positions of text fields there too, never their text).
        persistence_path: invocation
            .registry()
            .ok()
            .map(|registry| registry.path().with_file_name("window.ron")),
        ..Default::default()
    };
    let result = eframe::run_native(
        "C2C Pairing Assistant",
        native,
        Box::new(move |cc| {
            let app = match setup {
                Ok((setup, options)) => {
                    let ctx = cc.egui_ctx.clone();
                    let wake = Arc::new(move || ctx.request_repaint());
                    PairApp::new(Worker::spawn(setup, wake)?, options)
                }
                Err(message) => PairApp::not_started(message),
            };
            Ok(Box::new(app))
        }),
    );
    match result {
        Ok(()) if setup_failed => ExitCode::from(2),
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            cli::report(&format!(
                "could not open the window: {error}. On a machine without a display, use the \
                 headless commands (c2c-pair --help)."
            ));
            ExitCode::from(5)
        }
    }
}

/// The app icon, decoded from the PNG built into the binary (with eframe's own decoder).
fn window_icon() -> Option<egui::IconData> {
    eframe::icon_data::from_png_bytes(include_bytes!("../assets/icon.png")).ok()
}
