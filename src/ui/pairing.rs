//! The pairing screen: the code large, the QR, the link, copy and open buttons, the countdown
//! and the poll status, and what comes after (paired, expired, failed).

use std::time::{Duration, Instant};

use egui::{Align, Color32, Layout, RichText, Ui};

use super::qr::QrImage;
use crate::c2c::PollStatus;
use crate::device::{CodeDisplay, DeviceId, FailureKind, PairedDevice, Remedy};
use crate::worker::RunEnd;

/// After this long, a wait before the code says what it is waiting for.
const STILL_WAITING_AFTER: Duration = Duration::from_secs(3);

/// What a run waits for before its code is on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The app is still connecting to its server.
    Starting,
    /// The OS keychain is being checked.
    Keychain,
    /// The server was asked for a code.
    Code,
}

/// A step before the code, and since when it has been waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// What is being waited for.
    pub step: Step,
    /// Since when.
    pub since: Instant,
}

impl Waiting {
    /// A wait for `step` starting now.
    pub fn now(step: Step) -> Self {
        Self {
            step,
            since: Instant::now(),
        }
    }

    /// What is happening, in a few words.
    pub fn label(&self) -> &'static str {
        match self.step {
            Step::Starting => "Starting…",
            Step::Keychain => "Checking the OS keychain…",
            Step::Code => "Asking for a pairing code…",
        }
    }

    /// Once the wait is long, what it is waiting for and what might help.
    pub fn still_waiting(&self, now: Instant) -> Option<String> {
        let waited = now.saturating_duration_since(self.since);
        if waited < STILL_WAITING_AFTER {
            return None;
        }
        let secs = waited.as_secs();
        Some(match self.step {
            Step::Starting => format!(
                "Still connecting to the pairing server after {secs} s. If the OS keychain asks                  for a password, unlock it; the prompt may be behind this window."
            ),
            Step::Keychain => format!(
                "The OS keychain has not answered for {secs} s. If it asks for a password,                  unlock it; the prompt may be behind this window."
            ),
            Step::Code => format!(
                "The server has not answered for {secs} s. Check this computer's network                  connection; the request is repeated by itself."
            ),
        })
    }
}

/// Where one pairing run stands, as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Before the code: checking the keychain, asking for a code.
    Preparing(Waiting),
    /// A code is on screen.
    Showing {
        /// The code and links.
        code: CodeDisplay,
        /// What the last poll said.
        status: Option<PollStatus>,
        /// When the next poll goes out.
        next_check: Option<Instant>,
    },
    /// Approved; the tokens are being saved.
    Saving,
    /// Done.
    Paired(PairedDevice),
    /// Ended without tokens.
    Failed {
        /// Family of the failure (expired codes get a "New code" button first).
        kind: FailureKind,
        /// What happened and what to do.
        message: String,
        /// Tokens exist and wait to be saved.
        can_retry_save: bool,
        /// What the user must fix, said with the control that fixes it.
        remedy: Option<Remedy>,
    },
}

impl Phase {
    /// Where a run that ended stands: paired or failed; `None` for a cancelled run, whose
    /// card goes away.
    pub fn ended(end: RunEnd) -> Option<Self> {
        match end {
            RunEnd::Paired(paired) => Some(Self::Paired(paired)),
            RunEnd::Failed {
                kind,
                message,
                can_retry_save,
                remedy,
            } => Some(Self::Failed {
                kind,
                message,
                can_retry_save,
                remedy,
            }),
            RunEnd::Cancelled => None,
        }
    }
}

/// One device's pairing run on screen.
pub struct PairingView {
    /// Tags this run's events.
    pub run: u64,
    /// The device being paired.
    pub device_id: DeviceId,
    /// Its optional display name.
    pub name: Option<String>,
    /// Its optional firmware version (`x-client-version`), kept for a new code.
    pub firmware: Option<String>,
    /// Where it stands.
    pub phase: Phase,
    /// The QR of the current link, built when the code arrives.
    pub qr: Option<QrImage>,
}

/// What the user asked for on the pairing screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop this run.
    Cancel,
    /// Request a fresh code for the same device.
    NewCode,
    /// Save the waiting tokens again.
    RetrySave,
    /// Back to the start screen.
    Done,
}

/// How large to draw a pairing: alone on screen, or as one card among several.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Size of the user code, in points.
    pub code: f32,
    /// Largest QR side, in points.
    pub qr: f32,
    /// Width of the column beside the QR (code, link, buttons, countdown).
    pub column: f32,
}

impl Scale {
    /// One pairing on screen.
    pub const SINGLE: Self = Self {
        code: 64.0,
        qr: 260.0,
        column: 320.0,
    };
    /// Several pairings side by side.
    pub const CARD: Self = Self {
        code: 40.0,
        qr: 150.0,
        column: 220.0,
    };
}

