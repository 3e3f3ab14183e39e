//! The embedded Frame.io C2C server (demo mode, trade shows, and every protocol test).
//!
//! It serves the same endpoints as Frame.io's device API, an approval page at its
//! `verification_uri`, and a small control API under `/_control` for tests.

mod admission;
mod api;
mod assets;
mod comments;
mod connection;
mod control;
mod devices;
pub mod fault;
mod form;
mod guard;
mod hex;
mod host;
mod latency;
mod limits;
mod media;
mod network;
mod online;
mod outage;
mod page;
mod part_files;
mod part_slot;
mod pauses;
mod realtime;
mod reply;
mod serve;
mod signing;
pub mod state;
mod upload;
mod upload_fault;
mod upload_space;

pub use admission::{CONNECTIONS_PER_ADDRESS, NETWORK_CONNECTIONS, Strain};
pub use part_files::FOLDER_PREFIX as MEDIA_FOLDER_PREFIX;
pub use serve::HEAD_TIMEOUT;
pub use upload_space::{NETWORK_CAP, NETWORK_QUOTA};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use admission::Admission;
use connection::{Connections, Cut, CuttableListener};
pub use control::CONTROL_HEADER;
pub use guard::{
    FAILED_SUBMISSIONS_PER_MINUTE, LIVE_CODES_PER_ADDRESS, LOCKOUT, TOKEN_REQUESTS_PER_MINUTE,
    WRONG_CODES_BEFORE_LOCKOUT,
};
pub use page::WRONG_CODE;
use part_files::PartFiles;
use state::DemoState;
pub use state::Stats;
pub use upload_fault::STALL_LIMIT;
use upload_space::UploadSpace;

/// Whether part uploads must carry the headers their URL signs, as S3 insists.
///
/// The headers are `Content-Type` and `x-amz-acl: private`, as Frame.io's presigned URLs sign
/// them. On, so that every upload test shows the app sends them; off per server with
/// [`DemoConfig::strict_headers`] or `POST /_control/uploads/strict_headers` (a storage host
/// that signs the host alone).
pub const STRICT_HEADERS_BY_DEFAULT: bool = true;

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
    /// How long after its last heartbeat a device shows offline (Frame.io: 5 minutes).
    pub offline_after: Duration,
    /// Lifetime of the upload URLs handed out (`X-Amz-Expires`; S3 allows 7 days at most).
    /// Zero makes URLs that are expired as soon as they are handed out, for tests of expiry.
    pub upload_url_lifetime: Duration,
    /// Part uploads must carry the headers their URL signs (see
    /// [`STRICT_HEADERS_BY_DEFAULT`]).
    pub strict_headers: bool,
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
            offline_after: Duration::from_secs(5 * 60),
            upload_url_lifetime: Duration::from_secs(24 * 3600),
            strict_headers: STRICT_HEADERS_BY_DEFAULT,
        }
    }
}

/// Shared server state behind a mutex; every handler holds it only briefly.
#[derive(Clone)]
pub(crate) struct Shared {
    state: Arc<Mutex<DemoState>>,
    /// The base URL phones are given (verification links).
    public_url: Arc<Url>,
    /// Signs the approval page's form tokens.
    forms: Arc<page::FormKey>,
    /// The received parts, on disk.
    files: Arc<PartFiles>,
    /// Cancelled when the server stops: part uploads held open (stalled, throttled) end.
    stop: CancellationToken,
    /// Signs the upload URLs handed out and checks them when parts arrive.
    signer: Arc<signing::Signer>,
    /// The outage signal the listeners watch.
    outage: Arc<outage::Outage>,
    /// The disk uploads may take.
    space: Arc<UploadSpace>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, DemoState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hashes an asset's parts in number order (off the async threads) and records what was
    /// found: its SHA-256 when the size is right, else the asset's error.
    async fn check_assembly(&self, assembly: &assets::Assembly) {
        let files = assembly.files.clone();
        let found = tokio::task::spawn_blocking(move || part_files::assemble(&files))
            .await
            .unwrap_or_else(|error| Err(std::io::Error::other(error)));
        self.lock().assets_mut().record_assembly(assembly, found);
    }
}

