//! `c2c-pair pair`: one device, from code to saved tokens, for people or scripts (`--json`).

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use c2c_pair::backend::{Backend, CLIENT_SECRET_ENV, Connected};
use c2c_pair::c2c::PollStatus;
use c2c_pair::demo::DemoServer;
use c2c_pair::device::{
    self, CodeDisplay, Context, DeviceId, FailureKind, PairError, PairEvent, PairOutcome,
    PairedDevice, Remedy,
};
use c2c_pair::settings::{self, Source};
use c2c_pair::ui::group_code;

use super::{EXIT_CANCELLED, Invocation, backend_failure, backend_message, fail, print_json};

/// `c2c-pair pair`: pairs one device and saves its tokens.
pub async fn run(
    invocation: &Invocation,
    device: &str,
    name: Option<&str>,
    json: bool,
) -> ExitCode {
    let printer = &Printer { json };
    let device_id = match DeviceId::parse(device) {
        Ok(id) => id,
        Err(error) => return printer.fail(FailureKind::Usage, &error.to_string()),
    };
    let choice = match invocation.choice() {
        Ok(choice) => choice,
        Err(message) => return printer.fail(FailureKind::Usage, &message),
    };
    let registry = match invocation.registry() {
        Ok(registry) => registry,
        Err(message) => return printer.fail(FailureKind::Usage, &message),
    };
    let keychain = invocation.keychain();
    // The demo server (in demo mode) lives as long as this command.
    let Connected {
        backend,
        demo_server,
    } = match Backend::connect(choice, &keychain).await {
        Ok(connected) => connected,
        Err(error) => return printer.fail(backend_failure(&error), &backend_message(&error)),
    };
    printer.server(&backend, demo_server.as_ref());
    let ctx = Context {
        backend: Arc::new(backend),
        keychain,
        registry,
    };

    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    // `pair --client-version V` names this device's own firmware: kept with it, sent on
    // each of its calls. A version from the file or the environment is everyone's default.
    let firmware = (invocation.settings.source("client_version") == Source::CommandLine)
        .then(|| invocation.settings.get(&settings::CLIENT_VERSION));
    let result = device::pair(
        &ctx,
        &device_id,
        name,
        firmware.as_deref(),
        &cancel,
        |event| {
            printer.progress(&device_id, name, &event);
        },
    )
    .await;
    let result = match result {
        Err(PairError::SaveFailed { unsaved, .. }) => {
            match super::fleet::hold_until_saved(&unsaved, &ctx.keychain).await {
                Ok(()) => Ok(PairOutcome::Paired(
                    device::finish_pairing(&ctx, &unsaved).await,
                )),
                Err(reason) => {
                    return printer.fail(
                        FailureKind::Keychain,
                        &format!("{} was approved, but {reason}.", unsaved.device_id),
                    );
                }
            }
        }
        other => other,
    };
    match result {
        Ok(PairOutcome::Paired(paired)) => {
            printer.paired(&paired, name);
            ExitCode::SUCCESS
        }
        Ok(PairOutcome::Cancelled) => {
            printer.cancelled();
            ExitCode::from(EXIT_CANCELLED)
        }
        Err(error) => printer.fail(error.kind(), &with_remedy(&error)),
    }
}

/// The error's message, with the command that fixes it when there is one (the device layer
/// names what is wrong; which command fixes it is this edge's word).
fn with_remedy(error: &PairError) -> String {
    let message = error.to_string();
    match error.remedy() {
        Some(Remedy::ClientSecret) => format!(
            "{message} Store it with `c2c-pair secret set` (or set {CLIENT_SECRET_ENV}), and \
             check the device id."
        ),
        // The message already names the page to open.
        Some(Remedy::SignIn { .. }) | None => message,
    }
}

/// Human text or JSON lines.
struct Printer {
    json: bool,
}

