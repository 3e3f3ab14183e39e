//! A device's identity: its `client_id` (serial number or UUID), checked once where it is
//! typed or read, then carried as [`DeviceId`] wherever a device id travels.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest device id accepted.
pub const MAX_DEVICE_ID_LEN: usize = 128;

/// A device's `client_id`: its serial number or a UUID, unique per physical device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

/// Why a device id is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    /// Nothing but whitespace.
    #[error("enter a device id: the device's serial number or a UUID")]
    Empty,
    /// Longer than [`MAX_DEVICE_ID_LEN`].
    #[error("the device id is {0} characters long; the limit is {MAX_DEVICE_ID_LEN}")]
    TooLong(usize),
    /// Holds a control or invisible character (a pasted tab or newline, a bidi override, a
    /// zero-width space).
    #[error(
        "the device id contains a control character or an invisible one (tab, newline, a \
         direction mark, a zero-width space …); type it again"
    )]
    ControlCharacter,
}

impl DeviceId {
    /// Checks a typed device id. Whitespace around it is dropped, nothing else is changed.
    pub fn parse(text: &str) -> Result<Self, DeviceIdError> {
        let id = Self::stored(text)?;
        if crate::printable::is_printable(id.as_str()) {
            Ok(id)
        } else {
            Err(DeviceIdError::ControlCharacter)
        }
    }

    /// An id as earlier versions checked it (no control characters, but invisible ones and
    /// direction marks let through): how a stored record is read, and an existing device
    /// looked up, so that a stricter rule never makes a pairing unreadable.
    pub fn stored(text: &str) -> Result<Self, DeviceIdError> {
        let id = text.trim();
        if id.is_empty() {
            return Err(DeviceIdError::Empty);
        }
        let len = id.chars().count();
        if len > MAX_DEVICE_ID_LEN {
            return Err(DeviceIdError::TooLong(len));
        }
        if id.chars().any(char::is_control) {
            return Err(DeviceIdError::ControlCharacter);
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as sent to the server.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DeviceId {
    type Error = DeviceIdError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::stored(&text)
    }
}

impl From<DeviceId> for String {
    fn from(id: DeviceId) -> Self {
        id.0
    }
}

/// Read as text wherever text is wanted (a keychain account, a registry lookup, a form).
impl std::ops::Deref for DeviceId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for DeviceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for DeviceId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for DeviceId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_id_is_checked_as_a_typed_one() {
        let id: DeviceId = serde_json::from_str("\"CAM-1\"").unwrap();
        assert_eq!(id, "CAM-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"CAM-1\"");
        assert!(serde_json::from_str::<DeviceId>("\"A\\tB\"").is_err());
        assert!(serde_json::from_str::<DeviceId>("\"  \"").is_err());
        // Stored by an earlier version: still read, though no longer accepted when typed.
        let old: DeviceId = serde_json::from_str("\"CAM\\u200b-1\"").unwrap();
        assert_eq!(old, "CAM\u{200b}-1");
    }

    #[test]
    fn direction_marks_and_invisible_characters_are_refused_when_typed() {
        for id in [
            "CAM\u{202e}1-MAC",
            "CAM\u{200b}-1",
            "CAM-1\u{200f}",
            "A\u{2028}B",
            "\u{feff}CAM-1",
            "CAM\u{2066}-1",
        ] {
            assert_eq!(
                DeviceId::parse(id),
                Err(DeviceIdError::ControlCharacter),
                "{id:?}"
            );
        }
        assert!(DeviceId::parse("Kamera-Ü 1").is_ok());
    }
}
