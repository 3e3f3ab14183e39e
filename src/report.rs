//! The pairing report: the fleet as CSV (for a spreadsheet) or JSON (for scripts), the record a
//! field engineer leaves behind. It holds no secret: only what the device list holds.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::device::refresh_warning;
use crate::human_time::rfc3339;
use crate::registry::{DeviceRecord, DeviceState};

/// The CSV columns, in order.
pub const CSV_HEADER: [&str; 11] = [
    "device_id",
    "name",
    "state",
    "project",
    "project_id",
    "paired_at",
    "token_expires_at",
    "last_heartbeat",
    "last_test_upload",
    "server",
    "note",
];

/// A device's state as a word for scripts, and the reason behind it if any.
pub fn state_text(state: &DeviceState) -> (&'static str, Option<&str>) {
    match state {
        DeviceState::Paired => ("paired", None),
        DeviceState::NeedsRepairing { reason } => ("needs_repairing", Some(reason)),
        DeviceState::UnpairPending { reason } => ("unpair_pending", Some(reason)),
        DeviceState::HandedOff { .. } => ("handed_off", None),
    }
}

/// Which server a device is paired with, as people say it: "demo" or `host:port`.
pub fn server_text(record: &DeviceRecord) -> &str {
    if record.is_demo() {
        "demo"
    } else {
        &record.keychain_host
    }
}

/// One device as a JSON object; times are Unix seconds (`null` when unknown).
pub fn record_json(record: &DeviceRecord, now: u64) -> Value {
    let (state, reason) = state_text(&record.state);
    json!({
        "device": record.device_id,
        "name": record.name,
        "state": state,
        "reason": reason,
        "project": record.project_name,
        "project_id": record.project_id,
        "remote_name": record.remote_name,
        "client_version": record.client_version,
        "api_base": record.api_base,
        "keychain_account": record.account(),
        "paired_at": record.paired_at,
        "access_expires_at": record.access_expires_at,
        "refresh_issued_at": record.refresh_issued_at,
        "last_heartbeat": record.last_heartbeat,
        "last_upload": record.last_upload,
        "handed_off_at": record.handed_off_at(),
        "warning": refresh_warning(record, now).map(|w| w.to_string()),
    })
}

/// The fleet as a JSON array, one object per device.
pub fn to_json(records: &[&DeviceRecord], now: u64) -> Value {
    Value::Array(records.iter().map(|r| record_json(r, now)).collect())
}

/// The fleet as CSV (RFC 4180, CRLF line ends, a header row); times are RFC 3339 UTC, empty
/// when unknown.
pub fn to_csv(records: &[&DeviceRecord], now: u64) -> String {
    let mut csv = String::new();
    push_row(&mut csv, CSV_HEADER.iter().map(|h| (*h).to_owned()));
    for record in records {
        let (state, reason) = state_text(&record.state);
        let time = |t: Option<u64>| t.map(rfc3339).unwrap_or_default();
        let note = reason
            .map(str::to_owned)
            .or_else(|| {
                let at = record.handed_off_at()?;
                Some(format!("handed off to the device at {}", rfc3339(at)))
            })
            .or_else(|| refresh_warning(record, now).map(|w| w.to_string()))
            .unwrap_or_default();
        push_row(
            &mut csv,
            [
                record.device_id.to_string(),
                record.name.clone().unwrap_or_default(),
                state.to_owned(),
                record.project_name.clone().unwrap_or_default(),
                record.project_id.clone().unwrap_or_default(),
                rfc3339(record.paired_at),
                time(record.access_expires_at),
                time(record.last_heartbeat),
                time(record.last_upload),
                server_text(record).to_owned(),
                note,
            ]
            .into_iter(),
        );
    }
    csv
}

