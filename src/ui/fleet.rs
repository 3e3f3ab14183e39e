//! The device list: every recorded device with its state, project, token lifetime and last
//! heartbeat; Send test clip and Upload files…, and in a Manage menu the actions Refresh
//! now, Check, Re-pair, Unpair (confirmed first) and Hand off… (a command, confirmed by the
//! words that the laptop lets go).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use egui::{Color32, RichText, Ui};
use secrecy::SecretString;

use super::uploads::{self, FormAnswer, UploadForm};
use crate::clock::unix_seconds;
use crate::device::upload::QueueStatus;
use crate::human_time as format;
use crate::import::Entry;
use crate::worker::{Busy, Command, DeviceKey, DeviceOp, DeviceView, OpControl, Status};

/// How often relative times ("heartbeat 53 s ago", "token valid for 7 h") are redrawn
/// while shown.
pub const RELATIVE_TIMES_REDRAWN: Duration = Duration::from_secs(15);

/// The menu of a usable device's row holding Refresh now, Check, Re-pair, Hand off… and
/// Unpair; also its accessible name.
pub const MANAGE: &str = "Manage";

/// Label of the hand-off command field, also its accessible name.
pub const HANDOFF_COMMAND_LABEL: &str = "Hand-off command";

/// What the user asked for in the list: what only the window settles (asking, keeping,
/// pairing again, where the report goes), or a command for the worker as is.
#[derive(Debug)]
pub enum FleetAction {
    /// Pair this device again (its name and firmware version kept).
    Repair(Entry),
    /// Ask to unpair (the list then asks for confirmation).
    AskUnpair(DeviceKey),
    /// Do not unpair after all.
    KeepPaired,
    /// Save the pairing report (CSV and JSON).
    ExportReport,
    /// Hand this to the worker.
    Send(Command),
}

/// The form open under one device's row.
#[derive(Debug)]
pub enum RowForm {
    /// Files to upload.
    Upload(UploadForm),
    /// The command a hand-off runs, as typed so far.
    HandOff(String),
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
    /// The form open under one device's row.
    pub form: &'a mut Option<(DeviceKey, RowForm)>,
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
    /// The form open under one device's row (never persisted).
    pub form: Option<(DeviceKey, RowForm)>,
}

impl FleetView {
    /// Draws the list; confirming or declining an unpair is settled here, the rest is asked.
    pub fn ui(&mut self, ui: &mut Ui) -> Option<FleetAction> {
        let mut state = ListState {
            confirming: self.confirming.as_ref(),
            uploads: &self.uploads,
            report_dir: &self.report_dir,
            form: &mut self.form,
        };
        let action = show(ui, &self.devices, &mut state)?;
        match &action {
            FleetAction::AskUnpair(key) => self.confirming = Some(key.clone()),
            FleetAction::KeepPaired
            | FleetAction::Send(Command::Device {
                op: DeviceOp::Unpair | DeviceOp::Forget,
                ..
            }) => {
                self.confirming = None;
            }
            _ => {}
        }
        Some(action)
    }

    /// Files dropped on the window go into an open upload form (true), else nowhere here.
    pub fn take_dropped(&mut self, dropped: &[std::path::PathBuf]) -> bool {
        match &mut self.form {
            Some((_, RowForm::Upload(form))) if !dropped.is_empty() => {
                form.add_dropped(dropped);
                true
            }
            _ => false,
        }
    }
}

/// A command for the device of `key`.
fn device(key: &DeviceKey, op: DeviceOp) -> FleetAction {
    FleetAction::Send(Command::Device {
        key: key.clone(),
        op,
    })
}

/// Draws the list.
fn show(ui: &mut Ui, devices: &[DeviceView], state: &mut ListState<'_>) -> Option<FleetAction> {
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
    let gone = devices
        .iter()
        .filter(|view| view.status == Status::DemoGone)
        .count();
    if gone > 0
        && ui
            .button(format!("Forget old demo devices ({gone})"))
            .on_hover_text("Remove the devices of demo servers that have stopped from this list")
            .clicked()
    {
        action = Some(FleetAction::Send(Command::ForgetGoneDemo));
    }
    for view in devices {
        ui.separator();
        if let Some(chosen) = row(ui, view, state, now) {
            action = Some(chosen);
        }
    }
    action
}

