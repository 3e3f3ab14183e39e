//! A network outage on demand (`POST /_control/outage`): for a while the server does not
//! listen at all, so a connection is refused as on a network that is gone, and every open
//! connection is cut; then it listens again on the same addresses.
//!
//! This is the signal only: the listeners (see [`super::connection`]) watch it, close their
//! sockets, cut the connections and report back, so the control call answers once the server
//! is really unreachable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Longest outage a control call may ask for.
pub const LONGEST: Duration = Duration::from_secs(3600);
/// Longest a control call waits for the listeners to close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// One outage asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    /// Counts outages; a listener handles each once.
    pub serial: u64,
    /// When it ends; `None` before the first outage.
    pub until: Option<Instant>,
    /// The connection that asked for it (it closes by itself once answered).
    pub spare: Option<u64>,
}

/// The outage signal every listener of one server watches.
#[derive(Debug)]
pub struct Outage {
    plan: watch::Sender<Plan>,
    /// The latest outage's serial and how many listeners closed for it.
    closed: watch::Sender<(u64, usize)>,
    listeners: AtomicUsize,
}

impl Default for Outage {
    fn default() -> Self {
        Self {
            plan: watch::Sender::new(Plan::default()),
            closed: watch::Sender::new((0, 0)),
            listeners: AtomicUsize::new(0),
        }
    }
}

impl Outage {
    /// A listener joins: it watches the plan and reports when it closed for an outage.
    pub fn subscribe(&self) -> watch::Receiver<Plan> {
        self.listeners.fetch_add(1, Ordering::SeqCst);
        self.plan.subscribe()
    }

    /// A listener leaves (its server stopped).
    pub fn unsubscribe(&self) {
        let _ = self
            .listeners
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// A listener closed its socket and cut its connections for outage `serial`.
    pub fn closed(&self, serial: u64) {
        self.closed.send_modify(|(latest, count)| {
            if *latest == serial {
                *count = count.saturating_add(1);
            } else if *latest < serial {
                *latest = serial;
                *count = 1;
            }
        });
    }

    /// Starts an outage of `length` (at most [`LONGEST`]), sparing connection `spare`, and
    /// waits (a few seconds at most) until every listener has closed.
    pub async fn begin(&self, length: Duration, spare: Option<u64>) {
        let until = Instant::now()
            .checked_add(length.min(LONGEST))
            .unwrap_or_else(Instant::now);
        let mut serial = 0;
        self.plan.send_modify(|plan| {
            plan.serial = plan.serial.wrapping_add(1);
            plan.until = Some(until);
            plan.spare = spare;
            serial = plan.serial;
        });
        let listeners = self.listeners.load(Ordering::SeqCst);
        if listeners == 0 {
            return;
        }
        let mut closed = self.closed.subscribe();
        let all_closed =
            closed.wait_for(|(latest, count)| *latest >= serial && *count >= listeners);
        if tokio::time::timeout(CLOSE_WAIT, all_closed).await.is_err() {
            tracing::warn!("the demo server's listeners did not all close for the outage in time");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_outage_answers_once_every_listener_closed() {
        let outage = std::sync::Arc::new(Outage::default());
        let mut first = outage.subscribe();
        let mut second = outage.subscribe();
        let begun = tokio::spawn({
            let outage = std::sync::Arc::clone(&outage);
            async move { outage.begin(Duration::from_secs(2), Some(7)).await }
        });
        first.changed().await.unwrap();
        let plan = *first.borrow_and_update();
        assert_eq!(plan.serial, 1);
        assert_eq!(plan.spare, Some(7));
        outage.closed(plan.serial);
        tokio::task::yield_now().await;
        assert!(!begun.is_finished(), "one listener is still open");
        second.changed().await.unwrap();
        outage.closed(second.borrow_and_update().serial);
        begun.await.unwrap();
        // Asked for longer than allowed: an hour.
        let start = Instant::now();
        outage.unsubscribe();
        outage.unsubscribe();
        outage.begin(Duration::from_secs(86_400), None).await;
        let until = first.borrow_and_update().until.unwrap();
        assert_eq!(until.duration_since(start), LONGEST);
    }
}
