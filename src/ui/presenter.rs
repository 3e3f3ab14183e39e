//! Presenter mode, for a booth: one code at a time, sized to read across the room, high
//! contrast, centred at any resolution, looping by itself (expired codes renew, a success
//! shows for a few seconds, then a fresh code; a failure says what to do and is retried with
//! a visible back-off), with the code hideable from people standing behind the visitor
//! (RFC 8628 §5.5), and a "join the Wi-Fi" QR code when the booth has one.

use std::time::{Duration, Instant};

use egui::{Align, Color32, Key, Layout, Rect, RichText, Ui, UiBuilder, Vec2};

use super::pairing::{PairingView, Phase, group_code};
use super::qr::QrImage;
use crate::device::FailureKind;
use crate::wifi::BoothWifi;

/// The label shown instead of the code while it is hidden.
pub const HIDDEN_LABEL: &str = "Code hidden — press H to show it";
/// The headline of the screen shown when the booth cannot start at all.
pub const CANNOT_START: &str = "The booth cannot start";

/// The booth's warning when its demo server answers this laptop only.
pub const THIS_MACHINE_ONLY: &str = "The demo server answers this laptop only, so phones \
    cannot open the link. Start with --demo-listen 0.0.0.0:8480 to let phones on the booth \
    network in.";

/// Share of the shorter screen side the approval QR code takes (quiet zone included).
pub const QR_SHARE: f32 = 0.5;
/// Height of the code's text relative to the shorter screen side.
pub const CODE_SHARE: f32 = 0.11;
/// Height of the countdown's text relative to the shorter screen side: about 4 cm on a 55"
/// screen at 1080p, readable from three metres.
pub const COUNTDOWN_SHARE: f32 = 0.04;
/// Share of the shorter side the Wi-Fi QR code takes.
const WIFI_QR_SHARE: f32 = 0.2;
/// Longest pause between two tries after failures in a row.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Shortest pause after a failure, whatever the linger: never a tight loop.
const MIN_BACKOFF: Duration = Duration::from_secs(2);
const INK: Color32 = Color32::BLACK;
/// The booth screen's background, which the window is cleared to.
pub const PAPER: Color32 = Color32::WHITE;
const GOOD: Color32 = Color32::from_rgb(0, 130, 60);
const WARN: Color32 = Color32::from_rgb(170, 90, 0);
const BAD: Color32 = Color32::from_rgb(180, 20, 20);

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

/// How the booth is set up (from the configuration file).
#[derive(Debug, Clone, Default)]
pub struct BoothSetup {
    /// How long a success stays on screen before the next code.
    pub linger: Duration,
    /// The Wi-Fi phones join, shown as a second QR code.
    pub wifi: Option<BoothWifi>,
}

/// What the booth screen says about its surroundings, beside the pairing itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Surroundings<'a> {
    /// The embedded demo server is in use.
    pub demo: bool,
    /// Why the app could not start at all, if so.
    pub start_error: Option<&'a str>,
    /// Which network phones must be on, when the demo server is on the network.
    pub network: Option<&'a str>,
    /// Why phones cannot open the link, when they cannot.
    pub warning: Option<&'a str>,
    /// Why the demo server is turning connections away, for staff.
    pub strain: Option<&'a str>,
}

/// The booth loop's state.
pub struct Presenter {
    /// The pairing on screen.
    pub card: PairingView,
    /// The code and QR are hidden.
    pub hidden: bool,
    /// When the success (or failure) screen gives way to a fresh code.
    pub next_code_at: Option<Instant>,
    /// Failures in a row, for the back-off.
    pub failures: u32,
    /// The booth Wi-Fi and its QR code, built on the first frame that shows it.
    wifi: Option<(BoothWifi, Option<QrImage>)>,
    /// Height of the content last frame, to centre it vertically.
    content_height: f32,
}

impl Presenter {
    /// The booth screen for a first pairing run.
    pub fn new(card: PairingView, wifi: Option<BoothWifi>) -> Self {
        Self {
            card,
            hidden: false,
            next_code_at: None,
            failures: 0,
            wifi: wifi.map(|wifi| (wifi, None)),
            content_height: 0.0,
        }
    }

