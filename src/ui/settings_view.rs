//! The Settings section: the client secret (saved to the OS keychain, never a file) and
//! where the configuration file is.

use std::path::PathBuf;

use egui::{RichText, Ui};
use secrecy::SecretString;

use super::SECRET_LABEL;
use super::intent::Intent;

/// The secret being typed, how its last save went, and the configuration file's path.
#[derive(Default)]
pub struct SettingsView {
    secret: String,
    saved: Option<Result<(), String>>,
    config_file: Option<PathBuf>,
}

impl SettingsView {
    /// Settings naming `config_file` (`None`: not said).
    pub fn new(config_file: Option<PathBuf>) -> Self {
        Self {
            config_file,
            ..Self::default()
        }
    }

    /// How the save went; a saved secret leaves the field.
    pub fn saved(&mut self, result: Result<(), String>) {
        if result.is_ok() {
            self.secret.clear();
        }
        self.saved = Some(result);
    }

    /// Draws the section.
    pub fn ui(&mut self, ui: &mut Ui) -> Option<Intent> {
        egui::CollapsingHeader::new("Settings")
            .show(ui, |ui| self.contents(ui))
            .body_returned
            .flatten()
    }

    fn contents(&mut self, ui: &mut Ui) -> Option<Intent> {
        ui.label(
            "Pairing with Frame.io needs the client secret Frame.io issued for your device \
             model. It is kept in the OS keychain, never in a file.",
        );
        let mut intent = None;
        ui.horizontal(|ui| {
            let label = ui.label(SECRET_LABEL);
            ui.add(
                egui::TextEdit::singleline(&mut self.secret)
                    .password(true)
                    .desired_width(260.0),
            )
            .labelled_by(label.id);
            let ready = !self.secret.trim().is_empty();
            if ui
                .add_enabled(ready, egui::Button::new("Save to keychain"))
                .clicked()
            {
                let secret = SecretString::from(self.secret.trim().to_owned());
                intent = Some(Intent::SaveSecret(secret));
            }
        });
        match &self.saved {
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
        intent
    }
}
