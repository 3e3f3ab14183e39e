//! The device list: every recorded device with its state, project, token lifetime and last
//! heartbeat, and the actions Refresh now, Re-pair, Unpair (confirmed first) and Hand off…
//! (a command, confirmed by the words that the laptop lets go).

use std::collections::HashMap;
use std::time::SystemTime;

use egui::{Color32, RichText, Ui};

use super::uploads::{self, UploadForm};
use crate::clock::unix_seconds;
use crate::device::upload::QueueStatus;

use crate::human_time as format;
use crate::worker::{DeviceKey, DeviceView, HANDING_OFF, Status, UPLOADING};

/// Label of the hand-off command field, also its accessible name.
pub const HANDOFF_COMMAND_LABEL: &str = "Hand-off command";

/// What the user asked for in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetAction {
    /// Refresh this device's tokens now.
    Refresh(DeviceKey),
    /// Pair this device again (its name and firmware version kept).
    Repair(crate::import::Entry),
    /// Ask to unpair (the list then asks for confirmation).
    AskUnpair(DeviceKey),
    /// Unpair, confirmed.
    Unpair(DeviceKey),
    /// Forget the device on this computer only, confirmed.
    Forget(DeviceKey),
    /// Do not unpair after all.
    KeepPaired,
    /// Send files (none: the test clip) as this device.
    Upload {
        /// The device.
        key: DeviceKey,
        /// Files and folders; empty for the test clip.
        files: Vec<std::path::PathBuf>,
    },
    /// Stop the device's upload queue.
    CancelUpload(DeviceKey),
    /// Try the waiting upload now (the device was resumed in Frame.io).
    RetryUpload(DeviceKey),
    /// Take one file out of the device's running queue.
    CancelUploadFile {
        /// The device.
        key: DeviceKey,
        /// The file, as the queue's status numbers it.
        index: usize,
    },
    /// Send one file of the device's running queue again (failed, parked or cancelled).
    RetryUploadFile {
        /// The device.
        key: DeviceKey,
        /// The file, as the queue's status numbers it.
        index: usize,
    },
    /// Comment on an uploaded asset as the device.
    AddNote {
        /// The device.
        key: DeviceKey,
        /// The asset.
        asset_id: String,
        /// The comment.
        text: String,
    },
    /// Save the pairing report (CSV and JSON).
    ExportReport,
    /// Hand the device's pairing to the device through this command, confirmed.
    HandOff {
        /// The device.
        key: DeviceKey,
        /// The command line, as typed.
        command: String,
    },
    /// Stop that hand-off (the laptop keeps the pairing).
    CancelHandOff(DeviceKey),
}

/// The hand-off form, open for one device at a time. It lives in egui's memory between
/// frames (as egui's own collapsing headers keep theirs), so the list needs no field in the
/// app for it; it is never persisted.
#[derive(Clone, Default)]
struct HandoffForm {
    /// The device it is open for.
    device: Option<DeviceKey>,
    /// The command typed so far.
    command: String,
}

impl HandoffForm {
    fn id() -> egui::Id {
        egui::Id::unique("fleet hand-off form")
    }

    fn load(ui: &Ui) -> Self {
        ui.data(|d| d.get_temp::<Self>(Self::id()))
            .unwrap_or_default()
    }

    fn store(self, ui: &Ui) {
        ui.data_mut(|d| d.insert_temp(Self::id(), self));
    }
}

/// The label of a device in the list: its name with its id, or its id.
pub fn title(view: &DeviceView) -> String {
    match &view.record.name {
        Some(name) => format!("{name} ({})", view.record.device_id),
        None => view.record.device_id.to_string(),
    }
}

/// What the list shows beyond the devices themselves.
pub struct ListState<'a> {
    /// The device whose unpairing awaits confirmation.
    pub confirming: Option<&'a DeviceKey>,
    /// Each device's upload queue, under way or as it ended.
    pub uploads: &'a HashMap<DeviceKey, QueueStatus>,
    /// Where "Export report" saves.
    pub report_dir: &'a std::path::Path,
}

/// The device list as the worker last sent it, with what the list alone knows.
#[derive(Default)]
pub struct FleetView {
    /// Every recorded device.
    pub devices: Vec<DeviceView>,
    /// The device whose unpairing awaits confirmation.
    pub confirming: Option<DeviceKey>,
    /// Each device's upload queue, under way or as it ended.
    pub uploads: HashMap<DeviceKey, QueueStatus>,
    /// Where "Export report" saves.
    pub report_dir: std::path::PathBuf,
}

