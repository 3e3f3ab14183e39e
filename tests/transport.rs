//! Transport as field networks have it: a TLS certificate the OS does not trust (what TLS
//! inspection looks like without the company CA installed) is named as such, and proxies set
//! in the environment are used (and skipped for `NO_PROXY` hosts).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use c2c_pair::c2c::profile::parse_api_base;
use c2c_pair::c2c::{C2cClient, ClientCredentials, ClientError};
use c2c_pair::demo::DemoServer;
use common::Control;
use secrecy::SecretString;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A TLS server on loopback whose certificate is self-signed: no trust store knows it.
async fn self_signed_server() -> u16 {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let chain = vec![cert.cert.der().clone()];
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The client is expected to give up during the handshake.
                let _ = acceptor.accept(socket).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn an_untrusted_certificate_is_named_with_what_to_do() {
    let port = self_signed_server().await;
    let base = parse_api_base(&format!("https://localhost:{port}")).unwrap();
    let client = C2cClient::new(common::profile_for(&base)).unwrap();
    let credentials = ClientCredentials {
        client_id: "CAM-TLS".into(),
        client_secret: SecretString::from("s"),
    };
    let error = client.request_device_code(&credentials).await.unwrap_err();
    assert!(matches!(error, ClientError::Untrusted { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("could not verify the TLS certificate of localhost"),
        "{message}"
    );
    assert!(message.contains("certificate"), "{message}");
    assert!(
        message.contains("install its CA certificate in the OS trust store"),
        "{message}"
    );
}

/// A forwarding HTTP proxy on loopback that records the hosts it was asked for. Clients send
/// absolute-form requests, which the upstream server accepts as they are.
async fn recording_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut client = BufReader::new(client);
                let mut first = String::new();
                client.read_line(&mut first).await.unwrap();
                // "POST http://127.0.0.1:1234/v2/auth/token HTTP/1.1"
                let target = first
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let authority = target
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap()
                    .to_owned();
                record.lock().unwrap().push(authority.clone());
                let mut upstream = TcpStream::connect(&authority).await.unwrap();
                upstream.write_all(first.as_bytes()).await.unwrap();
                let buffered = client.buffer().to_vec();
                upstream.write_all(&buffered).await.unwrap();
                let mut client = client.into_inner();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (port, seen)
}

async fn pair_through(
    kc: &common::TestKeychain,
    server: &DemoServer,
    proxy: u16,
    no_proxy: &str,
    device: &str,
) -> i32 {
    let base = server.base_url().to_string();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_c2c-pair"))
        .args(["--api-base", &base, "pair", "--device", device, "--json"])
        .env("C2C_PAIR_KEYCHAIN_SERVICE", &kc.service)
        .env("C2C_PAIR_CONFIG_DIR", kc.config_dir.path())
        .env("C2C_PAIR_LOG_DIR", kc.config_dir.path().join("logs"))
        .env("C2C_PAIR_CLIENT_SECRET", common::demo_secret())
        .env("HTTP_PROXY", format!("http://127.0.0.1:{proxy}"))
        .env("http_proxy", format!("http://127.0.0.1:{proxy}"))
        .env("NO_PROXY", no_proxy)
        .env("no_proxy", no_proxy)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "code" {
            Control::new(server.base_url())
                .approve(event["user_code"].as_str().unwrap())
                .await;
        }
    }
    child.wait().await.unwrap().code().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn proxies_from_the_environment_are_used_and_no_proxy_is_honoured() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    kc.track(&format!("CAM-PROXY@{host}"));
    kc.track(&format!("CAM-DIRECT@{host}"));
    let (proxy, seen) = recording_proxy().await;

    assert_eq!(pair_through(&kc, &server, proxy, "", "CAM-PROXY").await, 0);
    let via_proxy = seen.lock().unwrap().len();
    assert!(via_proxy >= 1, "the requests went through the proxy");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|authority| *authority == host)
    );

    assert_eq!(
        pair_through(&kc, &server, proxy, "127.0.0.1", "CAM-DIRECT").await,
        0
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        via_proxy,
        "NO_PROXY hosts go direct"
    );
}
