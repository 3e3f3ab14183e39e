//! The approval page at the demo server's `verification_uri`: type the code (or arrive with it
//! pre-filled from `verification_uri_complete`), pick a project, Approve or Deny.
//!
//! The page is opened by strangers' phones on a booth network, so it gives nothing away and
//! takes nothing from other sites: every wrong, expired or used code gets the same answer (no
//! oracle of live codes), no device is named before a right code is entered, each address is
//! rate-limited and locked out after repeated wrong codes (RFC 8628 §5.1), and the form carries
//! a token bound to the page and the address that fetched it, under a restrictive
//! Content-Security-Policy, so another site can neither frame the page nor post to it.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use tokio::time::Instant;

use super::assets::AssetView;
use super::guard::Verdict;
use super::hex;
use super::limits::{DEVICE_NAME_CHARS, FORM_BYTES, clipped};
use super::state::{DemoState, DeviceView, now_unix_ms};
use super::{Peer, Shared, network};

/// Path of the approval page; `/pair/<code>` arrives pre-filled.
pub const PATH: &str = "/pair";
/// The page's style sheet (served, not inline, so the policy can forbid inline code).
const STYLE_PATH: &str = "/assets/pair.css";
/// The answer to every code that is not a live one.
pub const WRONG_CODE: &str =
    "That code did not work. Check the digits on the booth screen, or wait for a new code.";
/// How long a page's form stays valid.
const FORM_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest code field read (six digits, with room for spaces and dashes typed between).
const CODE_CHARS: usize = 16;

/// The approval page routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route(PATH, get(blank).post(decide))
        .route("/pair/{code}", get(prefilled))
        .route(STYLE_PATH, get(style))
        .layer(DefaultBodyLimit::max(FORM_BYTES))
}

/// Signs form tokens: a page's token proves the form came from this server, to this address,
/// within the last hour. Stateless, so a flood of page views costs no memory.
pub struct FormKey(ring::hmac::Key);

impl FormKey {
    /// A key of this server's run.
    pub fn random() -> Self {
        let secret: [u8; 32] = rand::random();
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret))
    }

    /// A token for a page shown to `ip` at `unix` seconds.
    fn token(&self, ip: IpAddr, unix: u64) -> String {
        format!("{unix}.{}", hex::encode(self.tag(ip, unix).as_ref()))
    }

    /// True when `token` is one of ours, for `ip`, and not older than [`FORM_LIFETIME`].
    fn accepts(&self, token: &str, ip: IpAddr, now_unix: u64) -> bool {
        let Some((issued, tag)) = token.split_once('.') else {
            return false;
        };
        let Ok(issued) = issued.parse::<u64>() else {
            return false;
        };
        let fresh =
            now_unix.saturating_sub(issued) <= FORM_LIFETIME.as_secs() && issued <= now_unix;
        let Some(tag) = hex::decode(tag) else {
            return false;
        };
        fresh && ring::hmac::verify(&self.0, &message(ip, issued), &tag).is_ok()
    }

    fn tag(&self, ip: IpAddr, unix: u64) -> ring::hmac::Tag {
        ring::hmac::sign(&self.0, &message(ip, unix))
    }
}

