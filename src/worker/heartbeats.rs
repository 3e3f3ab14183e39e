//! Heartbeat rounds: each paired device's heartbeat (refreshing first when due) and each
//! pending unpair retried, every device in its own task.

use std::time::{Duration, Instant};

use super::context::ready;
use super::fleet::AfterLoad;
use super::held::rescue;
use super::network::Observation;
use super::protocol::{Busy, Event};
use super::schedule::Round;
use super::{FromTask, State};
use crate::device::{self, LifecycleError};
use crate::registry::{DeviceKey, DeviceRecord, DeviceState};

/// What a heartbeat round does for a device.
#[derive(Clone, Copy)]
enum Chore {
    Heartbeat,
    RetryUnpair,
}

impl State {
    /// The computer woke after `slept`: every device is checked now (each refreshes once,
    /// when due by the wall clock, then sends its heartbeat), with a word in the window.
    pub(super) fn woke(&mut self, slept: Duration) {
        tracing::info!(
            slept_s = slept.as_secs(),
            "woke from sleep: checking devices"
        );
        self.outbox.send(Event::Notice(format!(
            "Woke up after {} asleep — checking devices…",
            crate::human_time::span(slept.as_secs())
        )));
        self.reload_fleet(AfterLoad::HeartbeatRound(Round::All));
    }

    /// One heartbeat per paired device (refreshing first when due; an upload under way does
    /// not hold it back), and a retry of each pending unpair. Devices that need re-pairing
    /// are left alone (no retry loops), and so
    /// are devices handed off to themselves: the laptop holds no credentials for them, and
    /// must not refresh any it may still find. Runs over the list just read (see
    /// [`super::fleet::AfterLoad::HeartbeatRound`]), the devices `round` takes. Each device
    /// taken is beaten (or passed over) until its next period; a round over the list ends
    /// the schedule's wait.
    pub(super) fn heartbeat_round(&mut self, round: &Round) {
        let now = Instant::now();
        for record in self.devices.clone() {
            let key = record.key();
            if !round.takes(&key, &self.schedule, now) {
                continue;
            }
            self.schedule.beaten(&key, now);
            if self.demo_gone(&record) {
                continue;
            }
            // An upload runs beside its heartbeats (part uploads to storage do not count as
            // being online in Frame.io); anything else the device is doing comes first.
            let busy = self.work.busy(&key);
            if busy.is_some_and(|b| b != Busy::Uploading)
                || self.heartbeats_in_flight.contains(&key)
            {
                continue;
            }
            let chore = match record.state {
                DeviceState::Paired => Chore::Heartbeat,
                DeviceState::UnpairPending { .. } => Chore::RetryUnpair,
                DeviceState::NeedsRepairing { .. } | DeviceState::HandedOff { .. } => continue,
            };
            // Held tokens another task is saving: this device sits this round out.
            let Ok(held) = self.held.take(&key) else {
                continue;
            };
            let source = self.context_source(&record);
            self.heartbeats_in_flight.insert(key.clone());
            let (reports, seen) = (self.reports.clone(), self.seen.clone());
            tokio::spawn(async move {
                // No server or held tokens still unsaved: nothing to show this round.
                let Ok(context) = ready(source, &record, held, &reports).await else {
                    let _ = reports.send(FromTask::KeptAlive(key));
                    return;
                };
                let report = match chore {
                    Chore::Heartbeat => {
                        let beats = context.backend.client.profile().offers_heartbeat();
                        let result = device::heartbeat(&context, &record).await;
                        let api_base = &context.backend.client.profile().api_base;
                        if let Some(observed) = Observation::of(api_base, &result) {
                            let _ = seen.send(observed);
                        }
                        let problem = match result {
                            // Without heartbeats, "online" would be a guess: show "paired".
                            Ok(()) if !beats => {
                                let _ = reports.send(FromTask::KeptAlive(key));
                                return;
                            }
                            Ok(()) => None,
                            Err(error @ LifecycleError::SaveFailed { .. }) => {
                                Some(rescue(error, &key, &reports))
                            }
                            Err(error) => Some(offline_reason(error)),
                        };
                        FromTask::Heartbeat(key, problem)
                    }
                    Chore::RetryUnpair => {
                        let outcome = device::unpair(&context, &record).await;
                        if let Err(error) = outcome {
                            tracing::info!(%error, "unpair still pending");
                        }
                        FromTask::Heartbeat(key, None)
                    }
                };
                let _ = reports.send(report);
            });
        }
        if !matches!(round, Round::Only(_)) {
            let listed: Vec<DeviceKey> = self.devices.iter().map(DeviceRecord::key).collect();
            self.schedule.swept(now, &listed);
        }
    }
}

/// Why a device shows offline after a failed heartbeat: for a network failure, just what the
/// network said.
fn offline_reason(error: LifecycleError) -> String {
    match error {
        LifecycleError::Network { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}
