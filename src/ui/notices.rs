//! Short messages above the form: a report saved, an approval that arrived as the user
//! cancelled, a file that could not be read.

use egui::Ui;

/// Notices kept on screen.
const KEPT: usize = 4;

/// The latest notices, oldest first.
#[derive(Default)]
pub struct Notices(Vec<String>);

impl Notices {
    /// Adds a notice; the oldest make way.
    pub fn push(&mut self, line: String) {
        self.0.push(line);
        let excess = self.0.len().saturating_sub(KEPT);
        self.0.drain(..excess);
    }

    /// Draws them with "Dismiss", which clears them.
    pub fn ui(&mut self, ui: &mut Ui) {
        if self.0.is_empty() {
            return;
        }
        for line in &self.0 {
            ui.label(line);
        }
        if ui.small_button("Dismiss").clicked() {
            self.0.clear();
        }
        ui.add_space(8.0);
    }
}