/// Who can open the demo server, and what phones are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// This machine only: it listens on a loopback address.
    ThisMachine,
    /// Other machines on the network too.
    Network {
        /// The network interface whose address phones are given, when known.
        interface: Option<String>,
        /// Why phones cannot open the links, when the address they are given is no use to
        /// them (loopback, link-local, or none found).
        unusable: Option<String>,
    },
}

impl Reach {
    /// Why phones cannot open the links, when they cannot.
    pub fn unusable(&self) -> Option<&str> {
        match self {
            Self::Network {
                unusable: Some(why),
                ..
            } => Some(why),
            _ => None,
        }
    }
}

/// A running demo server; it stops when [`DemoServer::shutdown`] is called or it is dropped.
///
/// This machine's programs (the app itself) talk to it over loopback, at [`Self::base_url`];
/// only the links handed to phones ([`Self::approval_url`]) carry the network address.
pub struct DemoServer {
    local_url: Url,
    public_url: Url,
    reach: Reach,
    stop: CancellationToken,
    files: Arc<PartFiles>,
    admission: Arc<Admission>,
    /// When it started, Unix seconds.
    started_at: u64,
    tasks: Vec<JoinHandle<()>>,
}

impl DemoServer {
    /// Binds the listen address and serves in the current tokio runtime. A listen address
    /// other than loopback gets a second listener on loopback for this machine's programs
    /// (unless "any address" already answers on loopback).
    pub async fn start(config: DemoConfig) -> std::io::Result<Self> {
        serve::raise_open_file_limit();
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (public_addr, reach) = network::advertised(addr);
        let public_url = base_url_for(public_addr)?;
        let (loopback, local_addr) = if addr.ip().is_loopback() {
            (None, addr)
        } else if addr.ip().is_unspecified() {
            (
                None,
                SocketAddr::new(network::loopback_of(addr.ip()), addr.port()),
            )
        } else {
            let loopback = TcpListener::bind((network::loopback_of(addr.ip()), 0)).await?;
            let local = loopback.local_addr()?;
            (Some(loopback), local)
        };
        let local_url = base_url_for(local_addr)?;
        if let Reach::Network {
            interface,
            unusable,
        } = &reach
        {
            tracing::warn!(%addr, %public_url, interface = interface.as_deref().unwrap_or("?"),
                "the demo server is reachable from other machines on this network");
            if let Some(why) = unusable {
                tracing::warn!(%public_url, "phones cannot open the approval page: {why}");
            }
        }
        let files = Arc::new(PartFiles::new()?);
        let stop = CancellationToken::new();
        let outage = Arc::new(outage::Outage::default());
        let connections = Arc::new(Connections::default());
        let admission = Arc::new(Admission::default());
        let shared = Shared {
            state: Arc::new(Mutex::new(DemoState::new(
                config,
                tokio::time::Instant::now(),
            ))),
            public_url: Arc::new(public_url.clone()),
            forms: Arc::new(page::FormKey::random()),
            files: Arc::clone(&files),
            stop: stop.clone(),
            signer: Arc::new(signing::Signer::random()),
            outage: Arc::clone(&outage),
            space: Arc::new(UploadSpace::new(files.path(), !addr.ip().is_loopback())),
        };
        let app = router(shared);
        let listener =
            CuttableListener::new(listener, Arc::clone(&outage), Arc::clone(&connections))?;
        let mut tasks = vec![serve::spawn(
            listener,
            app.clone(),
            Arc::clone(&admission),
            stop.clone(),
        )];
        if let Some(loopback) = loopback {
            let loopback = CuttableListener::new(loopback, outage, connections)?;
            tasks.push(serve::spawn(
                loopback,
                app,
                Arc::clone(&admission),
                stop.clone(),
            ));
        }
        tracing::info!(%local_url, %public_url, "demo C2C server listening");
        Ok(Self {
            local_url,
            public_url,
            reach,
            stop,
            files,
            admission,
            started_at: state::now_unix_ms() / 1000,
            tasks,
        })
    }

