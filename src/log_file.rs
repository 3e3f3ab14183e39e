//! The log file support asks for: `c2c-pair.log` in the OS state directory.
//!
//! Secrets are removed line by line; the file is rotated by size so it stays small (at most [`KEPT_FILES`] files of about
//! [`MAX_BYTES`] each). The window and the commands append to the same file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::redact::redact;

/// The current file's name; older ones are `c2c-pair.log.1` (newest) to `.3`.
pub const FILE_NAME: &str = "c2c-pair.log";
/// A file is rotated once it reaches this size.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// Files kept, the current one included.
pub const KEPT_FILES: usize = 4;

/// The folder of the file this process writes, once logging has started.
static ACTIVE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The OS state directory for logs: `$XDG_STATE_HOME/c2c-pair` (`~/.local/state/c2c-pair`)
/// on Linux, `~/Library/Logs/c2c-pair` on macOS, `%LOCALAPPDATA%\c2c-pair\logs` on Windows.
pub fn default_dir() -> Option<PathBuf> {
    let project = directories::ProjectDirs::from("", "", "c2c-pair")?;
    if let Some(state) = project.state_dir() {
        return Some(state.to_owned());
    }
    if cfg!(target_os = "macos") {
        let home = directories::BaseDirs::new()?.home_dir().to_owned();
        return Some(home.join("Library/Logs/c2c-pair"));
    }
    Some(project.data_local_dir().join("logs"))
}

/// The folder of the file this process logs to, if logging to a file started.
pub fn active_dir() -> Option<PathBuf> {
    ACTIVE_DIR.get().cloned()
}

/// A size-rotated log file; a `tracing_subscriber` writer (one event per write).
#[derive(Debug, Clone)]
pub struct LogFile {
    inner: Arc<Mutex<Rotating>>,
}

#[derive(Debug)]
struct Rotating {
    dir: PathBuf,
    file: File,
    max_bytes: u64,
    kept: usize,
}

impl LogFile {
    /// Opens (creating) `c2c-pair.log` in `dir` with the standard limits.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Self::with_limits(dir, MAX_BYTES, KEPT_FILES)
    }

    /// Opens with other limits (tests).
    pub fn with_limits(dir: &Path, max_bytes: u64, kept: usize) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let file = open_append(&dir.join(FILE_NAME))?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Rotating {
                dir: dir.to_owned(),
                file,
                max_bytes,
                kept: kept.max(1),
            })),
        })
    }

    /// Makes this the file diagnostics read from ([`active_dir`]).
    pub fn make_active(&self) {
        let dir = self.lock().dir.clone();
        let _ = ACTIVE_DIR.set(dir);
    }

    /// The current file.
    pub fn path(&self) -> PathBuf {
        self.lock().dir.join(FILE_NAME)
    }

    /// Appends text, secrets removed, rotating first when the file is full. Nothing here
    /// may fail the caller: a log line that cannot be written is lost, the app goes on.
    pub fn append(&self, text: &str) {
        let mut clean = String::with_capacity(text.len());
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            clean.push_str(&redact(line));
            clean.push('\n');
        }
        if clean.is_empty() {
            return;
        }
        let mut rotating = self.lock();
        let _ = rotating.write(clean.as_bytes());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rotating> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Rotating {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        // The length of the file we hold, not of the path: another process may have rotated
        // it away, in which case we fill ours to the limit and rotate again.
        let len = self.file.metadata()?.len();
        if len > 0 && len + bytes.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(bytes)
    }

    /// `c2c-pair.log` → `.1` → `.2` …; the oldest is dropped.
    fn rotate(&mut self) -> io::Result<()> {
        let _ = fs::remove_file(numbered(&self.dir, self.kept - 1));
        for n in (0..self.kept - 1).rev() {
            match fs::rename(numbered(&self.dir, n), numbered(&self.dir, n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.file = open_append(&numbered(&self.dir, 0))?;
        Ok(())
    }
}

/// `c2c-pair.log` for 0, else `c2c-pair.log.<n>`.
fn numbered(dir: &Path, n: usize) -> PathBuf {
    match n {
        0 => dir.join(FILE_NAME),
        n => dir.join(format!("{FILE_NAME}.{n}")),
    }
}

/// Appending, and readable by the user only (a log says which devices and servers exist).
fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogFile {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            text: Vec::new(),
            file: self.clone(),
        }
    }
}

/// Collects one event's text; it is appended when dropped.
#[derive(Debug)]
pub struct EventWriter {
    text: Vec<u8>,
    file: LogFile,
}

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        self.file.append(&String::from_utf8_lossy(&self.text));
    }
}

/// The last `count` lines logged in `dir`, oldest first, read across rotated files.
pub fn tail(dir: &Path, count: usize) -> io::Result<Vec<String>> {
    let mut newest_first: Vec<String> = Vec::new();
    for n in 0..KEPT_FILES {
        let bytes = match fs::read(numbered(dir, n)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound && n > 0 => break,
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines().rev() {
            if newest_first.len() == count {
                break;
            }
            newest_first.push(line.to_owned());
        }
        if newest_first.len() == count {
            break;
        }
    }
    newest_first.reverse();
    Ok(newest_first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_redacted_and_files_rotate_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::with_limits(dir.path(), 1000, 3).unwrap();
        for i in 0..200 {
            log.append(&format!(
                "line {i:03} access_token=Zx9vQ2mK7pL4Zx9vQ2mK7pL4\n"
            ));
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["c2c-pair.log", "c2c-pair.log.1", "c2c-pair.log.2"]);
        for name in &names {
            let text = fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(text.len() <= 1000, "{name} is {} bytes", text.len());
            assert!(!text.contains("Zx9vQ2mK7pL4"), "{name}: {text}");
        }
        let last = tail(dir.path(), 30).unwrap();
        assert_eq!(last.len(), 30);
        assert_eq!(last[29], "line 199 access_token=[redacted]");
        assert_eq!(last[0], "line 170 access_token=[redacted]");
    }

    #[test]
    fn tail_reads_across_rotated_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::with_limits(dir.path(), 40, KEPT_FILES).unwrap();
        for i in 0..12 {
            log.append(&format!("event {i:02}\n"));
        }
        // Each file holds four 9-byte lines: the current one has 8..11, .1 has 4..7.
        let lines = tail(dir.path(), 6).unwrap();
        assert_eq!(
            lines,
            [
                "event 06", "event 07", "event 08", "event 09", "event 10", "event 11"
            ]
        );
        assert!(tail(dir.path(), 100).unwrap().len() == 12);
    }

    #[test]
    fn an_empty_folder_is_an_error_only_for_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(tail(dir.path(), 5).is_err());
        LogFile::open(dir.path()).unwrap();
        assert_eq!(tail(dir.path(), 5).unwrap(), Vec::<String>::new());
    }
}
