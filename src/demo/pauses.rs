//! When each device was paused in "Frame.io", as windows on the wall clock.
//!
//! Frame.io does not refuse a paused device's every call: it judges each file by when it was
//! made. A device sends, with each new asset, how many seconds ago the file was created
//! (`offset`, spec §3.6); the server compares that instant with the device's pause windows and
//! refuses a file created during one (409 Channel Paused). So the demo server remembers windows,
//! not a flag: a file made before a pause, or after it, is accepted whenever it is sent.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

/// Most windows remembered per device; the oldest closed ones make way.
pub const WINDOWS_PER_DEVICE: usize = 64;
/// Most devices with windows remembered; the one paused least recently makes way.
pub const DEVICES: usize = 2_000;

/// One pause, Unix milliseconds: from `from`, until `until` (excluded), or still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When the pause began.
    pub from: u64,
    /// When it ended; `None` while the device is still paused.
    pub until: Option<u64>,
}

impl Window {
    /// True when a file created at `t` was created during this pause.
    pub fn covers(&self, t: u64) -> bool {
        self.from <= t && self.until.is_none_or(|until| t < until)
    }
}

/// A window as the control API shows it, in Unix seconds (the unit of `offset`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowView {
    /// When the pause began, Unix seconds.
    pub from: f64,
    /// When it ended, Unix seconds; `null` while it lasts.
    pub until: Option<f64>,
}

/// Why a window was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowRefused {
    /// It ends before it begins.
    #[error("until must not be before from")]
    Backwards,
}

/// Every device's pause windows, oldest first, within [`WINDOWS_PER_DEVICE`] and [`DEVICES`].
#[derive(Debug, Default)]
pub struct Pauses {
    devices: HashMap<String, VecDeque<Window>>,
}

impl Pauses {
    /// Pauses a device from `now` until resumed; a device already paused stays paused from
    /// when it was.
    pub fn open(&mut self, client_id: &str, now: u64) {
        // A window recorded for the future must not swallow this one: the pause is open now.
        let open = Window {
            from: now,
            until: None,
        };
        self.insert(client_id, open);
    }

    /// Records a window, closed (`until` given) or open; an open window while one is already
    /// open moves that one's start to the earlier of the two (a device has one pause at a time).
    pub fn record(
        &mut self,
        client_id: &str,
        from: u64,
        until: Option<u64>,
    ) -> Result<(), WindowRefused> {
        if until.is_some_and(|until| until < from) {
            return Err(WindowRefused::Backwards);
        }
        self.insert(client_id, Window { from, until });
        Ok(())
    }

    /// Resumes a device: its open window ends `now` (never before it began). Nothing happens to
    /// a device that is not paused.
    pub fn close(&mut self, client_id: &str, now: u64) {
        if let Some(open) = self
            .devices
            .get_mut(client_id)
            .and_then(|windows| windows.iter_mut().find(|w| w.until.is_none()))
        {
            open.until = Some(now.max(open.from));
        }
    }

    /// True while the device has an open window.
    pub fn is_paused(&self, client_id: &str) -> bool {
        self.devices
            .get(client_id)
            .is_some_and(|windows| windows.iter().any(|w| w.until.is_none()))
    }

    /// True when a file the device created at `t` (Unix ms) was created during a pause.
    pub fn covers(&self, client_id: &str, t: u64) -> bool {
        self.devices
            .get(client_id)
            .is_some_and(|windows| windows.iter().any(|w| w.covers(t)))
    }

    /// A device's windows, oldest first, in seconds.
    pub fn views(&self, client_id: &str) -> Vec<WindowView> {
        self.devices
            .get(client_id)
            .map_or_else(Vec::new, |windows| {
                windows
                    .iter()
                    .map(|w| WindowView {
                        from: seconds(w.from),
                        until: w.until.map(seconds),
                    })
                    .collect()
            })
    }

    /// Forgets a device's windows (the device is forgotten).
    pub fn forget(&mut self, client_id: &str) {
        self.devices.remove(client_id);
    }

