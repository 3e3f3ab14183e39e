//! Puts one file's progress into the queue's status snapshots: state changes at once, byte
//! counts at most every [`PUBLISH_EVERY`] (a part's body reports every chunk it reads), with
//! the rate over the last [`RATE_WINDOW`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::status::{FileState, FileStatus, QueueStatus};

/// Byte counts go out at most this often.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// The rate is measured over this much time.
pub const RATE_WINDOW: Duration = Duration::from_secs(3);

/// Reports for one file of a queue.
#[derive(Clone)]
pub(super) struct Reporter {
    tx: watch::Sender<QueueStatus>,
    index: usize,
    meter: Arc<Mutex<Meter>>,
}

#[derive(Default)]
struct Meter {
    last_publish: Option<Instant>,
    samples: VecDeque<(Instant, u64)>,
}

impl Meter {
    /// Records `sent` at `now`; the rate once the samples span half a second.
    fn sample(&mut self, now: Instant, sent: u64) -> Option<f64> {
        if self.samples.back().is_some_and(|&(_, last)| sent < last) {
            // Fewer bytes than before: a part is being sent again.
            self.samples.clear();
        }
        self.samples.push_back((now, sent));
        while self
            .samples
            .front()
            .is_some_and(|&(at, _)| now.duration_since(at) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let &(first_at, first) = self.samples.front()?;
        let span = now.duration_since(first_at).as_secs_f64();
        (span >= 0.5).then(|| sent.saturating_sub(first) as f64 / span)
    }
}

impl Reporter {
    /// Reports for file `index` of the snapshots on `tx`.
    pub(super) fn new(tx: watch::Sender<QueueStatus>, index: usize) -> Self {
        Self {
            tx,
            index,
            meter: Arc::default(),
        }
    }

    /// Changes the file's entry and publishes at once.
    pub(super) fn update(&self, change: impl FnOnce(&mut FileStatus)) {
        self.tx.send_modify(|status| {
            if let Some(file) = status.files.get_mut(self.index) {
                change(file);
            }
        });
    }

    /// A new state.
    pub(super) fn state(&self, state: FileState) {
        self.update(|file| {
            if !matches!(state, FileState::Sending) {
                file.rate = None;
            }
            file.state = state;
        });
    }

    /// Into `state`, unless already there (no snapshot for nothing).
    pub(super) fn enter(&self, state: FileState) {
        let already = self
            .tx
            .borrow()
            .files
            .get(self.index)
            .is_some_and(|f| f.state == state);
        if !already {
            self.state(state);
        }
    }

    /// Into `Sending`.
    pub(super) fn sending(&self) {
        self.enter(FileState::Sending);
    }

    /// Something the user should know about this file (also logged).
    pub(super) fn notice(&self, text: String) {
        tracing::info!(file = self.index, "{text}");
        self.update(|file| file.notices.push(text));
    }

    /// The file's bytes sent so far: published now when `force`, else at most every
    /// [`PUBLISH_EVERY`].
    pub(super) fn sent(&self, sent: u64, force: bool) {
        let now = Instant::now();
        let rate = {
            let mut meter = self.meter.lock().unwrap_or_else(PoisonError::into_inner);
            let rate = meter.sample(now, sent);
            let due = meter
                .last_publish
                .is_none_or(|at| now.duration_since(at) >= PUBLISH_EVERY);
            if !(due || force) {
                return;
            }
            meter.last_publish = Some(now);
            rate
        };
        self.update(|file| {
            file.sent = sent;
            file.seen = file.seen.max(sent);
            if rate.is_some() {
                file.rate = rate;
            }
        });
    }

    /// A callback for a part's body: the part's bytes so far, from `base` in the file. The
    /// count of the part's last chunk always goes out: a connection with room in its
    /// buffers takes a part in a burst shorter than [`PUBLISH_EVERY`], and the count held
    /// back would otherwise stay unseen while the server reads it.
    pub(super) fn part_progress(
        &self,
        base: u64,
        len: u64,
    ) -> impl Fn(u64) + Send + Sync + 'static {
        let reporter = self.clone();
        move |in_part| reporter.sent(base.saturating_add(in_part), in_part >= len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn byte_counts_are_throttled_and_the_rate_measured() {
        let (tx, rx) = watch::channel(QueueStatus {
            files: vec![FileStatus::queued("a".into(), None, Some(1000))],
            ..QueueStatus::default()
        });
        let reporter = Reporter::new(tx, 0);
        reporter.sent(10, false);
        assert_eq!(rx.borrow().files[0].sent, 10, "the first count goes out");
        reporter.sent(20, false);
        assert_eq!(rx.borrow().files[0].sent, 10, "within 100 ms: held back");
        reporter.sent(30, true);
        assert_eq!(rx.borrow().files[0].sent, 30, "forced");
        tokio::time::advance(Duration::from_secs(1)).await;
        reporter.sent(130, false);
        let rate = rx.borrow().files[0].rate.unwrap();
        assert!((rate - 120.0).abs() < 1.0, "{rate}");
        tokio::time::advance(Duration::from_secs(1)).await;
        reporter.sent(0, false);
        assert_eq!(
            rx.borrow().files[0].sent,
            0,
            "a part sent again counts from its start"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_parts_last_count_goes_out_even_in_a_burst() {
        let (tx, rx) = watch::channel(QueueStatus {
            files: vec![FileStatus::queued("a".into(), None, Some(1000))],
            ..QueueStatus::default()
        });
        let part = Reporter::new(tx, 0).part_progress(500, 300);
        part(100);
        part(200);
        assert_eq!(rx.borrow().files[0].sent, 600, "held back within 100 ms");
        part(300);
        assert_eq!(
            rx.borrow().files[0].sent,
            800,
            "the part's end goes out at once"
        );
    }
}
