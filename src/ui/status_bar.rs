//! The bar at the bottom of the window: whether the server can be reached, the theme, the
//! zoom (also Ctrl +, Ctrl -, Ctrl 0), and "Copy diagnostics".

use std::time::{Duration, Instant};

use egui::{Color32, RichText, Ui};

use super::intent::Intent;
use crate::worker::{NetworkProblem, NetworkStatus};

/// Longest "Checking the network…" is shown before the bar says no answer came yet.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(15);

/// What the bar shows: the network as the worker last saw it, and the diagnostics.
pub struct StatusBar {
    /// Whether the server answers, as the worker last said.
    pub network: Option<NetworkStatus>,
    /// When the window began waiting for the first word on the network.
    since: Instant,
    /// Diagnostics being gathered.
    gathering: bool,
    /// The last diagnostics, shown in their own window until closed.
    diagnostics: Option<String>,
}

impl Default for StatusBar {
    fn default() -> Self {
        Self {
            network: None,
            since: Instant::now(),
            gathering: false,
            diagnostics: None,
        }
    }
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

    /// Draws the bar, and the diagnostics window while it is open; `start_error`: why no
    /// server could be set up, if so (then nothing is being checked).
    pub fn ui(&mut self, ui: &mut Ui, start_error: Option<&str>) -> Option<Intent> {
        let light = Light::of(self.network.as_ref(), start_error, self.since.elapsed());
        if let Light::Checking { left } = light {
            ui.ctx().request_repaint_after(left);
        }
        let intent = show(ui, &light, self.gathering);
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

/// What the light says.
#[derive(Debug, Clone, PartialEq)]
enum Light<'a> {
    /// No word yet, for at most `left` more.
    Checking { left: Duration },
    /// No word within [`CHECK_DEADLINE`].
    NoAnswerYet,
    /// No server could be set up, so none is checked: why.
    NotConnected(&'a str),
    /// The worker's last word.
    Seen(&'a NetworkStatus),
}

impl<'a> Light<'a> {
    fn of(
        network: Option<&'a NetworkStatus>,
        start_error: Option<&'a str>,
        waited: Duration,
    ) -> Self {
        match (network, start_error) {
            (Some(status), _) => Self::Seen(status),
            (None, Some(why)) => Self::NotConnected(why),
            (None, None) if waited < CHECK_DEADLINE => Self::Checking {
                left: CHECK_DEADLINE.saturating_sub(waited),
            },
            (None, None) => Self::NoAnswerYet,
        }
    }
}

/// Draws the bar.
fn show(ui: &mut Ui, light: &Light<'_>, gathering: bool) -> Option<Intent> {
    let mut action = None;
    egui::Panel::bottom("status-bar")
        .frame(super::unfilled(egui::Frame::side_top_panel(ui.style())))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                indicator(ui, light);
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

fn indicator(ui: &mut Ui, light: &Light<'_>) {
    let amber = Color32::from_rgb(230, 150, 0);
    let (colour, text, detail) = match light {
        Light::Checking { .. } => (Color32::GRAY, "Checking the network…".to_owned(), None),
        Light::NoAnswerYet => (
            amber,
            "No answer from the server yet".to_owned(),
            Some(
                "The first check has taken longer than 15 s; it goes on. Copy diagnostics says where it stops.",
            ),
        ),
        Light::NotConnected(why) => (amber, "Not connected".to_owned(), Some(*why)),
        Light::Seen(NetworkStatus {
            server,
            problem: None,
        }) => (
            Color32::from_rgb(0, 160, 70),
            format!("Online: {server} answers"),
            None,
        ),
        Light::Seen(NetworkStatus {
            problem:
                Some(NetworkProblem {
                    text: problem,
                    sign_in: Some(_),
                }),
            ..
        }) => (
            amber,
            "Wi-Fi sign-in needed".to_owned(),
            Some(problem.as_str()),
        ),
        Light::Seen(NetworkStatus {
            server,
            problem: Some(problem),
        }) => (
            Color32::from_rgb(220, 50, 40),
            format!("Offline: cannot reach {server}"),
            Some(problem.text.as_str()),
        ),
    };
    let (dot, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
    ui.painter().circle_filled(dot.center(), 5.0, colour);
    let label = ui.label(text);
    if let Some(detail) = detail {
        label.on_hover_text(detail);
    }
    if let Light::Seen(NetworkStatus {
        problem: Some(NetworkProblem {
            sign_in: Some(page),
            ..
        }),
        ..
    }) = light
    {
        ui.hyperlink_to("Open the sign-in page", page)
            .on_hover_text(page.as_str());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checking_has_a_deadline_and_a_server_never_set_up_is_not_checked() {
        let second = Duration::from_secs(1);
        assert_eq!(
            Light::of(None, None, second),
            Light::Checking {
                left: Duration::from_secs(14)
            }
        );
        assert_eq!(Light::of(None, None, CHECK_DEADLINE), Light::NoAnswerYet);
        assert_eq!(
            Light::of(None, Some("no client secret"), second),
            Light::NotConnected("no client secret")
        );
        let seen = NetworkStatus {
            server: "api.frame.io".into(),
            problem: None,
        };
        assert_eq!(
            Light::of(Some(&seen), Some("old"), CHECK_DEADLINE),
            Light::Seen(&seen)
        );
    }
}
