//! A proxy set for the laptop's network (`HTTP_PROXY` and friends) never sees a request to
//! this computer: a whole pairing, refresh and upload against the built-in server go direct,
//! while a server elsewhere is still reached through the proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use c2c_pair::demo::DemoServer;
use common::Control;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

/// Longest wait for one run of the binary.
const BOUND: Duration = Duration::from_secs(60);

/// A proxy that writes down the first line of every request it gets and answers 502.
struct RecordingProxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RecordingProxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = vec![0u8; 4096];
                    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head));
                    let n = read.await.ok().and_then(Result::ok).unwrap_or(0);
                    let text = String::from_utf8_lossy(&head[..n]);
                    let first = text.lines().next().unwrap_or("(nothing)").to_owned();
                    log.lock().unwrap().push(first);
                    let _ = stream
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                        .await;
                });
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test proxy -- --include-ignored"]
async fn a_proxy_set_for_the_network_never_sees_the_built_in_server() {
    let kc = common::os_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let proxy = RecordingProxy::start().await;
    let run = |api_base: &str, args: &[&str]| {
        let mut all = vec!["--api-base", api_base];
        all.extend_from_slice(args);
        let mut command = common::c2c_pair_in(&kc.service, kc.config_dir.path(), &all);
        command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            command.env(name, &proxy.url);
            command.env(name.to_lowercase(), &proxy.url);
        }
        command.env_remove("NO_PROXY").env_remove("no_proxy");
        command
    };
    let base = server.base_url().to_string();
    let host = format!("127.0.0.1:{}", server.base_url().port().unwrap());
    kc.track(&format!("CAM-PROXY@{host}"));

    // Pairing: the code comes from the built-in server and is approved there.
    let mut pairing = run(&base, &["pair", "--device", "CAM-PROXY", "--json"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(pairing.stdout.take().unwrap()).lines();
    let code = tokio::time::timeout(BOUND, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            if event["event"] == "code" {
                return event["user_code"].as_str().unwrap().to_owned();
            }
        }
        panic!(
            "the binary ended without a code; the proxy saw {:?}",
            proxy.seen()
        );
    })
    .await
    .expect("a code within the bound");
    control.approve(&code).await;
    let paired = tokio::time::timeout(BOUND, pairing.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        paired.success(),
        "pair: {paired:?}; proxy saw {:?}",
        proxy.seen()
    );

    for args in [
        ["refresh", "--device", "CAM-PROXY", "--json"],
        ["upload", "--device", "CAM-PROXY", "--json"],
    ] {
        let out = tokio::time::timeout(BOUND, run(&base, &args).output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(control.assets().await.len(), 1, "the test clip arrived");
    assert!(
        proxy.seen().is_empty(),
        "the proxy saw requests to this computer: {:?}",
        proxy.seen()
    );

    // The same variables still send a server elsewhere through the proxy (nothing is
    // resolved or reached but the proxy itself, which refuses).
    let elsewhere = tokio::time::timeout(
        BOUND,
        run(
            "https://api.c2c.test/",
            &["pair", "--device", "CAM-ELSEWHERE", "--json"],
        )
        .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!elsewhere.status.success());
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|line| line.starts_with("CONNECT api.c2c.test:443")),
        "{seen:?}"
    );
}
