//! What `c2c-pair upload` shows while its queue runs: on a terminal, two bars (the whole queue
//! and the current file) with each file's end said above them; with `--json`, one event per
//! line — `queued`, `started`, `progress` (at most [`JSON_PROGRESS_EVERY`]), `retrying`,
//! `offline` (the network gone, waited for), `paused`, `resumed` (with what it `was`),
//! `waiting`, `notice`, `uploaded`, `parked` (refused as recorded while the device was
//! paused), `failed`, `cancelled` — read from the queue's status snapshots.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use tokio::sync::watch;

use c2c_pair::device::upload::{FileState, FileStatus, QueueStatus};

use super::print_json;

/// `progress` events go out at most this often (4 a second).
pub const JSON_PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Shows snapshots from `watcher` until the queue's sender is gone.
pub async fn show(mut watcher: watch::Receiver<QueueStatus>, json: bool) {
    let mut view = if json {
        View::Json(JsonView::default())
    } else {
        View::Terminal(Box::new(TerminalView::new()))
    };
    let mut previous = QueueStatus::default();
    loop {
        let now = watcher.borrow_and_update().clone();
        match &mut view {
            View::Json(events) => events.show(&previous, &now),
            View::Terminal(bars) => bars.show(&previous, &now),
        }
        previous = now;
        if watcher.changed().await.is_err() {
            break;
        }
    }
    // The last snapshot, if it came with the sender's end.
    let last = watcher.borrow().clone();
    match &mut view {
        View::Json(events) => events.show(&previous, &last),
        View::Terminal(bars) => {
            bars.show(&previous, &last);
            bars.clear();
        }
    }
}

enum View {
    Json(JsonView),
    Terminal(Box<TerminalView>),
}

/// What changed for one file between two snapshots.
fn changes<'a>(
    previous: &'a QueueStatus,
    now: &'a QueueStatus,
) -> impl Iterator<Item = (usize, Option<&'a FileStatus>, &'a FileStatus)> {
    now.files
        .iter()
        .enumerate()
        .map(move |(index, file)| (index, previous.files.get(index), file))
}

/// One event's common fields.
fn event(name: &str, index: usize, file: &FileStatus) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("event".into(), name.into());
    map.insert("file".into(), index.into());
    map.insert("name".into(), file.name.clone().into());
    map
}

#[derive(Default)]
struct JsonView {
    last_progress: Option<Instant>,
}

impl JsonView {
    fn show(&mut self, previous: &QueueStatus, now: &QueueStatus) {
        for (index, before, file) in changes(previous, now) {
            if before.is_none() {
                let mut queued = event("queued", index, file);
                queued.insert(
                    "path".into(),
                    file.path.as_ref().map(|p| p.display().to_string()).into(),
                );
                queued.insert("bytes".into(), file.size.into());
                print_json(&queued.into());
            }
            let seen = before.map_or(0, |b| b.notices.len());
            for notice in file.notices.iter().skip(seen) {
                let mut said = event("notice", index, file);
                said.insert("message".into(), notice.clone().into());
                print_json(&said.into());
            }
            let old = before.map(|b| &b.state);
            if old != Some(&file.state)
                && let Some(line) = state_event(index, old, file, &now.device)
            {
                print_json(&line);
            }
        }
        let due = self
            .last_progress
            .is_none_or(|at| at.elapsed() >= JSON_PROGRESS_EVERY);
        let moved = now.current_file().is_some_and(|file| {
            previous
                .files
                .get(now.current.unwrap_or_default())
                .is_none_or(|before| before.sent != file.sent)
        });
        if due
            && moved
            && let (Some(index), Some(file)) = (now.current, now.current_file())
        {
            self.last_progress = Some(Instant::now());
            let mut line = event("progress", index, file);
            line.insert("sent".into(), file.sent.into());
            line.insert("total".into(), file.size.into());
            line.insert("percent".into(), file.percent().into());
            line.insert("rate".into(), file.rate.map(|r| r.round()).into());
            line.insert("files_remaining".into(), now.files_remaining().into());
            line.insert("bytes_remaining".into(), now.bytes_remaining().into());
            print_json(&line.into());
        }
    }
}

