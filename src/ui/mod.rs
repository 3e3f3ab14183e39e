//! egui views only: no I/O, no awaiting, no sleeping. Each frame drains the worker's events,
//! draws, and turns clicks into commands.

mod pairing;
pub mod qr;

use std::time::Instant;

use egui::{Color32, Key, RichText, Ui};
use secrecy::SecretString;

use crate::device::{DeviceId, PairEvent};
use crate::worker::{Command, Event, Mode, RunEnd, Worker};
pub use pairing::group_code;
use pairing::{Action, PairingView, Phase};

/// Label of the device id field, also its accessible name.
pub const DEVICE_ID_LABEL: &str = "Device id (serial number or UUID)";
/// Label of the optional name field.
pub const NAME_LABEL: &str = "Name (optional)";
/// Label of the client secret field.
pub const SECRET_LABEL: &str = "Frame.io client secret";

/// Width of the pairing screen's content: the code column and the QR.
const PAIRING_WIDTH: f32 = 700.0;
/// Width of the start screen's content.
const START_WIDTH: f32 = 560.0;

/// Lays out `add` in a column at most `width` points wide, centred in the space left.
fn centred<R>(ui: &mut Ui, width: f32, add: impl FnOnce(&mut Ui) -> R) -> R {
    let pad = ((ui.available_width() - width) / 2.0).max(0.0);
    ui.horizontal_top(|ui| {
        ui.add_space(pad);
        ui.vertical(|ui| {
            ui.set_max_width(width);
            add(ui)
        })
        .inner
    })
    .inner
}

/// Start-up options of the window.
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// Start pairing this device at once.
    pub device_id: Option<DeviceId>,
    /// Its optional name.
    pub name: Option<String>,
}

/// The app: view state plus the worker handle.
pub struct PairApp {
    worker: Option<Worker>,
    mode: Option<Mode>,
    start_error: Option<String>,
    device_input: String,
    name_input: String,
    input_error: Option<String>,
    secret_input: String,
    secret_status: Option<Result<(), String>>,
    pairing: Option<PairingView>,
    next_attempt: u64,
    notice: Option<String>,
}

impl PairApp {
    /// A new window state driving `worker`.
    pub fn new(worker: Worker, options: UiOptions) -> Self {
        let mut app = Self::with_worker(Some(worker), options.name.clone());
        if let Some(device_id) = options.device_id {
            app.device_input = device_id.to_string();
            app.start_pairing(device_id, options.name);
        }
        app
    }

    /// A window that could not start (a bad setting): it shows why and pairs nothing.
    pub fn not_started(message: String) -> Self {
        let mut app = Self::with_worker(None, None);
        app.start_error = Some(message);
        app
    }

    fn with_worker(worker: Option<Worker>, name: Option<String>) -> Self {
        Self {
            worker,
            mode: None,
            start_error: None,
            device_input: String::new(),
            name_input: name.unwrap_or_default(),
            input_error: None,
            secret_input: String::new(),
            secret_status: None,
            pairing: None,
            next_attempt: 1,
            notice: None,
        }
    }

    fn send(&self, command: Command) {
        if let Some(worker) = &self.worker {
            worker.send(command);
        }
    }