fn row(ui: &mut Ui, view: &DeviceView, state: &mut ListState<'_>, now: u64) -> Option<FleetAction> {
    let key = view.record.key();
    details(ui, view, now);
    if let Some(busy) = view.busy {
        return busy_row(ui, busy, &key, state);
    }
    if matches!(view.status, Status::HandedOff { .. } | Status::DemoGone) {
        // The laptop holds nothing usable for it: the record can only go.
        let hover = if view.status == Status::DemoGone {
            "Remove it from this list (its demo server, and the pairing, are gone)"
        } else {
            "Remove it from this list; the device keeps its pairing"
        };
        if ui.button("Forget").on_hover_text(hover).clicked() {
            return Some(device(&key, DeviceOp::Forget));
        }
        return None;
    }
    if let Some((open, RowForm::HandOff(command))) = &mut *state.form
        && *open == key
    {
        let (asked, done) = handoff_form(ui, command, &key);
        if done {
            *state.form = None;
        }
        return asked;
    }
    if state.confirming == Some(&key) {
        return unpair_confirmation(ui, &key);
    }
    let usable = !matches!(
        view.status,
        Status::NeedsRepairing { .. } | Status::UnpairPending { .. }
    );
    // A device that needs attention shows what keeps its pairing in full; a usable one shows
    // what it is for (sending media), the rest in its Manage menu: a row of three buttons
    // reads at a glance, and costs a third of seven in every frame.
    let mut action = if usable {
        None
    } else {
        ui.horizontal(|ui| manage_buttons(ui, view, &key)).inner
    };
    if let Some(status) = state.uploads.get(&key) {
        // How the last queue ended stays in view until the next one.
        if let Some(asked) = uploads::panel(ui, &key, status, false) {
            action = Some(FleetAction::Send(asked));
        }
    }
    if let Some((open, RowForm::Upload(form))) = &mut *state.form
        && *open == key
    {
        match form.ui(ui, &key) {
            FormAnswer::Open => {}
            FormAnswer::Send(command) => {
                *state.form = None;
                return Some(FleetAction::Send(command));
            }
            FormAnswer::Close => *state.form = None,
        }
        return action;
    }
    if usable {
        ui.horizontal(|ui| {
            if ui
                .button("Send test clip")
                .on_hover_text("Upload a 4-second clip as this device")
                .clicked()
            {
                action = Some(FleetAction::Send(uploads::upload(&key, Vec::new())));
            }
            if ui
                .button("Upload files…")
                .on_hover_text("Send files or folders as this device")
                .clicked()
            {
                *state.form = Some((key.clone(), RowForm::Upload(UploadForm::default())));
            }
            let menu = ui.menu_button(MANAGE, |ui| {
                let asked = manage_buttons(ui, view, &key);
                if ui
                    .button("Hand off…")
                    .on_hover_text("Move this pairing to the device itself; the laptop lets go")
                    .clicked()
                {
                    *state.form = Some((key.clone(), RowForm::HandOff(String::new())));
                }
                asked
            });
            menu.response
                .on_hover_text("Refresh, check, re-pair, hand off or unpair this device");
            if let Some(Some(asked)) = menu.inner {
                action = Some(asked);
            }
        });
    }
    action
}

