//! The control API for tests and demos: approve, deny or expire a code, force `slow_down`,
//! and read the codes, devices and request log. JSON in and out, under `/_control`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::Shared;
use super::fault::Fault;
use super::state::ApprovalError;

/// The control API answers this machine only, even when the server listens on the network:
/// a visitor's phone may open the approval page, not approve or expire codes at will.
async fn loopback_only(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if peer.ip().is_loopback() {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            Json(json!({"ok": false, "error": "the control API answers this machine only"})),
        )
            .into_response()
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
        .route("/_control/devices/{client_id}/pause", post(pause))
        .route("/_control/devices/{client_id}/resume", post(resume))
        .route("/_control/faults", post(fault))
        .route("/_control/faults/clear", post(clear_faults))
        .route("/_control/chaos", post(chaos))
        .layer(axum::middleware::from_fn(loopback_only))
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

async fn assets(State(shared): State<Shared>) -> Response {
    Json(shared.lock().assets().to_vec()).into_response()
}

async fn pause(State(shared): State<Shared>, Path(client_id): Path<String>) -> Response {
    shared.lock().set_paused(&client_id, true);
    answer(Ok(()))
}

async fn resume(State(shared): State<Shared>, Path(client_id): Path<String>) -> Response {
    shared.lock().set_paused(&client_id, false);
    answer(Ok(()))
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

async fn devices(State(shared): State<Shared>) -> Response {
    Json(shared.lock().devices()).into_response()
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
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt as _;

    async fn status_from(peer: [u8; 4]) -> StatusCode {
        let app = crate::demo::router_for_tests();
        let mut request = axum::http::Request::builder()
            .uri("/_control/codes")
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 50_000))));
        app.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn the_control_api_answers_this_machine_only() {
        assert_eq!(status_from([127, 0, 0, 1]).await, StatusCode::OK);
        assert_eq!(status_from([192, 168, 1, 23]).await, StatusCode::FORBIDDEN);
    }
}