impl FleetView {
    /// Draws the list; confirming or declining an unpair is settled here, the rest is asked.
    pub fn ui(&mut self, ui: &mut Ui) -> Option<FleetAction> {
        let state = ListState {
            confirming: self.confirming.as_ref(),
            uploads: &self.uploads,
            report_dir: &self.report_dir,
        };
        let action = show(ui, &self.devices, &state)?;
        match &action {
            FleetAction::AskUnpair(key) => self.confirming = Some(key.clone()),
            FleetAction::Unpair(_) | FleetAction::Forget(_) | FleetAction::KeepPaired => {
                self.confirming = None;
            }
            _ => {}
        }
        Some(action)
    }
}

/// Draws the list.
fn show(ui: &mut Ui, devices: &[DeviceView], state: &ListState<'_>) -> Option<FleetAction> {
    ui.heading(format!("Devices ({})", devices.len()));
    if devices.is_empty() {
        ui.label("Devices you pair are listed here.");
        return None;
    }
    let now = unix_seconds(SystemTime::now());
    let mut action = None;
    if ui
        .button("Export report")
        .on_hover_text(format!(
            "Save the device list as CSV and JSON in {}",
            state.report_dir.display()
        ))
        .clicked()
    {
        action = Some(FleetAction::ExportReport);
    }
    for view in devices {
        ui.separator();
        if let Some(chosen) = row(ui, view, state, now) {
            action = Some(chosen);
        }
    }
    action
}

fn row(ui: &mut Ui, view: &DeviceView, state: &ListState<'_>, now: u64) -> Option<FleetAction> {
    let record = &view.record;
    let key = record.key();
    let mut action = None;
    details(ui, view, now);
    if let Some(busy) = view.busy {
        return busy_row(ui, busy, key, state);
    }
    if let Status::HandedOff { .. } = view.status {
        // The laptop holds nothing for it: the record can only go.
        if ui
            .button("Forget")
            .on_hover_text("Remove it from this list; the device keeps its pairing")
            .clicked()
        {
            action = Some(FleetAction::Forget(key));
        }
        return action;
    }
    let mut form = HandoffForm::load(ui);
    if form.device.as_ref() == Some(&key) {
        action = handoff_form(ui, &mut form, &key);
        form.store(ui);
        return action;
    }
    if state.confirming == Some(&key) {
        return unpair_confirmation(ui, &key);
    }
    ui.horizontal(|ui| {
        // A device marked for re-pairing may have been marked by a settings mistake since
        // fixed: the user may try once more.
        let repair = matches!(view.status, Status::NeedsRepairing { .. });
        let label = if repair {
            "Try refresh again"
        } else {
            "Refresh now"
        };
        if ui.button(label).clicked() {
            action = Some(FleetAction::Refresh(key.clone()));
        }
        if ui.button("Re-pair").clicked() {
            action = Some(FleetAction::Repair(crate::import::Entry {
                device_id: record.device_id.clone(),
                name: record.name.clone(),
                firmware: record.client_version.clone(),
            }));
        }
        if ui.button("Unpair").clicked() {
            action = Some(FleetAction::AskUnpair(key.clone()));
        }
    });
    if let Some(status) = state.uploads.get(&key) {
        // How the last queue ended stays in view until the next one.
        if let Some(asked) = uploads::panel(ui, &key, status, false) {
            action = Some(asked);
        }
    }
    if UploadForm::is_open_for(ui.ctx(), &key) {
        return UploadForm::ui(ui, &key).or(action);
    }
    let usable = !matches!(
        view.status,
        Status::NeedsRepairing { .. } | Status::UnpairPending { .. }
    );
    if usable {
        ui.horizontal(|ui| {
            if ui
                .button("Send test clip")
                .on_hover_text("Upload a 4-second clip as this device")
                .clicked()
            {
                action = Some(FleetAction::Upload {
                    key: key.clone(),
                    files: Vec::new(),
                });
            }
            if ui
                .button("Upload files…")
                .on_hover_text("Send files or folders as this device")
                .clicked()
            {
                UploadForm::open(ui.ctx(), &key);
            }
            if ui
                .button("Hand off…")
                .on_hover_text("Move this pairing to the device itself; the laptop lets go")
                .clicked()
            {
                HandoffForm {
                    device: Some(key.clone()),
                    command: String::new(),
                }
                .store(ui);
            }
        });
    }
    action
}

