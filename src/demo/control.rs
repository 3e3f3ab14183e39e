//! The control API for tests and demos: approve, deny or expire a code, force `slow_down`,
//! and read the codes, devices and request log. JSON in and out, under `/_control`.
//!
//! It answers programs on this machine only, never a web page: the peer must be loopback
//! (IPv4-mapped loopback included), the `Host` header must name a loopback host (so a DNS
//! rebinding page cannot reach it under its own name), and every call carries the
//! [`CONTROL_HEADER`], which no page can add without a CORS preflight that is never granted.
//! A form-like POST (the kind a page can send without asking) is refused too.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::header::{CONNECTION, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::fault::Fault;
use super::limits::CLIENT_ID_CHARS;
use super::state::{ApprovalError, now_unix_ms};
use super::upload_fault::UploadFaultSettings;
use super::{Peer, Shared, latency, network, outage, pauses};

/// The header every control call carries, with the value `1`.
pub const CONTROL_HEADER: &str = "x-c2c-control";

/// Why a request may not use the control API, if it may not.
fn refusal(peer: &Peer, method: &Method, headers: &HeaderMap) -> Option<&'static str> {
    if !network::is_loopback(peer.remote.ip()) {
        return Some("the control API answers this machine only");
    }
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !network::is_loopback_host(host) {
        return Some("the control API answers requests to a loopback host only");
    }
    if headers.get(CONTROL_HEADER).map(|v| v.as_bytes()) != Some(b"1") {
        return Some("control calls carry the header x-c2c-control: 1");
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let form_like = [
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "text/plain",
    ]
    .iter()
    .any(|form| content_type.starts_with(form));
    if *method == Method::POST && form_like {
        return Some("control calls send JSON (or no body), never a form");
    }
    None
}

/// The control API answers programs on this machine only, even when the server listens on
/// the network: a visitor's phone may open the approval page, not approve or expire codes at
/// will, and neither may a web page open in this machine's browser.
async fn programs_on_this_machine_only(
    ConnectInfo(peer): ConnectInfo<Peer>,
    request: Request,
    next: Next,
) -> Response {
    match refusal(&peer, request.method(), request.headers()) {
        None => next.run(request).await,
        Some(reason) => (
            StatusCode::FORBIDDEN,
            Json(json!({"ok": false, "error": reason})),
        )
            .into_response(),
    }
}

/// The control API routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_control/codes", get(codes))
        .route("/_control/codes/{code}/approve", post(approve))
        .route("/_control/codes/{code}/deny", post(deny))
        .route("/_control/codes/{code}/expire", post(expire))
        .route("/_control/slow_down", post(slow_down))
        .route("/_control/requests", get(requests))
        .route("/_control/devices", get(devices))
        .route(
            "/_control/devices/{client_id}/expire_access",
            post(expire_access),
        )
        .route("/_control/devices/{client_id}/revoke", post(revoke_device))
        .route("/_control/devices/{client_id}/remove", post(remove_device))
        .route("/_control/issued/{client_id}", get(issued))
        .route("/_control/assets", get(assets))
        .route("/_control/assets/legacy_only", post(legacy_only))
        .route("/_control/uploads/fault", post(upload_fault))
        .route("/_control/uploads/fault/clear", post(clear_upload_faults))
        .route("/_control/uploads/strict_headers", post(strict_headers))
        .route("/_control/pause_refuses_all", post(pause_refuses_all))
        .route("/_control/latency", post(set_latency))
        .route("/_control/outage", post(begin_outage))
        .route("/_control/devices/{client_id}/pause", post(pause))
        .route("/_control/devices/{client_id}/resume", post(resume))
        .route("/_control/faults", post(fault))
        .route("/_control/faults/clear", post(clear_faults))
        .route("/_control/chaos", post(chaos))
        .route("/_control/stats", get(stats))
        .layer(axum::middleware::from_fn(programs_on_this_machine_only))
}

/// `?reveal=1` adds each secret device code (for leak tests).
#[derive(Deserialize)]
struct CodesQuery {
    #[serde(default)]
    reveal: u8,
}

async fn codes(State(shared): State<Shared>, Query(query): Query<CodesQuery>) -> Response {
    Json(shared.lock().codes(Instant::now(), query.reveal == 1)).into_response()
}

