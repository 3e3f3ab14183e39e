//! `PUT /_uploads/{asset}/{part}`: the demo server's stand-in for a presigned S3 URL.
//!
//! A part's body streams to a file of its own (never held in memory, whatever its size), at
//! most what the asset allows; it takes the part's place and is answered 200 with an `ETag`
//! (the part's SHA-256) only once it arrived whole. When that completes the asset, its parts
//! are hashed in number order before the answer, so the control API shows the assembled
//! SHA-256 as soon as the last part's upload returns. Upload faults (see
//! [`super::upload_fault`]) drop or stall a part's connection, or pace every body's reading.
//!
//! Before a byte of the body is read, the URL is checked as S3 checks a presigned one (see
//! [`super::signing`]): its signature, its lifetime, and, in strict header mode, the headers
//! it signs. A refusal is S3's: 403 with an XML error.

use std::io;
use std::num::{NonZeroU64, NonZeroU128};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::assets::{PartHeaders, PartRefused, Ticket};
use super::hex;
use super::limits::clipped;
use super::media;
use super::part_files;
use super::part_slot::Turn;
use super::reply::Details;
use super::signing::{Denied, check_headers};
use super::state::now_unix_ms;
use super::upload_fault::{Interruption, STALL_LIMIT};
use super::upload_space::NoRoom;
use super::{Peer, Shared};

/// The header S3's presigned URLs sign for the object's ACL.
const ACL_HEADER: &str = "x-amz-acl";
/// Longest signed-header value kept with a part.
const HEADER_CHARS: usize = 128;

/// Receives one part.
pub async fn upload_part(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Path((asset, number)): Path<(String, u32)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // A URL that is not ours, changed or expired is refused before a byte of the body is read.
    if let Err(denied) = shared
        .signer
        .check(uri.path(), uri.query(), now_unix_ms() / 1000)
    {
        return refuse(denied, body).await;
    }
    // Unknown uploads are refused before a byte of the body is read; known ones are read up
    // to their part's limit, so a body can never grow past what the asset announced.
    let Some(ticket) = shared.lock().assets().ticket(&asset, number) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (content_type, acl) = (text(CONTENT_TYPE.as_str()), text(ACL_HEADER));
    let strict = shared.lock().strict_headers();
    if strict && let Err(denied) = check_headers(content_type, acl, &ticket.filetype) {
        return refuse(denied, body).await;
    }
    let signed = PartHeaders {
        content_type: content_type.map(|v| clipped(v, HEADER_CHARS)),
        acl: acl.map(|v| clipped(v, HEADER_CHARS)),
    };
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > ticket.limit) {
        return too_large(number, ticket.limit);
    }
    // One reception per part: this one takes over from any under way (which stops first).
    let Some(turn) = ticket.slot.take_over().await else {
        return (
            StatusCode::CONFLICT,
            format!("part {number} is being received already"),
        )
            .into_response();
    };
    // Room on disk for what this body may write, before a byte of it is read.
    let free = shared.space.free();
    let reserved = {
        let mut state = shared.lock();
        let wants = announced.unwrap_or(ticket.limit).min(ticket.limit);
        shared
            .space
            .reserve(state.assets_mut(), (&asset, peer.remote.ip()), wants, free)
    };
    let reservation = match reserved {
        Ok((reservation, evicted)) => {
            media::discard(evicted);
            reservation
        }
        Err(no_room) => {
            drain(body).await;
            return no_room_answer(&no_room);
        }
    };
    let interruption = shared.lock().upload_faults().take_interruption();
    let stop = shared.stop.clone();
    tokio::select! {
        () = stop.cancelled() => {
            // The server stops: a part held open (stalled, throttled) ends without an answer.
            peer.cut.cut();
            unanswered("the server stopped during the upload")
        }
        answer = receive(&shared, &peer, Arrival { asset: &asset, number, signed }, (ticket, turn), interruption, body) => {
            drop(reservation);
            answer
        }
    }
}

/// Which part a body is, and the signed headers it came with.
struct Arrival<'a> {
    asset: &'a str,
    number: u32,
    signed: PartHeaders,
}

