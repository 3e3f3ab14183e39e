//! The floor of the window figures: a bare eframe 0.37 window, glow renderer, the app's
//! default size, repainting once a second (the rate of the app's countdown). Shared by the
//! benches and `examples/bare_window.rs` (whose stripped size is the binary-size floor).

use std::process::ExitCode;
use std::time::Duration;

/// What the bare window logs on its first frame.
pub const FIRST_FRAME: &str = "bare window: first frame";

struct Bare {
    first: bool,
}

impl eframe::App for Bare {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if std::mem::take(&mut self.first) {
            eprintln!("{FIRST_FRAME}");
        }
        egui::CentralPanel::default().show(ui, |ui| ui.label("bare eframe window"));
        ui.ctx().request_repaint_after(Duration::from_secs(1));
    }
}

/// Opens the window at the app's default size and runs until it is closed or killed; fails
/// if the window cannot open.
pub fn run() -> ExitCode {
    run_sized([1180.0, 760.0])
}

/// The same window at `size` points (the presenter's floor: the whole display).
pub fn run_sized(size: [f32; 2]) -> ExitCode {
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_inner_size(size)
            .with_position([0.0, 0.0]),
        ..Default::default()
    };
    let opened = eframe::run_native(
        "bare",
        options,
        Box::new(|_| Ok(Box::new(Bare { first: true }))),
    );
    if let Err(error) = opened {
        eprintln!("bare window: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
