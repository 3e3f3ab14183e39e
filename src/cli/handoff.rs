//! `c2c-pair handoff`: move a pairing from this laptop to the device itself, through a
//! command that takes the credentials on its standard input (`--exec`), written to a new
//! private file (`--output`) or printed (`--print`) for a device that takes a copied file.

use std::fs::File;
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use c2c_pair::device::{
    self, Delivery, DeliveryFailed, FailureKind, HandedOff, HandoffError, LifecycleError,
    WriteDocument,
};
use c2c_pair::human_time::rfc3339;
use c2c_pair::printable;

use super::fleet::{locate, save_or_fail};
use super::{EXIT_CANCELLED, Invocation, fail, print_json, report};

/// Where the credentials go.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// This command line's standard input.
    Exec(&'a str),
    /// A new file only its owner can read.
    Output(&'a Path),
    /// Standard output, confirmed unless `yes`.
    Print {
        /// Confirmed on the command line (`--yes`).
        yes: bool,
    },
}

/// `c2c-pair handoff`: hands `device`'s pairing to the device. Only when the command exits 0
/// (or the document was written) does the laptop delete its copy and mark the device.
pub async fn run(
    invocation: &Invocation,
    device: &str,
    target: Target<'_>,
    json: bool,
) -> ExitCode {
    let (record, ctx) = match locate(invocation, device).await {
        Ok(found) => found,
        Err((kind, message)) => return fail(json, kind, &message),
    };
    if let Target::Print { yes } = target {
        if let Err(message) = confirm(&record.device_id, yes).await {
            return fail(false, FailureKind::Usage, &message);
        }
        if let Some(warning) = readable_by_others(&std::io::stdout()) {
            report(&warning);
        }
    }
    // The file is made before anything changes, so that a name already taken or a folder
    // that refuses it costs nothing.
    let into_file: Option<WriteDocument<'_>> = match target {
        Target::Output(path) => match create_private(path) {
            Ok(file) => Some(Box::new(move |document| {
                write_document(file, path, document)
            })),
            Err(message) => return fail(json, FailureKind::Usage, &message),
        },
        _ => None,
    };
    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let delivery = match (target, into_file) {
        (Target::Exec(line), _) => Delivery::Command {
            line,
            cancel: &cancel,
        },
        (_, Some(write)) => Delivery::Write(write),
        (_, None) => Delivery::Write(Box::new(print_document)),
    };
    let handed = device::hand_off(&ctx, &record, delivery).await;
    if let (Target::Output(path), Err(_)) = (target, &handed) {
        // Nothing was handed off: the file made for it goes (it may hold part of a set the
        // laptop keeps).
        let _ = std::fs::remove_file(path);
    }
    match handed {
        Ok(done) => {
            said_done(&record.device_id, &done, target, json);
            ExitCode::SUCCESS
        }
        Err(HandoffError::NotDelivered {
            failure: DeliveryFailed::Cancelled,
            ..
        }) => {
            report(&format!(
                "cancelled: {} was not handed off; the laptop keeps the pairing.",
                record.device_id
            ));
            ExitCode::from(EXIT_CANCELLED)
        }
        Err(HandoffError::Lifecycle(error @ LifecycleError::SaveFailed { .. })) => {
            // Refreshed for the hand-off, but the keychain refused the new set: hold it until
            // it is saved (it is the only valid one), and hand nothing off.
            let device = record.device_id.clone();
            let message = match save_or_fail(error, &ctx).await {
                Ok(_) => format!(
                    "{device} was refreshed for the hand-off, but the keychain accepted the new \
                     credentials only after a wait, so nothing was handed off; run the hand-off \
                     again"
                ),
                Err(error) => error.to_string(),
            };
            fail(json, FailureKind::Keychain, &message)
        }
        Err(error) => fail(json, error.kind(), &error.to_string()),
    }
}

/// Writes the document to standard output, one line.
fn print_document(document: &SecretString) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", document.expose_secret())
        .and_then(|()| out.flush())
        .map_err(|e| format!("standard output refused them ({e})"))
}

/// Makes `path`, a file that did not exist, readable and writable by its owner alone.
fn create_private(path: &Path) -> Result<File, String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let shown = printable::text(&path.display().to_string());
    options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!(
            "{shown} already exists; hand-off files are never written over. Choose a new name, \
             or remove the old file first. Nothing was changed."
        ),
        _ => format!("{shown} could not be made ({e}). Nothing was changed."),
    })
}

/// Writes the document into the file made for it, and makes sure it reached the disk.
fn write_document(mut file: File, path: &Path, document: &SecretString) -> Result<(), String> {
    writeln!(file, "{}", document.expose_secret())
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            let shown = printable::text(&path.display().to_string());
            format!("{shown} could not be written ({e})")
        })
}

/// A warning when `stdout` is a regular file that other users of this computer may read
/// (`--print > cam-1.json` under the usual umask).
fn readable_by_others(stdout: &std::io::Stdout) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        use std::os::unix::fs::PermissionsExt as _;
        let file = File::from(stdout.as_fd().try_clone_to_owned().ok()?);
        let metadata = file.metadata().ok()?;
        let open = metadata.is_file() && metadata.permissions().mode() & 0o077 != 0;
        open.then(|| {
            "warning: the file the credentials go to can be read by other users of this \
             computer; make it private (chmod 600 FILE), or use --output FILE next time, which \
             makes a private file."
                .to_owned()
        })
    }
    #[cfg(not(unix))]
    {
        // Windows files inherit their folder's access list; nothing to say here.
        let _ = stdout;
        None
    }
}

/// Asks for `--print`'s confirmation: the device id typed at the terminal, unless `yes`. A
/// terminal on standard output is refused without `yes`: the credentials would stay on the
/// screen and in its scrollback.
async fn confirm(device_id: &str, yes: bool) -> Result<(), String> {
    let shown = printable::text(device_id);
    if std::io::stdout().is_terminal() && !yes {
        return Err(format!(
            "--print would show the credentials on this screen and leave them in its \
             scrollback. Send them to a file or a program instead (c2c-pair handoff --device \
             {shown} --print > credentials.json), or add --yes to show them here anyway. \
             Nothing was changed."
        ));
    }
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "--print asks for the device id to be typed at a terminal as confirmation; from a \
             script, add --yes. Nothing was changed."
                .into(),
        );
    }
    err!(
        "The laptop will forget this pairing; the device must use these credentials.\nType the \
         device id ({shown}) to confirm:"
    );
    let typed = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("the confirmation could not be read: {e}"))?;
    if typed.trim() == device_id {
        Ok(())
    } else {
        Err(format!(
            "not confirmed (that was not {shown}); nothing was changed."
        ))
    }
}

/// Says that the hand-off happened: on standard output, or on standard error when the
/// document itself went to standard output.
fn said_done(device_id: &str, done: &HandedOff, target: Target<'_>, json: bool) {
    if json {
        print_json(&json!({
            "event": "handed_off", "device": device_id, "handed_off_at": done.at,
            "refreshed": done.refreshed, "note": done.leftover,
        }));
        return;
    }
    let sentence = format!(
        "Handed {device_id} off to the device at {}: the laptop deleted its copy of the \
         credentials and sends no more heartbeats or refreshes for it. Pair it again to manage \
         it from here.",
        rfc3339(done.at)
    );
    match target {
        Target::Exec(_) | Target::Output(_) => out!("{sentence}"),
        Target::Print { .. } => err!("{sentence}"),
    }
    if let Some(leftover) = &done.leftover {
        report(&format!(
            "note: {leftover} (c2c-pair unpair --device {device_id} --local)."
        ));
    }
}
