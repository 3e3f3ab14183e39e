//! Secrets go only to their own origin, as the binary is used: an edited device list whose
//! record names one server's keychain entry but another server's address sends nothing
//! anywhere, and endpoint paths that URL joining would resolve to another host are refused
//! before any request. Needs no Secret Service: both stop before the keychain is touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use c2c_pair::demo::DemoServer;
use c2c_pair::registry::{DeviceRecord, DeviceState, Registry};
use common::Control;

fn record(api_base: &str, keychain_host: &str) -> DeviceRecord {
    DeviceRecord {
        device_id: c2c_pair::device::DeviceId::parse("CAM-EDITED").unwrap(),
        name: None,
        api_base: api_base.into(),
        keychain_host: keychain_host.into(),
        paired_at: 0,
        project_name: None,
        project_id: None,
        remote_name: None,
        access_expires_at: None,
        refresh_issued_at: None,
        last_heartbeat: None,
        last_upload: None,
        client_version: None,
        request_shape: None,
        save_pending: None,
        state: DeviceState::Paired,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_record_never_sends_one_servers_secrets_to_another() {
    // The "other" server: whatever the record points at must receive nothing.
    let elsewhere = DemoServer::start(common::fast_config()).await.unwrap();
    let config = tempfile::tempdir().unwrap();
    Registry::in_dir(config.path())
        .upsert(record(elsewhere.base_url().as_str(), "api.frame.io:443"))
        .unwrap();
    for command in ["refresh", "token", "unpair"] {
        let output = common::c2c_pair_in(
            "c2c-pair-test-origins-never-used",
            config.path(),
            &[
                "--api-base",
                "https://api.frame.io",
                command,
                "--device",
                "CAM-EDITED",
            ],
        )
        .env("C2C_PAIR_CLIENT_SECRET", common::demo_secret())
        .output()
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("is stored under api.frame.io:443 but talks to 127.0.0.1:"),
            "{command}: {stderr}"
        );
    }
    let seen = Control::new(elsewhere.base_url()).requests().await;
    let sent: Vec<_> = seen
        .iter()
        .filter(|r| !r.path.starts_with("/_control"))
        .collect();
    assert!(
        sent.is_empty(),
        "nothing reached the other server: {sent:?}"
    );
}

#[tokio::test]
async fn paths_that_lead_to_another_host_are_refused_before_any_request() {
    let config = tempfile::tempdir().unwrap();
    for path in [
        "//127.0.0.2:9/steal",
        "/\\127.0.0.2:9/steal",
        "https://127.0.0.2/steal",
    ] {
        let output = common::c2c_pair_in(
            "c2c-pair-test-origins-never-used",
            config.path(),
            &[
                "--api-base",
                "https://api.frame.io",
                "--token-path",
                path,
                "status",
            ],
        )
        .output()
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{path}: {stderr}");
        assert!(
            stderr.contains("must start with a single /"),
            "{path}: {stderr}"
        );
    }
}
