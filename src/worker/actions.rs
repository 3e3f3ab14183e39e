//! What the user asks done to a paired device — refresh, unpair, upload the test clip, hand
//! off, forget — each in a task that reports back, never in the loop; and refreshed tokens
//! the keychain refused, held until it accepts them.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::mpsc as tokio_mpsc;
use tokio_util::sync::CancellationToken;

use super::fleet::AfterLoad;
use super::uploads::{Batch, send_batch};
use super::{DeviceKey, Event, FromTask, HANDING_OFF, State, WorkerSetup};
use crate::backend::Backend;
use crate::device::{self, Context, LifecycleError, UnsavedTokens};
use crate::keychain::Keychain;
use crate::registry::DeviceRecord;

/// Refreshed tokens the keychain refused, by device, owned by the worker's loop. The keychain
/// still holds the spent set, so nothing else may use that device until these are saved: a
/// task takes them to save first, and reports back whether it did.
#[derive(Default)]
pub(super) struct HeldSets(HashMap<DeviceKey, Slot>);

/// Where a device's held tokens are.
enum Slot {
    /// Here, waiting for the keychain.
    Here(UnsavedTokens),
    /// With a task saving them.
    Out,
}

/// A task is saving the device's held tokens right now.
pub(super) struct HeldOut;

impl HeldSets {
    /// Hands a device's held tokens (if any) to a task, which must report
    /// [`FromTask::HeldSaved`] or [`FromTask::Held`]; `Err` while another task has them.
    pub(super) fn take(&mut self, key: &DeviceKey) -> Result<Option<UnsavedTokens>, HeldOut> {
        match self.0.remove(key) {
            None => Ok(None),
            Some(Slot::Out) => {
                self.0.insert(key.clone(), Slot::Out);
                Err(HeldOut)
            }
            Some(Slot::Here(tokens)) => {
                self.0.insert(key.clone(), Slot::Out);
                Ok(Some(tokens))
            }
        }
    }

    /// Tokens the keychain refused, kept until it accepts them.
    pub(super) fn hold(&mut self, key: DeviceKey, tokens: UnsavedTokens) {
        self.0.insert(key, Slot::Here(tokens));
    }

    /// A task saved the tokens it took.
    pub(super) fn saved(&mut self, key: &DeviceKey) {
        if matches!(self.0.get(key), Some(Slot::Out)) {
            self.0.remove(key);
        }
    }

    /// The device is forgotten: so are its tokens.
    pub(super) fn forget(&mut self, key: &DeviceKey) {
        self.0.remove(key);
    }
}

/// Saves the held tokens a task took; `false` while the keychain still refuses them (they go
/// back to the loop).
pub(super) async fn save_held(
    tokens: Option<UnsavedTokens>,
    key: &DeviceKey,
    keychain: &Keychain,
    reports: &tokio_mpsc::UnboundedSender<FromTask>,
) -> bool {
    let Some(tokens) = tokens else { return true };
    match tokens.save(keychain).await {
        Ok(()) => {
            let _ = reports.send(FromTask::HeldSaved(key.clone()));
            true
        }
        Err(error) => {
            tracing::warn!(device = %key.id, %error, "held tokens still cannot be saved");
            let _ = reports.send(FromTask::Held(key.clone(), Box::new(tokens)));
            false
        }
    }
}

/// What a failed operation means for the user; tokens a refresh could not save go back to
/// the loop to be held.
pub(super) fn rescue(
    error: LifecycleError,
    key: &DeviceKey,
    reports: &tokio_mpsc::UnboundedSender<FromTask>,
) -> String {
    match error {
        LifecycleError::SaveFailed { unsaved, error, .. } => {
            let _ = reports.send(FromTask::Held(key.clone(), unsaved));
            format!(
                "{}: refreshed, but the keychain refused the new credentials ({error}). They are \
                 kept in memory and saved as soon as the keychain accepts them; unlock it.",
                key.id
            )
        }
        other => other.to_string(),
    }
}

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

/// What the user asked to be done to a device.
pub(super) enum Action {
    Refresh,
    Unpair,
    /// Send files (or the test clip) one after another, with status, Cancel and "try now".
    Upload(Batch),
    /// Comment on an uploaded asset.
    Note {
        /// The asset.
        asset_id: String,
        /// The comment.
        text: String,
    },
    /// Hand the pairing to the device through this command, which cancelling kills.
    HandOff {
        command: SecretString,
        cancel: CancellationToken,
    },
}

