//! Where credentials live: the OS keychain, never a plain file.
//!
//! Layout (service `c2c-pair`):
//! - account `<client_id>@<host:port>`: one JSON document with the device's token set;
//! - account `client-secret:<host:port>`: the device-model client secret.
//!
//! The embedded demo server counts as one host, `demo`, whatever port it listens on.
//! A token account always contains `@` and a client-secret account never does, so the two
//! can never collide, whatever the device id.
//!
//! Keychain calls can hang (a locked collection waiting for a prompt nobody sees), so
//! [`Keychain`] runs them on one named thread per store, in the order they were made, and
//! waits for each with a timeout. One thread, in order: a write that timed out and finishes
//! later can never overwrite a newer one, because the newer one runs after it.

mod memory;
mod os;
mod token_set;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::oneshot;

pub use memory::MemoryStore;
pub use os::OsStore;
pub use token_set::{TokenSet, unix_seconds};

/// The keychain service name of the app.
pub const SERVICE: &str = "c2c-pair";
/// Longest wait for one keychain call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a passed preflight is trusted before the next pairing checks again.
const PROOF_LASTS: Duration = Duration::from_secs(30);

/// Account name of a device's token set.
pub fn token_account(client_id: &str, host: &str) -> String {
    format!("{client_id}@{host}")
}

/// Account name of the client secret for a host.
pub fn client_secret_account(host: &str) -> String {
    format!("client-secret:{host}")
}

/// A place to keep secrets by account name. Calls may block; [`Keychain`] wraps them.
pub trait CredentialStore: Send + Sync + 'static {
    /// Stores (or replaces) the secret of an account.
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), KeychainError>;
    /// Reads the secret of an account; `None` if there is none.
    fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError>;
    /// Deletes an account; `false` if there was none.
    fn delete(&self, account: &str) -> Result<bool, KeychainError>;
    /// Which store this is, for messages ("Secret Service, service c2c-pair").
    fn describe(&self) -> String;
}

/// A keychain failure, with what to do about it. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    /// No keychain service can be reached.
    #[error("the OS keychain is not available ({reason}). {}", FIX_UNAVAILABLE)]
    Unavailable {
        /// What the platform said.
        reason: String,
    },
    /// The keychain is locked, or refused access.
    #[error(
        "the OS keychain is locked or refused access ({reason}). {}",
        FIX_LOCKED
    )]
    Locked {
        /// What the platform said.
        reason: String,
    },
    /// A call did not return in time.
    #[error(
        "the OS keychain did not answer within {} s: it may be locked and waiting for a \
         password prompt that cannot be shown. {}", .after.as_secs(), FIX_LOCKED
    )]
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// The stored value cannot be read back.
    #[error("the keychain entry {account} is damaged ({reason}); pair the device again")]
    Corrupt {
        /// Account name of the entry.
        account: String,
        /// What is wrong with it (never the value).
        reason: String,
    },
    /// Any other platform failure.
    #[error("the OS keychain failed: {reason}")]
    Failed {
        /// What the platform said.
        reason: String,
    },
}

const FIX_UNAVAILABLE: &str = "Start a Secret Service provider such as gnome-keyring \
    (`gnome-keyring-daemon --start --components=secrets` inside a D-Bus session) or KWallet, \
    then try again. Nothing was written to a plain file.";
const FIX_LOCKED: &str = "Unlock the login keyring (log in to the desktop, or open \
    Passwords and Keys / seahorse), then try again.";

/// Async access to a [`CredentialStore`]: every call runs off the caller's thread, bounded
/// by a timeout, so neither the UI nor the tokio runtime can hang on a keychain.
#[derive(Clone)]
pub struct Keychain {
    store: Arc<dyn CredentialStore>,
    timeout: Duration,
    /// The store's one thread; calls run there one at a time, in order.
    worker: Arc<StoreThread>,
    /// When the last preflight passed: one proof serves a burst of pairings.
    proven_at: Arc<Mutex<Option<Instant>>>,
}

/// One call, run on the store's thread.
type Job = Box<dyn FnOnce(&dyn CredentialStore) + Send>;

/// The thread that runs a store's calls in order. It ends when the last [`Keychain`] using
/// it is dropped (a call that hangs keeps it, and only it, waiting).
struct StoreThread {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// Calls queued or running: a call's timeout counts from its turn, so a burst (a rig
    /// pairing together) waits its turn instead of timing out.
    queued: Arc<AtomicUsize>,
}