fn message(ip: IpAddr, unix: u64) -> Vec<u8> {
    let mut message = unix.to_be_bytes().to_vec();
    match network::canonical(ip) {
        IpAddr::V4(v4) => message.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => message.extend_from_slice(&v6.octets()),
    }
    message
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The page's security headers: nothing but our own style sheet loads, forms post only here,
/// no site may frame it, and no address leaves in a Referer.
fn guarded(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
        (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (status, headers, body).into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    guarded(status, "text/html; charset=utf-8", body)
}

async fn style() -> Response {
    guarded(StatusCode::OK, "text/css; charset=utf-8", STYLE.to_owned())
}

async fn blank(State(shared): State<Shared>, ConnectInfo(peer): ConnectInfo<Peer>) -> Response {
    let page = Page::new(&shared, &peer);
    html(StatusCode::OK, page.render(&shared.lock(), "", None))
}

/// Arrives from the QR code: the code is filled in, nothing about it is looked up.
async fn prefilled(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Path(code): Path<String>,
) -> Response {
    let code = normalise(&code);
    let page = Page::new(&shared, &peer);
    html(StatusCode::OK, page.render(&shared.lock(), &code, None))
}

#[derive(Deserialize)]
struct Decision {
    code: String,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    device_name: Option<String>,
    action: String,
    #[serde(default)]
    form_token: String,
}

async fn decide(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Form(decision): Form<Decision>,
) -> Response {
    let code = normalise(&decision.code);
    let now = Instant::now();
    let ip = peer.remote.ip();
    let page = Page::new(&shared, &peer);
    let mut state = shared.lock();
    match state.guard().approval(ip, now) {
        Verdict::Allowed => {}
        Verdict::Limited(wait) => {
            let text = format!(
                "Too many tries from this phone. Wait {} s, then try again.",
                wait.as_secs()
            );
            let body = page.render(&state, &code, Some(Notice::Error(text)));
            return html(StatusCode::TOO_MANY_REQUESTS, body);
        }
        Verdict::LockedOut(wait) => {
            let text = format!(
                "Too many wrong codes from this phone. Try again in {} minutes, or ask at the \
                 booth.",
                wait.as_secs().div_ceil(60)
            );
            let body = page.render(&state, "", Some(Notice::Error(text)));
            return html(StatusCode::TOO_MANY_REQUESTS, body);
        }
    }
    if !shared.forms.accepts(&decision.form_token, ip, unix_now()) {
        state.guard().failed_submission(ip, now);
        let text = "This page had expired, so it was reloaded. Press Approve again.".to_owned();
        let body = page.render(&state, &code, Some(Notice::Error(text)));
        return html(StatusCode::FORBIDDEN, body);
    }
    // One answer for every code that is not live: unknown, expired, already used.
    let Ok(client_id) = state.pending_client(&code, now) else {
        state.guard().wrong_code(ip, now);
        let body = page.render(&state, &code, Some(Notice::Error(WRONG_CODE.to_owned())));
        return html(StatusCode::OK, body);
    };
    state.guard().right_code(ip, now);
    let device_name = decision
        .device_name
        .as_deref()
        .map(|name| clipped(name, DEVICE_NAME_CHARS));
    let result = match decision.action.as_str() {
        "deny" => state.deny(&code, now).map(|()| "declined"),
        _ => state
            .approve(
                &code,
                decision
                    .project
                    .as_deref()
                    .map(|p| clipped(p, 128))
                    .as_deref(),
                device_name.as_deref(),
                now,
            )
            .map(|()| "approved"),
    };
    let (shown_code, notice) = match result {
        Ok(outcome) => (
            "",
            Notice::Done(format!(
                "Device {client_id} was {outcome}. The pairing assistant shows it within a \
                 few seconds. You can close this page."
            )),
        ),
        Err(error) => (code.as_str(), Notice::Error(error.to_string())),
    };
    let body = page.render(&state, shown_code, Some(notice));
    html(StatusCode::OK, body)
}

/// Codes are typed as read: "204 518" or "204-518" mean 204518.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .take(CODE_CHARS)
        .collect()
}

enum Notice {
    Done(String),
    Error(String),
}

/// One page as shown to one address.
struct Page {
    form_token: String,
    /// The page was opened on this machine: it may list the media received.
    local: bool,
}

impl Page {
    fn new(shared: &Shared, peer: &Peer) -> Self {
        let ip = peer.remote.ip();
        Self {
            form_token: shared.forms.token(ip, unix_now()),
            local: network::is_loopback(ip),
        }
    }

    fn render(&self, state: &DemoState, code: &str, notice: Option<Notice>) -> String {
        let notice = match notice {
            None => String::new(),
            Some(Notice::Done(text)) => {
                format!(r#"<p class="done" role="status">{}</p>"#, escape(&text))
            }
            Some(Notice::Error(text)) => {
                format!(r#"<p class="error" role="alert">{}</p>"#, escape(&text))
            }
        };
        // Devices and their uploads are named: for this machine's eyes only.
        let media = if self.local {
            format!("{}{}", paired_devices(state), received_media(state))
        } else {
            String::new()
        };
        let options: String = state
            .projects()
            .iter()
            .map(|p| {
                format!(
                    r#"<option value="{}">{}</option>"#,
                    escape(&p.id),
                    escape(&p.name)
                )
            })
            .collect();
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Connect a device — C2C demo</title>
<link rel="stylesheet" href="{STYLE_PATH}">
</head><body>
<h1>Connect a device to Frame.io</h1>
<p><small>Demo server of C2C Pairing Assistant — not connected to Frame.io.</small></p>
{notice}
<form method="post" action="{PATH}">
<input type="hidden" name="form_token" value="{token}">
<label for="code">Code shown on the device</label>
<input id="code" name="code" value="{code}" inputmode="numeric" autocomplete="one-time-code" maxlength="{CODE_CHARS}" required autofocus>
<label for="project">Project</label>
<select id="project" name="project">{options}</select>
<label for="device_name">Device name in Frame.io (optional)</label>
<input id="device_name" name="device_name" maxlength="{DEVICE_NAME_CHARS}" placeholder="e.g. A-Cam">
<div class="row">
<button class="approve" name="action" value="approve" type="submit">Approve</button>
<button class="deny" name="action" value="deny" type="submit">Deny</button>
</div>
</form>
{media}
</body></html>"#,
            code = escape(code),
            token = escape(&self.form_token),
        )
    }
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;background:#111;color:#eee}
h1{font-size:1.4rem} label{display:block;margin:1rem 0 .3rem}
input,select,button{font-size:1.2rem;width:100%;padding:.6rem;box-sizing:border-box;border-radius:.4rem;border:1px solid #555}
input[name=code]{font-family:ui-monospace,monospace;font-size:2rem;letter-spacing:.3rem;text-align:center}
.row{display:flex;gap:.8rem;margin-top:1.4rem} button{cursor:pointer;min-height:3rem}
.approve{background:#5b53ff;color:#fff;border:0} .deny{background:#333;color:#eee}
.done{color:#7f7;font-size:1.2rem} .error{color:#f88}
small{color:#999}
.media li{margin:.4rem 0} .media code{word-break:break-all} .comments{color:#ccc}
";

/// The paired devices: online or offline by their heartbeats, when the last one came, and
/// whether they are paused.
fn paired_devices(state: &DemoState) -> String {
    let now = now_unix_ms();
    let rows: String = state
        .device_views(now)
        .iter()
        .map(|view| device_row(view, now))
        .collect();
    if rows.is_empty() {
        String::new()
    } else {
        format!(r#"<h2>Devices</h2><ul class="devices">{rows}</ul>"#)
    }
}

fn device_row(view: &DeviceView, now: u64) -> String {
    let online = if view.presence.online {
        "online"
    } else {
        "offline"
    };
    let heartbeat = view.presence.last_heartbeat_unix_ms.map_or_else(
        || "no heartbeat yet".to_owned(),
        |at| format!("last heartbeat {} s ago", now.saturating_sub(at) / 1000),
    );
    let paused = if view.paused { " · paused" } else { "" };
    format!(
        "<li>{} ({}) — {online} · {heartbeat}{paused}</li>",
        escape(&view.device.name),
        escape(&view.device.client_id)
    )
}

/// The media devices sent, newest first: proof that test uploads arrived, with what the
/// parts assembled to (size, SHA-256, or what is wrong) and the devices' comments.
fn received_media(state: &DemoState) -> String {
    let rows: String = state.assets().views().iter().rev().map(media_row).collect();
    if rows.is_empty() {
        String::new()
    } else {
        format!(r#"<h2>Received media</h2><ul class="media">{rows}</ul>"#)
    }
}

fn media_row(asset: &AssetView) -> String {
    let done = if asset.complete {
        "received"
    } else if asset.error.is_some() {
        "failed"
    } else {
        "incomplete"
    };
    let expected = asset
        .filesize
        .or(asset.asset_filesize)
        .map_or_else(|| "?".to_owned(), |size| size.to_string());
    let kind = if asset.realtime { ", real-time" } else { "" };
    let sha = asset.sha256.as_deref().map_or_else(String::new, |sha| {
        format!(r#"<br><small>SHA-256 <code>{}</code></small>"#, escape(sha))
    });
    let error = asset.error.as_deref().map_or_else(String::new, |why| {
        format!(r#"<br><span class="error">{}</span>"#, escape(why))
    });
    let comments: String = asset
        .comments
        .iter()
        .map(|comment| {
            let at = comment
                .timestamp
                .as_ref()
                .map_or_else(String::new, |frames| format!("[frame {frames}] "));
            format!("<li>{}{}</li>", escape(&at), escape(&comment.text))
        })
        .collect();
    let comments = if comments.is_empty() {
        String::new()
    } else {
        format!(r#"<ul class="comments">{comments}</ul>"#)
    };
    format!(
        "<li>{} ({} of {expected} bytes{kind}) from {} — {done}{sha}{error}{comments}</li>",
        escape(&asset.name),
        asset.received_bytes,
        escape(&asset.client_id)
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_as_typed_and_text_is_escaped() {
        assert_eq!(normalise(" 204 518 "), "204518");
        assert_eq!(normalise("204-518"), "204518");
        assert_eq!(normalise(&"9".repeat(1000)).len(), CODE_CHARS);
        assert_eq!(escape(r#"<cam "1">&"#), "&lt;cam &quot;1&quot;&gt;&amp;");
    }

    #[test]
    fn form_tokens_are_bound_to_the_address_and_expire() {
        let key = FormKey::random();
        let phone = IpAddr::from([10, 251, 0, 2]);
        let token = key.token(phone, 1_000_000);
        assert!(key.accepts(&token, phone, 1_000_000 + 60));
        let mapped: IpAddr = "::ffff:10.251.0.2".parse().unwrap();
        assert!(
            key.accepts(&token, mapped, 1_000_000),
            "same phone, dual-stack"
        );
        assert!(!key.accepts(&token, IpAddr::from([10, 251, 0, 3]), 1_000_000));
        assert!(!key.accepts(&token, phone, 1_000_000 + 3601), "expired");
        assert!(!key.accepts(&token, phone, 999_000), "from the future");
        assert!(
            !FormKey::random().accepts(&token, phone, 1_000_000),
            "another server's"
        );
        for forged in ["", "1000000", "1000000.", "x.00", "1000000.zz"] {
            assert!(!key.accepts(forged, phone, 1_000_000), "{forged:?}");
        }
    }
}