/// Optional body of an approval.
#[derive(Debug, Default, Deserialize)]
struct Approval {
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    device_name: Option<String>,
}

async fn approve(
    State(shared): State<Shared>,
    Path(code): Path<String>,
    body: Option<Json<Approval>>,
) -> Response {
    let Json(approval) = body.unwrap_or_default();
    let result = shared.lock().approve(
        &code,
        approval.project.as_deref(),
        approval.device_name.as_deref(),
        Instant::now(),
    );
    answer(result)
}

async fn deny(State(shared): State<Shared>, Path(code): Path<String>) -> Response {
    answer(shared.lock().deny(&code, Instant::now()))
}

async fn expire(State(shared): State<Shared>, Path(code): Path<String>) -> Response {
    answer(shared.lock().expire(&code))
}

#[derive(Deserialize)]
struct SlowDown {
    count: u32,
}

async fn slow_down(State(shared): State<Shared>, Json(body): Json<SlowDown>) -> Response {
    shared.lock().force_slow_down(body.count);
    answer(Ok(()))
}

/// Every token set issued to a device, with `?reveal=1` only: they are secrets.
async fn issued(
    State(shared): State<Shared>,
    Path(client_id): Path<String>,
    Query(query): Query<CodesQuery>,
) -> Response {
    if query.reveal != 1 {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"ok": false, "error": "add ?reveal=1"})),
        )
            .into_response();
    }
    Json(shared.lock().issued(&client_id).to_vec()).into_response()
}

/// `{"assets": [...]}`: every asset with its parts, oldest first.
async fn assets(State(shared): State<Shared>) -> Response {
    let assets = shared.lock().assets().views();
    Json(json!({ "assets": assets })).into_response()
}

/// Plays an older Frame.io that knows only `POST /v2/assets` (or stops).
async fn legacy_only(
    State(shared): State<Shared>,
    body: Result<Json<Switch>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(Switch { on })) => {
            shared.lock().set_legacy_only(on);
            answer(Ok(()))
        }
        Err(rejection) => bad_request(&format!("send {{\"on\": true}} or false: {rejection}")),
    }
}

/// Sets upload faults: `drop_after_bytes`, `stall_after_bytes` (the next part upload),
/// `read_bytes_per_second` (every part upload until cleared), `upload_urls_delta` (every
/// normal asset until cleared); fields may be combined.
async fn upload_fault(
    State(shared): State<Shared>,
    body: Result<Json<UploadFaultSettings>, JsonRejection>,
) -> Response {
    let settings = match body {
        Ok(Json(settings)) if !settings.is_empty() => settings,
        Ok(_) => {
            return bad_request(
                "give drop_after_bytes, stall_after_bytes, read_bytes_per_second or \
                 upload_urls_delta",
            );
        }
        Err(rejection) => return bad_request(&rejection.body_text()),
    };
    let mut state = shared.lock();
    state.upload_faults().set(settings);
    let now = state.upload_faults().settings();
    Json(json!({"ok": true, "faults": now})).into_response()
}

async fn clear_upload_faults(State(shared): State<Shared>) -> Response {
    shared.lock().upload_faults().clear();
    answer(Ok(()))
}

fn bad_request(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"ok": false, "error": why})),
    )
        .into_response()
}

/// Body of `POST /_control/devices/{client_id}/pause`: a window, Unix seconds (`until`
/// left out: paused from `from` until resumed).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseWindow {
    from: f64,
    #[serde(default)]
    until: Option<f64>,
}

/// Pauses a device now until resumed (no body), or records a window (`{"from", "until"?}`):
/// media created during a window is refused when its asset is created.
async fn pause(
    State(shared): State<Shared>,
    Path(client_id): Path<String>,
    body: Result<Option<Json<PauseWindow>>, JsonRejection>,
) -> Response {
    if client_id.chars().count() > CLIENT_ID_CHARS {
        // No device has such an id (pairing refuses it); the windows kept stay small.
        return bad_request("a client id has at most 128 characters");
    }
    let window = match body {
        Ok(window) => window.map(|Json(window)| window),
        Err(rejection) => {
            return bad_request(&format!(
                "send no body, or {{\"from\": unix seconds, \"until\": unix seconds}}: {rejection}"
            ));
        }
    };
    let Some(PauseWindow { from, until }) = window else {
        shared.lock().pause(&client_id, now_unix_ms());
        return answer(Ok(()));
    };
    let (Some(from), Ok(until)) = (
        pauses::millis(from),
        until
            .map(|until| pauses::millis(until).ok_or(()))
            .transpose(),
    ) else {
        return bad_request("from and until are Unix seconds, 0 or more");
    };
    match shared.lock().record_pause(&client_id, from, until) {
        Ok(()) => answer(Ok(())),
        Err(refused) => bad_request(&refused.to_string()),
    }
}

