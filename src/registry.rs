//! The device registry: what the app knows about each paired device that is not a secret.
//!
//! Ids, names, project, lifetimes, heartbeat and state are one JSON file in the OS config
//! directory; secrets stay in the keychain.
//!
//! Every change is a read-modify-write under an exclusive file lock, written to a temporary
//! file and renamed over the old one, so the window and the CLI can both use it and a crash
//! never leaves half a file. A file that cannot be read is moved aside, never overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::clock::unix_seconds;
use crate::device_id::DeviceId;

/// Environment variable that moves the config directory (tests use a throwaway one).
pub const CONFIG_DIR_ENV: &str = "C2C_PAIR_CONFIG_DIR";
const FILE_NAME: &str = "devices.json";
const LOCK_NAME: &str = "devices.lock";
/// The list's format. A list that names a handed-off device is written as
/// [`VERSION_WITH_HANDOFF`], so that an older c2c-pair, which does not know that state,
/// refuses it and leaves it alone ("written by a newer c2c-pair") instead of moving it aside
/// as unreadable; every other list stays readable by older versions.
const VERSION: u32 = 1;
/// The format of a list with a handed-off device (see [`VERSION`]).
const VERSION_WITH_HANDOFF: u32 = 2;

/// Where a paired device stands, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeviceState {
    /// Credentials are in the keychain and believed valid.
    Paired,
    /// The server refused the refresh token: pair the device again.
    NeedsRepairing {
        /// Why, in plain words.
        reason: String,
    },
    /// Unpairing could not reach the server; credentials are kept until it can.
    UnpairPending {
        /// Why the last attempt failed.
        reason: String,
    },
    /// Its credentials were handed to the device itself (`c2c-pair handoff`): the laptop
    /// holds none, and sends no heartbeat or refresh for it. Pairing it again makes it
    /// `Paired` here once more.
    HandedOff {
        /// When, Unix seconds.
        handed_off_at: u64,
    },
}

/// Who holds a device's newest, unsaved credentials (see [`Registry::claim_held`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavePending {
    /// The holding process.
    pub pid: u32,
    /// Since when, Unix seconds.
    pub since: u64,
}

/// Whether the process that marked a device "save pending" still holds its credentials.
#[derive(Debug)]
pub enum Holder {
    /// It is running and holds them (its claim is locked).
    Alive,
    /// It ended (or dropped them) without saving: the credentials are gone.
    Gone,
}

/// A held claim on a device's newest credentials.
///
/// An exclusive lock on a file beside the device's lock, kept while this process holds tokens
/// the keychain refused. The OS releases it when the process ends, however it ends, so other
/// processes can tell a live holder from a lost set.
#[derive(Debug)]
pub struct HeldClaim {
    _file: File,
}

/// One paired device. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device's `client_id`.
    pub device_id: DeviceId,
    /// Display name given when pairing.
    #[serde(default)]
    pub name: Option<String>,
    /// API base it was paired against.
    pub api_base: String,
    /// Host part of its keychain account (`host:port`, or `demo`).
    pub keychain_host: String,
    /// When it was paired, Unix seconds.
    pub paired_at: u64,
    /// Connected project, from `/v2/devices/me`.
    #[serde(default)]
    pub project_name: Option<String>,
    /// Connected project id.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The device's name in Frame.io.
    #[serde(default)]
    pub remote_name: Option<String>,
    /// When the access token expires, Unix seconds.
    #[serde(default)]
    pub access_expires_at: Option<u64>,
    /// When the refresh token was issued, Unix seconds (it lives 14 days).
    #[serde(default)]
    pub refresh_issued_at: Option<u64>,
    /// Last successful heartbeat, Unix seconds.
    #[serde(default)]
    pub last_heartbeat: Option<u64>,
    /// Last successful test upload, Unix seconds.
    #[serde(default)]
    pub last_upload: Option<u64>,
    /// The device's own firmware version, sent as `x-client-version` on every call for it
    /// (Frame.io picks the device model's configuration by it); without one, the setting's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
    /// How its last successful token request was made (body encoding and token path), so a
    /// later `invalid_request` can be told apart from a changed setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_shape: Option<String>,
    /// Set while a process holds refreshed credentials the keychain has not accepted yet:
    /// the keychain's refresh token is spent, so no other process may refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_pending: Option<SavePending>,
    /// Where it stands.
    #[serde(flatten)]
    pub state: DeviceState,
}

