//! Upload URLs signed like S3's presigned ones, and their checks.
//!
//! Frame.io hands out presigned S3 URLs whose signature covers headers as well as the path:
//! Frame.io's own upload client sends `Content-Type: <the asset's filetype>` and
//! `x-amz-acl: private` with every part, and S3 answers 403 to a PUT without them. The demo
//! server's URLs carry an S3-like query (algorithm, date, lifetime, signed header names and an
//! HMAC-SHA256 over them, with a key made when the server starts), so a client that edits or
//! rebuilds a URL, uses it past its lifetime, or leaves a signed header out meets the same 403
//! as on S3.

use std::time::Duration;

use ring::hmac;

use super::hex;

/// The algorithm named in the query.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The headers the signature covers, as S3 lists them (lowercase, `;`-separated, sorted).
pub const SIGNED_HEADERS: &str = "content-type;host;x-amz-acl";
/// The ACL the signature fixes.
pub const ACL: &str = "private";
/// S3's longest presigned-URL lifetime (7 days).
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a part upload's request is refused before its body is read (403, S3's XML error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The query is not one of ours: a parameter is missing or malformed, or the signature
    /// does not match the path and parameters.
    #[error("{0}")]
    Signature(String),
    /// The URL's lifetime is over.
    #[error("request has expired")]
    Expired,
    /// A header the signature covers is missing or has another value.
    #[error("{0}")]
    Header(String),
}

impl Denied {
    /// S3's error code for it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Signature(_) | Self::Header(_) => "SignatureDoesNotMatch",
            Self::Expired => "AccessDenied",
        }
    }

    /// S3's message for it.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Signature(_) | Self::Header(_) => {
                "The request signature we calculated does not match the signature you provided. \
                 Check your key and signing method."
            }
            Self::Expired => "Request has expired",
        }
    }

    /// The XML body S3 answers with.
    pub fn xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code(),
            self.message()
        )
    }
}

/// Signs and checks upload URLs with a key of this server's run.
pub struct Signer {
    key: hmac::Key,
}

impl Signer {
    /// A signer with a fresh random key.
    pub fn random() -> Self {
        let secret: [u8; 32] = rand::random();
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
        }
    }

    /// The query that presigns a PUT to `path`, issued at `now_unix` seconds for `lifetime`
    /// (at most S3's 7 days).
    pub fn query(&self, path: &str, now_unix: u64, lifetime: Duration) -> String {
        let date = amz_date(now_unix);
        let expires = lifetime.min(MAX_LIFETIME).as_secs();
        let signature = hmac::sign(&self.key, &message(path, &date, expires));
        format!(
            "X-Amz-Algorithm={ALGORITHM}&X-Amz-Date={date}&X-Amz-Expires={expires}\
             &X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-acl&X-Amz-Signature={}",
            hex::encode(signature.as_ref())
        )
    }

    /// Checks a PUT to `path` with `query` at `now_unix` seconds: ours, unchanged, and not
    /// expired.
    pub fn check(&self, path: &str, query: Option<&str>, now_unix: u64) -> Result<(), Denied> {
        let mut algorithm = None;
        let mut date = None;
        let mut expires = None;
        let mut signed_headers = None;
        let mut signature = None;
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let slot = match name.as_ref() {
                "X-Amz-Algorithm" => &mut algorithm,
                "X-Amz-Date" => &mut date,
                "X-Amz-Expires" => &mut expires,
                "X-Amz-SignedHeaders" => &mut signed_headers,
                "X-Amz-Signature" => &mut signature,
                _ => continue,
            };
            slot.get_or_insert(value.into_owned());
        }
        let missing = |name: &str| Denied::Signature(format!("missing {name} in the query"));
        let algorithm = algorithm.ok_or_else(|| missing("X-Amz-Algorithm"))?;
        let date = date.ok_or_else(|| missing("X-Amz-Date"))?;
        let expires = expires.ok_or_else(|| missing("X-Amz-Expires"))?;
        let signed_headers = signed_headers.ok_or_else(|| missing("X-Amz-SignedHeaders"))?;
        let signature = signature.ok_or_else(|| missing("X-Amz-Signature"))?;
        if algorithm != ALGORITHM || signed_headers != SIGNED_HEADERS {
            return Err(Denied::Signature(
                "the algorithm or signed headers were changed".into(),
            ));
        }
        let issued = parse_amz_date(&date)
            .ok_or_else(|| Denied::Signature(format!("X-Amz-Date {date:?} is not a date")))?;
        let lifetime = expires
            .parse::<u64>()
            .map_err(|_| Denied::Signature(format!("X-Amz-Expires {expires:?} is not seconds")))?;
        let tag = hex::decode(&signature)
            .ok_or_else(|| Denied::Signature("X-Amz-Signature is not hex".into()))?;
        hmac::verify(&self.key, &message(path, &date, lifetime), &tag)
            .map_err(|_| Denied::Signature("signature does not match".into()))?;
        if now_unix >= issued.saturating_add(lifetime) {
            return Err(Denied::Expired);
        }
        Ok(())
    }
}

