//! What one upload request sends, in order: the device's kept uploads (when resuming), then
//! the files and folders given (a file with a kept upload continues it either way), or else
//! the test clip. The CLI and the window both start from here.

use std::path::{Path, PathBuf};

use super::job::Job;
use super::resume::ResumeStore;
use super::source::list_files;
use crate::registry::DeviceRecord;

/// An upload request.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The device sending.
    pub record: &'a DeviceRecord,
    /// Files and folders.
    pub paths: &'a [PathBuf],
    /// Send them as growing files.
    pub realtime: bool,
    /// Continue the device's unfinished uploads kept here first; with nothing else asked,
    /// only those (no test clip).
    pub resume: Option<&'a ResumeStore>,
    /// The test clip's note, when it goes.
    pub test_clip_note: Option<&'a str>,
}

impl Plan<'_> {
    /// The jobs, in order. Listing folders and reading kept records touch the disk, so they
    /// run on the blocking pool.
    pub async fn jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        if let Some(store) = self.resume {
            let (store, record) = (store.clone(), self.record.clone());
            let kept = tokio::task::spawn_blocking(move || {
                store.unfinished(&record.device_id, &record.keychain_host)
            })
            .await
            .unwrap_or_default();
            jobs.extend(kept.iter().map(Job::resumed));
        }
        let paths = self.paths.to_vec();
        let listed = tokio::task::spawn_blocking(move || list_files(&paths))
            .await
            .unwrap_or_default();
        for entry in listed {
            let job = Job::listed(entry, self.realtime);
            let already = jobs
                .iter()
                .any(|kept: &Job| same_file(kept.source.path(), job.source.path()));
            if !already {
                jobs.push(job);
            }
        }
        if jobs.is_empty() && self.resume.is_none() {
            jobs.push(Job::test_clip(self.test_clip_note.map(str::to_owned)));
        }
        jobs
    }
}

fn same_file(a: Option<&Path>, b: Option<&Path>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a == b
                || std::fs::canonicalize(a)
                    .ok()
                    .zip(std::fs::canonicalize(b).ok())
                    .is_some_and(|(a, b)| a == b)
        }
        _ => false,
    }
}
