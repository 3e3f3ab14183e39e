//! Errands the window sends the worker that touch no device: importing a device list,
//! writing the fleet report, gathering diagnostics, saving the client secret. Each runs in
//! its own task (files and the keychain can be slow) and answers with an event.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use secrecy::SecretString;

use super::{Event, FromTask, Outbox, State};
use crate::backend::{self, Backend};
use crate::clock::unix_seconds;
use crate::registry::DeviceRecord;
use crate::{diagnostics, import, report};

impl State {
    /// Reads a device list from `path` (answered with [`Event::Imported`]).
    pub(super) fn import(&self, path: PathBuf) {
        let outbox = self.outbox.clone();
        tokio::spawn(async move { import_file(&path, &outbox).await });
    }

    /// Writes the fleet report into `dir` (answered with [`Event::ReportWritten`]).
    pub(super) fn export_report(&self, dir: PathBuf) {
        let (registry, outbox) = (self.setup.registry.clone(), self.outbox.clone());
        tokio::task::spawn_blocking(move || {
            let written = registry.load().map_err(|e| e.to_string()).and_then(|l| {
                let devices: Vec<&DeviceRecord> = l.devices.iter().collect();
                report::write_files(&dir, &devices, unix_seconds(SystemTime::now()))
            });
            outbox.send(Event::ReportWritten(written));
        });
    }

    /// Gathers diagnostics (answered with [`Event::Diagnostics`]).
    pub(super) fn diagnose(&self) {
        let (mut setup, outbox) = (self.setup.clone(), self.outbox.clone());
        // Demo mode checks the built-in server it uses, never the internet (a booth may
        // have none, and a problem there is not this app's).
        if self.backend.is_demo() {
            setup.choice.profile = self.backend.client.profile().clone();
            setup.choice.force_demo = true;
        }
        tokio::spawn(async move {
            let subject = diagnostics::Subject {
                choice: &setup.choice,
                keychain: &setup.keychain,
                registry: &setup.registry,
            };
            let found = diagnostics::gather(&subject).await;
            outbox.send(Event::Diagnostics(found.text));
        });
    }

    /// Saves the client secret, then sets the backend up anew with it. Both wait on the
    /// keychain, so a task does them and reports the new backend back: the loop goes on
    /// serving Cancel and the rest meanwhile.
    pub(super) fn save_client_secret(&self, secret: SecretString) {
        let (setup, outbox) = (self.setup.clone(), self.outbox.clone());
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let saved =
                backend::save_client_secret(&setup.keychain, &setup.choice.profile, secret).await;
            let reconnect = saved.is_ok();
            outbox.send(Event::SecretSaved(saved.map_err(|e| e.to_string())));
            if reconnect {
                let next = Backend::connect(setup.choice, &setup.keychain)
                    .await
                    .map_err(|e| super::backend_message(&e));
                let _ = reports.send(FromTask::Reconnected(Box::new(next)));
            }
        });
    }
}

/// Largest device list read from a file.
const MAX_IMPORT: u64 = 1024 * 1024;

async fn import_file(path: &Path, outbox: &Outbox) {
    let shown = path.display();
    let size = tokio::fs::metadata(path).await.map(|m| m.len());
    let read = match size {
        Ok(size) if size > MAX_IMPORT => Err(format!(
            "{shown} is larger than 1 MiB; is it a device list?"
        )),
        Ok(_) => tokio::fs::read(path)
            .await
            .map_err(|e| format!("{shown} could not be read: {e}")),
        Err(e) => Err(format!("{shown} could not be read: {e}")),
    };
    match read {
        Ok(bytes) => {
            let (text, problem) = import::decode(&bytes);
            if let Some(problem) = problem {
                outbox.send(Event::Notice(format!("{shown}: {problem}")));
            }
            outbox.send(Event::Imported(text));
        }
        Err(message) => outbox.send(Event::Notice(message)),
    }
}
