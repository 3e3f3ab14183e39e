//! Reading each kind of setting from text (the environment, an option, the file's strings);
//! errors say what is expected.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::DEFAULT_DEMO_LISTEN;
use crate::c2c::profile::{self, BodyEncoding};

/// An API base: https://, or http:// on loopback only.
pub fn api_base(text: &str) -> Result<Url, String> {
    profile::parse_api_base(text).map_err(|e| e.to_string())
}

/// A semantic version.
pub fn client_version(text: &str) -> Result<String, String> {
    let text = text.trim();
    profile::check_client_version(text)
        .map(|()| text.to_owned())
        .map_err(|e| e.to_string())
}

/// `urlencoded` or `multipart`.
pub fn body(text: &str) -> Result<BodyEncoding, String> {
    text.trim().parse()
}

/// true/false (also 1/0, yes/no, on/off).
pub fn flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{text:?} is not true or false")),
    }
}

/// Seconds in `range`.
pub fn seconds_in(value: f64, (min, max): (f64, f64)) -> Result<Duration, String> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "{value} is not a number of seconds between {min} and {max}"
        ))
    }
}

/// A whole number in `range`.
pub fn count_in(number: i64, (min, max): (u32, u32)) -> Result<u32, String> {
    u32::try_from(number)
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{number} is not a whole number between {min} and {max}"))
}

/// Seconds in `range`, written as text.
pub fn seconds_text(text: &str, range: (f64, f64)) -> Result<Duration, String> {
    let value = text.trim().parse::<f64>().map_err(|_| {
        format!(
            "{text:?} is not a number of seconds between {} and {}",
            range.0, range.1
        )
    })?;
    seconds_in(value, range)
}

/// An address and port to listen on.
pub fn listen(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("{text:?} is not an address and port such as {DEFAULT_DEMO_LISTEN} or 0.0.0.0:8480")
    })
}

/// A folder; a leading `~/` is the home folder.
pub fn dir(text: &str) -> Result<PathBuf, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the folder is empty".into());
    }
    match text.strip_prefix("~/") {
        Some(rest) => directories::BaseDirs::new()
            .map(|dirs| dirs.home_dir().join(rest))
            .ok_or_else(|| format!("{text:?}: no home folder is known for ~")),
        None => Ok(PathBuf::from(text)),
    }
}

/// An endpoint path below the API base.
pub fn endpoint(text: &str) -> Result<String, String> {
    profile::check_path(text.trim())
        .map(|()| text.trim().to_owned())
        .map_err(|e| e.to_string())
}

/// A path, or empty (`off` in the environment, where empty means unset) to switch an
/// endpoint a server may not have (device information, heartbeat) off.
pub fn optional_endpoint(text: &str) -> Result<String, String> {
    match text.trim() {
        "" | "off" => Ok(String::new()),
        path => endpoint(path),
    }
}

/// Space-separated scope tokens (RFC 6749 §3.3: visible ASCII but `"` and `\\`).
pub fn scope(text: &str) -> Result<String, String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let valid = |token: &str| {
        token
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    };
    if tokens.is_empty() || !tokens.iter().all(|t| valid(t)) {
        return Err(format!(
            "{:?} is not a scope: give space-separated scope names such as \
             \"asset_create offline\" (Frame.io) or \"openid offline_access\"",
            crate::printable::text(text)
        ));
    }
    Ok(tokens.join(" "))
}