impl PairingView {
    /// Draws the screen; returns what the user clicked.
    pub fn show(&mut self, ui: &mut Ui, now: Instant, scale: Scale) -> Option<Action> {
        let title = match &self.name {
            Some(name) => format!("Pairing {name} ({})", self.device_id),
            None => format!("Pairing {}", self.device_id),
        };
        ui.heading(title);
        ui.add_space(8.0);
        match &self.phase {
            // Plain text, not a spinner: a spinner repaints every frame while a slow server
            // makes us wait.
            Phase::Preparing(waiting) => {
                ui.label(waiting.label());
                if let Some(still) = waiting.still_waiting(now) {
                    ui.add(egui::Label::new(still).wrap());
                }
                cancel_button(ui)
            }
            Phase::Showing {
                code,
                status,
                next_check,
            } => show_code(
                ui,
                code,
                status.as_ref(),
                *next_check,
                self.qr.as_mut(),
                now,
                scale,
            ),
            Phase::Saving => {
                ui.label("Approved. Saving the credentials in the OS keychain…");
                None
            }
            Phase::Paired(paired) => show_paired(ui, paired, self.name.as_deref()),
            Phase::Failed {
                kind,
                message,
                can_retry_save,
                remedy,
            } => show_failed(ui, *kind, message, *can_retry_save, remedy.as_ref()),
        }
    }

    /// Still working towards an end (not paired, failed or cancelled yet).
    pub fn is_running(&self) -> bool {
        matches!(
            self.phase,
            Phase::Preparing(_) | Phase::Showing { .. } | Phase::Saving
        )
    }

    /// When the screen next changes by itself (the countdown, or the seconds of a long wait
    /// before the code), if it does.
    pub fn next_tick(&self, now: Instant) -> Option<Duration> {
        let left = match &self.phase {
            Phase::Showing { code, .. } => code.expires_at.saturating_duration_since(now),
            // Counting up: wake at the next whole second of the wait.
            Phase::Preparing(waiting) => {
                let waited = now.saturating_duration_since(waiting.since);
                Duration::from_secs(1)
                    .checked_sub(Duration::from_nanos(u64::from(waited.subsec_nanos())))
                    .unwrap_or(Duration::ZERO)
            }
            _ => return None,
        };
        // Wake at the next whole second of the countdown, so the digits change on time.
        let into_second = Duration::from_nanos(u64::from(left.subsec_nanos()));
        Some(if into_second.is_zero() {
            Duration::from_secs(1)
        } else {
            into_second
        })
    }
}

fn show_code(
    ui: &mut Ui,
    code: &CodeDisplay,
    status: Option<&PollStatus>,
    next_check: Option<Instant>,
    qr: Option<&mut QrImage>,
    now: Instant,
    scale: Scale,
) -> Option<Action> {
    let mut action = None;
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.label("Enter this code in Frame.io:");
            ui.label(
                RichText::new(group_code(&code.user_code))
                    .monospace()
                    .size(scale.code)
                    .strong(),
            );
            match &code.verification_uri {
                Some(uri) => {
                    ui.label("at");
                    ui.hyperlink_to(RichText::new(uri).size(18.0), uri);
                }
                None => {
                    ui.label("in Frame.io on the web or iOS, under C2C Connections.");
                }
            }
            ui.add_space(8.0);
            ui.horizontal_wrapped(|ui| {
                ui.set_max_width(scale.column);
                if ui.button("Copy code").clicked() {
                    ui.ctx().copy_text(code.user_code.clone());
                }
                if let Some(link) = code.qr_target() {
                    if ui.button("Copy link").clicked() {
                        ui.ctx().copy_text(link.to_owned());
                    }
                    if ui.button("Open in browser").clicked() {
                        ui.ctx().open_url(egui::OpenUrl::new_tab(link));
                    }
                }
            });
            ui.add_space(12.0);
            let left = code.expires_at.saturating_duration_since(now);
            let fraction = if code.expires_in.is_zero() {
                0.0
            } else {
                left.as_secs_f32() / code.expires_in.as_secs_f32()
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(scale.column)
                    .text(format!("Code expires in {}", clock(left))),
            );
            ui.label(status_line(status, next_check, now));
            ui.add_space(12.0);
            action = cancel_button(ui);
        });
        if let Some(qr) = qr {
            ui.add_space(24.0);
            ui.vertical(|ui| {
                qr.show(ui, scale.qr);
                ui.label(RichText::new("Scan to open the link with the code filled in").small());
            });
        }
    });
    action
}

fn cancel_button(ui: &mut Ui) -> Option<Action> {
    ui.button("Cancel").clicked().then_some(Action::Cancel)
}

