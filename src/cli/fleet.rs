//! `status`, `token`, `refresh`, `unpair`: the paired devices, for people and scripts.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use secrecy::ExposeSecret as _;
use serde_json::json;

use c2c_pair::backend::Backend;
use c2c_pair::device::{
    self, Context, DeviceId, FailureKind, LifecycleError, UnsavedTokens, refresh_warning,
};
use c2c_pair::human_time;
use c2c_pair::keychain::{Keychain, TokenSet, unix_seconds};
use c2c_pair::printable;
use c2c_pair::registry::{self, DeviceRecord};
use c2c_pair::report as pairing_report;

use super::{Invocation, backend_failure, backend_message, fail, print_json, report};

/// `c2c-pair status`: a table (or JSON, or CSV) of the devices the registry knows. No network.
pub fn status(invocation: &Invocation, device: Option<&str>, json: bool, csv: bool) -> ExitCode {
    let registry = match invocation.registry() {
        Ok(registry) => registry,
        Err(message) => return fail(json, FailureKind::Usage, &message),
    };
    let loaded = match registry.load() {
        Ok(loaded) => loaded,
        Err(error) => return fail(json, FailureKind::Usage, &error.to_string()),
    };
    if let Some(note) = &loaded.moved_aside {
        report(note);
    }
    let devices: Vec<&DeviceRecord> = loaded
        .devices
        .iter()
        .filter(|d| device.is_none_or(|id| d.device_id == id))
        .collect();
    if let Some(id) = device
        && devices.is_empty()
    {
        let message = format!(
            "{id} is not in the device list ({})",
            registry.path().display()
        );
        return fail(json, FailureKind::Usage, &message);
    }
    let now = unix_seconds(SystemTime::now());
    if json {
        print_json(&pairing_report::to_json(&devices, now));
    } else if csv {
        use std::io::Write as _;
        let _ = std::io::stdout()
            .lock()
            .write_all(pairing_report::to_csv(&devices, now).as_bytes());
    } else {
        print_table(&devices, now);
    }
    ExitCode::SUCCESS
}

fn print_table(devices: &[&DeviceRecord], now: u64) {
    if devices.is_empty() {
        out!("No paired devices. Pair one with: c2c-pair pair --device ID");
        return;
    }
    let rows: Vec<[String; 6]> = devices
        .iter()
        .map(|d| {
            let (state, _) = pairing_report::state_text(&d.state);
            // A handed-off device's token and heartbeats are the device's own business now.
            let (token, heartbeat) = if d.handed_off_at().is_some() {
                ("with the device".to_owned(), "-".to_owned())
            } else {
                (
                    human_time::token_expiry(d.access_expires_at, now),
                    human_time::heartbeat(d.last_heartbeat, now),
                )
            };
            [
                match &d.name {
                    Some(name) => format!("{} ({name})", d.device_id),
                    None => d.device_id.to_string(),
                },
                state.replace('_', " "),
                d.project_name.clone().unwrap_or_else(|| "-".into()),
                token,
                heartbeat,
                pairing_report::server_text(d).to_owned(),
            ]
        })
        .collect();
    let header = ["DEVICE", "STATE", "PROJECT", "TOKEN", "HEARTBEAT", "SERVER"].map(str::to_owned);
    let widths: Vec<usize> = (0..6)
        .map(|col| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[col].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out!("{}", cells.join("  ").trim_end());
    }
    for d in devices {
        if let Some(warning) = refresh_warning(d, now) {
            out!("! {}: {warning}", d.device_id);
        }
        if let (_, Some(reason)) = pairing_report::state_text(&d.state) {
            out!("! {}: {}", d.device_id, printable::text(reason));
        }
        if d.handed_off_at().is_some() {
            out!("! {}", handed_off(d).1);
            continue;
        }
        if let Some(pending) = &d.save_pending {
            out!(
                "! {}: process {} holds refreshed credentials the keychain has not accepted yet \
                 (since {}); other commands wait for it",
                d.device_id,
                pending.pid,
                human_time::ago(pending.since, now)
            );
        }
        if d.refresh_issued_at.is_none() {
            out!("! {}: {}", d.device_id, device::NO_REFRESH_TOKEN);
        }
    }
}

