//! A device's upload panel: what the integrator checklist asks an uploader to show — files
//! and bytes remaining, the current file with percent and rate, each file completed, queued
//! or failed with its reason — with Cancel and Resume while it runs, Resume for what is left
//! once it ended, a note on the last asset sent, and the form that sends files (typed, one
//! per line, or dropped on the window while the form is open).

use std::path::PathBuf;

use egui::{RichText, Ui};

use crate::device::upload::{FileState, FileStatus, QueueStatus, rig_check_note};
use crate::worker::{Command, DeviceKey, DeviceOp, OpControl};

/// Label of the field listing the files to upload, also its accessible name.
pub const UPLOAD_PATHS_LABEL: &str = "Files to upload";
/// Label of the note field after an upload, also its accessible name.
pub const NOTE_LABEL: &str = "Note on the upload";

/// The form to send files under one device's row (the fleet view owns it while it is open).
#[derive(Debug, Default)]
pub struct UploadForm {
    /// Paths typed or dropped, one per line.
    paths: String,
}

/// What the form was asked.
pub enum FormAnswer {
    /// Nothing yet: it stays open.
    Open,
    /// Send these files (the form closes).
    Send(Command),
    /// Close it.
    Close,
}

impl UploadForm {
    /// Adds files dropped on the window, one per line.
    pub fn add_dropped(&mut self, dropped: &[PathBuf]) {
        for path in dropped {
            if !self.paths.is_empty() && !self.paths.ends_with('\n') {
                self.paths.push('\n');
            }
            self.paths.push_str(&path.display().to_string());
        }
    }

