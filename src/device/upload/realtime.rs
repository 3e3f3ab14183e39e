//! A real-time upload of a file a recorder is still writing (spec §3.6–3.7): the asset is
//! created with `is_realtime_upload` (name and `filetype`, no size), part URLs are asked for
//! one at a time as the file grows — parts of the part size (at least 5 MiB) numbered from 1,
//! each asked for only once more than a part is written, so the last part is never empty —
//! and once the file stops growing (no growth for the idle time, or with `--until-closed` no
//! process holding it open for writing) the rest goes as the final part with `is_final` and
//! `asset_filesize`. The record is kept after each part, as for a whole file.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::calls::patiently;
use super::job::Job;
use super::parts::{PartJob, send_part};
use super::resume::{PartState, UploadState, url_expiry};
use super::run::{Run, Stop};
use super::source::{Source, file_name, filetype, offset_now, shown};
use super::status::FileState;
use super::tries::Repeat;
use super::whole::{
    Start, Tracked, absolute, create, finish, forget_if_gone, new_state, read_facts,
};
use super::{RealtimeOptions, Uploaded, writers};
use crate::c2c::assets::{MAX_ASSET_SIZE, MAX_PARTS, MIN_PART_SIZE, NewAssetRequest, RealtimePart};
use crate::c2c::part::PartBody;
use crate::clock::unix_seconds;
use crate::device::FailureKind;

