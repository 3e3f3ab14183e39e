//! The booth: presenter mode's loop around one pairing run at a time — a fresh code for each
//! visitor, a success or failure shown for a while, failures retried with a back-off.

use crate::import::Entry;
use std::time::Instant;

use egui::Ui;

use super::cards::{Cards, Run};
use super::intent::Intent;
use super::link::WorkerLink;
use super::pairing::{PairingView, Phase};
use super::presenter::{self, BoothSetup, Presenter, PresenterKey, Surroundings};
use crate::device::{DeviceId, FailureKind};
use crate::worker::{Command, RunEnd};

/// The booth screen, while it is on, and how the booth is set up.
#[derive(Default)]
pub struct Booth {
    /// The booth screen; `None` in the normal window.
    pub screen: Option<Presenter>,
    /// Linger and Wi-Fi, from the settings.
    pub setup: BoothSetup,
}

impl Booth {
    /// A booth set up as `setup`, not yet on screen.
    pub fn new(setup: BoothSetup) -> Self {
        Self {
            screen: None,
            setup,
        }
    }

    /// Whether the booth screen is on.
    pub fn is_on(&self) -> bool {
        self.screen.is_some()
    }

    /// The card on the booth screen.
    pub fn card_mut(&mut self) -> Option<&mut PairingView> {
        self.screen.as_mut().map(|p| &mut p.card)
    }

    /// Stops the run on screen, if one is under way.
    fn cancel_running(&self, link: &WorkerLink) {
        if let Some(presenter) = &self.screen
            && presenter.card.is_running()
        {
            link.send(Command::Cancel {
                run: presenter.card.run,
            });
        }
    }

    /// A fresh code for the next visitor, under a new booth device id.
    pub fn next_code(&mut self, cards: &mut Cards, link: &WorkerLink) {
        self.cancel_running(link);
        let id = format!("booth-{:06x}", rand::random::<u32>() & 0x00ff_ffff);
        let Ok(device_id) = DeviceId::parse(&id) else {
            return;
        };
        // A booth that could not start shows why (and Esc), not a code that never comes.
        let start = link.can_pair();
        let card = cards.begin_run(link, Entry::new(device_id, None), Run::Presenter { start });
        if let Some(presenter) = self.screen.as_mut() {
            presenter.card = card;
            presenter.next_code_at = None;
        } else {
            self.screen = Some(Presenter::new(card, self.setup.wifi.clone()));
            self.warn_if_phones_cannot_reach(link);
        }
    }

    /// Leaves the booth screen, stopping its run.
    pub fn leave(&mut self, link: &WorkerLink) {
        self.cancel_running(link);
        self.screen = None;
    }

    /// Logs, once the booth is up and its server known, that phones cannot open the link.
    pub fn warn_if_phones_cannot_reach(&self, link: &WorkerLink) {
        if self.is_on()
            && let Some(why) = link.phone_warning()
        {
            tracing::warn!("phones cannot open the booth's link: {why}");
        }
    }

    /// Whether `run` is the one on the booth screen.
    pub fn shows(&self, run: u64) -> bool {
        self.screen.as_ref().is_some_and(|p| p.card.run == run)
    }

    /// The booth's run ended: returns whether the next code is due at once (an expired code
    /// renews without a pause).
    pub fn finished(&mut self, end: RunEnd) -> bool {
        let linger = self.setup.linger;
        let Some(presenter) = self.screen.as_mut() else {
            return false;
        };
        // The booth loop goes on by itself: an expired code renews at once; a success or a
        // failure shows for a while, then the next visitor gets a fresh code.
        let expired = matches!(
            end,
            RunEnd::Failed {
                kind: FailureKind::Expired,
                ..
            }
        );
        presenter.card.qr = None;
        let Some(phase) = Phase::ended(end) else {
            return false;
        };
        // A failure is tried again after a pause that doubles with each failure in a row,
        // shown on screen; anything that reached the server ends the run of them.
        let pause = if let Phase::Failed { kind, message, .. } = &phase {
            if *kind == FailureKind::Expired {
                presenter.failures = 0;
            } else {
                presenter.failures = presenter.failures.saturating_add(1);
                tracing::warn!(failures = presenter.failures, %message, "booth pairing failed");
            }
            presenter.backoff(linger)
        } else {
            presenter.failures = 0;
            linger
        };
        presenter.card.phase = phase;
        presenter.next_code_at = Instant::now().checked_add(pause);
        expired
    }

    /// Draws the booth screen; its keys and its timer become intents.
    pub fn ui(&mut self, ui: &mut Ui, now: Instant, link: &WorkerLink) -> Vec<Intent> {
        let mut intents: Vec<Intent> = presenter::keys(ui).into_iter().map(Intent::Booth).collect();
        let Some(presenter) = self.screen.as_mut() else {
            return intents;
        };
        if presenter.next_code_at.is_some_and(|at| at <= now) {
            presenter.next_code_at = None;
            intents.push(Intent::Booth(PresenterKey::NewCode));
        }
        let network = link.booth_network(self.setup.wifi.as_ref());
        let strain = link.strain();
        let around = Surroundings {
            demo: link.is_demo(),
            start_error: link.start_error.as_deref(),
            network: network.as_deref(),
            warning: link.phone_warning(),
            strain: strain.as_deref(),
        };
        egui::CentralPanel::no_frame().show(ui, |ui| presenter.show(ui, now, &around));
        if let Some(tick) = presenter.next_tick(now) {
            ui.ctx().request_repaint_after(tick);
        }
        intents
    }
}