/// Which device a record is: its id on its server (the host its keychain entry is under).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceKey {
    /// The device's `client_id`.
    pub id: DeviceId,
    /// Its server's keychain host (`host:port`, or `demo`).
    pub host: String,
}

impl DeviceRecord {
    /// Which device this is.
    pub fn key(&self) -> DeviceKey {
        DeviceKey {
            id: self.device_id.clone(),
            host: self.keychain_host.clone(),
        }
    }

    /// Whether it was paired with the embedded demo server.
    pub fn is_demo(&self) -> bool {
        self.keychain_host == crate::c2c::profile::DEMO_KEYCHAIN_HOST
    }

    /// Its API base, checked against its keychain host: the host its credentials are stored
    /// under must be the API base's own (`demo` only on loopback), or an edited list could
    /// send one server's tokens to another.
    pub fn checked_api_base(&self) -> Result<url::Url, String> {
        let api_base =
            crate::c2c::profile::parse_api_base(&self.api_base).map_err(|e| e.to_string())?;
        let own_host = crate::c2c::profile::Profile::for_api_base(api_base.clone()).keychain_host();
        let demo = self.is_demo() && crate::c2c::profile::is_loopback(&api_base);
        if demo || self.keychain_host == own_host {
            Ok(api_base)
        } else {
            Err(format!(
                "the device list says {} is stored under {} but talks to {}; its credentials \
                 are not sent to another server. Unpair it with --local and pair it again",
                self.device_id, self.keychain_host, own_host
            ))
        }
    }

    /// When its credentials were handed to the device, if they were: the laptop then holds
    /// none.
    pub fn handed_off_at(&self) -> Option<u64> {
        match self.state {
            DeviceState::HandedOff { handed_off_at } => Some(handed_off_at),
            _ => None,
        }
    }

    /// Whether this record is the device `device_id` on `keychain_host`.
    pub fn is(&self, device_id: &str, keychain_host: &str) -> bool {
        self.device_id == device_id && self.keychain_host == keychain_host
    }
}

#[derive(Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    devices: Vec<DeviceRecord>,
}

/// The file as written, borrowing the list (a rig's list is not copied to be saved).
#[derive(Serialize)]
struct RegistryFileRef<'a> {
    version: u32,
    devices: &'a [DeviceRecord],
}

/// The app's config directory: `C2C_PAIR_CONFIG_DIR`, else the OS one (`~/.config/c2c-pair`
/// on Linux). It holds the device list and the configuration file.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "c2c-pair").map(|dirs| dirs.config_dir().to_owned())
}

/// Why the registry could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No config directory could be found for this user.
    #[error("no config directory was found for this user; set {CONFIG_DIR_ENV}")]
    NoConfigDir,
    /// Reading or writing failed.
    #[error("the device list {path} could not be {action}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// "read", "written", "locked".
        action: &'static str,
        /// What the OS said.
        reason: String,
    },
}

/// The registry file in a config directory.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
    /// Changes waiting to be written, shared by this registry's clones (group commit).
    queue: Arc<Mutex<Vec<Queued>>>,
    /// Held by the thread writing a batch.
    committing: Arc<Mutex<()>>,
    /// The file as last read or written by this process, and its devices: a file whose bytes
    /// are the same is not parsed again.
    cache: Arc<Mutex<Option<Cached>>>,
}

/// Whether a read copies the cached list (to hand it out) or takes it (to change and write
/// it back).
#[derive(Clone, Copy)]
enum Use {
    Copy,
    Take,
}

