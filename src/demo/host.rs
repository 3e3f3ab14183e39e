//! The `Host` allow-list, in front of every route: the server answers only requests addressed
//! to it by a name it goes by — a loopback name (the app, the tests, a browser on this
//! machine), the address it advertises to phones, or the address the client connected to
//! (a laptop on two networks, Wi-Fi and wired, answers on both; an address literal is
//! never a rebound name). A web page elsewhere that rebinds its own
//! name to 127.0.0.1 (DNS rebinding) sends that name as `Host` and is refused before any
//! handler, and before the guess limits that spare this machine.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::http::header::HOST;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use url::Url;

use super::{Peer, Shared, network, page};

/// Refuses (403) a request whose `Host` is not one of the server's names.
pub async fn known_names_only(
    State(shared): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let local = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(peer)| peer.local);
    if is_known(host, &shared.public_url, local) {
        next.run(request).await
    } else {
        let page = shared
            .public_url
            .join(page::PATH)
            .map(String::from)
            .unwrap_or_default();
        (
            StatusCode::FORBIDDEN,
            format!(
                "This server answers requests to its own address only: open {page} (or scan \
                 the QR code on the booth screen).\n"
            ),
        )
            .into_response()
    }
}

/// Whether `host` names this server: a loopback name (any port), the advertised address
/// with its port, or `local` (the address connected to) as an address literal.
fn is_known(host: &str, advertised: &Url, local: Option<SocketAddr>) -> bool {
    if network::is_loopback_host(host) {
        return true;
    }
    let (name, port) = network::split_host(host);
    let literal = name
        .parse::<IpAddr>()
        .ok()
        .zip(port.and_then(|p| p.parse::<u16>().ok()));
    if let (Some((ip, port)), Some(local)) = (literal, local)
        && network::canonical(ip) == network::canonical(local.ip())
        && port == local.port()
    {
        return true;
    }
    let named = advertised
        .host_str()
        .map(|own| own.trim_start_matches('[').trim_end_matches(']'))
        .is_some_and(|own| !name.is_empty() && own.eq_ignore_ascii_case(name));
    let port = match port {
        Some(port) => port.parse::<u16>().ok(),
        None => Some(80),
    };
    named && port.is_some() && port == advertised.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_the_advertised_address_only() {
        let advertised = Url::parse("http://10.251.0.1:8480/").unwrap();
        for known in [
            "127.0.0.1:8480",
            "127.0.0.1:9",
            "localhost:8480",
            "LOCALHOST",
            "[::1]:8480",
            "[::ffff:127.0.0.1]:8480",
            "10.251.0.1:8480",
        ] {
            assert!(is_known(known, &advertised, None), "{known}");
        }
        for foreign in [
            "",
            "evil.example",
            "evil.example:8480",
            "127.0.0.1.evil.example:8480",
            "10.251.0.1",
            "10.251.0.1:80",
            "10.251.0.1:8480x",
            "10.251.0.2:8480",
            "[::1",
        ] {
            assert!(!is_known(foreign, &advertised, None), "{foreign}");
        }
        let v6 = Url::parse("http://[fd00::5]:8480/").unwrap();
        assert!(is_known("[fd00::5]:8480", &v6, None));
        assert!(!is_known("[fd00::6]:8480", &v6, None));
    }

    #[test]
    fn the_address_connected_to_is_known_as_a_literal_only() {
        let advertised = Url::parse("http://10.251.0.1:8480/").unwrap();
        let wired = Some(SocketAddr::from(([10, 252, 0, 1], 8480)));
        assert!(is_known("10.252.0.1:8480", &advertised, wired));
        assert!(!is_known("10.252.0.1:8481", &advertised, wired));
        assert!(!is_known("10.252.0.1", &advertised, wired));
        assert!(!is_known("booth.example:8480", &advertised, wired));
        assert!(!is_known("10.252.0.1:8480", &advertised, None));
        let mapped = Some("[::ffff:10.252.0.1]:8480".parse().unwrap());
        assert!(is_known("10.252.0.1:8480", &advertised, mapped));
    }
}
