//! An upload queue's status as plain data, for the window's panel and the CLI's bars and
//! events: the integrator checklist's files remaining, bytes remaining, current file with
//! percent and rate, and each file's state (queued, sending, paused, completed, failed with
//! its reason). Snapshots go out on a `tokio::sync::watch` channel; every state a file ends
//! in stays in the snapshot, so a reader that misses intermediate snapshots misses nothing
//! that matters.

use std::path::PathBuf;
use std::time::Duration;

use crate::device::FailureKind;

/// One file of a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct FileStatus {
    /// The asset's name.
    pub name: String,
    /// The file, unless the bytes are in memory.
    pub path: Option<PathBuf>,
    /// Its size; `None` while a real-time upload's file still grows.
    pub size: Option<u64>,
    /// Bytes on disk so far, for a growing file (else its size).
    pub seen: u64,
    /// Bytes sent (taken by the connection) so far.
    pub sent: u64,
    /// Bytes per second over the last few seconds, while sending.
    pub rate: Option<f64>,
    /// Where it is.
    pub state: FileState,
    /// The asset, once created (or found in a resumed upload).
    pub asset_id: Option<String>,
    /// Things the user should know about this file: a resumed upload, a new asset because the
    /// old one's links expired, the deprecated asset path, a note that could not be added.
    pub notices: Vec<String>,
    /// A request that creates something (the asset, its note) lost its answer and was sent
    /// again: Frame.io may hold this file (or its note) twice.
    pub duplicate_possible: bool,
}

impl FileStatus {
    /// A file waiting its turn.
    pub fn queued(name: String, path: Option<PathBuf>, size: Option<u64>) -> Self {
        Self {
            name,
            path,
            size,
            seen: size.unwrap_or_default(),
            sent: 0,
            rate: None,
            state: FileState::Queued,
            asset_id: None,
            notices: Vec::new(),
            duplicate_possible: false,
        }
    }

    /// Percent sent, when the size is known.
    pub fn percent(&self) -> Option<u8> {
        let size = self.size?;
        if size == 0 {
            return Some(if self.state == FileState::Done {
                100
            } else {
                0
            });
        }
        let percent = u128::from(self.sent.min(size)) * 100 / u128::from(size);
        u8::try_from(percent).ok()
    }

    /// Bytes still to send (of what is known for a growing file).
    pub fn remaining(&self) -> u64 {
        if self.state.is_final() {
            return 0;
        }
        self.size.unwrap_or(self.seen).saturating_sub(self.sent)
    }
}

/// Where one file of a queue is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Waiting its turn.
    Queued,
    /// Its parts are going out.
    Sending,
    /// A part or a call failed for a reason worth retrying; the next try comes after `wait`.
    Retrying {
        /// Failures so far in a row.
        attempt: u32,
        /// What went wrong.
        reason: String,
        /// The wait before the next try.
        wait: Duration,
    },
    /// The network (or the server behind it) is gone: every try failed. The queue keeps
    /// trying by itself, ever more slowly up to once a minute, and goes on when a request
    /// gets through again; nothing ends until it is cancelled.
    Offline {
        /// What the last try met.
        reason: String,
        /// The wait before the next try.
        wait: Duration,
    },
    /// The server refuses every file of this queue as recorded while the device was paused
    /// in Frame.io (409 Channel Paused): the device looks paused now. The queue asks again by
    /// itself, with back-off, and goes on when the server accepts media again.
    Paused {
        /// What the server said, and what to do.
        reason: String,
    },
    /// The server refused this file as recorded while the device was paused in Frame.io
    /// (409 Channel Paused, judged by the recording time): Frame.io's rule is that it is not
    /// uploaded. The rest of the queue goes on; nothing is deleted; it can be sent again on
    /// request.
    Parked {
        /// Why, in plain words.
        reason: String,
    },
    /// A real-time upload has sent everything written so far and waits for more.
    Waiting,
    /// Every part arrived.
    Done,
    /// It could not be sent; the reason says why and what to do.
    Failed {
        /// Why, in plain words.
        reason: String,
        /// The exit-code family.
        kind: FailureKind,
    },
    /// The queue was cancelled while this file was under way; what was sent is kept for
    /// `upload --resume`.
    Cancelled,
}