    /// Draws the form, open for `key`.
    pub fn ui(&mut self, ui: &mut Ui, key: &DeviceKey) -> FormAnswer {
        let mut answer = FormAnswer::Open;
        let label = ui.label(UPLOAD_PATHS_LABEL);
        ui.add(
            egui::TextEdit::multiline(&mut self.paths)
                .hint_text("One file or folder per line, or drop files here")
                .desired_rows(3)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
        let files: Vec<PathBuf> = self
            .paths
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(PathBuf::from)
            .collect();
        ui.horizontal(|ui| {
            let ready = !files.is_empty();
            if ui.add_enabled(ready, egui::Button::new("Upload")).clicked() {
                answer = FormAnswer::Send(upload(key, files));
            }
            if ui.button("Close").clicked() {
                answer = FormAnswer::Close;
            }
        });
        answer
    }
}

/// An upload of `files` (none: the test clip) from the device of `key`.
pub fn upload(key: &DeviceKey, files: Vec<PathBuf>) -> Command {
    Command::Device {
        key: key.clone(),
        op: DeviceOp::Upload {
            files,
            resume: false,
        },
    }
}

/// A control of the device's queue.
fn control(key: &DeviceKey, ctl: OpControl) -> Command {
    Command::Control {
        key: key.clone(),
        ctl,
    }
}

/// Draws a device's queue, under way (`running`) or as it ended.
pub fn panel(ui: &mut Ui, key: &DeviceKey, status: &QueueStatus, running: bool) -> Option<Command> {
    let mut action = None;
    ui.label(RichText::new(headline(status, running)).strong());
    if running && let (Some(index), Some(file)) = (status.current, status.current_file()) {
        current(ui, file);
        action = file_buttons(ui, key, index, file, running).or(action);
    }
    for (index, file) in status.files.iter().enumerate() {
        if running && status.current == Some(index) {
            continue;
        }
        file_line(ui, file);
        action = file_buttons(ui, key, index, file, running).or(action);
    }
    if let Some(reason) = &status.stopped {
        ui.label(
            RichText::new(reason)
                .small()
                .color(ui.visuals().warn_fg_color),
        );
    }
    ui.horizontal(|ui| {
        if running {
            if ui.button("Cancel upload").clicked() {
                action = Some(control(key, OpControl::Cancel));
            }
            let waiting = status.files.iter().any(|f| {
                matches!(
                    f.state,
                    FileState::Paused { .. }
                        | FileState::Retrying { .. }
                        | FileState::Offline { .. }
                )
            });
            if waiting
                && ui
                    .button("Resume")
                    .on_hover_text("Try now, e.g. after resuming the device in Frame.io")
                    .clicked()
            {
                action = Some(control(key, OpControl::TryNow));
            }
        } else if let Some(files) = left_over(status)
            && ui
                .button("Resume")
                .on_hover_text("Send the files not done; the parts already sent are kept")
                .clicked()
        {
            action = Some(upload(key, files));
        }
    });
    if !running && let Some(asset) = last_asset(status) {
        action = note_form(ui, key, asset).or(action);
    }
    action
}

/// "Uploads: 2 of 3 done · 1 failed · 1 left, 6.0 MB to send" (what is left only while it runs).
fn headline(status: &QueueStatus, running: bool) -> String {
    let total = status.files.len();
    let mut text = format!("Uploads: {} of {total} done", status.done());
    let failed = status.failed();
    if failed > 0 {
        text.push_str(&format!(" · {failed} failed"));
    }
    let parked = status.parked();
    if parked > 0 {
        text.push_str(&format!(" · {parked} recorded while paused"));
    }
    let left = status.files_remaining();
    if running && left > 0 {
        text.push_str(&format!(
            " · {left} left, {} to send",
            size(status.bytes_remaining())
        ));
    }
    if status.cancelled {
        text.push_str(" · cancelled");
    }
    text
}

/// The file under way: a bar, then its percent, bytes and rate, or why it waits.
fn current(ui: &mut Ui, file: &FileStatus) {
    let name = shown_name(file);
    match &file.state {
        FileState::Paused { reason } => {
            ui.label(format!("{name}: paused — {reason}"));
        }
        FileState::Retrying {
            attempt,
            reason,
            wait,
        } => {
            ui.label(format!(
                "{name}: retrying in {} s (attempt {attempt}) — {reason}",
                wait.as_secs().max(1)
            ));
        }
        FileState::Offline { reason, wait } => {
            ui.label(
                RichText::new(format!(
                    "{name}: waiting for the network, next try in {} s — {reason}",
                    wait.as_secs().max(1)
                ))
                .color(ui.visuals().warn_fg_color),
            );
        }
        FileState::Waiting => {
            ui.label(format!(
                "{name}: all sent so far; waiting for the file to grow"
            ));
        }
        _ => {}
    }
    let known = file.size.unwrap_or(file.seen);
    let fraction = if known == 0 {
        0.0
    } else {
        (file.sent.min(known) as f64 / known as f64) as f32
    };
    let mut text = match file.percent() {
        Some(percent) => format!(
            "{name}: {percent} % ({} of {})",
            size(file.sent),
            size(known)
        ),
        None => format!("{name}: {} sent of {} so far", size(file.sent), size(known)),
    };
    if let Some(rate) = file.rate.filter(|r| r.is_finite() && *r > 0.0) {
        text.push_str(&format!(" · {}/s", size(rate as u64)));
    }
    // The words under the bar, not in it: they wrap in the narrow side panel.
    ui.add(egui::ProgressBar::new(fraction).desired_height(8.0));
    ui.label(text);
}

/// One file's line: sent, failed with its reason, cancelled, or queued.
fn file_line(ui: &mut Ui, file: &FileStatus) {
    let name = shown_name(file);
    let size_known = file.size.unwrap_or(file.seen);
    let text = match &file.state {
        FileState::Done => format!("{name} sent: 100 % ({})", size(size_known)),
        FileState::Failed { reason, .. } => format!("{name} failed: {reason}"),
        FileState::Parked { reason } => format!("{name} not uploaded: {reason}"),
        FileState::Paused { reason } => format!("{name} waits: {reason}"),
        FileState::Cancelled => format!(
            "{name} cancelled at {} %; what was sent is kept",
            file.percent().unwrap_or(0)
        ),
        FileState::Queued => match file.size {
            Some(known) => format!("{name} queued ({})", size(known)),
            None => format!("{name} queued"),
        },
        other => format!("{name}: {}", other.word()),
    };
    let text = RichText::new(text).small();
    let text = if matches!(
        file.state,
        FileState::Failed { .. } | FileState::Parked { .. }
    ) {
        text.color(ui.visuals().warn_fg_color)
    } else {
        text
    };
    ui.label(text);
    for notice in &file.notices {
        ui.label(RichText::new(format!("{name}: {notice}")).small());
    }
}

/// A file's own buttons: Cancel while it is to come or under way in a running queue; Retry
/// once it failed, was parked or cancelled (in a running queue it goes again after the files
/// before it; after the queue ended, a new queue sends it). Their accessible names carry the
/// file's ("Cancel A001.mov"), as a screen reader user hears them out of context.
fn file_buttons(
    ui: &mut Ui,
    key: &DeviceKey,
    index: usize,
    file: &FileStatus,
    running: bool,
) -> Option<Command> {
    let name = shown_name(file);
    let button = |ui: &mut Ui, word: &str| {
        let label = format!("{word} {name}");
        let response = ui.small_button(word);
        response
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, ui.is_enabled(), &label));
        response.clicked()
    };
    if running && !file.state.is_final() {
        return button(ui, "Cancel").then(|| control(key, OpControl::CancelFile(index)));
    }
    if !file.state.can_retry() || !button(ui, "Retry") {
        return None;
    }
    Some(if running {
        control(key, OpControl::RetryFile(index))
    } else {
        upload(key, file.path.clone().into_iter().collect())
    })
}

