//! `c2c-pair comment`: a comment on an asset from a paired device (spec §3.8).

use std::process::ExitCode;

use serde_json::json;

use c2c_pair::device::upload;

use super::fleet::{locate, save_or_fail};
use super::{Invocation, fail, print_json};

/// Comments on `asset` as `device`, on `frame` or the whole asset.
pub async fn run(
    invocation: &Invocation,
    device: &str,
    asset: &str,
    text: &str,
    frame: Option<u64>,
    json: bool,
) -> ExitCode {
    let (record, ctx) = match locate(invocation, device).await {
        Ok(found) => found,
        Err((kind, message)) => return fail(json, kind, &message),
    };
    if text.trim().is_empty() {
        return fail(
            json,
            c2c_pair::device::FailureKind::Usage,
            "the comment is empty",
        );
    }
    let mut answer = upload::comment(&ctx, &record, asset, text, frame).await;
    if let Err(error) = answer {
        // A refresh whose tokens could not be saved: save them (patiently), then try once more.
        answer = match save_or_fail(error, &ctx).await {
            Ok(_) => upload::comment(&ctx, &record, asset, text, frame).await,
            Err(error) => Err(error),
        };
    }
    match answer {
        Ok(comment) => {
            if json {
                print_json(&json!({
                    "event": "commented", "device": record.device_id, "asset_id": asset,
                    "comment_id": comment.id, "text": comment.text, "timestamp": comment.timestamp,
                }));
            } else {
                let on = frame.map_or_else(|| "the asset".to_owned(), |n| format!("frame {n}"));
                out!(
                    "Commented on {on} of asset {asset} as {}: comment {}.",
                    record.device_id,
                    comment.id
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(json, error.kind(), &error.to_string()),
    }
}
