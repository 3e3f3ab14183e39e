//! The answers every handler of the device API shares: the request log's details, the OAuth
//! and detailed error shapes (spec §1), 409 Channel Paused, and the device a bearer token
//! belongs to. A leaf: handlers import it, it imports no handler.

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::{Extension, Json};
use serde_json::json;
use tokio::time::Instant;

use super::Shared;
use super::state::DemoDevice;
use crate::c2c::model::OAuthErrorCode;

/// What a handler tells the request log beyond method, path and status.
#[derive(Clone, Default)]
pub struct Details {
    /// The client the request named or authenticated as.
    pub client_id: Option<String>,
    /// The grant type of a token request.
    pub grant_type: Option<String>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

impl Details {
    /// Details naming what went wrong, for the request log.
    pub fn error(text: &str) -> Self {
        Self {
            error: Some(text.to_owned()),
            ..Self::default()
        }
    }
}

/// `{"error": code, "error_description": ...}`, the OAuth endpoints' error shape.
pub fn oauth_error(
    status: StatusCode,
    code: &OAuthErrorCode,
    description: Option<&str>,
) -> Response {
    let mut body = json!({ "error": code.as_str() });
    if let Some(description) = description {
        body["error_description"] = json!(description);
    }
    let details = Details {
        error: Some(code.as_str().to_owned()),
        ..Details::default()
    };
    (status, Extension(details), Json(body)).into_response()
}

/// The detailed error shape of the non-OAuth endpoints (spec §1).
pub fn not_authorized() -> Response {
    let body = json!({
        "code": 401,
        "message": "Not Authorized",
        "errors": [{
            "code": 401, "status": 401, "title": "Not Authorized",
            "detail": "You are not allowed to access that resource"
        }]
    });
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// The detailed error shape (spec §1), with `message` saying what to do.
pub fn detailed(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = json!({
        "code": status.as_u16(), "message": message,
        "errors": [{"code": status.as_u16(), "status": status.as_u16(), "title": title,
                    "detail": message}]
    });
    (status, Json(body)).into_response()
}

/// 409 `Channel Paused`, as Frame.io answers media created while its device was paused
/// (clients look for the word "paused").
pub fn channel_paused() -> Response {
    let body = json!({
        "code": 409, "message": "Channel Paused",
        "errors": [{"code": 409, "status": 409, "title": "Channel Paused",
                    "detail": "The channel you're uploading from is currently paused."}]
    });
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// The bearer token of a request, if it carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The device whose bearer token this is, with the request details naming it.
pub fn authenticated(shared: &Shared, headers: &HeaderMap) -> Option<(DemoDevice, Details)> {
    let device =
        bearer(headers).and_then(|token| shared.lock().authenticate(token, Instant::now()))?;
    let details = Details {
        client_id: Some(device.client_id.clone()),
        ..Details::default()
    };
    Some((device, details))
}
