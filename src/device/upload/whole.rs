//! Sending a file whose size is known: create the asset with one URL per part, send the parts
//! in order from the first not done, keep the upload's record after each, and finish (the
//! note, the record dropped, the device list's "last upload").

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::Uploaded;
use super::calls::patiently;
use super::parts::{PartJob, send_part};
use super::queue::{Job, Run, Stop};
use super::resume::{
    PartState, Resumable, ResumeError, ResumeStore, UploadLock, UploadState, clamp_ns, url_expiry,
};
use super::source::{self, FileFacts, Media, Source, file_name, filetype, shown};
use crate::c2c::assets::{CreatedAsset, LEGACY_ASSETS_PATH, MAX_PARTS, NewAssetRequest};
use crate::c2c::part::PartBody;
use crate::clock::unix_seconds;
use crate::device::FailureKind;

/// What the user is told when the server has only the deprecated asset path.
pub const LEGACY_NOTICE: &str = "the server has no device asset endpoint (HTTP 404 at \
     /v2/devices/assets); the asset was created through the deprecated /v2/assets instead";

/// Sends one job whole.
pub(super) async fn send(run: &Run<'_>, job: &Job) -> Result<Uploaded, Stop> {
    match &job.source {
        Source::Memory(media) => send_memory(run, media, job.note.as_deref()).await,
        Source::File(path) => send_file(run, path, job.note.as_deref()).await,
    }
}

/// The part size for a file of `size` bytes: `preferred`, or more when that would take more
/// than S3's 10 000 parts (rounded up to a whole MiB).
pub fn part_size_for(size: u64, preferred: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let needed = size
        .div_ceil(u64::from(MAX_PARTS))
        .div_ceil(MIB)
        .saturating_mul(MIB);
    preferred.max(needed).max(1)
}

/// How many parts `size` bytes take (at least one, even for an empty file).
fn part_count(size: u64, part_size: u64) -> u32 {
    u32::try_from(size.div_ceil(part_size.max(1)).max(1)).unwrap_or(u32::MAX)
}

/// Creates the asset, telling the user when the deprecated path had to be used.
pub(super) async fn create(run: &Run<'_>, request: &NewAssetRequest) -> Result<CreatedAsset, Stop> {
    let client = &run.ctx.backend.client;
    let created = patiently(run, "creating the asset", |token| async move {
        client.create_asset(&token, request).await
    })
    .await?;
    if created.fell_back {
        tracing::warn!(device = %run.record.device_id, "created through the deprecated {LEGACY_ASSETS_PATH}");
        run.report.notice(LEGACY_NOTICE.to_owned());
    }
    let id = created.id.clone();
    run.report.update(|file| file.asset_id = Some(id));
    Ok(created)
}

async fn send_memory(run: &Run<'_>, media: &Media, note: Option<&str>) -> Result<Uploaded, Stop> {
    let size = media.bytes.len() as u64;
    let part_size = part_size_for(size, run.options.part_size);
    let request = NewAssetRequest::whole(
        &media.name,
        filetype(&media.name),
        size,
        part_count(size, part_size),
        media.offset,
    );
    let created = create(run, &request).await?;
    let mut offset = 0u64;
    for (index, url) in created.upload_urls.iter().enumerate() {
        let len = part_size.min(size.saturating_sub(offset));
        let (start, end) = (as_index(offset), as_index(offset.saturating_add(len)));
        let body = PartBody::Memory(media.bytes.slice(start..end.min(media.bytes.len())));
        let number = u32::try_from(index).unwrap_or(u32::MAX).saturating_add(1);
        send_part(
            run,
            PartJob {
                number,
                offset,
                url,
                body,
            },
        )
        .await
        .map_err(link_refusal_is_final)?;
        offset = offset.saturating_add(len);
        run.report.sent(offset, true);
    }
    finish(run, None, &created.id, &media.name, size, note).await
}