/// The file's bytes and the devices they hold.
type Cached = (Vec<u8>, Vec<DeviceRecord>);

/// A change to the device list, run by whichever thread writes the batch.
type Change = Box<dyn FnOnce(&mut Vec<DeviceRecord>) + Send>;

/// One change waiting for the next write, and who waits for it.
struct Queued {
    change: Change,
    written: mpsc::Sender<Result<(), RegistryError>>,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queued")
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What loading found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The devices, in the order they were paired.
    pub devices: Vec<DeviceRecord>,
    /// Set when an unreadable file was moved aside: what happened and where it is now.
    pub moved_aside: Option<String>,
}

impl Registry {
    /// The registry in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            queue: Arc::default(),
            committing: Arc::default(),
            cache: Arc::default(),
        }
    }

    /// The registry in `C2C_PAIR_CONFIG_DIR`, else the OS config directory
    /// (`~/.config/c2c-pair` on Linux).
    pub fn default_location() -> Result<Self, RegistryError> {
        config_dir()
            .map(Self::in_dir)
            .ok_or(RegistryError::NoConfigDir)
    }

    /// The registry file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Reads every device. A file that cannot be understood is moved aside and reported.
    pub fn load(&self) -> Result<Loaded, RegistryError> {
        let _lock = self.lock()?;
        self.read_unlocked(Use::Copy)
    }

    /// Applies `change` to the device list and writes it back atomically; returns what
    /// `change` returned. A file moved aside on the way is logged.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<DeviceRecord>) -> T,
    ) -> Result<T, RegistryError> {
        let _lock = self.lock()?;
        let loaded = self.read_unlocked(Use::Take)?;
        if let Some(note) = &loaded.moved_aside {
            tracing::warn!("{note}");
        }
        let mut devices = loaded.devices;
        let result = change(&mut devices);
        self.write_unlocked(devices)?;
        Ok(result)
    }

    /// Applies `change` like [`Registry::update`], but in a group commit: changes made at
    /// the same time from this process (a rig pairing at once) share one read and one write,
    /// so each costs O(1) writes instead of a rewrite of the whole list each.
    pub fn commit<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Vec<DeviceRecord>) -> T + Send + 'static,
    ) -> Result<T, RegistryError> {
        let (result_tx, result) = mpsc::channel();
        let (written, done) = mpsc::channel();
        locked(&self.queue).push(Queued {
            change: Box::new(move |devices| {
                let _ = result_tx.send(change(devices));
            }),
            written,
        });
        let written = {
            // Whoever holds this writes everything queued so far. Once we hold it, our change
            // is either written (by the one before us) or still queued, for us to write.
            let _committer = locked(&self.committing);
            if let Ok(written) = done.try_recv() {
                written
            } else {
                self.write_queued();
                done.try_recv().map_err(|_| self.interrupted())?
            }
        };
        written?;
        result.try_recv().map_err(|_| self.interrupted())
    }

    /// Applies every queued change in one update and tells each waiter how the write went.
    fn write_queued(&self) {
        let batch = std::mem::take(&mut *locked(&self.queue));
        let (changes, waiting): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|q| (q.change, q.written)).unzip();
        let outcome = self.update(|devices| {
            for change in changes {
                change(devices);
            }
        });
        for waiter in waiting {
            let _ = waiter.send(outcome.clone());
        }
    }

    fn interrupted(&self) -> RegistryError {
        RegistryError::Io {
            path: self.path().display().to_string(),
            action: "written",
            reason: "the write was interrupted".into(),
        }
    }

    /// Inserts or replaces the record of one device (same id and host).
    pub fn upsert(&self, record: DeviceRecord) -> Result<(), RegistryError> {
        self.commit(move |devices| {
            match devices
                .iter_mut()
                .find(|d| d.is(&record.device_id, &record.keychain_host))
            {
                Some(existing) => *existing = record,
                None => devices.push(record),
            }
        })
    }

    /// Changes one device's record, if it exists; `false` if it does not.
    pub fn modify(
        &self,
        device_id: &str,
        keychain_host: &str,
        change: impl FnOnce(&mut DeviceRecord) + Send + 'static,
    ) -> Result<bool, RegistryError> {
        let (device_id, keychain_host) = (device_id.to_owned(), keychain_host.to_owned());
        self.commit(move |devices| {
            devices
                .iter_mut()
                .find(|d| d.is(&device_id, &keychain_host))
                .map(change)
                .is_some()
        })
    }

    /// Removes one device; `false` if it was not there.
    pub fn remove(&self, device_id: &str, keychain_host: &str) -> Result<bool, RegistryError> {
        let (device_id, keychain_host) = (device_id.to_owned(), keychain_host.to_owned());
        self.commit(move |devices| {
            let before = devices.len();
            devices.retain(|d| !d.is(&device_id, &keychain_host));
            devices.len() != before
        })
    }

    /// Takes the exclusive lock of one device, across processes, until the file is dropped:
    /// refreshing and unpairing hold it, so two processes never spend the same refresh token.
    /// Blocks while another process holds it.
    pub fn lock_device(&self, account: &str) -> Result<File, RegistryError> {
        let file = self.lock_file(account, "lock")?;
        file.lock().map_err(|e| self.io_error("locked", &e))?;
        Ok(file)
    }

    /// Claims a device's newest credentials for this process (see [`HeldClaim`]); `None` when
    /// another live process holds the claim.
    pub fn claim_held(&self, account: &str) -> Result<Option<HeldClaim>, RegistryError> {
        let file = self.lock_file(account, "held")?;
        match file.try_lock() {
            Ok(()) => Ok(Some(HeldClaim { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(self.io_error("locked", &e)),
        }
    }

    /// Whether the process that set a device's "save pending" mark still holds the claim.
    pub fn holder(&self, account: &str) -> Result<Holder, RegistryError> {
        Ok(match self.claim_held(account)? {
            Some(_released_at_once) => Holder::Gone,
            None => Holder::Alive,
        })
    }

    fn lock_file(&self, account: &str, kind: &str) -> Result<File, RegistryError> {
        let dir = self.dir.join("locks");
        fs::create_dir_all(&dir).map_err(|e| self.io_error("locked", &e))?;
        // Account names can hold any character; the file is named by a hash of it.
        let name = format!("{:016x}.{kind}", fnv1a(account.as_bytes()));
        private_file()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(name))
            .map_err(|e| self.io_error("locked", &e))
    }

    fn lock(&self) -> Result<File, RegistryError> {
        fs::create_dir_all(&self.dir).map_err(|e| self.io_error("locked", &e))?;
        let file = private_file()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(LOCK_NAME))
            .map_err(|e| self.io_error("locked", &e))?;
        file.lock().map_err(|e| self.io_error("locked", &e))?;
        Ok(file)
    }

    fn read_unlocked(&self, using: Use) -> Result<Loaded, RegistryError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Loaded {
                    devices: Vec::new(),
                    moved_aside: None,
                });
            }
            Err(e) => return Err(self.io_error("read", &e)),
        };
        {
            let mut cache = locked(&self.cache);
            if cache.as_ref().is_some_and(|(cached, _)| *cached == bytes) {
                let devices = match using {
                    Use::Copy => cache.as_ref().map(|(_, d)| d.clone()),
                    // Written back (and cached again) by the caller.
                    Use::Take => cache.take().map(|(_, d)| d),
                };
                return Ok(Loaded {
                    devices: devices.unwrap_or_default(),
                    moved_aside: None,
                });
            }
        }
        match serde_json::from_slice::<RegistryFile>(&bytes) {
            Ok(file) if (VERSION..=VERSION_WITH_HANDOFF).contains(&file.version) => {
                if matches!(using, Use::Copy) {
                    *locked(&self.cache) = Some((bytes, file.devices.clone()));
                }
                Ok(Loaded {
                    devices: file.devices,
                    moved_aside: None,
                })
            }
            Ok(file) => Err(RegistryError::Io {
                path: path.display().to_string(),
                action: "read",
                reason: format!(
                    "it was written by a newer c2c-pair (format {}); update the app",
                    file.version
                ),
            }),
            Err(parse) => {
                let aside = path
                    .with_extension(format!("corrupt-{}.json", unix_seconds(SystemTime::now())));
                fs::rename(&path, &aside).map_err(|e| self.io_error("moved aside", &e))?;
                let note = format!(
                    "The device list {} could not be read ({parse}); it was kept as {} and a new \
                     list was started. Paired devices' credentials are still in the keychain.",
                    path.display(),
                    aside.display()
                );
                Ok(Loaded {
                    devices: Vec::new(),
                    moved_aside: Some(note),
                })
            }
        }
    }

    fn write_unlocked(&self, devices: Vec<DeviceRecord>) -> Result<(), RegistryError> {
        let handed_off = devices.iter().any(|d| d.handed_off_at().is_some());
        let file = RegistryFileRef {
            version: if handed_off {
                VERSION_WITH_HANDOFF
            } else {
                VERSION
            },
            devices: &devices,
        };
        // Compact: a rig of a thousand devices is rewritten on every change.
        let json = serde_json::to_vec(&file).map_err(|e| RegistryError::Io {
            path: self.path().display().to_string(),
            action: "written",
            reason: e.to_string(),
        })?;
        let temp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let write = || -> std::io::Result<()> {
            // A leftover from an older version may be world-readable; start afresh.
            let _ = fs::remove_file(&temp);
            let mut out = private_file()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&temp)?;
            out.write_all(&json)?;
            out.sync_all()?;
            fs::rename(&temp, self.path())?;
            sync_dir(&self.dir)
        };
        write().map_err(|e| self.io_error("written", &e))?;
        *locked(&self.cache) = Some((json, devices));
        Ok(())
    }

    fn io_error(&self, action: &'static str, error: &std::io::Error) -> RegistryError {
        RegistryError::Io {
            path: self.path().display().to_string(),
            action,
            reason: error.to_string(),
        }
    }
}

