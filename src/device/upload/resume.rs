//! What is kept of an upload under way, so that another run continues it after the process
//! was killed or the network dropped: one JSON file per upload in the state directory
//! (`uploads/` under `C2C_PAIR_STATE_DIR`, else the OS state directory), readable by its owner
//! only (0600), and holding no token — the file, its size and modification time, the part
//! size, the asset, which parts are done, and each part's URL with when it expires.
//!
//! A part's URL is a presigned capability for that part only; the access and refresh tokens
//! stay in the keychain.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::source::FileFacts;
use crate::c2c::assets::AssetPath;
use crate::device_id::DeviceId;

/// Environment variable naming the state directory (tests set their own).
pub const STATE_DIR_ENV: &str = "C2C_PAIR_STATE_DIR";
/// The folder of upload records inside the state directory.
pub const UPLOADS_DIR: &str = "uploads";
/// How long an upload URL is taken to live when it does not say.
///
/// That is, when it has no `X-Amz-Date` and `X-Amz-Expires`. Frame.io does not document its
/// URLs' lifetime; an hour is well inside
/// what S3 presigned URLs are usually given, so a resume after that asks for a new asset
/// rather than fail on dead links.
pub const ASSUMED_URL_LIFETIME: Duration = Duration::from_secs(3600);
/// A URL with less than this left is treated as expired: its part may take that long.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(300);
/// S3's longest presigned lifetime (7 days): a longer `X-Amz-Expires` is cut to it.
pub const MAX_URL_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Version of the record format.
const VERSION: u32 = 1;

/// The state directory: `C2C_PAIR_STATE_DIR`, else the OS one (`$XDG_STATE_HOME/c2c-pair`,
/// `~/.local/state/c2c-pair` on Linux; the local data folder elsewhere).
pub fn state_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let project = directories::ProjectDirs::from("", "", "c2c-pair")?;
    Some(
        project
            .state_dir()
            .unwrap_or_else(|| project.data_local_dir())
            .to_owned(),
    )
}

/// One part of a kept upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartState {
    /// Its number, from 1.
    pub number: u32,
    /// Its first byte in the file.
    pub offset: u64,
    /// Its size.
    pub size: u64,
    /// Where it goes (a presigned URL).
    pub url: String,
    /// When the URL expires, Unix seconds.
    pub expires_at: u64,
    /// Whether the URL said so (else [`ASSUMED_URL_LIFETIME`] was assumed).
    pub expiry_known: bool,
    /// The server took it.
    pub done: bool,
    /// The last part of a real-time upload.
    #[serde(default)]
    pub is_final: bool,
}

/// An upload under way, as kept on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    /// Format version.
    pub version: u32,
    /// The device sending.
    pub device_id: DeviceId,
    /// Its server's keychain host.
    pub keychain_host: String,
    /// The file (absolute).
    pub path: PathBuf,
    /// The asset's name.
    pub name: String,
    /// Its MIME type.
    pub filetype: String,
    /// The file's size when the upload started (for a real-time upload, when it was last
    /// looked at).
    pub size: u64,
    /// Its modification time then, nanoseconds since the Unix epoch.
    pub modified_ns: u64,
    /// Bytes per part (the last may be smaller).
    pub part_size: u64,
    /// A real-time upload of a growing file.
    pub realtime: bool,
    /// The asset.
    pub asset_id: String,
    /// The path that created it.
    pub via: AssetPath,
    /// The parts asked for so far, in number order.
    pub parts: Vec<PartState>,
    /// When it started, Unix seconds.
    pub started_at: u64,
    /// A comment to add once every part arrived.
    #[serde(default)]
    pub note: Option<String>,
    /// When the media was recorded, Unix seconds (what each `offset` was counted from).
    #[serde(default)]
    pub recorded_at: Option<u64>,
    /// Creating the asset lost an answer and went again: Frame.io may hold the file twice.
    #[serde(default)]
    pub duplicate_possible: bool,
}

/// Whether a kept upload can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumable {
    /// Yes: from its first part not done.
    Yes,
    /// No: the file is not what was being sent (said why).
    FileChanged(String),
    /// No: the URLs of parts still to send have expired (or are about to).
    LinksExpired,
}

impl UploadState {
    /// Bytes of the parts done.
    pub fn bytes_done(&self) -> u64 {
        self.parts
            .iter()
            .filter(|p| p.done)
            .fold(0u64, |sum, p| sum.saturating_add(p.size))
    }

