//! Test uploads through the C2C asset API against the embedded server: the shipped clip,
//! a multi-part file with progress, a paused channel, an expired token, and cancel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use c2c_pair::demo::DemoServer;
use c2c_pair::device::{
    self, Context, LifecycleError, Media, PairOutcome, Progress, UploadOutcome,
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
    device::upload(ctx, record, Media::test_clip(), progress, &cancel).await
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
        offset: 12,
    };
    let (progress, mut watcher) = watch::channel(Progress::default());
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while watcher.changed().await.is_ok() {
            seen.push(watcher.borrow().sent);
        }
        seen
    });
    let outcome = device::upload(&ctx, &record, media, &progress, &CancellationToken::new())
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
async fn a_paused_channel_and_an_expired_token_are_handled() {
    let kc = common::test_keychain();
    let (_server, control, ctx, record) = paired(&kc, "CAM-PAUSE").await;
    control.pause("CAM-PAUSE").await;
    let (progress, _) = watch::channel(Progress::default());
    let error = send_clip(&ctx, &record, &progress).await.unwrap_err();
    assert!(
        matches!(error, LifecycleError::ChannelPaused { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("Resume it in Frame.io"),
        "{error}"
    );
    assert_eq!(error.kind().exit_code(), 3);

    control.resume("CAM-PAUSE").await;
    control.expire_access("CAM-PAUSE").await;
    let outcome = send_clip(&ctx, &record, &progress).await.unwrap();
    assert!(
        matches!(outcome, UploadOutcome::Done(_)),
        "refreshed once and retried"
    );
    let refreshes = control
        .requests_to("/v2/auth/token", Some("CAM-PAUSE"))
        .await;
    assert_eq!(
        refreshes
            .iter()
            .filter(|r| r.grant_type.as_deref() == Some("refresh_token"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_an_upload_under_way() {
    let kc = common::test_keychain();
    let (server, _control, ctx, record) = paired(&kc, "CAM-STOP").await;
    let media = Media {
        name: "long.mov".into(),
        bytes: Bytes::from(vec![1u8; 40 * 1024 * 1024]),
        offset: 0,
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
    let outcome = device::upload(&ctx, &record, media, &progress, &cancel)
        .await
        .unwrap();
    assert_eq!(outcome, UploadOutcome::Cancelled);
    let on_server = Control::new(server.base_url()).assets().await;
    assert_eq!(
        on_server[0]["complete"], false,
        "the asset stays incomplete"
    );
}