/// Streams the body to a file, then keeps it as the part.
async fn receive(
    shared: &Shared,
    peer: &Peer,
    arrival: Arrival<'_>,
    (ticket, turn): (Ticket, Turn),
    interruption: Option<(u64, Interruption)>,
    body: Body,
) -> Response {
    let Arrival {
        asset,
        number,
        signed,
    } = arrival;
    let Ok(incoming) = part_files::incoming(&ticket.folder, number) else {
        // The asset's folder is gone: the asset was forgotten (or the server stops).
        return StatusCode::NOT_FOUND.into_response();
    };
    let (file, incoming_path) = incoming.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut reception = Reception::new(ticket.receiving);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut pace = Pace::default();
    let mut body = body.into_data_stream();
    let mut pending = Bytes::new();
    loop {
        if let Some((at, what)) = interruption
            && reception.bytes >= at
        {
            return interrupt(what, peer, &turn.superseded).await;
        }
        if pending.is_empty() {
            let next = tokio::select! {
                next = body.next() => next,
                () = turn.superseded.cancelled() => {
                    return (StatusCode::CONFLICT, format!(
                        "a newer upload of part {number} took the place of this one"
                    )).into_response();
                }
                () = ticket.gone.cancelled() => {
                    return (StatusCode::NOT_FOUND, "the asset was forgotten to make room")
                        .into_response();
                }
            };
            match next {
                None => break,
                Some(Ok(chunk)) => pending = chunk,
                // The client went away: nothing is kept, and nobody reads an answer.
                Some(Err(_)) => return StatusCode::BAD_REQUEST.into_response(),
            }
            continue;
        }
        let pending_len = u64::try_from(pending.len()).unwrap_or(u64::MAX);
        if reception.bytes.saturating_add(pending_len) > ticket.limit {
            return too_large(number, ticket.limit);
        }
        let mut wanted = pending_len;
        if let Some((at, _)) = interruption {
            wanted = wanted.min(at.saturating_sub(reception.bytes));
        }
        let granted = pace.admit(shared, wanted).await;
        let piece = pending.split_to(usize::try_from(granted).unwrap_or(pending.len()));
        if let Err(error) = file.write_all(&piece).await {
            return not_written(&error);
        }
        digest.update(&piece);
        reception.add(granted);
    }
    if let Some((_, what)) = interruption {
        // A body shorter than the fault's byte count: it strikes after the whole body, before
        // the answer (the part is not kept).
        return interrupt(what, peer, &turn.superseded).await;
    }
    if let Err(error) = file.flush().await {
        return not_written(&error);
    }
    drop(file);
    let size = reception.bytes;
    let stored = shared.lock().assets_mut().store_part(
        (asset, number),
        (size, signed, Some(peer.remote.ip())),
        |target| incoming_path.persist(target).map_err(|e| e.error),
    );
    drop(reception);
    let assembly = match stored {
        Ok(assembly) => assembly,
        Err(PartRefused::Unknown) => return StatusCode::NOT_FOUND.into_response(),
        Err(PartRefused::Invalid(why)) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    if let Some(assembly) = assembly {
        shared.check_assembly(&assembly).await;
    }
    let etag = format!("\"{}\"", hex::encode(digest.finish().as_ref()));
    (StatusCode::OK, [(ETAG, etag)]).into_response()
}

/// Drops the connection now, or holds it unread first (until a newer upload of the part
/// takes over, at most [`STALL_LIMIT`]).
async fn interrupt(what: Interruption, peer: &Peer, superseded: &CancellationToken) -> Response {
    let why = match what {
        Interruption::Drop => "upload fault: connection dropped",
        Interruption::Stall => {
            let _ = tokio::time::timeout(STALL_LIMIT, superseded.cancelled()).await;
            "upload fault: stalled, then dropped"
        }
    };
    peer.cut.cut();
    unanswered(why)
}

/// The answer of a request whose connection was cut: never sent (hyper cannot write it), but
/// logged with why (`GET /_control/requests`).
fn unanswered(why: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Extension(Details::error(why)),
    )
        .into_response()
}

