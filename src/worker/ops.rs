//! Operations on a paired device — refresh, unpair, forget, upload, note, hand-off — and the
//! one place that starts them: the checks (listed, not busy, no tokens being saved), the
//! entry in [`super::work::Work`], the task, and its end reported on every path, panics
//! included, naming the very operation that ended. Each operation's body is a few lines here
//! (the upload's is in `uploads`).

use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::mpsc as tokio_mpsc;
use tokio_util::sync::CancellationToken;

use super::context::{ContextSource, ready};
use super::fleet::AfterLoad;
use super::held::rescue;
use super::protocol::{DeviceOp, Event, UploadSetup};
use super::uploads::{Batch, send_batch};
use super::work::{Ended, Handle};
use super::{FromTask, Outbox, State};
use crate::device::upload::QueueControls;
use crate::device::{self, Context, LifecycleError, UnsavedTokens};
use crate::keychain::Keychain;
use crate::registry::{DeviceKey, DeviceRecord, Registry};

impl State {
    /// Starts `op` on a device; a device not in the list as last read (a pairing that just
    /// ended) is looked for in a fresh read first.
    pub(super) fn start(&mut self, key: DeviceKey, op: DeviceOp) {
        if self.record(&key).is_none() {
            self.reload_fleet(AfterLoad::Start(key, op));
            return;
        }
        self.start_listed(key, op);
    }

    /// [`State::start`] once the list has been read: a device not in it is gone. Refused,
    /// with a notice, while the device is busy or its held tokens are being saved; nothing
    /// is entered before every check has passed.
    pub(super) fn start_listed(&mut self, key: DeviceKey, op: DeviceOp) {
        let Some(record) = self.record(&key) else {
            self.notice(format!("{} is no longer in the device list", key.id));
            return;
        };
        if let Some(busy) = self.work.in_the_way(&key) {
            self.notice(format!(
                "{}: {} is under way; try again once it ends.",
                key.id,
                busy.label().trim_end_matches('…')
            ));
            return;
        }
        // Forgetting needs no server, and the tokens held for the device go with it.
        let held = if matches!(op, DeviceOp::Forget) {
            self.held.forget(&key);
            None
        } else {
            let Ok(held) = self.held.take(&key) else {
                self.notice(format!(
                    "{}: its new credentials are being saved; try again in a moment.",
                    key.id
                ));
                return;
            };
            held
        };
        let handle = match &op {
            DeviceOp::Upload { .. } => Handle::Queue(QueueControls::new()),
            DeviceOp::HandOff { .. } => Handle::Stop(CancellationToken::new()),
            _ => Handle::Unsteered,
        };
        let Ok(id) = self.work.start(&key, op.busy(), handle.clone()) else {
            // Not busy a moment ago, and nothing else ran meanwhile: cannot happen.
            return;
        };
        self.show_fleet();
        let task = OpTask {
            op,
            handle,
            held,
            source: self.context_source(&record),
            record,
            setup: self.setup.uploads.clone(),
            keychain: self.setup.keychain.clone(),
            registry: self.setup.registry.clone(),
            outbox: self.outbox.clone(),
            reports: self.reports.clone(),
        };
        let end = Ended::new(key, id, self.reports.clone());
        self.spawn_op(task, end);
    }

    /// A notice for the window.
    pub(super) fn notice(&self, line: String) {
        self.outbox.send(Event::Notice(line));
    }

    /// Runs an operation's task; its end is reported however it ends.
    #[cfg(not(test))]
    #[expect(
        clippy::unused_self,
        reason = "a method, as the test seam that keeps the task in the state"
    )]
    fn spawn_op(&self, task: OpTask, end: Ended) {
        tokio::spawn(async move { end.say(task.run().await) });
    }

    /// Tests keep the task instead of running it, and end it themselves (see `tests`).
    #[cfg(test)]
    fn spawn_op(&mut self, task: OpTask, end: Ended) {
        let _what_would_run = OpTask::run;
        self.kept_ops.push((task, end));
    }
}

/// Everything an operation's task needs.
pub(super) struct OpTask {
    op: DeviceOp,
    handle: Handle,
    held: Option<UnsavedTokens>,
    source: ContextSource,
    record: DeviceRecord,
    setup: UploadSetup,
    keychain: Keychain,
    registry: Registry,
    outbox: Outbox,
    reports: tokio_mpsc::UnboundedSender<FromTask>,
}