    /// Draws one frame.
    pub fn show(&mut self, ui: &mut Ui) {
        while let Some(event) = self.worker.as_ref().and_then(Worker::try_recv) {
            self.apply(event);
        }
        self.prepare_qr(ui.ctx());
        let now = Instant::now();
        self.banner(ui);
        egui::CentralPanel::default_margins().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.add_space(16.0);
                match self.pairing.as_mut() {
                    Some(view) => {
                        let action = centred(ui, PAIRING_WIDTH, |ui| view.show(ui, now));
                        if let Some(action) = action {
                            self.act(action);
                        }
                    }
                    None => centred(ui, START_WIDTH, |ui| self.start_screen(ui)),
                }
            });
        });
        // Repaint on worker events (they wake us) and once a second for the countdown; never
        // continuously.
        if let Some(tick) = self.pairing.as_ref().and_then(|view| view.next_tick(now)) {
            ui.ctx().request_repaint_after(tick);
        }
    }

    /// Builds the QR texture once per code, not once per frame.
    fn prepare_qr(&mut self, ctx: &egui::Context) {
        if let Some(view) = self.pairing.as_mut()
            && let Phase::Showing { code, .. } = &view.phase
            && let Some(link) = code.qr_target()
            && view.qr.as_ref().is_none_or(|qr| qr.link() != link)
        {
            view.qr = qr::QrImage::new(ctx, link);
        }
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Ready(mode) => self.mode = Some(mode),
            Event::StartFailed(message) => self.start_error = Some(message),
            Event::SecretSaved(result) => {
                if result.is_ok() {
                    self.secret_input.clear();
                }
                self.secret_status = Some(result);
            }
            Event::Progress { attempt, event } => {
                if let Some(view) = self.current(attempt) {
                    apply_progress(view, event);
                }
            }
            Event::Finished { attempt, end } => match (self.current(attempt), end) {
                (Some(view), RunEnd::Paired(paired)) => {
                    view.phase = Phase::Paired(paired);
                    view.qr = None;
                }
                (
                    Some(view),
                    RunEnd::Failed {
                        kind,
                        message,
                        can_retry_save,
                    },
                ) => {
                    view.phase = Phase::Failed {
                        kind,
                        message,
                        can_retry_save,
                    };
                    view.qr = None;
                }
                (Some(_), RunEnd::Cancelled) => self.pairing = None,
                // The approval arrived with the poll that was on its way as the user
                // cancelled: the tokens were saved, so say so rather than stay silent.
                (None, RunEnd::Paired(paired)) => {
                    self.notice = Some(format!(
                        "{} was approved as you cancelled; its credentials were saved in the OS \
                         keychain as {}.",
                        paired.device_id, paired.keychain_account
                    ));
                }
                (None, _) => {}
            },
        }
    }

    fn current(&mut self, attempt: u64) -> Option<&mut PairingView> {
        self.pairing.as_mut().filter(|view| view.attempt == attempt)
    }

    fn act(&mut self, action: Action) {
        let Some(view) = self.pairing.as_ref() else {
            return;
        };
        let attempt = view.attempt;
        match action {
            Action::Cancel => {
                // Effective at once: the screen goes back now, the worker stops polling.
                self.send(Command::Cancel { attempt });
                self.pairing = None;
            }
            Action::NewCode => {
                let (device_id, name) = (view.device_id.clone(), view.name.clone());
                self.start_pairing(device_id, name);
            }
            Action::RetrySave => self.send(Command::RetrySave { attempt }),
            Action::Done => self.pairing = None,
        }
    }

    fn start_pairing(&mut self, device_id: DeviceId, name: Option<String>) {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        self.send(Command::Pair {
            attempt,
            device_id: device_id.clone(),
        });
        self.pairing = Some(PairingView {
            attempt,
            device_id,
            name,
            phase: Phase::Preparing("Starting…"),
            qr: None,
        });
    }

    fn banner(&self, ui: &mut Ui) {
        let Some(Mode::Demo {
            approval_url,
            warning,
        }) = &self.mode
        else {
            return;
        };
        let frame = egui::Frame::new()
            .fill(Color32::from_rgb(255, 196, 0))
            .inner_margin(egui::Margin::symmetric(12, 6));
        egui::Panel::top("demo-banner").frame(frame).show(ui, |ui| {
            ui.label(
                RichText::new("Demo — not connected to Frame.io")
                    .strong()
                    .color(Color32::BLACK),
            );
            ui.label(
                RichText::new(format!(
                    "Codes are approved on the built-in page {approval_url}"
                ))
                .color(Color32::BLACK),
            );
            if let Some(warning) = warning {
                ui.label(RichText::new(warning).color(Color32::BLACK));
            }
        });
    }

    fn start_screen(&mut self, ui: &mut Ui) {
        ui.heading("Pair a device");
        match (&self.mode, &self.start_error) {
            (_, Some(error)) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Cannot start: {error}"),
                );
            }
            (None, None) => {
                ui.label("Starting…");
            }
            (Some(Mode::Live { api_base }), None) => {
                ui.label(format!("Pairs with {api_base}"));
            }
            (Some(Mode::Demo { .. }), None) => {
                ui.label("Pairs with the built-in demo server.");
            }
        }
        if let Some(notice) = &self.notice {
            ui.label(notice);
        }
        ui.add_space(12.0);
        let submitted = egui::Grid::new("pair-form")
            .num_columns(2)
            .spacing([12.0, 8.0])
            .show(ui, |ui| {
                let id_label = ui.label(DEVICE_ID_LABEL);
                let id_field = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.device_input)
                            .hint_text("e.g. CAM-0042")
                            .desired_width(320.0),
                    )
                    .labelled_by(id_label.id);
                ui.end_row();
                let name_label = ui.label(NAME_LABEL);
                let name_field = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.name_input)
                            .hint_text("e.g. A-Cam")
                            .desired_width(320.0),
                    )
                    .labelled_by(name_label.id);
                ui.end_row();
                let enter = ui.input(|i| i.key_pressed(Key::Enter));
                (id_field.lost_focus() || name_field.lost_focus()) && enter
            })
            .inner;
        if let Some(error) = &self.input_error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.add_space(8.0);
        let can_pair = self.start_error.is_none();
        if ui
            .add_enabled(can_pair, egui::Button::new("Pair"))
            .clicked()
            || (can_pair && submitted)
        {
            self.submit();
        }
        ui.add_space(24.0);
        self.settings(ui);
    }

    fn submit(&mut self) {
        match DeviceId::parse(&self.device_input) {
            Ok(device_id) => {
                self.input_error = None;
                let name = Some(self.name_input.trim().to_owned()).filter(|n| !n.is_empty());
                self.start_pairing(device_id, name);
            }
            Err(error) => self.input_error = Some(error.to_string()),
        }
    }

    fn settings(&mut self, ui: &mut Ui) {
        egui::CollapsingHeader::new("Settings").show(ui, |ui| {
            ui.label(
                "Pairing with Frame.io needs the client secret Frame.io issued for your device \
                 model. It is kept in the OS keychain, never in a file.",
            );
            ui.horizontal(|ui| {
                let label = ui.label(SECRET_LABEL);
                ui.add(
                    egui::TextEdit::singleline(&mut self.secret_input)
                        .password(true)
                        .desired_width(260.0),
                )
                .labelled_by(label.id);
                let ready = !self.secret_input.trim().is_empty();
                if ui
                    .add_enabled(ready, egui::Button::new("Save to keychain"))
                    .clicked()
                {
                    let secret = SecretString::from(self.secret_input.trim().to_owned());
                    self.send(Command::SaveClientSecret(secret));
                }
            });
            match &self.secret_status {
                Some(Ok(())) => {
                    ui.label("Saved in the OS keychain.");
                }
                Some(Err(error)) => {
                    ui.colored_label(ui.visuals().error_fg_color, error);
                }
                None => {}
            }
        });
    }
}

fn apply_progress(view: &mut PairingView, event: PairEvent) {
    match event {
        PairEvent::CheckingKeychain => view.phase = Phase::Preparing("Checking the OS keychain…"),
        PairEvent::RequestingCode => view.phase = Phase::Preparing("Asking for a pairing code…"),
        PairEvent::CodeIssued(code) => {
            // The first check comes one interval after the code arrived.
            let first_check = code
                .expires_at
                .checked_sub(code.expires_in)
                .map(|received| received + code.interval);
            view.qr = None;
            view.phase = Phase::Showing {
                code,
                status: None,
                next_check: first_check,
            };
        }
        PairEvent::Polled {
            status: new,
            next_check: at,
        } => {
            if let Phase::Showing {
                status, next_check, ..
            } = &mut view.phase
            {
                *status = Some(new);
                *next_check = Some(at);
            }
        }
        PairEvent::Saving => view.phase = Phase::Saving,
    }
}

impl eframe::App for PairApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}
