//! Connections the demo server can cut from inside a request, so an upload fault drops a
//! part's connection with no answer at all, as a network failure would; and listeners that
//! stop listening during an outage (see [`super::outage`]) and cut every open connection.
//!
//! Neither axum nor hyper lets a handler end its own connection: a handler always answers,
//! and an error in a response body comes after the status line has gone out. axum serves any
//! [`Listener`], though, so ours hands out streams that fail every read and write once cut:
//! hyper then gives up on the connection and closes the socket before a byte of an answer is
//! written, and the client sees the connection closed (or reset) without a response. A cut
//! also wakes a connection waiting for its next request, so an idle keep-alive connection
//! closes at once rather than when the client next writes.

use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::outage::{Outage, Plan};

/// Most live connections tracked for an outage to cut; beyond it the oldest are not cut (they
/// still end when the client or server ends them).
const TRACKED: usize = 4_096;
/// How often, and how long apart, a listener tries to listen again after an outage.
const REBIND_TRIES: u32 = 40;
const REBIND_PAUSE: Duration = Duration::from_millis(250);

/// The live connections of one server, to cut them all when an outage begins.
#[derive(Debug, Default)]
pub struct Connections {
    next_id: AtomicU64,
    live: Mutex<Vec<(u64, Weak<CancellationToken>)>>,
}

impl Connections {
    /// A new connection's cut handle, tracked (weakly: it goes when the connection does).
    fn track(&self) -> Cut {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let cut = Cut {
            id,
            token: Arc::new(CancellationToken::new()),
        };
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.len() >= TRACKED {
            live.retain(|(_, token)| token.strong_count() > 0);
            let excess = live.len().saturating_sub(TRACKED - 1);
            live.drain(..excess);
        }
        live.push((id, Arc::downgrade(&cut.token)));
        cut
    }

    /// Cuts every live connection but `spare`.
    pub fn cut_all(&self, spare: Option<u64>) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|(id, token)| {
            if Some(*id) == spare {
                return true;
            }
            if let Some(token) = token.upgrade() {
                token.cancel();
            }
            false
        });
    }

    /// How many connections are tracked (live, or gone and not yet swept).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A TCP listener whose connections can be cut, and which stops listening during an outage.
pub struct CuttableListener {
    /// `None` during an outage (the socket is closed, so connections are refused).
    listener: Option<TcpListener>,
    addr: SocketAddr,
    outage: Arc<Outage>,
    plan: watch::Receiver<Plan>,
    /// The last outage handled.
    handled: u64,
    /// False once the outage signal is gone (then no outage can come).
    watching: bool,
    connections: Arc<Connections>,
}

impl CuttableListener {
    /// Wraps a bound listener, watching `outage`, tracking its connections in `connections`.
    pub fn new(
        listener: TcpListener,
        outage: Arc<Outage>,
        connections: Arc<Connections>,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let plan = outage.subscribe();
        let handled = plan.borrow().serial;
        Ok(Self {
            listener: Some(listener),
            addr,
            outage,
            plan,
            handled,
            watching: true,
            connections,
        })
    }

    /// Closes the socket and cuts every connection for an outage not handled yet, waits for
    /// its end, then listens again.
    async fn ride_out_outage(&mut self) {
        let plan = *self.plan.borrow_and_update();
        if plan.serial == self.handled {
            return;
        }
        self.handled = plan.serial;
        let Some(until) = plan.until else {
            return;
        };
        self.listener = None;
        self.connections.cut_all(plan.spare);
        self.outage.closed(plan.serial);
        tracing::warn!(addr = %self.addr, "outage: the demo server does not listen for now");
        tokio::time::sleep_until(until).await;
        self.listener = self.rebind().await;
    }

    /// Listens on the same address again, trying a few times.
    async fn rebind(&self) -> Option<TcpListener> {
        let mut last_error = None;
        for _ in 0..REBIND_TRIES {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    tracing::info!(addr = %self.addr, "outage over: the demo server listens again");
                    return Some(listener);
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(REBIND_PAUSE).await;
        }
        if let Some(error) = last_error {
            tracing::error!(addr = %self.addr, %error,
                "after the outage the demo server could not listen again on its address");
        }
        None
    }
}

impl Drop for CuttableListener {
    fn drop(&mut self) {
        self.outage.unsubscribe();
    }
}

impl Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            self.ride_out_outage().await;
            let Some(listener) = self.listener.as_mut() else {
                // Not listening (it could not listen again after an outage): the next
                // outage's end tries again.
                if !self.watching || self.plan.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                continue;
            };
            tokio::select! {
                // axum's own accept: a failed connection is skipped, other errors (out of file
                // descriptors) wait a moment before the next try.
                (stream, addr) = Listener::accept(listener) => {
                    let cut = self.connections.track();
                    return (CuttableStream::new(stream, cut), addr);
                }
                changed = self.plan.changed(), if self.watching => {
                    // No outage can come once the signal is gone: then just accept.
                    self.watching = changed.is_ok();
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// The handle that cuts one connection; every request on it carries a copy.
#[derive(Debug, Clone, Default)]
pub struct Cut {
    id: u64,
    token: Arc<CancellationToken>,
}

impl Cut {
    /// Cuts the connection: from now on it neither reads nor writes, so it closes without
    /// another byte sent.
    pub fn cut(&self) {
        self.token.cancel();
    }

    /// Which connection this is (an outage spares the one that asked for it).
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// An accepted connection that fails once its [`Cut`] is used.
pub struct CuttableStream {
    stream: TcpStream,
    cut: Cut,
    /// Wakes the connection's task when it is cut.
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl CuttableStream {
    fn new(stream: TcpStream, cut: Cut) -> Self {
        let cancelled = Box::pin(CancellationToken::clone(&cut.token).cancelled_owned());
        Self {
            stream,
            cut,
            cancelled,
        }
    }

    /// The handle that cuts this connection.
    pub fn cut(&self) -> Cut {
        self.cut.clone()
    }

    /// The address the client connected to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// True once cut; otherwise the task is woken when it is.
    fn is_cut(&mut self, cx: &mut Context<'_>) -> bool {
        self.cancelled.as_mut().poll(cx).is_ready()
    }
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the demo server cut this connection (a fault or an outage)",
    )
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_cut(cx) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_cut(cx) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_cut(cx) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_cut(cx) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_cut(cx) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_cuts_every_connection_but_the_one_that_asked() {
        let connections = Connections::default();
        let asking = connections.track();
        let other = connections.track();
        let gone = connections.track();
        drop(gone);
        connections.cut_all(Some(asking.id()));
        assert!(other.token.is_cancelled());
        assert!(!asking.token.is_cancelled(), "spared");
        assert_eq!(connections.len(), 1, "only the spared one is still tracked");
    }

    #[test]
    fn tracking_is_bounded() {
        let connections = Connections::default();
        let kept: Vec<Cut> = (0..TRACKED + 100).map(|_| connections.track()).collect();
        assert!(connections.len() <= TRACKED);
        connections.cut_all(None);
        assert!(
            kept.last().unwrap().token.is_cancelled(),
            "the newest are cut"
        );
    }
}
