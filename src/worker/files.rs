//! Files the window hands the worker: device lists to import.

use std::path::Path;

use super::{Event, Outbox};
use crate::import;

/// Largest device list read from a file.
const MAX_IMPORT: u64 = 1024 * 1024;

pub(super) async fn import_file(path: &Path, outbox: &Outbox) {
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