/// Options for a file only its owner can read (0600 on Unix): the device list names devices,
/// projects and servers.
#[cfg(unix)]
fn private_file() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = OpenOptions::new();
    options.mode(0o600);
    options
}

/// Options for a file in the user's own profile folder (Windows: its ACL keeps others out).
#[cfg(not(unix))]
fn private_file() -> OpenOptions {
    OpenOptions::new()
}

/// Makes a rename in `dir` durable. Only Unix can open a directory to sync it; Windows (NTFS)
/// journals the rename itself.
fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// FNV-1a, 64 bits: a stable, dependency-free hash for lock file names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Finds a device by id, preferring `keychain_host` when the id is paired with several servers.
pub fn find<'a>(
    devices: &'a [DeviceRecord],
    device_id: &str,
    keychain_host: &str,
) -> Option<&'a DeviceRecord> {
    devices
        .iter()
        .find(|d| d.is(device_id, keychain_host))
        .or_else(|| devices.iter().find(|d| d.device_id == device_id))
}

/// A typical record, for tests.
#[cfg(test)]
pub(crate) fn test_record(id: &str) -> DeviceRecord {
    DeviceRecord {
        device_id: DeviceId::parse(id).expect("a test id"),
        name: Some("A-Cam".into()),
        api_base: "https://api.frame.io/".into(),
        keychain_host: "api.frame.io:443".into(),
        paired_at: 1_800_000_000,
        project_name: Some("Dailies".into()),
        project_id: Some("p-1".into()),
        remote_name: None,
        access_expires_at: Some(1_800_028_800),
        refresh_issued_at: Some(1_800_000_000),
        last_heartbeat: None,
        last_upload: None,
        client_version: None,
        request_shape: None,
        save_pending: None,
        state: DeviceState::Paired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> DeviceRecord {
        test_record(id)
    }

    #[test]
    fn changes_made_at_once_from_many_threads_are_all_written() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::in_dir(dir.path());
        let threads: Vec<_> = (0..40)
            .map(|i| {
                let registry = registry.clone();
                std::thread::spawn(move || {
                    registry.upsert(record(&format!("CAM-{i}"))).unwrap();
                    registry
                        .modify(&format!("CAM-{i}"), "api.frame.io:443", move |r| {
                            r.last_heartbeat = Some(i);
                        })
                        .unwrap()
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().unwrap(), "each modify found its device");
        }
        let devices = Registry::in_dir(dir.path()).load().unwrap().devices;
        assert_eq!(devices.len(), 40);
        for device in devices {
            let i: u64 = device.device_id[4..].parse().unwrap();
            assert_eq!(device.last_heartbeat, Some(i));
        }
        assert!(
            !registry
                .modify("CAM-X", "api.frame.io:443", |_| {})
                .unwrap()
        );
    }

    #[test]
    fn a_failed_group_write_tells_every_waiter_why() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the directory should be: every write fails.
        let blocked = dir.path().join("not-a-dir");
        fs::write(&blocked, "x").unwrap();
        let registry = Registry::in_dir(&blocked);
        // Hold the writer's place until all twenty changes are queued: one thread then
        // writes the batch and nineteen wait for it.
        let committing = locked(&registry.committing);
        let threads: Vec<_> = (0..20)
            .map(|i| {
                let registry = registry.clone();
                std::thread::spawn(move || registry.upsert(record(&format!("CAM-{i}"))))
            })
            .collect();
        while locked(&registry.queue).len() < 20 {
            std::thread::yield_now();
        }
        drop(committing);
        for thread in threads {
            let error = thread.join().unwrap().unwrap_err().to_string();
            assert!(error.contains("could not be locked"), "{error}");
            assert!(!error.contains("interrupted"), "{error}");
        }
    }

    #[test]
    fn records_round_trip_and_upsert_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::in_dir(dir.path());
        assert!(registry.load().unwrap().devices.is_empty());
        registry.upsert(record("CAM-1")).unwrap();
        registry.upsert(record("CAM-2")).unwrap();
        let mut changed = record("CAM-1");
        changed.state = DeviceState::NeedsRepairing {
            reason: "refused".into(),
        };
        registry.upsert(changed.clone()).unwrap();
        let devices = registry.load().unwrap().devices;
        assert_eq!(devices, vec![changed, record("CAM-2")]);
        assert!(registry.remove("CAM-2", "api.frame.io:443").unwrap());
        assert!(!registry.remove("CAM-2", "api.frame.io:443").unwrap());
        assert!(
            registry
                .modify("CAM-1", "api.frame.io:443", |d| d.last_heartbeat = Some(5))
                .unwrap()
        );
        assert_eq!(registry.load().unwrap().devices[0].last_heartbeat, Some(5));
        let text = fs::read_to_string(registry.path()).unwrap();
        assert!(text.contains(r#""state":"needs_repairing""#), "{text}");
    }

    #[test]
    fn a_corrupt_file_is_kept_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::in_dir(dir.path());
        fs::write(
            registry.path(),
            b"{\"version\": 1, \"devices\": [{\"device_id\": 4",
        )
        .unwrap();
        let loaded = registry.load().unwrap();
        assert!(loaded.devices.is_empty());
        let note = loaded.moved_aside.unwrap();
        assert!(
            note.contains("could not be read") && note.contains("kept as"),
            "{note}"
        );
        let kept: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("corrupt"))
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        let original = fs::read(dir.path().join(&kept[0])).unwrap();
        assert!(
            original.starts_with(b"{\"version\": 1"),
            "the bytes are kept as they were"
        );
    }

    #[test]
    fn a_handed_off_device_is_stored_in_the_format_older_versions_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::in_dir(dir.path());
        registry.upsert(record("CAM-1")).unwrap();
        let text = fs::read_to_string(registry.path()).unwrap();
        assert!(text.starts_with(r#"{"version":1,"#), "{text}");
        let handed_off = DeviceRecord {
            state: DeviceState::HandedOff {
                handed_off_at: 1_800_000_100,
            },
            ..record("CAM-2")
        };
        registry.upsert(handed_off.clone()).unwrap();
        let text = fs::read_to_string(registry.path()).unwrap();
        assert!(text.starts_with(r#"{"version":2,"#), "{text}");
        assert!(
            text.contains(r#""state":"handed_off","handed_off_at":1800000100"#),
            "{text}"
        );
        let devices = Registry::in_dir(dir.path()).load().unwrap().devices;
        assert_eq!(devices, vec![record("CAM-1"), handed_off]);
        assert_eq!(devices[1].handed_off_at(), Some(1_800_000_100));
        assert_eq!(devices[0].handed_off_at(), None);
        // Forgotten again: the list is readable by older versions once more.
        registry.remove("CAM-2", "api.frame.io:443").unwrap();
        let text = fs::read_to_string(registry.path()).unwrap();
        assert!(text.starts_with(r#"{"version":1,"#), "{text}");
    }

    #[test]
    fn a_newer_format_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::in_dir(dir.path());
        fs::write(registry.path(), br#"{"version": 9, "devices": []}"#).unwrap();
        let error = registry.upsert(record("CAM-1")).unwrap_err();
        assert!(error.to_string().contains("newer c2c-pair"), "{error}");
        assert_eq!(
            fs::read(registry.path()).unwrap(),
            br#"{"version": 9, "devices": []}"#
        );
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let registry = Registry::in_dir(dir.path());
                std::thread::spawn(move || registry.upsert(record(&format!("CAM-{i}"))).unwrap())
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            Registry::in_dir(dir.path()).load().unwrap().devices.len(),
            8
        );
    }

    #[test]
    fn a_record_sends_its_secrets_only_to_its_own_server() {
        let mut good = record("CAM-1");
        assert!(good.checked_api_base().is_ok());
        good.api_base = "http://127.0.0.1:4000/".into();
        good.keychain_host = "demo".into();
        assert!(
            good.checked_api_base().is_ok(),
            "demo devices live on loopback"
        );
        for (api_base, keychain_host) in [
            ("https://evil.example/", "api.frame.io:443"),
            ("https://api.frame.io:8443/", "api.frame.io:443"),
            ("https://evil.example/", "demo"),
            ("http://api.frame.io/", "api.frame.io:80"),
        ] {
            let edited = DeviceRecord {
                api_base: api_base.into(),
                keychain_host: keychain_host.into(),
                ..record("CAM-1")
            };
            assert!(
                edited.checked_api_base().is_err(),
                "{api_base} with {keychain_host}"
            );
        }
    }

    #[test]
    #[cfg(unix)]
    fn the_list_and_its_locks_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::in_dir(dir.path());
        registry.upsert(record("CAM-1")).unwrap();
        let lock = registry.lock_device("CAM-1@h").unwrap();
        drop(lock);
        let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&registry.path()), 0o600);
        assert_eq!(mode(&dir.path().join(LOCK_NAME)), 0o600);
        for lock in fs::read_dir(dir.path().join("locks")).unwrap() {
            assert_eq!(mode(&lock.unwrap().path()), 0o600);
        }
    }

    #[test]
    fn find_prefers_the_current_server() {
        let mut demo = record("CAM-1");
        demo.keychain_host = "demo".into();
        let devices = vec![record("CAM-1"), demo.clone()];
        assert_eq!(find(&devices, "CAM-1", "demo"), Some(&demo));
        assert_eq!(find(&devices, "CAM-1", "elsewhere:443"), Some(&devices[0]));
        assert_eq!(find(&devices, "CAM-9", "demo"), None);
    }
}
