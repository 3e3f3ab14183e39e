//! The device API's media endpoints (spec §3.6–3.8): creating an asset, normal or real-time,
//! through `POST /v2/devices/assets` or the deprecated `POST /v2/assets`, asking for a
//! real-time asset's part URLs, and commenting on an asset.
//!
//! A paused device is judged as Frame.io documents it: by when its media was created. The
//! asset's `offset` (seconds since the file was created) puts that moment on the clock, and a
//! file created during one of the device's pause windows is refused with 409 Channel Paused
//! when its asset is created. Parts requests and comments on an asset already created are not
//! refused for a pause: Frame.io judges media by its creation time when the asset is created
//! [inferred: its docs name no other check].

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use url::Url;

use super::assets::{
    Announced, Announcement, CommentRefused, CreatedVia, Evicted, MAX_HELD_BYTES, PartsRefused,
};
use super::comments;
use super::limits::{ASSET_NAME_CHARS, MAX_OBJECT, MAX_PARTS};
use super::realtime::{PartsRequest, extension_of};
use super::reply::{authenticated, channel_paused, detailed, not_authorized};
use super::state::{ChannelPaused, Created, now_unix_ms};
use super::{Peer, Shared};
use crate::c2c::model::Asset;

/// Longest extension accepted.
const EXTENSION_CHARS: usize = 32;
/// Largest real-time parts request.
const PARTS_REQUEST_BYTES: usize = 1024 * 1024;
/// Largest comment request.
const COMMENT_REQUEST_BYTES: usize = 64 * 1024;

/// The media routes (bodies bounded by the caller's body limit).
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v2/devices/assets", post(create_asset))
        .route("/v2/assets", post(create_asset_legacy))
        .route(
            "/v2/devices/assets/{asset_id}/realtime_upload/parts",
            // Room for S3's 10 000 parts in one request.
            post(realtime_parts).layer(DefaultBodyLimit::max(PARTS_REQUEST_BYTES)),
        )
        .route(
            "/v2/devices/assets/{asset_id}/comments",
            // Room for 4000 characters however they are escaped, so a long text gets the
            // length check's clear message.
            post(comment).layer(DefaultBodyLimit::max(COMMENT_REQUEST_BYTES)),
        )
}

/// The presigned link a part is sent to: back the way the request came, loopback for this
/// machine and the network address for a device on the network; signed now for the
/// configured lifetime (see [`super::signing`]).
pub fn upload_url(shared: &Shared, peer: &Peer, asset_id: &str, number: u32) -> Option<String> {
    let local = SocketAddr::new(peer.local.ip().to_canonical(), peer.local.port());
    let mut url = Url::parse(&format!("http://{local}/_uploads/{asset_id}/{number}")).ok()?;
    let lifetime = shared.lock().config().upload_url_lifetime;
    let query = shared
        .signer
        .query(url.path(), now_unix_ms() / 1000, lifetime);
    url.set_query(Some(&query));
    Some(String::from(url))
}

/// Forgets evicted assets off the async threads (removing their folders is file work).
pub fn discard(evicted: Evicted) {
    if !evicted.is_empty() {
        drop(tokio::task::spawn_blocking(move || drop(evicted)));
    }
}

/// `POST /v2/devices/assets`.
async fn create_asset(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if shared.lock().legacy_only() {
        // Playing an older Frame.io, which knows only `POST /v2/assets`.
        return detailed(StatusCode::NOT_FOUND, "Not Found");
    }
    create(&shared, &peer, &headers, &body, CreatedVia::Devices)
}

/// `POST /v2/assets`, the deprecated path.
async fn create_asset_legacy(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(&shared, &peer, &headers, &body, CreatedVia::Legacy)
}

fn create(
    shared: &Shared,
    peer: &Peer,
    headers: &HeaderMap,
    body: &[u8],
    via: CreatedVia,
) -> Response {
    let Some((device, details)) = authenticated(shared, headers) else {
        return not_authorized();
    };
    let answer = match announcement(headers, body, via) {
        Err(why) => detailed(StatusCode::UNPROCESSABLE_ENTITY, &why),
        Ok(announcement) => created(shared, peer, &device.client_id, announcement),
    };
    (Extension(details), answer).into_response()
}

