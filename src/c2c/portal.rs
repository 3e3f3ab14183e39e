//! Captive portals: the sign-in page of a hotel or venue Wi-Fi.
//!
//! A portal answers for every host until it is accepted. A call to the API that fails the way a portal makes calls fail (a
//! certificate not for the host, a peer that does not speak TLS, an answer that is not the
//! API's, a redirect elsewhere) is followed by one plain-HTTP request to the API host — no
//! credentials, no body, redirects not followed — which tells a portal from a TLS-inspecting
//! proxy or a wrong API base. Operating systems detect portals the same way (a known plain
//! HTTP URL that must not redirect); we probe the API host itself, as that is what the
//! portal must let through.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, LOCATION};
use url::Url;

/// Longest the plain-HTTP check waits for an answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest sign-in page address kept (the rest is cut with "…").
const MAX_PAGE_CHARS: usize = 200;

/// The URL checked: the API host over plain HTTP (its own port when the API base is plain
/// HTTP, else 80), at `/`.
pub fn probe_url(api_base: &Url) -> Option<Url> {
    let host = api_base.host_str()?;
    let port = match api_base.scheme() {
        "http" => api_base.port().map(|p| format!(":{p}")).unwrap_or_default(),
        _ => String::new(),
    };
    let host = match api_base.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        _ => host.to_owned(),
    };
    Url::parse(&format!("http://{host}{port}/")).ok()
}

/// The sign-in page an answer to the check stands for, if it is a portal's.
///
/// A portal's answer is a 511, a redirect to another host, or an HTML page (an API host
/// answers JSON, or redirects to itself over HTTPS). Only http(s) pages count; the address
/// is made printable.
pub fn recognise(
    probed: &Url,
    status: u16,
    location: Option<&str>,
    content_type: Option<&str>,
) -> Option<String> {
    let target = location.and_then(|l| probed.join(l.trim()).ok());
    let page = match status {
        511 => target.unwrap_or_else(|| probed.clone()),
        300..=399 => target.filter(|t| t.host_str() != probed.host_str())?,
        200..=299
            if content_type
                .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html")) =>
        {
            probed.clone()
        }
        _ => return None,
    };
    matches!(page.scheme(), "http" | "https")
        .then(|| crate::printable::printable(page.as_str(), MAX_PAGE_CHARS))
}

/// Asks the API host over plain HTTP, with `http` (redirects not followed), whether a portal
/// answers for it: its sign-in page if so.
pub(super) async fn probe(http: &reqwest::Client, api_base: &Url) -> Option<String> {
    let url = probe_url(api_base)?;
    let answer = http
        .get(url.clone())
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .ok()?;
    let header = |name| answer.headers().get(name).and_then(|v| v.to_str().ok());
    let page = recognise(
        &url,
        answer.status().as_u16(),
        header(LOCATION),
        header(CONTENT_TYPE),
    );
    tracing::info!(probed = %url, status = answer.status().as_u16(), portal = page.is_some(), "captive portal check");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn the_check_goes_to_the_api_host_over_plain_http() {
        let probe = |base| probe_url(&url(base)).unwrap().to_string();
        assert_eq!(probe("https://api.frame.io/v2/"), "http://api.frame.io/");
        assert_eq!(probe("https://api.c2c.test:8443/"), "http://api.c2c.test/");
        assert_eq!(probe("http://10.0.0.2:8480/"), "http://10.0.0.2:8480/");
        assert_eq!(probe("https://[fd00::2]/"), "http://[fd00::2]/");
    }

    #[test]
    fn a_portal_is_a_redirect_elsewhere_a_511_or_html() {
        let probed = url("http://api.c2c.test/");
        let portal = "http://portal.test/login?continue=1";
        assert_eq!(
            recognise(&probed, 302, Some(portal), None).as_deref(),
            Some(portal)
        );
        assert_eq!(
            recognise(&probed, 511, None, None).as_deref(),
            Some("http://api.c2c.test/")
        );
        assert_eq!(
            recognise(&probed, 200, None, Some("Text/HTML; charset=utf-8")).as_deref(),
            Some("http://api.c2c.test/")
        );
    }

    #[test]
    fn the_api_upgrading_to_https_or_answering_json_is_no_portal() {
        let probed = url("http://api.frame.io/");
        let upgrade = Some("https://api.frame.io/");
        assert_eq!(recognise(&probed, 301, upgrade, None), None);
        assert_eq!(recognise(&probed, 302, Some("/v2/"), None), None);
        assert_eq!(recognise(&probed, 302, None, None), None);
        assert_eq!(
            recognise(&probed, 200, None, Some("application/json")),
            None
        );
        assert_eq!(recognise(&probed, 404, None, Some("text/html")), None);
        assert_eq!(
            recognise(&probed, 302, Some("javascript:alert(1)"), None),
            None,
            "only web pages"
        );
    }

    #[test]
    fn a_hostile_page_address_is_made_printable() {
        let probed = url("http://api.c2c.test/");
        let long = format!("http://portal.test/{}", "a".repeat(500));
        let page = recognise(&probed, 302, Some(&long), None).unwrap();
        assert_eq!(page.chars().count(), MAX_PAGE_CHARS, "{page}");
        let page = recognise(&probed, 302, Some("http://portal.test/\u{202e}x"), None).unwrap();
        assert!(crate::printable::is_printable(&page), "{page}");
    }
}
