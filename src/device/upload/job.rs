//! One thing an upload queue sends: a file (whole or growing), bytes in memory (the test
//! clip), or an entry that could not be listed, with the note to add once it arrived.

use std::time::SystemTime;

use super::resume::UploadState;
use super::source::{Listed, Media, Source};
use crate::clock::unix_seconds;

/// One thing to send.
#[derive(Debug, Clone)]
pub struct Job {
    /// What to send.
    pub source: Source,
    /// A comment to add once it arrived (the test clip's "Rig check from …").
    pub note: Option<String>,
    /// Send it as a growing file (real-time upload).
    pub realtime: bool,
    /// Set when the path could not even be listed: the job fails with this reason.
    pub unreadable: Option<String>,
    /// When the queue first saw it, Unix seconds: a file still being written was recorded
    /// no later than that (its recording time is the earlier of this and its birth).
    pub first_seen: u64,
}

impl Job {
    /// A file on disk, sent whole.
    pub fn file(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            source: Source::File(path.into()),
            note: None,
            realtime: false,
            unreadable: None,
            first_seen: unix_seconds(SystemTime::now()),
        }
    }

    /// The shipped test clip, with a note (or none).
    pub fn test_clip(note: Option<String>) -> Self {
        Self::memory(Media::test_clip(), note)
    }

    /// Bytes in memory.
    pub fn memory(media: Media, note: Option<String>) -> Self {
        Self {
            first_seen: media.recorded_at,
            source: Source::Memory(media),
            note,
            realtime: false,
            unreadable: None,
        }
    }

    /// An entry of [`super::list_files`], sent whole or growing.
    pub fn listed(listed: Listed, realtime: bool) -> Self {
        match listed {
            Listed::File(path) => Self {
                realtime,
                ..Self::file(path)
            },
            Listed::Unreadable { path, reason } => Self {
                unreadable: Some(reason),
                realtime,
                ..Self::file(path)
            },
        }
    }

    /// An upload kept from an earlier run, to continue it as it was started.
    pub fn resumed(state: &UploadState) -> Self {
        Self {
            source: Source::File(state.path.clone()),
            note: state.note.clone(),
            realtime: state.realtime,
            unreadable: None,
            first_seen: state.recorded_at.unwrap_or(state.started_at),
        }
    }
}