/// How often the file is looked at: an eighth of the idle time, between 100 ms and 1 s.
fn poll_every(options: &RealtimeOptions) -> Duration {
    (options.idle / 8).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// When the file last grew.
struct Growth {
    size: u64,
    changed_at: Instant,
}

impl Growth {
    /// Notes the size seen now; true when it changed.
    fn observe(&mut self, size: u64) -> bool {
        if size == self.size {
            return false;
        }
        self.size = size;
        self.changed_at = Instant::now();
        true
    }
}

/// Sends a growing file.
pub(super) async fn send_growing(run: &Run<'_>, job: &Job) -> Result<Uploaded, Stop> {
    let Source::File(path) = &job.source else {
        return Err(Stop::File {
            reason: "a real-time upload needs a file on disk".into(),
            kind: FailureKind::Usage,
        });
    };
    let path = absolute(path).await;
    let facts = match read_facts(&path).await {
        Ok(facts) => facts,
        Err(stop) => {
            forget_if_gone(run, &path);
            return Err(stop);
        }
    };
    let tracked = Tracked::open(run, &path)?;
    let kept = tracked
        .as_ref()
        .and_then(|t| t.resumable(run, &facts, true));
    let mut state = if let Some(kept) = kept {
        kept
    } else {
        let name = file_name(&path);
        let recorded_at = facts.growing_since(job.first_seen);
        let request = NewAssetRequest::realtime(&name, filetype(&name), offset_now(recorded_at));
        let created = create(run, &request, recorded_at).await?;
        let part_size = run.options.part_size.max(MIN_PART_SIZE);
        let start = Start {
            part_size,
            parts: Vec::new(),
            realtime: true,
            recorded_at,
            note: job.note.as_deref(),
        };
        new_state(run, &path, &facts, &created, start)
    };
    if let Some(tracked) = &tracked {
        tracked.save(&state);
    }
    let asset_id = state.asset_id.clone();
    run.report.update(|file| {
        file.size = None;
        file.seen = facts.size;
        file.asset_id = Some(asset_id);
    });
    run.report.parts_from(state.bytes_done());
    follow(run, &path, &mut state, tracked.as_ref()).await?;
    let total = state.bytes_planned();
    let note = state.note.clone();
    finish(
        run,
        tracked.as_ref(),
        &state.asset_id,
        &state.name,
        total,
        note.as_deref(),
    )
    .await
}

/// Follows the file as it grows, part by part, until its final part is sent.
async fn follow(
    run: &Run<'_>,
    path: &Path,
    state: &mut UploadState,
    tracked: Option<&Tracked>,
) -> Result<(), Stop> {
    let options = run.options.realtime;
    let mut growth = Growth {
        size: state.size,
        changed_at: Instant::now(),
    };
    loop {
        if let Some(index) = state.parts.iter().position(|p| !p.done) {
            send_pending(run, path, state, index, tracked).await?;
            continue;
        }
        if state.parts.last().is_some_and(|p| p.is_final) {
            return Ok(());
        }
        let facts = read_facts(path).await?;
        let planned = state.bytes_planned();
        if facts.size < planned {
            return Err(Stop::File {
                reason: format!(
                    "{} got shorter ({} bytes) than what was already sent ({planned} bytes)",
                    shown(path),
                    facts.size
                ),
                kind: FailureKind::Usage,
            });
        }
        let grew = growth.observe(facts.size);
        run.report.update(|file| file.seen = facts.size);
        if facts.size.saturating_sub(planned) > state.part_size {
            let size = state.part_size;
            ask_for_part(run, state, size, false, None).await?;
        } else if stopped_growing(path, &growth, grew, &options).await {
            check_final_size(path, facts.size)?;
            let last = facts.size.saturating_sub(planned);
            ask_for_part(run, state, last, true, Some(facts.size)).await?;
        } else {
            run.report.enter(FileState::Waiting);
            tokio::select! {
                biased;
                () = run.cancelled() => return Err(Stop::Cancelled),
                () = tokio::time::sleep(poll_every(&options)) => {}
            }
            continue;
        }
        if let Some(tracked) = tracked {
            tracked.save(state);
        }
    }
}

/// A finished recording can be an asset: not empty, not over 5 TiB.
fn check_final_size(path: &Path, size: u64) -> Result<(), Stop> {
    let reason = if size == 0 {
        format!("{} is empty: nothing to send", shown(path))
    } else if size > MAX_ASSET_SIZE {
        "the file is larger than the 5 TiB a real-time asset may be".to_owned()
    } else {
        return Ok(());
    };
    Err(Stop::File {
        reason,
        kind: FailureKind::Usage,
    })
}

/// Whether the recording is over: with `until_closed`, no process holds the file open for
/// writing (looked at only when it did not just grow); else no growth for the idle time.
async fn stopped_growing(
    path: &Path,
    growth: &Growth,
    grew: bool,
    options: &RealtimeOptions,
) -> bool {
    if options.until_closed {
        if grew {
            return false;
        }
        let path = path.to_owned();
        return !tokio::task::spawn_blocking(move || writers::held_for_writing(&path))
            .await
            .unwrap_or(true);
    }
    growth.changed_at.elapsed() >= options.idle
}

/// Asks for the URL of the next part (`size` bytes; the final one with the asset's size) and
/// adds it to the record, not yet done.
async fn ask_for_part(
    run: &Run<'_>,
    state: &mut UploadState,
    size: u64,
    is_final: bool,
    asset_filesize: Option<u64>,
) -> Result<(), Stop> {
    let number = u32::try_from(state.parts.len())
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    if number > MAX_PARTS || (!is_final && number == MAX_PARTS) {
        return Err(Stop::File {
            reason: format!(
                "the recording needs more than {MAX_PARTS} parts of {} MiB; send it once it is \
                 finished instead",
                state.part_size / (1024 * 1024)
            ),
            kind: FailureKind::Usage,
        });
    }
    let part = RealtimePart {
        number,
        size,
        is_final,
    };
    let client = run.client;
    let asset_id = state.asset_id.as_str();
    let urls = patiently(
        run,
        "asking for a part URL",
        Repeat::Harmless,
        |token| async move {
            client
                .realtime_part_urls(&token, asset_id, &[part], asset_filesize)
                .await
        },
    )
    .await?;
    let url = urls.into_iter().next().ok_or_else(|| Stop::File {
        reason: "the server gave no URL for the part".into(),
        kind: FailureKind::Network,
    })?;
    let now = unix_seconds(std::time::SystemTime::now());
    let (expires_at, expiry_known) = url_expiry(&url, now);
    state.parts.push(PartState {
        number,
        offset: state.bytes_planned(),
        size,
        url,
        expires_at,
        expiry_known,
        done: false,
        is_final,
    });
    if let Some(total) = asset_filesize {
        state.size = total;
    }
    Ok(())
}

/// Sends the part asked for but not sent yet, and marks it done.
async fn send_pending(
    run: &Run<'_>,
    path: &Path,
    state: &mut UploadState,
    index: usize,
    tracked: Option<&Tracked>,
) -> Result<(), Stop> {
    let Some(part) = state.parts.get(index).cloned() else {
        return Ok(());
    };
    run.report.sending();
    let body = PartBody::File {
        path: path.to_owned(),
        offset: part.offset,
        len: part.size,
    };
    let job = PartJob {
        number: part.number,
        url: &part.url,
        expires_at: part.expiry_known.then_some(part.expires_at),
        content_type: &state.filetype,
        body,
    };
    match send_part(run, job).await {
        Ok(()) => {}
        Err(Stop::LinkRefused(reason)) => {
            if let Some(pending) = state.parts.get_mut(index) {
                pending.expires_at = 0;
            }
            if let Some(tracked) = tracked {
                tracked.save(state);
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
    if let Some(tracked) = tracked {
        tracked.save(state);
    }
    if part.is_final {
        let total = part.offset.saturating_add(part.size);
        run.report.update(|file| {
            file.size = Some(total);
            file.seen = total;
        });
    }
    Ok(())
}
