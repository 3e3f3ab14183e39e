//! Transport as field networks have it: a TLS certificate the OS does not trust (what TLS
//! inspection looks like without the company CA installed) is named as such, and a proxy set
//! in the environment carries a server elsewhere (its tunnel, end to end).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use c2c_pair::c2c::profile::parse_api_base;
use c2c_pair::c2c::{C2cClient, ClientCredentials, ClientError};
use secrecy::SecretString;
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

/// A tunnelling proxy on loopback (HTTP `CONNECT`) that records the authority each tunnel was
/// asked for and leads every tunnel to `tls_port` on loopback, whatever host was named: the
/// named host is never resolved or reached.
async fn tunnelling_proxy(tls_port: u16) -> (u16, Arc<Mutex<Vec<String>>>) {
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
                // "CONNECT api.c2c.test:443 HTTP/1.1", then headers up to a blank line.
                let authority = first.split_whitespace().nth(1).unwrap_or("").to_owned();
                record.lock().unwrap().push(authority);
                let mut header = String::new();
                while client.read_line(&mut header).await.unwrap_or(0) > 2 {
                    header.clear();
                }
                let mut client = client.into_inner();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let mut upstream = TcpStream::connect(("127.0.0.1", tls_port)).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn a_proxy_from_the_environment_carries_a_server_elsewhere() {
    let kc = common::os_keychain();
    let tls = self_signed_server().await;
    let (proxy, seen) = tunnelling_proxy(tls).await;
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_c2c-pair"))
        .args([
            "--api-base",
            "https://api.c2c.test/",
            "pair",
            "--device",
            "CAM-TUNNEL",
            "--json",
        ])
        .env("C2C_PAIR_KEYCHAIN_SERVICE", &kc.service)
        .env("C2C_PAIR_CONFIG_DIR", kc.config_dir.path())
        .env("C2C_PAIR_LOG_DIR", kc.config_dir.path().join("logs"))
        .env("C2C_PAIR_CLIENT_SECRET", "tunnel-test-secret")
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{proxy}"))
        .env("https_proxy", format!("http://127.0.0.1:{proxy}"))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the binary ends")
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The tunnel reached the TLS server behind it: its certificate, unknown to the trust
    // store, is what the binary reports.
    assert_eq!(out.status.code(), Some(5), "{said}");
    assert!(said.contains("certificate"), "{said}");
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the proxy was used");
    assert!(seen.iter().all(|a| a == "api.c2c.test:443"), "{seen:?}");
    // This computer never goes through a proxy: tests/proxy.rs; NO_PROXY: src/c2c/proxy.rs.
}
