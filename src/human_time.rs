//! Times as people read them in device lists: "in 7 h", "2 min ago".

/// A span of seconds as "45 s", "12 min", "7 h", "3 days", rounded to the nearest unit
/// (a fresh 8-hour token reads "8 h", not "7 h").
pub fn span(seconds: u64) -> String {
    let round = |unit: u64| seconds.saturating_add(unit / 2) / unit;
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3570 => format!("{} min", round(60)),
        s if s < 2 * 86_400 - 1800 => format!("{} h", round(3600)),
        _ => format!("{} days", round(86_400)),
    }
}

/// When an access token expires, seen from `now`.
pub fn token_expiry(expires_at: Option<u64>, now: u64) -> String {
    match expires_at {
        None => "token lifetime unknown".to_owned(),
        Some(at) if at > now => format!("token valid for {}", span(at - now)),
        Some(at) => format!("token expired {} ago", span(now - at)),
    }
}

/// How long ago `since` was, seen from `now`: "3 min ago".
pub fn ago(since: u64, now: u64) -> String {
    format!("{} ago", span(now.saturating_sub(since)))
}

/// When the last heartbeat went through, seen from `now`.
pub fn heartbeat(last: Option<u64>, now: u64) -> String {
    match last {
        None => "no heartbeat yet".to_owned(),
        Some(at) => format!("heartbeat {} ago", span(now.saturating_sub(at))),
    }
}

/// Unix seconds as this computer's local date and time, "2026-12-07 14:02:31 CET" (when a
/// file was recorded, in words a person checks against a call sheet).
pub fn local(unix: u64) -> String {
    let second = i64::try_from(unix).unwrap_or(i64::MAX);
    match jiff::Timestamp::from_second(second) {
        Ok(at) => at
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => rfc3339(unix),
    }
}

/// Unix seconds as an RFC 3339 UTC timestamp, "2026-11-29T08:05:19Z" (for reports).
pub fn rfc3339(unix: u64) -> String {
    // Days to civil date: Howard Hinnant's `civil_from_days`, for the proleptic Gregorian
    // calendar (valid far beyond any token's lifetime).
    let days = unix / 86_400;
    let seconds = unix % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_853_119), "2026-11-28T08:05:19Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(5), "5 s");
        assert_eq!(span(125), "2 min");
        assert_eq!(span(3569), "59 min");
        assert_eq!(span(3570), "1 h");
        assert_eq!(span(7 * 3600 + 5), "7 h");
        assert_eq!(span(8 * 3600 - 60), "8 h");
        assert_eq!(span(3 * 86_400), "3 days");
        assert_eq!(token_expiry(Some(100 + 7200), 100), "token valid for 2 h");
        assert_eq!(token_expiry(Some(100), 160), "token expired 1 min ago");
        assert_eq!(heartbeat(None, 5), "no heartbeat yet");
        assert_eq!(heartbeat(Some(0), 130), "heartbeat 2 min ago");
    }
}
