//! Reading a list of devices to pair: one per line, `id`, `id,name` or `id,name,firmware`.
//!
//! The list is CSV, optionally with an `id,name,firmware` header and quoted fields. The
//! firmware version (semver) is the device's own `x-client-version`, kept with it. Every bad
//! line is reported by number; good lines are never dropped because of a bad one.

use crate::device::DeviceId;

/// A device to pair, from one line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The device's id.
    pub device_id: DeviceId,
    /// Its display name, if the line gave one.
    pub name: Option<String>,
    /// Its firmware version (semver), if the line gave one: sent as `x-client-version` on
    /// each of its calls instead of the setting's.
    pub firmware: Option<String>,
}

impl Entry {
    /// A device by id alone.
    pub fn new(device_id: DeviceId, name: Option<String>) -> Self {
        Self {
            device_id,
            name,
            firmware: None,
        }
    }
}

/// What a list held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Usable entries, in order, without duplicates.
    pub entries: Vec<Entry>,
    /// One message per line that could not be used.
    pub problems: Vec<String>,
}

/// Parses pasted text or a CSV file's contents.
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, name, firmware) = split(line);
        if number == 1 && id.eq_ignore_ascii_case("id") {
            continue;
        }
        let device_id = match DeviceId::parse(&id) {
            Ok(device_id) => device_id,
            Err(error) => {
                parsed.problems.push(format!("line {number}: {error}"));
                continue;
            }
        };
        if parsed.entries.iter().any(|e| e.device_id == device_id) {
            parsed.problems.push(format!(
                "line {number}: {device_id} is listed twice; kept once"
            ));
            continue;
        }
        let name = name.filter(|n| !n.is_empty());
        let firmware = firmware.filter(|f| !f.is_empty());
        if let Some(version) = &firmware
            && let Err(error) = crate::c2c::profile::check_client_version(version)
        {
            parsed.problems.push(format!("line {number}: {error}"));
            continue;
        }
        parsed.entries.push(Entry {
            device_id,
            name,
            firmware,
        });
    }
    parsed
}

/// Reads bytes that should be text; invalid UTF-8 is replaced and reported, not fatal.
pub fn decode(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some("the file is not valid UTF-8; unreadable characters are shown as �".to_owned()),
        ),
    }
}

/// Splits `id,name,firmware` (or with tabs), removing CSV quotes.
fn split(line: &str) -> (String, Option<String>, Option<String>) {
    let fields = csv_fields(line);
    let mut fields = fields.into_iter();
    let id = fields.next().unwrap_or_default();
    let name = fields.next().map(|n| n.trim().to_owned());
    let firmware = fields.next().map(|f| f.trim().to_owned());
    (id, name, firmware)
}

fn csv_fields(line: &str) -> Vec<String> {
    let separator = if line.contains(',') { ',' } else { '\t' };
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' if field.trim().is_empty() && !quoted => {
                field.clear();
                quoted = true;
            }
            '"' if quoted => quoted = false,
            c if c == separator && !quoted => {
                fields.push(std::mem::take(&mut field).trim().to_owned());
            }
            c => field.push(c),
        }
    }
    fields.push(field.trim().to_owned());
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(parsed: &Parsed) -> Vec<(&str, Option<&str>)> {
        parsed
            .entries
            .iter()
            .map(|e| (e.device_id.as_str(), e.name.as_deref()))
            .collect()
    }

    #[test]
    fn serials_and_csv_lines_both_work() {
        let parsed = parse(
            "id,name\nCAM-1,A-Cam\n\"CAM-2\",\"B-Cam, the \"\"wide\"\" one\"\nREC-7\n\n# spare\nCAM-3\tC-Cam\n",
        );
        assert_eq!(
            ids(&parsed),
            [
                ("CAM-1", Some("A-Cam")),
                ("CAM-2", Some("B-Cam, the \"wide\" one")),
                ("REC-7", None),
                ("CAM-3", Some("C-Cam")),
            ]
        );
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    }

    #[test]
    fn a_third_column_is_the_devices_firmware_version() {
        let parsed =
            parse("id,name,firmware\nCAM-1,A-Cam,2.16.4\nREC-1,,1.0.0\nENC-1,E,2.16\nCAM-2,B\n");
        let firmware: Vec<_> = parsed
            .entries
            .iter()
            .map(|e| {
                (
                    e.device_id.as_str(),
                    e.name.as_deref(),
                    e.firmware.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            firmware,
            [
                ("CAM-1", Some("A-Cam"), Some("2.16.4")),
                ("REC-1", None, Some("1.0.0")),
                ("CAM-2", Some("B"), None),
            ]
        );
        assert_eq!(parsed.problems.len(), 1);
        assert!(
            parsed.problems[0].starts_with("line 4:")
                && parsed.problems[0].contains("not a semantic version"),
            "{:?}",
            parsed.problems
        );
    }

    #[test]
    fn bad_lines_are_reported_by_number_and_good_ones_kept() {
        let long = "x".repeat(129);
        let parsed = parse(&format!("CAM-1\n ,nameless\n{long}\nCAM-1,again\nCAM-2"));
        assert_eq!(ids(&parsed), [("CAM-1", None), ("CAM-2", None)]);
        assert_eq!(parsed.problems.len(), 3);
        assert!(parsed.problems[0].starts_with("line 2: enter a device id"));
        assert!(parsed.problems[1].starts_with("line 3:") && parsed.problems[1].contains("128"));
        assert!(parsed.problems[2].contains("listed twice"));
    }

    #[test]
    fn invalid_utf8_is_reported_not_fatal() {
        let (text, problem) = decode(b"CAM-1,Kamera \xff\nCAM-2\n");
        assert!(problem.unwrap().contains("UTF-8"));
        assert_eq!(parse(&text).entries.len(), 2);
        assert_eq!(decode(b"CAM-1").1, None);
    }
}