impl OpTask {
    /// The upload queue's controls, for an upload.
    #[cfg(test)]
    pub(super) fn controls(&self) -> Option<&QueueControls> {
        match &self.handle {
            Handle::Queue(controls) => Some(controls),
            _ => None,
        }
    }

    /// Does the operation; the line to show at its end.
    async fn run(self) -> String {
        let record = &self.record;
        if matches!(self.op, DeviceOp::Forget) {
            return forget(&self.keychain, &self.registry, record).await;
        }
        let context = match ready(self.source, record, self.held, &self.reports).await {
            Ok(context) => context,
            Err(line) => return line,
        };
        let (key, reports) = (record.key(), &self.reports);
        match (self.op, self.handle) {
            (DeviceOp::Refresh, _) => match device::refresh(&context, record).await {
                Ok(_) => format!("{} refreshed.", record.device_id),
                Err(error) => rescue(error, &key, reports),
            },
            (DeviceOp::Check, _) => match device::connected_project(&context, record).await {
                Ok(Some(project)) => {
                    format!("{} is paired, in project {project}.", record.device_id)
                }
                Ok(None) => format!("{} is paired.", record.device_id),
                Err(error) => rescue(error, &key, reports),
            },
            (DeviceOp::Unpair, _) => match device::unpair(&context, record).await {
                Ok(done) => match done.note {
                    Some(note) => format!("{} unpaired: {note}.", record.device_id),
                    None => format!("{} unpaired.", record.device_id),
                },
                Err(error) => error.to_string(),
            },
            (DeviceOp::Upload { files, resume }, Handle::Queue(controls)) => {
                let batch = Batch {
                    files,
                    resume,
                    controls,
                };
                send_batch(&context, record, batch, &self.setup, &self.outbox, reports).await
            }
            (DeviceOp::AddNote { asset_id, text }, _) => {
                match device::upload::comment(&context, record, &asset_id, &text, None).await {
                    Ok(_) => format!("{}: note added to asset {asset_id}.", record.device_id),
                    Err(error) => rescue(error, &key, reports),
                }
            }
            (DeviceOp::HandOff { command }, Handle::Stop(cancel)) => {
                hand_off(&context, record, &command, &cancel, reports).await
            }
            // Entered with their handles by `start_listed`: no other pairing.
            (DeviceOp::Upload { .. } | DeviceOp::HandOff { .. } | DeviceOp::Forget, _) => {
                format!("{}: nothing was done.", record.device_id)
            }
        }
    }
}

/// Forgets a device here: no server, so no context (a server that is gone or a record that
/// is wrong must not stand in the way).
async fn forget(keychain: &Keychain, registry: &Registry, record: &DeviceRecord) -> String {
    let handed_off = record.handed_off_at().is_some();
    match device::forget(keychain, registry, record).await {
        Ok(()) if handed_off => format!(
            "{} removed from the list; the device keeps its pairing.",
            record.device_id
        ),
        Ok(()) => format!(
            "{} forgotten on this computer; the server was not asked.",
            record.device_id
        ),
        Err(error) => error.to_string(),
    }
}

/// Runs a hand-off; the line to show at the end.
async fn hand_off(
    context: &Context,
    record: &DeviceRecord,
    command: &SecretString,
    cancel: &CancellationToken,
    reports: &tokio_mpsc::UnboundedSender<FromTask>,
) -> String {
    let delivery = device::Delivery::Command {
        line: command.expose_secret(),
        cancel,
    };
    match device::hand_off(context, record, delivery).await {
        Ok(done) => {
            let mut line = format!(
                "{} handed off to the device: this laptop deleted its copy of the credentials \
                 and sends no more heartbeats or refreshes for it.",
                record.device_id
            );
            if let Some(leftover) = done.leftover {
                line.push_str(&format!(" Note: {leftover}."));
            }
            line
        }
        Err(device::HandoffError::Lifecycle(error)) => {
            let refreshed = matches!(error, LifecycleError::SaveFailed { .. });
            let line = rescue(error, &record.key(), reports);
            if refreshed {
                format!("{line} Nothing was handed off; hand it off once they are saved.")
            } else {
                line
            }
        }
        Err(error) => error.to_string(),
    }
}
