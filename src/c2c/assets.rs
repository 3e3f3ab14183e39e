//! The C2C asset endpoints (spec §3.6–3.8): create an asset — whole or real-time, on the
//! devices path or, for an older server, the deprecated one — ask for real-time part URLs,
//! and comment on an asset.
//!
//! Everything the server sends back is checked on arrival: ids and names made printable,
//! upload URLs counted and held to https (or http on loopback), numbers clamped.

use std::sync::atomic::Ordering;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::client::{C2cClient, ClientError, MAX_BODY};
use super::model::Asset;
use crate::printable;

/// The deprecated asset path (spec §3.6), tried once when the devices path answers 404.
pub const LEGACY_ASSETS_PATH: &str = "/v2/assets";
/// S3 multipart: part numbers run from 1 to this (spec §3.7 quotes S3's rules).
pub const MAX_PARTS: u32 = 10_000;
/// S3 multipart: every part but the last is at least this large.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3 multipart: no part is larger than this (5 GiB).
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Largest asset the real-time endpoint takes (spec §3.7: `asset_filesize` ≤ 5 TiB).
pub const MAX_ASSET_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Longest upload URL accepted; presigned S3 URLs are well under 2 KiB.
pub const MAX_URL_LEN: usize = 8 * 1024;
/// Longest comment text sent (Frame.io states no limit; a note is a sentence).
pub const MAX_COMMENT_CHARS: usize = 4096;

/// Which path created an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetPath {
    /// `POST /v2/devices/assets` (or the profile's assets path).
    Devices,
    /// The deprecated `POST /v2/assets`.
    Legacy,
}

/// What to create (spec §3.6). Build it with [`NewAssetRequest::whole`] or
/// [`NewAssetRequest::realtime`]; fields the kind of upload does not use are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAssetRequest {
    /// Asset name in Frame.io.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Real-time only, when the name is not known yet: `.mov`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// MIME type.
    pub filetype: String,
    /// Size in bytes (whole uploads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesize: Option<u64>,
    /// Seconds since the media was created (Frame.io rejects media made while paused).
    pub offset: u64,
    /// Device channel (input) index.
    pub channel: u32,
    /// How many upload URLs (whole uploads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
    /// A file still being written: part URLs are asked for as it grows.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_realtime_upload: bool,
}

impl NewAssetRequest {
    /// A file whose size is known, in `parts` parts.
    pub fn whole(name: &str, filetype: &str, filesize: u64, parts: u32, offset: u64) -> Self {
        Self {
            name: Some(name.to_owned()),
            extension: None,
            filetype: filetype.to_owned(),
            filesize: Some(filesize),
            offset,
            channel: 0,
            parts: Some(parts),
            is_realtime_upload: false,
        }
    }

    /// A file still being written (spec §3.6: JSON, `filetype` required, no size).
    pub fn realtime(name: &str, filetype: &str, offset: u64) -> Self {
        Self {
            name: Some(name.to_owned()),
            extension: None,
            filetype: filetype.to_owned(),
            filesize: None,
            offset,
            channel: 0,
            parts: None,
            is_realtime_upload: true,
        }
    }
}

/// An asset the server created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedAsset {
    /// Its id (printable).
    pub id: String,
    /// Its name as the server keeps it (printable).
    pub name: Option<String>,
    /// One checked URL per part, in part order (empty for a real-time asset).
    pub upload_urls: Vec<String>,
    /// The path that created it.
    pub via: AssetPath,
    /// True when this call found that the devices path is missing and fell back.
    pub fell_back: bool,
}

/// One part of a real-time upload (spec §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RealtimePart {
    /// 1 to [`MAX_PARTS`].
    pub number: u32,
    /// Bytes; at least [`MIN_PART_SIZE`] unless final.
    pub size: u64,
    /// The last part.
    pub is_final: bool,
}

#[derive(Serialize)]
struct PartsRequest<'a> {
    parts: &'a [RealtimePart],
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_filesize: Option<u64>,
}

/// A comment the server stored (spec §3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id (printable).
    pub id: String,
    /// Its text as stored (printable).
    pub text: Option<String>,
    /// The frame it is on; `None` for the whole asset.
    pub timestamp: Option<u64>,
}

#[derive(Serialize)]
struct NewComment<'a> {
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<u64>,
}

