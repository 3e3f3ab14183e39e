//! The C2C device endpoints, shaped as Frame.io documents them (spec §3).

use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::header::{CACHE_CONTROL, RETRY_AFTER};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::fault::Fault;
use super::form::FormFields;
use super::guard::{self, Verdict};
use super::limits::{CLIENT_ID_CHARS, FORM_BYTES};
use super::reply::{Details, authenticated, not_authorized, oauth_error};
use super::state::{CodeRefused, IssuedTokens, LoggedRequest, now_unix_ms};
use super::upload::upload_part;
use super::{Peer, Shared, media, page};
use crate::c2c::model::{
    CLIENT_VERSION_HEADER, DEVICE_CODE_GRANT, OAuthErrorCode, REFRESH_TOKEN_GRANT,
    URL_PAIRING_HEADER,
};

/// The device API routes, each request logged for the control API.
pub fn routes(shared: Shared) -> Router<Shared> {
    let small = Router::new()
        .route("/v2/auth/device/code", post(device_code))
        .route("/v2/auth/token", post(token))
        .route("/v2/auth/revoke", post(revoke))
        .route("/v2/devices/me", get(device_info))
        .route("/v2/devices/heartbeat", post(heartbeat))
        .merge(media::routes())
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .layer(DefaultBodyLimit::max(FORM_BYTES));
    Router::new()
        .merge(small)
        // Each part is streamed to disk against its own size (see `upload_part`).
        .route(
            "/_uploads/{asset}/{part}",
            put(upload_part).layer(DefaultBodyLimit::disable()),
        )
        .layer(middleware::from_fn_with_state(shared, log_request))
}

async fn log_request(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let client_version = request
        .headers()
        .get(CLIENT_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let fault = shared.lock().faults().next(&path);
    let response = match &fault {
        None => next.run(request).await,
        Some(fault) if fault.serves() => {
            if let Fault::Delay { ms } = fault {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
            }
            let answer = fault.decorate(next.run(request).await);
            if fault.loses_answer() {
                // The work is done; the answer never leaves.
                peer.cut.cut();
            }
            answer
        }
        Some(fault) => {
            tracing::debug!(%path, fault = %fault.name(), "fault injected");
            fault.answer()
        }
    };
    let details = response
        .extensions()
        .get::<Details>()
        .cloned()
        .unwrap_or_default();
    let entry = LoggedRequest {
        at: 0.0,
        at_unix_ms: 0,
        method,
        path,
        client_version,
        client_id: details.client_id,
        grant_type: details.grant_type,
        status: response.status().as_u16(),
        fault: fault.map(|f| f.name()),
        error: details.error,
    };
    shared.lock().record(entry, Instant::now());
    response
}

/// Seconds as an integer when whole, else as a float (so tests can use short intervals).
fn seconds(duration: Duration) -> Value {
    if duration.subsec_nanos() == 0 {
        json!(duration.as_secs())
    } else {
        json!(duration.as_secs_f64())
    }
}

/// Adds the request's client id and grant type to a response's log entry.
fn with_details(mut response: Response, form: &FormFields) -> Response {
    let details = response.extensions_mut().get_or_insert_default::<Details>();
    details.client_id = form.get("client_id").map(str::to_owned);
    details.grant_type = form.get("grant_type").map(str::to_owned);
    response
}

/// Why a request did not identify a client: an OAuth code and its description.
struct Rejected(OAuthErrorCode, &'static str);

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        oauth_error(StatusCode::BAD_REQUEST, &self.0, Some(self.1))
    }
}

/// Checks the fields every OAuth endpoint needs; the client id on success.
fn authenticate_client<'a>(shared: &Shared, form: &'a FormFields) -> Result<&'a str, Rejected> {
    let client_id = form.get("client_id").unwrap_or_default();
    if client_id.trim().is_empty() {
        return Err(Rejected(
            OAuthErrorCode::InvalidRequest,
            "client_id is required",
        ));
    }
    if client_id.chars().count() > CLIENT_ID_CHARS || client_id.chars().any(char::is_control) {
        return Err(Rejected(
            OAuthErrorCode::InvalidRequest,
            "client_id must be at most 128 characters, without control characters",
        ));
    }
    if !shared.lock().client_secret_ok(form.get("client_secret")) {
        // Frame.io answers a wrong secret with HTTP 400 invalid_client (spec §3.1).
        return Err(Rejected(
            OAuthErrorCode::InvalidClient,
            "the client secret is not valid for this server",
        ));
    }
    Ok(client_id)
}