/// Refresh, Check, Re-pair, Unpair: what keeps a pairing, laid out by the caller (in a row,
/// or as a menu).
fn manage_buttons(ui: &mut Ui, view: &DeviceView, key: &DeviceKey) -> Option<FleetAction> {
    let record = &view.record;
    let mut action = None;
    // A device marked for re-pairing may have been marked by a settings mistake since fixed:
    // the user may try once more.
    let repair = matches!(view.status, Status::NeedsRepairing { .. });
    let label = if repair {
        "Try refresh again"
    } else {
        "Refresh now"
    };
    if ui.button(label).clicked() {
        action = Some(device(key, DeviceOp::Refresh));
    }
    if ui
        .button("Check")
        .on_hover_text("Ask the server whether it is still paired, and to which project")
        .clicked()
    {
        action = Some(device(key, DeviceOp::Check));
    }
    if ui.button("Re-pair").clicked() {
        action = Some(FleetAction::Repair(Entry {
            device_id: record.device_id.clone(),
            name: record.name.clone(),
            firmware: record.client_version.clone(),
        }));
    }
    if ui.button("Unpair").clicked() {
        action = Some(FleetAction::AskUnpair(key.clone()));
    }
    action
}

/// A device with an action under way: what it is, with its progress and a way to stop it.
fn busy_row(
    ui: &mut Ui,
    busy: Busy,
    key: &DeviceKey,
    state: &ListState<'_>,
) -> Option<FleetAction> {
    let cancel = || {
        FleetAction::Send(Command::Control {
            key: key.clone(),
            ctl: OpControl::Cancel,
        })
    };
    ui.label(busy.label());
    match busy {
        Busy::HandingOff => ui
            .button("Cancel hand-off")
            .on_hover_text("Stop the command; the laptop keeps the pairing")
            .clicked()
            .then(cancel),
        Busy::Uploading => match state.uploads.get(key) {
            Some(status) => uploads::panel(ui, key, status, true).map(FleetAction::Send),
            None => ui.button("Cancel upload").clicked().then(cancel),
        },
        _ => None,
    }
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
            action = Some(device(key, DeviceOp::Unpair));
        }
        if ui
            .button("Forget here only")
            .on_hover_text(
                "Delete its credentials and record on this computer without asking the \
                 server (for a server that is gone). The server may still list it.",
            )
            .clicked()
        {
            action = Some(device(key, DeviceOp::Forget));
        }
        if ui.button("Keep").clicked() {
            action = Some(FleetAction::KeepPaired);
        }
    });
    action
}

/// The hand-off form of one device: what will happen, the command, and the confirmation;
/// what was asked, and whether the form is done.
fn handoff_form(ui: &mut Ui, command: &mut String, key: &DeviceKey) -> (Option<FleetAction>, bool) {
    let (mut action, mut done) = (None, false);
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
        egui::TextEdit::singleline(command)
            .hint_text("e.g. ssh cam-1 c2c-import")
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label.id);
    ui.horizontal(|ui| {
        let ready = !command.trim().is_empty();
        if ui
            .add_enabled(ready, egui::Button::new("Hand off now"))
            .clicked()
        {
            let command = SecretString::from(command.trim().to_owned());
            action = Some(device(key, DeviceOp::HandOff { command }));
            done = true;
        }
        if ui.button("Keep it here").clicked() {
            done = true;
        }
    });
    (action, done)
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
    if view.status == Status::DemoGone {
        ui.label(
            RichText::new(
                "Paired with a demo server that has stopped since: the pairing went with it \
                 (a demo server keeps nothing). Forget it, and pair again on this one.",
            )
            .small(),
        );
        return;
    }
    // A refused token is no longer "valid for 8 h", whatever its expiry said.
    let token = match view.status {
        Status::NeedsRepairing { .. } => "token refused by the server".to_owned(),
        _ => format::token_expiry(record.access_expires_at, now),
    };
    ui.label(
        RichText::new(format!(
            "{token} · {}",
            format::heartbeat(record.last_heartbeat, now)
        ))
        .small(),
    );
    // Relative times age without input: redrawn by a timer, never continuously.
    ui.ctx().request_repaint_after(RELATIVE_TIMES_REDRAWN);
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
        Status::Paired | Status::Online | Status::HandedOff { .. } | Status::DemoGone => {}
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
        Status::HandedOff { .. } | Status::DemoGone => Color32::from_rgb(150, 150, 150),
    };
    ui.label(RichText::new(status.badge()).small().strong().color(color));
}
