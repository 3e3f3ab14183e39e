//! egui views only: no I/O, no awaiting, no sleeping. Each frame drains the worker's events,
//! draws, and turns clicks into commands.
//!
//! Layout: the device list on the left; on the right, the form to add devices (one, or a
//! pasted or dropped list) and one card per pairing under way, each with its own code, QR and
//! countdown.

mod fleet;
mod pairing;
mod presenter;
pub mod qr;
mod status_bar;

use std::time::{Duration, Instant};

use egui::{Color32, Key, RichText, Ui};
use secrecy::SecretString;

use crate::demo::Reach;
use crate::device::{DeviceId, FailureKind, PairEvent};
use crate::import;
use crate::worker::{Command, DeviceKey, DeviceView, Event, Mode, RunEnd, Worker};
use fleet::FleetAction;
pub use fleet::HANDOFF_COMMAND_LABEL;
pub use pairing::group_code;
use pairing::{Action, PairingView, Phase, Scale, Step, Waiting};
use presenter::{BoothSetup, Presenter, PresenterKey, Surroundings};
pub use presenter::{CANNOT_START, CODE_SHARE, COUNTDOWN_SHARE, HIDDEN_LABEL, QR_SHARE};

/// Label of the device id field, also its accessible name.
pub const DEVICE_ID_LABEL: &str = "Device id (serial number or UUID)";
/// Label of the optional name field.
pub const NAME_LABEL: &str = "Name (optional)";
/// Label of the client secret field.
pub const SECRET_LABEL: &str = "Frame.io client secret";
/// Label of the several-devices field.
pub const LIST_LABEL: &str = "Devices, one per line: id or id,name";

/// Width of the central column with one pairing on screen.
const COLUMN_WIDTH: f32 = 700.0;
/// Width of one pairing card when several are under way.
const CARD_WIDTH: f32 = 400.0;
/// Notices kept on screen.
const NOTICES_KEPT: usize = 4;

/// Lays out `add` in a column at most `width` points wide, centred in the space left.
fn centred<R>(ui: &mut Ui, width: f32, add: impl FnOnce(&mut Ui) -> R) -> R {
    let width = width.min(ui.available_width());
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
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// Devices to start pairing at once, with their optional names.
    pub devices: Vec<(DeviceId, Option<String>)>,
    /// Start in presenter mode.
    pub presenter: bool,
    /// How long presenter mode shows a success before the next code.
    pub linger: Duration,
    /// The booth Wi-Fi presenter mode offers phones as a QR code.
    pub booth_wifi: Option<crate::wifi::BoothWifi>,
    /// Where "Export report" saves (the Downloads folder by default).
    pub report_dir: std::path::PathBuf,
    /// The configuration file, named in Settings (`None`: not said).
    pub config_file: Option<std::path::PathBuf>,
}

impl Default for UiOptions {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            presenter: false,
            linger: crate::settings::DEFAULT_LINGER,
            booth_wifi: None,
            report_dir: crate::report::default_dir(),
            config_file: None,
        }
    }
}

/// Which kind of pairing run to begin.
#[derive(Clone, Copy)]
enum Run {
    /// A card in the window.
    Card,
    /// The booth's code; `start` is false while the booth cannot start.
    Presenter { start: bool },
}

/// The app: view state plus the worker handle.
pub struct PairApp {
    worker: Option<Worker>,
    mode: Option<Mode>,
    start_error: Option<String>,
    device_input: String,
    name_input: String,
    input_error: Option<String>,
    list_input: String,
    list_open: bool,
    secret_input: String,
    secret_status: Option<Result<(), String>>,
    cards: Vec<PairingView>,
    fleet: Vec<DeviceView>,
    confirming_unpair: Option<DeviceKey>,
    notices: Vec<String>,
    next_attempt: u64,
    uploads: std::collections::HashMap<DeviceKey, crate::device::Progress>,
    presenter: Option<Presenter>,
    /// Enter presenter mode on the next frame (where the context is at hand).
    presenter_wanted: bool,
    booth: BoothSetup,
    /// Where "Export report" saves.
    report_dir: std::path::PathBuf,
    /// The configuration file, named in Settings.
    config_file: Option<std::path::PathBuf>,
    fullscreen: bool,
    /// Whether the server answers, as the worker last said.
    network: Option<crate::worker::NetworkStatus>,
    /// Diagnostics being gathered.
    gathering: bool,
    /// Copy the diagnostics on the next frame (where the context is at hand).
    copy_diagnostics: bool,
    /// The last diagnostics, shown in their own window until closed.
    diagnostics: Option<String>,
    /// The window's size before it was stretched over the monitor by hand.
    windowed_size: Option<egui::Vec2>,
}