impl C2cClient {
    /// Creates an asset (spec §3.6). When the devices path answers the server's own 404 (an
    /// error body it wrote: an older on-premise or staging server) the deprecated
    /// `POST /v2/assets` is tried once, logged, and used for every later asset of this client;
    /// [`CreatedAsset::fell_back`] tells the caller to say so. A 404 without such a body (a
    /// proxy's page) is no reason to switch paths: it is returned. A whole upload gets at
    /// least one URL; the caller sizes its parts to the URLs it got, as Frame.io's own client
    /// does, rather than ask again (a second asset).
    pub async fn create_asset(
        &self,
        access_token: &SecretString,
        asset: &NewAssetRequest,
    ) -> Result<CreatedAsset, ClientError> {
        if self.legacy_assets.load(Ordering::Relaxed) {
            return self
                .create_asset_at(access_token, asset, AssetPath::Legacy)
                .await;
        }
        match self
            .create_asset_at(access_token, asset, AssetPath::Devices)
            .await
        {
            Err(error) if is_servers_own_404(&error) => {
                tracing::warn!(
                    path = %self.profile().paths.assets,
                    "the server has no device asset endpoint (HTTP 404); trying the deprecated {LEGACY_ASSETS_PATH} once"
                );
                let mut created = self
                    .create_asset_at(access_token, asset, AssetPath::Legacy)
                    .await?;
                self.legacy_assets.store(true, Ordering::Relaxed);
                created.fell_back = true;
                Ok(created)
            }
            other => other,
        }
    }

    /// Creates an asset on one path, with no fallback.
    pub async fn create_asset_at(
        &self,
        access_token: &SecretString,
        asset: &NewAssetRequest,
        via: AssetPath,
    ) -> Result<CreatedAsset, ClientError> {
        let path = match via {
            AssetPath::Devices => self.profile().paths.assets.as_str(),
            AssetPath::Legacy => LEGACY_ASSETS_PATH,
        };
        let url = self.profile().endpoint(path)?;
        let request = self
            .request(reqwest::Method::POST, url)
            .bearer_auth(access_token.expose_secret())
            .json(asset);
        let answer: Asset = self.send_json(request, answer_limit(asset)).await?;
        // The asset exists from here on: what is wrong with the answer is final (asking again
        // would make another asset), never a reason to try again.
        let urls = if asset.is_realtime_upload {
            // Its part URLs are asked for as the file grows; any given now are not used.
            Vec::new()
        } else if answer.upload_urls.is_empty() {
            return Err(ClientError::Unusable("it gives no upload URLs".into()));
        } else if answer.upload_urls.len() > MAX_PARTS as usize {
            return Err(ClientError::Unusable(format!(
                "it gives more than {MAX_PARTS} upload URLs"
            )));
        } else {
            let count = answer.upload_urls.len();
            checked_urls(answer.upload_urls, count, &self.profile().api_base)?
        };
        Ok(CreatedAsset {
            id: answer.id,
            name: answer.name,
            upload_urls: urls,
            via,
            fell_back: false,
        })
    }

