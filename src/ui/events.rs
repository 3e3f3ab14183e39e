//! The worker's events, each applied to the view it concerns.

use super::PairApp;
use super::cards::apply_progress;
use crate::worker::{Event, RunEnd};

impl PairApp {
    /// Applies one event from the worker.
    pub(super) fn apply_event(&mut self, ctx: &egui::Context, event: Event) {
        match event {
            Event::Ready(mode) => {
                self.link.mode = Some(mode);
                self.booth.warn_if_phones_cannot_reach(&self.link);
            }
            Event::StartFailed(message) => self.link.start_error = Some(message),
            Event::SecretSaved(result) => self.settings.saved(result),
            Event::Progress { run, event } => {
                let booth = self.booth.card_mut().filter(|card| card.run == run);
                if let Some(card) = booth.or_else(|| self.cards.get(run)) {
                    apply_progress(card, event);
                }
            }
            Event::Finished { run, end } => self.finished(run, end),
            Event::Fleet(devices) => self.fleet.devices = devices,
            Event::Uploads(key, status) => {
                self.fleet.uploads.insert(key, status);
            }
            Event::Notice(line) => self.notices.push(line),
            Event::Network(status) => self.status.network = Some(status),
            Event::Diagnostics(text) => self.status.gathered(ctx, text),
            Event::ReportWritten(written) => self.notices.push(match written {
                Ok(files) => format!(
                    "Report saved: {} and {}",
                    files.csv.display(),
                    files.json.display()
                ),
                Err(message) => format!("The report was not saved: {message}."),
            }),
            Event::Imported(text) => self.add.imported(&text),
        }
    }

    /// A run ended: on the booth screen, on its card, or after its card went.
    fn finished(&mut self, run: u64, end: RunEnd) {
        if self.booth.shows(run) {
            if self.booth.finished(end) {
                self.booth.next_code(&mut self.cards, &self.link);
            }
            return;
        }
        if let RunEnd::Paired(paired) = &end
            && self.cards.get(run).is_none()
        {
            // The approval arrived with the poll that was on its way as the user cancelled:
            // the tokens were saved, so say so rather than stay silent.
            self.notices.push(format!(
                "{} was approved as you cancelled; its credentials were saved in the OS \
                 keychain as {}.",
                paired.device_id, paired.keychain_account
            ));
            return;
        }
        self.cards.finished(run, end);
    }
}