/// Finds the device's record (restoring it from the keychain when the list lost it) and the
/// server it was paired with.
pub(super) async fn locate(
    invocation: &Invocation,
    device: &str,
) -> Result<(DeviceRecord, Context), (FailureKind, String)> {
    let usage = |message: String| (FailureKind::Usage, message);
    // An existing device: looked up as stored, whatever it was allowed to be called then.
    let device_id = DeviceId::stored(device).map_err(|e| usage(e.to_string()))?;
    let choice = invocation.choice().map_err(usage)?;
    let registry = invocation.registry().map_err(usage)?;
    let keychain = invocation.keychain();
    // The device is looked for on the chosen server first, then on any other.
    let host = if choice.force_demo {
        c2c_pair::c2c::profile::DEMO_KEYCHAIN_HOST.to_owned()
    } else {
        choice.profile.keychain_host()
    };
    let devices = registry.load().map_err(|e| usage(e.to_string()))?.devices;
    let record = match registry::find(&devices, device_id.as_str(), &host) {
        // Before its server is looked for: a device handed off needs none here, and the
        // reason to stop is the hand-off, not a missing client secret.
        Some(record) if record.handed_off_at().is_some() => {
            return Err(handed_off(record));
        }
        Some(record) => record.clone(),
        None => {
            let api_base = choice.profile.api_base.as_str();
            let restored = device::restore(&registry, &keychain, &device_id, api_base, &host)
                .await
                .map_err(|e| (e.kind(), e.to_string()))?;
            report(&format!(
                "{device_id} was missing from the device list; restored it from the keychain"
            ));
            restored
        }
    };
    let backend = Backend::for_record(&choice, &record, &keychain)
        .await
        .map_err(|e| (backend_failure(&e), backend_message(&e)))?;
    Ok((
        record,
        Context {
            backend: Arc::new(backend),
            keychain,
            registry,
        },
    ))
}

/// Why a command that would use a handed-off device stops.
fn handed_off(record: &DeviceRecord) -> (FailureKind, String) {
    let error = LifecycleError::HandedOff {
        device: record.device_id.clone(),
        at: record.handed_off_at().unwrap_or_default(),
    };
    (error.kind(), format!("{error}."))
}

/// Saves tokens a refresh produced but could not store. They are the only valid credentials
/// of the device now (the stored refresh token is spent), so this holds them until the
/// keychain takes them ([`hold_until_saved`]); other processes see the device marked and
/// wait. Given up (Ctrl-C), the device is marked for re-pairing.
pub(super) async fn save_or_fail(
    error: LifecycleError,
    ctx: &Context,
) -> Result<TokenSet, LifecycleError> {
    let LifecycleError::SaveFailed {
        unsaved, device, ..
    } = error
    else {
        return Err(error);
    };
    match hold_until_saved(&unsaved, &ctx.keychain).await {
        Ok(()) => Ok(unsaved.tokens),
        Err(reason) => {
            if let Some(held) = &unsaved.held {
                held.give_up(reason);
            }
            Err(LifecycleError::NeedsRepairing {
                device,
                reason: reason.into(),
            })
        }
    }
}

/// Longest wait between two tries to save issued credentials.
const SAVE_RETRY_CAP: std::time::Duration = std::time::Duration::from_secs(30);

/// Keeps trying to save issued credentials until the keychain accepts them (1 s, doubling,
/// at most 30 s apart), saying once on stderr what this process holds. Only Ctrl-C ends it
/// early: the credentials are then lost, and the reason says so.
pub(super) async fn hold_until_saved(
    unsaved: &UnsavedTokens,
    keychain: &Keychain,
) -> Result<(), &'static str> {
    let device = &unsaved.device_id;
    let mut wait = std::time::Duration::from_secs(1);
    let mut told = false;
    loop {
        match unsaved.save(keychain).await {
            Ok(()) => {
                if told {
                    report(&format!("{device}: the new credentials are saved now."));
                }
                return Ok(());
            }
            Err(error) if !told => {
                told = true;
                report(&format!(
                    "{device}: the keychain refused the new credentials ({error}). They exist \
                     only in this process now, and it keeps trying to save them until the \
                     keychain accepts them (unlock it). Ctrl-C gives them up, and the device \
                     must then be paired again."
                ));
            }
            Err(error) => tracing::info!(%device, %error, "still cannot save the new credentials"),
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = tokio::signal::ctrl_c() => {
                return Err("the new credentials could not be saved, and the process holding \
                    them was stopped: pair the device again");
            }
        }
        wait = wait.saturating_mul(2).min(SAVE_RETRY_CAP);
    }
}

/// `c2c-pair token`: a valid access token on stdout and nothing else (like `gh auth token`).
pub async fn token(invocation: &Invocation, device: &str) -> ExitCode {
    let (record, ctx) = match locate(invocation, device).await {
        Ok(found) => found,
        Err((kind, message)) => return fail(false, kind, &message),
    };
    let tokens = match device::fresh_tokens(&ctx, &record).await {
        Ok(tokens) => Ok(tokens),
        Err(error) => save_or_fail(error, &ctx).await,
    };
    match tokens {
        // Checked on arrival; this catches a set stored before that rule, which must not
        // reach a terminal or a script's variable with escapes or line breaks in it.
        Ok(tokens) if !printable::is_token(tokens.access_token.expose_secret()) => fail(
            false,
            FailureKind::Refused,
            &format!(
                "the stored access token of {} holds characters a token cannot have, so it is \
                 not printed; refresh the device (c2c-pair refresh --device {0})",
                record.device_id
            ),
        ),
        Ok(tokens) => {
            out!("{}", tokens.access_token.expose_secret());
            ExitCode::SUCCESS
        }
        Err(error) => fail(false, error.kind(), &error.to_string()),
    }
}

