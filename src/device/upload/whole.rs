//! Sending a file whose size is known: create the asset (asking one URL per part, then
//! sizing the parts to the URLs given), send the parts not done, a few at once, keep the
//! upload's record after each, and finish (the note, the record dropped, the device list's
//! "last upload").

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use super::Uploaded;
use super::calls::patiently;
use super::job::Job;
use super::parts::{PartJob, send_part};
use super::resume::{
    PartState, Resumable, ResumeError, ResumeStore, UploadLock, UploadState, clamp_ns, url_expiry,
};
use super::run::{Run, Stop};
use super::source::{self, FileFacts, Media, Source, file_name, filetype, offset_now, shown};
use super::tries::Repeat;
use crate::c2c::assets::{
    CreatedAsset, LEGACY_ASSETS_PATH, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, NewAssetRequest,
};
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

/// The part size for `size` bytes over the `urls` upload URLs the server gave: `asked` (the
/// size the count asked for was planned with) when it gave that count; otherwise the size
/// that spreads the bytes over every URL, as Frame.io's own client does. S3's rules must hold
/// — every part but the last at least 5 MiB, none over 5 GiB — or the file cannot be sent
/// this way (asking again would leave another asset behind).
fn part_size_for_urls(size: u64, asked: u64, urls: usize) -> Result<u64, Stop> {
    if urls == part_count(size, asked) as usize {
        return Ok(asked);
    }
    let count = u64::try_from(urls.max(1)).unwrap_or(u64::MAX);
    let part_size = size.div_ceil(count).max(1);
    let fits =
        count == 1 || (part_size >= MIN_PART_SIZE && size > part_size.saturating_mul(count - 1));
    if fits && part_size <= MAX_PART_SIZE {
        return Ok(part_size);
    }
    Err(Stop::File {
        reason: format!(
            "the server gave {urls} upload links for {size} bytes, which S3 cannot take (parts \
             of {part_size} bytes: each but the last must be 5 MiB to 5 GiB); the unfinished \
             asset stays incomplete. Report it to the server's operator"
        ),
        kind: FailureKind::Refused,
    })
}

/// Why a file is parked: Frame.io's rule in words, with when the file was recorded.
fn parked_reason(recorded_at: u64, server: &str) -> String {
    format!(
        "recorded {} while the device was paused in Frame.io ({server}): not uploaded, as \
         Frame.io's rule keeps media made during a pause private. Nothing was deleted; Retry \
         sends it again",
        crate::human_time::local(recorded_at)
    )
}

/// Creates the asset for media recorded at `recorded_at` (Unix seconds), each try sending
/// the `offset` of that moment as it is then; tells the user when the deprecated path had to
/// be used. A refusal as recorded while the device was paused parks the file.
pub(super) async fn create(
    run: &Run<'_>,
    request: &NewAssetRequest,
    recorded_at: u64,
) -> Result<CreatedAsset, Stop> {
    let client = run.client;
    let created = patiently(run, "creating the asset", Repeat::Creates, |token| {
        let mut request = request.clone();
        request.offset = offset_now(recorded_at);
        async move { client.create_asset(&token, &request).await }
    })
    .await
    .map_err(|stop| match stop {
        Stop::Paused(server) => Stop::Paused(parked_reason(recorded_at, &server)),
        other => other,
    })?;
    run.accepted.store(true, Ordering::Relaxed);
    if created.fell_back {
        tracing::warn!(device = %run.record.device_id, "created through the deprecated {LEGACY_ASSETS_PATH}");
        run.report.notice(LEGACY_NOTICE.to_owned());
    }
    let id = created.id.clone();
    run.report.update(|file| file.asset_id = Some(id));
    Ok(created)
}

/// Sends `parts` (those not done), up to the options' number at once, each from `body`;
/// `check` runs before each part starts (a file that changed stops the upload), `done` after
/// each part arrived (the record is saved). The first final failure ends it: the parts still
/// under way are abandoned. Memory stays that of the parts under way, whatever the file.
async fn send_parts<C, F>(
    run: &Run<'_>,
    parts: &[PartState],
    content_type: &str,
    body: impl Fn(&PartState) -> PartBody,
    check: C,
    mut done: impl FnMut(&PartState),
) -> Result<(), Stop>
where
    C: Fn() -> F,
    F: Future<Output = Result<(), Stop>>,
{
    let parallel = run.options.parallel_parts.max(1);
    let mut waiting = parts.iter().filter(|p| !p.done);
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < parallel {
            let Some(part) = waiting.next() else { break };
            check().await?;
            let job = PartJob {
                number: part.number,
                url: &part.url,
                expires_at: part.expiry_known.then_some(part.expires_at),
                content_type,
                body: body(part),
            };
            running.push(async move { (part, send_part(run, job).await) });
        }
        let Some((part, sent)) = running.next().await else {
            return Ok(());
        };
        sent?;
        done(part);
    }
}

/// The parts of an asset just created: one per upload URL, sized to spread `size` bytes
/// over them.
fn planned_parts(created: &CreatedAsset, size: u64, part_size: u64) -> Vec<PartState> {
    let now = unix_seconds(SystemTime::now());
    let mut offset = 0u64;
    created
        .upload_urls
        .iter()
        .enumerate()
        .map(|(index, url)| {
            let len = part_size.min(size.saturating_sub(offset));
            let (expires_at, expiry_known) = url_expiry(url, now);
            let part = PartState {
                number: u32::try_from(index).unwrap_or(u32::MAX).saturating_add(1),
                offset,
                size: len,
                url: url.clone(),
                expires_at,
                expiry_known,
                done: false,
                is_final: false,
            };
            offset = offset.saturating_add(len);
            part
        })
        .collect()
}