/// The comment form for the last asset sent, with a rig-check note ready.
fn note_form(ui: &mut Ui, key: &DeviceKey, asset: &str) -> Option<Command> {
    let id = egui::Id::unique(("upload note", key.clone(), asset.to_owned()));
    let mut text = ui
        .data(|d| d.get_temp::<String>(id))
        .unwrap_or_else(rig_check_note);
    let mut action = None;
    // Label, field and button one under another: the list is a narrow side panel.
    let label = ui.label(NOTE_LABEL);
    ui.add(egui::TextEdit::singleline(&mut text).desired_width(f32::INFINITY))
        .labelled_by(label.id);
    let ready = !text.trim().is_empty();
    if ui
        .add_enabled(ready, egui::Button::new("Add a note"))
        .on_hover_text(format!("Comment on asset {asset} as the device"))
        .clicked()
    {
        action = Some(Command::Device {
            key: key.clone(),
            op: DeviceOp::AddNote {
                asset_id: asset.to_owned(),
                text: text.trim().to_owned(),
            },
        });
    }
    ui.data_mut(|d| d.insert_temp(id, text));
    action
}

/// What Resume sends once a queue ended: the files not done (none at all: nothing to resume;
/// an empty list: the test clip again).
fn left_over(status: &QueueStatus) -> Option<Vec<PathBuf>> {
    let left: Vec<&FileStatus> = status
        .files
        .iter()
        .filter(|f| f.state != FileState::Done)
        .collect();
    if left.is_empty() {
        return None;
    }
    Some(left.iter().filter_map(|f| f.path.clone()).collect())
}

/// The asset of the last file sent.
fn last_asset(status: &QueueStatus) -> Option<&str> {
    status
        .files
        .iter()
        .rev()
        .filter(|f| f.state == FileState::Done)
        .find_map(|f| f.asset_id.as_deref())
}

/// A file's name as shown: the test clip (bytes in memory) is "Test clip".
fn shown_name(file: &FileStatus) -> String {
    if file.path.is_none() {
        "Test clip".to_owned()
    } else {
        file.name.clone()
    }
}

