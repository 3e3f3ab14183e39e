//! Running the user's hand-off command: through the shell (`sh -c` on Unix, `cmd /C` on
//! Windows), the credentials on its standard input, its output kept back and shown only in
//! part, with the credentials cut out, when it fails.

use std::process::{ExitStatus, Stdio};

use secrecy::{ExposeSecret as _, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

use crate::backend::CLIENT_SECRET_ENV;
use crate::printable;
use crate::redact::{REDACTED, redact};

/// Lines of the command's standard error shown when it fails.
const STDERR_LINES: usize = 5;
/// Characters of each of those lines shown at most.
const LINE_CHARS: usize = 200;
/// Bytes of each output stream kept; the rest is read and dropped (a chatty command must
/// neither fill memory nor block on a full pipe).
const KEPT_OUTPUT: usize = 16 * 1024;

/// Why a command did not take the credentials. Holds no secret: the command's words are
/// cut of the credentials before they get here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryFailed {
    /// The command could not be started (no shell, no permission).
    #[error("the command could not be started: {reason}.")]
    CouldNotStart {
        /// What the OS said.
        reason: String,
    },
    /// It ended without success.
    #[error("the command failed ({status}){}", said(.stderr))]
    Exited {
        /// "exit status 1", "signal: 9 (SIGKILL)".
        status: String,
        /// Its first lines of standard error, credentials removed (empty when it said
        /// nothing).
        stderr: String,
    },
    /// It exited 0 but closed its standard input without reading the credentials (a broken
    /// pipe): it cannot have taken them.
    #[error(
        "the command exited 0 without reading the credentials from its standard input (it \
         closed it first){}",
        said(.stderr)
    )]
    DidNotRead {
        /// Its first lines of standard error, credentials removed.
        stderr: String,
    },
    /// Writing the document elsewhere (standard output for `--print`) failed.
    #[error("the credentials could not be written: {reason}.")]
    Output {
        /// What the OS said.
        reason: String,
    },
    /// Stopped by the user before it ended; the command was killed.
    #[error("the hand-off was cancelled and the command stopped.")]
    Cancelled,
}

fn said(stderr: &str) -> String {
    if stderr.is_empty() {
        ". It wrote nothing on its standard error.".to_owned()
    } else {
        format!(". Its standard error began: {stderr}")
    }
}

/// Runs `command_line` through the shell with `input` on its standard input, then closes
/// that; succeeds only when the command read it and exited 0.
///
/// `secrets` are cut out of anything the command said before it is reported. Its standard
/// output and error are never passed through (it may echo what it was given). The client
/// secret in the environment is not passed on. Cancelling kills the command.
pub async fn run(
    command_line: &str,
    input: &SecretString,
    secrets: &[&str],
    cancel: &CancellationToken,
) -> Result<(), DeliveryFailed> {
    let mut child = shell(command_line)
        .env_remove(CLIENT_SECRET_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DeliveryFailed::CouldNotStart {
            reason: e.to_string(),
        })?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(DeliveryFailed::CouldNotStart {
            reason: "its standard streams could not be connected".into(),
        });
    };
    let write = async move {
        let written = stdin.write_all(input.expose_secret().as_bytes()).await;
        let flushed = match written {
            Ok(()) => stdin.shutdown().await,
            Err(error) => Err(error),
        };
        // Dropped here: the command reads end of file.
        drop(stdin);
        flushed
    };
    let ran = async {
        let (written, _, said, status) =
            tokio::join!(write, keep(stdout), keep(stderr), child.wait());
        (written, said, status)
    };
    let (written, said, status) = tokio::select! {
        () = cancel.cancelled() => return Err(DeliveryFailed::Cancelled),
        ran = ran => ran,
    };
    let status = status.map_err(|e| DeliveryFailed::CouldNotStart {
        reason: format!("its end could not be awaited: {e}"),
    })?;
    let stderr = first_lines(&said, secrets);
    // A command that failed is reported as failed, whether or not it read its input first
    // (a command that was not found never does).
    if !status.success() {
        return Err(DeliveryFailed::Exited {
            status: describe(status),
            stderr,
        });
    }
    match written {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            Err(DeliveryFailed::DidNotRead { stderr })
        }
        Err(error) => Err(DeliveryFailed::CouldNotStart {
            reason: format!("writing to its standard input failed: {error}"),
        }),
    }
}

