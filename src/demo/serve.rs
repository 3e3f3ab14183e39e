//! The demo server's accept loop: each connection admitted (see [`super::admission`]) and
//! served by hyper with a header-read timer and a cap on the request head.
//!
//! Our own loop rather than `axum::serve`, which sets no hyper timer (so a connection that
//! sends half a header, or sits idle, stays open for good) and lets hyper buffer a head of
//! up to ~400 KB before any check. Here hyper's `header_read_timeout` runs from the moment a
//! connection waits for a request head (so it also ends idle keep-alive connections), and
//! `max_header_size` closes one whose head grows past what [`super::limits`] allows.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::serve::Listener as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::Peer;
use super::admission::Admission;
use super::connection::{CuttableListener, CuttableStream};
use super::limits::HEAD_BYTES;
use super::network;

/// How long a network client may take to send a request head, and may keep a connection
/// idle between requests. A phone sends its head in one packet; a slow one in a few.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(20);
/// The same for this machine: longer than reqwest keeps an idle connection (90 s), so the
/// app always closes its pooled connections first and never sends a request into one the
/// server is closing.
const LOOPBACK_HEAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest request head hyper reads before closing the connection with 431: room for a URI
/// and headers each at [`HEAD_BYTES`] (the middleware then answers with the reason).
const MAX_HEAD: usize = 2 * HEAD_BYTES + 1024;

/// Raises the process's soft open-file limit to its hard one (macOS starts at 256, Linux at
/// 1024), so that the connection caps, not the file limit, decide who gets in.
pub fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
}

/// Serves `app` on `listener` until `stop`, then waits for open requests to end.
pub fn spawn(
    listener: CuttableListener,
    app: Router,
    admission: Arc<Admission>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut listener = listener;
        let mut connections = JoinSet::new();
        loop {
            let (stream, remote) = tokio::select! {
                accepted = listener.accept() => accepted,
                () = stop.cancelled() => break,
            };
            while connections.try_join_next().is_some() {}
            // Turned away: closed at once, before a byte is read.
            let Some(pass) = admission.admit(remote.ip()) else {
                continue;
            };
            let peer = Peer {
                remote,
                local: stream.local_addr().unwrap_or(remote),
                cut: stream.cut(),
            };
            let (app, stop) = (app.clone(), stop.clone());
            connections.spawn(async move {
                serve_connection(stream, peer, app, &stop).await;
                drop(pass);
            });
        }
        drop(listener);
        while connections.join_next().await.is_some() {}
    })
}

/// Serves one connection until it ends; on `stop`, its request under way is finished first.
async fn serve_connection(
    stream: CuttableStream,
    peer: Peer,
    app: Router,
    stop: &CancellationToken,
) {
    let head_timeout = if network::is_loopback(peer.remote.ip()) {
        LOOPBACK_HEAD_TIMEOUT
    } else {
        HEAD_TIMEOUT
    };
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer.clone()));
        app.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .max_header_size(MAX_HEAD);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
