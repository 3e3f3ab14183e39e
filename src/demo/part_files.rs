//! Where the demo server keeps the parts it receives: one temporary folder per server, one
//! folder per asset inside it, one file per part. A part's body goes to a file of its own
//! while it streams in and takes the part's place only once it arrived whole, so a part sent
//! again replaces the earlier copy and a broken upload leaves nothing behind.
//!
//! A server that dies without closing (SIGKILL, a crash, a laptop switched off) cannot remove
//! its folder; the next server to start removes it: each folder holds a lock file its server
//! keeps locked while it runs, so a folder whose lock can be taken has no server left.

use std::fs::{self, File};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tempfile::{NamedTempFile, TempDir};

use super::hex;

/// How much of a part file is read at a time while hashing an asset.
const READ_CHUNK: usize = 1024 * 1024;

/// How the servers' folders are named in the temporary directory.
pub const FOLDER_PREFIX: &str = "c2c-pair-demo-uploads-";

/// The file in a server's folder that its server keeps locked.
const LOCK_FILE: &str = ".running";

/// A folder without a lock file (made by an earlier version, or being made right now) is
/// left alone until it is this old.
const UNLOCKED_GRACE: Duration = Duration::from_secs(10 * 60);

/// The folder and the lock that says its server runs.
struct Root {
    folder: TempDir,
    lock: File,
}

/// The server's folder of received parts; removed by [`PartFiles::close`] or when dropped.
pub struct PartFiles {
    root: Mutex<Option<Root>>,
}

impl PartFiles {
    /// A fresh folder in the system's temporary directory, once the folders of servers that
    /// died there are removed.
    pub fn new() -> io::Result<Self> {
        Self::new_in(&std::env::temp_dir())
    }

    /// A fresh folder in `temp`, once the folders of servers that died there are removed.
    pub fn new_in(temp: &Path) -> io::Result<Self> {
        remove_abandoned(temp);
        let folder = tempfile::Builder::new()
            .prefix(FOLDER_PREFIX)
            .tempdir_in(temp)?;
        let lock = File::create(folder.path().join(LOCK_FILE))?;
        lock.try_lock().map_err(io::Error::other)?;
        Ok(Self {
            root: Mutex::new(Some(Root { folder, lock })),
        })
    }

    /// The folder, while the server runs.
    pub fn path(&self) -> Option<PathBuf> {
        self.root
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|root| root.folder.path().to_owned())
    }

    /// A new folder for one asset's parts, removed when the asset is forgotten.
    pub fn asset_folder(&self) -> io::Result<TempDir> {
        let root = self.path().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the demo server is stopping and takes no more uploads",
            )
        })?;
        tempfile::Builder::new().prefix("asset-").tempdir_in(root)
    }

    /// Removes the folder and every part in it (the server stops).
    pub fn close(&self) {
        let root = self
            .root
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Root { folder, lock }) = root {
            // Closed first: Windows removes no folder holding an open file.
            drop(lock);
            if let Err(error) = folder.close() {
                tracing::warn!(%error, "the demo server's received parts could not be removed");
            }
        }
    }
}

/// Removes the folders in `temp` of demo servers that are gone: their lock is free (or, made
/// by an earlier version, they have none and are older than [`UNLOCKED_GRACE`]). Folders of
/// running servers, and those of other users that cannot be touched, stay.
fn remove_abandoned(temp: &Path) {
    let Ok(entries) = fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let named = entry
            .file_name()
            .to_string_lossy()
            .starts_with(FOLDER_PREFIX);
        if !named || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let folder = entry.path();
        let abandoned = match File::open(folder.join(LOCK_FILE)) {
            // Taken here and let go at once: nobody holds it, so its server is gone.
            Ok(lock) => lock.try_lock().is_ok(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|age| age > UNLOCKED_GRACE),
            Err(_) => false,
        };
        if abandoned {
            let removed = fs::remove_dir_all(&folder);
            let shown = folder.display();
            if let Err(error) = removed {
                tracing::debug!(folder = %shown, %error, "a stopped demo server's folder could not be removed");
            } else {
                tracing::info!(folder = %shown, "removed the received media of a demo server that stopped without tidying up");
            }
        }
    }
}

/// A new file in an asset's folder for a part's body while it arrives (removed if dropped).
pub fn incoming(folder: &Path, number: u32) -> io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!("part-{number}-"))
        .suffix(".incoming")
        .tempfile_in(folder)
}

/// Where a part that arrived whole is kept.
pub fn part_path(folder: &Path, number: u32) -> PathBuf {
    folder.join(format!("part-{number:05}"))
}

/// Reads `files` one after the other, as the asset they assemble, and returns its size and
/// SHA-256 (hex). Streams: never more than [`READ_CHUNK`] bytes in memory. Blocking.
pub fn assemble(files: &[PathBuf]) -> io::Result<(u64, String)> {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0_u8; READ_CHUNK];
    let mut total: u64 = 0;
    for path in files {
        let mut file = File::open(path)?;
        loop {
            let read = file.read(&mut buffer)?;
            let Some(chunk) = buffer.get(..read).filter(|chunk| !chunk.is_empty()) else {
                break;
            };
            digest.update(chunk);
            total = total.saturating_add(u64::try_from(read).unwrap_or(u64::MAX));
        }
    }
    Ok((total, hex::encode(digest.finish().as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_assemble_in_the_order_given_and_folders_go_with_the_server() {
        let files = PartFiles::new().unwrap();
        let root = files.path().unwrap();
        let folder = files.asset_folder().unwrap();
        fs::write(part_path(folder.path(), 2), b"world").unwrap();
        fs::write(part_path(folder.path(), 1), b"hello ").unwrap();
        let order = [part_path(folder.path(), 1), part_path(folder.path(), 2)];
        let (size, sha) = assemble(&order).unwrap();
        assert_eq!(size, 11);
        // SHA-256("hello world")
        assert_eq!(
            sha,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        files.close();
        assert!(!root.exists(), "the server's folder is removed");
        assert!(files.asset_folder().is_err(), "no uploads once stopped");
        drop(folder);
    }

    #[test]
    fn a_folder_left_by_a_server_that_died_is_removed_by_the_next_one() {
        let temp = tempfile::tempdir().unwrap();
        let running = PartFiles::new_in(temp.path()).unwrap();
        // A server that died: its folder and lock file stayed, nobody holds the lock.
        let dead = temp.path().join(format!("{FOLDER_PREFIX}dead"));
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join(LOCK_FILE), b"").unwrap();
        fs::write(dead.join("part-00001"), b"media").unwrap();
        // One of an earlier version, just made: no lock file, young.
        let young = temp.path().join(format!("{FOLDER_PREFIX}young"));
        fs::create_dir(&young).unwrap();
        let next = PartFiles::new_in(temp.path()).unwrap();
        assert!(!dead.exists(), "the dead server's folder is removed");
        assert!(young.exists(), "a folder without a lock is given time");
        assert!(
            running.path().unwrap().exists(),
            "a running server's folder stays"
        );
        assert!(next.path().unwrap().exists());
        running.close();
        next.close();
        assert_eq!(
            fs::read_dir(temp.path()).unwrap().count(),
            1,
            "only the young one"
        );
    }
}
