//! The worker and what it said about the server it talks to: the demo server (and whether
//! phones can reach it) or a live one, or why nothing could start.

use egui::{Color32, RichText, Ui};

use super::presenter;
use crate::demo::Reach;
use crate::wifi::BoothWifi;
use crate::worker::{Command, Event, Mode, Worker};

/// The worker handle and the server it reported.
pub struct WorkerLink {
    worker: Option<Worker>,
    /// The server in use, once the worker is ready.
    pub mode: Option<Mode>,
    /// Why the app could not start (a bad setting), if so.
    pub start_error: Option<String>,
}

impl WorkerLink {
    /// A link to `worker` (`None`: nothing started).
    pub fn new(worker: Option<Worker>) -> Self {
        Self {
            worker,
            mode: None,
            start_error: None,
        }
    }

    /// Sends a command to the worker, if there is one.
    pub fn send(&self, command: Command) {
        if let Some(worker) = &self.worker {
            worker.send(command);
        }
    }

    /// The next event from the worker, without waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.worker.as_ref().and_then(Worker::try_recv)
    }

    /// Whether pairing can start at all.
    pub fn can_pair(&self) -> bool {
        self.start_error.is_none()
    }

    /// Whether the embedded demo server is in use.
    pub fn is_demo(&self) -> bool {
        matches!(self.mode, Some(Mode::Demo { .. }))
    }

    /// Why phones cannot open the demo server's link, when they cannot.
    pub fn phone_warning(&self) -> Option<&str> {
        let Some(Mode::Demo { reach, .. }) = &self.mode else {
            return None;
        };
        reach
            .unusable()
            .or((*reach == Reach::ThisMachine).then_some(presenter::THIS_MACHINE_ONLY))
    }

    /// Why the demo server turned connections away in the last minute, in staff words.
    pub fn strain(&self) -> Option<String> {
        let Some(Mode::Demo { strain, .. }) = &self.mode else {
            return None;
        };
        strain.strain().map(|strain| strain.staff_words())
    }

    /// Which network phones must be on, when the demo server is on one.
    pub fn booth_network(&self, wifi: Option<&BoothWifi>) -> Option<String> {
        let Some(Mode::Demo {
            approval_url,
            reach: Reach::Network { interface, .. },
            ..
        }) = &self.mode
        else {
            return None;
        };
        let host = url::Url::parse(approval_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        Some(match (wifi, interface) {
            (Some(wifi), _) => format!(
                "Phones join the Wi-Fi “{}” to reach this laptop at {host}.",
                wifi.ssid
            ),
            (None, Some(interface)) => {
                format!("Phones must be on the same network as this laptop ({interface}, {host}).")
            }
            (None, None) => format!("Phones must be on the same network as this laptop ({host})."),
        })
    }

    /// One line saying which server pairs (or why none can).
    pub fn mode_line(&self, ui: &mut Ui) {
        match (&self.mode, &self.start_error) {
            (_, Some(error)) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Cannot start: {error}"),
                );
            }
            (None, None) => {
                ui.label("Starting…");
            }
            (Some(Mode::Live { api_base }), None) => {
                ui.label(format!("Pairs with {api_base}"));
            }
            (Some(Mode::Demo { .. }), None) => {
                ui.label("Pairs with the built-in demo server.");
            }
        }
    }

    /// The yellow banner of demo mode: where codes are approved, and whether phones can.
    pub fn banner(&self, ui: &mut Ui) {
        let Some(Mode::Demo {
            approval_url,
            warning,
            reach,
            ..
        }) = &self.mode
        else {
            return;
        };
        let frame = egui::Frame::new()
            .fill(Color32::from_rgb(255, 196, 0))
            .inner_margin(egui::Margin::symmetric(12, 6));
        egui::Panel::top("demo-banner").frame(frame).show(ui, |ui| {
            let line = |ui: &mut Ui, text: RichText| ui.label(text.color(Color32::BLACK));
            line(
                ui,
                RichText::new("Demo — not connected to Frame.io").strong(),
            );
            line(
                ui,
                RichText::new(format!(
                    "Codes are approved on the built-in page {approval_url}"
                )),
            );
            if let Some(warning) = warning {
                line(ui, RichText::new(warning));
            }
            if let Reach::Network { unusable, .. } = reach {
                let text = unusable.as_ref().map_or_else(
                    || format!("Phones on this network can open {approval_url}."),
                    |why| format!("Phones cannot open {approval_url}: {why}."),
                );
                line(ui, RichText::new(text));
            }
        });
    }
}
