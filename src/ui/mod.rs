//! egui views only: no I/O, no awaiting, no sleeping. Each frame drains the worker's events,
//! draws, and applies what the views asked for.
//!
//! Layout: the device list on the left; on the right, the form to add devices (one, or a
//! pasted or dropped list) and one card per pairing under way, each with its own code, QR and
//! countdown. Each part is a view that owns its state and returns intents (see `intent.rs`).

mod add_form;
mod booth;
mod cards;
mod events;
mod fleet;
mod intent;
mod link;
mod notices;
mod pairing;
mod presenter;
pub mod qr;
mod screen;
mod settings_view;
mod status_bar;
mod uploads;

use std::time::{Duration, Instant};

use egui::{Color32, Ui};

use crate::device::DeviceId;
use crate::worker::Worker;
use add_form::AddForm;
use booth::Booth;
use cards::Cards;
use fleet::FleetView;
pub use fleet::{HANDOFF_COMMAND_LABEL, MANAGE};
use intent::Intent;
use link::WorkerLink;
use notices::Notices;
use pairing::Phase;
pub use pairing::group_code;
use presenter::{BoothSetup, PresenterKey};
pub use presenter::{CANNOT_START, CODE_SHARE, COUNTDOWN_SHARE, HIDDEN_LABEL, QR_SHARE};
use screen::Screen;
use settings_view::SettingsView;
use status_bar::StatusBar;
pub use uploads::{NOTE_LABEL, UPLOAD_PATHS_LABEL};

/// Label of the device id field, also its accessible name.
pub const DEVICE_ID_LABEL: &str = "Device id (serial number or UUID)";
/// Label of the optional name field.
pub const NAME_LABEL: &str = "Name (optional)";
/// Label of the firmware version field, also its accessible name.
pub const FIRMWARE_LABEL: &str = "Firmware version (optional)";
/// Label of the client secret field.
pub const SECRET_LABEL: &str = "Frame.io client secret";
/// Label of the several-devices field.
pub const LIST_LABEL: &str = "Devices, one per line: id or id,name";

/// Width of the central column with one pairing on screen.
const COLUMN_WIDTH: f32 = 700.0;

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

/// The app: its views, the worker behind them, and what the views asked for this frame.
pub struct PairApp {
    link: WorkerLink,
    screen: Screen,
    add: AddForm,
    cards: Cards,
    booth: Booth,
    fleet: FleetView,
    settings: SettingsView,
    status: StatusBar,
    notices: Notices,
    /// Intents waiting for the end of the frame.
    pending: Vec<Intent>,
}

impl PairApp {
    /// A new window state driving `worker`.
    pub fn new(worker: Worker, options: UiOptions) -> Self {
        let mut app = Self::with_link(WorkerLink::new(Some(worker)));
        app.booth = Booth::new(BoothSetup {
            linger: options.linger,
            wifi: options.booth_wifi,
        });
        app.fleet.report_dir = options.report_dir;
        app.settings = SettingsView::new(options.config_file);
        for (device_id, name) in options.devices {
            app.pair(crate::import::Entry::new(device_id, name));
        }
        if options.presenter {
            // Applied at the end of the first frame, where the context is at hand.
            app.pending.push(Intent::EnterPresenter);
        }
        app
    }

    /// A window that could not start (a bad setting): it shows why and pairs nothing.
    pub fn not_started(message: String) -> Self {
        let mut link = WorkerLink::new(None);
        link.start_error = Some(message);
        Self::with_link(link)
    }

    fn with_link(link: WorkerLink) -> Self {
        Self {
            link,
            screen: Screen::default(),
            add: AddForm::default(),
            cards: Cards::default(),
            booth: Booth::new(BoothSetup {
                linger: UiOptions::default().linger,
                wifi: None,
            }),
            fleet: FleetView::default(),
            settings: SettingsView::default(),
            status: StatusBar::default(),
            notices: Notices::default(),
            pending: Vec::new(),
        }
    }

