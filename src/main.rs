//! `c2c-pair`: with no command, the pairing window; with a command, one headless action.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use c2c_pair::ui::PairApp;
use c2c_pair::worker::Worker;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_logging(args.verbose, args.default_log_level());
    let Some(command) = args.command.clone() else {
        return run_gui(&args);
    };
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
    let code = runtime.block_on(cli::run(&args, command));
    // A keychain call that hung must not keep the process alive.
    runtime.shutdown_background();
    code
}

/// Logs go to stderr (`RUST_LOG` if set, else the level from `-v`) and, at debug level, to
/// the in-memory buffer that diagnostics include.
fn init_logging(verbose: u8, default_level: &str) {
    use tracing_subscriber::prelude::*;
    let level = match verbose {
        0 => default_level,
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,c2c_pair={level}")));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter);
    let buffer = tracing_subscriber::fmt::layer()
        .with_writer(c2c_pair::log_buffer::LogBuffer)
        .with_ansi(false)
        .with_target(false)
        .with_filter(EnvFilter::new("warn,c2c_pair=debug"));
    tracing_subscriber::registry()
        .with(stderr)
        .with(buffer)
        .init();
}

fn run_gui(args: &cli::Cli) -> ExitCode {
    // A bad setting still opens the window, with the error in it: launched from a desktop
    // entry, nobody would see stderr.
    let setup = args.gui_setup();
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
    if args.presenter {
        viewport = viewport.with_fullscreen(true);
    }
    let native = eframe::NativeOptions {
        viewport,
        // glow idles at a quarter of wgpu's CPU under software GL (design notes).
        renderer: eframe::Renderer::Glow,
        // Window size, theme and zoom are remembered beside the device list (egui keeps
        // cursor positions of text fields there too, never their text).
        persistence_path: args
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