    /// The pause before the next try after `self.failures` failures in a row: the linger,
    /// doubling with each failure, at least [`MIN_BACKOFF`] and at most [`MAX_BACKOFF`].
    pub fn backoff(&self, linger: Duration) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(8);
        linger
            .max(MIN_BACKOFF)
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF)
    }

    /// Draws the booth screen over the whole window, its content centred both ways.
    pub fn show(&mut self, ui: &mut Ui, now: Instant, around: &Surroundings<'_>) {
        // No fill: the window is cleared to white while the booth is on screen (see
        // `PairApp::clear_color`); under software GL each filled pixel costs CPU every frame.
        let screen = ui.max_rect();
        let side = screen.width().min(screen.height());
        Self::footer(ui, screen, side, around);
        let margin = side * 0.03;
        let top = screen.top() + ((screen.height() - self.content_height) / 2.0).max(margin);
        let area = Rect::from_min_max(
            egui::pos2(screen.left() + margin, top),
            egui::pos2(screen.right() - margin, screen.bottom()),
        );
        let layout = Layout::top_down(Align::Center);
        let shown = ui.scope_builder(UiBuilder::new().max_rect(area).layout(layout), |ui| {
            ui.visuals_mut().override_text_color = Some(INK);
            self.content(ui, side, now, around);
        });
        // Centred with the height the content really had: a frame whose height changed is
        // laid out again before it is shown, so nothing visibly jumps.
        let height = shown.response.rect.height();
        if (height - self.content_height).abs() > 0.5 {
            self.content_height = height;
            ui.ctx().request_discard("booth screen layout");
        }
    }

    fn content(&mut self, ui: &mut Ui, side: f32, now: Instant, around: &Surroundings<'_>) {
        ui.label(
            RichText::new("Connect a camera to Frame.io")
                .size(side * 0.05)
                .strong()
                .color(INK),
        );
        ui.add_space(side * 0.02);
        if let Some(error) = around.start_error {
            return cannot_start(ui, side, error);
        }
        match &self.card.phase {
            Phase::Showing { code, .. } => {
                let left = code.expires_at.saturating_duration_since(now);
                self.code_and_qr(ui, side, left);
                network_lines(ui, side, around);
            }
            Phase::Paired(paired) => {
                ui.label(RichText::new("Paired").size(side * 0.12).color(GOOD));
                let device = paired
                    .remote_name
                    .clone()
                    .unwrap_or_else(|| paired.device_id.to_string());
                let text = match &paired.project {
                    Some(project) => format!("{device} is now connected to {project}"),
                    None => format!("{device} is now connected"),
                };
                ui.label(RichText::new(text).size(side * 0.045));
                next_code_line(ui, side, self.next_code_at, now, "Next code in");
            }
            Phase::Failed { kind, message, .. } => {
                let (headline, advice) = explain(*kind);
                ui.label(RichText::new(headline).size(side * 0.06).color(BAD));
                wrapped(ui, message, side * 0.03, side * 1.2);
                ui.add_space(side * 0.015);
                wrapped(ui, advice, side * 0.03, side * 1.2);
                next_code_line(ui, side, self.next_code_at, now, "Trying again in");
                ui.label(RichText::new("Space tries now · Esc leaves").size(side * 0.025));
            }
            Phase::Preparing(waiting) => {
                ui.label(RichText::new(waiting.label()).size(side * 0.045));
                if let Some(still) = waiting.still_waiting(now) {
                    wrapped(ui, &still, side * 0.03, side * 1.2);
                }
                network_lines(ui, side, around);
            }
            Phase::Saving => {
                ui.label(RichText::new("Approved…").size(side * 0.045));
            }
        }
    }

    fn code_and_qr(&mut self, ui: &mut Ui, side: f32, left: Duration) {
        let Phase::Showing { code, .. } = &self.card.phase else {
            return;
        };
        let link = code.verification_uri.clone();
        let grouped = group_code(&code.user_code);
        let expires_in = code.expires_in;
        let qr_side = side * QR_SHARE;
        let column = side * 0.62;
        let gap = side * 0.04;
        let wifi_side = side * WIFI_QR_SHARE;
        let wifi_width = if self.wifi.is_some() {
            wifi_side + gap
        } else {
            0.0
        };
        let hidden = self.hidden;
        let wifi = self.wifi.as_mut();
        let qr = self.card.qr.as_mut();
        let total = column + gap + qr_side + wifi_width;
        ui.allocate_ui_with_layout(
            Vec2::new(ui.available_width(), qr_side),
            Layout::left_to_right(Align::Center),
            |ui| {
                ui.add_space(((ui.available_width() - total) / 2.0).max(0.0));
                ui.allocate_ui_with_layout(
                    Vec2::new(column, qr_side),
                    Layout::top_down(Align::Min),
                    |ui| {
                        ui.set_width(column);
                        steps(ui, side, wifi.as_ref().map(|(wifi, _)| wifi.ssid.as_str()));
                        ui.add_space(side * 0.015);
                        ui.label(RichText::new("or enter this code").size(side * 0.03));
                        if hidden {
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
                            let at = format!("at {link}");
                            wrapped_at(ui, &at, side * 0.025, column, Align::Min);
                        }
                        ui.add_space(side * 0.015);
                        countdown(ui, side, column, left, expires_in);
                    },
                );
                ui.add_space(gap);
                if hidden {
                    let (rect, _) =
                        ui.allocate_exact_size(Vec2::splat(qr_side), egui::Sense::hover());
                    ui.painter().rect_filled(rect, 8.0, Color32::from_gray(220));
                } else if let Some(qr) = qr {
                    qr.show(ui, qr_side);
                }
                if let Some((wifi, image)) = wifi {
                    ui.add_space(gap);
                    wifi_code(ui, side, wifi, image);
                }
            },
        );
    }

    fn footer(ui: &mut Ui, screen: Rect, side: f32, around: &Surroundings<'_>) {
        let keys = "F11 full screen · H hide code · Space new code · Esc leave presenter mode";
        let bottom = screen.shrink(side * 0.02);
        ui.scope_builder(
            UiBuilder::new()
                .max_rect(bottom)
                .layout(Layout::bottom_up(Align::Center)),
            |ui| {
                ui.label(
                    RichText::new(keys)
                        .size(side * 0.018)
                        .color(Color32::DARK_GRAY),
                );
                if around.demo {
                    ui.label(
                        RichText::new("Demo — not connected to Frame.io")
                            .size(side * 0.02)
                            .color(WARN),
                    );
                }
            },
        );
    }

    /// When the screen next changes by itself.
    pub fn next_tick(&self, now: Instant) -> Option<Duration> {
        let countdown = self.card.next_tick(now);
        let next_code = self.next_code_at.map(|at| {
            // Wake for each second shown, and for the moment itself.
            let left = at.saturating_duration_since(now);
            let into_second = Duration::from_nanos(u64::from(left.subsec_nanos()));
            if into_second.is_zero() {
                left.min(Duration::from_secs(1))
            } else {
                into_second
            }
        });
        countdown.into_iter().chain(next_code).min()
    }
}

