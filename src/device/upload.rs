//! A test upload through the C2C asset API: create the asset, then PUT each part to the URL
//! the server handed out, with progress and cancel — proof that a paired device can really
//! deliver media.

use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Context;
use super::session::{LifecycleError, with_access};
use crate::c2c::ClientError;
use crate::c2c::model::NewAsset;
use crate::keychain::unix_seconds;
use crate::registry::DeviceRecord;

/// The small clip shipped with the app, for "Send test clip".
pub const TEST_CLIP: &[u8] = include_bytes!("../../assets/test-clip.mp4");
/// Its name in Frame.io.
pub const TEST_CLIP_NAME: &str = "c2c-pair-test-clip.mp4";
/// Parts are this large (S3 wants at least 5 MiB for every part but the last).
pub const PART_SIZE: u64 = 8 * 1024 * 1024;

/// Media to upload.
#[derive(Debug, Clone)]
pub struct Media {
    /// Name in Frame.io.
    pub name: String,
    /// The bytes.
    pub bytes: Bytes,
    /// Seconds since it was recorded.
    pub offset: u64,
}

impl Media {
    /// The shipped test clip, "recorded" now.
    pub fn test_clip() -> Self {
        Self {
            name: TEST_CLIP_NAME.to_owned(),
            bytes: Bytes::from_static(TEST_CLIP),
            offset: 0,
        }
    }

    /// A file from disk; its age comes from its modification time.
    pub async fn from_file(path: &Path) -> Result<Self, LifecycleError> {
        let unreadable = |e: std::io::Error| LifecycleError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let bytes = tokio::fs::read(path).await.map_err(unreadable)?;
        let modified = tokio::fs::metadata(path)
            .await
            .and_then(|m| m.modified())
            .map_err(unreadable)?;
        let name = path
            .file_name()
            .map_or_else(|| "upload".into(), |n| n.to_string_lossy().into_owned());
        let offset = unix_seconds(SystemTime::now()).saturating_sub(unix_seconds(modified));
        Ok(Self {
            name,
            bytes: Bytes::from(bytes),
            offset,
        })
    }

    fn filetype(&self) -> &'static str {
        let lower = self.name.to_ascii_lowercase();
        let extension = lower.rsplit('.').next().unwrap_or_default();
        match extension {
            "mp4" | "m4v" => "video/mp4",
            "mov" => "video/quicktime",
            "mxf" => "application/mxf",
            "wav" => "audio/wav",
            "mp3" => "audio/mpeg",
            "jpg" | "jpeg" => "image/jpeg",
            "png" => "image/png",
            _ => "application/octet-stream",
        }
    }
}

/// Bytes sent so far, of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Sent.
    pub sent: u64,
    /// In all.
    pub total: u64,
}

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The asset's id in Frame.io.
    pub asset_id: String,
    /// Its name.
    pub name: String,
    /// Bytes sent.
    pub bytes: u64,
}

/// How an upload ended, short of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Every part arrived.
    Done(Uploaded),
    /// The user cancelled; the asset stays incomplete in Frame.io.
    Cancelled,
}

/// Uploads `media` for a paired device: the asset is created (refreshing first, and once more
/// on a 401), then each part is sent, with progress on `progress`.
pub async fn upload(
    ctx: &Context,
    record: &DeviceRecord,
    media: Media,
    progress: &watch::Sender<Progress>,
    cancel: &CancellationToken,
) -> Result<UploadOutcome, LifecycleError> {
    let total = media.bytes.len() as u64;
    let parts = total.div_ceil(PART_SIZE).max(1);
    let new = NewAsset {
        name: media.name.clone(),
        filetype: media.filetype().to_owned(),
        filesize: total,
        offset: media.offset,
        channel: 0,
        parts: u32::try_from(parts).unwrap_or(u32::MAX),
    };
    let client = &ctx.backend.client;
    let created = with_access(ctx, record, |token| {
        let new = new.clone();
        async move { client.create_asset(&token, &new).await }
    })
    .await;
    let asset = match created {
        Ok(asset) => asset,
        Err(LifecycleError::Refused {
            error:
                ClientError::Http {
                    status: 409,
                    description,
                    ..
                },
            device,
        }) if description
            .as_deref()
            .is_some_and(|d| d.to_ascii_lowercase().contains("paused")) =>
        {
            return Err(LifecycleError::ChannelPaused { device });
        }
        Err(error) => return Err(error),
    };
    if asset.upload_urls.len() as u64 != parts {
        return Err(LifecycleError::Network {
            device: record.device_id.clone(),
            error: ClientError::Malformed(format!(
                "asked for {parts} upload URLs, got {}",
                asset.upload_urls.len()
            )),
        });
    }
    progress.send_replace(Progress { sent: 0, total });
    let part_size = usize::try_from(PART_SIZE).unwrap_or(usize::MAX);
    for (index, url) in asset.upload_urls.iter().enumerate() {
        let start = index * part_size;
        let part = media
            .bytes
            .slice(start..(start + part_size).min(media.bytes.len()));
        let before = start as u64;
        let reporter = progress.clone();
        let sending = client.upload_part(url, part, move |sent| {
            reporter.send_replace(Progress {
                sent: before + sent,
                total,
            });
        });
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(UploadOutcome::Cancelled),
            sent = sending => sent.map_err(|error| LifecycleError::Network {
                device: record.device_id.clone(),
                error,
            })?,
        }
    }
    progress.send_replace(Progress { sent: total, total });
    tracing::info!(device = %record.device_id, asset = %asset.id, bytes = total, "test upload done");
    ctx.registry
        .modify(&record.device_id, &record.keychain_host, |r| {
            r.last_upload = Some(unix_seconds(SystemTime::now()));
        })?;
    Ok(UploadOutcome::Done(Uploaded {
        asset_id: asset.id,
        name: media.name,
        bytes: total,
    }))
}