/// Too many requests from one address: 429 with `Retry-After` and an OAuth body.
fn too_many(code: &OAuthErrorCode, wait: Duration, description: &str) -> Response {
    let mut response = oauth_error(StatusCode::TOO_MANY_REQUESTS, code, Some(description));
    let seconds = wait.as_secs().max(1).to_string();
    if let Ok(value) = seconds.parse() {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

async fn device_code(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    form: FormFields,
) -> Response {
    let response = match authenticate_client(&shared, &form) {
        Err(rejected) => rejected.into_response(),
        Ok(client_id) => {
            let requester = guard::client_of(peer.remote.ip());
            let issued = shared
                .lock()
                .issue_code(client_id, requester, Instant::now());
            let issued = match issued {
                Ok(issued) => issued,
                Err(refused @ CodeRefused::TooManyForAddress) => {
                    let wait = Duration::from_secs(60);
                    let code = OAuthErrorCode::SlowDown;
                    return with_details(too_many(&code, wait, &refused.to_string()), &form);
                }
                Err(refused @ CodeRefused::Full) => {
                    let code = OAuthErrorCode::Other("temporarily_unavailable".into());
                    let answer = oauth_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &code,
                        Some(&refused.to_string()),
                    );
                    return with_details(answer, &form);
                }
            };
            let mut body = json!({
                "device_code": issued.device_code,
                "user_code": issued.user_code,
                "expires_in": seconds(issued.expires_in),
                "interval": seconds(issued.interval),
                "name": client_id,
            });
            let url_pairing = headers
                .get(URL_PAIRING_HEADER)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
            // Like Frame.io, links only in URL-pairing mode; otherwise the code alone.
            if url_pairing {
                let page = shared
                    .public_url
                    .join(page::PATH)
                    .map(String::from)
                    .unwrap_or_default();
                body["verification_uri_complete"] = json!(format!("{page}/{}", issued.user_code));
                body["verification_uri"] = json!(page);
            }
            (StatusCode::OK, Json(body)).into_response()
        }
    };
    with_details(response, &form)
}

async fn token(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    form: FormFields,
) -> Response {
    let now = Instant::now();
    if let Verdict::Limited(wait) | Verdict::LockedOut(wait) =
        shared.lock().guard().token_request(peer.remote.ip(), now)
    {
        let answer = too_many(
            &OAuthErrorCode::SlowDown,
            wait,
            "too many token requests from this address",
        );
        return with_details(answer, &form);
    }
    let response = match authenticate_client(&shared, &form) {
        Err(rejected) => rejected.into_response(),
        Ok(client_id) => {
            let result = match form.get("grant_type") {
                Some(DEVICE_CODE_GRANT) => match form.get("device_code") {
                    Some(code) => shared.lock().poll(client_id, code, now),
                    None => Err(OAuthErrorCode::InvalidRequest),
                },
                Some(REFRESH_TOKEN_GRANT) => match form.get("refresh_token") {
                    Some(token) => shared.lock().refresh(client_id, token, now),
                    None => Err(OAuthErrorCode::InvalidRequest),
                },
                _ => Err(OAuthErrorCode::Other("unsupported_grant_type".into())),
            };
            match result {
                Ok(tokens) => token_answer(&tokens),
                Err(code) => oauth_error(StatusCode::BAD_REQUEST, &code, None),
            }
        }
    };
    with_details(response, &form)
}

fn token_answer(tokens: &IssuedTokens) -> Response {
    let body = json!({
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_in": seconds(tokens.expires_in),
        "token_type": "bearer",
    });
    // RFC 6749 §5.1: token answers must not be cached.
    (StatusCode::OK, [(CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

async fn revoke(State(shared): State<Shared>, form: FormFields) -> Response {
    let response = match authenticate_client(&shared, &form) {
        Err(rejected) => rejected.into_response(),
        Ok(client_id) => match form.get("token") {
            None => oauth_error(
                StatusCode::BAD_REQUEST,
                &OAuthErrorCode::InvalidRequest,
                Some("token is required"),
            ),
            Some(token) => {
                shared.lock().revoke(client_id, token);
                Json(json!({"success": true})).into_response()
            }
        },
    };
    with_details(response, &form)
}

async fn device_info(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let Some((device, details)) = authenticated(&shared, &headers) else {
        return not_authorized();
    };
    let status = {
        let state = shared.lock();
        if state.is_paused(&device.client_id) {
            "paused"
        } else if state.online().is_online(
            &device.client_id,
            now_unix_ms(),
            state.offline_after_ms(),
        ) {
            "online"
        } else {
            "offline"
        }
    };
    let body = json!({
        "_type": "project_device",
        "id": device.id,
        "name": device.name,
        "project_id": device.project.id,
        "project": {"_type": "project", "id": device.project.id, "name": device.project.name},
        "status": status,
        "asset_type": "video",
    });
    (Extension(details), Json(body)).into_response()
}

/// `POST /v2/devices/heartbeat`: the only call that keeps a device online (see
/// [`super::online`]).
async fn heartbeat(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    match authenticated(&shared, &headers) {
        Some((device, details)) => {
            shared.lock().heartbeat(&device.client_id, now_unix_ms());
            (StatusCode::NO_CONTENT, Extension(details)).into_response()
        }
        None => not_authorized(),
    }
}