/// The numbered steps a visitor follows.
fn steps(ui: &mut Ui, side: f32, wifi: Option<&str>) {
    let mut lines = Vec::new();
    if let Some(ssid) = wifi {
        lines.push(format!("Join the Wi-Fi “{ssid}” (small code)"));
    }
    lines.push("Scan the big code with your phone's camera".to_owned());
    lines.push("Press Approve on the page that opens".to_owned());
    for (number, line) in lines.iter().enumerate() {
        let text = format!("{}  {line}", number + 1);
        ui.label(RichText::new(text).size(side * 0.03).strong().color(INK));
    }
}

/// The time left as large text over a thick bar.
fn countdown(ui: &mut Ui, side: f32, width: f32, left: Duration, lifetime: Duration) {
    let text = format!("New code in {} s", left.as_secs());
    ui.label(
        RichText::new(text)
            .size(side * COUNTDOWN_SHARE)
            .strong()
            .color(INK),
    );
    let fraction = if lifetime.is_zero() {
        0.0
    } else {
        (left.as_secs_f32() / lifetime.as_secs_f32()).clamp(0.0, 1.0)
    };
    let (rect, _) =
        ui.allocate_exact_size(Vec2::new(width * 0.9, side * 0.018), egui::Sense::hover());
    let painter = ui.painter();
    painter.rect_filled(rect, rect.height() / 2.0, Color32::from_gray(215));
    let mut done = rect;
    done.set_width(rect.width() * fraction);
    painter.rect_filled(done, rect.height() / 2.0, INK);
}

/// The "join the Wi-Fi" QR code with the network's name under it.
fn wifi_code(ui: &mut Ui, side: f32, wifi: &BoothWifi, image: &mut Option<QrImage>) {
    ui.allocate_ui_with_layout(
        Vec2::new(side * WIFI_QR_SHARE, side * 0.4),
        Layout::top_down(Align::Center),
        |ui| {
            ui.label(
                RichText::new("1  Wi-Fi")
                    .size(side * 0.03)
                    .strong()
                    .color(INK),
            );
            if image.is_none() {
                let label = format!("Wi-Fi code to join {}", wifi.ssid);
                *image = QrImage::labelled(ui.ctx(), &wifi.qr_payload(), label);
            }
            if let Some(image) = image {
                image.show(ui, side * WIFI_QR_SHARE);
            }
            ui.label(RichText::new(&wifi.ssid).size(side * 0.025));
        },
    );
}

