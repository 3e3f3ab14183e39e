//! Fault injection: what the demo server does instead of, or on top of, answering normally.
//!
//! Faults are queued per path and used one per request, or drawn at random for a share of all
//! requests ("chaos", for soak tests). Either way the real handler does not run for a fault
//! that replaces the answer, so server state only changes when a real answer was produced —
//! except for [`Fault::LoseAnswer`], whose point is work done and its answer lost.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

/// One misbehaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Wait this long, then answer normally.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Answer this HTTP status (detailed error shape), with `Retry-After` when given.
    Status {
        /// The status.
        status: u16,
        /// Seconds for `Retry-After`.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Close the connection before a complete answer.
    Reset,
    /// Promise a body, send half of it, close.
    Truncated,
    /// 200 with a body that is not JSON.
    MalformedJson,
    /// 200 with an HTML page, as a captive portal or proxy sends.
    WrongContentType,
    /// 200 with a body over the client's 64 KiB cap.
    Oversized,
    /// An OAuth error answer (`slow_down`, `authorization_pending`, `expired_token`, …), with
    /// HTTP 400 or another status (a gateway's `503 {"error":"invalid_grant"}`).
    #[serde(rename = "oauth")]
    OAuth {
        /// The error code.
        error: String,
        /// The HTTP status; 400 when not given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
    },
    /// Answer normally, with a `Date` header this many seconds off.
    SkewedDate {
        /// Offset in seconds (negative: in the past).
        seconds: i64,
    },
    /// The real handler runs (the asset or comment is made), then the connection is cut
    /// without an answer: the client cannot know the work was done, so it must not simply
    /// send the request again. Queued only, never chosen by chaos.
    LoseAnswer,
}

impl Fault {
    /// A short name for tables and logs.
    pub fn name(&self) -> String {
        match self {
            Self::Delay { ms } => format!("delay {ms} ms"),
            Self::Status {
                status,
                retry_after: Some(after),
            } => {
                format!("HTTP {status}, Retry-After {after} s")
            }
            Self::Status {
                status,
                retry_after: None,
            } => format!("HTTP {status}"),
            Self::Reset => "connection reset".into(),
            Self::Truncated => "truncated body".into(),
            Self::MalformedJson => "malformed JSON".into(),
            Self::WrongContentType => "HTML instead of JSON".into(),
            Self::Oversized => "body over 64 KiB".into(),
            Self::OAuth {
                error,
                status: None,
            } => error.clone(),
            Self::OAuth {
                error,
                status: Some(status),
            } => format!("HTTP {status} + {error}"),
            Self::SkewedDate { seconds } => format!("Date header {seconds:+} s"),
            Self::LoseAnswer => "answer lost".into(),
        }
    }

    /// Whether the real handler still runs (the fault only delays or decorates its answer).
    pub fn serves(&self) -> bool {
        matches!(
            self,
            Self::Delay { .. } | Self::SkewedDate { .. } | Self::LoseAnswer
        )
    }

    /// Whether the connection is cut once the real handler has answered.
    pub fn loses_answer(&self) -> bool {
        matches!(self, Self::LoseAnswer)
    }

