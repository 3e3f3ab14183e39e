//! One part PUT to a presigned upload URL, its body read from disk as it is sent.
//!
//! Memory does not grow with the file: the body is a stream over a range of the file, read
//! in [`READ_CHUNK`]s only as fast as the connection takes them. Instead of the client's total
//! request timeout (which would fail any 8 MiB part on a link slower than a few Mbit/s), a part
//! fails when it makes no progress — no chunk taken by the connection, then no answer — for
//! the stall timeout.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::time::Instant;

use super::assets::check_upload_url;
use super::client::{C2cClient, ClientError, MAX_BODY};
use crate::printable;

/// The canned ACL header S3 presigned URLs sign (Frame.io's URLs ask for `private`).
pub const AMZ_ACL: &str = "x-amz-acl";
/// Bytes read from the file at a time.
pub const READ_CHUNK: usize = 256 * 1024;
/// Backstop for one part, whatever its progress: a part that keeps trickling for a day is
/// given up. The stall timeout is the real guard; this only replaces the client's 20 s.
pub const PART_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// Where a part's bytes come from.
#[derive(Debug, Clone)]
pub enum PartBody {
    /// `len` bytes of a file from `offset`, read as they are sent.
    File {
        /// The file.
        path: PathBuf,
        /// First byte of the part.
        offset: u64,
        /// Bytes in the part.
        len: u64,
    },
    /// Bytes already in memory (the shipped test clip).
    Memory(Bytes),
}

impl PartBody {
    /// Bytes in the part.
    pub fn len(&self) -> u64 {
        match self {
            Self::File { len, .. } => *len,
            Self::Memory(bytes) => bytes.len() as u64,
        }
    }

    /// True for a part of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// When the connection last made progress, shared by the body stream and the watchdog.
#[derive(Clone)]
struct LastProgress(Arc<Mutex<Instant>>);

impl LastProgress {
    fn now() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }

    fn touch(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn at(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A file read failure seen by the body stream, kept to be reported as such (reqwest would
/// report it as a broken connection).
type ReadFailure = Arc<Mutex<Option<String>>>;

impl C2cClient {
    /// PUTs one part to its presigned URL (https, or http on loopback), reporting the bytes
    /// of this part taken by the connection so far to `sent`. Fails with
    /// [`ClientError::Stalled`] when nothing moves for `stall`, with [`ClientError::File`]
    /// when the file cannot be read (or is shorter than the part).
    ///
    /// Every part carries what Frame.io's presigned URLs sign besides the host, as Frame.io's
    /// own upload client sends it: `Content-Type` (the asset's `filetype`) and
    /// `x-amz-acl: private`. A URL that signs them answers 403 to a part without them.
    pub async fn put_part(
        &self,
        url: &str,
        content_type: &str,
        body: PartBody,
        stall: Duration,
        sent: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<(), ClientError> {
        let target = check_upload_url(url, &self.profile().api_base)?;
        let host = target.host_str().unwrap_or("the upload server").to_owned();
        let length = body.len();
        let shown = match &body {
            PartBody::File { path, .. } => printable::printable(&path.display().to_string(), 1024),
            PartBody::Memory(_) => "the clip in memory".to_owned(),
        };
        let last = LastProgress::now();
        let failure: ReadFailure = Arc::default();
        let stream = body_stream(body, failure.clone()).await?;
        let mut done = 0u64;
        let toucher = last.clone();
        let stream = stream.map(move |chunk| {
            if let Ok(bytes) = &chunk {
                done = done.saturating_add(bytes.len() as u64);
                toucher.touch();
                sent(done);
            }
            chunk
        });
        let request = self
            .request(reqwest::Method::PUT, target)
            .timeout(PART_LIMIT)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(AMZ_ACL, "private")
            .body(reqwest::Body::wrap_stream(stream));
        let answer = tokio::select! {
            answer = self.send_to(&host, request, MAX_BODY) => answer.map(drop),
            () = watchdog(&last, stall) => Err(ClientError::Stalled { host, after: stall }),
        };
        let read_failure = failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match (answer, read_failure) {
            (Err(_), Some(reason)) => Err(ClientError::File {
                path: shown,
                reason,
            }),
            (answer, _) => answer,
        }
    }
}

/// Resolves once nothing has moved for `stall`.
async fn watchdog(last: &LastProgress, stall: Duration) {
    loop {
        let deadline = last.at() + stall;
        tokio::time::sleep_until(deadline).await;
        if last.at() + stall <= Instant::now() {
            return;
        }
    }
}

type ChunkStream = futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>>;

/// The part's bytes as a stream: the file range read chunk by chunk (opened and positioned
/// now, so that a missing file fails before any request), or the bytes in memory.
async fn body_stream(body: PartBody, failure: ReadFailure) -> Result<ChunkStream, ClientError> {
    match body {
        PartBody::Memory(bytes) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = (0..bytes.len())
                .step_by(READ_CHUNK)
                .map(|start| Ok(bytes.slice(start..(start + READ_CHUNK).min(bytes.len()))))
                .collect();
            Ok(futures_util::stream::iter(chunks).boxed())
        }
        PartBody::File { path, offset, len } => {
            let unreadable = |e: std::io::Error| ClientError::File {
                path: printable::printable(&path.display().to_string(), 1024),
                reason: e.to_string(),
            };
            let mut file = tokio::fs::File::open(&path).await.map_err(unreadable)?;
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(unreadable)?;
            let reader = file.take(len);
            let mut read = 0u64;
            let stream = tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK)
                .chain(futures_util::stream::once(async { Ok(Bytes::new()) }))
                .filter_map(move |chunk| {
                    let chunk = match chunk {
                        Ok(bytes) if bytes.is_empty() && read < len => {
                            // The stream ended before the part did: the file shrank.
                            Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "the file is shorter than when the upload started",
                            ))
                        }
                        Ok(bytes) if bytes.is_empty() => return std::future::ready(None),
                        Ok(bytes) => {
                            read = read.saturating_add(bytes.len() as u64);
                            Ok(bytes)
                        }
                        Err(error) => Err(error),
                    };
                    if let Err(error) = &chunk {
                        *failure.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(error.to_string());
                    }
                    std::future::ready(Some(chunk))
                });
            Ok(stream.boxed())
        }
    }
}