    /// Bytes covered by the parts asked for so far (done or not).
    pub fn bytes_planned(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |sum, p| sum.saturating_add(p.size))
    }

    /// Parts done.
    pub fn parts_done(&self) -> usize {
        self.parts.iter().filter(|p| p.done).count()
    }

    /// Whether this upload can go on with the file as it is now, at `now` (Unix seconds).
    /// A whole file must be exactly as it was (size and modification time); a growing file
    /// must still hold every byte of the parts asked for.
    pub fn resumable(&self, facts: &FileFacts, now: u64) -> Resumable {
        if self.realtime {
            if facts.size < self.bytes_planned() {
                return Resumable::FileChanged(format!(
                    "it is now shorter ({} bytes) than what was already sent ({} bytes)",
                    facts.size,
                    self.bytes_planned()
                ));
            }
        } else if facts.size != self.size {
            return Resumable::FileChanged(format!(
                "its size changed ({} → {} bytes)",
                self.size, facts.size
            ));
        } else if clamp_ns(facts.modified_ns) != self.modified_ns {
            return Resumable::FileChanged("it was modified since".into());
        }
        let soonest = now.saturating_add(EXPIRY_MARGIN.as_secs());
        if self
            .parts
            .iter()
            .any(|p| !p.done && p.expires_at <= soonest)
        {
            return Resumable::LinksExpired;
        }
        Resumable::Yes
    }
}

/// Nanoseconds as kept (u64 holds them until the year 2554).
pub fn clamp_ns(ns: u128) -> u64 {
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// When a presigned URL expires (Unix seconds), and whether it said so.
///
/// S3's `X-Amz-Date` + `X-Amz-Expires` (Google Cloud Storage's `X-Goog-…` likewise), the lifetime cut to
/// [`MAX_URL_LIFETIME`]; otherwise `issued_at` + [`ASSUMED_URL_LIFETIME`].
pub fn url_expiry(url: &str, issued_at: u64) -> (u64, bool) {
    let assumed = (
        issued_at.saturating_add(ASSUMED_URL_LIFETIME.as_secs()),
        false,
    );
    let Ok(parsed) = url::Url::parse(url) else {
        return assumed;
    };
    let mut date = None;
    let mut lifetime = None;
    for (key, value) in parsed.query_pairs() {
        let key = key.to_ascii_lowercase();
        if key == "x-amz-date" || key == "x-goog-date" {
            date = signing_time(&value);
        } else if key == "x-amz-expires" || key == "x-goog-expires" {
            lifetime = value.trim().parse::<u64>().ok();
        }
    }
    match (date, lifetime) {
        (Some(date), Some(lifetime)) => (
            date.saturating_add(lifetime.min(MAX_URL_LIFETIME.as_secs())),
            true,
        ),
        _ => assumed,
    }
}

/// `20260101T120000Z` as Unix seconds.
fn signing_time(text: &str) -> Option<u64> {
    let time = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", text.trim()).ok()?;
    let zoned = time.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok()?;
    u64::try_from(zoned.timestamp().as_second()).ok()
}

/// Why the record of an upload could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// Another process is sending the same file for the same device.
    #[error(
        "another c2c-pair process is already sending {path} for {device}; wait for it, or stop it"
    )]
    Busy {
        /// The file.
        path: String,
        /// The device.
        device: DeviceId,
    },
    /// Reading or writing a record failed.
    #[error("the upload record {path} could not be {action}: {reason}")]
    Io {
        /// The record.
        path: String,
        /// "read", "written", "locked", "removed".
        action: &'static str,
        /// What the OS said.
        reason: String,
    },
}

/// Held while this process sends one upload; other processes find it taken.
#[derive(Debug)]
pub struct UploadLock {
    _file: File,
}

/// Where upload records live: one `<key>.json` per upload (and a `<key>.lock` beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeStore {
    dir: PathBuf,
}