impl Printer {
    fn server(&self, backend: &Backend, demo_server: Option<&DemoServer>) {
        let api_base = backend.client.profile().api_base.as_str();
        if self.json {
            print_json(
                &json!({"event": "server", "api_base": api_base, "demo": backend.is_demo()}),
            );
            return;
        }
        if let Some(url) = demo_server.map(DemoServer::approval_url) {
            out!("Demo mode: not connected to Frame.io. Codes are approved at {url}");
            if let Some(warning) = &backend.warning {
                out!("{warning}");
            }
        }
    }

    fn progress(&self, device_id: &DeviceId, name: Option<&str>, event: &PairEvent) {
        match event {
            PairEvent::CodeIssued(code) => self.code(device_id, name, code),
            PairEvent::Polled { status, next_check } => {
                let next = next_check
                    .saturating_duration_since(std::time::Instant::now())
                    .as_secs_f64();
                self.polled(status, next);
            }
            PairEvent::CheckingKeychain | PairEvent::RequestingCode | PairEvent::Saving => {}
        }
    }

    fn code(&self, device_id: &DeviceId, name: Option<&str>, code: &CodeDisplay) {
        if self.json {
            print_json(&json!({
                "event": "code",
                "device": device_id.as_str(),
                "user_code": code.user_code,
                "verification_uri": code.verification_uri,
                "verification_uri_complete": code.verification_uri_complete,
                "expires_in": code.expires_in.as_secs_f64(),
                "interval": code.interval.as_secs_f64(),
            }));
            return;
        }
        let who = name.map_or_else(|| device_id.to_string(), |n| format!("{n} ({device_id})"));
        out!("\nPairing {who}\n");
        out!("  Code: {}", group_code(&code.user_code));
        if let Some(uri) = &code.verification_uri {
            out!("  Enter it at {uri}");
        } else {
            out!("  Enter it in Frame.io (web or iOS), under C2C Connections");
        }
        if let Some(complete) = &code.verification_uri_complete {
            out!("  or open {complete}");
        }
        if let Some(qr) = code.qr_target().and_then(c2c_pair::ui::qr::to_terminal) {
            out!("\n{qr}");
        }
        out!(
            "The code expires in {} s. Waiting for approval… (Ctrl-C cancels)",
            code.expires_in.as_secs()
        );
    }

    fn polled(&self, status: &PollStatus, next_in: f64) {
        if self.json {
            let (name, detail) = match status {
                PollStatus::Pending => ("authorization_pending", None),
                PollStatus::SlowDown { .. } => ("slow_down", None),
                PollStatus::Retrying { reason, .. } => ("retrying", Some(reason.as_str())),
            };
            print_json(&json!({
                "event": "poll", "status": name, "message": detail,
                "next_poll_in": (next_in * 1000.0).round() / 1000.0,
            }));
        } else if !matches!(status, PollStatus::Pending) {
            out!("  {status}; next check in {} s", next_in.ceil());
        }
    }

    fn paired(&self, paired: &PairedDevice, name: Option<&str>) {
        if self.json {
            print_json(&json!({
                "event": "paired",
                "device": paired.device_id.as_str(),
                "name": name,
                "keychain_account": paired.keychain_account,
                "keychain": paired.keychain,
                "project": paired.project,
                "remote_name": paired.remote_name,
                "project_error": paired.project_error,
                "refresh_token": !paired.no_refresh_token,
            }));
            return;
        }
        if let Some(project) = &paired.project {
            out!(
                "Paired {}: connected to project {project}.",
                paired.device_id
            );
        } else {
            out!("Paired {}.", paired.device_id);
        }
        out!(
            "Credentials saved in the OS keychain ({}) as {}.",
            paired.keychain,
            paired.keychain_account
        );
        if let Some(error) = &paired.project_error {
            err!("Note: the connected project could not be read: {error}.");
        }
        if paired.no_refresh_token {
            err!("Warning: {}.", device::NO_REFRESH_TOKEN);
        }
    }

    fn cancelled(&self) {
        if self.json {
            print_json(&json!({"event": "cancelled"}));
        } else {
            out!("Cancelled.");
        }
    }

    fn fail(&self, kind: FailureKind, message: &str) -> ExitCode {
        fail(self.json, kind, message)
    }
}