    /// The answer that replaces the real one, for faults that do not serve.
    pub fn answer(&self) -> Response {
        match self {
            Self::Status {
                status,
                retry_after,
            } => status_answer(*status, *retry_after),
            Self::Reset => broken_body(0),
            Self::Truncated => broken_body(60),
            Self::MalformedJson => json_text(r#"{"access_token": "abc", "refresh_token": "#),
            Self::WrongContentType => (
                StatusCode::OK,
                [(CONTENT_TYPE, "text/html; charset=utf-8")],
                "<html><body><h1>Welcome to Venue Wi-Fi</h1>Please accept the terms.</body></html>",
            )
                .into_response(),
            Self::Oversized => json_text(&format!(r#"{{"padding":"{}"}}"#, "x".repeat(100 * 1024))),
            Self::OAuth { error, status } => (
                status
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::BAD_REQUEST),
                axum::Json(serde_json::json!({ "error": error })),
            )
                .into_response(),
            Self::Delay { .. } | Self::SkewedDate { .. } | Self::LoseAnswer => {
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    /// Adds what a serving fault changes to the real answer.
    pub fn decorate(&self, mut response: Response) -> Response {
        if let Self::SkewedDate { seconds } = self {
            let now = SystemTime::now();
            let offset = Duration::from_secs(seconds.unsigned_abs());
            let date = if *seconds >= 0 {
                now + offset
            } else {
                now - offset
            };
            if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(date)) {
                response.headers_mut().insert(DATE, value);
            }
        }
        response
    }
}

fn status_answer(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let title = status.canonical_reason().unwrap_or("Injected fault");
    let body = serde_json::json!({
        "code": status.as_u16(), "message": title,
        "errors": [{"code": status.as_u16(), "status": status.as_u16(), "title": title,
                    "detail": "fault injected by the demo server's control API"}]
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn json_text(body: &str) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response()
}

/// A 200 that promises 120 bytes of JSON, sends `sent` of them, then breaks the connection.
fn broken_body(sent: usize) -> Response {
    let text = format!(r#"{{"access_token":"{}"}}"#, "t".repeat(100));
    let head = Bytes::from(text.as_bytes()[..sent.min(text.len())].to_vec());
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(head),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault: connection dropped",
        )),
    ];
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    response
}

/// Faults waiting per path, and the chaos setting.
#[derive(Default)]
pub struct Faults {
    queued: HashMap<String, VecDeque<Fault>>,
    chaos: Option<(f64, StdRng)>,
}

impl Faults {
    /// Queues `fault` for the next `count` requests to `path` (after any already queued); a
    /// path ending in `*` stands for every path that begins with what comes before it.
    pub fn push(&mut self, path: &str, fault: Fault, count: u32) {
        let queue = self.queued.entry(path.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(fault, count as usize));
    }

    /// Drops every queued fault and stops chaos.
    pub fn clear(&mut self) {
        self.queued.clear();
        self.chaos = None;
    }

    /// From now on, each request meets a random fault with probability `rate`.
    pub fn set_chaos(&mut self, rate: f64, seed: u64) {
        self.chaos = (rate > 0.0).then(|| (rate.min(1.0), StdRng::seed_from_u64(seed)));
    }

    /// The fault for this request to `path`, if any.
    pub fn next(&mut self, path: &str) -> Option<Fault> {
        if let Some(fault) = self.queued.get_mut(path).and_then(VecDeque::pop_front) {
            return Some(fault);
        }
        // A queued path ending in `*` stands for every path it begins (an asset's comments,
        // whose id the test does not know yet).
        let pattern = self.queued.iter_mut().find(|(queued, faults)| {
            !faults.is_empty()
                && queued
                    .strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        });
        if let Some((_, faults)) = pattern {
            return faults.pop_front();
        }
        let (rate, rng) = self.chaos.as_mut()?;
        if !rng.random_bool(*rate) {
            return None;
        }
        let choices = chaos_choices(path);
        Some(choices[rng.random_range(0..choices.len())].clone())
    }
}

/// What chaos may do to a request: failures a client must ride out, never a refusal that
/// would end a pairing on its own (those are tested one by one).
fn chaos_choices(path: &str) -> Vec<Fault> {
    let mut faults = vec![
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        Fault::Status {
            status: 502,
            retry_after: None,
        },
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        Fault::Reset,
        Fault::Truncated,
        Fault::MalformedJson,
        Fault::WrongContentType,
        Fault::Delay { ms: 150 },
        Fault::SkewedDate { seconds: 3600 },
    ];
    if path.ends_with("/token") {
        faults.push(Fault::OAuth {
            error: "slow_down".into(),
            status: None,
        });
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_come_first_then_chaos_at_its_rate() {
        let mut faults = Faults::default();
        faults.push("/v2/auth/token", Fault::Reset, 2);
        assert_eq!(faults.next("/v2/auth/token"), Some(Fault::Reset));
        assert_eq!(faults.next("/v2/auth/token"), Some(Fault::Reset));
        assert_eq!(faults.next("/v2/auth/token"), None);
        faults.set_chaos(0.05, 7);
        let hits = (0..10_000)
            .filter(|_| faults.next("/v2/devices/me").is_some())
            .count();
        assert!((400..600).contains(&hits), "{hits} of 10000 at 5 %");
        faults.clear();
        assert_eq!(faults.next("/v2/devices/me"), None);
    }

    #[test]
    fn a_path_ending_in_a_star_stands_for_every_path_it_begins() {
        let mut faults = Faults::default();
        faults.push("/v2/devices/assets/*", Fault::LoseAnswer, 1);
        assert_eq!(faults.next("/v2/devices/assets"), None);
        assert_eq!(
            faults.next("/v2/devices/assets/A1/comments"),
            Some(Fault::LoseAnswer)
        );
        assert_eq!(
            faults.next("/v2/devices/assets/A2/comments"),
            None,
            "used up"
        );
    }

    #[test]
    fn faults_read_as_json_the_control_api_takes() {
        let fault: Fault =
            serde_json::from_str(r#"{"kind":"status","status":429,"retry_after":3}"#).unwrap();
        assert_eq!(fault.name(), "HTTP 429, Retry-After 3 s");
        let lost: Fault = serde_json::from_str(r#"{"kind":"lose_answer"}"#).unwrap();
        assert_eq!(lost.name(), "answer lost");
        assert!(lost.serves() && lost.loses_answer());
        let mut chaos = Faults::default();
        chaos.set_chaos(1.0, 3);
        assert!(
            (0..2_000).all(|_| chaos.next("/v2/devices/assets") != Some(Fault::LoseAnswer)),
            "chaos never loses an answer"
        );
        let fault: Fault = serde_json::from_str(r#"{"kind":"oauth","error":"slow_down"}"#).unwrap();
        assert_eq!(
            fault,
            Fault::OAuth {
                error: "slow_down".into(),
                status: None,
            }
        );
    }
}
