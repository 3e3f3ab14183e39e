//! `c2c-pair upload`: send a file (or the shipped test clip) from a paired device through the
//! C2C asset API, with a progress bar on the terminal.

use std::path::Path;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use c2c_pair::device::{self, FailureKind, Media, Progress, UploadOutcome};

use super::fleet::{locate, save_or_fail};
use super::{EXIT_CANCELLED, Invocation, fail, print_json};

/// Uploads `file` (or the test clip) for `device`. Ctrl-C cancels (exit 130). With `json`,
/// prints one `uploaded` event instead of the bar and the sentence.
pub async fn run(
    invocation: &Invocation,
    device: &str,
    file: Option<&Path>,
    json: bool,
) -> ExitCode {
    let (record, ctx) = match locate(invocation, device).await {
        Ok(found) => found,
        Err((kind, message)) => return fail(json, kind, &message),
    };
    let media = match file {
        Some(path) => match Media::from_file(path).await {
            Ok(media) => media,
            Err(error) => return fail(json, FailureKind::Usage, &error.to_string()),
        },
        None => Media::test_clip(),
    };
    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let bar = progress_bar(&media, json);
    let (progress, watcher) = watch::channel(Progress::default());
    let drawing = tokio::spawn(draw(bar.clone(), watcher));

    let mut outcome = device::upload(&ctx, &record, media.clone(), &progress, &cancel).await;
    if let Err(error) = outcome {
        // A refresh whose tokens could not be saved: save them (patiently), then try once more.
        outcome = match save_or_fail(error, &ctx).await {
            Ok(_) => device::upload(&ctx, &record, media, &progress, &cancel).await,
            Err(error) => Err(error),
        };
    }
    drop(progress);
    let _ = drawing.await;
    match outcome {
        Ok(UploadOutcome::Done(done)) => {
            bar.finish();
            if json {
                print_json(&json!({
                    "event": "uploaded", "device": record.device_id,
                    "asset_id": done.asset_id, "name": done.name, "bytes": done.bytes,
                }));
            } else {
                out!(
                    "Uploaded {} ({} KB) from {}: asset {}.",
                    done.name,
                    done.bytes.div_ceil(1024),
                    record.device_id,
                    done.asset_id
                );
            }
            ExitCode::SUCCESS
        }
        Ok(UploadOutcome::Cancelled) => {
            bar.abandon_with_message("cancelled");
            if json {
                print_json(&json!({"event": "cancelled", "device": record.device_id}));
            } else {
                err!("Upload cancelled; the asset stays incomplete in Frame.io.");
            }
            ExitCode::from(EXIT_CANCELLED)
        }
        Err(error) => {
            bar.abandon();
            fail(json, error.kind(), &error.to_string())
        }
    }
}

/// A bar on stderr (hidden with `--json` or when stderr is not a terminal).
fn progress_bar(media: &Media, json: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(media.bytes.len() as u64),
        if json {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    #[expect(
        clippy::literal_string_with_formatting_args,
        reason = "an indicatif template, not a format string"
    )]
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {percent:>3}% {bytes_per_sec} {eta}",
    )
    .map(|style| style.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_message(media.name.clone());
    bar
}

/// Moves the bar as the upload reports progress, until the upload ends.
async fn draw(bar: ProgressBar, mut watcher: watch::Receiver<Progress>) {
    while watcher.changed().await.is_ok() {
        let now = *watcher.borrow_and_update();
        bar.set_length(now.total);
        bar.set_position(now.sent);
    }
}
