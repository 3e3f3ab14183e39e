//! The form to add devices: one by id (and optional name and firmware version), or a pasted
//! or dropped list.

use egui::{Key, Ui};

use super::intent::Intent;
use super::{DEVICE_ID_LABEL, FIRMWARE_LABEL, LIST_LABEL, NAME_LABEL};
use crate::device::DeviceId;
use crate::import::{self, Entry};

/// What is typed in the form, and why the last id was refused.
#[derive(Default)]
pub struct AddForm {
    device: String,
    name: String,
    /// Kept for the next device once one starts: a rig's devices often share it.
    firmware: String,
    /// Why the typed device cannot be paired now.
    pub error: Option<String>,
    list: String,
    list_open: bool,
}

impl AddForm {
    /// The typed device's run started: the fields make way for the next one.
    pub fn started(&mut self) {
        self.error = None;
        self.device.clear();
        self.name.clear();
    }

    /// Every device of the list started: the list empties.
    pub fn list_started(&mut self) {
        self.list.clear();
    }

    /// Adds lines read from a dropped file to the list, and opens it.
    pub fn imported(&mut self, text: &str) {
        if !self.list.trim().is_empty() {
            self.list.push('\n');
        }
        self.list.push_str(text);
        self.list_open = true;
    }

    /// Draws the form; `can_pair` is false while nothing can start.
    pub fn ui(&mut self, ui: &mut Ui, can_pair: bool) -> Option<Intent> {
        let submitted = egui::Grid::new("pair-form")
            .num_columns(2)
            .spacing([12.0, 8.0])
            .show(ui, |ui| {
                let id_label = ui.label(DEVICE_ID_LABEL);
                let id_field = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.device)
                            .hint_text("e.g. CAM-0042")
                            .desired_width(320.0),
                    )
                    .labelled_by(id_label.id);
                ui.end_row();
                let name_label = ui.label(NAME_LABEL);
                let name_field = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.name)
                            .hint_text("e.g. A-Cam")
                            .desired_width(320.0),
                    )
                    .labelled_by(name_label.id);
                ui.end_row();
                let firmware_label = ui.label(FIRMWARE_LABEL);
                let firmware_field = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.firmware)
                            .hint_text("e.g. 2.16.4; else this app's setting")
                            .desired_width(320.0),
                    )
                    .labelled_by(firmware_label.id)
                    .on_hover_text(
                        "Sent as x-client-version on this device's calls: Frame.io picks the \
                         device model's features by it",
                    );
                ui.end_row();
                let enter = ui.input(|i| i.key_pressed(Key::Enter));
                let left = id_field.lost_focus() || name_field.lost_focus();
                (left || firmware_field.lost_focus()) && enter
            })
            .inner;
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let mut intent = None;
        if ui
            .add_enabled(can_pair, egui::Button::new("Pair"))
            .clicked()
            || (can_pair && submitted)
        {
            intent = self.submit();
        }
        ui.add_space(8.0);
        self.list_form(ui, can_pair).or(intent)
    }

    fn submit(&mut self) -> Option<Intent> {
        let device_id = match DeviceId::parse(&self.device) {
            Ok(device_id) => device_id,
            Err(error) => {
                self.error = Some(error.to_string());
                return None;
            }
        };
        let firmware = Some(self.firmware.trim().to_owned()).filter(|f| !f.is_empty());
        if let Some(version) = &firmware
            && let Err(error) = crate::c2c::profile::check_client_version(version)
        {
            self.error = Some(format!("Firmware version: {error}"));
            return None;
        }
        let name = Some(self.name.trim().to_owned()).filter(|n| !n.is_empty());
        Some(Intent::PairTyped(Entry {
            device_id,
            name,
            firmware,
        }))
    }

    /// Several devices at once: pasted serials or `id,name` lines, or a dropped CSV file.
    fn list_form(&mut self, ui: &mut Ui, can_pair: bool) -> Option<Intent> {
        let header =
            egui::CollapsingHeader::new("Add several devices").open(self.list_open.then_some(true));
        let shown = header.show(ui, |ui| {
            ui.label(
                "Paste serial numbers, or lines of id,name,firmware — or drop a CSV file on the \
                 window.",
            );
            let label = ui.label(LIST_LABEL);
            ui.add(
                egui::TextEdit::multiline(&mut self.list)
                    .desired_rows(5)
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
            let parsed = import::parse(&self.list);
            for problem in &parsed.problems {
                ui.colored_label(ui.visuals().warn_fg_color, problem);
            }
            let text = match parsed.entries.len() {
                1 => "Pair 1 device".to_owned(),
                n => format!("Pair {n} devices"),
            };
            let ready = can_pair && !parsed.entries.is_empty();
            ui.add_enabled(ready, egui::Button::new(text))
                .clicked()
                .then(|| Intent::PairList(parsed.entries))
        });
        self.list_open = shown.openness > 0.0;
        shown.body_returned.flatten()
    }
}
