//! Which proxy a request goes through: the system's, as reqwest reads it (`HTTP_PROXY`,
//! `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, and the OS settings on macOS and Windows), except
//! for this computer. A proxy set for the laptop's network must never see a request to the
//! built-in server: it would carry the client secret and tokens in clear text to whoever runs
//! the proxy, and the proxy could not reach this computer's loopback anyway.
//!
//! Written with hyper-util's matcher (the one reqwest's `system-proxy` uses) inside a custom
//! proxy, because reqwest offers no way to add exceptions to the system proxy: a
//! `NO_PROXY` set for the process would be global state, and a second client without proxies
//! would send loopback URLs named by a non-loopback server the same way.

use hyper_util::client::proxy::matcher::Matcher;
use url::Url;

use super::profile::is_loopback;

/// The system's proxies for every URL but those of this computer.
pub(super) fn system_except_loopback() -> reqwest::Proxy {
    let system = Matcher::from_system();
    reqwest::Proxy::custom(move |url| proxy_for(&system, url))
}

/// The proxy `system` names for `url`, none for loopback.
fn proxy_for(system: &Matcher, url: &Url) -> Option<Url> {
    if is_loopback(url) {
        return None;
    }
    let uri: http::Uri = url.as_str().parse().ok()?;
    let intercept = system.intercept(&uri)?;
    let mut proxy = Url::parse(&intercept.uri().to_string()).ok()?;
    // Credentials of the proxy itself, as given in its variable (`http://user:pw@proxy`):
    // the matcher keeps them apart (encoded for an HTTP proxy) and reqwest reads them back
    // from the URL returned here.
    let credentials = match intercept.raw_auth() {
        Some((user, password)) => Some((user.to_owned(), password.to_owned())),
        None => intercept.basic_auth().and_then(basic_credentials),
    };
    if let Some((user, password)) = credentials {
        proxy.set_username(&user).ok()?;
        proxy.set_password(Some(&password)).ok()?;
    }
    Some(proxy)
}

/// The user and password of a `Basic` authorization value.
fn basic_credentials(value: &http::HeaderValue) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxied() -> Matcher {
        Matcher::builder()
            .all("http://user:pw@proxy.test:3128".to_owned())
            .no("internal.test".to_owned())
            .build()
    }

    #[test]
    fn this_computer_goes_direct_everything_else_through_the_proxy() {
        let system = proxied();
        let to = |url: &str| proxy_for(&system, &Url::parse(url).unwrap());
        for local in [
            "http://127.0.0.1:8480/v2/auth/token",
            "http://[::1]:9/x",
            "http://localhost:3000/",
            "http://127.0.0.2/_uploads/a/1",
        ] {
            assert_eq!(to(local), None, "{local}");
        }
        let proxy = to("https://api.frame.io/v2/auth/token").unwrap();
        assert_eq!(proxy.host_str(), Some("proxy.test"));
        assert_eq!((proxy.username(), proxy.password()), ("user", Some("pw")));
        assert_eq!(to("https://internal.test/x"), None, "NO_PROXY still holds");
    }
}
