//! Puts one file's progress into the queue's status snapshots: state changes at once, byte
//! counts at most every [`PUBLISH_EVERY`] (a part's body reports every chunk it reads), with
//! the rate over the last [`RATE_WINDOW`]. Parts may be under way several at once: the bytes
//! sent are those of the parts done plus those taken so far of each part under way.

use std::collections::{BTreeMap, VecDeque};
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
    parts: Arc<Mutex<Parts>>,
}

/// The bytes of a file's parts: those done, and each part's under way.
#[derive(Default)]
struct Parts {
    done: u64,
    under_way: BTreeMap<u32, u64>,
}

impl Parts {
    fn sent(&self) -> u64 {
        self.under_way
            .values()
            .fold(self.done, |sum, bytes| sum.saturating_add(*bytes))
    }
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
            parts: Arc::default(),
        }
    }

    /// True once a request of this file that creates something lost its answer (see
    /// [`Reporter::duplicate_possible`]).
    pub(super) fn is_duplicate_possible(&self) -> bool {
        self.tx
            .borrow()
            .files
            .get(self.index)
            .is_some_and(|f| f.duplicate_possible)
    }

    /// A request that creates something (`what`: "creating the asset") lost its answer and
    /// goes again: the user is told that Frame.io may hold it twice.
    pub(super) fn duplicate_possible(&self, what: &str) {
        self.notice(format!(
            "{what}: the answer was lost after the request was sent, so it was sent once more;              Frame.io may hold it twice (check the project, and delete the extra copy)"
        ));
        self.update(|file| file.duplicate_possible = true);
    }

    /// Changes the file's entry and publishes at once.
    pub(super) fn update(&self, change: impl FnOnce(&mut FileStatus)) {
        self.tx.send_modify(|status| {
            if let Some(file) = status.files.get_mut(self.index) {
                change(file);
            }
        });
    }

    /// Changes the queue's own fields and publishes at once.
    pub(super) fn queue(&self, change: impl FnOnce(&mut QueueStatus)) {
        self.tx.send_modify(change);
    }

    /// True while the file waits for the network.
    pub(super) fn is_offline(&self) -> bool {
        self.tx
            .borrow()
            .files
            .get(self.index)
            .is_some_and(|f| matches!(f.state, FileState::Offline { .. }))
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

    /// The parts start: `done` bytes of the file are already sent (resumed parts), none is
    /// under way.
    pub(super) fn parts_from(&self, done: u64) {
        *self.parts.lock().unwrap_or_else(PoisonError::into_inner) = Parts {
            done,
            under_way: BTreeMap::new(),
        };
        self.sent(done, true);
    }

    /// A callback for part `number`'s body: the part's bytes so far (from 0 each time it is
    /// sent). The count of the part's last chunk always goes out: a connection with room in
    /// its buffers takes a part in a burst shorter than [`PUBLISH_EVERY`], and the count held
    /// back would otherwise stay unseen while the server reads it.
    pub(super) fn part_progress(
        &self,
        number: u32,
        len: u64,
    ) -> impl Fn(u64) + Send + Sync + 'static {
        let reporter = self.clone();
        move |in_part| {
            let sent = {
                let mut parts = reporter
                    .parts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                parts.under_way.insert(number, in_part);
                parts.sent()
            };
            reporter.sent(sent, in_part >= len);
        }
    }

    /// Part `number` is to be sent again whole: its bytes so far no longer count.
    pub(super) fn part_restarts(&self, number: u32) {
        let sent = {
            let mut parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
            parts.under_way.remove(&number);
            parts.sent()
        };
        self.sent(sent, true);
    }

    /// Part `number` of `len` bytes arrived.
    pub(super) fn part_done(&self, number: u32, len: u64) {
        let sent = {
            let mut parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
            parts.under_way.remove(&number);
            parts.done = parts.done.saturating_add(len);
            parts.sent()
        };
        self.sent(sent, true);
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
        let reporter = Reporter::new(tx, 0);
        reporter.parts_from(500);
        tokio::time::advance(Duration::from_secs(1)).await;
        let part = reporter.part_progress(2, 300);
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

    #[tokio::test(start_paused = true)]
    async fn parts_under_way_together_add_up() {
        let (tx, rx) = watch::channel(QueueStatus {
            files: vec![FileStatus::queued("a".into(), None, Some(1000))],
            ..QueueStatus::default()
        });
        let reporter = Reporter::new(tx, 0);
        reporter.parts_from(0);
        let (one, two) = (
            reporter.part_progress(1, 300),
            reporter.part_progress(2, 300),
        );
        one(300);
        two(300);
        assert_eq!(rx.borrow().files[0].sent, 600);
        reporter.part_restarts(2);
        assert_eq!(rx.borrow().files[0].sent, 300, "part 2 goes again from 0");
        reporter.part_done(1, 300);
        two(300);
        reporter.part_done(2, 300);
        assert_eq!(rx.borrow().files[0].sent, 600);
    }
}