/// The event for a file's new state.
fn state_event(
    index: usize,
    old: Option<&FileState>,
    file: &FileStatus,
    device: &str,
) -> Option<Value> {
    let (name, extra): (&str, Value) = match &file.state {
        FileState::Queued => return None,
        FileState::Sending => match old {
            Some(
                was @ (FileState::Paused { .. }
                | FileState::Retrying { .. }
                | FileState::Offline { .. }
                | FileState::Waiting),
            ) => ("resumed", json!({"was": was.word()})),
            _ => ("started", json!({"asset_id": file.asset_id})),
        },
        FileState::Offline { reason, wait } => (
            "offline",
            json!({"reason": reason, "wait_seconds": wait.as_secs_f64()}),
        ),
        FileState::Parked { reason } => ("parked", json!({"reason": reason})),
        FileState::Retrying {
            attempt,
            reason,
            wait,
        } => (
            "retrying",
            json!({"attempt": attempt, "reason": reason, "wait_seconds": wait.as_secs_f64()}),
        ),
        FileState::Paused { reason } => ("paused", json!({"reason": reason})),
        FileState::Waiting => ("waiting", json!({"sent": file.sent, "seen": file.seen})),
        FileState::Done => (
            "uploaded",
            json!({"device": device, "asset_id": file.asset_id, "bytes": file.size,
                   "duplicate_possible": file.duplicate_possible}),
        ),
        FileState::Failed { reason, kind } => {
            ("failed", json!({"kind": kind.as_str(), "reason": reason}))
        }
        FileState::Cancelled => ("cancelled", json!({"asset_id": file.asset_id})),
    };
    let mut line = event(name, index, file);
    if let Value::Object(extra) = extra {
        line.extend(extra);
    }
    Some(line.into())
}

/// The bars, on stderr (indicatif draws nothing when stderr is not a terminal).
struct TerminalView {
    multi: MultiProgress,
    overall: ProgressBar,
    current: ProgressBar,
}

fn style(template: &str) -> Option<ProgressStyle> {
    ProgressStyle::with_template(template)
        .ok()
        .map(|style| style.progress_chars("=> "))
}

impl TerminalView {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        let current = multi.add(ProgressBar::new(0));
        #[expect(
            clippy::literal_string_with_formatting_args,
            reason = "indicatif templates, not format strings"
        )]
        let (whole, file) = (
            style("{msg:>20} [{bar:30}] {bytes}/{total_bytes} {percent:>3}%"),
            style("{msg:>20} [{bar:30}] {bytes}/{total_bytes} {percent:>3}% {bytes_per_sec} {eta}"),
        );
        if let Some(style) = whole {
            overall.set_style(style);
        }
        if let Some(style) = file {
            current.set_style(style);
        }
        Self {
            multi,
            overall,
            current,
        }
    }

    /// Prints a line on stdout without tearing the bars.
    fn say(&self, line: &str) {
        self.multi.suspend(|| out!("{line}"));
    }

    /// Prints a line on stderr without tearing the bars.
    fn warn(&self, line: &str) {
        self.multi.suspend(|| err!("{line}"));
    }

    fn show(&self, previous: &QueueStatus, now: &QueueStatus) {
        for (_, before, file) in changes(previous, now) {
            let seen = before.map_or(0, |b| b.notices.len());
            for notice in file.notices.iter().skip(seen) {
                self.warn(&format!("{}: {notice}", file.name));
            }
            if before.map(|b| &b.state) == Some(&file.state) {
                continue;
            }
            match &file.state {
                FileState::Done => self.say(&format!(
                    "Uploaded {} ({} KB) from {}: asset {}.",
                    file.name,
                    file.size.unwrap_or(file.sent).div_ceil(1024),
                    now.device,
                    file.asset_id.as_deref().unwrap_or("?")
                )),
                FileState::Failed { reason, .. } | FileState::Parked { reason } => {
                    self.warn(&format!(
                        "c2c-pair: {} was not uploaded: {reason}",
                        file.name
                    ));
                }
                FileState::Paused { reason } => self.warn(&format!("{}: {reason}", file.name)),
                FileState::Offline { reason, wait } => self.warn(&format!(
                    "{}: the network is gone ({reason}); waiting for it, next try in {:.0} s",
                    file.name,
                    wait.as_secs_f64().ceil()
                )),
                FileState::Retrying { reason, wait, .. } => self.warn(&format!(
                    "{}: {reason}; trying again in {:.0} s",
                    file.name,
                    wait.as_secs_f64().ceil()
                )),
                _ => {}
            }
        }
        let files = now.files.len();
        self.overall.set_length(now.bytes_total());
        self.overall.set_position(now.bytes_sent());
        self.overall.set_message(format!(
            "{} of {files} files",
            files.saturating_sub(now.files_remaining())
        ));
        if let Some(file) = now.current_file() {
            self.current.set_length(file.size.unwrap_or(file.seen));
            self.current.set_position(file.sent);
            let word = match &file.state {
                FileState::Paused { .. } => " (paused)",
                FileState::Retrying { .. } => " (retrying)",
                FileState::Offline { .. } => " (waiting for the network)",
                FileState::Waiting => " (waiting for more)",
                _ => "",
            };
            self.current
                .set_message(format!("{}{word}", shorten(&file.name, 40)));
        }
    }

    fn clear(&self) {
        self.current.finish_and_clear();
        self.overall.finish_and_clear();
    }
}

/// At most `max` characters, the end kept (a clip's number is at the end of its name).
fn shorten(name: &str, max: usize) -> String {
    let count = name.chars().count();
    if count <= max {
        return name.to_owned();
    }
    let tail: String = name.chars().skip(count - max + 1).collect();
    format!("…{tail}")
}