impl ResumeStore {
    /// Records in `dir` (created when first needed).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Records in `uploads/` under [`state_dir`].
    pub fn default_location() -> Option<Self> {
        state_dir().map(|dir| Self::in_dir(dir.join(UPLOADS_DIR)))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The record's name for one file sent by one device of one server: a hash, so that no
    /// path or id has to be made safe as a file name.
    pub fn key(device_id: &str, keychain_host: &str, path: &Path) -> String {
        let mut input = Vec::new();
        for part in [keychain_host.as_bytes(), device_id.as_bytes()] {
            input.extend_from_slice(part);
            input.push(0);
        }
        input.extend_from_slice(path.as_os_str().as_encoded_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        digest
            .as_ref()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn path_of(&self, key: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{key}.{extension}"))
    }

    fn io(path: &Path, action: &'static str) -> impl Fn(std::io::Error) -> ResumeError {
        let path = super::source::shown(path);
        move |e| ResumeError::Io {
            path: path.clone(),
            action,
            reason: e.to_string(),
        }
    }

    fn ensure_dir(&self) -> Result<(), ResumeError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.dir)
            .map_err(Self::io(&self.dir, "created"))
    }

    /// Takes the upload's lock for this process, or says another process has it.
    pub fn lock(
        &self,
        key: &str,
        shown: &str,
        device: &DeviceId,
    ) -> Result<UploadLock, ResumeError> {
        self.ensure_dir()?;
        let path = self.path_of(key, "lock");
        let file = private_file(&path, false).map_err(Self::io(&path, "locked"))?;
        match file.try_lock() {
            Ok(()) => Ok(UploadLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(ResumeError::Busy {
                path: shown.to_owned(),
                device: device.clone(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(Self::io(&path, "locked")(e)),
        }
    }

    /// The kept record, if any. One that cannot be understood is reported (and not used).
    pub fn load(&self, key: &str) -> Result<Option<UploadState>, ResumeError> {
        let path = self.path_of(key, "json");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::io(&path, "read")(e)),
        };
        let state: UploadState = serde_json::from_slice(&bytes).map_err(|e| ResumeError::Io {
            path: super::source::shown(&path),
            action: "read",
            reason: format!("it is not a record of this version ({})", e.classify_word()),
        })?;
        if state.version != VERSION {
            return Err(ResumeError::Io {
                path: super::source::shown(&path),
                action: "read",
                reason: format!("it has format version {}", state.version),
            });
        }
        Ok(Some(state))
    }

    /// Writes the record (whole, then renamed over the old one: a kill leaves the old or the
    /// new, never half). Not synced to disk: a power cut may lose the last parts' "done",
    /// and they are sent again.
    pub fn save(&self, key: &str, state: &UploadState) -> Result<(), ResumeError> {
        self.ensure_dir()?;
        let path = self.path_of(key, "json");
        let temporary = self.path_of(key, "json.tmp");
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| ResumeError::Io {
            path: super::source::shown(&path),
            action: "written",
            reason: e.to_string(),
        })?;
        let mut file = private_file(&temporary, true).map_err(Self::io(&temporary, "written"))?;
        file.write_all(&bytes)
            .map_err(Self::io(&temporary, "written"))?;
        drop(file);
        std::fs::rename(&temporary, &path).map_err(Self::io(&path, "written"))
    }

    /// Forgets an upload (it finished, or a new asset replaces it), with its lock file (call
    /// it holding the lock).
    pub fn remove(&self, key: &str) -> Result<(), ResumeError> {
        for extension in ["json", "lock"] {
            let path = self.path_of(key, extension);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Self::io(&path, "removed")(e)),
            }
        }
        Ok(())
    }

    /// Every kept upload of one device of one server, oldest first. Records that cannot be
    /// read are logged and left alone.
    pub fn unfinished(&self, device_id: &str, keychain_host: &str) -> Vec<UploadState> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<UploadState> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let key = name.strip_suffix(".json")?;
                match self.load(key) {
                    Ok(state) => state,
                    Err(error) => {
                        tracing::warn!(%error, "an upload record was skipped");
                        None
                    }
                }
            })
            .filter(|s| s.device_id == device_id && s.keychain_host == keychain_host)
            .collect();
        found.sort_by(|a, b| (a.started_at, &a.path).cmp(&(b.started_at, &b.path)));
        found
    }
}