impl State {
    /// Forgets a device here: no server, so no context (a server that is gone or a record
    /// that is wrong must not stand in the way).
    pub(super) fn forget(&mut self, key: DeviceKey) {
        let Some(record) = self.record(&key) else {
            return;
        };
        let handed_off = record.handed_off_at().is_some();
        self.held.forget(&key);
        self.observed.busy.insert(key.clone(), "forgetting…");
        self.show_fleet();
        let (keychain, registry) = (self.setup.keychain.clone(), self.setup.registry.clone());
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let line = match device::forget(&keychain, &registry, &record).await {
                Ok(()) if handed_off => format!(
                    "{} removed from the list; the device keeps its pairing.",
                    record.device_id
                ),
                Ok(()) => format!(
                    "{} forgotten on this computer; the server was not asked.",
                    record.device_id
                ),
                Err(error) => error.to_string(),
            };
            let _ = reports.send(FromTask::ActionDone(key, line));
        });
    }

    /// Where a recorded device's context comes from: its server when this worker already
    /// knows it, else what a task needs to find it (reading a client secret can hang on the
    /// keychain, so it never happens in the loop).
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

    /// Hands a device's pairing off through `command`, which [`State::cancel_hand_off`]
    /// stops.
    pub(super) fn hand_off(&mut self, key: DeviceKey, command: SecretString) {
        let cancel = CancellationToken::new();
        self.handoffs.insert(key.clone(), cancel.clone());
        self.act(key, HANDING_OFF, Action::HandOff { command, cancel });
    }

    /// Stops a hand-off under way: its command is killed, and the laptop keeps the pairing.
    pub(super) fn cancel_hand_off(&mut self, key: &DeviceKey) {
        if let Some(cancel) = self.handoffs.remove(key) {
            cancel.cancel();
        }
    }

    /// Starts `action` on a device, showing it `busy` meanwhile.
    pub(super) fn act(&mut self, key: DeviceKey, busy: &'static str, action: Action) {
        if self.record(&key).is_none() {
            // Not in the list as last read (say, a pairing that just ended): read it first.
            self.reload_fleet(AfterLoad::Act(key, busy, action));
            return;
        }
        self.act_on_listed(key, busy, action);
    }

    /// [`State::act`] once the list has been read: a device not in it is gone.
    pub(super) fn act_on_listed(&mut self, key: DeviceKey, busy: &'static str, action: Action) {
        let Some(record) = self.record(&key) else {
            self.outbox.send(Event::Notice(format!(
                "{} is no longer in the device list",
                key.id
            )));
            return;
        };
        let Ok(held) = self.held.take(&key) else {
            self.outbox.send(Event::Notice(format!(
                "{}: its new credentials are being saved; try again in a moment.",
                key.id
            )));
            return;
        };
        let source = self.context_source(&record);
        self.observed.busy.insert(key.clone(), busy);
        self.show_fleet();
        let reports = self.reports.clone();
        let outbox = self.outbox.clone();
        let uploads = self.setup.uploads.clone();
        tokio::spawn(async move {
            let context = match source.context(&record).await {
                Ok(context) => context,
                Err(message) => {
                    if let Some(tokens) = held {
                        let _ = reports.send(FromTask::Held(key.clone(), Box::new(tokens)));
                    }
                    let _ = reports.send(FromTask::ActionDone(key, message));
                    return;
                }
            };
            if !save_held(held, &key, &context.keychain, &reports).await {
                let line = format!(
                    "{}: the keychain still refuses its new credentials; unlock it first.",
                    key.id
                );
                let _ = reports.send(FromTask::ActionDone(key, line));
                return;
            }
            let line = match action {
                Action::Refresh => match device::refresh(&context, &record).await {
                    Ok(_) => format!("{} refreshed.", record.device_id),
                    Err(error) => rescue(error, &key, &reports),
                },
                Action::Unpair => match device::unpair(&context, &record).await {
                    Ok(done) => match done.note {
                        Some(note) => format!("{} unpaired: {note}.", record.device_id),
                        None => format!("{} unpaired.", record.device_id),
                    },
                    Err(error) => error.to_string(),
                },
                Action::Upload(batch) => {
                    send_batch(&context, &record, batch, &uploads, &outbox, &reports).await
                }
                Action::Note { asset_id, text } => {
                    match device::upload::comment(&context, &record, &asset_id, &text, None).await {
                        Ok(_) => format!("{}: note added to asset {asset_id}.", record.device_id),
                        Err(error) => rescue(error, &key, &reports),
                    }
                }
                Action::HandOff { command, cancel } => {
                    hand_off(&context, &record, &key, &command, &cancel, &reports).await
                }
            };
            let _ = reports.send(FromTask::ActionDone(key, line));
        });
    }
}

/// Runs a hand-off; the line to show at the end.
async fn hand_off(
    context: &Context,
    record: &DeviceRecord,
    key: &DeviceKey,
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
            let line = rescue(error, key, reports);
            if refreshed {
                format!("{line} Nothing was handed off; hand it off once they are saved.")
            } else {
                line
            }
        }
        Err(error) => error.to_string(),
    }
}
