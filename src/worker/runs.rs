//! Pairing runs: one device's pairing in a task, its events tagged with the run, and issued
//! tokens kept for "Retry saving" when the keychain refused them. What a run met on the way
//! (a code issued, a server out of reach, a sign-in page) is told to the network light.

use std::sync::Arc;

use tokio::sync::mpsc as tokio_mpsc;
use tokio_util::sync::CancellationToken;

use super::network::Observation;
use super::{Event, FromTask, NetworkProblem, Outbox, RunEnd};
use crate::c2c::PollStatus;
use crate::demo::DemoServer;
use crate::device::{self, Context, PairError, PairEvent, PairOutcome, UnsavedTokens};
use crate::import::Entry;
use crate::registry::DeviceKey;

/// One pairing run and what it needs.
pub(super) struct PairRun {
    pub(super) context: Context,
    pub(super) run: u64,
    pub(super) outbox: Outbox,
    pub(super) reports: tokio_mpsc::UnboundedSender<FromTask>,
    /// Where the network light hears what the run met.
    pub(super) seen: tokio_mpsc::UnboundedSender<Observation>,
    /// The demo server the run pairs on, kept running until the run ends.
    pub(super) _demo_server: Option<Arc<DemoServer>>,
}

impl PairRun {
    pub(super) async fn pair(self, asked: Entry, for_show: bool, cancel: CancellationToken) {
        let Entry {
            device_id,
            name,
            firmware,
        } = asked;
        let run = self.run;
        let outbox = self.outbox.clone();
        let progress = |event: PairEvent| {
            if matches!(event, PairEvent::CodeIssued(_)) {
                self.observe(None);
            }
            let routine = matches!(
                event,
                PairEvent::Polled {
                    status: PollStatus::Pending,
                    ..
                }
            );
            let event = Event::Progress { run, event };
            if routine {
                outbox.send_quietly(event);
            } else {
                outbox.send(event);
            }
        };
        let result = if for_show {
            device::pair_for_show(&self.context, &device_id, &cancel, progress).await
        } else {
            device::pair(
                &self.context,
                &device_id,
                name.as_deref(),
                firmware.as_deref(),
                &cancel,
                progress,
            )
            .await
        };
        let end = match result {
            Ok(PairOutcome::Paired(paired)) => RunEnd::Paired(paired),
            Ok(PairOutcome::Cancelled) => RunEnd::Cancelled,
            Err(error) => {
                if error.unreachable() {
                    self.observe(Some(NetworkProblem {
                        text: error.to_string(),
                        sign_in: match error.remedy() {
                            Some(device::Remedy::SignIn { page }) => Some(page),
                            _ => None,
                        },
                    }));
                }
                self.failed(error)
            }
        };
        self.finish(end);
    }

    /// Tells the network light what the run met at its API base.
    fn observe(&self, problem: Option<NetworkProblem>) {
        let _ = self.seen.send(Observation {
            api_base: self.context.backend.client.profile().api_base.clone(),
            problem,
        });
    }

    pub(super) async fn retry_save(self, tokens: UnsavedTokens) {
        self.outbox.send(Event::Progress {
            run: self.run,
            event: PairEvent::Saving,
        });
        let end = match tokens.save(&self.context.keychain).await {
            Ok(()) => RunEnd::Paired(device::finish_pairing(&self.context, &tokens).await),
            Err(error) => self.failed(PairError::SaveFailed {
                error,
                unsaved: Box::new(tokens),
            }),
        };
        self.finish(end);
    }

    /// Turns an error into the run's end; unsaved tokens go to the loop, kept for a retry
    /// (reported before the run's end reaches the window, so "Retry saving" finds them).
    fn failed(&self, error: PairError) -> RunEnd {
        let kind = error.kind();
        let message = error.to_string();
        let remedy = error.remedy();
        let can_retry_save = if let PairError::SaveFailed { unsaved, .. } = error {
            let _ = self.reports.send(FromTask::Unsaved(self.run, unsaved));
            true
        } else {
            false
        };
        RunEnd::Failed {
            kind,
            message,
            can_retry_save,
            remedy,
        }
    }

    fn finish(&self, end: RunEnd) {
        let paired = match &end {
            RunEnd::Paired(paired) if paired.kept => Some(DeviceKey {
                id: paired.device_id.clone(),
                host: self.context.backend.client.profile().keychain_host(),
            }),
            _ => None,
        };
        self.outbox.send(Event::Finished { run: self.run, end });
        let _ = self.reports.send(FromTask::RunEnded(self.run, paired));
    }
}