    /// Base URL of the API for programs on this machine, always loopback, e.g.
    /// `http://127.0.0.1:40123/`.
    pub fn base_url(&self) -> &Url {
        &self.local_url
    }

    /// Base URL phones and other machines are given (the same as [`Self::base_url`] when the
    /// server answers this machine only).
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// Who can reach the server.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// True when other machines on the network can reach it (not loopback).
    pub fn exposed(&self) -> bool {
        matches!(self.reach, Reach::Network { .. })
    }

    /// The approval page (the `verification_uri` it hands out), at the address phones use.
    pub fn approval_url(&self) -> Url {
        self.public_url
            .join(page::PATH)
            .unwrap_or_else(|_| self.public_url.clone())
    }

    /// The folder where received parts are kept while the server runs (one folder per asset
    /// inside); removed when the server stops or is dropped.
    pub fn upload_dir(&self) -> Option<PathBuf> {
        self.files.path()
    }

    /// When it started, Unix seconds: devices paired before then were paired with a server
    /// that is gone (its state lived in memory).
    pub fn started_at(&self) -> u64 {
        self.started_at
    }

    /// Why connections were turned away in the last minute, if they were (for booth staff).
    pub fn strain(&self) -> Option<Strain> {
        self.admission.strain()
    }

    /// A handle that reads [`Self::strain`] while the server runs elsewhere.
    pub fn strain_watch(&self) -> StrainWatch {
        StrainWatch(Arc::clone(&self.admission))
    }

    /// Stops serving and waits for the server tasks to end.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        self.files.close();
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop.cancel();
        self.files.close();
    }
}

/// Both ends of a request's connection, and the handle that cuts it.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the client connected to: links in answers (upload URLs) point there, so
    /// a client is sent back the way it came (loopback to loopback, network to network).
    pub local: SocketAddr,
    /// Cuts the connection without an answer (upload faults).
    pub cut: Cut,
}

/// Reads a running server's [`Strain`] (cheap to clone; equal when of the same server).
#[derive(Debug, Clone)]
pub struct StrainWatch(Arc<Admission>);

impl StrainWatch {
    /// Why connections were turned away in the last minute, if they were.
    pub fn strain(&self) -> Option<Strain> {
        self.0.strain()
    }
}

impl PartialEq for StrainWatch {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for StrainWatch {}

fn base_url_for(addr: SocketAddr) -> std::io::Result<Url> {
    Url::parse(&format!("http://{addr}/"))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

/// The whole router on a fresh state, for unit tests of its layers.
#[cfg(test)]
pub(crate) fn router_for_tests() -> Router {
    let url =
        base_url_for(SocketAddr::from(([127, 0, 0, 1], 9))).unwrap_or_else(|_| unreachable!());
    let files = PartFiles::new().expect("a temporary folder");
    let shared = Shared {
        state: Arc::new(Mutex::new(DemoState::new(
            DemoConfig::default(),
            tokio::time::Instant::now(),
        ))),
        public_url: Arc::new(url),
        forms: Arc::new(page::FormKey::random()),
        files: Arc::new(files),
        stop: CancellationToken::new(),
        signer: Arc::new(signing::Signer::random()),
        outage: Arc::new(outage::Outage::default()),
        space: Arc::new(UploadSpace::new(None, false)),
    };
    router(shared)
}

fn router(shared: Shared) -> Router {
    let served = Router::new()
        .merge(api::routes(shared.clone()))
        .merge(page::routes())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            latency::delayed,
        ));
    Router::new()
        .merge(served)
        .merge(control::routes())
        .layer(axum::middleware::from_fn(limits::bounded_head))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            host::known_names_only,
        ))
        .with_state(shared)
}
