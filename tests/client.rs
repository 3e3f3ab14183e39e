//! The HTTP client against real loopback servers: the embedded one, and hostile ones that
//! answer with malformed, oversized or HTML bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use c2c_pair::c2c::{C2cClient, ClientCredentials, ClientError};
use common::{Control, Hostile};
use secrecy::SecretString;

fn credentials(id: &str, secret: &str) -> ClientCredentials {
    ClientCredentials {
        client_id: id.into(),
        client_secret: SecretString::from(secret.to_owned()),
    }
}

async fn request_code_from(kind: Hostile) -> ClientError {
    let base = common::hostile_server(kind).await;
    let client = C2cClient::new(common::profile_for(&base)).unwrap();
    client
        .request_device_code(&credentials("CAM-1", "s"))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn hostile_answers_become_clear_errors() {
    let malformed = request_code_from(Hostile::MalformedJson).await;
    assert!(
        matches!(malformed, ClientError::Malformed(_)),
        "{malformed:?}"
    );
    assert!(
        malformed.to_string().contains("could not be understood"),
        "{malformed}"
    );

    for kind in [Hostile::Oversized, Hostile::OversizedChunked] {
        let big = request_code_from(kind).await;
        assert!(matches!(big, ClientError::TooLarge), "{kind:?}: {big:?}");
        assert!(big.to_string().contains("64 KiB"));
    }

    let gateway = request_code_from(Hostile::BadGateway).await;
    assert!(
        matches!(gateway, ClientError::Http { status: 502, .. }),
        "{gateway:?}"
    );
    assert!(gateway.is_transient());
}

#[tokio::test]
async fn a_server_that_is_down_is_a_connect_error() {
    let client = C2cClient::new(common::profile_for(&common::closed_port_url())).unwrap();
    let error = client
        .request_device_code(&credentials("CAM-1", "s"))
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(
        error.to_string().starts_with("could not reach 127.0.0.1"),
        "{error}"
    );
}

#[tokio::test]
async fn https_to_a_peer_that_speaks_no_tls_is_a_handshake_error_not_a_network_gone() {
    // A server whose upload URL says https on a port that answers plain HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut peer, _)) = listener.accept().await {
            let _ = tokio::io::AsyncWriteExt::write_all(
                &mut peer,
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            )
            .await;
        }
    });
    let client = C2cClient::new(common::profile_for(&common::closed_port_url())).unwrap();
    let error = client
        .put_part(
            &format!("https://127.0.0.1:{port}/part/1"),
            "video/mp4",
            c2c_pair::c2c::part::PartBody::Memory(bytes::Bytes::from_static(b"x")),
            std::time::Duration::from_secs(5),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Handshake { .. }), "{error:?}");
    assert!(error.is_transient(), "worth a few tries");
    assert!(!error.is_unreachable(), "but no outage to wait out");
    assert!(!error.may_have_been_done(), "nothing was sent");
}

#[tokio::test]
async fn url_pairing_is_asked_for_by_header_and_can_be_switched_off() {
    let server = c2c_pair::demo::DemoServer::start(common::fast_config())
        .await
        .unwrap();
    let creds = credentials("CAM-URL", common::demo_secret());
    let mut profile = common::profile_for(server.base_url());
    let with_links = C2cClient::new(profile.clone())
        .unwrap()
        .request_device_code(&creds)
        .await
        .unwrap();
    assert_eq!(
        with_links.verification_uri_complete.as_deref(),
        Some(format!("{}pair/{}", server.base_url(), with_links.user_code).as_str())
    );
    profile.url_pairing = false;
    let code_only = C2cClient::new(profile)
        .unwrap()
        .request_device_code(&creds)
        .await
        .unwrap();
    assert_eq!(code_only.verification_uri, None);
    assert_eq!(code_only.qr_target(), None);
    // Both requests carried x-client-version.
    let requests = Control::new(server.base_url()).requests().await;
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.client_version.is_some()));
}
