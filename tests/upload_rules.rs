//! Frame.io's upload rules kept by the real binary, against the embedded server that applies
//! them: a file recorded during a pause is never uploaded however long the queue waits, while
//! the files behind it go; a device paused now is waited for and its files then judged again;
//! the device stays online (heartbeats) for a whole upload, whole or growing; a lost answer to
//! a create or a note never leaves two silent copies; every part carries the headers its URL
//! signs (the server's strict mode is on in every test); a network gone for five minutes ends
//! nothing.
//!
//! The binary keeps its tokens in the OS keychain: these tests need a Secret Service.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::time::Duration;

use c2c_pair::demo::fault::Fault;
use common::media::MIB;
use common::upload_cli::{Rig, file_sha256, recorded_at, rig, rig_with, unix_now};
use serde_json::{Value, json};

/// Every part of `asset` came with the headers its URL signs.
fn parts_signed(asset: &Value) {
    let parts = asset["parts"].as_array().unwrap();
    assert!(!parts.is_empty(), "{asset}");
    for part in parts {
        assert_eq!(part["content_type"], asset["filetype"], "{asset}");
        assert_eq!(part["acl"], "private", "{asset}");
    }
}

/// The one asset named `name`, complete, with the file's SHA-256 and signed parts.
async fn arrived(rig: &Rig, name: &str, sha256: &str) -> Value {
    let mut assets = rig.assets_named(name).await;
    assert_eq!(assets.len(), 1, "one asset named {name}: {assets:?}");
    let asset = assets.remove(0);
    assert_eq!(asset["sha256"], sha256, "{asset}");
    parts_signed(&asset);
    asset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_rules -- --include-ignored"]
async fn a_file_recorded_during_a_pause_is_never_uploaded_and_the_files_behind_it_are() {
    let rig = rig("CAM-WINDOW").await;
    let now = unix_now();
    // The device was paused from 100 s ago until 40 s ago.
    rig.control
        .pause_window("CAM-WINDOW", now - 100.0, now - 40.0)
        .await;
    let (inside, _) = rig.file("A010_C001.mov", MIB, 1);
    recorded_at(&inside, now - 42.0);
    let (before, before_sha) = rig.file("A010_C002.mov", 2 * MIB, 2);
    recorded_at(&before, now - 300.0);
    let (after, after_sha) = rig.file("A010_C003.mov", MIB, 3);
    recorded_at(&after, now - 10.0);
    // The server keeps the queue waiting on the first file: 503 twice, 3 s each. A queue that
    // sent the offset of its first try again would have the file dated 6 s later than it was
    // recorded: after the pause, and taken.
    let busy = Fault::Status {
        status: 503,
        retry_after: Some(3),
    };
    rig.control.inject("/v2/devices/assets", &busy, 2).await;
    let paths = [&inside, &before, &after].map(|p| p.to_str().unwrap().to_owned());
    let done = rig
        .start_upload(&paths.each_ref().map(String::as_str))
        .finish()
        .await;
    done.assert_code(7);
    let parked = done.named("parked");
    assert_eq!(parked.len(), 1, "{:?}", done.events);
    assert_eq!(parked[0]["file"], 0);
    let reason = parked[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("while the device was paused in Frame.io")
            && reason.contains("not uploaded")
            && reason.contains("Nothing was deleted"),
        "{reason}"
    );
    assert!(inside.exists(), "nothing deleted");
    assert!(
        rig.assets_named("A010_C001.mov").await.is_empty(),
        "never uploaded"
    );
    assert_eq!(done.named("uploaded").len(), 2, "the files behind it went");
    for (name, sha, path) in [
        ("A010_C002.mov", before_sha, &before),
        ("A010_C003.mov", after_sha, &after),
    ] {
        let asset = arrived(&rig, name, &sha).await;
        // The server dates each file to its recording, whatever the wait.
        let recorded = std::fs::metadata(path)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let dated = asset["recorded_at_unix"].as_f64().unwrap();
        assert!((dated - recorded).abs() <= 2.0, "{dated} vs {recorded}");
    }
    // Each create of the first file was dated anew: two waits, then two refusals (the second
    // confirms the first).
    let creates: Vec<u16> = rig
        .control
        .requests_to("/v2/devices/assets", None)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(creates[..4], [503, 503, 409, 409], "{creates:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_rules -- --include-ignored"]
async fn a_device_paused_now_is_waited_for_then_its_files_are_judged_again() {
    let rig = rig("CAM-NOW").await;
    // Paused since a few seconds ago (whole seconds of `offset` cannot blur the start), until
    // resumed.
    rig.control.pause_since("CAM-NOW", unix_now() - 5.0).await;
    // Recorded while the device is paused: Frame.io's rule keeps it private, even after the
    // device is resumed.
    let (during, _) = rig.file("A011_C001.mov", MIB, 4);
    let mut run = rig.start_upload(&[during.to_str().unwrap()]);
    let paused = run.until("paused").await;
    assert!(
        paused["reason"]
            .as_str()
            .unwrap()
            .contains("paused in Frame.io"),
        "{paused}"
    );
    rig.control.resume("CAM-NOW").await;
    let done = run.finish().await;
    done.assert_code(3);
    let parked = done.named("parked");
    assert!(!parked.is_empty(), "{:?}", done.events);
    assert!(
        done.named("resumed").iter().any(|e| e["was"] == "paused"),
        "tried again once resumed: {:?}",
        done.events
    );
    assert!(rig.assets_named("A011_C001.mov").await.is_empty());
    let last = parked.last().unwrap()["reason"].as_str().unwrap();
    assert!(last.contains("Frame.io's rule"), "{last}");
}

/// The heartbeats of `device` kept it online from its first heartbeat until now: the server's
/// online log shows no gap. `floor` heartbeats at least were sent.
async fn stayed_online(rig: &Rig, floor: usize) {
    let devices = rig.control.devices().await;
    let device = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["client_id"] == rig.device.as_str())
        .unwrap()
        .clone();
    assert_eq!(device["online"], true, "{device}");
    assert_eq!(
        device["offline_gaps"],
        json!([]),
        "offline during the upload: {device}"
    );
    let beats = rig
        .control
        .requests_to("/v2/devices/heartbeat", Some(&rig.device))
        .await;
    assert!(beats.len() >= floor, "{} heartbeats", beats.len());
}

/// A server that shows a device offline 3 s after its last heartbeat (Frame.io: 5 min), so
/// that several heartbeat intervals fit in a test.
fn quick_offline() -> c2c_pair::demo::DemoConfig {
    c2c_pair::demo::DemoConfig {
        offline_after: Duration::from_secs(3),
        ..common::fast_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_rules -- --include-ignored"]
async fn a_long_whole_file_upload_keeps_the_device_online() {
    let rig = rig_with("CAM-ONLINE", quick_offline()).await;
    let (first, first_sha) = rig.file("A012_C001.mov", 12 * MIB, 5);
    let (second, second_sha) = rig.file("A012_C002.mov", 4 * MIB, 6);
    // About 12 s on a slow link: four heartbeat intervals of the server's 3 s.
    rig.control
        .upload_fault(json!({"read_bytes_per_second": MIB}))
        .await;
    let started = std::time::Instant::now();
    let done = rig
        .start_upload(&[
            "--heartbeat-interval",
            "1",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
        ])
        .finish()
        .await;
    done.assert_code(0);
    let took = started.elapsed();
    assert!(
        took > Duration::from_secs(9),
        "slow enough to matter: {took:?}"
    );
    arrived(&rig, "A012_C001.mov", &first_sha).await;
    arrived(&rig, "A012_C002.mov", &second_sha).await;
    stayed_online(&rig, usize::try_from(took.as_secs()).unwrap() - 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_rules -- --include-ignored"]
async fn a_long_real_time_upload_keeps_the_device_online() {
    let rig = rig_with("CAM-LIVE-ONLINE", quick_offline()).await;
    let path = rig.media.path().join("A013_C001.mov");
    let mut recorder = std::fs::File::create(&path).unwrap();
    let mut run = rig.start_upload(&[
        "--realtime",
        "--idle",
        "2",
        "--heartbeat-interval",
        "1",
        path.to_str().unwrap(),
    ]);
    run.until("started").await;
    // A take that grows for about 10 s: three of the server's offline timers.
    let block = common::media::patterned(MIB, 9);
    for _ in 0..10 {
        recorder.write_all(&block).unwrap();
        recorder.flush().unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(recorder);
    let done = run.finish().await;
    done.assert_code(0);
    arrived(&rig, "A013_C001.mov", &file_sha256(&path)).await;
    stayed_online(&rig, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_rules -- --include-ignored"]
async fn a_lost_answer_to_a_create_or_a_note_never_leaves_two_silent_copies() {
    let rig = rig("CAM-LOST").await;
    let (first, _) = rig.file("A014_C001.mov", MIB, 10);
    let (second, _) = rig.file("A014_C002.mov", MIB, 11);
    // Every create's first answer is lost after the server made the asset.
    let pass = Fault::Delay { ms: 0 };
    for fault in [&Fault::LoseAnswer, &pass, &Fault::LoseAnswer, &pass] {
        rig.control.inject("/v2/devices/assets", fault, 1).await;
    }
    let done = rig
        .start_upload(&[first.to_str().unwrap(), second.to_str().unwrap()])
        .finish()
        .await;
    done.assert_code(0);
    for (index, name) in ["A014_C001.mov", "A014_C002.mov"].iter().enumerate() {
        let copies = rig.assets_named(name).await;
        let uploaded = done
            .named("uploaded")
            .into_iter()
            .find(|e| e["file"] == index)
            .unwrap()
            .clone();
        // Frame.io offers no idempotency key: two copies may exist, and the user is told.
        assert!(copies.len() <= 2, "{copies:?}");
        if copies.len() == 2 {
            assert_eq!(uploaded["duplicate_possible"], true, "{uploaded}");
            assert!(
                done.named("notice").iter().any(|n| n["file"] == index
                    && n["message"].as_str().unwrap().contains("may hold it twice")),
                "{:?}",
                done.events
            );
        }
    }
    let finished = done.named("finished");
    assert_eq!(finished[0]["duplicates_possible"], 2, "{finished:?}");

    // The test clip's note: its answer lost once; the note goes once more, and it is said.
    rig.control
        .inject("/v2/devices/assets/*", &Fault::LoseAnswer, 1)
        .await;
    let clip = rig.start_upload(&[]).finish().await;
    clip.assert_code(0);
    let asset = rig
        .assets_named(c2c_pair::device::upload::TEST_CLIP_NAME)
        .await
        .remove(0);
    let notes = asset["comments"].as_array().unwrap();
    assert!(notes.len() <= 2, "{asset}");
    assert_eq!(
        clip.named("uploaded")[0]["duplicate_possible"],
        notes.len() == 2
    );

    // Lost twice: not sent a third time; the file is reported, and two copies at most exist.
    let (third, _) = rig.file("A014_C003.mov", MIB, 12);
    rig.control
        .inject("/v2/devices/assets", &Fault::LoseAnswer, 2)
        .await;
    let twice = rig.start_upload(&[third.to_str().unwrap()]).finish().await;
    twice.assert_code(5);
    let failed = twice.named("failed");
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not sent a third time"),
        "{failed:?}"
    );
    assert_eq!(rig.assets_named("A014_C003.mov").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "takes six minutes (a five-minute outage) and a Secret Service; run .ci/run, or \
            .ci/with-keyring cargo test --test upload_rules -- --include-ignored"]
async fn a_five_minute_outage_mid_queue_ends_with_every_file_sent() {
    let rig = rig("CAM-OUTAGE").await;
    let files: Vec<(String, String)> = (0..3)
        .map(|i| {
            let (path, sha) = rig.file(&format!("A015_C00{i}.mov"), 3 * MIB, 20 + i);
            (path.to_str().unwrap().to_owned(), sha)
        })
        .collect();
    rig.control
        .upload_fault(json!({"read_bytes_per_second": MIB}))
        .await;
    let mut run = rig.start_upload(&files.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>());
    run.until("uploaded").await;
    // The network is gone for five minutes, in the middle of the second file.
    rig.control.outage(300).await;
    let done = run.finish().await;
    done.assert_code(0);
    assert_eq!(done.named("uploaded").len(), 3, "{:?}", done.events);
    assert!(!done.named("offline").is_empty(), "{:?}", done.events);
    assert!(
        done.named("resumed").iter().any(|e| e["was"] == "offline"),
        "{:?}",
        done.events
    );
    for (i, (_, sha)) in files.iter().enumerate() {
        arrived(&rig, &format!("A015_C00{i}.mov"), sha).await;
    }
}
