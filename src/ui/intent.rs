//! What the views ask for. Each view returns intents; the app queues them and applies them
//! once, at the end of the frame (rerun's pending commands), where every view and the
//! context are at hand — so no flag carries a wish to the next frame. Applying them is here too.

use std::path::PathBuf;

use secrecy::SecretString;

use super::PairApp;
use super::fleet::FleetAction;
use super::pairing::Action;
use super::presenter::PresenterKey;
use crate::import::Entry;
use crate::worker::{Command, DeviceOp};

/// One thing the user asked for.
pub enum Intent {
    /// Pair the device typed in the form (the form clears when the run starts).
    PairTyped(Entry),
    /// Pair every device of the pasted or dropped list (the list clears when all start).
    PairList(Vec<Entry>),
    /// A button on one pairing card.
    Card {
        /// The card's run.
        run: u64,
        /// The button.
        action: Action,
    },
    /// An action in the device list.
    Fleet(FleetAction),
    /// Open the booth screen.
    EnterPresenter,
    /// A key on the booth screen (or its timer asking for the next code).
    Booth(PresenterKey),
    /// Full screen on or off (F11).
    ToggleFullscreen,
    /// Gather diagnostics, then copy them.
    Diagnose,
    /// Save the client secret in the keychain.
    SaveSecret(SecretString),
    /// Read a dropped list of devices.
    Import(PathBuf),
}

impl PairApp {
    /// Applies this frame's intents, in the order they were asked for; the next frame shows
    /// their effect at once.
    pub(super) fn apply_pending(&mut self, ctx: &egui::Context) {
        if self.pending.is_empty() {
            return;
        }
        for intent in std::mem::take(&mut self.pending) {
            self.apply(ctx, intent);
        }
        ctx.request_repaint();
    }

    fn apply(&mut self, ctx: &egui::Context, intent: Intent) {
        match intent {
            Intent::PairTyped(entry) => {
                if self.pair(entry) {
                    self.add.started();
                }
            }
            Intent::PairList(entries) => {
                let count = entries.len();
                let started = entries
                    .into_iter()
                    .filter(|entry| self.pair(entry.clone()))
                    .count();
                if started == count {
                    self.add.list_started();
                }
            }
            Intent::Card { run, action } => self.card_action(run, action),
            Intent::Fleet(action) => self.fleet_action(action),
            Intent::EnterPresenter => {
                if !self.booth.is_on() {
                    self.screen.set_fullscreen(ctx, true);
                    self.booth.next_code(&mut self.cards, &self.link);
                }
            }
            Intent::Booth(key) => match key {
                PresenterKey::NewCode => self.booth.next_code(&mut self.cards, &self.link),
                PresenterKey::Leave => {
                    self.booth.leave(&self.link);
                    self.screen.set_fullscreen(ctx, false);
                }
                PresenterKey::ToggleFullscreen => self.screen.toggle(ctx),
                PresenterKey::ToggleHidden => {
                    if let Some(presenter) = self.booth.screen.as_mut() {
                        presenter.hidden = !presenter.hidden;
                    }
                }
            },
            Intent::ToggleFullscreen => self.screen.toggle(ctx),
            Intent::Diagnose => {
                self.status.gathering();
                self.link.send(Command::Diagnose);
            }
            Intent::SaveSecret(secret) => self.link.send(Command::SaveClientSecret(secret)),
            Intent::Import(path) => self.link.send(Command::Import(path)),
        }
    }

    /// Starts pairing a device on a card; a refusal is shown under the form.
    pub(super) fn pair(&mut self, entry: Entry) -> bool {
        let started = self.cards.start(&self.link, entry);
        if let Err(why) = &started {
            self.add.error = Some(why.clone());
        }
        started.is_ok()
    }

    fn card_action(&mut self, run: u64, action: Action) {
        if action == Action::RetrySave {
            return self.link.send(Command::RetrySave { run });
        }
        let Some(card) = self.cards.remove(run) else {
            return;
        };
        match action {
            // Effective at once: the card goes now, the worker stops polling.
            Action::Cancel => self.link.send(Command::Cancel { run }),
            Action::NewCode => {
                self.pair(Entry {
                    device_id: card.device_id,
                    name: card.name,
                    firmware: card.firmware,
                });
            }
            Action::RetrySave | Action::Done => {}
        }
    }

    fn fleet_action(&mut self, action: FleetAction) {
        let command = match action {
            FleetAction::Repair(entry) => {
                self.pair(entry);
                return;
            }
            FleetAction::AskUnpair(_) | FleetAction::KeepPaired => return,
            FleetAction::ExportReport => Command::ExportReport(self.fleet.report_dir.clone()),
            FleetAction::Send(command) => command,
        };
        if let Command::Device {
            key,
            op: DeviceOp::Upload { .. },
        } = &command
        {
            // A new queue: the last one's panel gives way to it.
            self.fleet.uploads.remove(key);
        }
        self.link.send(command);
    }
}