fn as_index(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Without a record to mark, a refused link is the file's failure like any other.
fn link_refusal_is_final(stop: Stop) -> Stop {
    match stop {
        Stop::LinkRefused(reason) => Stop::File {
            reason,
            kind: FailureKind::Refused,
        },
        other => other,
    }
}

/// The record of one file's upload, held locked while this process sends it.
pub(super) struct Tracked {
    store: ResumeStore,
    key: String,
    _lock: UploadLock,
}

impl Tracked {
    /// The record of `path` sent by this run's device, locked; `None` when nothing is kept.
    pub(super) fn open(run: &Run<'_>, path: &Path) -> Result<Option<Self>, Stop> {
        let Some(store) = run.options.resume.clone() else {
            return Ok(None);
        };
        let record = run.record;
        let key = ResumeStore::key(&record.device_id, &record.keychain_host, path);
        match store.lock(&key, &shown(path), &record.device_id) {
            Ok(lock) => Ok(Some(Self {
                store,
                key,
                _lock: lock,
            })),
            Err(busy @ ResumeError::Busy { .. }) => Err(Stop::File {
                reason: busy.to_string(),
                kind: FailureKind::Usage,
            }),
            Err(other) => {
                // No record can be kept: send all the same, without resume.
                tracing::warn!(%other, "uploading without a resume record");
                run.report.notice(format!(
                    "{other}; this upload cannot be resumed if interrupted"
                ));
                Ok(None)
            }
        }
    }

    /// The kept upload that can go on with the file as it is now, saying so; an upload that
    /// cannot go on is dropped, saying why.
    pub(super) fn resumable(
        &self,
        run: &Run<'_>,
        facts: &FileFacts,
        realtime: bool,
    ) -> Option<UploadState> {
        let kept = match self.store.load(&self.key) {
            Ok(kept) => kept?,
            Err(error) => {
                run.report
                    .notice(format!("{error}; sending the file as a new asset"));
                return None;
            }
        };
        let now = unix_seconds(SystemTime::now());
        let verdict = if kept.realtime == realtime {
            kept.resumable(facts, now)
        } else {
            Resumable::FileChanged("it was started as another kind of upload".into())
        };
        match verdict {
            Resumable::Yes => {
                run.report.notice(format!(
                    "continuing the upload started {}: {} of {} parts already sent (asset {})",
                    crate::human_time::ago(kept.started_at, now),
                    kept.parts_done(),
                    kept.parts.len(),
                    kept.asset_id
                ));
                Some(kept)
            }
            Resumable::FileChanged(why) => {
                run.report.notice(format!(
                    "the file changed since its upload started ({why}): sending it again as a \
                     new asset (the unfinished asset {} stays incomplete)",
                    kept.asset_id
                ));
                None
            }
            Resumable::LinksExpired => {
                run.report.notice(format!(
                    "the upload links of the unfinished upload (asset {}) have expired: \
                     sending the file again as a new asset",
                    kept.asset_id
                ));
                None
            }
        }
    }

    /// Writes the record; a failure is logged (the upload goes on, unresumable).
    pub(super) fn save(&self, state: &UploadState) {
        if let Err(error) = self.store.save(&self.key, state) {
            tracing::warn!(%error, "the upload record could not be written");
        }
    }

    /// Drops the record.
    pub(super) fn remove(&self) {
        if let Err(error) = self.store.remove(&self.key) {
            tracing::warn!(%error, "the upload record could not be removed");
        }
    }
}

/// A file that is gone cannot be resumed: its record is dropped (else every `--resume` would
/// fail on it again), saying so.
pub(super) fn forget_if_gone(run: &Run<'_>, path: &Path) {
    if !matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    {
        return;
    }
    let Ok(Some(tracked)) = Tracked::open(run, path) else {
        return;
    };
    if matches!(tracked.store.load(&tracked.key), Ok(Some(_))) {
        run.report.notice(
            "the file is gone, so its unfinished upload was forgotten (the asset stays \
             incomplete in Frame.io)"
                .to_owned(),
        );
    }
    tracked.remove();
}

/// The file's absolute path, links resolved (one record per file however it is named).
pub(super) async fn absolute(path: &Path) -> PathBuf {
    match tokio::fs::canonicalize(path).await {
        Ok(path) => path,
        Err(_) => std::path::absolute(path).unwrap_or_else(|_| path.to_owned()),
    }
}

/// The facts of the file to send, or why it cannot be read.
pub(super) async fn read_facts(path: &Path) -> Result<FileFacts, Stop> {
    source::facts(path).await.map_err(|error| Stop::File {
        reason: format!("{} could not be read: {error}", shown(path)),
        kind: FailureKind::Usage,
    })
}

/// A new record for an asset just created.
pub(super) fn new_state(
    run: &Run<'_>,
    path: &Path,
    facts: &FileFacts,
    part_size: u64,
    created: &CreatedAsset,
    realtime: bool,
    note: Option<&str>,
) -> UploadState {
    let now = unix_seconds(SystemTime::now());
    let name = file_name(path);
    let mut offset = 0u64;
    let parts = created
        .upload_urls
        .iter()
        .enumerate()
        .map(|(index, url)| {
            let size = part_size.min(facts.size.saturating_sub(offset));
            let (expires_at, expiry_known) = url_expiry(url, now);
            let part = PartState {
                number: u32::try_from(index).unwrap_or(u32::MAX).saturating_add(1),
                offset,
                size,
                url: url.clone(),
                expires_at,
                expiry_known,
                done: false,
                is_final: false,
            };
            offset = offset.saturating_add(size);
            part
        })
        .collect();
    UploadState {
        version: 1,
        device_id: run.record.device_id.clone(),
        keychain_host: run.record.keychain_host.clone(),
        path: path.to_owned(),
        filetype: filetype(&name).to_owned(),
        name,
        size: facts.size,
        modified_ns: clamp_ns(facts.modified_ns),
        part_size,
        realtime,
        asset_id: created.id.clone(),
        via: created.via,
        parts,
        started_at: now,
        note: note.map(str::to_owned),
    }
}

async fn send_file(run: &Run<'_>, path: &Path, note: Option<&str>) -> Result<Uploaded, Stop> {
    let path = absolute(path).await;
    let facts = match read_facts(&path).await {
        Ok(facts) => facts,
        Err(stop) => {
            forget_if_gone(run, &path);
            return Err(stop);
        }
    };
    run.report.update(|file| {
        file.size = Some(facts.size);
        file.seen = facts.size;
    });
    let tracked = Tracked::open(run, &path)?;
    let kept = tracked
        .as_ref()
        .and_then(|t| t.resumable(run, &facts, false));
    let mut state = if let Some(kept) = kept {
        run.report
            .update(|file| file.asset_id = Some(kept.asset_id.clone()));
        kept
    } else {
        let name = file_name(&path);
        let part_size = part_size_for(facts.size, run.options.part_size);
        let request = NewAssetRequest::whole(
            &name,
            filetype(&name),
            facts.size,
            part_count(facts.size, part_size),
            facts.age,
        );
        let created = create(run, &request).await?;
        let state = new_state(run, &path, &facts, part_size, &created, false, note);
        if let Some(tracked) = &tracked {
            tracked.save(&state);
        }
        state
    };
    run.report.sent(state.bytes_done(), true);
    for index in 0..state.parts.len() {
        let Some(part) = state.parts.get(index).filter(|p| !p.done).cloned() else {
            continue;
        };
        let now = read_facts(&path).await?;
        if now.size != facts.size || now.modified_ns != facts.modified_ns {
            return Err(Stop::File {
                reason: format!(
                    "{} changed while it was being sent; send it again once it is complete",
                    shown(&path)
                ),
                kind: FailureKind::Usage,
            });
        }
        let body = PartBody::File {
            path: path.clone(),
            offset: part.offset,
            len: part.size,
        };
        let job = PartJob {
            number: part.number,
            offset: part.offset,
            url: &part.url,
            body,
        };
        match send_part(run, job).await {
            Ok(()) => {}
            Err(Stop::LinkRefused(reason)) => {
                // Dead links: the next run asks for a new asset instead of trying them again.
                for pending in state.parts.iter_mut().filter(|p| !p.done) {
                    pending.expires_at = 0;
                }
                if let Some(tracked) = &tracked {
                    tracked.save(&state);
                }
                return Err(Stop::File {
                    reason,
                    kind: FailureKind::Refused,
                });
            }
            Err(stop) => return Err(stop),
        }
        if let Some(done) = state.parts.get_mut(index) {
            done.done = true;
        }
        if let Some(tracked) = &tracked {
            tracked.save(&state);
        }
        run.report.sent(part.offset.saturating_add(part.size), true);
    }
    let name = state.name.clone();
    let note = state.note.clone();
    finish(
        run,
        tracked.as_ref(),
        &state.asset_id,
        &name,
        facts.size,
        note.as_deref(),
    )
    .await
}

/// Every part arrived: adds the note, drops the record, records the upload in the device
/// list. A note that cannot be added is said, not fatal: the media is there.
pub(super) async fn finish(
    run: &Run<'_>,
    tracked: Option<&Tracked>,
    asset_id: &str,
    name: &str,
    bytes: u64,
    note: Option<&str>,
) -> Result<Uploaded, Stop> {
    run.report.sent(bytes, true);
    let mut added = None;
    if let Some(text) = note {
        let client = &run.ctx.backend.client;
        let comment = patiently(run, "adding the note", |token| async move {
            client.comment(&token, asset_id, text, None).await
        })
        .await;
        match comment {
            Ok(comment) => {
                run.report.notice(format!(
                    "added the note \"{text}\" (comment {})",
                    comment.id
                ));
                added = Some(comment);
            }
            Err(Stop::File { reason, .. } | Stop::LinkRefused(reason)) => {
                run.report
                    .notice(format!("the note could not be added: {reason}"));
            }
            Err(Stop::Cancelled) => {
                run.report
                    .notice("the note was not added: cancelled".to_owned());
            }
            Err(Stop::Queue(error)) => {
                run.report
                    .notice(format!("the note could not be added: {error}"));
                run.defer(error);
            }
        }
    }
    if let Some(tracked) = tracked {
        tracked.remove();
    }
    let recorded = run
        .ctx
        .registry
        .modify(&run.record.device_id, &run.record.keychain_host, |r| {
            r.last_upload = Some(unix_seconds(SystemTime::now()));
        });
    if let Err(error) = recorded {
        tracing::warn!(%error, "uploaded, but the device list could not record it");
    }
    tracing::info!(device = %run.record.device_id, asset = %asset_id, bytes, "upload done");
    Ok(Uploaded {
        asset_id: asset_id.to_owned(),
        name: name.to_owned(),
        bytes,
        note: added,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_past_the_preferred_size_only_beyond_ten_thousand() {
        let eight = 8 * 1024 * 1024;
        assert_eq!(part_size_for(1, eight), eight);
        assert_eq!(part_size_for(78 * 1024 * 1024 * 1024, eight), eight);
        let huge = 200 * 1024 * 1024 * 1024;
        let size = part_size_for(huge, eight);
        assert!(size > eight && size.is_multiple_of(1024 * 1024));
        assert!(huge.div_ceil(size) <= u64::from(MAX_PARTS));
        assert_eq!(part_count(0, eight), 1, "an empty file is one empty part");
        assert_eq!(part_count(eight + 1, eight), 2);
    }
}
