//! Presenter mode, for a booth: one code at a time, sized to read across the room, high
//! contrast, looping by itself (expired codes renew, a success shows for a few seconds, then
//! a fresh code), with the code hideable from people standing behind the visitor
//! (RFC 8628 §5.5).

use std::time::{Duration, Instant};

use egui::{Align, Color32, Key, Layout, RichText, Ui};

use super::pairing::{PairingView, Phase, group_code};

/// The label shown instead of the code while it is hidden.
pub const HIDDEN_LABEL: &str = "Code hidden — press H to show it";

/// What a key press asks for in presenter mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenterKey {
    /// Space: a fresh code now.
    NewCode,
    /// Escape: back to the normal window.
    Leave,
    /// F11: full screen on or off.
    ToggleFullscreen,
    /// H: hide or show the code and QR.
    ToggleHidden,
}

/// The keys pressed this frame that presenter mode acts on.
pub fn keys(ui: &Ui) -> Vec<PresenterKey> {
    ui.input(|input| {
        [
            (Key::Space, PresenterKey::NewCode),
            (Key::Escape, PresenterKey::Leave),
            (Key::F11, PresenterKey::ToggleFullscreen),
            (Key::H, PresenterKey::ToggleHidden),
        ]
        .into_iter()
        .filter(|(key, _)| input.key_pressed(*key))
        .map(|(_, action)| action)
        .collect()
    })
}

/// The booth loop's state.
pub struct Presenter {
    /// The pairing on screen.
    pub card: PairingView,
    /// The code and QR are hidden.
    pub hidden: bool,
    /// When the success (or failure) screen gives way to a fresh code.
    pub next_code_at: Option<Instant>,
}

/// Share of the shorter screen side the QR code takes (quiet zone included).
const QR_SHARE: f32 = 0.55;
/// Size of the code relative to the shorter screen side.
const CODE_SHARE: f32 = 0.12;
const INK: Color32 = Color32::BLACK;
const PAPER: Color32 = Color32::WHITE;

impl Presenter {
    /// Draws the booth screen over the whole window.
    pub fn show(&mut self, ui: &mut Ui, now: Instant, demo: bool) {
        let size = ui.available_size();
        let side = size.x.min(size.y);
        let frame = egui::Frame::new()
            .fill(PAPER)
            .inner_margin(egui::Margin::same(24));
        frame.show(ui, |ui| {
            ui.set_min_size(ui.available_size());
            ui.visuals_mut().override_text_color = Some(INK);
            ui.vertical_centered(|ui| {
                ui.label(
                    RichText::new("Connect a camera to Frame.io")
                        .size(side * 0.05)
                        .strong()
                        .color(INK),
                );
                ui.add_space(side * 0.02);
                match &self.card.phase {
                    Phase::Showing { code, .. } => {
                        let left = code.expires_at.saturating_duration_since(now);
                        self.code_and_qr(ui, side, left);
                    }
                    Phase::Paired(paired) => {
                        ui.label(
                            RichText::new("Paired")
                                .size(side * 0.12)
                                .color(Color32::from_rgb(0, 140, 60)),
                        );
                        let device = paired
                            .remote_name
                            .clone()
                            .unwrap_or_else(|| paired.device_id.clone());
                        let text = match &paired.project {
                            Some(project) => format!("{device} is now connected to {project}"),
                            None => format!("{device} is now connected"),
                        };
                        ui.label(RichText::new(text).size(side * 0.045));
                        next_code_line(ui, side, self.next_code_at, now);
                    }
                    Phase::Failed { message, .. } => {
                        ui.label(RichText::new("Something went wrong").size(side * 0.06));
                        ui.label(RichText::new(message).size(side * 0.025));
                        next_code_line(ui, side, self.next_code_at, now);
                    }
                    Phase::Preparing(_) | Phase::Saving => {
                        ui.label(RichText::new("Getting a code…").size(side * 0.045));
                    }
                }
            });
            ui.with_layout(Layout::bottom_up(Align::Center), |ui| {
                let keys =
                    "F11 full screen · H hide code · Space new code · Esc leave presenter mode";
                ui.label(
                    RichText::new(keys)
                        .size(side * 0.018)
                        .color(Color32::DARK_GRAY),
                );
                if demo {
                    ui.label(
                        RichText::new("Demo — not connected to Frame.io")
                            .size(side * 0.02)
                            .color(Color32::from_rgb(160, 100, 0)),
                    );
                }
            });
        });
    }

    fn code_and_qr(&mut self, ui: &mut Ui, side: f32, left: Duration) {
        let Phase::Showing { code, .. } = &self.card.phase else {
            return;
        };
        let link = code.verification_uri.clone();
        let grouped = group_code(&code.user_code);
        let expires_in = code.expires_in;
        ui.horizontal_top(|ui| {
            // Centre the pair: code column and QR side by side.
            let qr_side = side * QR_SHARE;
            let code_width = side * CODE_SHARE * 0.62 * grouped.chars().count() as f32;
            let pad = ((ui.available_width() - qr_side - code_width - 48.0) / 2.0).max(0.0);
            ui.add_space(pad);
            ui.vertical(|ui| {
                ui.add_space(qr_side * 0.2);
                ui.label(RichText::new("Enter this code").size(side * 0.035));
                if self.hidden {
                    ui.label(RichText::new(HIDDEN_LABEL).size(side * 0.04));
                } else {
                    ui.label(
                        RichText::new(grouped)
                            .monospace()
                            .size(side * CODE_SHARE)
                            .strong()
                            .color(INK),
                    );
                }
                if let Some(link) = link {
                    ui.label(RichText::new(format!("at {link}")).size(side * 0.03));
                }
                let fraction = if expires_in.is_zero() {
                    0.0
                } else {
                    left.as_secs_f32() / expires_in.as_secs_f32()
                };
                ui.add(
                    egui::ProgressBar::new(fraction)
                        .desired_width(code_width.max(side * 0.3))
                        .text(format!("New code in {} s", left.as_secs())),
                );
            });
            ui.add_space(48.0);
            if self.hidden {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(qr_side, qr_side), egui::Sense::hover());
                ui.painter().rect_filled(rect, 8.0, Color32::from_gray(220));
            } else if let Some(qr) = self.card.qr.as_mut() {
                qr.show(ui, qr_side);
            }
        });
    }

    /// When the screen next changes by itself.
    pub fn next_tick(&self, now: Instant) -> Option<Duration> {
        let countdown = self.card.next_tick(now);
        let next_code = self
            .next_code_at
            .map(|at| at.saturating_duration_since(now));
        countdown.into_iter().chain(next_code).min()
    }
}

fn next_code_line(ui: &mut Ui, side: f32, next_code_at: Option<Instant>, now: Instant) {
    if let Some(at) = next_code_at {
        let left = at.saturating_duration_since(now).as_secs_f32().ceil();
        ui.add_space(side * 0.03);
        ui.label(RichText::new(format!("Next code in {left} s")).size(side * 0.025));
    }
}