/// Resumes a paused device now (its open window closes).
async fn resume(State(shared): State<Shared>, Path(client_id): Path<String>) -> Response {
    shared.lock().resume(&client_id, now_unix_ms());
    answer(Ok(()))
}

/// Body of the `{"on": bool}` switches.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    on: bool,
}

/// Part uploads must carry the headers their URL signs (`Content-Type`, `x-amz-acl`), or not.
async fn strict_headers(
    State(shared): State<Shared>,
    body: Result<Json<Switch>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(Switch { on })) => {
            shared.lock().set_strict_headers(on);
            Json(json!({"ok": true, "strict_headers": on})).into_response()
        }
        Err(rejection) => bad_request(&format!("send {{\"on\": true}} or false: {rejection}")),
    }
}

/// While a device is paused, refuse every new asset whatever its `offset` (on), or judge each
/// file by when it was made, as Frame.io documents (off, the default).
async fn pause_refuses_all(
    State(shared): State<Shared>,
    body: Result<Json<Switch>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(Switch { on })) => {
            shared.lock().set_pause_refuses_all(on);
            Json(json!({"ok": true, "pause_refuses_all": on})).into_response()
        }
        Err(rejection) => bad_request(&format!("send {{\"on\": true}} or false: {rejection}")),
    }
}

/// Body of `POST /_control/latency`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Latency {
    ms: u64,
}

/// A delay before every request is handled (control calls aside), until set to 0.
async fn set_latency(
    State(shared): State<Shared>,
    body: Result<Json<Latency>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(Latency { ms })) => {
            let latency = latency::clamped(ms);
            shared.lock().set_latency(latency);
            let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
            Json(json!({"ok": true, "latency_ms": ms})).into_response()
        }
        Err(rejection) => bad_request(&format!(
            "send {{\"ms\": milliseconds}} (0 for none): {rejection}"
        )),
    }
}

/// Body of `POST /_control/outage`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageLength {
    seconds: f64,
}

/// The network gone for a while: answers first (and closes this connection), then the server
/// does not listen and every other connection is cut, until it listens again.
async fn begin_outage(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    body: Result<Json<OutageLength>, JsonRejection>,
) -> Response {
    let longest = outage::LONGEST.as_secs_f64();
    let seconds = match body {
        Ok(Json(OutageLength { seconds })) if seconds > 0.0 && seconds <= longest => seconds,
        Ok(_) => return bad_request("seconds is more than 0 and at most 3600"),
        Err(rejection) => {
            return bad_request(&format!("send {{\"seconds\": n}}: {rejection}"));
        }
    };
    shared
        .outage
        .begin(Duration::from_secs_f64(seconds), Some(peer.cut.id()))
        .await;
    (
        [(CONNECTION, "close")],
        Json(json!({"ok": true, "seconds": seconds})),
    )
        .into_response()
}

async fn expire_access(State(shared): State<Shared>, Path(client_id): Path<String>) -> Response {
    answer(shared.lock().expire_access(&client_id, Instant::now()))
}

async fn revoke_device(State(shared): State<Shared>, Path(client_id): Path<String>) -> Response {
    answer(shared.lock().revoke_device(&client_id))
}

async fn remove_device(State(shared): State<Shared>, Path(client_id): Path<String>) -> Response {
    answer(shared.lock().remove_device(&client_id))
}

