//! A type-2 AppImage runtime that always extracts and runs (no FUSE mount).
//!
//! An AppImage is this program (an ELF, with the magic `AI` 0x02 patched in at offset 8 by
//! `scripts/package.sh`) followed by a squashfs image of an AppDir. The image starts where the
//! ELF ends: at the end of its section header table (`e_shoff + e_shentsize * e_shnum`), the rule
//! of the official runtime. Started, it extracts the image into a fresh private directory,
//! runs its `AppRun` with the same arguments, removes the directory and exits with `AppRun`'s
//! status. See `--appimage-help` for the options it takes for itself.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File, Permissions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::os::unix::process::ExitStatusExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use backhand::{FilesystemReader, InnerNode};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

const SELF_EXE: &str = "/proc/self/exe";
const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";

const HELP: &str = "\
AppImage options (this runtime extracts the AppImage to a temporary directory on each start,
runs its AppRun with the other arguments and removes the directory when it exits):

  --appimage-extract          extract the AppImage's contents into ./squashfs-root and exit
  --appimage-extract-and-run  the default: extract, run, clean up (accepted for compatibility)
  --appimage-offset           print the offset of the squashfs image in the file and exit
  --appimage-version          print this runtime's version and exit
  --appimage-help             print this help and exit

Environment given to AppRun: APPIMAGE (the AppImage's path), APPDIR (the extracted
directory), ARGV0 (the name the AppImage was started with), OWD (the working directory).
Extracts under $TMPDIR if set, else $XDG_RUNTIME_DIR, else /tmp.";

/// What the command line asks for: an `--appimage-*` option as the first argument, or a run.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Help,
    Version,
    Offset,
    Extract,
    Run(Vec<OsString>),
    Unknown(String),
}

fn parse_args(args: Vec<OsString>) -> Action {
    let Some(first) = args.first().and_then(|a| a.to_str()) else {
        return Action::Run(args);
    };
    if !first.starts_with("--appimage-") {
        return Action::Run(args);
    }
    match first {
        "--appimage-help" => Action::Help,
        "--appimage-version" => Action::Version,
        "--appimage-offset" => Action::Offset,
        "--appimage-extract" if args.len() == 1 => Action::Extract,
        "--appimage-extract" => {
            Action::Unknown("--appimage-extract takes no pattern with this runtime".into())
        }
        "--appimage-extract-and-run" => Action::Run(args[1..].to_vec()),
        other => Action::Unknown(format!("{other} is not supported by this runtime")),
    }
}

/// Where the squashfs image starts: the end of a 64-bit little-endian ELF as its header says
/// (the section header table comes last), as the official runtime computes it.
fn elf_end(header: &[u8]) -> Result<u64, String> {
    if header.len() < 64 || header[..4] != *b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if header[4] != 2 || header[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([header[i], header[i + 1]]));
    let mut shoff = [0; 8];
    shoff.copy_from_slice(&header[0x28..0x30]);
    let shoff = u64::from_le_bytes(shoff);
    let (shentsize, shnum) = (u16_at(0x3a), u16_at(0x3c));
    shoff
        .checked_add(shentsize * shnum)
        .filter(|&end| end > 0 && shnum > 0)
        .ok_or_else(|| "the ELF header has no section header table".into())
}