    /// Draws one frame.
    pub fn show(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        while let Some(event) = self.link.try_recv() {
            self.apply_event(&ctx, event);
        }
        let dropped: Vec<_> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|file| file.path().to_path_buf())
                .collect()
        });
        // Dropped files go to an open upload form, else they are device lists to import.
        if !self.fleet.take_dropped(&dropped) {
            self.pending.extend(dropped.into_iter().map(Intent::Import));
        }
        self.prepare_qrs(&ctx);
        self.screen.cover_monitor_if_needed(&ctx);
        let now = Instant::now();
        if self.booth.is_on() {
            let asked = self.booth.ui(ui, now, &self.link);
            self.pending.extend(asked);
        } else {
            self.show_window(ui, now);
        }
        self.apply_pending(&ctx);
    }

    /// The normal window: banner, status bar, device list, form, cards and settings.
    fn show_window(&mut self, ui: &mut Ui, now: Instant) {
        if presenter::keys(ui).contains(&PresenterKey::ToggleFullscreen) {
            self.pending.push(Intent::ToggleFullscreen);
        }
        self.link.banner(ui);
        let asked = self.status.ui(ui, self.link.start_error.as_deref());
        self.pending.extend(asked);
        // Panels are not filled: the window is cleared to the panel colour already (see
        // `clear_color`), and on a software renderer every filled pixel costs CPU each frame.
        egui::Panel::left("devices")
            .frame(unfilled(egui::Frame::side_top_panel(ui.style())))
            .resizable(true)
            .default_size(300.0)
            .min_size(240.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let asked = self.fleet.ui(ui).map(Intent::Fleet);
                    self.pending.extend(asked);
                });
            });
        egui::CentralPanel::default()
            .frame(unfilled(egui::Frame::central_panel(ui.style())))
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    ui.add_space(8.0);
                    centred(ui, COLUMN_WIDTH, |ui| {
                        self.notices.ui(ui);
                        self.form_heading(ui);
                        let asked = self.add.ui(ui, self.link.can_pair());
                        self.pending.extend(asked);
                    });
                    ui.add_space(12.0);
                    let asked = self.cards.ui(ui, now);
                    self.pending.extend(asked);
                    ui.add_space(24.0);
                    let asked = centred(ui, COLUMN_WIDTH, |ui| self.settings.ui(ui));
                    self.pending.extend(asked);
                });
            });
        // Repaint on worker events (they wake us) and at each second of a countdown; never
        // continuously.
        if let Some(tick) = self.cards.next_tick(now) {
            ui.ctx().request_repaint_after(tick);
        }
    }

    /// "Pair a device", the way into presenter mode, and which server pairs.
    fn form_heading(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.heading("Pair a device");
            ui.add_space(24.0);
            let booth = ui.button("Presenter mode").on_hover_text(
                "A booth screen: one large code and QR at a time, renewing by itself (F11, H, \
                 Space, Esc)",
            );
            if booth.clicked() && self.link.can_pair() {
                self.pending.push(Intent::EnterPresenter);
            }
        });
        self.link.mode_line(ui);
        ui.add_space(8.0);
    }

    /// Builds each QR texture once per code, not once per frame.
    fn prepare_qrs(&mut self, ctx: &egui::Context) {
        let booth = self.booth.card_mut();
        for card in self.cards.list.iter_mut().chain(booth) {
            if let Phase::Showing { code, .. } = &card.phase
                && let Some(link) = code.qr_target()
                && card.qr.as_ref().is_none_or(|qr| qr.link() != link)
            {
                card.qr = qr::QrImage::new(ctx, link);
            }
        }
    }
}

impl eframe::App for PairApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    /// The panel colour, so panels need not be filled over it; the booth's white while the
    /// booth screen is shown.
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        if self.booth.is_on() {
            return presenter::PAPER.to_normalized_gamma_f32();
        }
        visuals.panel_fill.to_normalized_gamma_f32()
    }
}

/// `frame` without its fill.
pub(crate) fn unfilled(frame: egui::Frame) -> egui::Frame {
    frame.fill(Color32::TRANSPARENT)
}
