//! A paired device: what Frame.io knows of it (`/v2/devices/me`), and as the control API
//! (`GET /_control/devices`) and the status page show it — whether it is online by its
//! heartbeats (see [`super::online`]) and when it was paused (see [`super::pauses`]).

use serde::Serialize;

use super::online::Presence;
use super::pauses::WindowView;

/// A demo project a code can be approved into.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Project {
    /// Project id.
    pub id: String,
    /// Project name.
    pub name: String,
}

/// A paired device, as `/v2/devices/me` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DemoDevice {
    /// Project-device id.
    pub id: String,
    /// The device's `client_id`.
    pub client_id: String,
    /// Name shown in Frame.io.
    pub name: String,
    /// Linked project.
    pub project: Project,
    /// Seconds since the server started, at the last authenticated call.
    pub last_seen: f64,
}

/// One device with its online state and pauses, read at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// The device as `/v2/devices/me` shows it.
    #[serde(flatten)]
    pub device: DemoDevice,
    /// Online by its heartbeats, its last one, the transitions and the offline gaps.
    #[serde(flatten)]
    pub presence: Presence,
    /// Its pause windows, oldest first, Unix seconds (`until` null while paused).
    pub pauses: Vec<WindowView>,
    /// Paused now (a window is open).
    pub paused: bool,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use crate::demo::DemoConfig;
    use crate::demo::state::DemoState;

    #[test]
    fn a_device_is_shown_with_its_heartbeats_and_pauses() {
        let now = Instant::now();
        let config = DemoConfig {
            offline_after: Duration::from_secs(60),
            ..DemoConfig::default()
        };
        let mut state = DemoState::new(config, now);
        let code = state.issue_code("CAM", None, now).unwrap();
        state.approve(&code.user_code, None, None, now).unwrap();
        state
            .poll("CAM", &code.device_code, now + code.interval)
            .ok()
            .unwrap();
        let t0: u64 = 1_800_000_000_000;
        state.heartbeat("CAM", t0);
        state
            .record_pause("CAM", t0 - 10_000, Some(t0 - 5_000))
            .unwrap();
        state.pause("CAM", t0 + 1_000);
        let json = serde_json::to_value(state.device_views(t0 + 2_000)).unwrap();
        let cam = &json[0];
        assert_eq!(cam["client_id"], "CAM");
        assert_eq!(cam["online"], true);
        assert_eq!(cam["last_heartbeat_unix_ms"], t0);
        assert_eq!(cam["paused"], true);
        assert_eq!(cam["pauses"][0]["until"], 1_799_999_995.0);
        assert_eq!(cam["pauses"][1]["until"], serde_json::Value::Null);
        assert_eq!(cam["offline_gaps"], serde_json::json!([]));
        // A minute without a heartbeat: offline, with the gap open.
        let later = serde_json::to_value(state.device_views(t0 + 60_000)).unwrap();
        assert_eq!(later[0]["online"], false);
        assert_eq!(
            later[0]["offline_gaps"],
            serde_json::json!([{"from_unix_ms": t0 + 60_000, "until_unix_ms": null}])
        );
        assert_eq!(later[0]["online_log"].as_array().unwrap().len(), 2);
    }
}