/// Opens the running executable and finds the squashfs image in it.
fn open_image() -> Result<(BufReader<File>, u64), String> {
    let mut file = File::open(SELF_EXE).map_err(|e| format!("cannot open {SELF_EXE}: {e}"))?;
    let mut header = [0; 64];
    let read =
        read_up_to(&mut file, &mut header).map_err(|e| format!("cannot read {SELF_EXE}: {e}"))?;
    let offset = elf_end(&header[..read]).map_err(|e| format!("{SELF_EXE}: {e}"))?;
    let mut magic = [0; 4];
    let found = file
        .seek(SeekFrom::Start(offset))
        .and_then(|_| read_up_to(&mut file, &mut magic))
        .map_err(|e| format!("cannot read {SELF_EXE}: {e}"))?;
    if found < magic.len() || magic != *SQUASHFS_MAGIC {
        return Err(format!(
            "no squashfs image at offset {offset} (the end of the ELF): this runtime is not part \
             of an AppImage (append a squashfs image to it)"
        ));
    }
    Ok((BufReader::new(file), offset))
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The signal received so far (0: none), shared with the signal thread.
type Pending = Arc<AtomicI32>;

/// Extracts every directory, regular file and symlink of the image into `dest` (which exists),
/// keeping the permission bits. Stops early when a signal arrives.
fn extract(
    image: BufReader<File>,
    offset: u64,
    dest: &Path,
    pending: Option<&Pending>,
) -> Result<(), String> {
    let fs = FilesystemReader::from_reader_with_offset(image, offset)
        .map_err(|e| format!("cannot read the squashfs image at offset {offset}: {e}"))?;
    let mut dirs = Vec::new();
    for node in fs.files() {
        if pending.is_some_and(|p| p.load(Ordering::SeqCst) != 0) {
            return Err("interrupted".into());
        }
        let Some(path) = dest_path(dest, &node.fullpath) else {
            continue; // the root, which is `dest`
        };
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!("cannot extract {}: {what}: {e}", path.display())
        };
        let mode = u32::from(node.header.permissions) & 0o1777;
        match &node.inner {
            InnerNode::Dir(_) => {
                // Writable until every file is in; the real mode is set at the end.
                match DirBuilder::new().mode(0o700).create(&path) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                        return Err(fail("mkdir", &e));
                    }
                    _ => dirs.push((path, mode)),
                }
            }
            InnerNode::File(file) => {
                remove_existing(&path).map_err(|e| fail("remove", &e))?;
                let out = File::create(&path).map_err(|e| fail("create", &e))?;
                let mut out = BufWriter::with_capacity(1 << 17, out);
                let mut reader = fs
                    .file(file)
                    .reader_checked()
                    .map_err(|e| fail("read", &e))?;
                copy(&mut reader, &mut out, pending).map_err(|e| fail("write", &e))?;
                let out = out.into_inner().map_err(|e| fail("write", e.error()))?;
                out.set_permissions(Permissions::from_mode(mode))
                    .map_err(|e| fail("chmod", &e))?;
            }
            InnerNode::Symlink(link) => {
                remove_existing(&path).map_err(|e| fail("remove", &e))?;
                symlink(&link.link, &path).map_err(|e| fail("symlink", &e))?;
            }
            // Device nodes, FIFOs and sockets have no place in an AppDir.
            _ => eprintln!("appimage-runtime: skipping special file {}", path.display()),
        }
    }
    // Deepest first, so a read-only directory is closed after its subdirectories.
    for (path, mode) in dirs.iter().rev() {
        fs::set_permissions(path, Permissions::from_mode(*mode))
            .map_err(|e| format!("cannot extract {}: chmod: {e}", path.display()))?;
    }
    Ok(())
}