/// A device with an action under way: what it is, with its progress and a way to stop it.
fn busy_row(ui: &mut Ui, busy: &str, key: DeviceKey, state: &ListState<'_>) -> Option<FleetAction> {
    let mut action = None;
    ui.label(busy);
    if busy == HANDING_OFF
        && ui
            .button("Cancel hand-off")
            .on_hover_text("Stop the command; the laptop keeps the pairing")
            .clicked()
    {
        action = Some(FleetAction::CancelHandOff(key.clone()));
    }
    if busy == UPLOADING {
        match state.uploads.get(&key) {
            Some(status) => action = uploads::panel(ui, &key, status, true),
            None => {
                if ui.button("Cancel upload").clicked() {
                    action = Some(FleetAction::CancelUpload(key));
                }
            }
        }
    }
    action
}

/// "Unpair?" asked for one device: unpair, forget here only, or keep it.
fn unpair_confirmation(ui: &mut Ui, key: &DeviceKey) -> Option<FleetAction> {
    let mut action = None;
    ui.label(format!(
        "Unpair {}? Its credentials are revoked at the server and deleted here.",
        key.id
    ));
    ui.horizontal(|ui| {
        if ui.button("Unpair now").clicked() {
            action = Some(FleetAction::Unpair(key.clone()));
        }
        if ui
            .button("Forget here only")
            .on_hover_text(
                "Delete its credentials and record on this computer without asking the \
                 server (for a server that is gone). The server may still list it.",
            )
            .clicked()
        {
            action = Some(FleetAction::Forget(key.clone()));
        }
        if ui.button("Keep").clicked() {
            action = Some(FleetAction::KeepPaired);
        }
    });
    action
}

/// The hand-off form of one device: what will happen, the command, and the confirmation.
fn handoff_form(ui: &mut Ui, form: &mut HandoffForm, key: &DeviceKey) -> Option<FleetAction> {
    let mut action = None;
    ui.label(RichText::new(format!("Hand {} off to the device", key.id)).strong());
    ui.add(
        egui::Label::new(
            "The command below gets the device's credentials as JSON on its standard input. \
             When it exits 0, this laptop lets go: it deletes its copy and sends no more \
             heartbeats or refreshes for the device. Pair it again to manage it from here.",
        )
        .wrap(),
    );
    let label = ui.label(HANDOFF_COMMAND_LABEL);
    ui.add(
        egui::TextEdit::singleline(&mut form.command)
            .hint_text("e.g. ssh cam-1 c2c-import")
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label.id);
    ui.horizontal(|ui| {
        let ready = !form.command.trim().is_empty();
        if ui
            .add_enabled(ready, egui::Button::new("Hand off now"))
            .clicked()
        {
            action = Some(FleetAction::HandOff {
                key: key.clone(),
                command: form.command.trim().to_owned(),
            });
            *form = HandoffForm::default();
        }
        if ui.button("Keep it here").clicked() {
            *form = HandoffForm::default();
        }
    });
    action
}

/// What a row says about its device: name, status, project, token expiry, heartbeat, and
/// why it needs attention.
fn details(ui: &mut Ui, view: &DeviceView, now: u64) {
    let record = &view.record;
    ui.horizontal(|ui| {
        ui.label(RichText::new(title(view)).strong());
        badge(ui, &view.status);
    });
    if let Some(project) = &record.project_name {
        ui.label(format!("Connected to project {project}"));
    }
    if record.is_demo() {
        ui.label(RichText::new("demo server").small());
    }
    if let Status::HandedOff { at } = view.status {
        ui.label(
            RichText::new(format!(
                "Handed off to the device at {}; pair again to manage it from here.",
                format::rfc3339(at)
            ))
            .small(),
        );
        return;
    }
    ui.label(
        RichText::new(format!(
            "{} · {}",
            format::token_expiry(record.access_expires_at, now),
            format::heartbeat(record.last_heartbeat, now)
        ))
        .small(),
    );
    match &view.status {
        Status::Offline { reason }
        | Status::NeedsRepairing { reason }
        | Status::UnpairPending { reason } => {
            ui.label(
                RichText::new(reason)
                    .small()
                    .color(ui.visuals().warn_fg_color),
            );
        }
        Status::Paired | Status::Online | Status::HandedOff { .. } => {}
    }
    if let Some(warning) = &view.warning {
        ui.label(
            RichText::new(warning)
                .small()
                .color(ui.visuals().warn_fg_color),
        );
    }
}

fn badge(ui: &mut Ui, status: &Status) {
    let color = match status {
        Status::Online => Color32::from_rgb(80, 200, 120),
        Status::Paired => Color32::from_rgb(120, 160, 255),
        Status::Offline { .. } | Status::UnpairPending { .. } => Color32::from_rgb(255, 170, 0),
        Status::NeedsRepairing { .. } => Color32::from_rgb(255, 90, 90),
        Status::HandedOff { .. } => Color32::from_rgb(150, 150, 150),
    };
    ui.label(RichText::new(status.badge()).small().strong().color(color));
}