    /// Asks for the URLs of real-time parts (spec §3.7); `asset_filesize` is required once a
    /// part is final. The URLs come back checked, in the order of `parts`.
    pub async fn realtime_part_urls(
        &self,
        access_token: &SecretString,
        asset_id: &str,
        parts: &[RealtimePart],
        asset_filesize: Option<u64>,
    ) -> Result<Vec<String>, ClientError> {
        let url = self.asset_endpoint(asset_id, &["realtime_upload", "parts"])?;
        let body = PartsRequest {
            parts,
            asset_filesize,
        };
        let request = self
            .request(reqwest::Method::POST, url)
            .bearer_auth(access_token.expose_secret())
            .json(&body);
        let answer: Value = self.send_json(request, MAX_BODY).await?;
        let urls = answer
            .get("upload_urls")
            .and_then(Value::as_array)
            .ok_or_else(|| ClientError::Malformed("missing field `upload_urls`".into()))?
            .iter()
            .map(|url| {
                url.as_str().map(str::to_owned).ok_or_else(|| {
                    ClientError::Malformed("field `upload_urls` holds a non-string".into())
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        checked_urls(urls, parts.len(), &self.profile().api_base)
    }

    /// Comments on an asset as the device (spec §3.8): on `frame` (counted from 0), or on the
    /// whole asset.
    pub async fn comment(
        &self,
        access_token: &SecretString,
        asset_id: &str,
        text: &str,
        frame: Option<u64>,
    ) -> Result<Comment, ClientError> {
        let url = self.asset_endpoint(asset_id, &["comments"])?;
        let text = printable::printable(text, MAX_COMMENT_CHARS);
        let request = self
            .request(reqwest::Method::POST, url)
            .bearer_auth(access_token.expose_secret())
            .json(&NewComment {
                text: &text,
                timestamp: frame,
            });
        let answer: Value = self.send_json(request, MAX_BODY).await?;
        comment_from(&answer)
    }

    /// `{assets path}/{asset id}/{rest…}`, the id as one escaped path segment (a hostile id
    /// such as `../../auth/token` stays inside the asset's path).
    fn asset_endpoint(&self, asset_id: &str, rest: &[&str]) -> Result<Url, ClientError> {
        let mut url = self.profile().endpoint(&self.profile().paths.assets)?;
        let bad = || ClientError::Malformed("the asset path cannot take an asset id".into());
        url.path_segments_mut()
            .map_err(|()| bad())?
            .pop_if_empty()
            .push(asset_id)
            .extend(rest);
        Ok(url)
    }
}

/// The largest answer read for the creation of `asset`: room for one upload URL of the
/// longest accepted per part asked for (a 10 000-part file's presigned URLs run to megabytes),
/// on top of the answer's other fields.
fn answer_limit(asset: &NewAssetRequest) -> usize {
    let parts = asset.parts.map_or(1, |parts| parts.clamp(1, MAX_PARTS)) as usize;
    MAX_BODY.saturating_add(parts.saturating_mul(MAX_URL_LEN))
}

/// A 404 the server itself wrote (an error body in either of its shapes), not a proxy's page.
fn is_servers_own_404(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Http {
            status: 404,
            description: Some(_),
            ..
        } | ClientError::OAuth { status: 404, .. }
    )
}

/// The server's upload URLs, checked: exactly `wanted` of them, each a URL of at most
/// [`MAX_URL_LEN`] bytes, https or http on loopback (media never crosses a network in clear),
/// and on this computer only for a server on this computer (see [`check_upload_url`]).
fn checked_urls(
    urls: Vec<String>,
    wanted: usize,
    api_base: &Url,
) -> Result<Vec<String>, ClientError> {
    if urls.len() != wanted {
        return Err(ClientError::Unusable(format!(
            "asked for {wanted} upload URLs, got {}",
            urls.len()
        )));
    }
    for url in &urls {
        check_upload_url(url, api_base)?;
    }
    Ok(urls)
}

/// An upload URL is https, or http on loopback (the demo server), and no longer than
/// [`MAX_URL_LEN`].
///
/// It names this computer only when the API base does: a server elsewhere
/// has no business sending media to a port of the laptop (another program's, reached past
/// every proxy and firewall).
pub fn check_upload_url(url: &str, api_base: &Url) -> Result<Url, ClientError> {
    if url.len() > MAX_URL_LEN {
        return Err(ClientError::Unusable("an upload URL is too long".into()));
    }
    let target = Url::parse(url)
        .map_err(|e| ClientError::Unusable(format!("an upload URL is not a URL: {e}")))?;
    if target.scheme() != "https"
        && !(target.scheme() == "http" && crate::c2c::profile::is_loopback(&target))
    {
        return Err(ClientError::Unusable("an upload URL is not https".into()));
    }
    if crate::c2c::profile::is_loopback(&target) && !crate::c2c::profile::is_loopback(api_base) {
        return Err(ClientError::Unusable(
            "an upload URL points at this computer, and the server is not on it".into(),
        ));
    }
    Ok(target)
}

/// A comment answer: an id is required; text and frame are read leniently.
fn comment_from(answer: &Value) -> Result<Comment, ClientError> {
    let id = match answer.get("id") {
        Some(Value::String(s)) => printable::text(s),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if id.is_empty() {
        return Err(ClientError::Malformed("missing field `id`".into()));
    }
    let text = answer
        .get("text")
        .and_then(Value::as_str)
        .map(printable::text)
        .filter(|t| !t.is_empty());
    let timestamp = answer.get("timestamp").and_then(Value::as_u64);
    Ok(Comment {
        id,
        text,
        timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_leave_out_what_their_kind_does_not_use() {
        let whole =
            serde_json::to_value(NewAssetRequest::whole("a.mov", "video/quicktime", 9, 1, 3))
                .unwrap();
        assert_eq!(
            whole,
            serde_json::json!({"name":"a.mov","filetype":"video/quicktime","filesize":9,
                               "offset":3,"channel":0,"parts":1})
        );
        let live =
            serde_json::to_value(NewAssetRequest::realtime("b.mov", "video/quicktime", 0)).unwrap();
        assert_eq!(
            live,
            serde_json::json!({"name":"b.mov","filetype":"video/quicktime","offset":0,
                               "channel":0,"is_realtime_upload":true})
        );
    }

    #[test]
    fn a_creations_answer_may_carry_a_long_url_for_every_part() {
        let one = NewAssetRequest::whole("a.mov", "video/quicktime", 9, 1, 0);
        assert_eq!(answer_limit(&one), MAX_BODY + MAX_URL_LEN);
        let many = NewAssetRequest::whole("b.mov", "video/quicktime", 9, 10_000, 0);
        assert_eq!(answer_limit(&many), MAX_BODY + 10_000 * MAX_URL_LEN);
        let silly = NewAssetRequest {
            parts: Some(u32::MAX),
            ..many
        };
        assert_eq!(answer_limit(&silly), MAX_BODY + 10_000 * MAX_URL_LEN);
        let live = NewAssetRequest::realtime("c.mov", "video/quicktime", 0);
        assert_eq!(answer_limit(&live), MAX_BODY + MAX_URL_LEN);
    }

    #[test]
    fn only_the_servers_own_404_switches_to_the_deprecated_path() {
        let own = ClientError::Http {
            status: 404,
            description: Some("Not Found".into()),
            retry_after: None,
        };
        assert!(is_servers_own_404(&own));
        // A proxy's page: no error body the server wrote.
        let proxy = ClientError::Http {
            status: 404,
            description: None,
            retry_after: None,
        };
        assert!(!is_servers_own_404(&proxy));
        let gone = ClientError::Http {
            status: 410,
            description: Some("Gone".into()),
            retry_after: None,
        };
        assert!(!is_servers_own_404(&gone));
    }

    #[test]
    fn upload_urls_are_counted_and_held_to_https_or_loopback() {
        let ok = vec![
            "https://s3.example.com/p1?X-Amz-Expires=60".to_owned(),
            "http://127.0.0.1:9/_uploads/a/2".to_owned(),
        ];
        let local = Url::parse("http://127.0.0.1:8480/").unwrap();
        let remote = Url::parse("https://api.frame.io/").unwrap();
        assert_eq!(checked_urls(ok.clone(), 2, &local).unwrap(), ok);
        assert!(checked_urls(ok.clone(), 3, &local).is_err());
        assert!(
            checked_urls(ok, 2, &remote).is_err(),
            "a server elsewhere may not aim uploads at this computer"
        );
        let s3 = vec!["https://s3.example.com/p1".to_owned()];
        assert!(checked_urls(s3, 1, &remote).is_ok());
        for bad in [
            "http://example.com/p1",
            "ftp://127.0.0.1/p",
            "not a url",
            "javascript:alert(1)",
        ] {
            assert!(
                checked_urls(vec![bad.to_owned()], 1, &local).is_err(),
                "{bad}"
            );
        }
        let long = format!("https://x.example/{}", "a".repeat(MAX_URL_LEN));
        assert!(checked_urls(vec![long], 1, &local).is_err());
    }

    #[test]
    fn comments_need_an_id_and_are_made_printable() {
        let comment = comment_from(&serde_json::json!({
            "id": "c\u{1b}[31m1", "text": "Rig\u{202e} check", "timestamp": 12
        }))
        .unwrap();
        assert_eq!(comment.id, "c[31m1");
        assert_eq!(comment.text.as_deref(), Some("Rig check"));
        assert_eq!(comment.timestamp, Some(12));
        assert!(comment_from(&serde_json::json!({"text": "x"})).is_err());
        let odd = comment_from(&serde_json::json!({"id": 7, "timestamp": -1})).unwrap();
        assert_eq!((odd.id.as_str(), odd.timestamp), ("7", None));
    }
}
