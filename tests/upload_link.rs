//! A slow or stuck link: a part on a throttled connection completes however long it takes
//! (no total timeout), and a part whose connection stalls fails after the stall timeout and
//! is sent again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use c2c_pair::demo::DemoServer;
use c2c_pair::device::upload::{FileState, QueueControls, QueueStatus, ResumeStore};
use c2c_pair::device::{self, Job, PairOutcome, UploadOptions};
use common::Control;
use common::media::{MIB, patterned, sha256_hex};
use common::upload_cli::rig;
use serde_json::json;
use tokio::sync::watch;

/// An 8 MiB part read by the server at 1 MiB/s takes 8 s, four times the client's 2-second
/// request timeout (the ratio is that of Frame.io's 20 s against a 256 KiB/s link, doubled):
/// it completes, without a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_on_a_throttled_link_outlives_the_request_timeout() {
    let kc = common::test_keychain();
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let mut profile = common::profile_for(server.base_url());
    profile.request_timeout = Duration::from_secs(2);
    let ctx = kc.context(common::backend_with_profile(profile, common::demo_secret()));
    let outcome = common::pair_approving(&ctx, &control, "CAM-SLOW").await;
    assert!(matches!(outcome, Ok(PairOutcome::Paired(_))), "{outcome:?}");
    let record = ctx.registry.load().unwrap().devices.remove(0);
    kc.track(&record.account());

    let media = tempfile::tempdir().unwrap();
    let path = media.path().join("slow.mov");
    let bytes = patterned(8 * MIB, 9);
    std::fs::write(&path, &bytes).unwrap();
    control
        .upload_fault(json!({"read_bytes_per_second": MIB}))
        .await;
    let options = UploadOptions {
        resume: Some(ResumeStore::in_dir(media.path().join("state"))),
        ..UploadOptions::default()
    };
    let (status, mut watcher) = watch::channel(QueueStatus::default());
    let states = tokio::spawn(async move {
        let mut states = Vec::new();
        while watcher.changed().await.is_ok() {
            if let Some(file) = watcher.borrow_and_update().files.first() {
                states.push(file.state.clone());
            }
        }
        states
    });
    let started = Instant::now();
    let outcome = device::run_queue(
        &ctx,
        &record,
        vec![Job::file(&path)],
        &options,
        &QueueControls::new(),
        &status,
    )
    .await;
    let took = started.elapsed();
    drop(status);
    assert!(outcome.stopped.is_none(), "{:?}", outcome.stopped);
    assert_eq!(outcome.uploaded.len(), 1, "{:?}", outcome.status);
    assert!(
        took > Duration::from_secs(4),
        "the throttle held the part well past the request timeout: {took:?}"
    );
    let states = states.await.unwrap();
    assert!(
        !states
            .iter()
            .any(|s| matches!(s, FileState::Retrying { .. })),
        "sent once, without a retry: {states:?}"
    );
    let asset = control.assets().await.remove(0);
    assert_eq!(asset["sha256"], sha256_hex(&bytes));
    assert_eq!(asset["parts"][0]["received_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_link -- --include-ignored"]
async fn a_stalled_part_fails_after_the_stall_timeout_and_the_retry_succeeds() {
    let rig = rig("CAM-STALL").await;
    let (path, sha256) = rig.file("stuck.mov", 6 * MIB, 4);
    rig.control
        .upload_fault(json!({"stall_after_bytes": MIB}))
        .await;
    let done = rig
        .start_upload(&["--stall", "2", path.to_str().unwrap()])
        .finish()
        .await;
    done.assert_code(0);
    let retrying = done.named("retrying");
    assert_eq!(retrying.len(), 1, "{:?}", done.events);
    let reason = retrying[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("made no progress for 2 s"),
        "the stall timeout failed the part: {reason}"
    );
    let asset = rig.assets_named("stuck.mov").await.remove(0);
    assert_eq!(asset["sha256"], sha256);
    assert_eq!(asset["parts"][0]["received_count"], 1);
}
