//! `c2c-pair`: with no command, the pairing window; with a command, one headless action.

mod cli;

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

/// Logs go to stderr: `RUST_LOG` if set, else the level from `-v`.
fn init_logging(verbose: u8, default_level: &str) {
    let level = match verbose {
        0 => default_level,
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,c2c_pair={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn run_gui(args: &cli::Cli) -> ExitCode {
    let (choice, options) = match args.gui_setup() {
        Ok(setup) => setup,
        Err(message) => {
            cli::report(&message);
            return ExitCode::from(2);
        }
    };
    let keychain = args.keychain();
    let viewport = egui::ViewportBuilder::default()
        .with_title("C2C Pairing Assistant")
        .with_app_id("c2c-pair")
        .with_inner_size([920.0, 600.0])
        .with_min_inner_size([640.0, 420.0]);
    let native = eframe::NativeOptions {
        viewport,
        // glow idles at a quarter of wgpu's CPU under software GL (design notes).
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    let result = eframe::run_native(
        "C2C Pairing Assistant",
        native,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let worker = Worker::spawn(choice, keychain, Arc::new(move || ctx.request_repaint()))?;
            Ok(Box::new(PairApp::new(worker, options)))
        }),
    );
    match result {
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