/// The shell running `command_line`.
fn shell(command_line: &str) -> tokio::process::Command {
    #[cfg(windows)]
    {
        let mut command = tokio::process::Command::new("cmd");
        // cmd's own quoting, not the C runtime's: the line goes as typed.
        command.arg("/C").raw_arg(command_line);
        command
    }
    #[cfg(not(windows))]
    {
        let mut command = tokio::process::Command::new("sh");
        command.arg("-c").arg(command_line);
        command
    }
}

/// Reads a stream to its end, keeping its first [`KEPT_OUTPUT`] bytes.
async fn keep(mut stream: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return kept,
            Ok(read) => {
                let room = KEPT_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(buffer.get(..read.min(room)).unwrap_or_default());
            }
        }
    }
}

/// The first lines of what the command said, the credentials cut out (exactly, then
/// anything that still looks like a secret), safe to print, joined with " | ".
fn first_lines(said: &[u8], secrets: &[&str]) -> String {
    let mut text = String::from_utf8_lossy(said).into_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, REDACTED);
    }
    redact(&text)
        .lines()
        .map(|line| printable::printable(line, LINE_CHARS))
        .filter(|line| !line.is_empty())
        .take(STDERR_LINES)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// "exit status 1", or how else it ended ("signal: 9 (SIGKILL)").
fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => status.to_string(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn input() -> SecretString {
        SecretString::from(r#"{"access_token":"tok-123456"}"#)
    }

    async fn run_sh(line: &str, input: &SecretString) -> Result<(), DeliveryFailed> {
        run(line, input, &["tok-123456"], &CancellationToken::new()).await
    }

    #[tokio::test]
    async fn the_command_reads_the_input_and_exit_0_is_success() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("got.json");
        let line = format!("cat > '{}'", file.display());
        run_sh(&line, &input()).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            input().expose_secret()
        );
    }

    #[tokio::test]
    async fn a_failure_names_the_status_and_what_it_said_without_the_token() {
        let failed = run_sh(
            "cat >/dev/null; echo 'bad: tok-123456' >&2; echo 'second line' >&2; exit 3",
            &input(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            failed,
            DeliveryFailed::Exited {
                status: "exit status 3".into(),
                stderr: "bad: [redacted] | second line".into(),
            }
        );
        let text = failed.to_string();
        assert!(text.contains("exit status 3"), "{text}");
        assert!(!text.contains("tok-123456"), "{text}");

        let missing = run_sh("no-such-cmd-c2c", &input()).await.unwrap_err();
        assert!(
            matches!(&missing, DeliveryFailed::Exited { status, stderr }
                if status == "exit status 127" && stderr.contains("no-such-cmd-c2c: not found")),
            "{missing:?}"
        );
    }

    #[tokio::test]
    async fn a_command_that_closes_its_input_unread_did_not_take_it() {
        // More than a pipe holds, so the write is still under way when the command closes
        // its end and exits 0.
        let big = SecretString::from("x".repeat(1024 * 1024));
        let failed = run_sh("exec 0<&-; exit 0", &big).await.unwrap_err();
        assert!(
            matches!(&failed, DeliveryFailed::DidNotRead { .. }),
            "{failed:?}"
        );
    }

    #[tokio::test]
    #[cfg(target_os = "linux")]
    async fn cancelling_kills_a_command_that_never_ends() {
        let cancel = CancellationToken::new();
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let line = format!(
            "cat >/dev/null; echo $$ > '{}'; exec tail -f /dev/null",
            pid_file.display()
        );
        let running = tokio::spawn({
            let cancel = cancel.clone();
            async move { run(&line, &input(), &[], &cancel).await }
        });
        let pid = wait_for(|| {
            std::fs::read_to_string(&pid_file)
                .ok()
                .filter(|text| text.ends_with('\n'))
        })
        .await;
        cancel.cancel();
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), running)
            .await
            .expect("cancel ends it")
            .unwrap();
        assert_eq!(outcome, Err(DeliveryFailed::Cancelled));
        // Killed (and reaped, or a zombie until tokio reaps it), not left running.
        let stat = format!("/proc/{}/stat", pid.trim());
        wait_for(|| {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            (state.is_empty() || state.contains(") Z")).then_some(())
        })
        .await;
    }

    /// Polls `ready` until it gives a value, for at most 30 s (a condition, not a sleep).
    #[cfg(target_os = "linux")]
    async fn wait_for<T>(mut ready: impl FnMut() -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(value) = ready() {
                return value;
            }
            assert!(std::time::Instant::now() < deadline, "gave up waiting");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
