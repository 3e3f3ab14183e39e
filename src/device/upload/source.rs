//! What an upload sends: a file on disk (read part by part as it is sent), or bytes in memory
//! (the shipped test clip); the facts an asset is created with (name, MIME type, age); and
//! folders turned into the files they hold.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;

use crate::clock::unix_seconds;
use crate::printable;

/// The small clip shipped with the app, for "Send test clip".
pub const TEST_CLIP: &[u8] = include_bytes!("../../../assets/test-clip.mp4");
/// Its name in Frame.io.
pub const TEST_CLIP_NAME: &str = "c2c-pair-test-clip.mp4";

/// Media held in memory.
#[derive(Debug, Clone)]
pub struct Media {
    /// Name in Frame.io.
    pub name: String,
    /// The bytes.
    pub bytes: Bytes,
    /// Seconds since it was recorded.
    pub offset: u64,
}

impl Media {
    /// The shipped test clip, "recorded" now.
    pub fn test_clip() -> Self {
        Self {
            name: TEST_CLIP_NAME.to_owned(),
            bytes: Bytes::from_static(TEST_CLIP),
            offset: 0,
        }
    }
}

/// Where an upload's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk: read part by part as it is sent, and resumable.
    File(PathBuf),
    /// Bytes in memory: small, never resumed (nothing is kept for them).
    Memory(Media),
}

impl Source {
    /// The name the asset gets: the file's name, or the media's.
    pub fn name(&self) -> String {
        match self {
            Self::File(path) => file_name(path),
            Self::Memory(media) => media.name.clone(),
        }
    }

    /// The file, for a file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Memory(_) => None,
        }
    }
}

/// A file's last path component made printable (it names the asset and is shown), or
/// "upload".
pub fn file_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| printable::printable(&n.to_string_lossy(), 255))
        .unwrap_or_default();
    if name.is_empty() {
        "upload".to_owned()
    } else {
        name
    }
}

/// A path as messages show it: printable (a file name may hold escape sequences), cut.
pub fn shown(path: &Path) -> String {
    printable::printable(&path.display().to_string(), 1024)
}

/// The MIME type Frame.io is told, from the name's extension.
pub fn filetype(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let extension = lower.rsplit('.').next().unwrap_or_default();
    match extension {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "mxf" => "application/mxf",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// What is known of a file on disk: enough to tell whether it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, nanoseconds since the Unix epoch (0 when unknown).
    pub modified_ns: u128,
    /// Seconds since it was last modified (its age, sent as `offset`).
    pub age: u64,
}

/// Reads a file's facts; the error says what the OS said.
pub async fn facts(path: &Path) -> Result<FileFacts, std::io::Error> {
    let metadata = tokio::fs::metadata(path).await?;
    if metadata.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a folder",
        ));
    }
    let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let modified_ns = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    Ok(FileFacts {
        size: metadata.len(),
        modified_ns,
        age: unix_seconds(SystemTime::now()).saturating_sub(unix_seconds(modified)),
    })
}

/// One entry of a list of files and folders to send: a file, or what could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// A file to send.
    File(PathBuf),
    /// A folder (or path) that could not be read, and why.
    Unreadable {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        reason: String,
    },
}

/// Turns files and folders into the files to send, in order.
///
/// Each file is taken as given; each folder is walked **recursively** (a camera card keeps its clips in subfolders such as
/// `DCIM/100CANON` or `PRIVATE/M4ROOT/CLIP`), its files sorted by path, hidden entries (names
/// starting with `.`) left out, and symbolic links to folders not followed (no loops). A
/// symbolic link to a file is sent as that file. Blocking: call it off the runtime's
/// threads for a large card.
pub fn list_files(paths: &[PathBuf]) -> Vec<Listed> {
    let mut listed = Vec::new();
    for path in paths {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut listed),
            // A file, a link (followed when sent) or whatever else: its send says.
            Ok(_) => listed.push(Listed::File(path.clone())),
            Err(error) => listed.push(Listed::Unreadable {
                path: path.clone(),
                reason: error.to_string(),
            }),
        }
    }
    listed
}

fn walk(dir: &Path, listed: &mut Vec<Listed>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            listed.push(Listed::Unreadable {
                path: dir.to_owned(),
                reason: error.to_string(),
            });
            return;
        }
    };
    let mut found: Vec<(PathBuf, bool)> = Vec::new();
    for entry in entries {
        let Ok(entry) = entry else { continue };
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        found.push((entry.path(), is_dir));
    }
    found.sort();
    for (path, is_dir) in found {
        if is_dir {
            walk(&path, listed);
        } else {
            listed.push(Listed::File(path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_sorted_recursively_without_hidden_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("DCIM/100CANON")).unwrap();
        std::fs::create_dir_all(root.join(".Trashes")).unwrap();
        for file in [
            "b.mov",
            "a.mov",
            ".DS_Store",
            "DCIM/100CANON/C002.MP4",
            ".Trashes/x",
        ] {
            std::fs::write(root.join(file), b"x").unwrap();
        }
        let single = root.join("a.mov");
        let missing = root.join("nothing-here");
        let listed = list_files(&[root.to_owned(), single.clone(), missing.clone()]);
        let files: Vec<_> = listed
            .iter()
            .filter_map(|l| match l {
                Listed::File(p) => Some(p.strip_prefix(root).unwrap().to_owned()),
                Listed::Unreadable { .. } => None,
            })
            .collect();
        assert_eq!(
            files,
            [
                PathBuf::from("DCIM/100CANON/C002.MP4"),
                "a.mov".into(),
                "b.mov".into(),
                "a.mov".into()
            ]
        );
        assert!(matches!(listed.last(), Some(Listed::Unreadable { path, .. }) if *path == missing));
    }

    #[test]
    fn filetypes_come_from_the_extension() {
        assert_eq!(filetype("A001.MOV"), "video/quicktime");
        assert_eq!(filetype("clip.mp4"), "video/mp4");
        assert_eq!(filetype("noext"), "application/octet-stream");
    }
}