/// Opens (creating) a file only its owner can read and write.
fn private_file(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// A word for a JSON error, without quoting the file.
trait ClassifyWord {
    fn classify_word(&self) -> &'static str;
}

impl ClassifyWord for serde_json::Error {
    fn classify_word(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "fields missing or of the wrong type",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(parts: Vec<PartState>) -> UploadState {
        UploadState {
            version: VERSION,
            device_id: DeviceId::parse("CAM-1").unwrap(),
            keychain_host: "127.0.0.1:9".into(),
            path: "/media/A001.mov".into(),
            name: "A001.mov".into(),
            filetype: "video/quicktime".into(),
            size: 20,
            modified_ns: 7,
            part_size: 10,
            realtime: false,
            asset_id: "asset-1".into(),
            via: AssetPath::Devices,
            parts,
            started_at: 1000,
            note: None,
            recorded_at: Some(900),
            duplicate_possible: false,
        }
    }

    fn part(number: u32, done: bool, expires_at: u64) -> PartState {
        PartState {
            number,
            offset: u64::from(number - 1) * 10,
            size: 10,
            url: format!("http://127.0.0.1:9/_uploads/a/{number}"),
            expires_at,
            expiry_known: false,
            done,
            is_final: false,
        }
    }

    #[test]
    fn s3_expiry_is_read_from_the_url_and_assumed_otherwise() {
        let url = "https://bucket.s3.amazonaws.com/key?partNumber=1&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-Date=20260102T030405Z&X-Amz-Expires=86400&X-Amz-Signature=abc";
        // 2026-01-02T03:04:05Z is 1767323045.
        assert_eq!(url_expiry(url, 5), (1_767_323_045 + 86_400, true));
        let forever = url.replace("86400", "999999999999");
        assert_eq!(
            url_expiry(&forever, 5),
            (1_767_323_045 + MAX_URL_LIFETIME.as_secs(), true)
        );
        assert_eq!(
            url_expiry("http://127.0.0.1:9/_uploads/a/1", 100),
            (100 + ASSUMED_URL_LIFETIME.as_secs(), false)
        );
        let odd = url.replace("20260102T030405Z", "yesterday");
        assert!(!url_expiry(&odd, 0).1);
    }

    #[test]
    fn an_upload_goes_on_only_with_the_same_file_and_live_links() {
        let facts = FileFacts {
            size: 20,
            modified_ns: 7,
            recorded_at: 0,
        };
        let kept = state(vec![part(1, true, 0), part(2, false, 10_000)]);
        assert_eq!(
            kept.resumable(&facts, 1000),
            Resumable::Yes,
            "done parts' links don't matter"
        );
        assert_eq!(
            kept.resumable(&facts, 10_000 - 299),
            Resumable::LinksExpired,
            "five minutes of margin"
        );
        let bigger = FileFacts { size: 21, ..facts };
        assert!(matches!(
            kept.resumable(&bigger, 0),
            Resumable::FileChanged(_)
        ));
        let touched = FileFacts {
            modified_ns: 8,
            ..facts
        };
        assert!(matches!(
            kept.resumable(&touched, 0),
            Resumable::FileChanged(_)
        ));
        let growing = UploadState {
            realtime: true,
            ..kept
        };
        assert_eq!(
            growing.resumable(&bigger, 0),
            Resumable::Yes,
            "a growing file may grow"
        );
        let shorter = FileFacts { size: 19, ..facts };
        assert!(matches!(
            growing.resumable(&shorter, 0),
            Resumable::FileChanged(_)
        ));
    }

    #[test]
    fn records_are_private_hold_no_token_and_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResumeStore::in_dir(dir.path().join("uploads"));
        let key = ResumeStore::key("CAM-1", "127.0.0.1:9", Path::new("/media/A001.mov"));
        assert_eq!(key.len(), 24);
        let kept = state(vec![part(1, true, 5)]);
        store.save(&key, &kept).unwrap();
        assert_eq!(store.load(&key).unwrap(), Some(kept.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("uploads").join(format!("{key}.json")))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(store.path_of(&key, "json")).unwrap();
        assert!(!text.contains("token"), "{text}");
        assert_eq!(store.unfinished("CAM-1", "127.0.0.1:9"), [kept]);
        assert!(store.unfinished("CAM-2", "127.0.0.1:9").is_empty());
        store.remove(&key).unwrap();
        assert_eq!(store.load(&key).unwrap(), None);
    }

    #[test]
    fn one_process_at_a_time_sends_an_upload() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResumeStore::in_dir(dir.path());
        let cam = DeviceId::parse("CAM-1").unwrap();
        let held = store.lock("k", "a.mov", &cam).unwrap();
        let busy = store.lock("k", "a.mov", &cam).unwrap_err();
        assert!(busy.to_string().contains("already sending a.mov"), "{busy}");
        drop(held);
        assert!(store.lock("k", "a.mov", &cam).is_ok());
    }
}
