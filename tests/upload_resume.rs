//! Resumable uploads with the real binary against the embedded server: killed (SIGKILL) in
//! the middle of a part, then `upload --resume` finishes from the first part not done; a
//! dropped connection retried by itself; a drop, then a kill while the retry waits, then a
//! resume. Each time the server's SHA-256 of the assembled asset is the file's, and its receive
//! counts show every part arrived once after the resume point (at most one part twice).
//!
//! The binary keeps its tokens in the OS keychain: these tests need a Secret Service (run
//! them inside `.ci/with-keyring`, as CI does).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;

use c2c_pair::keychain::TokenSet;
use common::media::MIB;
use common::upload_cli::{receive_counts, rig};
use secrecy::ExposeSecret as _;
use serde_json::json;

/// Asserts the asset arrived whole and right: complete, its SHA-256 the file's, each part
/// received once except at most one (the part cut off) twice.
fn assert_arrived_once(asset: &serde_json::Value, sha256: &str) {
    assert_eq!(asset["complete"], true, "{asset}");
    assert_eq!(asset["sha256"], sha256, "{asset}");
    let counts = receive_counts(asset);
    assert!(counts.iter().all(|&c| c >= 1), "{counts:?}");
    assert!(
        counts.iter().filter(|&&c| c > 1).count() <= 1 && counts.iter().all(|&c| c <= 2),
        "at most one part sent twice: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_resume -- --include-ignored"]
async fn killed_mid_part_then_resume_finishes_from_the_first_part_not_done() {
    let rig = rig("CAM-KILL").await;
    let (path, sha256) = rig.file("A001_C001.mov", 20 * MIB + 123, 1);
    // Slow enough that the kill lands inside parts 1 and 2, sent at once, once the short
    // last part (4 MiB at the same pace) has arrived.
    rig.control
        .upload_fault(json!({"read_bytes_per_second": 4 * MIB}))
        .await;
    let run = rig.start_upload(&[path.to_str().unwrap()]);
    let cut = rig
        .asset_when("A001_C001.mov", |a| {
            a["parts"][2]["received_count"] == 1
                && (0..2)
                    .all(|p| a["parts"][p]["receiving_bytes"].as_u64().unwrap_or(0) > MIB as u64)
        })
        .await;
    // The server counts the last part as it arrives, a moment before the upload hears so and
    // writes it down: the kill waits for the record too (bounded), as it is the record that
    // resumes.
    let recorded = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let last_done = rig.records().first().and_then(|path| {
                let text = std::fs::read_to_string(path).ok()?;
                let record: serde_json::Value = serde_json::from_str(&text).ok()?;
                record["parts"][2]["done"].as_bool()
            });
            if last_done == Some(true) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    recorded.await.expect("the last part is recorded as sent");
    run.kill().await;
    assert_eq!(
        receive_counts(&cut),
        [0, 0, 1],
        "killed inside parts 1 and 2"
    );
    // On a loaded machine a part may arrive whole between the server's count and the kill,
    // its answer lost: the resume sends it again, as it must. What the kill left is the base.
    let at_kill = receive_counts(&rig.assets_named("A001_C001.mov").await[0]);
    let records = rig.records();
    assert_eq!(records.len(), 1, "the upload's record is kept");
    let record = std::fs::read_to_string(&records[0]).unwrap();
    let account = format!(
        "CAM-KILL@127.0.0.1:{}",
        rig.server.base_url().port().unwrap()
    );
    let tokens = TokenSet::from_secret(&rig.kc.read(&account).unwrap()).unwrap();
    for secret in [
        tokens.access_token.expose_secret(),
        tokens.refresh_token.as_ref().unwrap().expose_secret(),
        common::demo_secret(),
    ] {
        assert!(!record.contains(secret), "a secret in the record: {record}");
    }
    let mode = std::fs::metadata(&records[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    rig.control.clear_upload_faults().await;

    let resumed = rig.start_upload(&["--resume"]).finish().await;
    resumed.assert_code(0);
    let notice = resumed.named("notice");
    assert!(
        notice.iter().any(|n| n["message"]
            .as_str()
            .unwrap()
            .contains("continuing the upload started")
            && n["message"]
                .as_str()
                .unwrap()
                .contains("1 of 3 parts already sent")),
        "{notice:?}"
    );
    let assets = rig.assets_named("A001_C001.mov").await;
    assert_eq!(assets.len(), 1, "no second asset");
    assert_arrived_once(&assets[0], &sha256);
    let expected: Vec<_> = at_kill
        .iter()
        .enumerate()
        .map(|(part, &count)| if part == 2 { count } else { count + 1 })
        .collect();
    assert_eq!(
        receive_counts(&assets[0]),
        expected,
        "parts 1 and 2 sent once more, part 3 not again (at the kill: {at_kill:?})"
    );
    assert!(rig.records().is_empty(), "the record is gone once done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_resume -- --include-ignored"]
async fn a_dropped_connection_is_retried_by_itself() {
    let rig = rig("CAM-DROP").await;
    let (path, sha256) = rig.file("A002_C001.mov", 12 * MIB, 2);
    rig.control
        .upload_fault(json!({"drop_after_bytes": 3 * MIB}))
        .await;
    let done = rig.start_upload(&[path.to_str().unwrap()]).finish().await;
    done.assert_code(0);
    let retrying = done.named("retrying");
    assert_eq!(retrying.len(), 1, "{:?}", done.events);
    assert_eq!(retrying[0]["attempt"], 1);
    let assets = rig.assets_named("A002_C001.mov").await;
    assert_eq!(assets.len(), 1);
    assert_arrived_once(&assets[0], &sha256);
    assert_eq!(
        receive_counts(&assets[0]),
        [1, 1],
        "the dropped body never arrived whole"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_resume -- --include-ignored"]
async fn a_drop_then_a_kill_while_waiting_to_retry_then_resume() {
    let rig = rig("CAM-DROPKILL").await;
    let (path, sha256) = rig.file("A003_C001.mov", 17 * MIB, 3);
    // Part 1's connection is dropped; the kill lands while the retry waits its back-off.
    rig.control
        .upload_fault(json!({"drop_after_bytes": 3 * MIB}))
        .await;
    let mut run = rig.start_upload(&[path.to_str().unwrap()]);
    let retrying = run.until("retrying").await;
    assert!(
        retrying["reason"].as_str().unwrap().starts_with("part "),
        "{retrying}"
    );
    run.kill().await;
    let resumed = rig.start_upload(&["--resume"]).finish().await;
    resumed.assert_code(0);
    let assets = rig.assets_named("A003_C001.mov").await;
    assert_eq!(assets.len(), 1, "no second asset");
    assert_arrived_once(&assets[0], &sha256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_resume -- --include-ignored"]
async fn an_unfinished_upload_whose_file_is_gone_is_forgotten_saying_so() {
    let rig = rig("CAM-GONE").await;
    let (path, _) = rig.file("A007_C001.mov", 12 * MIB, 12);
    rig.control
        .upload_fault(json!({"read_bytes_per_second": 4 * MIB}))
        .await;
    let run = rig.start_upload(&[path.to_str().unwrap()]);
    rig.asset_when("A007_C001.mov", |a| {
        a["parts"][0]["receiving_bytes"].as_u64().unwrap_or(0) > 0
    })
    .await;
    run.kill().await;
    assert_eq!(rig.records().len(), 1);
    std::fs::remove_file(&path).unwrap();

    let gone = rig.start_upload(&["--resume"]).finish().await;
    gone.assert_code(2);
    assert!(
        gone.named("notice")
            .iter()
            .any(|n| n["message"].as_str().unwrap().contains("the file is gone")),
        "{:?}",
        gone.events
    );
    assert!(rig.records().is_empty(), "the record is dropped");
    let output = rig.upload(&["--resume"]).output().await.unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Nothing to resume for CAM-GONE.\n"
    );
}