/// `c2c-pair refresh`: refreshes now and says where the device stands.
pub async fn refresh(invocation: &Invocation, device: &str, json: bool) -> ExitCode {
    let (record, ctx) = match locate(invocation, device).await {
        Ok(found) => found,
        Err((kind, message)) => return fail(json, kind, &message),
    };
    let refreshed = match device::refresh(&ctx, &record).await {
        Ok(tokens) => Ok(tokens),
        Err(error) => save_or_fail(error, &ctx).await,
    };
    let tokens = match refreshed {
        Ok(tokens) => tokens,
        Err(error) => return fail(json, error.kind(), &error.to_string()),
    };
    let project = ctx
        .registry
        .load()
        .ok()
        .and_then(|loaded| {
            loaded
                .devices
                .into_iter()
                .find(|d| d.is(&record.device_id, &record.keychain_host))
        })
        .and_then(|d| d.project_name);
    let now = unix_seconds(SystemTime::now());
    if json {
        print_json(&json!({
            "event": "refreshed",
            "device": record.device_id,
            "access_expires_at": tokens.access_expires_at,
            "project": project,
        }));
    } else {
        let expiry = human_time::token_expiry(tokens.access_expires_at, now);
        if let Some(project) = project {
            out!(
                "Refreshed {}: {expiry}; connected to project {project}.",
                record.device_id
            );
        } else {
            out!("Refreshed {}: {expiry}.", record.device_id);
        }
    }
    ExitCode::SUCCESS
}

/// `c2c-pair unpair --local`: forget here, without the server.
async fn forget(invocation: &Invocation, device: &str, json: bool) -> ExitCode {
    let usage = |message: String| fail(json, FailureKind::Usage, &message);
    let (registry, choice) = match (invocation.registry(), invocation.choice()) {
        (Ok(registry), Ok(choice)) => (registry, choice),
        (Err(message), _) | (_, Err(message)) => return usage(message),
    };
    let devices = match registry.load() {
        Ok(loaded) => loaded.devices,
        Err(error) => return usage(error.to_string()),
    };
    let Some(record) = registry::find(&devices, device, &choice.profile.keychain_host()).cloned()
    else {
        return usage(format!(
            "{} is not in the device list ({})",
            printable::text(device),
            registry.path().display()
        ));
    };
    match device::forget(&invocation.keychain(), &registry, &record).await {
        Ok(()) => {
            if json {
                print_json(&json!({
                    "event": "forgotten", "device": record.device_id, "revoked": false,
                }));
            } else if record.handed_off_at().is_some() {
                out!(
                    "Removed {} from the device list; the device keeps the pairing it was \
                     handed.",
                    record.device_id
                );
            } else {
                out!(
                    "Forgot {} on this computer (its keychain entry and record are deleted). \
                     The server was not asked: it may list the device until its tokens expire.",
                    record.device_id
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(json, error.kind(), &error.to_string()),
    }
}

/// Whether the device list names `device` as handed off.
fn is_handed_off(invocation: &Invocation, device: &str) -> bool {
    let devices = invocation
        .registry()
        .ok()
        .and_then(|registry| registry.load().ok())
        .map(|loaded| loaded.devices)
        .unwrap_or_default();
    devices
        .iter()
        .any(|d| d.device_id == device && d.handed_off_at().is_some())
}

/// `c2c-pair unpair`: revoke at the server, then forget (or, with `--local`, only forget).
pub async fn unpair(invocation: &Invocation, device: &str, local: bool, json: bool) -> ExitCode {
    if local {
        return forget(invocation, device, json).await;
    }
    let (record, ctx) = match locate(invocation, device).await {
        Ok(found) => found,
        Err((kind, message))
            if kind == FailureKind::Refused && is_handed_off(invocation, device) =>
        {
            let message = format!(
                "{message} It cannot be unpaired from here: the laptop no longer holds its \
                 tokens, so it has nothing to revoke them with (the device can unpair itself, \
                 or remove it in Frame.io). To take it off this list: c2c-pair unpair --device \
                 {} --local",
                printable::text(device)
            );
            return fail(json, kind, &message);
        }
        Err((kind, message)) => return fail(json, kind, &message),
    };
    match device::unpair(&ctx, &record).await {
        Ok(done) => {
            if json {
                print_json(&json!({
                    "event": "unpaired", "device": record.device_id,
                    "revoked": done.revoked, "note": done.note,
                }));
            } else {
                let how = if done.revoked {
                    "revoked at the server"
                } else {
                    "nothing to revoke"
                };
                out!(
                    "Unpaired {} ({how}); its credentials were deleted from the keychain.",
                    record.device_id
                );
                if let Some(note) = done.note {
                    out!("Note: {note}.");
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(json, error.kind(), &error.to_string()),
    }
}
