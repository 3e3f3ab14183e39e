//! Refreshed tokens the keychain refused, held until it accepts them: owned by the worker's
//! loop, handed to one task at a time to save before anything else uses the device.

use std::collections::HashMap;

use tokio::sync::mpsc as tokio_mpsc;

use super::FromTask;
use crate::device::{LifecycleError, UnsavedTokens};
use crate::keychain::Keychain;
use crate::registry::DeviceKey;

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
