//! The window driven by `egui_kittest` through accessible labels, with the real worker: the
//! helpers the GUI and booth tests share.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use c2c_pair::backend::BackendChoice;
use c2c_pair::c2c::profile::Profile;
use c2c_pair::demo::DemoConfig;
use c2c_pair::ui::{DEVICE_ID_LABEL, PairApp, UiOptions};
use c2c_pair::worker::{HEARTBEAT_EVERY, UploadSetup, Worker, WorkerSetup};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use secrecy::SecretString;
use url::Url;

/// The window's size unless a test asks for another.
pub const DEFAULT_SIZE: [f32; 2] = [960.0, 680.0];

/// Longest wait for the worker; a test that hits it has failed.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The window, and a channel that ticks whenever the worker sends an event.
pub struct Window {
    /// The kittest harness around the app.
    pub harness: Harness<'static, PairApp>,
    /// Ticks on each worker event.
    pub woken: Receiver<()>,
}

impl Window {
    pub fn open(choice: BackendChoice, kc: &super::TestKeychain) -> Self {
        Self::open_with_heartbeat(choice, kc, HEARTBEAT_EVERY)
    }

    pub fn open_with_heartbeat(
        choice: BackendChoice,
        kc: &super::TestKeychain,
        every: Duration,
    ) -> Self {
        Self::open_setup(WorkerSetup {
            choice,
            keychain: kc.keychain.clone(),
            registry: kc.registry.clone(),
            heartbeat_every: every,
            uploads: UploadSetup::default(),
        })
    }

    pub fn open_setup(setup: WorkerSetup) -> Self {
        Self::open_with(setup, UiOptions::default())
    }

    pub fn open_with(setup: WorkerSetup, options: UiOptions) -> Self {
        Self::open_sized(setup, options, DEFAULT_SIZE)
    }

    /// The window at `size` points.
    pub fn open_sized(setup: WorkerSetup, options: UiOptions, size: [f32; 2]) -> Self {
        let (wake_tx, woken) = mpsc::channel();
        let harness = Harness::builder().with_size(size).build_eframe(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let wake = Arc::new(move || {
                ctx.request_repaint();
                let _ = wake_tx.send(());
            });
            let worker = Worker::spawn(setup, wake).expect("worker starts");
            PairApp::new(worker, options)
        });
        Self { harness, woken }
    }

    /// The window on a fast demo server, once it is ready.
    pub fn demo(kc: &super::TestKeychain) -> Self {
        Self::demo_with(kc, UiOptions::default())
    }

    /// The window with `options` on a fast demo server, once it is ready.
    pub fn demo_with(kc: &super::TestKeychain, options: UiOptions) -> Self {
        let setup = WorkerSetup {
            choice: demo_choice(super::fast_config()),
            keychain: kc.keychain.clone(),
            registry: kc.registry.clone(),
            heartbeat_every: HEARTBEAT_EVERY,
            uploads: UploadSetup::default(),
        };
        let mut window = Self::open_with(setup, options);
        window.until_label_contains("Demo — not connected to Frame.io");
        window
    }

    /// Types a device id, clicks Pair, and returns the link its QR code carries.
    pub fn request_code(&mut self, device: &str) -> String {
        self.type_device_id(device);
        self.click("Pair");
        self.until_label_contains("QR code for ");
        self.qr_link()
    }

    /// Runs frames until `ready` holds, waking on worker events (never sleeping blindly).
    pub fn until(&mut self, what: &str, ready: impl Fn(&Harness<'static, PairApp>) -> bool) {
        self.until_within(PATIENCE, what, ready);
    }

    /// [`Window::until`] with another bound than [`PATIENCE`] (a test of a long outage).
    pub fn until_within(
        &mut self,
        patience: Duration,
        what: &str,
        ready: impl Fn(&Harness<'static, PairApp>) -> bool,
    ) {
        let deadline = Instant::now() + patience;
        loop {
            // Worker events can ask for a few frames in a row; that is not a failure here.
            self.harness.run_ok();
            if ready(&self.harness) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "gave up waiting for {what}");
            // Wake on a worker event, or when the window asked to be repainted (a countdown,
            // the presenter's next code), like the real event loop.
            let asked = self
                .harness
                .output()
                .viewport_output
                .get(&egui::ViewportId::ROOT)
                .map_or(left, |viewport| viewport.repaint_delay);
            let _ = self.woken.recv_timeout(left.min(asked));
        }
    }

    pub fn until_label(&mut self, text: &str) {
        let owned = text.to_owned();
        self.until(text, move |h| h.query_by_label(&owned).is_some());
    }

    pub fn until_label_contains(&mut self, text: &str) {
        let owned = text.to_owned();
        self.until(text, move |h| h.query_by_label_contains(&owned).is_some());
    }

    /// Replaces the device id field's text, as a user would: focus, select all, type.
    pub fn type_device_id(&mut self, id: &str) {
        self.harness.get_by_label(DEVICE_ID_LABEL).focus();
        self.harness.run_ok();
        self.harness
            .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        self.harness.run_ok();
        self.harness.get_by_label(DEVICE_ID_LABEL).type_text(id);
        self.harness.run_ok();
    }

    pub fn click(&mut self, label: &str) {
        self.harness.get_by_label(label).click();
        self.harness.run_ok();
    }

    /// Clicks `item` in the only device's Manage menu (Refresh now, Check, Re-pair, Hand
    /// off…, Unpair).
    pub fn manage(&mut self, item: &str) {
        self.click(c2c_pair::ui::MANAGE);
        self.click(item);
    }

    /// The link the QR code carries, once it differs from `previous` (a fresh code).
    pub fn next_link(&mut self, previous: Option<&str>) -> String {
        let previous = previous.map(str::to_owned);
        self.until("a fresh code", move |h| {
            h.query_by_label_contains("QR code for ")
                .and_then(|qr| qr.accesskit_node().label())
                .is_some_and(|label| {
                    Some(label.trim_start_matches("QR code for ")) != previous.as_deref()
                })
        });
        self.qr_link()
    }

    /// The link in the QR's accessible name.
    pub fn qr_link(&self) -> String {
        let qr = self.harness.get_by_label_contains("QR code for ");
        let label = qr.accesskit_node().label().expect("QR has a label");
        label.trim_start_matches("QR code for ").to_owned()
    }
}

/// The demo server with `config`, forced.
pub fn demo_choice(config: DemoConfig) -> BackendChoice {
    BackendChoice {
        profile: Profile::frame_io(),
        force_demo: true,
        demo_fallback: true,
        demo: config,
        env_secret: None,
    }
}

/// A service at `base` with the client secret `secret` from the environment.
pub fn service_choice(base: &Url, secret: &str) -> BackendChoice {
    BackendChoice {
        profile: Profile::for_api_base(base.clone()),
        force_demo: false,
        demo_fallback: false,
        demo: DemoConfig::default(),
        env_secret: Some(SecretString::from(secret.to_owned())),
    }
}
