//! The upload queue with the real binary: a paused device waited out until the control API
//! resumes it; the deprecated asset path when the devices path answers 404; comments from the
//! CLI and the test clip's note, listed by the server with the asset; a folder of files with
//! one that cannot be read (the others arrive, the failure has its reason, exit 7).
//!
//! The binary keeps its tokens in the OS keychain: these tests need a Secret Service.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::media::MIB;
use common::upload_cli::rig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_queue -- --include-ignored"]
async fn a_paused_device_is_waited_out_and_the_queue_goes_on_by_itself() {
    let rig = rig("CAM-PAUSED").await;
    let (first, first_sha) = rig.file("A006_C001.mov", MIB, 7);
    let (second, second_sha) = rig.file("A006_C002.mov", 2 * MIB, 8);
    // A server that refuses every file of a paused device, whenever it was recorded (the
    // files were recorded before the pause: Frame.io's documented rule would take them).
    rig.control.pause_refuses_all(true).await;
    rig.control.pause("CAM-PAUSED").await;
    let mut run = rig.start_upload(&[first.to_str().unwrap(), second.to_str().unwrap()]);
    let paused = run.until("paused").await;
    assert_eq!(paused["file"], 0);
    assert!(
        paused["reason"]
            .as_str()
            .unwrap()
            .contains("paused in Frame.io"),
        "{paused}"
    );
    assert!(
        rig.control.assets().await.is_empty(),
        "nothing created while paused"
    );
    rig.control.resume("CAM-PAUSED").await;
    let done = run.finish().await;
    done.assert_code(0);
    assert!(!done.named("resumed").is_empty(), "{:?}", done.events);
    assert_eq!(done.named("uploaded").len(), 2, "nothing was dropped");
    for (name, sha) in [("A006_C001.mov", first_sha), ("A006_C002.mov", second_sha)] {
        let asset = rig.assets_named(name).await.remove(0);
        assert_eq!(asset["sha256"], sha, "{asset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_queue -- --include-ignored"]
async fn an_older_server_gets_the_deprecated_asset_path_once_and_the_user_is_told() {
    let rig = rig("CAM-LEGACY").await;
    let (first, first_sha) = rig.file("old-1.mov", MIB, 10);
    let (second, _) = rig.file("old-2.mov", MIB, 11);
    rig.control.legacy_only(true).await;
    let output = rig
        .upload(&[first.to_str().unwrap(), second.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("deprecated /v2/assets"),
        "said on stderr: {stderr}"
    );
    let asset = rig.assets_named("old-1.mov").await.remove(0);
    assert_eq!(asset["created_via"], "legacy");
    assert_eq!(asset["sha256"], first_sha);
    assert_eq!(
        rig.assets_named("old-2.mov").await.remove(0)["created_via"],
        "legacy"
    );
    let tried = rig.control.requests_to("/v2/devices/assets", None).await;
    assert_eq!(
        tried.len(),
        1,
        "the devices path is tried once, not per file"
    );
    let log = std::fs::read_to_string(rig.kc.config_dir.path().join("logs/c2c-pair.log"))
        .unwrap_or_default();
    assert!(log.contains("/v2/assets"), "and in the log: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_queue -- --include-ignored"]
async fn comments_from_the_cli_and_the_test_clips_note_are_listed_with_the_asset() {
    let rig = rig("CAM-NOTE").await;
    let clip = rig.start_upload(&[]).finish().await;
    clip.assert_code(0);
    let asset_id = clip.named("uploaded")[0]["asset_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let asset = rig.assets_named("c2c-pair-test-clip.mp4").await.remove(0);
    let note = asset["comments"][0]["text"].as_str().unwrap();
    assert!(note.starts_with("Rig check from "), "{note}");
    assert!(
        asset["comments"][0]["timestamp"].is_null(),
        "on the whole asset"
    );

    let output = rig
        .command(&[
            "comment",
            "--device",
            "CAM-NOTE",
            "--asset",
            &asset_id,
            "--frame",
            "48",
            "Focus buzz at 2 s",
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with(&format!(
            "Commented on frame 48 of asset {asset_id} as CAM-NOTE"
        )),
        "{stdout}"
    );
    let asset = rig.assets_named("c2c-pair-test-clip.mp4").await.remove(0);
    let comments = asset["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2, "{asset}");
    assert_eq!(comments[1]["text"], "Focus buzz at 2 s");
    assert_eq!(comments[1]["timestamp"], 48);

    // --no-note: the clip alone.
    rig.start_upload(&["--no-note"])
        .finish()
        .await
        .assert_code(0);
    let plain = rig.assets_named("c2c-pair-test-clip.mp4").await;
    assert_eq!(plain.len(), 2);
    assert!(plain[1]["comments"].as_array().unwrap().is_empty());

    // An asset that is not there: refused, said.
    let output = rig
        .command(&[
            "comment", "--device", "CAM-NOTE", "--asset", "no-such", "hello",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("404"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Secret Service (the binary keeps tokens in the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test --test upload_queue -- --include-ignored"]
async fn a_folder_goes_whole_except_the_file_that_cannot_be_read() {
    let rig = rig("CAM-CARD").await;
    let card = rig.media.path().join("CARD");
    std::fs::create_dir_all(card.join("CLIPS")).unwrap();
    let mut expected = Vec::new();
    for (name, size, seed) in [
        ("CLIPS/B001.mov", 3 * MIB, 21),
        ("A001.mov", MIB, 22),
        ("CLIPS/B002.mov", 9 * MIB, 23),
    ] {
        let bytes = common::media::patterned(size, seed);
        std::fs::write(card.join(name), &bytes).unwrap();
        expected.push((
            name.rsplit('/').next().unwrap().to_owned(),
            common::media::sha256_hex(&bytes),
        ));
    }
    // Unreadable even for root: a link to nothing.
    std::os::unix::fs::symlink(card.join("gone.mov"), card.join("CLIPS/B000.mov")).unwrap();
    std::fs::write(card.join(".DS_Store"), b"hidden").unwrap();

    let done = rig.start_upload(&[card.to_str().unwrap()]).finish().await;
    done.assert_code(7);
    let queued: Vec<&str> = done
        .named("queued")
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        queued,
        ["A001.mov", "B000.mov", "B001.mov", "B002.mov"],
        "sorted by path, recursive, hidden files left out"
    );
    let failed = done.named("failed");
    assert_eq!(failed.len(), 1, "{:?}", done.events);
    assert_eq!(failed[0]["name"], "B000.mov");
    assert_eq!(failed[0]["kind"], "usage");
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{}",
        failed[0]
    );
    assert_eq!(done.named("uploaded").len(), 3);
    let finished = done.named("finished");
    assert_eq!(finished[0]["uploaded"], 3);
    assert_eq!(finished[0]["failed"], 1);
    for (name, sha) in expected {
        let asset = rig.assets_named(&name).await.remove(0);
        assert_eq!(asset["sha256"], sha, "{name}");
    }
}