/// Where the window saves reports: the Downloads folder, else Documents, else home.
pub fn default_dir() -> PathBuf {
    let dirs = directories::UserDirs::new();
    dirs.as_ref()
        .and_then(|d| d.download_dir().or_else(|| d.document_dir()))
        .map(Path::to_path_buf)
        .or_else(|| dirs.as_ref().map(|d| d.home_dir().to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The two report files written by [`write_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The CSV file.
    pub csv: PathBuf,
    /// The JSON file.
    pub json: PathBuf,
}

/// Writes the report as `c2c-pair-report-<UTC time>.csv` and `.json` into `dir` (created if
/// missing). The message on failure names the file and the reason.
pub fn write_files(dir: &Path, records: &[&DeviceRecord], now: u64) -> Result<Written, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("the folder {} could not be created: {e}", dir.display()))?;
    let stamp: String = rfc3339(now)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let stem = format!("c2c-pair-report-{stamp}");
    let written = Written {
        csv: dir.join(format!("{stem}.csv")),
        json: dir.join(format!("{stem}.json")),
    };
    let json = format!("{:#}\n", to_json(records, now));
    for (path, text) in [(&written.csv, to_csv(records, now)), (&written.json, json)] {
        std::fs::write(path, text)
            .map_err(|e| format!("the report {} could not be written: {e}", path.display()))?;
    }
    Ok(written)
}

fn push_row(csv: &mut String, cells: impl Iterator<Item = String>) {
    let cells: Vec<String> = cells.map(|c| csv_cell(&c)).collect();
    csv.push_str(&cells.join(","));
    csv.push_str("\r\n");
}

/// One cell, quoted when it must be. Names come from people and from the server, so a cell
/// that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a
/// leading `'` (OWASP's advice against CSV injection).
fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: Option<&str>) -> DeviceRecord {
        DeviceRecord {
            device_id: crate::device_id::DeviceId::parse(id).unwrap(),
            name: name.map(Into::into),
            api_base: "https://api.frame.io/".into(),
            keychain_host: "api.frame.io:443".into(),
            paired_at: 1_795_853_119,
            project_name: Some("Shoot, day 2".into()),
            project_id: Some("p-1".into()),
            remote_name: None,
            access_expires_at: Some(1_795_853_119 + 28_800),
            refresh_issued_at: Some(1_795_853_119),
            last_heartbeat: None,
            last_upload: Some(1_795_853_200),
            client_version: None,
            request_shape: None,
            save_pending: None,
            state: DeviceState::Paired,
        }
    }

    #[test]
    fn csv_has_a_header_quotes_what_it_must_and_disarms_formulas() {
        let a = record("CAM-1", Some("A \"Cam\""));
        let b = record("CAM-2", Some("=HYPERLINK(\"x\")"));
        let csv = to_csv(&[&a, &b], 1_795_853_119);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], CSV_HEADER.join(","));
        assert_eq!(
            lines[1],
            "CAM-1,\"A \"\"Cam\"\"\",paired,\"Shoot, day 2\",p-1,2026-11-28T08:05:19Z,\
             2026-11-28T16:05:19Z,,2026-11-28T08:06:40Z,api.frame.io:443,"
        );
        assert!(lines[2].starts_with("CAM-2,\"'=HYPERLINK(\"\"x\"\")\",paired,"));
        assert_eq!(lines[3], "", "ends with a line break");
    }

    #[test]
    fn files_are_named_by_their_time_and_hold_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let a = record("CAM-1", None);
        let written = write_files(&dir.path().join("new"), &[&a], 1_795_853_119).unwrap();
        assert!(
            written
                .csv
                .ends_with("new/c2c-pair-report-20261128T080519Z.csv")
        );
        assert!(
            std::fs::read_to_string(&written.csv)
                .unwrap()
                .contains("CAM-1,")
        );
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(&written.json).unwrap()).unwrap();
        assert_eq!(json[0]["device"], "CAM-1");
    }

    #[test]
    fn json_keeps_unix_times_and_the_last_upload() {
        let a = record("CAM-1", None);
        let value = to_json(&[&a], 1_795_853_119);
        assert_eq!(value[0]["device"], "CAM-1");
        assert_eq!(value[0]["paired_at"], 1_795_853_119);
        assert_eq!(value[0]["last_upload"], 1_795_853_200);
        assert!(value[0]["last_heartbeat"].is_null());
    }
}