impl PairApp {
    /// A new window state driving `worker`.
    pub fn new(worker: Worker, options: UiOptions) -> Self {
        let mut app = Self::with_worker(Some(worker));
        app.booth = BoothSetup {
            linger: options.linger,
            wifi: options.booth_wifi,
        };
        app.report_dir = options.report_dir;
        app.config_file = options.config_file;
        for (device_id, name) in options.devices {
            app.start_pairing(device_id, name);
        }
        if options.presenter {
            app.presenter_wanted = true;
        }
        app
    }

    /// A window that could not start (a bad setting): it shows why and pairs nothing.
    pub fn not_started(message: String) -> Self {
        let mut app = Self::with_worker(None);
        app.start_error = Some(message);
        app
    }

    fn with_worker(worker: Option<Worker>) -> Self {
        Self {
            worker,
            mode: None,
            start_error: None,
            device_input: String::new(),
            name_input: String::new(),
            input_error: None,
            list_input: String::new(),
            list_open: false,
            secret_input: String::new(),
            secret_status: None,
            cards: Vec::new(),
            fleet: Vec::new(),
            confirming_unpair: None,
            notices: Vec::new(),
            next_attempt: 1,
            uploads: std::collections::HashMap::new(),
            presenter: None,
            presenter_wanted: false,
            booth: BoothSetup {
                linger: UiOptions::default().linger,
                wifi: None,
            },
            report_dir: std::path::PathBuf::new(),
            config_file: None,
            fullscreen: false,
            network: None,
            gathering: false,
            copy_diagnostics: false,
            diagnostics: None,
            windowed_size: None,
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
        self.take_dropped_files(ui.ctx());
        if std::mem::take(&mut self.presenter_wanted) {
            self.set_fullscreen(ui.ctx(), true);
            self.next_booth_code();
        }
        self.prepare_qrs(ui.ctx());
        self.cover_monitor_if_needed(ui.ctx());
        let now = Instant::now();
        if self.presenter.is_some() {
            return self.show_presenter(ui, now);
        }
        if presenter::keys(ui).contains(&PresenterKey::ToggleFullscreen) {
            self.set_fullscreen(ui.ctx(), !self.fullscreen);
        }
        self.banner(ui);
        self.status_bar(ui);
        // Panels are not filled: the window is cleared to the panel colour already (see
        // `clear_color`), and on a software renderer every filled pixel costs CPU each frame.
        egui::Panel::left("devices")
            .frame(unfilled(egui::Frame::side_top_panel(ui.style())))
            .resizable(true)
            .default_size(300.0)
            .min_size(240.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let state = fleet::ListState {
                        confirming: self.confirming_unpair.as_ref(),
                        uploads: &self.uploads,
                        report_dir: &self.report_dir,
                    };
                    let action = fleet::show(ui, &self.fleet, &state);
                    if let Some(action) = action {
                        self.fleet_action(action);
                    }
                });
            });
        egui::CentralPanel::default()
            .frame(unfilled(egui::Frame::central_panel(ui.style())))
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    ui.add_space(8.0);
                    centred(ui, COLUMN_WIDTH, |ui| {
                        self.notices(ui);
                        self.add_form(ui);
                    });
                    ui.add_space(12.0);
                    self.cards(ui, now);
                    ui.add_space(24.0);
                    centred(ui, COLUMN_WIDTH, |ui| self.settings(ui));
                });
            });
        // Repaint on worker events (they wake us) and at each second of a countdown; never
        // continuously.
        if let Some(tick) = self
            .cards
            .iter()
            .filter_map(|card| card.next_tick(now))
            .min()
        {
            ui.ctx().request_repaint_after(tick);
        }
    }

    /// The booth screen: keys, the loop's timer, and the drawing.
    fn show_presenter(&mut self, ui: &mut Ui, now: Instant) {
        for key in presenter::keys(ui) {
            match key {
                PresenterKey::NewCode => self.next_booth_code(),
                PresenterKey::Leave => return self.leave_presenter(ui.ctx()),
                PresenterKey::ToggleFullscreen => self.set_fullscreen(ui.ctx(), !self.fullscreen),
                PresenterKey::ToggleHidden => {
                    if let Some(presenter) = self.presenter.as_mut() {
                        presenter.hidden = !presenter.hidden;
                    }
                }
            }
        }
        let due = self
            .presenter
            .as_ref()
            .and_then(|p| p.next_code_at)
            .is_some_and(|at| at <= now);
        if due {
            self.next_booth_code();
        }
        self.prepare_qrs(ui.ctx());
        let network = self.booth_network();
        let warning = self.phone_warning().map(str::to_owned);
        let around = Surroundings {
            demo: matches!(self.mode, Some(Mode::Demo { .. })),
            start_error: self.start_error.as_deref(),
            network: network.as_deref(),
            warning: warning.as_deref(),
        };
        let Some(presenter) = self.presenter.as_mut() else {
            return;
        };
        egui::CentralPanel::no_frame().show(ui, |ui| presenter.show(ui, now, &around));
        if let Some(tick) = presenter.next_tick(now) {
            ui.ctx().request_repaint_after(tick);
        }
    }

    fn leave_presenter(&mut self, ctx: &egui::Context) {
        if let Some(presenter) = self.presenter.take()
            && presenter.card.is_running()
        {
            self.send(Command::Cancel {
                attempt: presenter.card.attempt,
            });
        }
        self.set_fullscreen(ctx, false);
    }

    fn set_fullscreen(&mut self, ctx: &egui::Context, on: bool) {
        self.fullscreen = on;
        ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(on));
        if !on && let Some(size) = self.windowed_size.take() {
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
        }
    }

    /// Without a window manager (a kiosk, a bare X server) full screen is not granted: cover
    /// the monitor by hand instead.
    ///
    /// Asked again on each frame until the window does cover it: the commands of a frame whose
    /// pass is discarded (the booth screen re-lays out a frame whose height changed) are lost.
    /// Only on frames that come anyway (the countdown's, a resize's): a window manager that
    /// never grants the size must not cause a repaint loop.
    fn cover_monitor_if_needed(&mut self, ctx: &egui::Context) {
        let (monitor, inner) = ctx.input(|i| (i.viewport().monitor_size, i.viewport().inner_rect));
        if !self.fullscreen {
            return;
        }
        if let (Some(monitor), Some(inner)) = (monitor, inner)
            && (inner.width() < monitor.x - 2.0 || inner.height() < monitor.y - 2.0)
        {
            self.windowed_size.get_or_insert(inner.size());
            ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(egui::pos2(0.0, 0.0)));
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(monitor));
        }
    }

    /// Why phones cannot open the demo server's link, when they cannot.
    fn phone_warning(&self) -> Option<&str> {
        let Some(Mode::Demo { reach, .. }) = &self.mode else {
            return None;
        };
        reach
            .unusable()
            .or((*reach == Reach::ThisMachine).then_some(presenter::THIS_MACHINE_ONLY))
    }

    /// Logs, once the booth is up and its server known, that phones cannot open the link.
    fn warn_if_phones_cannot_reach(&self) {
        if self.presenter.is_some()
            && let Some(why) = self.phone_warning()
        {
            tracing::warn!("phones cannot open the booth's link: {why}");
        }
    }

    /// Which network phones must be on, when the demo server is on one.
    fn booth_network(&self) -> Option<String> {
        let Some(Mode::Demo {
            approval_url,
            reach: Reach::Network { interface, .. },
            ..
        }) = &self.mode
        else {
            return None;
        };
        let host = url::Url::parse(approval_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        Some(match (&self.booth.wifi, interface) {
            (Some(wifi), _) => format!(
                "Phones join the Wi-Fi “{}” to reach this laptop at {host}.",
                wifi.ssid
            ),
            (None, Some(interface)) => {
                format!("Phones must be on the same network as this laptop ({interface}, {host}).")
            }
            (None, None) => format!("Phones must be on the same network as this laptop ({host})."),
        })
    }

    /// A fresh code for the next visitor, under a new booth device id.
    fn next_booth_code(&mut self) {
        if let Some(presenter) = &self.presenter
            && presenter.card.is_running()
        {
            self.send(Command::Cancel {
                attempt: presenter.card.attempt,
            });
        }
        let id = format!("booth-{:06x}", rand::random::<u32>() & 0x00ff_ffff);
        let Ok(device_id) = DeviceId::parse(&id) else {
            return;
        };
        // A booth that could not start shows why (and Esc), not a code that never comes.
        let start = self.start_error.is_none();
        let card = self.begin_run(device_id, None, Run::Presenter { start });
        if let Some(presenter) = self.presenter.as_mut() {
            presenter.card = card;
            presenter.next_code_at = None;
        } else {
            self.presenter = Some(Presenter::new(card, self.booth.wifi.clone()));
            self.warn_if_phones_cannot_reach();
        }
    }

    /// Builds each QR texture once per code, not once per frame.
    fn prepare_qrs(&mut self, ctx: &egui::Context) {
        let presenter = self.presenter.as_mut().map(|p| &mut p.card);
        for card in self.cards.iter_mut().chain(presenter) {
            if let Phase::Showing { code, .. } = &card.phase
                && let Some(link) = code.qr_target()
                && card.qr.as_ref().is_none_or(|qr| qr.link() != link)
            {
                card.qr = qr::QrImage::new(ctx, link);
            }
        }
    }

    /// A CSV file dropped on the window is read by the worker, not here.
    fn take_dropped_files(&self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        for file in dropped {
            self.send(Command::Import(file.path().to_path_buf()));
        }
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Ready(mode) => {
                self.mode = Some(mode);
                self.warn_if_phones_cannot_reach();
            }
            Event::StartFailed(message) => self.start_error = Some(message),
            Event::SecretSaved(result) => {
                if result.is_ok() {
                    self.secret_input.clear();
                }
                self.secret_status = Some(result);
            }
            Event::Progress { attempt, event } => {
                if let Some(card) = self.card(attempt) {
                    apply_progress(card, event);
                }
            }
            Event::Finished { attempt, end } => self.finished(attempt, end),
            Event::Fleet(devices) => self.fleet = devices,
            Event::UploadProgress(key, progress) => {
                self.uploads.insert(key, progress);
            }
            Event::Notice(line) => self.notice(line),
            Event::Network(status) => self.network = Some(status),
            Event::Diagnostics(text) => {
                self.gathering = false;
                self.diagnostics = Some(text);
                self.copy_diagnostics = true;
            }
            Event::ReportWritten(written) => self.notice(match written {
                Ok(files) => format!(
                    "Report saved: {} and {}",
                    files.csv.display(),
                    files.json.display()
                ),
                Err(message) => format!("The report was not saved: {message}."),
            }),
            Event::Imported(text) => {
                if !self.list_input.trim().is_empty() {
                    self.list_input.push('\n');
                }
                self.list_input.push_str(&text);
                self.list_open = true;
            }
        }
    }

    fn notice(&mut self, line: String) {
        self.notices.push(line);
        let excess = self.notices.len().saturating_sub(NOTICES_KEPT);
        self.notices.drain(..excess);
    }

    fn finished(&mut self, attempt: u64, end: RunEnd) {
        if let Some(presenter) = self
            .presenter
            .as_mut()
            .filter(|p| p.card.attempt == attempt)
        {
            // The booth loop goes on by itself: an expired code renews at once; a success or
            // a failure shows for a while, then the next visitor gets a fresh code.
            let expired = matches!(
                end,
                RunEnd::Failed {
                    kind: FailureKind::Expired,
                    ..
                }
            );
            presenter.card.qr = None;
            let Some(phase) = Phase::ended(end) else {
                return;
            };
            // A failure is tried again after a pause that doubles with each failure in a
            // row, shown on screen; anything that reached the server ends the run of them.
            let pause = if let Phase::Failed { kind, message, .. } = &phase {
                if *kind == FailureKind::Expired {
                    presenter.failures = 0;
                } else {
                    presenter.failures = presenter.failures.saturating_add(1);
                    tracing::warn!(failures = presenter.failures, %message, "booth pairing failed");
                }
                presenter.backoff(self.booth.linger)
            } else {
                presenter.failures = 0;
                self.booth.linger
            };
            presenter.card.phase = phase;
            presenter.next_code_at = Instant::now().checked_add(pause);
            if expired {
                self.next_booth_code();
            }
            return;
        }
        let Some(card) = self.card(attempt) else {
            // The approval arrived with the poll that was on its way as the user cancelled:
            // the tokens were saved, so say so rather than stay silent.
            if let RunEnd::Paired(paired) = end {
                self.notice(format!(
                    "{} was approved as you cancelled; its credentials were saved in the OS \
                     keychain as {}.",
                    paired.device_id, paired.keychain_account
                ));
            }
            return;
        };
        card.qr = None;
        match Phase::ended(end) {
            Some(phase) => card.phase = phase,
            None => self.cards.retain(|card| card.attempt != attempt),
        }
    }

    fn card(&mut self, attempt: u64) -> Option<&mut PairingView> {
        let presenter = self.presenter.as_mut().map(|p| &mut p.card);
        self.cards
            .iter_mut()
            .chain(presenter)
            .find(|card| card.attempt == attempt)
    }

    fn card_action(&mut self, attempt: u64, action: Action) {
        let Some(index) = self.cards.iter().position(|card| card.attempt == attempt) else {
            return;
        };
        match action {
            Action::Cancel => {
                // Effective at once: the card goes now, the worker stops polling.
                self.send(Command::Cancel { attempt });
                self.cards.remove(index);
            }
            Action::NewCode => {
                let card = self.cards.remove(index);
                self.start_pairing(card.device_id, card.name);
            }
            Action::RetrySave => self.send(Command::RetrySave { attempt }),
            Action::Done => {
                self.cards.remove(index);
            }
        }
    }

    fn fleet_action(&mut self, action: FleetAction) {
        match action {
            FleetAction::Refresh(key) => self.send(Command::Refresh(key)),
            FleetAction::Repair { device_id, name } => match DeviceId::parse(&device_id) {
                Ok(id) => {
                    self.start_pairing(id, name);
                }
                Err(error) => self.notice(error.to_string()),
            },
            FleetAction::AskUnpair(key) => self.confirming_unpair = Some(key),
            FleetAction::Unpair(key) => {
                self.confirming_unpair = None;
                self.send(Command::Unpair(key));
            }
            FleetAction::Forget(key) => {
                self.confirming_unpair = None;
                self.send(Command::Forget(key));
            }
            FleetAction::KeepPaired => self.confirming_unpair = None,
            FleetAction::Upload(key) => self.send(Command::Upload(key)),
            FleetAction::CancelUpload(key) => self.send(Command::CancelUpload(key)),
            FleetAction::ExportReport => {
                self.send(Command::ExportReport(self.report_dir.clone()));
            }
            FleetAction::HandOff { key, command } => self.send(Command::HandOff {
                key,
                command: SecretString::from(command),
            }),
            FleetAction::CancelHandOff(key) => self.send(Command::CancelHandOff(key)),
        }
    }

    /// Starts pairing a device, unless a card for it is already waiting for approval.
    fn start_pairing(&mut self, device_id: DeviceId, name: Option<String>) -> bool {
        let busy = self
            .cards
            .iter()
            .any(|card| card.device_id == device_id && card.is_running());
        if busy {
            self.input_error = Some(format!("{device_id} is already being paired"));
            return false;
        }
        // A finished card for the same device makes way for the new run.
        self.cards.retain(|card| card.device_id != device_id);
        let card = self.begin_run(device_id, name, Run::Card);
        self.cards.push(card);
        true
    }

    /// A new pairing run: its number, the worker told to start it (unless the booth cannot
    /// start), and its card.
    fn begin_run(&mut self, device_id: DeviceId, name: Option<String>, run: Run) -> PairingView {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        let (start, presenter) = match run {
            Run::Card => (true, false),
            Run::Presenter { start } => (start, true),
        };
        if start {
            self.send(Command::Pair {
                attempt,
                device_id: device_id.clone(),
                name: name.clone(),
                presenter,
            });
        }
        PairingView {
            attempt,
            device_id,
            name,
            phase: Phase::Preparing(Waiting::now(Step::Starting)),
            qr: None,
        }
    }

    fn banner(&self, ui: &mut Ui) {
        let Some(Mode::Demo {
            approval_url,
            warning,
            reach,
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
            if let Reach::Network { unusable, .. } = reach {
                let text = unusable.as_ref().map_or_else(
                    || format!("Phones on this network can open {approval_url}."),
                    |why| format!("Phones cannot open {approval_url}: {why}."),
                );
                ui.label(RichText::new(text).color(Color32::BLACK));
            }
        });
    }

    fn status_bar(&mut self, ui: &mut Ui) {
        let action = status_bar::show(ui, self.network.as_ref(), self.gathering);
        if action == Some(status_bar::BarAction::CopyDiagnostics) {
            self.gathering = true;
            self.send(Command::Diagnose);
        }
        let Some(text) = &self.diagnostics else {
            return;
        };
        let (open, copy_again) = status_bar::diagnostics_window(ui.ctx(), text);
        if std::mem::take(&mut self.copy_diagnostics) || copy_again {
            ui.ctx().copy_text(text.clone());
        }
        if !open {
            self.diagnostics = None;
        }
    }

    fn notices(&mut self, ui: &mut Ui) {
        if self.notices.is_empty() {
            return;
        }
        for line in &self.notices {
            ui.label(line);
        }
        if ui.small_button("Dismiss").clicked() {
            self.notices.clear();
        }
        ui.add_space(8.0);
    }

    fn add_form(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.heading("Pair a device");
            ui.add_space(24.0);
            let booth = ui.button("Presenter mode").on_hover_text(
                "A booth screen: one large code and QR at a time, renewing by itself (F11, H, \
                 Space, Esc)",
            );
            if booth.clicked() && self.start_error.is_none() {
                self.presenter_wanted = true;
                ui.ctx().request_repaint();
            }
        });
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
        ui.add_space(8.0);
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
        let can_pair = self.start_error.is_none();
        if ui
            .add_enabled(can_pair, egui::Button::new("Pair"))
            .clicked()
            || (can_pair && submitted)
        {
            self.submit();
        }
        ui.add_space(8.0);
        self.list_form(ui, can_pair);
    }

    fn submit(&mut self) {
        match DeviceId::parse(&self.device_input) {
            Ok(device_id) => {
                self.input_error = None;
                let name = Some(self.name_input.trim().to_owned()).filter(|n| !n.is_empty());
                if self.start_pairing(device_id, name) {
                    self.device_input.clear();
                    self.name_input.clear();
                }
            }
            Err(error) => self.input_error = Some(error.to_string()),
        }
    }

    /// Several devices at once: pasted serials or `id,name` lines, or a dropped CSV file.
    fn list_form(&mut self, ui: &mut Ui, can_pair: bool) {
        let header =
            egui::CollapsingHeader::new("Add several devices").open(self.list_open.then_some(true));
        let shown = header.show(ui, |ui| {
            ui.label(
                "Paste serial numbers, or lines of id,name — or drop a CSV file on the window.",
            );
            let label = ui.label(LIST_LABEL);
            ui.add(
                egui::TextEdit::multiline(&mut self.list_input)
                    .desired_rows(5)
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
            let parsed = import::parse(&self.list_input);
            for problem in &parsed.problems {
                ui.colored_label(ui.visuals().warn_fg_color, problem);
            }
            let count = parsed.entries.len();
            let text = match count {
                1 => "Pair 1 device".to_owned(),
                n => format!("Pair {n} devices"),
            };
            if ui
                .add_enabled(can_pair && count > 0, egui::Button::new(text))
                .clicked()
            {
                let started = parsed
                    .entries
                    .into_iter()
                    .filter(|entry| self.start_pairing(entry.device_id.clone(), entry.name.clone()))
                    .count();
                if started == count {
                    self.list_input.clear();
                }
            }
        });
        self.list_open = shown.openness > 0.0;
    }

    fn cards(&mut self, ui: &mut Ui, now: Instant) {
        let mut clicked = None;
        if self.cards.len() == 1 {
            let card = &mut self.cards[0];
            let attempt = card.attempt;
            if let Some(action) = centred(ui, COLUMN_WIDTH, |ui| card.show(ui, now, Scale::SINGLE))
            {
                clicked = Some((attempt, action));
            }
        } else {
            // As many cards per row as fit, each the same width.
            let per_row = ((ui.available_width() / (CARD_WIDTH + 24.0)).floor() as usize).max(1);
            for row in self.cards.chunks_mut(per_row) {
                ui.horizontal_top(|ui| {
                    for card in row {
                        let attempt = card.attempt;
                        let shown = egui::Frame::group(ui.style()).show(ui, |ui| {
                            ui.set_width(CARD_WIDTH);
                            ui.vertical(|ui| card.show(ui, now, Scale::CARD)).inner
                        });
                        if let Some(action) = shown.inner {
                            clicked = Some((attempt, action));
                        }
                    }
                });
                ui.add_space(8.0);
            }
        }
        if let Some((attempt, action)) = clicked {
            self.card_action(attempt, action);
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
            if let Some(file) = &self.config_file {
                ui.add_space(6.0);
                ui.label(
                    "The server, endpoint paths, heartbeat interval and presenter defaults are \
                     set in the configuration file (c2c-pair config show prints them):",
                );
                let path = RichText::new(file.display().to_string()).monospace();
                ui.add(egui::Label::new(path).selectable(true));
            }
        });
    }
}

fn apply_progress(card: &mut PairingView, event: PairEvent) {
    match event {
        PairEvent::CheckingKeychain => card.phase = Phase::Preparing(Waiting::now(Step::Keychain)),
        PairEvent::RequestingCode => card.phase = Phase::Preparing(Waiting::now(Step::Code)),
        PairEvent::CodeIssued(code) => {
            // The first check comes one interval after the code arrived.
            let first_check = code
                .expires_at
                .checked_sub(code.expires_in)
                .map(|received| received + code.interval);
            card.qr = None;
            card.phase = Phase::Showing {
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
            } = &mut card.phase
            {
                *status = Some(new);
                *next_check = Some(at);
            }
        }
        PairEvent::Saving => card.phase = Phase::Saving,
    }
}

impl eframe::App for PairApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    /// The panel colour, so panels need not be filled over it; the booth's white while the
    /// booth screen is shown.
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        if self.presenter.is_some() {
            return presenter::PAPER.to_normalized_gamma_f32();
        }
        visuals.panel_fill.to_normalized_gamma_f32()
    }
}

/// `frame` without its fill.
pub(crate) fn unfilled(frame: egui::Frame) -> egui::Frame {
    frame.fill(Color32::TRANSPARENT)
}