impl FileState {
    /// Done, failed, parked or cancelled: nothing more happens to this file in this run
    /// unless it is sent again on request.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed { .. } | Self::Parked { .. } | Self::Cancelled
        )
    }

    /// A file that ended without arriving and can be sent again on request.
    pub fn can_retry(&self) -> bool {
        matches!(
            self,
            Self::Failed { .. } | Self::Parked { .. } | Self::Cancelled
        )
    }

    /// A short word for it: `queued`, `sending`, `retrying`, `offline`, `paused`, `waiting`,
    /// `done`, `failed`, `parked`, `cancelled` (the CLI's JSON uses these).
    pub fn word(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Retrying { .. } => "retrying",
            Self::Offline { .. } => "offline",
            Self::Paused { .. } => "paused",
            Self::Parked { .. } => "parked",
            Self::Waiting => "waiting",
            Self::Done => "done",
            Self::Failed { .. } => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A whole queue, as one snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueStatus {
    /// The device sending.
    pub device: String,
    /// Every file, in queue order.
    pub files: Vec<FileStatus>,
    /// The file under way, an index into `files`.
    pub current: Option<usize>,
    /// The queue has ended (everything done, failed, cancelled, or stopped).
    pub finished: bool,
    /// It was cancelled.
    pub cancelled: bool,
    /// It was waiting for the network when it ended (cancelled while offline).
    pub offline: bool,
    /// Why it stopped before its end, when something other than a file's own trouble stopped
    /// it (credentials, the keychain, the network gone for good); the files left are kept.
    pub stopped: Option<String>,
}

impl QueueStatus {
    /// Files not yet done, failed or cancelled (the current one included).
    pub fn files_remaining(&self) -> usize {
        self.files.iter().filter(|f| !f.state.is_final()).count()
    }

    /// Bytes still to send, over the files remaining.
    pub fn bytes_remaining(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.remaining()))
    }

    /// Bytes of every file (what is known of growing ones).
    pub fn bytes_total(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.size.unwrap_or(f.seen)))
    }

    /// Bytes sent over the whole queue (a file done counts whole).
    pub fn bytes_sent(&self) -> u64 {
        self.files.iter().fold(0u64, |sum, f| {
            let sent = if f.state == FileState::Done {
                f.size.unwrap_or(f.sent)
            } else {
                f.sent
            };
            sum.saturating_add(sent)
        })
    }

    /// The file under way.
    pub fn current_file(&self) -> Option<&FileStatus> {
        self.files.get(self.current?)
    }

    /// Files done.
    pub fn done(&self) -> usize {
        self.count(|s| *s == FileState::Done)
    }

    /// Files failed.
    pub fn failed(&self) -> usize {
        self.count(|s| matches!(s, FileState::Failed { .. }))
    }

    /// Files parked: refused as recorded while the device was paused (Frame.io's rule).
    pub fn parked(&self) -> usize {
        self.count(|s| matches!(s, FileState::Parked { .. }))
    }

    /// Files cancelled one by one (or the one under way when the queue was cancelled).
    pub fn cancelled_files(&self) -> usize {
        self.count(|s| *s == FileState::Cancelled)
    }

    fn count(&self, test: impl Fn(&FileState) -> bool) -> usize {
        self.files.iter().filter(|f| test(&f.state)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_what_is_not_final() {
        let mut status = QueueStatus {
            files: vec![
                FileStatus::queued("a".into(), None, Some(100)),
                FileStatus::queued("b".into(), None, Some(50)),
                FileStatus::queued("c".into(), None, None),
            ],
            ..QueueStatus::default()
        };
        status.files[0].sent = 40;
        status.files[2].seen = 7;
        assert_eq!(status.files_remaining(), 3);
        assert_eq!(status.bytes_remaining(), 60 + 50 + 7);
        assert_eq!(status.files[0].percent(), Some(40));
        assert_eq!(status.files[2].percent(), None);
        status.files[1].state = FileState::Failed {
            reason: "unreadable".into(),
            kind: FailureKind::Usage,
        };
        status.files[0].state = FileState::Done;
        assert_eq!(status.files_remaining(), 1);
        assert_eq!(status.bytes_remaining(), 7);
        assert_eq!((status.done(), status.failed()), (1, 1));
        assert_eq!(status.bytes_sent(), 100);
    }
}