/// Bytes for people: KB below a megabyte, else MB with one decimal (binary units, as the
/// CLI's bars).
fn size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes < MIB {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MB", bytes as f64 / MIB as f64)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::device::{DeviceId, FailureKind};

    const MIB: u64 = 1024 * 1024;

    fn key() -> DeviceKey {
        DeviceKey {
            id: DeviceId::parse("CAM-PANEL").unwrap(),
            host: "demo".into(),
        }
    }

    /// Three files: one sent, one failed with its reason, one under way at 42 %.
    fn three_files() -> QueueStatus {
        let file = |name: &str, size| FileStatus::queued(name.into(), Some(name.into()), size);
        let mut done = file("a.mov", Some(2 * MIB));
        (done.state, done.sent, done.asset_id) = (FileState::Done, 2 * MIB, Some("A1".into()));
        let mut failed = file("b.mov", None);
        failed.state = FileState::Failed {
            reason: "b.mov could not be read: permission denied".into(),
            kind: FailureKind::Usage,
        };
        let mut sending = file("c.mov", Some(10 * MIB));
        (sending.state, sending.sent, sending.rate) = (
            FileState::Sending,
            42 * MIB / 10 + 1,
            Some(1.5 * MIB as f64),
        );
        QueueStatus {
            device: "CAM-PANEL".into(),
            files: vec![done, failed, sending],
            current: Some(2),
            ..QueueStatus::default()
        }
    }

    /// True when `asked` steers this test's device's queue with `ctl`.
    fn asked_control(asked: &Option<Command>, ctl: OpControl) -> bool {
        matches!(asked, Some(Command::Control { key: k, ctl: c }) if *k == key() && *c == ctl)
    }

    /// The files of an upload `asked` of this test's device.
    fn asked_upload(asked: &Option<Command>) -> Option<Vec<PathBuf>> {
        match asked {
            Some(Command::Device {
                key: k,
                op:
                    DeviceOp::Upload {
                        files,
                        resume: false,
                    },
            }) if *k == key() => Some(files.clone()),
            _ => None,
        }
    }

    fn harness(status: QueueStatus, running: bool) -> Harness<'static, Option<Command>> {
        Harness::new_ui_state(
            move |ui, asked: &mut Option<Command>| {
                if let Some(action) = panel(ui, &key(), &status, running) {
                    *asked = Some(action);
                }
            },
            None,
        )
    }

    #[test]
    fn a_running_queue_shows_its_files_a_failure_and_the_current_progress() {
        let mut harness = harness(three_files(), true);
        harness.run();
        harness.get_by_label("Uploads: 1 of 3 done · 1 failed · 1 left, 5.8 MB to send");
        harness.get_by_label("c.mov: 42 % (4.2 MB of 10.0 MB) · 1.5 MB/s");
        harness.get_by_label("a.mov sent: 100 % (2.0 MB)");
        harness.get_by_label("b.mov failed: b.mov could not be read: permission denied");
        assert!(harness.query_by_label("Resume").is_none(), "nothing waits");
        harness.get_by_label("Cancel upload").click();
        harness.run();
        assert!(asked_control(harness.state(), OpControl::Cancel));
    }

    #[test]
    fn a_paused_file_says_why_and_resume_tries_now() {
        let mut status = three_files();
        status.files[2].state = FileState::Paused {
            reason: "the device is paused in Frame.io".into(),
        };
        let mut harness = harness(status, true);
        harness.run();
        harness.get_by_label("c.mov: paused — the device is paused in Frame.io");
        harness.get_by_label("Resume").click();
        harness.run();
        assert!(asked_control(harness.state(), OpControl::TryNow));
    }

    #[test]
    fn a_retry_shows_its_wait() {
        let mut status = three_files();
        status.files[2].state = FileState::Retrying {
            attempt: 2,
            reason: "the server answered 503".into(),
            wait: Duration::from_millis(3500),
        };
        let mut harness = harness(status, true);
        harness.run();
        harness.get_by_label("c.mov: retrying in 3 s (attempt 2) — the server answered 503");
    }

    #[test]
    fn an_ended_queue_resumes_what_is_not_done_and_offers_a_note() {
        let mut status = three_files();
        status.files[2].state = FileState::Cancelled;
        (status.current, status.finished, status.cancelled) = (None, true, true);
        let mut harness = harness(status, false);
        harness.run();
        harness.get_by_label("Uploads: 1 of 3 done · 1 failed · cancelled");
        harness.get_by_label("c.mov cancelled at 42 %; what was sent is kept");
        harness.get_by_label("Resume").click();
        harness.run();
        assert_eq!(
            asked_upload(harness.state()),
            Some(vec!["b.mov".into(), "c.mov".into()])
        );
        harness.get_by_label("Add a note").click();
        harness.run();
        let Some(Command::Device {
            op: DeviceOp::AddNote { asset_id, text },
            ..
        }) = harness.state()
        else {
            panic!("a note is asked: {:?}", harness.state());
        };
        assert_eq!(asset_id, "A1");
        assert!(text.starts_with("Rig check from "), "{text}");
    }

    #[test]
    fn a_parked_file_says_why_and_each_file_can_be_cancelled_or_sent_again() {
        let mut status = three_files();
        status.files[1].state = FileState::Parked {
            reason: "recorded 2026-12-07 14:02:31 CET while the device was paused in Frame.io"
                .into(),
        };
        status.files.push(FileStatus::queued(
            "d.mov".into(),
            Some("d.mov".into()),
            Some(MIB),
        ));
        let mut running = harness(status.clone(), true);
        let harness = &mut running;
        harness.run();
        harness.get_by_label(
            "Uploads: 1 of 4 done · 1 recorded while paused · 2 left, 6.8 MB to send",
        );
        harness.get_by_label(
            "b.mov not uploaded: recorded 2026-12-07 14:02:31 CET while the device was paused \
             in Frame.io",
        );
        assert!(
            harness.query_by_label("Cancel a.mov").is_none(),
            "it arrived"
        );
        assert!(harness.query_by_label("Retry a.mov").is_none());
        harness.get_by_label("Cancel d.mov").click();
        harness.run();
        assert!(asked_control(harness.state(), OpControl::CancelFile(3)));
        harness.get_by_label("Cancel c.mov").click();
        harness.run();
        assert!(
            asked_control(harness.state(), OpControl::CancelFile(2)),
            "the file under way too"
        );
        harness.get_by_label("Retry b.mov").click();
        harness.run();
        assert!(asked_control(harness.state(), OpControl::RetryFile(1)));
        // Once the queue ended, Retry starts a queue of that file.
        (status.current, status.finished) = (None, true);
        status.files[2].state = FileState::Done;
        status.files[3].state = FileState::Done;
        let mut ended = self::harness(status, false);
        ended.run();
        ended.get_by_label("Retry b.mov").click();
        ended.run();
        assert_eq!(asked_upload(ended.state()), Some(vec!["b.mov".into()]));
    }

    #[test]
    fn a_file_waiting_for_the_network_says_so() {
        let mut status = three_files();
        status.files[2].state = FileState::Offline {
            reason: "part 3: could not reach 127.0.0.1: connection refused".into(),
            wait: Duration::from_secs(60),
        };
        let mut harness = harness(status, true);
        harness.run();
        harness.get_by_label(
            "c.mov: waiting for the network, next try in 60 s — part 3: could not reach \
             127.0.0.1: connection refused",
        );
        harness.get_by_label("Resume").click();
        harness.run();
        assert!(asked_control(harness.state(), OpControl::TryNow));
    }

    #[test]
    fn sizes_read_in_kilobytes_then_megabytes() {
        assert_eq!(size(0), "0 KB");
        assert_eq!(size(1), "1 KB");
        assert_eq!(size(MIB - 1), "1024 KB");
        assert_eq!(size(MIB), "1.0 MB");
        assert_eq!(
            size(u64::MAX),
            format!("{:.1} MB", u64::MAX as f64 / MIB as f64)
        );
    }
}
