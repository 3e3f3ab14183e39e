//! Real-time uploads with the real binary: a writer appends to a file in 1 MiB steps while
//! `upload --realtime` runs; parts go out while the file grows, the final part once it stops
//! growing (`--idle`) or is closed (`--until-closed`); the server assembles the parts in order,
//! the final size is right and the SHA-256 matches.
//!
//! The binary keeps its tokens in the OS keychain: these tests need a Secret Service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::media::{MIB, patterned, sha256_hex};
use common::upload_cli::{part_sizes, rig};

/// A recorder: appends `bytes` to `file` in 1 MiB steps, one every 50 ms (its own pace, as a
/// camera writes).
async fn record(file: &mut std::fs::File, bytes: &[u8]) {
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    for chunk in bytes.chunks(MIB) {
        pace.tick().await;
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_realtime -- --include-ignored"]
async fn a_growing_file_goes_out_as_it_grows_and_ends_after_the_idle_time() {
    let rig = rig("CAM-LIVE").await;
    let path = rig.media.path().join("A004_C001.mov");
    let content = patterned(20 * MIB + 5 * 1024, 5);
    let mut file = std::fs::File::create(&path).unwrap();
    let run = rig.start_upload(&["--realtime", "--idle", "2", path.to_str().unwrap()]);

    // The first 10 MiB: more than a part, so part 1 goes out while the recording goes on.
    record(&mut file, &content[..10 * MIB]).await;
    let growing = rig
        .asset_when("A004_C001.mov", |a| a["parts"][0]["received_count"] == 1)
        .await;
    assert_eq!(growing["realtime"], true);
    assert_eq!(growing["complete"], false, "not final while it grows");
    record(&mut file, &content[10 * MIB..]).await;
    drop(file);

    let done = run.finish().await;
    done.assert_code(0);
    let asset = rig.assets_named("A004_C001.mov").await.remove(0);
    assert_eq!(asset["complete"], true, "{asset}");
    assert_eq!(asset["asset_filesize"], content.len());
    assert_eq!(asset["sha256"], sha256_hex(&content));
    let sizes = part_sizes(&asset);
    assert_eq!(
        sizes,
        [8 * MIB as u64, 8 * MIB as u64, (4 * MIB + 5 * 1024) as u64],
        "parts of 8 MiB numbered from 1, the rest final"
    );
    let uploaded = done.named("uploaded");
    assert_eq!(uploaded[0]["bytes"], content.len());
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_realtime -- --include-ignored"]
async fn until_closed_waits_for_the_writer_to_close_the_file() {
    let rig = rig("CAM-CLOSE").await;
    let path = rig.media.path().join("A005_C001.mov");
    let content = patterned(6 * MIB + 77, 6);
    let mut file = std::fs::File::create(&path).unwrap();
    let mut run = rig.start_upload(&[
        "--realtime",
        "--until-closed",
        "--idle",
        "0.1",
        path.to_str().unwrap(),
    ]);
    record(&mut file, &content).await;
    run.until("waiting").await;
    // Still open for writing: ten idle times later the recording is not over.
    for _ in 0..20 {
        let asset = rig.asset_when("A005_C001.mov", |_| true).await;
        assert!(
            asset["parts"].as_array().unwrap().is_empty(),
            "no final part while the writer holds the file: {asset}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(file);
    let done = run.finish().await;
    done.assert_code(0);
    let asset = rig.assets_named("A005_C001.mov").await.remove(0);
    assert_eq!(asset["complete"], true, "{asset}");
    assert_eq!(asset["sha256"], sha256_hex(&content));
    assert_eq!(part_sizes(&asset), [content.len() as u64], "one final part");
}