/// S3's refusal of a presigned request: 403 with its XML error; the log says which check
/// failed.
/// Most of a refused part's body read (and dropped) before the 403 goes out.
const REFUSED_DRAIN: u64 = 64 * 1024 * 1024;
/// Longest a refused part's body is read for.
const REFUSED_DRAIN_TIME: Duration = Duration::from_secs(10);

/// Answers 403 to a part whose URL or headers do not hold, once its body was read and
/// dropped (up to [`REFUSED_DRAIN`] in [`REFUSED_DRAIN_TIME`]): a client without
/// `Expect: 100-continue` is still writing it, and an answer followed by a closed socket
/// reaches it as a broken pipe, not as the 403 (nothing is kept, so nothing fills the disk).
async fn refuse(denied: Denied, body: Body) -> Response {
    drain(body).await;
    denied_answer(&denied)
}

/// Reads a body that is refused and drops it (up to [`REFUSED_DRAIN`] in
/// [`REFUSED_DRAIN_TIME`]), so that the client reads the refusal.
async fn drain(body: Body) {
    let mut body = body.into_data_stream();
    let mut read = 0u64;
    let draining = async {
        while read < REFUSED_DRAIN {
            match body.next().await {
                Some(Ok(chunk)) => {
                    read = read.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(REFUSED_DRAIN_TIME, draining).await;
}

/// 507: no room for the part, and why.
fn no_room_answer(no_room: &NoRoom) -> Response {
    let why = no_room.to_string();
    (
        StatusCode::INSUFFICIENT_STORAGE,
        Extension(Details::error(&why)),
        why,
    )
        .into_response()
}

fn denied_answer(denied: &Denied) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(CONTENT_TYPE, "application/xml")],
        Extension(Details::error(&denied.to_string())),
        denied.xml(),
    )
        .into_response()
}

fn too_large(number: u32, limit: u64) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("part {number} is larger than what is left of the asset: at most {limit} bytes"),
    )
        .into_response()
}

fn not_written(error: &io::Error) -> Response {
    tracing::warn!(%error, "the demo server could not write a received part");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the demo server could not write the part: {error}"),
    )
        .into_response()
}

/// A body being received: its bytes so far, shown by the control API until it ends.
struct Reception {
    receiving: Arc<AtomicU64>,
    bytes: u64,
}

impl Reception {
    fn new(receiving: Arc<AtomicU64>) -> Self {
        Self {
            receiving,
            bytes: 0,
        }
    }

    fn add(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.receiving.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Drop for Reception {
    fn drop(&mut self) {
        self.receiving.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Reads a body no faster than the throttle in force, if any. The pace is read again for
/// every piece of at most an eighth of a second's worth, so a changed or cleared throttle
/// takes effect at once.
#[derive(Default)]
struct Pace {
    /// When the bytes admitted so far are due, at the pace in force.
    due: Option<Instant>,
}

impl Pace {
    /// Waits until up to `wanted` more bytes may be read and returns how many (at least one).
    async fn admit(&mut self, shared: &Shared, wanted: u64) -> u64 {
        let Some(rate) = shared.lock().upload_faults().read_rate() else {
            self.due = None;
            return wanted.max(1);
        };
        let granted = wanted.clamp(1, (rate.get() / 8).max(1));
        let now = Instant::now();
        let start = self.due.map_or(now, |due| due.max(now));
        let due = start.checked_add(time_for(granted, rate)).unwrap_or(start);
        self.due = Some(due);
        tokio::time::sleep_until(due).await;
        granted
    }
}

/// How long `bytes` take at `rate` bytes per second.
fn time_for(bytes: u64, rate: NonZeroU64) -> Duration {
    let nanos = u128::from(bytes).saturating_mul(1_000_000_000) / NonZeroU128::from(rate);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_is_bytes_over_rate() {
        let rate = NonZeroU64::new(256 * 1024).unwrap();
        assert_eq!(time_for(1024 * 1024, rate), Duration::from_secs(4));
        assert_eq!(time_for(0, rate), Duration::ZERO);
        let slow = NonZeroU64::new(1).unwrap();
        assert_eq!(time_for(3, slow), Duration::from_secs(3));
    }
}