fn show_paired(ui: &mut Ui, paired: &PairedDevice, name: Option<&str>) -> Option<Action> {
    ui.label(
        RichText::new("Paired")
            .size(40.0)
            .color(Color32::from_rgb(80, 200, 120)),
    );
    let device = match name {
        Some(name) => format!("Device {} ({name})", paired.device_id),
        None => format!("Device {}", paired.device_id),
    };
    ui.label(RichText::new(device).size(18.0));
    match (&paired.project, &paired.project_error) {
        (Some(project), _) => {
            ui.label(RichText::new(format!("Connected to project {project}")).size(18.0));
        }
        (None, Some(error)) => {
            ui.label(format!("The connected project could not be read: {error}"));
        }
        (None, None) => {}
    }
    if let Some(remote) = &paired.remote_name {
        ui.label(format!("Shown in Frame.io as {remote}"));
    }
    ui.label(format!(
        "The credentials are stored in the OS keychain ({}) as {}.",
        paired.keychain, paired.keychain_account
    ));
    if paired.no_refresh_token {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("Note: {}.", crate::device::NO_REFRESH_TOKEN),
        );
    }
    if let Some(error) = &paired.registry_error {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("It could not be added to the device list: {error}"),
        );
    }
    ui.add_space(12.0);
    ui.button("Close").clicked().then_some(Action::Done)
}

fn show_failed(
    ui: &mut Ui,
    kind: FailureKind,
    message: &str,
    can_retry_save: bool,
    remedy: Option<&Remedy>,
) -> Option<Action> {
    let headline = match kind {
        FailureKind::Expired => "The code expired",
        FailureKind::Keychain if can_retry_save => "Approved, but not saved yet",
        FailureKind::Keychain => "The keychain is not usable",
        FailureKind::Refused => "The server refused",
        FailureKind::Network => "Network or server problem",
        FailureKind::SignIn => "This Wi-Fi wants a sign-in first",
        FailureKind::Usage => "Check the settings",
    };
    ui.label(
        RichText::new(headline)
            .size(24.0)
            .color(ui.visuals().warn_fg_color),
    );
    ui.add(egui::Label::new(message).wrap());
    match remedy {
        Some(Remedy::ClientSecret) => {
            ui.add(
                egui::Label::new(
                    "Enter this device model's client secret under Settings (below), then \
                     get a new code.",
                )
                .wrap(),
            );
        }
        Some(Remedy::SignIn { page }) => {
            ui.hyperlink_to("Open the sign-in page in your browser", page)
                .on_hover_text(page.as_str());
            ui.label("Accept it there, then get a new code.");
        }
        None => {}
    }
    ui.add_space(12.0);
    let mut action = None;
    ui.with_layout(Layout::left_to_right(Align::Min), |ui| {
        if can_retry_save {
            if ui.button("Retry saving").clicked() {
                action = Some(Action::RetrySave);
            }
            return;
        }
        if ui.button("New code").clicked() {
            action = Some(Action::NewCode);
        }
        if ui.button("Back").clicked() {
            action = Some(Action::Done);
        }
    });
    action
}

fn status_line(status: Option<&PollStatus>, next_check: Option<Instant>, now: Instant) -> String {
    let next = next_check.map(|at| at.saturating_duration_since(now).as_secs_f64().ceil());
    let when = match next {
        Some(secs) if secs >= 1.0 => format!("next check in {secs} s"),
        Some(_) => "checking now".to_owned(),
        None => "first check soon".to_owned(),
    };
    match status {
        None | Some(PollStatus::Pending) => format!("Waiting for approval — {when}"),
        Some(other) => format!("{other} — {when}"),
    }
}

/// `204518` → `204 518`, `WDJBMJHT` → `WDJB MJHT`: grouped for reading. Codes that already
/// carry separators, or have other lengths, are shown as issued.
pub fn group_code(code: &str) -> String {
    let plain = code.chars().all(|c| c.is_ascii_alphanumeric());
    let chars: Vec<char> = code.chars().collect();
    let group = match chars.len() {
        6 | 9 => 3,
        8 => 4,
        _ => return code.to_owned(),
    };
    if !plain {
        return code.to_owned();
    }
    chars
        .chunks(group)
        .map(|chunk| chunk.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `m:ss`.
fn clock(left: Duration) -> String {
    let secs = left.as_secs_f64().ceil() as u64;
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_only_when_plain() {
        assert_eq!(group_code("204518"), "204 518");
        assert_eq!(group_code("012345"), "012 345");
        assert_eq!(group_code("WDJBMJHT"), "WDJB MJHT");
        assert_eq!(group_code("WDJB-MJHT"), "WDJB-MJHT");
        assert_eq!(group_code("1234567"), "1234567");
    }

    #[test]
    fn countdown_and_status_read_naturally() {
        assert_eq!(clock(Duration::from_secs(120)), "2:00");
        assert_eq!(clock(Duration::from_millis(59_100)), "1:00");
        assert_eq!(clock(Duration::ZERO), "0:00");
        let now = Instant::now();
        assert_eq!(
            status_line(
                Some(&PollStatus::Pending),
                Some(now + Duration::from_millis(2_400)),
                now
            ),
            "Waiting for approval — next check in 3 s"
        );
    }
}