impl StoreThread {
    fn start(store: Arc<dyn CredentialStore>) -> Self {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let queued = Arc::new(AtomicUsize::new(0));
        let spawned = std::thread::Builder::new()
            .name("keychain".into())
            .spawn(move || {
                for job in inbox {
                    job(store.as_ref());
                }
            });
        Self {
            // Without a thread every call fails with a clear error (see `Keychain::call`).
            jobs: Mutex::new(spawned.ok().map(|_| jobs)),
            queued,
        }
    }
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("store", &self.store.describe())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Keychain {
    /// Wraps a store with a timeout for each call.
    pub fn new(store: Arc<dyn CredentialStore>, timeout: Duration) -> Self {
        Self {
            worker: Arc::new(StoreThread::start(store.clone())),
            store,
            timeout,
            proven_at: Arc::new(Mutex::new(None)),
        }
    }

    /// Which store this is, for messages.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// Stores a secret.
    pub async fn set(&self, account: &str, secret: SecretString) -> Result<(), KeychainError> {
        let account = account.to_owned();
        self.call(move |store| store.set(&account, &secret)).await
    }

    /// Reads a secret.
    pub async fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError> {
        let account = account.to_owned();
        self.call(move |store| store.get(&account)).await
    }

    /// Deletes a secret; `false` if there was none.
    pub async fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        let account = account.to_owned();
        self.call(move |store| store.delete(&account)).await
    }

    /// Stores a device's token set under its account.
    pub async fn save_tokens(&self, account: &str, tokens: &TokenSet) -> Result<(), KeychainError> {
        let secret = tokens
            .to_secret()
            .map_err(|reason| KeychainError::Failed { reason })?;
        self.set(account, secret).await
    }

    /// Reads a device's token set.
    pub async fn load_tokens(&self, account: &str) -> Result<Option<TokenSet>, KeychainError> {
        match self.get(account).await? {
            None => Ok(None),
            Some(secret) => {
                TokenSet::from_secret(&secret)
                    .map(Some)
                    .map_err(|reason| KeychainError::Corrupt {
                        account: account.to_owned(),
                        reason,
                    })
            }
        }
    }