/// Body of a fault injection: `fault` for the next `count` requests to `path`.
#[derive(Deserialize)]
struct FaultRequest {
    path: String,
    fault: Fault,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

async fn fault(State(shared): State<Shared>, Json(body): Json<FaultRequest>) -> Response {
    shared
        .lock()
        .faults()
        .push(&body.path, body.fault, body.count);
    answer(Ok(()))
}

/// Body of a chaos setting: a random fault for this share of requests, from a seed.
#[derive(Deserialize)]
struct ChaosRequest {
    rate: f64,
    #[serde(default)]
    seed: u64,
}

async fn chaos(State(shared): State<Shared>, Json(body): Json<ChaosRequest>) -> Response {
    shared.lock().faults().set_chaos(body.rate, body.seed);
    answer(Ok(()))
}

async fn clear_faults(State(shared): State<Shared>) -> Response {
    shared.lock().faults().clear();
    answer(Ok(()))
}

async fn requests(State(shared): State<Shared>) -> Response {
    Json(shared.lock().log()).into_response()
}

async fn stats(State(shared): State<Shared>) -> Response {
    Json(shared.lock().stats()).into_response()
}

/// Paired devices with their online state (heartbeats) and pauses.
async fn devices(State(shared): State<Shared>) -> Response {
    Json(shared.lock().device_views(now_unix_ms())).into_response()
}

fn answer(result: Result<(), ApprovalError>) -> Response {
    match result {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(error) => {
            let status = match error {
                ApprovalError::Unknown(_)
                | ApprovalError::UnknownProject(_)
                | ApprovalError::UnknownDevice(_) => StatusCode::NOT_FOUND,
                ApprovalError::Expired(_) | ApprovalError::Settled(..) => StatusCode::CONFLICT,
            };
            (
                status,
                Json(json!({"ok": false, "error": error.to_string()})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use axum::body::Body;
    use tower::ServiceExt as _;

    /// A control call from `peer` to `host`, with or without the control header.
    async fn status_of(
        peer: SocketAddr,
        host: &str,
        header: bool,
        request: http::request::Builder,
    ) -> StatusCode {
        let app = crate::demo::router_for_tests();
        let mut request = request.header(HOST, host);
        if header {
            request = request.header(CONTROL_HEADER, "1");
        }
        let mut request = request.body(Body::empty()).unwrap();
        let local = SocketAddr::from(([127, 0, 0, 1], 9));
        request.extensions_mut().insert(ConnectInfo(Peer {
            remote: peer,
            local,
            cut: crate::demo::connection::Cut::default(),
        }));
        app.oneshot(request).await.unwrap().status()
    }

    fn get_codes() -> http::request::Builder {
        http::Request::builder().uri("/_control/codes")
    }

    fn from(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 50_000)
    }

    #[tokio::test]
    async fn the_control_api_answers_programs_on_this_machine_only() {
        let here = from("127.0.0.1");
        assert_eq!(
            status_of(here, "127.0.0.1:9", true, get_codes()).await,
            StatusCode::OK
        );
        assert_eq!(
            status_of(here, "localhost:9", true, get_codes()).await,
            StatusCode::OK
        );
        let mapped = from("::ffff:127.0.0.1");
        assert_eq!(
            status_of(mapped, "[::1]:9", true, get_codes()).await,
            StatusCode::OK
        );
        // Another machine, even naming a loopback host.
        let phone = from("192.168.1.23");
        assert_eq!(
            status_of(phone, "127.0.0.1:9", true, get_codes()).await,
            StatusCode::FORBIDDEN
        );
        // A DNS-rebinding page: this machine, but the Host is the page's own name.
        for host in ["evil.example:9", "10.0.0.5:9", "", "127.0.0.1.evil.example"] {
            assert_eq!(
                status_of(here, host, true, get_codes()).await,
                StatusCode::FORBIDDEN,
                "{host}"
            );
        }
        // No custom header: what a page's plain request looks like.
        assert_eq!(
            status_of(here, "127.0.0.1:9", false, get_codes()).await,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn a_page_style_form_post_changes_nothing() {
        let here = from("127.0.0.1");
        let post = |content_type: &str| {
            http::Request::builder()
                .method(Method::POST)
                .uri("/_control/slow_down")
                .header(CONTENT_TYPE, content_type)
        };
        for form in [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain",
        ] {
            assert_eq!(
                status_of(here, "127.0.0.1:9", true, post(form)).await,
                StatusCode::FORBIDDEN,
                "{form}"
            );
        }
        // A bodiless POST without the header: refused before it reaches the handler.
        let bare = http::Request::builder()
            .method(Method::POST)
            .uri("/_control/codes/123456/deny");
        assert_eq!(
            status_of(here, "127.0.0.1:9", false, bare).await,
            StatusCode::FORBIDDEN
        );
    }
}
