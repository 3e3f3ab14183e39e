//! Where the demo server keeps the parts it receives: one temporary folder per server, one
//! folder per asset inside it, one file per part. A part's body goes to a file of its own
//! while it streams in and takes the part's place only once it arrived whole, so a part sent
//! again replaces the earlier copy and a broken upload leaves nothing behind.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use tempfile::{NamedTempFile, TempDir};

use super::hex;

/// How much of a part file is read at a time while hashing an asset.
const READ_CHUNK: usize = 1024 * 1024;

/// The server's folder of received parts; removed by [`PartFiles::close`] or when dropped.
pub struct PartFiles {
    root: Mutex<Option<TempDir>>,
}

impl PartFiles {
    /// A fresh folder in the system's temporary directory.
    pub fn new() -> io::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("c2c-pair-demo-uploads-")
            .tempdir()?;
        Ok(Self {
            root: Mutex::new(Some(root)),
        })
    }

    /// The folder, while the server runs.
    pub fn path(&self) -> Option<PathBuf> {
        self.root
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|root| root.path().to_owned())
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
        if let Some(root) = root
            && let Err(error) = root.close()
        {
            tracing::warn!(%error, "the demo server's received parts could not be removed");
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
        std::fs::write(part_path(folder.path(), 2), b"world").unwrap();
        std::fs::write(part_path(folder.path(), 1), b"hello ").unwrap();
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
}