fn created(shared: &Shared, peer: &Peer, client_id: &str, announcement: Announcement) -> Response {
    let folder = match shared.files.asset_folder() {
        Ok(folder) => folder,
        Err(error) => {
            let why = format!("the demo server cannot keep uploads: {error}");
            return detailed(StatusCode::SERVICE_UNAVAILABLE, &why);
        }
    };
    let realtime = matches!(announcement.kind, Announced::Realtime { .. });
    let created = shared
        .lock()
        .create_asset(client_id, announcement, folder, now_unix_ms());
    let Created {
        id,
        name,
        parts,
        evicted,
    } = match created {
        Ok(created) => created,
        Err(ChannelPaused) => return channel_paused(),
    };
    discard(evicted);
    if realtime {
        // A real-time asset's answer has no upload URLs: they are asked for part by part.
        return Json(json!({"id": id, "name": name})).into_response();
    }
    let upload_urls = (1..=parts)
        .filter_map(|number| upload_url(shared, peer, &id, number))
        .collect();
    let answer = Asset {
        id,
        name: Some(name),
        upload_urls,
    };
    Json(answer).into_response()
}

/// `POST /v2/devices/assets/{asset_id}/realtime_upload/parts`: upload URLs for parts of a
/// real-time asset, in request order.
async fn realtime_parts(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Path(asset_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((device, details)) = authenticated(&shared, &headers) else {
        return not_authorized();
    };
    let answer = parts_answer(&shared, &peer, &asset_id, &device.client_id, &body).await;
    (Extension(details), answer).into_response()
}

async fn parts_answer(
    shared: &Shared,
    peer: &Peer,
    asset_id: &str,
    client_id: &str,
    body: &[u8],
) -> Response {
    let request: PartsRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            let why = format!(
                "send JSON {{\"parts\": [{{\"number\", \"size\", \"is_final\"}}],                  \"asset_filesize\"?, \"asset_name\"?}}: {error}"
            );
            return detailed(StatusCode::BAD_REQUEST, &why);
        }
    };
    let asked = shared
        .lock()
        .assets_mut()
        .ask_realtime_parts(asset_id, client_id, &request);
    let (numbers, assembly, evicted) = match asked {
        Ok(asked) => asked,
        Err(refused @ PartsRefused::Unknown(_)) => {
            return detailed(StatusCode::NOT_FOUND, &refused.to_string());
        }
        Err(refused) => return detailed(StatusCode::BAD_REQUEST, &refused.to_string()),
    };
    discard(evicted);
    if let Some(assembly) = assembly {
        // Every part was already there (asked for again): the asset is checked anew.
        shared.check_assembly(&assembly).await;
    }
    let upload_urls: Vec<String> = numbers
        .iter()
        .filter_map(|number| upload_url(shared, peer, asset_id, *number))
        .collect();
    Json(json!({ "upload_urls": upload_urls })).into_response()
}

/// `POST /v2/devices/assets/{asset_id}/comments`: `{"text", "timestamp"?}` → the comment.
async fn comment(
    State(shared): State<Shared>,
    Path(asset_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((device, details)) = authenticated(&shared, &headers) else {
        return not_authorized();
    };
    let answer = comment_answer(&shared, &asset_id, &device.client_id, &body);
    (Extension(details), answer).into_response()
}

fn comment_answer(shared: &Shared, asset_id: &str, client_id: &str, body: &[u8]) -> Response {
    let new = match comments::read(body) {
        Ok(new) => new,
        Err(why) => return detailed(StatusCode::BAD_REQUEST, &why),
    };
    let made = shared.lock().comment(asset_id, client_id, new);
    match made {
        Ok(comment) => Json(json!({
            "id": comment.id,
            "text": comment.text,
            "timestamp": comment.timestamp,
            "asset_id": asset_id,
            "inserted_at": comment.inserted_at,
        }))
        .into_response(),
        Err(refused @ CommentRefused::Unknown(_)) => {
            detailed(StatusCode::NOT_FOUND, &refused.to_string())
        }
        Err(refused @ CommentRefused::Full(_)) => {
            detailed(StatusCode::TOO_MANY_REQUESTS, &refused.to_string())
        }
    }
}

/// The fields of `POST /v2/devices/assets` (spec §3.6); numbers may come as text.
#[derive(Debug, Default, Deserialize)]
struct AssetFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    filetype: Option<String>,
    #[serde(default, deserialize_with = "lenient_number")]
    filesize: Option<u64>,
    #[serde(default, deserialize_with = "lenient_number")]
    parts: Option<u64>,
    #[serde(default)]
    extension: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_realtime_upload: Option<bool>,
    /// Seconds since the media was created.
    #[serde(default, deserialize_with = "lenient_number")]
    offset: Option<u64>,
}

/// A number, or a number as text (form bodies, and Frame.io's "int/string" fields).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

fn lenient_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match Option::<NumberOrText>::deserialize(deserializer)? {
        None => Ok(None),
        Some(NumberOrText::Number(n)) => Ok(Some(n)),
        Some(NumberOrText::Text(text)) => text.trim().parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!("{text:?} is not a whole number of at least 0"))
        }),
    }
}

/// A boolean, or one as text (form bodies).
#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOrText {
    Bool(bool),
    Text(String),
}

fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    match Option::<BoolOrText>::deserialize(deserializer)? {
        None => Ok(None),
        Some(BoolOrText::Bool(b)) => Ok(Some(b)),
        Some(BoolOrText::Text(text)) => match text.trim() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" | "" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!(
                "{text:?} is not true or false"
            ))),
        },
    }
}

/// Reads and checks an asset announcement: JSON, or a urlencoded form for a normal asset
/// (a real-time one must be JSON).
fn announcement(headers: &HeaderMap, body: &[u8], via: CreatedVia) -> Result<Announcement, String> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    let fields: AssetFields = if form {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| "the form body is malformed".to_owned())?;
        let mut object = serde_json::Map::new();
        for (name, value) in pairs {
            object.entry(name).or_insert(Value::String(value));
        }
        serde_json::from_value(Value::Object(object))
            .map_err(|e| format!("the asset's fields are not valid: {e}"))?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            format!("send the asset as JSON (or a urlencoded form for a normal upload): {e}")
        })?
    };
    let name = fields
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty());
    if name.is_some_and(|name| name.chars().count() > ASSET_NAME_CHARS) {
        return Err(format!(
            "name must be at most {ASSET_NAME_CHARS} characters"
        ));
    }
    let filetype = fields
        .filetype
        .as_deref()
        .map(str::trim)
        .filter(|filetype| !filetype.is_empty());
    let kind = if fields.is_realtime_upload == Some(true) {
        if form {
            return Err("a real-time upload is created with a JSON body".into());
        }
        if filetype.is_none() {
            return Err("filetype (a MIME type) is required for a real-time upload".into());
        }
        realtime(&fields, name)?
    } else {
        normal(&fields, name)?
    };
    Ok(Announcement {
        name: name.unwrap_or_default().to_owned(),
        filetype: filetype.unwrap_or("application/octet-stream").to_owned(),
        created_via: via,
        kind,
        offset: fields.offset,
    })
}

/// A real-time asset: a name with an extension, or an extension (agreeing when both are
/// given), and no size.
fn realtime(fields: &AssetFields, name: Option<&str>) -> Result<Announced, String> {
    if fields.filesize.is_some() {
        return Err(
            "filesize is for normal uploads: a real-time asset leaves it out and \
                    gives asset_filesize with its final part"
                .into(),
        );
    }
    let extension = fields
        .extension
        .as_deref()
        .map(checked_extension)
        .transpose()?;
    let extension_only = match (name, extension) {
        (None, None) => {
            return Err("a real-time asset needs a name with an extension, or an extension".into());
        }
        (None, Some(extension)) => Some(extension.to_owned()),
        (Some(name), None) => {
            if extension_of(name).is_none() {
                return Err(format!(
                    "the name {name:?} has no extension: give one (e.g. \"clip.mp4\") or send \
                     extension"
                ));
            }
            None
        }
        (Some(name), Some(extension)) => {
            if !extension_of(name).is_some_and(|own| own.eq_ignore_ascii_case(extension)) {
                return Err(format!(
                    "the name {name:?} and the extension {extension:?} disagree"
                ));
            }
            None
        }
    };
    Ok(Announced::Realtime { extension_only })
}

/// A normal asset: a name, its size and part count, within S3's limits.
fn normal(fields: &AssetFields, name: Option<&str>) -> Result<Announced, String> {
    let required = || "name, filesize and parts (1 to 10000) are required".to_owned();
    name.ok_or_else(required)?;
    let filesize = fields
        .filesize
        .filter(|size| *size > 0)
        .ok_or_else(required)?;
    let parts = fields
        .parts
        .and_then(|parts| u32::try_from(parts).ok())
        .filter(|parts| (1..=MAX_PARTS).contains(parts))
        .ok_or_else(required)?;
    if u64::from(parts) > filesize {
        return Err("more parts than bytes".into());
    }
    if filesize > MAX_OBJECT {
        return Err(format!(
            "filesize is {filesize} bytes; an asset is at most 5 TiB ({MAX_OBJECT} bytes)"
        ));
    }
    if filesize > MAX_HELD_BYTES {
        return Err(format!(
            "filesize is {filesize} bytes; the demo server keeps at most {MAX_HELD_BYTES} \
             bytes (32 GiB) of media"
        ));
    }
    Ok(Announced::Normal { filesize, parts })
}

