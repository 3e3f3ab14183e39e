//! `c2c-pair handoff`: move a pairing from this laptop to the device itself, through a
//! command that takes the credentials on its standard input (`--exec`), or printed for a
//! device that takes a pasted file (`--print`).

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use c2c_pair::device::{
    self, Delivery, DeliveryFailed, FailureKind, HandedOff, HandoffError, LifecycleError,
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
    if let Target::Print { yes } = target
        && let Err(message) = confirm(&record.device_id, yes).await
    {
        return fail(false, FailureKind::Usage, &message);
    }
    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let delivery = match target {
        Target::Exec(line) => Delivery::Command {
            line,
            cancel: &cancel,
        },
        Target::Print { .. } => Delivery::Write(Box::new(print_document)),
    };
    match device::hand_off(&ctx, &record, delivery).await {
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
        Target::Exec(_) => out!("{sentence}"),
        Target::Print { .. } => err!("{sentence}"),
    }
    if let Some(leftover) = &done.leftover {
        report(&format!(
            "note: {leftover} (c2c-pair unpair --device {device_id} --local)."
        ));
    }
}
