//! Size limits that keep a demo server on a public network within a fixed memory bound,
//! whatever arrives: request heads, form bodies and the text fields kept from them.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

/// Longest client id kept or accepted (as [`crate::device::DeviceId`]).
pub const CLIENT_ID_CHARS: usize = 128;
/// Longest device name or project choice accepted from the approval page.
pub const DEVICE_NAME_CHARS: usize = 64;
/// Longest asset name accepted (Frame.io: 255 characters).
pub const ASSET_NAME_CHARS: usize = 255;
/// S3 wants every part but the last to be at least 5 MiB.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's largest part: 5 GiB.
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// S3's largest object: 5 TiB.
pub const MAX_OBJECT: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Most parts one asset may have, and the highest part number (S3's limit).
pub const MAX_PARTS: u32 = 10_000;
/// Largest form or JSON body of the OAuth, device and page endpoints.
pub const FORM_BYTES: usize = 16 * 1024;
/// Largest request head (all header names and values together).
pub const HEAD_BYTES: usize = 16 * 1024;

/// Refuses a request whose headers add up to more than [`HEAD_BYTES`] (431), before any
/// handler copies them.
pub async fn bounded_head(request: Request, next: Next) -> Response {
    let size = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len().saturating_add(value.len()))
        .fold(0_usize, usize::saturating_add);
    if size > HEAD_BYTES || request.uri().to_string().len() > HEAD_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large",
        )
            .into_response();
    }
    next.run(request).await
}

/// `text` cut to at most `chars` characters, for what the server keeps (logs, names).
pub fn clipped(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_clipped_on_character_boundaries() {
        assert_eq!(clipped("héllo", 2), "hé");
        assert_eq!(clipped("abc", 5), "abc");
    }
}
