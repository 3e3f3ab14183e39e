//! Test uploads through the C2C asset API against the embedded server: the shipped clip,
//! a multi-part file with progress, a paused channel waited out, an expired token, and cancel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use c2c_pair::demo::DemoServer;
use c2c_pair::device::upload::{FileState, QueueControls, QueueOutcome, QueueStatus};
use c2c_pair::device::{
    self, Context, Job, LifecycleError, Media, PairOutcome, Progress, UploadOptions, UploadOutcome,
};
use c2c_pair::registry::DeviceRecord;
use common::{Control, TestKeychain};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

async fn paired(kc: &TestKeychain, device: &str) -> (DemoServer, Control, Context, DeviceRecord) {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let ctx = kc.context(common::backend_for(&server, common::demo_secret()));
    let outcome = common::pair_approving(&ctx, &control, device).await;
    assert!(
        matches!(outcome, Ok(PairOutcome::Paired(_))),
        "expected Paired, got {outcome:?}"
    );
    let record = ctx
        .registry
        .load()
        .unwrap()
        .devices
        .into_iter()
        .find(|d| d.device_id == device)
        .unwrap();
    kc.track(&record.account());
    (server, control, ctx, record)
}

/// Uploads the test clip, without cancel.
async fn send_clip(
    ctx: &Context,
    record: &DeviceRecord,
    progress: &watch::Sender<Progress>,
) -> Result<UploadOutcome, LifecycleError> {
    let cancel = CancellationToken::new();
    let options = UploadOptions::default();
    device::upload(
        ctx,
        record,
        Job::test_clip(None),
        &options,
        progress,
        &cancel,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_clip_arrives_whole_and_is_recorded() {
    let kc = common::test_keychain();
    let (server, _control, ctx, record) = paired(&kc, "CAM-UP").await;
    let (progress, watcher) = watch::channel(Progress::default());
    let outcome = send_clip(&ctx, &record, &progress).await.unwrap();
    let UploadOutcome::Done(done) = outcome else {
        panic!("{outcome:?}")
    };
    let size = device::TEST_CLIP.len() as u64;
    assert_eq!(done.bytes, size);
    assert_eq!(
        *watcher.borrow(),
        Progress {
            sent: size,
            total: size
        },
        "100 %"
    );
    let on_server = Control::new(server.base_url()).assets().await;
    assert_eq!(on_server.len(), 1);
    assert_eq!(on_server[0]["id"], done.asset_id);
    assert_eq!(on_server[0]["complete"], true);
    assert_eq!(on_server[0]["filetype"], "video/mp4");
    assert_eq!(on_server[0]["filesize"], size);
    let page = reqwest::get(server.approval_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("c2c-pair-test-clip.mp4") && page.contains("received"),
        "shown on the page"
    );
    let updated = ctx.registry.load().unwrap().devices.remove(0);
    assert!(updated.last_upload.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_goes_in_parts_with_rising_progress() {
    let kc = common::test_keychain();
    let (server, _control, ctx, record) = paired(&kc, "CAM-BIG").await;
    let size = 20 * 1024 * 1024 + 123;
    let media = Media {
        name: "A001_C002.mov".into(),
        bytes: Bytes::from(vec![7u8; size]),
        recorded_at: c2c_pair::clock::unix_seconds(std::time::SystemTime::now()) - 12,
    };
    let (progress, mut watcher) = watch::channel(Progress::default());
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while watcher.changed().await.is_ok() {
            seen.push(watcher.borrow().sent);
        }
        seen
    });
    let options = UploadOptions::default();
    let job = Job::memory(media, None);
    let outcome = device::upload(
        &ctx,
        &record,
        job,
        &options,
        &progress,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    drop(progress);
    assert!(matches!(outcome, UploadOutcome::Done(_)));
    let seen = seen.await.unwrap();
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back"
    );
    assert_eq!(seen.last().copied(), Some(size as u64));
    let on_server = Control::new(server.base_url()).assets().await;
    assert_eq!(
        on_server[0]["received"].as_array().unwrap().len(),
        3,
        "three parts of 8 MiB at most"
    );
    assert_eq!(on_server[0]["complete"], true);
    assert_eq!(on_server[0]["filetype"], "video/quicktime");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_channel_is_waited_out_and_an_expired_token_refreshed() {
    let kc = common::test_keychain();
    let (server, control, ctx, record) = paired(&kc, "CAM-PAUSE").await;
    // A server that refuses every file of a paused device, whenever it was recorded.
    control.pause_refuses_all(true).await;
    control.pause("CAM-PAUSE").await;
    control.expire_access("CAM-PAUSE").await;
    let (status, mut watcher) = watch::channel(QueueStatus::default());
    let controls = QueueControls::new();
    let uploading = {
        let (ctx, record, controls) = (ctx.clone(), record.clone(), controls.clone());
        tokio::spawn(async move {
            let jobs = vec![Job::test_clip(None)];
            let options = UploadOptions::default();
            device::run_queue(&ctx, &record, jobs, &options, &controls, &status).await
        })
    };
    let paused = watcher
        .wait_for(|s| {
            matches!(
                s.files.first().map(|f| &f.state),
                Some(FileState::Paused { .. })
            )
        })
        .await
        .unwrap()
        .clone();
    let FileState::Paused { reason } = &paused.files[0].state else {
        unreachable!()
    };
    assert!(reason.contains("paused in Frame.io"), "{reason}");
    assert_eq!(
        paused.files_remaining(),
        1,
        "nothing is dropped while paused"
    );
    control.resume("CAM-PAUSE").await;
    let outcome = uploading.await.unwrap();
    assert!(outcome.stopped.is_none(), "{:?}", outcome.stopped);
    assert_eq!(outcome.uploaded.len(), 1, "went on by itself once resumed");
    assert_eq!(outcome.status.files[0].state, FileState::Done);
    let on_server = Control::new(server.base_url()).assets().await;
    assert_eq!(on_server.len(), 1, "one asset, created once resumed");
    let refreshes = control
        .requests_to("/v2/auth/token", Some("CAM-PAUSE"))
        .await;
    assert_eq!(
        refreshes
            .iter()
            .filter(|r| r.grant_type.as_deref() == Some("refresh_token"))
            .count(),
        1,
        "the expired token was refreshed once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_an_upload_under_way() {
    let kc = common::test_keychain();
    let (server, _control, ctx, record) = paired(&kc, "CAM-STOP").await;
    let media = Media {
        name: "long.mov".into(),
        bytes: Bytes::from(vec![1u8; 40 * 1024 * 1024]),
        recorded_at: c2c_pair::clock::unix_seconds(std::time::SystemTime::now()),
    };
    let (progress, mut watcher) = watch::channel(Progress::default());
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        // Cancel as soon as bytes start to flow.
        while watcher.changed().await.is_ok() {
            if watcher.borrow().sent > 0 {
                canceller.cancel();
                break;
            }
        }
    });
    let options = UploadOptions::default();
    let outcome = device::upload(
        &ctx,
        &record,
        Job::memory(media, None),
        &options,
        &progress,
        &cancel,
    )
    .await
    .unwrap();
    assert_eq!(outcome, UploadOutcome::Cancelled);
    let on_server = Control::new(server.base_url()).assets().await;
    assert_eq!(
        on_server[0]["complete"], false,
        "the asset stays incomplete"
    );
}

/// Uploads `media` as one job; its outcome and the queue's end.
async fn send_media(ctx: &Context, record: &DeviceRecord, media: Media) -> QueueOutcome {
    let (status, _watcher) = watch::channel(QueueStatus::default());
    let jobs = vec![Job::memory(media, None)];
    let options = UploadOptions::default();
    device::run_queue(ctx, record, jobs, &options, &QueueControls::new(), &status).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_sized_to_the_upload_urls_the_server_gives() {
    let kc = common::test_keychain();
    let (server, control, ctx, record) = paired(&kc, "CAM-URLS").await;
    let size = 20 * 1024 * 1024 + 123;
    let media = |name: &str| Media {
        name: name.into(),
        bytes: Bytes::from(common::media::patterned(size, 3)),
        recorded_at: c2c_pair::clock::unix_seconds(std::time::SystemTime::now()),
    };
    // Three parts asked for each time; the server gives one more, then one fewer.
    for (delta, name, parts) in [(1, "more.mov", 4), (-1, "fewer.mov", 2)] {
        control
            .upload_fault(serde_json::json!({ "upload_urls_delta": delta }))
            .await;
        let outcome = send_media(&ctx, &record, media(name)).await;
        assert_eq!(outcome.uploaded.len(), 1, "{:?}", outcome.status);
        let asset = Control::new(server.base_url())
            .assets()
            .await
            .into_iter()
            .find(|a| a["name"] == name)
            .unwrap();
        assert_eq!(asset["complete"], true, "{asset}");
        assert_eq!(asset["parts"].as_array().unwrap().len(), parts);
    }
    // Five URLs for 20 MiB: parts under S3's 5 MiB. Said plainly, no second asset asked for.
    control
        .upload_fault(serde_json::json!({ "upload_urls_delta": 2 }))
        .await;
    let outcome = send_media(&ctx, &record, media("small-parts.mov")).await;
    let FileState::Failed { reason, .. } = &outcome.status.files[0].state else {
        panic!("{:?}", outcome.status.files[0].state);
    };
    assert!(reason.contains("gave 5 upload links"), "{reason}");
    let made = Control::new(server.base_url())
        .assets()
        .await
        .into_iter()
        .filter(|a| a["name"] == "small-parts.mov")
        .count();
    assert_eq!(made, 1, "one asset, not one per try");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_gib_file_arrives_whole() {
    let kc = common::test_keychain();
    let (server, _control, ctx, record) = paired(&kc, "CAM-2GIB").await;
    // Sparse: 2 GiB of zeros that take no disk. 256 parts: the creation's answer carries 256
    // presigned URLs, well over the 64 KiB other answers are held to.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("A020_C001.mov");
    let size = 2 * 1024 * 1024 * 1024;
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    let (status, _watcher) = watch::channel(QueueStatus::default());
    let options = UploadOptions::default();
    let outcome = device::run_queue(
        &ctx,
        &record,
        vec![Job::file(&path)],
        &options,
        &QueueControls::new(),
        &status,
    )
    .await;
    assert_eq!(outcome.uploaded.len(), 1, "{:?}", outcome.status.files);
    let assets = Control::new(server.base_url()).assets().await;
    assert_eq!(assets.len(), 1, "one asset");
    assert_eq!(assets[0]["complete"], true);
    assert_eq!(assets[0]["received_bytes"], size);
    assert_eq!(assets[0]["parts"].as_array().unwrap().len(), 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_host_out_of_reach_while_the_server_answers_fails_the_file_not_waits_forever() {
    let kc = common::test_keychain();
    let (server, control, ctx, record) = paired(&kc, "CAM-BLOCKED").await;
    // Every part upload is cut without an answer (a firewall that lets the API through and
    // drops the storage host), far more times than the tries.
    let reset = c2c_pair::demo::fault::Fault::Reset;
    control.inject("/_uploads/*", &reset, 1000).await;
    let (status, _watcher) = watch::channel(QueueStatus::default());
    let media = Media {
        name: "blocked.mov".into(),
        bytes: Bytes::from(common::media::patterned(1024, 5)),
        recorded_at: c2c_pair::clock::unix_seconds(std::time::SystemTime::now()),
    };
    let options = UploadOptions {
        retry: device::upload::RetryPolicy {
            first: std::time::Duration::from_millis(10),
            cap: std::time::Duration::from_millis(20),
            attempts: 3,
            offline_cap: std::time::Duration::from_millis(20),
            ..Default::default()
        },
        ..UploadOptions::default()
    };
    let jobs = vec![Job::memory(media, None)];
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        device::run_queue(
            &ctx,
            &record,
            jobs,
            &options,
            &QueueControls::new(),
            &status,
        ),
    )
    .await
    .expect("the queue ends: a storage host out of reach is no outage to wait out");
    let FileState::Failed { reason, .. } = &outcome.status.files[0].state else {
        panic!("{:?}", outcome.status.files[0].state);
    };
    assert!(reason.contains("while the server answers"), "{reason}");
    assert!(reason.contains("--resume"), "{reason}");
    let parts = control
        .requests()
        .await
        .into_iter()
        .filter(|r| r.path.starts_with("/_uploads/"))
        .count();
    assert_eq!(
        parts, 3,
        "the policy's tries, then the server was asked and answered"
    );
    drop(server);
}
