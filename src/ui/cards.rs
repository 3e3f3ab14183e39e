//! The pairing cards in the window: one per run under way, each with its own code, QR and
//! countdown; and the numbering of runs, the booth's included.

use std::time::{Duration, Instant};

use egui::Ui;

use super::intent::Intent;
use super::link::WorkerLink;
use super::pairing::{PairingView, Phase, Scale, Step, Waiting};
use super::{COLUMN_WIDTH, centred};
use crate::device::PairEvent;
use crate::import::Entry;
use crate::worker::{Command, RunEnd};

/// Width of one pairing card when several are under way.
const CARD_WIDTH: f32 = 400.0;

/// Which kind of pairing run to begin.
#[derive(Clone, Copy)]
pub enum Run {
    /// A card in the window.
    Card,
    /// The booth's code; `start` is false while the booth cannot start.
    Presenter {
        /// Whether the worker is told to start it.
        start: bool,
    },
}

/// The cards on screen and the next run's number.
pub struct Cards {
    /// The cards, oldest first.
    pub list: Vec<PairingView>,
    next_run: u64,
}

impl Default for Cards {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            next_run: 1,
        }
    }
}

impl Cards {
    /// A new pairing run: its number, the worker told to start it (unless the booth cannot
    /// start), and its card.
    pub fn begin_run(&mut self, link: &WorkerLink, entry: Entry, run: Run) -> PairingView {
        let Entry {
            device_id,
            name,
            firmware,
        } = entry;
        let number = self.next_run;
        self.next_run = self.next_run.saturating_add(1);
        let (start, presenter) = match run {
            Run::Card => (true, false),
            Run::Presenter { start } => (start, true),
        };
        if start {
            link.send(Command::Pair {
                run: number,
                device_id: device_id.clone(),
                name: name.clone(),
                firmware: firmware.clone(),
                presenter,
            });
        }
        PairingView {
            run: number,
            device_id,
            name,
            firmware,
            phase: Phase::Preparing(Waiting::now(Step::Starting)),
            qr: None,
        }
    }

    /// Starts pairing a device on a card of its own; `Err` says why not (a card for it is
    /// already waiting for approval).
    pub fn start(&mut self, link: &WorkerLink, entry: Entry) -> Result<(), String> {
        let device_id = &entry.device_id;
        let busy = self
            .list
            .iter()
            .any(|card| card.device_id == *device_id && card.is_running());
        if busy {
            return Err(format!("{device_id} is already being paired"));
        }
        // A finished card for the same device makes way for the new run.
        self.list.retain(|card| card.device_id != *device_id);
        let card = self.begin_run(link, entry, Run::Card);
        self.list.push(card);
        Ok(())
    }

    /// The card of `run`.
    pub fn get(&mut self, run: u64) -> Option<&mut PairingView> {
        self.list.iter_mut().find(|card| card.run == run)
    }

    /// Takes away the card of `run`.
    pub fn remove(&mut self, run: u64) -> Option<PairingView> {
        let index = self.list.iter().position(|card| card.run == run)?;
        Some(self.list.remove(index))
    }

    /// A run ended: its card shows how, or goes if it was cancelled. `false` when no card
    /// has that run any more.
    pub fn finished(&mut self, run: u64, end: RunEnd) -> bool {
        let Some(card) = self.get(run) else {
            return false;
        };
        card.qr = None;
        match Phase::ended(end) {
            Some(phase) => card.phase = phase,
            None => self.list.retain(|card| card.run != run),
        }
        true
    }

    /// When a countdown next changes.
    pub fn next_tick(&self, now: Instant) -> Option<Duration> {
        self.list
            .iter()
            .filter_map(|card| card.next_tick(now))
            .min()
    }

    /// Draws the cards: one centred, or as many per row as fit.
    pub fn ui(&mut self, ui: &mut Ui, now: Instant) -> Option<Intent> {
        let mut clicked = None;
        if let [card] = self.list.as_mut_slice() {
            let run = card.run;
            if let Some(action) = centred(ui, COLUMN_WIDTH, |ui| card.show(ui, now, Scale::SINGLE))
            {
                clicked = Some(Intent::Card { run, action });
            }
            return clicked;
        }
        // As many cards per row as fit, each the same width.
        let per_row = ((ui.available_width() / (CARD_WIDTH + 24.0)).floor() as usize).max(1);
        for row in self.list.chunks_mut(per_row) {
            ui.horizontal_top(|ui| {
                for card in row {
                    let run = card.run;
                    let shown = egui::Frame::group(ui.style()).show(ui, |ui| {
                        ui.set_width(CARD_WIDTH);
                        ui.vertical(|ui| card.show(ui, now, Scale::CARD)).inner
                    });
                    if let Some(action) = shown.inner {
                        clicked = Some(Intent::Card { run, action });
                    }
                }
            });
            ui.add_space(8.0);
        }
        clicked
    }
}

/// Moves a card along as its run reports.
pub fn apply_progress(card: &mut PairingView, event: PairEvent) {
    match event {
        PairEvent::CheckingKeychain => card.phase = Phase::Preparing(Waiting::now(Step::Keychain)),
        PairEvent::RequestingCode => card.phase = Phase::Preparing(Waiting::now(Step::Code)),
        PairEvent::CodeIssued(code) => {
            // The first check comes one interval after the code arrived.
            let first_check = code
                .expires_at
                .checked_sub(code.expires_in)
                .map(|received| received + code.interval);
            card.qr = None;
            card.phase = Phase::Showing {
                code,
                status: None,
                next_check: first_check,
            };
        }
        PairEvent::Polled {
            status: new,
            next_check: at,
        } => {
            if let Phase::Showing {
                status, next_check, ..
            } = &mut card.phase
            {
                *status = Some(new);
                *next_check = Some(at);
            }
        }
        PairEvent::Saving => card.phase = Phase::Saving,
    }
}