/// Checks the headers the signature covers: `x-amz-acl: private` and `Content-Type` equal to
/// the asset's filetype.
pub fn check_headers(
    content_type: Option<&str>,
    acl: Option<&str>,
    filetype: &str,
) -> Result<(), Denied> {
    match acl.map(str::trim) {
        None => return Err(Denied::Header("missing header x-amz-acl".into())),
        Some(ACL) => {}
        Some(other) => {
            return Err(Denied::Header(format!(
                "x-amz-acl is {other:?}; the URL was signed for {ACL:?}"
            )));
        }
    }
    match content_type.map(str::trim) {
        None => Err(Denied::Header("missing header content-type".into())),
        Some(sent) if sent == filetype => Ok(()),
        Some(sent) => Err(Denied::Header(format!(
            "content-type is {sent:?}; the URL was signed for {filetype:?}, the asset's filetype"
        ))),
    }
}

/// What the signature covers: the method, path, date, lifetime and signed header names.
fn message(path: &str, date: &str, expires: u64) -> Vec<u8> {
    format!("PUT\n{path}\n{date}\n{expires}\n{SIGNED_HEADERS}").into_bytes()
}

/// Unix seconds as S3's `X-Amz-Date`, `20260101T120000Z` (UTC).
pub fn amz_date(unix: u64) -> String {
    crate::human_time::rfc3339(unix).replace(['-', ':'], "")
}

/// `20260101T120000Z` as Unix seconds.
fn parse_amz_date(text: &str) -> Option<u64> {
    let time = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", text).ok()?;
    let zoned = time.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok()?;
    u64::try_from(zoned.timestamp().as_second()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);
    const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    #[test]
    fn dates_read_back_as_written() {
        assert_eq!(amz_date(NOW), "20260101T000000Z");
        assert_eq!(parse_amz_date("20260101T000000Z"), Some(NOW));
        assert_eq!(parse_amz_date(&amz_date(NOW + 3_661)), Some(NOW + 3_661));
        assert_eq!(parse_amz_date("2026-01-01"), None);
    }

    #[test]
    fn a_signed_url_is_accepted_unchanged_and_refused_edited_moved_or_late() {
        let signer = Signer::random();
        let path = "/_uploads/a/1";
        let query = signer.query(path, NOW, DAY);
        assert!(query.len() < 400, "{query}");
        assert!(query.contains("X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-acl"));
        assert_eq!(signer.check(path, Some(&query), NOW + 10), Ok(()));
        // Another path, another date, another server, no query.
        assert!(matches!(
            signer.check("/_uploads/a/2", Some(&query), NOW),
            Err(Denied::Signature(_))
        ));
        let moved = query.replace(&amz_date(NOW), &amz_date(NOW + 60));
        assert!(matches!(
            signer.check(path, Some(&moved), NOW),
            Err(Denied::Signature(_))
        ));
        assert!(matches!(
            Signer::random().check(path, Some(&query), NOW),
            Err(Denied::Signature(_))
        ));
        let Err(Denied::Signature(why)) = signer.check(path, None, NOW) else {
            panic!("no query, no upload");
        };
        assert!(why.contains("missing X-Amz-Algorithm"), "{why}");
        // Late: S3's AccessDenied, Request has expired.
        let late = signer.check(path, Some(&query), NOW + DAY.as_secs());
        assert_eq!(late, Err(Denied::Expired));
        assert!(Denied::Expired.xml().contains("<Code>AccessDenied</Code>"));
        assert!(
            Denied::Expired
                .xml()
                .contains("<Message>Request has expired</Message>")
        );
        // A lifetime of zero: expired as soon as issued.
        let instant = signer.query(path, NOW, Duration::ZERO);
        assert_eq!(
            signer.check(path, Some(&instant), NOW),
            Err(Denied::Expired)
        );
    }

    #[test]
    fn signed_headers_must_come_as_signed() {
        assert_eq!(
            check_headers(Some("video/mp4"), Some("private"), "video/mp4"),
            Ok(())
        );
        for (content_type, acl, says) in [
            (Some("video/mp4"), None, "missing header x-amz-acl"),
            (Some("video/mp4"), Some("public-read"), "public-read"),
            (None, Some("private"), "missing header content-type"),
            (
                Some("application/octet-stream"),
                Some("private"),
                "video/mp4",
            ),
        ] {
            let refused = check_headers(content_type, acl, "video/mp4").unwrap_err();
            assert_eq!(refused.code(), "SignatureDoesNotMatch");
            assert!(refused.to_string().contains(says), "{refused}");
            assert!(refused.xml().contains("Check your key and signing method."));
        }
    }
}
