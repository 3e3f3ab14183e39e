//! Whether a file is still open for writing by some process (`--until-closed`, Linux).
//!
//! Chosen over inotify's `IN_CLOSE_WRITE` (the `notify`/`inotify` crates): that event says
//! that *a* writer closed the file, not that *none* is left, and says nothing of writers that
//! closed before the watch began; a recorder may also reopen its file. `/proc/<pid>/fd` and
//! `/proc/<pid>/fdinfo` answer the question itself — which open files point at this inode,
//! and with which access mode — at the cost of a scan, made only while the file is not
//! growing (a growing file has a writer). Processes of other users are visible only to root.

use std::path::Path;

/// True when a process this user may inspect holds `path` open for writing (`O_WRONLY` or
/// `O_RDWR`). Blocking: it reads `/proc`.
#[cfg(target_os = "linux")]
pub fn held_for_writing(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(target) = std::fs::metadata(path) else {
        return false;
    };
    let (device, inode) = (target.dev(), target.ino());
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    for process in processes.flatten() {
        let pid = process.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(descriptors) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for descriptor in descriptors.flatten() {
            // Follows the descriptor's link to what it has open.
            let Ok(open) = std::fs::metadata(descriptor.path()) else {
                continue;
            };
            if open.dev() != device || open.ino() != inode {
                continue;
            }
            let info = process.path().join("fdinfo").join(descriptor.file_name());
            if std::fs::read_to_string(info)
                .ok()
                .and_then(|text| access_mode(&text))
                .is_some_and(|mode| mode != 0)
            {
                return true;
            }
        }
    }
    false
}

/// Not available off Linux: the CLI refuses `--until-closed` there.
#[cfg(not(target_os = "linux"))]
pub fn held_for_writing(_path: &Path) -> bool {
    false
}

/// Whether `--until-closed` works on this system.
pub const fn can_tell_writers() -> bool {
    cfg!(target_os = "linux")
}

/// The access mode (`flags & O_ACCMODE`: 0 read, 1 write, 2 both) of an fdinfo text.
#[cfg(any(target_os = "linux", test))]
fn access_mode(fdinfo: &str) -> Option<u32> {
    let flags = fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))?
        .trim();
    u32::from_str_radix(flags, 8).ok().map(|flags| flags & 0o3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_mode_is_read_from_fdinfo() {
        assert_eq!(
            access_mode("pos:\t0\nflags:\t0100001\nmnt_id:\t29\n"),
            Some(1)
        );
        assert_eq!(access_mode("flags:\t02100002\n"), Some(2));
        assert_eq!(access_mode("flags:\t0100000\n"), Some(0));
        assert_eq!(access_mode("pos: 0\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_open_for_writing_is_seen_and_one_open_for_reading_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing.mov");
        std::fs::write(&path, b"x").unwrap();
        assert!(!held_for_writing(&path));
        let reader = std::fs::File::open(&path).unwrap();
        assert!(!held_for_writing(&path), "a reader is no writer");
        let writer = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        assert!(held_for_writing(&path));
        drop(writer);
        assert!(!held_for_writing(&path));
        drop(reader);
    }
}
