//! Faults of part uploads, set through the control API (`POST /_control/uploads/fault`):
//! the next part's connection dropped or stalled after a number of its body's bytes, every
//! part's body read at a set pace until cleared, and normal assets created with more or fewer
//! parts (and upload URLs) than asked for until cleared — a client must upload to the URLs it
//! is given, not to the count it asked for.

use std::num::NonZeroU64;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Longest a stalled part upload is held open before its connection is dropped.
pub const STALL_LIMIT: Duration = Duration::from_secs(600);

/// A control call's settings; absent fields leave what is set as it is.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UploadFaultSettings {
    /// The next part upload's connection is dropped (no answer) after this many bytes of its
    /// body were read (or at the end of a shorter body).
    #[serde(default)]
    pub drop_after_bytes: Option<u64>,
    /// The next part upload stops being read after this many bytes of its body (or at the end
    /// of a shorter body), its connection held open until [`STALL_LIMIT`] or the server stops.
    #[serde(default)]
    pub stall_after_bytes: Option<u64>,
    /// Every part upload's body is read at this many bytes per second at most, until cleared.
    #[serde(default)]
    pub read_bytes_per_second: Option<NonZeroU64>,
    /// Every normal asset is created with this many parts more (or fewer, negative) than asked
    /// for, at least one, and as many upload URLs, until cleared.
    #[serde(default)]
    pub upload_urls_delta: Option<i64>,
}

impl UploadFaultSettings {
    /// True when the call sets nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What befalls one part upload's body after a number of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// Drop the connection, answering nothing.
    Drop,
    /// Stop reading and hold the connection open.
    Stall,
}

/// The upload faults in force.
#[derive(Debug, Default)]
pub struct UploadFaults {
    settings: UploadFaultSettings,
}

impl UploadFaults {
    /// Sets what `settings` gives; the rest stays.
    pub fn set(&mut self, settings: UploadFaultSettings) {
        let current = &mut self.settings;
        current.drop_after_bytes = settings.drop_after_bytes.or(current.drop_after_bytes);
        current.stall_after_bytes = settings.stall_after_bytes.or(current.stall_after_bytes);
        current.read_bytes_per_second = settings
            .read_bytes_per_second
            .or(current.read_bytes_per_second);
        current.upload_urls_delta = settings.upload_urls_delta.or(current.upload_urls_delta);
    }

    /// Clears every upload fault.
    pub fn clear(&mut self) {
        self.settings = UploadFaultSettings::default();
    }

    /// What is in force.
    pub fn settings(&self) -> UploadFaultSettings {
        self.settings
    }

    /// The interruption of the part upload starting now, and after how many bytes; used up.
    /// A drop and a stall both set: the one after fewer bytes (the drop when equal).
    pub fn take_interruption(&mut self) -> Option<(u64, Interruption)> {
        let drop = self
            .settings
            .drop_after_bytes
            .take()
            .map(|at| (at, Interruption::Drop));
        let stall = self
            .settings
            .stall_after_bytes
            .take()
            .map(|at| (at, Interruption::Stall));
        match (drop, stall) {
            (Some(drop), Some(stall)) if stall.0 < drop.0 => Some(stall),
            (Some(drop), _) => Some(drop),
            (None, stall) => stall,
        }
    }

    /// The pace part bodies are read at, if throttled.
    pub fn read_rate(&self) -> Option<NonZeroU64> {
        self.settings.read_bytes_per_second
    }

    /// How many parts more (or fewer) than asked for a normal asset gets.
    pub fn urls_delta(&self) -> i64 {
        self.settings.upload_urls_delta.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interruptions_are_used_once_and_the_pace_stays_until_cleared() {
        let mut faults = UploadFaults::default();
        let settings: UploadFaultSettings = serde_json::from_str(
            r#"{"drop_after_bytes": 10, "stall_after_bytes": 5, "read_bytes_per_second": 100}"#,
        )
        .unwrap();
        faults.set(settings);
        assert_eq!(faults.take_interruption(), Some((5, Interruption::Stall)));
        assert_eq!(faults.take_interruption(), None, "both were for one upload");
        assert_eq!(faults.read_rate(), NonZeroU64::new(100));
        faults.set(UploadFaultSettings {
            drop_after_bytes: Some(0),
            ..UploadFaultSettings::default()
        });
        assert_eq!(faults.read_rate(), NonZeroU64::new(100), "kept");
        assert_eq!(faults.take_interruption(), Some((0, Interruption::Drop)));
        faults.clear();
        assert_eq!(faults.read_rate(), None);
        assert!(serde_json::from_str::<UploadFaultSettings>(r#"{"drop_after": 1}"#).is_err());
        assert!(
            serde_json::from_str::<UploadFaultSettings>(r#"{"read_bytes_per_second": 0}"#).is_err()
        );
    }

    #[test]
    fn the_upload_urls_delta_stays_until_cleared() {
        let mut faults = UploadFaults::default();
        assert_eq!(faults.urls_delta(), 0);
        faults.set(serde_json::from_str(r#"{"upload_urls_delta": -2}"#).unwrap());
        faults.set(serde_json::from_str(r#"{"drop_after_bytes": 1}"#).unwrap());
        assert_eq!(faults.urls_delta(), -2, "kept when other faults are set");
        assert_eq!(faults.take_interruption(), Some((1, Interruption::Drop)));
        assert_eq!(faults.urls_delta(), -2, "not used up by an upload");
        faults.clear();
        assert_eq!(faults.urls_delta(), 0);
    }
}
