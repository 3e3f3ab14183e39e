//! The bar at the bottom of the window: whether the server can be reached, the theme, the
//! zoom (also Ctrl +, Ctrl -, Ctrl 0), and "Copy diagnostics".

use egui::{Color32, RichText, Ui};

use super::intent::Intent;
use crate::worker::NetworkStatus;

/// What the bar shows: the network as the worker last saw it, and the diagnostics.
#[derive(Default)]
pub struct StatusBar {
    /// Whether the server answers, as the worker last said.
    pub network: Option<NetworkStatus>,
    /// Diagnostics being gathered.
    gathering: bool,
    /// The last diagnostics, shown in their own window until closed.
    diagnostics: Option<String>,
}

impl StatusBar {
    /// Diagnostics were asked for.
    pub fn gathering(&mut self) {
        self.gathering = true;
    }

    /// The diagnostics arrived: they are copied at once and shown until closed.
    pub fn gathered(&mut self, ctx: &egui::Context, text: String) {
        ctx.copy_text(text.clone());
        self.gathering = false;
        self.diagnostics = Some(text);
    }

    /// Draws the bar, and the diagnostics window while it is open.
    pub fn ui(&mut self, ui: &mut Ui) -> Option<Intent> {
        let intent = show(ui, self.network.as_ref(), self.gathering);
        if let Some(text) = &self.diagnostics {
            let (open, copy_again) = diagnostics_window(ui.ctx(), text);
            if copy_again {
                ui.ctx().copy_text(text.clone());
            }
            if !open {
                self.diagnostics = None;
            }
        }
        intent
    }
}

/// Draws the bar.
fn show(ui: &mut Ui, network: Option<&NetworkStatus>, gathering: bool) -> Option<Intent> {
    let mut action = None;
    egui::Panel::bottom("status-bar")
        .frame(super::unfilled(egui::Frame::side_top_panel(ui.style())))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                indicator(ui, network);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let copy = ui
                        .add_enabled(!gathering, egui::Button::new("Copy diagnostics"))
                        .on_hover_text(
                            "Versions, keychain, network checks and the recent log, secrets \
                         removed, for a support ticket",
                        );
                    if copy.clicked() {
                        action = Some(Intent::Diagnose);
                    }
                    if gathering {
                        ui.label("Gathering diagnostics…");
                    }
                    ui.separator();
                    zoom(ui);
                    ui.separator();
                    theme(ui);
                });
            });
        });
    action
}

fn indicator(ui: &mut Ui, network: Option<&NetworkStatus>) {
    let (colour, text, detail) = match network {
        None => (Color32::GRAY, "Checking the network…".to_owned(), None),
        Some(NetworkStatus {
            server,
            problem: None,
        }) => (
            Color32::from_rgb(0, 160, 70),
            format!("Online: {server} answers"),
            None,
        ),
        Some(NetworkStatus {
            server,
            problem: Some(problem),
        }) => (
            Color32::from_rgb(220, 50, 40),
            format!("Offline: cannot reach {server}"),
            Some(problem.as_str()),
        ),
    };
    let (dot, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
    ui.painter().circle_filled(dot.center(), 5.0, colour);
    let label = ui.label(text);
    if let Some(detail) = detail {
        label.on_hover_text(detail);
    }
}

fn zoom(ui: &mut Ui) {
    let ctx = ui.ctx().clone();
    // Right to left: the first drawn is rightmost.
    if ui.button("Zoom in").on_hover_text("Ctrl +").clicked() {
        egui::gui_zoom::zoom_in(&ctx);
    }
    ui.label(format!("{:.0} %", ctx.zoom_factor() * 100.0));
    if ui.button("Zoom out").on_hover_text("Ctrl -").clicked() {
        egui::gui_zoom::zoom_out(&ctx);
    }
}

/// The gathered diagnostics in a window of their own, selectable, with "Copy again".
/// Returns whether it stays open, and whether to copy again.
fn diagnostics_window(ctx: &egui::Context, text: &str) -> (bool, bool) {
    let mut open = true;
    let mut copy = false;
    egui::Window::new("Diagnostics")
        .open(&mut open)
        .default_size([640.0, 420.0])
        .show(ctx, |ui| {
            ui.label("Copied to the clipboard, secrets removed. Paste them into your ticket.");
            if let Some(dir) = crate::log_file::active_dir() {
                let path = dir.join(crate::log_file::FILE_NAME);
                ui.horizontal_wrapped(|ui| {
                    ui.label("Attach the log file too:");
                    let path = RichText::new(path.display().to_string()).monospace();
                    ui.add(egui::Label::new(path).selectable(true));
                });
            }
            if ui.button("Copy again").clicked() {
                copy = true;
            }
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.add(egui::Label::new(RichText::new(text).monospace()).selectable(true));
            });
        });
    (open, copy)
}

/// Dark, Light, or as the system says (right to left, so System ends up first).
fn theme(ui: &mut Ui) {
    let mut preference = ui.ctx().options(|o| o.theme_preference);
    let before = preference;
    for (choice, name) in [
        (egui::ThemePreference::Dark, "Dark"),
        (egui::ThemePreference::Light, "Light"),
        (egui::ThemePreference::System, "System theme"),
    ] {
        ui.selectable_value(&mut preference, choice, name);
    }
    if preference != before {
        ui.ctx().set_theme(preference);
    }
}