async fn send_memory(run: &Run<'_>, media: &Media, note: Option<&str>) -> Result<Uploaded, Stop> {
    let size = media.bytes.len() as u64;
    let part_size = part_size_for(size, run.options.part_size);
    let filetype = filetype(&media.name);
    let request = NewAssetRequest::whole(
        &media.name,
        filetype,
        size,
        part_count(size, part_size),
        offset_now(media.recorded_at),
    );
    let created = create(run, &request, media.recorded_at).await?;
    let part_size = part_size_for_urls(size, part_size, created.upload_urls.len())?;
    let parts = planned_parts(&created, size, part_size);
    run.report.parts_from(0);
    let body = |part: &PartState| {
        let (start, end) = (
            as_index(part.offset),
            as_index(part.offset.saturating_add(part.size)),
        );
        PartBody::Memory(media.bytes.slice(start..end.min(media.bytes.len())))
    };
    send_parts(run, &parts, filetype, body, || async { Ok(()) }, |_| {})
        .await
        .map_err(link_refusal_is_final)?;
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

/// How a new upload is cut, besides its file: what its record starts from.
pub(super) struct Start<'a> {
    /// Bytes per part.
    pub(super) part_size: u64,
    /// The parts planned (none yet for a growing file).
    pub(super) parts: Vec<PartState>,
    /// A growing file.
    pub(super) realtime: bool,
    /// When the media was recorded, Unix seconds.
    pub(super) recorded_at: u64,
    /// The note to add at the end.
    pub(super) note: Option<&'a str>,
}

/// A new record for an asset just created.
pub(super) fn new_state(
    run: &Run<'_>,
    path: &Path,
    facts: &FileFacts,
    created: &CreatedAsset,
    start: Start<'_>,
) -> UploadState {
    let Start {
        part_size,
        parts,
        realtime,
        recorded_at,
        note,
    } = start;
    let name = file_name(path);
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
        started_at: unix_seconds(SystemTime::now()),
        note: note.map(str::to_owned),
        recorded_at: Some(recorded_at),
        duplicate_possible: run.report.is_duplicate_possible(),
    }
}

/// Creates the asset of a file not sent before and plans its parts.
async fn new_upload(
    run: &Run<'_>,
    path: &Path,
    facts: &FileFacts,
    note: Option<&str>,
) -> Result<UploadState, Stop> {
    let name = file_name(path);
    let preferred = part_size_for(facts.size, run.options.part_size);
    let request = NewAssetRequest::whole(
        &name,
        filetype(&name),
        facts.size,
        part_count(facts.size, preferred),
        offset_now(facts.recorded_at),
    );
    let created = create(run, &request, facts.recorded_at).await?;
    let part_size = part_size_for_urls(facts.size, preferred, created.upload_urls.len())?;
    let start = Start {
        part_size,
        parts: planned_parts(&created, facts.size, part_size),
        realtime: false,
        recorded_at: facts.recorded_at,
        note,
    };
    Ok(new_state(run, path, facts, &created, start))
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
        let state = new_upload(run, &path, &facts, note).await?;
        if let Some(tracked) = &tracked {
            tracked.save(&state);
        }
        state
    };
    if state.duplicate_possible && !run.report.is_duplicate_possible() {
        run.report
            .duplicate_possible("creating the asset (in an earlier run)");
    }
    run.report.parts_from(state.bytes_done());
    let parts = state.parts.clone();
    let filetype = state.filetype.clone();
    let unchanged = || async {
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
        Ok(())
    };
    let body = |part: &PartState| PartBody::File {
        path: path.clone(),
        offset: part.offset,
        len: part.size,
    };
    let mark_done = |part: &PartState| {
        if let Some(done) = state.parts.iter_mut().find(|p| p.number == part.number) {
            done.done = true;
        }
        if let Some(tracked) = &tracked {
            tracked.save(&state);
        }
    };
    match send_parts(run, &parts, &filetype, body, unchanged, mark_done).await {
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
        let client = run.client;
        let comment = patiently(
            run,
            "adding the note",
            Repeat::Creates,
            |token| async move { client.comment(&token, asset_id, text, None).await },
        )
        .await;
        match comment {
            Ok(comment) => {
                run.report.notice(format!(
                    "added the note \"{text}\" (comment {})",
                    comment.id
                ));
                added = Some(comment);
            }
            Err(Stop::File { reason, .. } | Stop::LinkRefused(reason) | Stop::Paused(reason)) => {
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
    fn parts_are_sized_to_the_urls_given_within_s3s_rules() {
        const MIB: u64 = 1024 * 1024;
        let eight = 8 * MIB;
        let size = 20 * MIB + 123;
        assert_eq!(
            part_size_for_urls(size, eight, 3).ok(),
            Some(eight),
            "as asked"
        );
        assert_eq!(
            part_size_for_urls(eight + 1, eight, 2).ok(),
            Some(eight),
            "as asked, a last part of one byte"
        );
        assert_eq!(
            part_size_for_urls(size, eight, 2).ok(),
            Some(size.div_ceil(2)),
            "fewer"
        );
        assert_eq!(
            part_size_for_urls(size, eight, 4).ok(),
            Some(size.div_ceil(4)),
            "more"
        );
        assert_eq!(
            part_size_for_urls(size, eight, 1).ok(),
            Some(size),
            "one URL, one part"
        );
        assert_eq!(
            part_size_for_urls(0, eight, 1).ok(),
            Some(eight),
            "an empty file"
        );
        assert!(
            part_size_for_urls(size, eight, 5).is_err(),
            "parts under 5 MiB"
        );
        assert!(
            part_size_for_urls(11 * 1024 * MIB, eight, 2).is_err(),
            "parts over 5 GiB"
        );
        assert!(part_size_for_urls(11 * MIB, eight, 1).is_ok());
    }

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
