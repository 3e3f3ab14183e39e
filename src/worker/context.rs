//! Where a device's context (its server, the keychain, the registry) comes from for a
//! task, and the one preamble every task on a device runs first: find its server, save any
//! tokens held for it.

use std::sync::Arc;

use tokio::sync::mpsc as tokio_mpsc;

use super::held::save_held;
use super::{FromTask, State, WorkerSetup};
use crate::backend::Backend;
use crate::device::{Context, UnsavedTokens};
use crate::registry::DeviceRecord;

/// What a task needs to get a recorded device's context (see `State::context_source`).
pub(super) struct ContextSource {
    pub(super) known: Option<Arc<Backend>>,
    pub(super) setup: WorkerSetup,
    pub(super) reports: tokio_mpsc::UnboundedSender<FromTask>,
}

impl ContextSource {
    /// The device's context: its server as known, or found now (its client secret read from
    /// the keychain) and reported back to be kept.
    pub(super) async fn context(self, record: &DeviceRecord) -> Result<Context, String> {
        let backend = if let Some(backend) = self.known {
            backend
        } else {
            let found = Backend::for_record(&self.setup.choice, record, &self.setup.keychain)
                .await
                .map_err(|e| format!("{}: {}", record.device_id, super::backend_message(&e)))?;
            let found = Arc::new(found);
            let _ = self.reports.send(FromTask::ServerFound(
                record.keychain_host.clone(),
                found.clone(),
            ));
            found
        };
        Ok(Context {
            backend,
            keychain: self.setup.keychain,
            registry: self.setup.registry,
        })
    }
}

/// The preamble of every task on a device: its context, with any tokens held for it saved
/// first (the keychain still holds their spent predecessors). `Err` says why the task cannot
/// go on; held tokens that could not be saved go back to the loop.
pub(super) async fn ready(
    source: ContextSource,
    record: &DeviceRecord,
    held: Option<UnsavedTokens>,
    reports: &tokio_mpsc::UnboundedSender<FromTask>,
) -> Result<Context, String> {
    let key = record.key();
    let context = match source.context(record).await {
        Ok(context) => context,
        Err(message) => {
            if let Some(tokens) = held {
                let _ = reports.send(FromTask::Held(key, Box::new(tokens)));
            }
            return Err(message);
        }
    };
    if !save_held(held, &key, &context.keychain, reports).await {
        return Err(format!(
            "{}: the keychain still refuses its new credentials; unlock it first.",
            key.id
        ));
    }
    Ok(context)
}

impl State {
    /// Where a recorded device's context comes from: its server when this worker already
    /// knows it, else what a task needs to find it (reading a client secret can hang on the
    /// keychain, so it never happens in the loop).
    /// Whether `record` was paired with a built-in demo server that is gone: not the one
    /// running now (another address, or paired before it started). Its tokens went with it.
    pub(super) fn demo_gone(&self, record: &DeviceRecord) -> bool {
        if !record.is_demo() {
            return false;
        }
        match &self.demo_server {
            None => true,
            Some(server) => {
                record.api_base != server.base_url().as_str()
                    || record.paired_at < server.started_at()
            }
        }
    }

    pub(super) fn context_source(&self, record: &DeviceRecord) -> ContextSource {
        let known = if record.keychain_host == self.backend.client.profile().keychain_host() {
            Some(self.backend.clone())
        } else {
            self.other_servers.get(&record.keychain_host).cloned()
        };
        ContextSource {
            known,
            setup: self.setup.clone(),
            reports: self.reports.clone(),
        }
    }
}
