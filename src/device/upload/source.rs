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
    /// When it was recorded, Unix seconds (each request's `offset` is counted from it).
    pub recorded_at: u64,
}

impl Media {
    /// The shipped test clip, "recorded" now.
    pub fn test_clip() -> Self {
        Self {
            name: TEST_CLIP_NAME.to_owned(),
            bytes: Bytes::from_static(TEST_CLIP),
            recorded_at: unix_seconds(SystemTime::now()),
        }
    }
}

/// The `offset` Frame.io is sent for media recorded at `recorded_at` (Unix seconds): how
/// many seconds ago that was, now. Computed afresh for every request, so that the server's
/// `now − offset` stays the recording time however long the queue waited.
pub fn offset_now(recorded_at: u64) -> u64 {
    unix_seconds(SystemTime::now()).saturating_sub(recorded_at)
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
///
/// The IANA type where there is one, the type the format's maker or common tools use for
/// camera raw formats, and `application/octet-stream` for anything else.
pub fn filetype(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let Some((_, extension)) = lower.rsplit_once('.') else {
        return "application/octet-stream";
    };
    match extension {
        // Video in common containers.
        "mp4" | "m4v" => "video/mp4",
        "mov" | "qt" => "video/quicktime",
        "mxf" => "application/mxf",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        "mts" | "m2ts" | "ts" => "video/mp2t",
        "webm" => "video/webm",
        // Camera raw video.
        "r3d" => "video/x-red-r3d",
        "braw" => "video/x-braw",
        "ari" => "image/x-arriraw",
        "arx" => "video/x-arriraw",
        "crm" => "video/x-canon-crm",
        // Audio (BWF is WAV with a broadcast chunk).
        "wav" | "bwf" => "audio/wav",
        "aif" | "aiff" => "audio/aiff",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "flac" => "audio/flac",
        // Stills, raw stills included.
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "heif" => "image/heif",
        "heic" => "image/heic",
        "tif" | "tiff" => "image/tiff",
        "dng" => "image/x-adobe-dng",
        "cr2" => "image/x-canon-cr2",
        "cr3" => "image/x-canon-cr3",
        "nef" => "image/x-nikon-nef",
        "arw" => "image/x-sony-arw",
        "exr" => "image/x-exr",
        "dpx" => "image/x-dpx",
        // Documents that travel with a shoot (scripts, reports, sidecars).
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        "csv" => "text/csv",
        "txt" | "ale" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// What is known of a file on disk: enough to tell whether it changed, and when it was
/// recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, nanoseconds since the Unix epoch (0 when unknown).
    pub modified_ns: u128,
    /// When the media was recorded, Unix seconds: the earlier of its birth time (where the
    /// file system keeps one) and its modification time. The modification time alone is the
    /// end of a take (and "now" for a file still growing); a take copied from a card keeps
    /// its modification time while its birth time is the copy's, hence the earlier of both.
    pub recorded_at: u64,
}

impl FileFacts {
    /// The recording time of a file that is still being written, first seen by the queue at
    /// `first_seen` (Unix seconds): its modification time is now, not the take's start, so
    /// the moment the queue first saw it bounds the start when no birth time is kept.
    pub fn growing_since(&self, first_seen: u64) -> u64 {
        self.recorded_at.min(first_seen)
    }
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
    // No birth time (older Linux file systems, some network shares): the modification time.
    let born = metadata.created().ok().map(unix_seconds);
    let modified_at = unix_seconds(modified);
    Ok(FileFacts {
        size: metadata.len(),
        modified_ns,
        recorded_at: born.map_or(modified_at, |born| born.min(modified_at)),
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
        assert_eq!(filetype("A001_C002_0101AB.R3D"), "video/x-red-r3d");
        assert_eq!(filetype("A001.braw"), "video/x-braw");
        assert_eq!(filetype("A002C003.ari"), "image/x-arriraw");
        assert_eq!(filetype("A003.MXF"), "application/mxf");
        assert_eq!(filetype("IMG_0001.HEIC"), "image/heic");
        assert_eq!(filetype("frame.dng"), "image/x-adobe-dng");
        assert_eq!(filetype("take1.bwf"), "audio/wav");
        assert_eq!(filetype("noext"), "application/octet-stream");
        assert_eq!(
            filetype("mov"),
            "application/octet-stream",
            "a name, no extension"
        );
        assert_eq!(filetype("x.unknown"), "application/octet-stream");
    }

    #[test]
    fn the_recording_time_is_the_earlier_of_birth_and_modification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("A001.mov");
        std::fs::write(&path, b"take").unwrap();
        // A take copied from a card: modified at the shoot, an hour before the copy.
        let shot = SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(shot)
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let facts = runtime.block_on(facts(&path)).unwrap();
        assert_eq!(
            facts.recorded_at,
            unix_seconds(shot),
            "before its copy's birth"
        );
        assert_eq!(
            facts.growing_since(unix_seconds(shot) - 5),
            unix_seconds(shot) - 5
        );
        let now = unix_seconds(SystemTime::now());
        assert!((3599..=3601).contains(&offset_now(facts.recorded_at).min(now)));
    }
}