    /// Proves the keychain works before any token exists: writes, reads back and deletes
    /// a throwaway entry.
    pub async fn preflight(&self) -> Result<(), KeychainError> {
        let recently = self
            .proven_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < PROOF_LASTS);
        if recently {
            return Ok(());
        }
        self.prove().await?;
        *self
            .proven_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        Ok(())
    }

    async fn prove(&self) -> Result<(), KeychainError> {
        let account = format!("preflight-{:016x}", rand::random::<u64>());
        let probe = SecretString::from(format!("probe-{:016x}", rand::random::<u64>()));
        let expected = probe.expose_secret().to_owned();
        self.call(move |store| {
            store.set(&account, &probe)?;
            let read = store.get(&account);
            let deleted = store.delete(&account);
            match read? {
                Some(value) if value.expose_secret() == expected => deleted.map(drop),
                _ => Err(KeychainError::Failed {
                    reason: "a test entry written to the keychain could not be read back".into(),
                }),
            }
        })
        .await
    }

    async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn CredentialStore) -> Result<T, KeychainError> + Send + 'static,
    ) -> Result<T, KeychainError> {
        let (done, result) = oneshot::channel();
        let queued = self.worker.queued.clone();
        let ahead = queued.fetch_add(1, Ordering::SeqCst);
        let job: Job = Box::new(move |store| {
            let _ = done.send(work(store));
            queued.fetch_sub(1, Ordering::SeqCst);
        });
        let sent = self
            .worker
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|jobs| jobs.send(job));
        if !matches!(sent, Some(Ok(()))) {
            self.worker.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(KeychainError::Failed {
                reason: "the keychain thread could not be started".into(),
            });
        }
        // The timeout counts from the call's turn: one timeout per call ahead of it, plus its
        // own. Queueing is load, not a hang.
        let ahead = u32::try_from(ahead).unwrap_or(u32::MAX);
        let wait = self.timeout.saturating_mul(ahead.saturating_add(1));
        match tokio::time::timeout(wait, result).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(KeychainError::Failed {
                reason: "the keychain call panicked".into(),
            }),
            Err(_) => Err(KeychainError::TimedOut {
                after: self.timeout,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct HangingStore;

    impl CredentialStore for HangingStore {
        fn set(&self, _: &str, _: &SecretString) -> Result<(), KeychainError> {
            std::thread::park();
            Ok(())
        }
        fn get(&self, _: &str) -> Result<Option<SecretString>, KeychainError> {
            std::thread::park();
            Ok(None)
        }
        fn delete(&self, _: &str) -> Result<bool, KeychainError> {
            Ok(false)
        }
        fn describe(&self) -> String {
            "a store that never answers".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_keychain_fails_the_preflight_at_the_timeout() {
        let keychain = Keychain::new(Arc::new(HangingStore), Duration::from_secs(3));
        let started = tokio::time::Instant::now();
        let err = keychain.preflight().await.unwrap_err();
        assert_eq!(
            err,
            KeychainError::TimedOut {
                after: Duration::from_secs(3)
            }
        );
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert!(
            err.to_string().contains("Unlock the login keyring"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn preflight_and_token_round_trip_on_the_memory_store() {
        let keychain = Keychain::new(Arc::new(MemoryStore::default()), DEFAULT_TIMEOUT);
        keychain.preflight().await.unwrap();
        let account = token_account("CAM-1", "demo");
        assert_eq!(account, "CAM-1@demo");
        assert!(keychain.load_tokens(&account).await.unwrap().is_none());
        let tokens = TokenSet::sample();
        keychain.save_tokens(&account, &tokens).await.unwrap();
        assert_eq!(keychain.load_tokens(&account).await.unwrap(), Some(tokens));
        assert!(keychain.delete(&account).await.unwrap());
        assert!(!keychain.delete(&account).await.unwrap());
    }

    #[tokio::test]
    async fn a_damaged_entry_is_reported_not_guessed() {
        let keychain = Keychain::new(Arc::new(MemoryStore::default()), DEFAULT_TIMEOUT);
        keychain
            .set("X@demo", SecretString::from("{not json"))
            .await
            .unwrap();
        let err = keychain.load_tokens("X@demo").await.unwrap_err();
        assert!(matches!(err, KeychainError::Corrupt { .. }), "{err}");
        assert!(!err.to_string().contains("{not json"));
    }

    /// Blocks every `set` of the value "slow" until released.
    #[derive(Default)]
    struct GatedStore {
        inner: MemoryStore,
        gate: Mutex<Option<mpsc::Receiver<()>>>,
    }

    impl CredentialStore for GatedStore {
        fn set(&self, account: &str, secret: &SecretString) -> Result<(), KeychainError> {
            if secret.expose_secret() == "slow"
                && let Some(gate) = self.gate.lock().unwrap().take()
            {
                let _ = gate.recv();
            }
            self.inner.set(account, secret)
        }
        fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError> {
            self.inner.get(account)
        }
        fn delete(&self, account: &str) -> Result<bool, KeychainError> {
            self.inner.delete(account)
        }
        fn describe(&self) -> String {
            "a store with a gate".into()
        }
    }

    #[tokio::test]
    async fn a_write_that_timed_out_never_overwrites_a_newer_one() {
        let (release, gate) = mpsc::channel();
        let store = Arc::new(GatedStore {
            gate: Mutex::new(Some(gate)),
            ..GatedStore::default()
        });
        let keychain = Keychain::new(store.clone(), Duration::from_millis(100));
        let err = keychain
            .set("A@h", SecretString::from("slow"))
            .await
            .unwrap_err();
        assert!(matches!(err, KeychainError::TimedOut { .. }), "{err}");
        // The newer write is queued behind the hung one; release the hung one meanwhile.
        let newer = keychain.set("A@h", SecretString::from("newer"));
        release.send(()).unwrap();
        newer.await.unwrap();
        let stored = keychain.get("A@h").await.unwrap().unwrap();
        assert_eq!(stored.expose_secret(), "newer", "the late write ran first");
    }

    #[test]
    fn token_and_secret_accounts_never_collide() {
        for id in ["client-secret", "client-secret:demo", "a@b", ""] {
            assert_ne!(token_account(id, "demo"), client_secret_account("demo"));
        }
    }
}
