//! The approval page at the demo server's `verification_uri`: type the code (or arrive with it
//! pre-filled from `verification_uri_complete`), pick a project, Approve or Deny.

use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use tokio::time::Instant;

use super::Shared;
use super::state::DemoState;

/// Path of the approval page; `/pair/<code>` arrives pre-filled.
pub const PATH: &str = "/pair";

/// The approval page routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route(PATH, get(blank).post(decide))
        .route("/pair/{code}", get(prefilled))
}

async fn blank(State(shared): State<Shared>) -> Html<String> {
    Html(render(&shared.lock(), "", None))
}

async fn prefilled(State(shared): State<Shared>, Path(code): Path<String>) -> Html<String> {
    let code = normalise(&code);
    let state = shared.lock();
    let notice = match state.pending_client(&code, Instant::now()) {
        Ok(client_id) => Notice::Info(format!("Device {client_id} is asking to connect.")),
        Err(error) => Notice::Error(error.to_string()),
    };
    Html(render(&state, &code, Some(notice)))
}

#[derive(Deserialize)]
struct Decision {
    code: String,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    device_name: Option<String>,
    action: String,
}

async fn decide(State(shared): State<Shared>, Form(decision): Form<Decision>) -> Html<String> {
    let code = normalise(&decision.code);
    let now = Instant::now();
    let mut state = shared.lock();
    let client = state.pending_client(&code, now);
    let result = match decision.action.as_str() {
        "deny" => state.deny(&code, now).map(|()| "declined".to_owned()),
        _ => state
            .approve(
                &code,
                decision.project.as_deref(),
                decision.device_name.as_deref(),
                now,
            )
            .map(|()| "approved".to_owned()),
    };
    let notice = match (result, client) {
        (Ok(outcome), Ok(client_id)) => Notice::Done(format!(
            "Device {client_id} was {outcome}. The pairing assistant will show it within one \
             poll interval. You can close this page."
        )),
        (Err(error), _) | (_, Err(error)) => Notice::Error(error.to_string()),
    };
    let shown_code = if matches!(notice, Notice::Done(_)) {
        ""
    } else {
        &code
    };
    Html(render(&state, shown_code, Some(notice)))
}

/// Codes are typed as read: "204 518" or "204-518" mean 204518.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

enum Notice {
    Info(String),
    Done(String),
    Error(String),
}

fn render(state: &DemoState, code: &str, notice: Option<Notice>) -> String {
    let notice = match notice {
        None => String::new(),
        Some(Notice::Info(text)) => format!(r#"<p class="info">{}</p>"#, escape(&text)),
        Some(Notice::Done(text)) => {
            format!(r#"<p class="done" role="status">{}</p>"#, escape(&text))
        }
        Some(Notice::Error(text)) => {
            format!(r#"<p class="error" role="alert">{}</p>"#, escape(&text))
        }
    };
    let media = received_media(state);
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
<title>Connect a device — C2C demo</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;background:#111;color:#eee}}
h1{{font-size:1.4rem}} label{{display:block;margin:1rem 0 .3rem}}
input,select,button{{font-size:1.2rem;width:100%;padding:.6rem;box-sizing:border-box;border-radius:.4rem;border:1px solid #555}}
input[name=code]{{font-family:ui-monospace,monospace;font-size:2rem;letter-spacing:.3rem;text-align:center}}
.row{{display:flex;gap:.8rem;margin-top:1.4rem}} button{{cursor:pointer}}
.approve{{background:#5b53ff;color:#fff;border:0}} .deny{{background:#333;color:#eee}}
.info{{color:#9cf}} .done{{color:#7f7;font-size:1.2rem}} .error{{color:#f88}}
small{{color:#999}}
</style></head><body>
<h1>Connect a device to Frame.io</h1>
<p><small>Demo server of C2C Pairing Assistant — not connected to Frame.io.</small></p>
{notice}
<form method="post" action="{PATH}">
<label for="code">Code shown on the device</label>
<input id="code" name="code" value="{code}" inputmode="numeric" autocomplete="one-time-code" required autofocus>
<label for="project">Project</label>
<select id="project" name="project">{options}</select>
<label for="device_name">Device name in Frame.io (optional)</label>
<input id="device_name" name="device_name" placeholder="e.g. A-Cam">
<div class="row">
<button class="approve" name="action" value="approve" type="submit">Approve</button>
<button class="deny" name="action" value="deny" type="submit">Deny</button>
</div>
</form>
{media}
</body></html>"#,
        code = escape(code),
    )
}

/// The media devices sent, newest first: proof that test uploads arrived.
fn received_media(state: &DemoState) -> String {
    let rows: String = state
        .assets()
        .iter()
        .rev()
        .map(|asset| {
            let done = if asset.complete {
                "received"
            } else {
                "incomplete"
            };
            format!(
                "<li>{} ({} bytes) from {} — {done}</li>",
                escape(&asset.name),
                asset.filesize,
                escape(&asset.client_id)
            )
        })
        .collect();
    if rows.is_empty() {
        String::new()
    } else {
        format!("<h2>Received media</h2><ul>{rows}</ul>")
    }
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
        assert_eq!(escape(r#"<cam "1">&"#), "&lt;cam &quot;1&quot;&gt;&amp;");
    }
}