/// `extension` when it is one: a dot and at least one more character (`\..+`).
fn checked_extension(extension: &str) -> Result<&str, String> {
    let extension = extension.trim();
    let ok = extension.len() > 1
        && extension.starts_with('.')
        && extension.chars().count() <= EXTENSION_CHARS
        && !extension.contains(['/', '\\'])
        && !extension.chars().any(char::is_control);
    if ok {
        Ok(extension)
    } else {
        Err(format!(
            "extension must be a dot and a few characters, e.g. \".mp4\" (got {extension:?})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        headers
    }

    fn read(body: &str) -> Result<Announcement, String> {
        announcement(&json_headers(), body.as_bytes(), CreatedVia::Devices)
    }

    #[test]
    fn extensions_are_read_from_names() {
        assert_eq!(extension_of("clip.mp4"), Some(".mp4"));
        assert_eq!(extension_of("a.b.MOV"), Some(".MOV"));
        for none in ["clip", ".mp4", "clip.", ""] {
            assert_eq!(extension_of(none), None, "{none}");
        }
    }

    #[test]
    fn real_time_announcements_follow_the_spec() {
        let ok = read(r#"{"is_realtime_upload": true, "filetype": "video/mp4", "name": "c.mp4"}"#)
            .unwrap();
        assert_eq!(
            ok.kind,
            Announced::Realtime {
                extension_only: None
            }
        );
        let by_extension =
            read(r#"{"is_realtime_upload": true, "filetype": "video/mp4", "extension": ".mp4"}"#)
                .unwrap();
        assert_eq!(
            by_extension.kind,
            Announced::Realtime {
                extension_only: Some(".mp4".into())
            }
        );
        for (body, says) in [
            (
                r#"{"is_realtime_upload": true, "filetype": "video/mp4", "name": "clip"}"#,
                "no extension",
            ),
            (
                r#"{"is_realtime_upload": true, "filetype": "video/mp4", "name": "c.mov", "extension": ".mp4"}"#,
                "disagree",
            ),
            (
                r#"{"is_realtime_upload": true, "name": "c.mp4"}"#,
                "filetype",
            ),
            (
                r#"{"is_realtime_upload": true, "filetype": "video/mp4", "name": "c.mp4", "filesize": 10}"#,
                "filesize is for normal uploads",
            ),
            (
                r#"{"is_realtime_upload": true, "filetype": "video/mp4", "extension": "mp4"}"#,
                "extension must be",
            ),
            (
                r#"{"is_realtime_upload": true, "filetype": "video/mp4"}"#,
                "needs a name",
            ),
        ] {
            let error = read(body).unwrap_err();
            assert!(error.contains(says), "{body}: {error}");
        }
        // Null filesize is the same as none.
        assert!(
            read(r#"{"is_realtime_upload": true, "filetype": "v/m", "name": "c.mp4", "filesize": null}"#)
                .is_ok()
        );
        let mut form = HeaderMap::new();
        form.insert(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let body = b"is_realtime_upload=true&filetype=video%2Fmp4&name=c.mp4";
        assert!(
            announcement(&form, body, CreatedVia::Devices)
                .unwrap_err()
                .contains("JSON")
        );
        let normal = b"name=c.mp4&filetype=video%2Fmp4&filesize=100&parts=1";
        assert_eq!(
            announcement(&form, normal, CreatedVia::Devices)
                .unwrap()
                .kind,
            Announced::Normal {
                filesize: 100,
                parts: 1
            }
        );
    }

    #[test]
    fn normal_announcements_need_sizes_within_s3s_limits() {
        let body = r#"{"name": "c.mp4", "filetype": "video/mp4", "filesize": "100", "parts": 2, "offset": 0, "channel": 1}"#;
        assert_eq!(
            read(body).unwrap().kind,
            Announced::Normal {
                filesize: 100,
                parts: 2
            }
        );
        for body in [
            r#"{"name": "c.mp4", "filesize": 100}"#,
            r#"{"name": "", "filesize": 100, "parts": 1}"#,
            r#"{"name": "c.mp4", "filesize": 0, "parts": 1}"#,
            r#"{"name": "c.mp4", "filesize": 100000, "parts": 10001}"#,
            r#"{"name": "c.mp4", "filesize": 3, "parts": 4}"#,
            r#"{"name": "c.mp4", "filesize": 5497558138881, "parts": 1}"#,
            r#"{"name": "c.mp4", "filesize": -1, "parts": 1}"#,
            "not json",
        ] {
            assert!(read(body).is_err(), "{body}");
        }
    }

    #[test]
    fn the_offset_is_read_as_a_number_or_as_text() {
        let with = |offset: &str| {
            read(&format!(
                r#"{{"name": "c.mp4", "filesize": 10, "parts": 1, "offset": {offset}}}"#
            ))
            .map(|announced| announced.offset)
        };
        assert_eq!(with("30"), Ok(Some(30)));
        assert_eq!(with(r#"" 45 ""#), Ok(Some(45)));
        assert_eq!(with("null"), Ok(None));
        assert_eq!(
            read(r#"{"name": "c.mp4", "filesize": 10, "parts": 1}"#)
                .unwrap()
                .offset,
            None
        );
        assert!(with("-5").is_err());
        assert!(with(r#""soon""#).is_err());
    }
}
