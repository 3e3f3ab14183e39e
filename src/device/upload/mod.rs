//! Uploads from a paired device through the C2C asset API, at the size of real media.
//!
//! Files are read part by part as they are sent (memory does not grow with the file); a part
//! fails when it stalls, not after a total time; failures worth it are retried with back-off
//! (`retry`); an upload's record is kept in the state directory after every part, so another
//! run continues from the first part not done (`resume`); a device paused in Frame.io is
//! waited out; several files (and folders) go one after another with the checklist's status
//! (`queue`, `status`); a file still being written goes as a real-time upload (`realtime`).
//!
//! Frame.io's upload rules are kept here: `offset` is counted afresh on every request from
//! the media's recording time; a file refused as recorded while the device was paused is
//! parked and the queue goes on; a lost answer to a create is sent again at most once (and
//! the user told); part PUTs carry what presigned URLs sign; the network gone is waited for,
//! never the end of the queue.
//!
//! Modules: `source` (what is sent), `status` (snapshots for the window and the CLI),
//! `progress` (filling them in), `retry` (the back-off), `tries` (what a failure means for
//! the next try), `job` (one thing to send), `run` (what sending one file works with, and how
//! it stops), `calls` (device API calls made patiently), `parts` (one part, retried),
//! `resume` (the kept records), `whole` (a file of known size, parts a few at once),
//! `realtime` (a growing file), `writers` (`--until-closed`), `plan` (what a request sends),
//! `queue` (the queue), `note` (comments).

mod calls;
mod job;
mod note;
mod parts;
mod plan;
mod progress;
mod queue;
mod realtime;
mod resume;
mod retry;
mod run;
mod source;
mod status;
mod tries;
mod whole;
mod writers;

use std::time::Duration;

pub use calls::{PAUSED_REASON, is_channel_paused};
pub use job::Job;
pub use note::{comment, rig_check_note};
pub use plan::Plan;
pub use queue::{QueueControls, QueueOutcome, UploadOutcome, run_queue, upload};
pub use resume::{
    ASSUMED_URL_LIFETIME, EXPIRY_MARGIN, MAX_URL_LIFETIME, PartState, Resumable, ResumeError,
    ResumeStore, STATE_DIR_ENV, UPLOADS_DIR, UploadLock, UploadState, state_dir, url_expiry,
};
pub use retry::RetryPolicy;
pub use source::{Listed, Media, Source, TEST_CLIP, TEST_CLIP_NAME, filetype, list_files};
pub use status::{FileState, FileStatus, QueueStatus};
pub use whole::{LEGACY_NOTICE, part_size_for};
pub use writers::can_tell_writers;

use crate::c2c::assets::Comment;

/// Parts are this large, unless a file needs more than 10 000 of them (S3 wants at least
/// 5 MiB for every part but the last).
pub const PART_SIZE: u64 = 8 * 1024 * 1024;
/// A part fails when nothing moves for this long (no byte taken, no answer).
pub const DEFAULT_STALL: Duration = Duration::from_secs(30);
/// A growing file is taken as finished after this long without growth.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(10);
/// Parts of a file sent at once: enough to hide a long round trip per part (each part waits
/// for its answer), as AWS CLI and rclone do; memory stays that of these parts' read buffers.
pub const PARALLEL_PARTS: usize = 4;

/// How uploads are made.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// A part fails when nothing moves for this long.
    pub stall: Duration,
    /// Retries and back-off.
    pub retry: RetryPolicy,
    /// Preferred part size (at least 5 MiB for a growing file).
    pub part_size: u64,
    /// Parts of a whole file sent at once (1: one after another).
    pub parallel_parts: usize,
    /// How a growing file is watched.
    pub realtime: RealtimeOptions,
    /// Where upload records are kept; `None` keeps nothing (nothing can be resumed).
    pub resume: Option<ResumeStore>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            stall: DEFAULT_STALL,
            retry: RetryPolicy::default(),
            part_size: PART_SIZE,
            parallel_parts: PARALLEL_PARTS,
            realtime: RealtimeOptions::default(),
            resume: None,
        }
    }
}

/// How a growing file is taken to be finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealtimeOptions {
    /// No growth for this long.
    pub idle: Duration,
    /// Instead: no process holds it open for writing (Linux).
    pub until_closed: bool,
}

impl Default for RealtimeOptions {
    fn default() -> Self {
        Self {
            idle: DEFAULT_IDLE,
            until_closed: false,
        }
    }
}

/// Bytes sent so far, of how many (one bar's worth; the queue's status has more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Sent.
    pub sent: u64,
    /// In all.
    pub total: u64,
}

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The asset's id in Frame.io.
    pub asset_id: String,
    /// Its name.
    pub name: String,
    /// Bytes sent.
    pub bytes: u64,
    /// The note added to it, if one was asked for and went through.
    pub note: Option<Comment>,
}
