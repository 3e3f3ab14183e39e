//! The embedded Frame.io C2C server (demo mode, trade shows, and every protocol test).
//!
//! It serves the same endpoints as Frame.io's device API, an approval page at its
//! `verification_uri`, and a small control API under `/_control` for tests.

mod api;
mod control;
pub mod fault;
mod form;
mod page;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use state::DemoState;

/// The demo server's client secret. Not a secret: it only opens the demo server.
pub const DEMO_CLIENT_SECRET: &str = "c2c-pair-demo-client-secret";

/// How the demo server behaves.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Address to listen on; loopback with a free port by default.
    pub listen: SocketAddr,
    /// Client secret the server accepts.
    pub client_secret: String,
    /// Lifetime of a device code (Frame.io: 120 s).
    pub expires_in: Duration,
    /// Poll interval (Frame.io: 5 s). Sub-second values are sent as floats, for tests.
    pub interval: Duration,
    /// Lifetime of an access token (Frame.io: 8 h).
    pub access_lifetime: Duration,
    /// Projects offered on the approval page.
    pub projects: Vec<String>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_secret: DEMO_CLIENT_SECRET.to_owned(),
            expires_in: Duration::from_secs(120),
            interval: Duration::from_secs(5),
            access_lifetime: Duration::from_secs(8 * 3600),
            projects: vec![
                "Demo Project".to_owned(),
                "Booth Reel".to_owned(),
                "Field Test".to_owned(),
            ],
        }
    }
}

/// Shared server state behind a mutex; every handler holds it only briefly.
#[derive(Clone)]
pub(crate) struct Shared {
    state: Arc<Mutex<DemoState>>,
    base_url: Arc<Url>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, DemoState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running demo server; it stops when [`DemoServer::shutdown`] is called or it is dropped.
pub struct DemoServer {
    base_url: Url,
    exposed: bool,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl DemoServer {
    /// Binds the listen address and serves in the current tokio runtime.
    pub async fn start(config: DemoConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let base_url = base_url_for(public_address(addr))?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, %base_url, "the demo server is reachable from other machines on this network");
        }
        let shared = Shared {
            state: Arc::new(Mutex::new(DemoState::new(
                config,
                tokio::time::Instant::now(),
            ))),
            base_url: Arc::new(base_url.clone()),
        };
        let app = router(shared);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "demo server stopped");
            }
        });
        tracing::info!(%base_url, "demo C2C server listening");
        Ok(Self {
            base_url,
            exposed: is_exposed(addr),
            stop,
            task: Some(task),
        })
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:40123/`.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// True when other machines on the network can reach it (not loopback).
    pub fn exposed(&self) -> bool {
        self.exposed
    }

    /// The approval page (the `verification_uri` it hands out).
    pub fn approval_url(&self) -> Url {
        self.base_url
            .join(page::PATH)
            .unwrap_or_else(|_| self.base_url.clone())
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The address phones should use: the listen address, or for "any address" (0.0.0.0, ::)
/// this machine's address on the network that holds its default route.
fn public_address(listen: SocketAddr) -> SocketAddr {
    if !listen.ip().is_unspecified() {
        return listen;
    }
    // Connecting a UDP socket sends nothing; it only picks the outgoing interface.
    let outgoing = std::net::UdpSocket::bind((listen.ip(), 0))
        .and_then(|socket| socket.connect(("192.0.2.1", 9)).map(|()| socket))
        .and_then(|socket| socket.local_addr());
    match outgoing {
        Ok(local) => SocketAddr::new(local.ip(), listen.port()),
        Err(error) => {
            tracing::warn!(%error, "no network address found; links will say 127.0.0.1");
            SocketAddr::from(([127, 0, 0, 1], listen.port()))
        }
    }
}

/// True when the demo server answers other machines too.
fn is_exposed(listen: SocketAddr) -> bool {
    !listen.ip().is_loopback()
}

fn base_url_for(addr: SocketAddr) -> std::io::Result<Url> {
    Url::parse(&format!("http://{addr}/"))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

/// The whole router on a fresh state, for unit tests of its layers.
#[cfg(test)]
pub(crate) fn router_for_tests() -> Router {
    let shared = Shared {
        state: Arc::new(Mutex::new(DemoState::new(
            DemoConfig::default(),
            tokio::time::Instant::now(),
        ))),
        base_url: Arc::new(
            base_url_for(SocketAddr::from(([127, 0, 0, 1], 9))).unwrap_or_else(|_| unreachable!()),
        ),
    };
    router(shared)
}

fn router(shared: Shared) -> Router {
    Router::new()
        .merge(api::routes(shared.clone()))
        .merge(page::routes())
        .merge(control::routes())
        .with_state(shared)
}