/// Where phones must be, and any reason they cannot get there.
fn network_lines(ui: &mut Ui, side: f32, around: &Surroundings<'_>) {
    ui.add_space(side * 0.02);
    if let Some(network) = around.network {
        wrapped(ui, network, side * 0.025, side * 1.4);
    }
    for warning in [around.warning, around.strain].into_iter().flatten() {
        let width = (side * 1.4).min(ui.available_width());
        ui.allocate_ui_with_layout(
            Vec2::new(width, 0.0),
            Layout::top_down(Align::Center),
            |ui| {
                ui.set_max_width(width);
                let text = RichText::new(warning).size(side * 0.025).color(BAD);
                ui.add(egui::Label::new(text).wrap());
            },
        );
    }
}

/// The screen shown when the app could not start: what happened, and what to do.
fn cannot_start(ui: &mut Ui, side: f32, error: &str) {
    ui.label(RichText::new(CANNOT_START).size(side * 0.06).color(BAD));
    wrapped(ui, error, side * 0.03, side * 1.2);
    ui.add_space(side * 0.015);
    wrapped(
        ui,
        "Fix the setting named above (c2c-pair config show lists them), or free the port, \
         then start c2c-pair again. Esc leaves presenter mode.",
        side * 0.03,
        side * 1.2,
    );
}

/// A headline for booth staff and what to do, by kind of failure.
fn explain(kind: FailureKind) -> (&'static str, &'static str) {
    match kind {
        FailureKind::Network => (
            "The pairing server cannot be reached",
            "Check this laptop's network (Wi-Fi or cable). The booth tries again by itself.",
        ),
        FailureKind::SignIn => (
            "This laptop's Wi-Fi wants a sign-in",
            "Open a web page on this laptop and accept the venue's Wi-Fi terms (Esc leaves \
             presenter mode). The booth tries again by itself.",
        ),
        FailureKind::Refused => (
            "The server refused the request",
            "Check the client secret: Esc, then Settings. The booth tries again by itself.",
        ),
        FailureKind::Keychain => (
            "The OS keychain is locked or not available",
            "Unlock the keychain (log in to the desktop again, or open the keyring app). The \
             booth tries again by itself.",
        ),
        FailureKind::Usage => (
            "A setting is wrong",
            "Fix the setting named above (c2c-pair config show lists them), then press Space.",
        ),
        FailureKind::Expired => ("The code expired", "A new code comes by itself."),
    }
}

/// A centred label that wraps at `width`.
fn wrapped(ui: &mut Ui, text: &str, size: f32, width: f32) {
    wrapped_at(ui, text, size, width, Align::Center);
}

/// A label that wraps at `width`, aligned as `align` says.
fn wrapped_at(ui: &mut Ui, text: &str, size: f32, width: f32, align: Align) {
    let width = width.min(ui.available_width());
    ui.allocate_ui_with_layout(Vec2::new(width, 0.0), Layout::top_down(align), |ui| {
        ui.set_max_width(width);
        ui.add(egui::Label::new(RichText::new(text).size(size)).wrap());
    });
}

fn next_code_line(ui: &mut Ui, side: f32, at: Option<Instant>, now: Instant, what: &str) {
    if let Some(at) = at {
        let left = at.saturating_duration_since(now).as_secs_f32().ceil();
        ui.add_space(side * 0.03);
        ui.label(RichText::new(format!("{what} {left} s")).size(side * 0.03));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceId;

    fn presenter() -> Presenter {
        let card = PairingView {
            run: 1,
            device_id: DeviceId::parse("booth-1").unwrap(),
            name: None,
            firmware: None,
            phase: Phase::Saving,
            qr: None,
        };
        Presenter::new(card, None)
    }

    #[test]
    fn failures_back_off_doubling_up_to_a_minute_never_in_a_tight_loop() {
        let mut booth = presenter();
        let linger = Duration::from_secs(8);
        let waits: Vec<u64> = (1..=6)
            .map(|n| {
                booth.failures = n;
                booth.backoff(linger).as_secs()
            })
            .collect();
        assert_eq!(waits, [8, 16, 32, 60, 60, 60]);
        booth.failures = 1;
        assert_eq!(booth.backoff(Duration::from_millis(100)), MIN_BACKOFF);
        booth.failures = u32::MAX;
        assert_eq!(booth.backoff(linger), MAX_BACKOFF);
    }
}