/// `io::copy`, stopping early when a signal arrives.
fn copy(reader: &mut impl Read, out: &mut impl Write, pending: Option<&Pending>) -> io::Result<()> {
    let mut buf = vec![0; 1 << 17];
    loop {
        if pending.is_some_and(|p| p.load(Ordering::SeqCst) != 0) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => out.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `dest` joined with an image path, or `None` for the root. Paths with `..` are refused.
fn dest_path(dest: &Path, image_path: &Path) -> Option<PathBuf> {
    let mut out = dest.to_path_buf();
    let mut any = false;
    for c in image_path.components() {
        match c {
            Component::Normal(name) => {
                out.push(name);
                any = true;
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    any.then_some(out)
}

fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Where to extract: `$TMPDIR` if set, else `$XDG_RUNTIME_DIR` (the user's own tmpfs, where
/// extracting is faster than on a disk-backed /tmp), else /tmp.
fn temp_base() -> PathBuf {
    ["TMPDIR", "XDG_RUNTIME_DIR"]
        .into_iter()
        .filter_map(env::var_os)
        .map(PathBuf::from)
        .find(|dir| dir.is_absolute() && dir.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// Creates `<temp_base>/appimage_extracted_<random>` with mode 0700 (a fresh name each time).
fn private_dir() -> Result<PathBuf, String> {
    let base = temp_base();
    let mut last = None;
    for attempt in 0u32..16 {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u32(attempt);
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let dir = base.join(format!("appimage_extracted_{:016x}", h.finish()));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                return Err(format!(
                    "cannot create a directory in {}: {e}",
                    base.display()
                ));
            }
        }
    }
    Err(format!(
        "cannot create a directory in {}: {}",
        base.display(),
        last.map_or_else(String::new, |e| e.to_string())
    ))
}

/// Removes the extracted tree, making read-only directories writable first.
fn remove_tree(dir: &Path) {
    fn writable(dir: &Path) {
        let _ = fs::set_permissions(dir, Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    writable(&entry.path());
                }
            }
        }
    }
    if fs::remove_dir_all(dir).is_err() {
        writable(dir);
        if let Err(e) = fs::remove_dir_all(dir) {
            eprintln!("appimage-runtime: cannot remove {}: {e}", dir.display());
        }
    }
}

/// Extract, run AppRun, clean up; returns the exit status to pass on.
fn extract_and_run(args: &[OsString], argv0: &OsStr) -> Result<u8, String> {
    // From here on SIGINT and SIGQUIT (which the terminal also sends to AppRun, in the same
    // process group) do not kill the runtime, so it can remove the directory once AppRun has
    // exited; SIGTERM and SIGHUP are passed on to AppRun. Handlers (unlike ignored signals)
    // are reset for AppRun by exec.
    let pending: Pending = Arc::new(AtomicI32::new(0));
    let child_pid = Arc::new(AtomicI32::new(0));
    let mut signals = Signals::new([SIGINT, SIGQUIT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot set up signal handling: {e}"))?;
    {
        let (pending, child_pid) = (Arc::clone(&pending), Arc::clone(&child_pid));
        std::thread::spawn(move || {
            for sig in signals.forever() {
                pending.store(sig, Ordering::SeqCst);
                if sig == SIGTERM || sig == SIGHUP {
                    forward(child_pid.load(Ordering::SeqCst), sig);
                }
            }
        });
    }

    let appimage = fs::read_link(SELF_EXE).map_err(|e| format!("cannot read {SELF_EXE}: {e}"))?;
    let (image, offset) = open_image()?;
    let dir = private_dir()?;
    let extracted = extract(image, offset, &dir, Some(&pending));
    // Interrupted while extracting: clean up, and exit as the signal would have made us.
    if let sig @ 1.. = pending.load(Ordering::SeqCst) {
        remove_tree(&dir);
        return Ok(signal_status(sig));
    }
    if let Err(e) = extracted {
        remove_tree(&dir);
        return Err(e);
    }
    let app_run = dir.join("AppRun");
    if fs::metadata(&app_run).is_err() {
        remove_tree(&dir);
        return Err("the AppImage has no AppRun at its top".into());
    }
    let mut command = Command::new(&app_run);
    command
        .args(args)
        .env("APPIMAGE", &appimage)
        .env("APPDIR", &dir)
        .env("ARGV0", argv0);
    if let Ok(owd) = env::current_dir() {
        command.env("OWD", owd);
    }
    let status = command.spawn().and_then(|mut child| {
        let pid = i32::try_from(child.id()).unwrap_or(0);
        child_pid.store(pid, Ordering::SeqCst);
        // A SIGTERM that came between spawn and now.
        if let sig @ (SIGTERM | SIGHUP) = pending.load(Ordering::SeqCst) {
            forward(pid, sig);
        }
        child.wait()
    });
    remove_tree(&dir);
    let status = status.map_err(|e| format!("cannot run {}: {e}", app_run.display()))?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(sig)) => signal_status(sig),
        (None, None) => 1,
    })
}

fn signal_status(sig: i32) -> u8 {
    u8::try_from(128 + sig).unwrap_or(255)
}

fn forward(pid: i32, sig: i32) {
    if let (Some(pid), Some(sig)) = (
        rustix::process::Pid::from_raw(pid),
        rustix::process::Signal::from_named_raw(sig),
    ) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

fn extract_here() -> Result<(), String> {
    let (image, offset) = open_image()?;
    let dest = Path::new("squashfs-root");
    match DirBuilder::new().mode(0o755).create(dest) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(format!("cannot create {}: {e}", dest.display()));
        }
        _ => {}
    }
    extract(image, offset, dest, None)
}

fn main() -> ExitCode {
    let mut args = env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let result = match parse_args(args.collect()) {
        Action::Help => {
            println!("{HELP}");
            Ok(0)
        }
        Action::Version => {
            println!(
                "appimage-runtime {} (extract-and-run only)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(0)
        }
        Action::Offset => open_image().map(|(_, offset)| {
            println!("{offset}");
            0
        }),
        Action::Extract => extract_here().map(|()| 0),
        Action::Unknown(message) => Err(format!("{message} (try --appimage-help)")),
        Action::Run(args) => extract_and_run(&args, &argv0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(io::stderr(), "appimage-runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(shoff: u64, shentsize: u16, shnum: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // ELFDATA2LSB
        h[8..11].copy_from_slice(b"AI\x02");
        h[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        h[0x3a..0x3c].copy_from_slice(&shentsize.to_le_bytes());
        h[0x3c..0x3e].copy_from_slice(&shnum.to_le_bytes());
        h
    }

    #[test]
    fn elf_end_is_the_end_of_the_section_headers() {
        assert_eq!(elf_end(&header(0x1_2345, 64, 27)), Ok(0x1_2345 + 64 * 27));
        assert_eq!(elf_end(&header(u64::MAX - 10, 64, 1)).ok(), None);
        assert!(elf_end(&header(4096, 64, 0)).is_err());
    }

    #[test]
    fn elf_end_refuses_what_is_not_a_64_bit_little_endian_elf() {
        assert!(elf_end(b"#!/bin/sh\n").is_err());
        let mut h = header(4096, 64, 10);
        h[4] = 1; // ELFCLASS32
        assert!(elf_end(&h).is_err());
        let mut h = header(4096, 64, 10);
        h[5] = 2; // big-endian
        assert!(elf_end(&h).is_err());
        assert!(elf_end(&header(4096, 64, 10)[..63]).is_err());
    }

    #[test]
    fn elf_end_of_this_test_binary_is_within_it() {
        let mut file = File::open(SELF_EXE).unwrap();
        let mut h = [0; 64];
        assert_eq!(read_up_to(&mut file, &mut h).unwrap(), 64);
        let len = file.metadata().unwrap().len();
        let end = elf_end(&h).unwrap();
        assert!(end > 64 && end <= len, "end {end}, file {len}");
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn options() {
        assert_eq!(parse_args(os(&["--appimage-help"])), Action::Help);
        assert_eq!(parse_args(os(&["--appimage-offset"])), Action::Offset);
        assert_eq!(parse_args(os(&["--appimage-version"])), Action::Version);
        assert_eq!(parse_args(os(&["--appimage-extract"])), Action::Extract);
        assert!(matches!(
            parse_args(os(&["--appimage-extract", "*.desktop"])),
            Action::Unknown(_)
        ));
        assert!(matches!(
            parse_args(os(&["--appimage-mount"])),
            Action::Unknown(_)
        ));
        assert_eq!(
            parse_args(os(&["--appimage-extract-and-run", "--version"])),
            Action::Run(os(&["--version"]))
        );
        // Anything else is AppRun's, including --appimage-* after the first argument.
        assert_eq!(parse_args(os(&[])), Action::Run(vec![]));
        assert_eq!(
            parse_args(os(&["--version", "--appimage-help"])),
            Action::Run(os(&["--version", "--appimage-help"]))
        );
        assert_eq!(
            parse_args(os(&["pair", "-v"])),
            Action::Run(os(&["pair", "-v"]))
        );
    }

    #[test]
    fn image_paths_stay_inside_the_destination() {
        let dest = Path::new("/tmp/x");
        assert_eq!(dest_path(dest, Path::new("/")), None);
        assert_eq!(
            dest_path(dest, Path::new("/usr/bin/a")),
            Some(PathBuf::from("/tmp/x/usr/bin/a"))
        );
        assert_eq!(dest_path(dest, Path::new("/usr/../../etc")), None);
    }
}