    /// How many devices have windows.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// True when no device has a window.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    fn insert(&mut self, client_id: &str, window: Window) {
        if !self.devices.contains_key(client_id) && self.devices.len() >= DEVICES {
            self.forget_stalest();
        }
        let windows = self.devices.entry(client_id.to_owned()).or_default();
        if window.until.is_none()
            && let Some(open) = windows.iter_mut().find(|w| w.until.is_none())
        {
            open.from = open.from.min(window.from);
        } else {
            let at = windows.partition_point(|w| w.from <= window.from);
            windows.insert(at, window);
        }
        while windows.len() > WINDOWS_PER_DEVICE {
            // The oldest closed window goes; the open one (at most one) stays.
            let oldest_closed = windows.iter().position(|w| w.until.is_some()).unwrap_or(0);
            windows.remove(oldest_closed);
        }
    }

    /// Forgets the device whose latest window began longest ago.
    fn forget_stalest(&mut self) {
        let stalest = self
            .devices
            .iter()
            .min_by_key(|(_, windows)| windows.iter().map(|w| w.from).max().unwrap_or(0))
            .map(|(client_id, _)| client_id.clone());
        if let Some(client_id) = stalest {
            self.devices.remove(&client_id);
        }
    }
}

/// Unix milliseconds as seconds.
pub fn seconds(ms: u64) -> f64 {
    std::time::Duration::from_millis(ms).as_secs_f64()
}

/// Unix seconds as a control call sends them (a float, maybe fractional) as milliseconds;
/// `None` when not a time (negative, not finite, or beyond any calendar).
pub fn millis(seconds: f64) -> Option<u64> {
    const LAST: f64 = 253_402_300_800.0; // 10000-01-01, in seconds.
    if !seconds.is_finite() || !(0.0..LAST).contains(&seconds) {
        return None;
    }
    // In range (checked above), so the cast neither wraps nor truncates a whole part.
    Some((seconds * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_refused_when_it_was_made_during_a_window() {
        let mut pauses = Pauses::default();
        pauses.record("CAM", 10_000, Some(20_000)).unwrap();
        assert!(!pauses.covers("CAM", 9_999), "made before");
        assert!(pauses.covers("CAM", 10_000), "from is inside");
        assert!(pauses.covers("CAM", 19_999));
        assert!(!pauses.covers("CAM", 20_000), "until is outside");
        assert!(!pauses.covers("OTHER", 15_000), "another device");
        assert!(
            !pauses.is_paused("CAM"),
            "a closed window is not a pause now"
        );
        assert_eq!(
            pauses.record("CAM", 5, Some(4)),
            Err(WindowRefused::Backwards)
        );
    }

    #[test]
    fn an_open_window_lasts_until_resumed() {
        let mut pauses = Pauses::default();
        pauses.open("CAM", 50_000);
        assert!(pauses.is_paused("CAM"));
        assert!(pauses.covers("CAM", u64::MAX), "anything made since");
        assert!(!pauses.covers("CAM", 49_999));
        // Paused again while paused: still one window, from the first pause.
        pauses.open("CAM", 60_000);
        assert_eq!(pauses.views("CAM").len(), 1);
        pauses.close("CAM", 70_000);
        assert!(!pauses.is_paused("CAM"));
        assert_eq!(
            pauses.views("CAM"),
            [WindowView {
                from: 50.0,
                until: Some(70.0)
            }]
        );
        assert!(!pauses.covers("CAM", 70_000));
        // Resumed when not paused: nothing changes.
        pauses.close("CAM", 80_000);
        assert_eq!(pauses.views("CAM")[0].until, Some(70.0));
    }

    #[test]
    fn windows_are_bounded_per_device_and_in_all() {
        let mut pauses = Pauses::default();
        pauses.open("CAM", 1);
        for n in 0..200 {
            pauses
                .record("CAM", 10 + n * 10, Some(15 + n * 10))
                .unwrap();
        }
        let views = pauses.views("CAM");
        assert_eq!(views.len(), WINDOWS_PER_DEVICE);
        assert!(pauses.is_paused("CAM"), "the open window is kept");
        assert_eq!(views.last().unwrap().from, 2.0, "the newest kept");
        assert!(
            (views[1].from - 1.38).abs() < 1e-9,
            "the oldest closed ones made way: {views:?}"
        );
        for n in 0..(DEVICES as u64 + 10) {
            pauses.record(&format!("cam-{n}"), n, Some(n + 1)).unwrap();
        }
        assert_eq!(pauses.len(), DEVICES);
        assert!(pauses.views("cam-0").is_empty(), "the stalest made way");
    }

    #[test]
    fn control_seconds_become_milliseconds() {
        assert_eq!(millis(1.5), Some(1_500));
        assert_eq!(millis(1_700_000_000.123), Some(1_700_000_000_123));
        assert_eq!(millis(-1.0), None);
        assert_eq!(millis(f64::NAN), None);
        assert_eq!(millis(1e300), None);
    }
}
