//! A part of hundreds of MiB streams through the demo server to disk, not into memory: the
//! part's file grows while the body is still arriving, the process's peak memory does not
//! grow by the part, and the assembled SHA-256 is the client's. Alone in its test binary, so
//! the peak memory it reads is this test's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use c2c_pair::demo::DemoServer;
use common::Control;
use common::media::{MIB, asset, hex, paired, patterned};
use reqwest::StatusCode;

/// The part: 512 MiB.
const PART: usize = 512 * MIB;
/// How much the process's peak memory may grow while it streams through.
const MEMORY_SLACK: u64 = 64 * 1024 * 1024;

/// The process's peak resident memory (`VmHWM`), where the system tells it.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The file a part is streaming into (`*.incoming` in an asset's folder), if any.
fn incoming_file(root: &Path) -> Option<PathBuf> {
    let folders = std::fs::read_dir(root).ok()?;
    // Asset folders (beside them, the lock file that says the server runs).
    for folder in folders.flatten().filter(|f| f.path().is_dir()) {
        for file in std::fs::read_dir(folder.path()).ok()?.flatten() {
            if file.file_name().to_string_lossy().ends_with(".incoming") {
                return Some(file.path());
            }
        }
    }
    None
}

/// Chunk `index` of the part: a 1 MiB block made distinct by its index.
fn chunk(block: &[u8], index: usize) -> Bytes {
    let mut chunk = block.to_vec();
    chunk[..8].copy_from_slice(&(index as u64).to_le_bytes());
    Bytes::from(chunk)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_512_mib_part_streams_to_disk_not_into_memory() {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let cam = paired(&server, "CAM-STREAM").await;
    let (id, urls) = cam.create_normal("big.mov", PART, 1).await;
    let root = server.upload_dir().unwrap();
    let block = patterned(MIB, 11);
    let before = peak_memory();

    // The body comes from a channel the test feeds: half now, the rest once it is on disk.
    let (feed, chunks) = tokio::sync::mpsc::channel::<Bytes>(4);
    let body = futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks
            .recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), chunks))
    });
    let request = common::media::signed(cam.http.put(&urls[0]))
        .header(reqwest::header::CONTENT_LENGTH, PART)
        .body(reqwest::Body::wrap_stream(body));
    let upload = tokio::spawn(request.send());
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let chunks_in_all = PART / MIB;
    let half = chunks_in_all / 2;
    for index in 0..half {
        let chunk = chunk(&block, index);
        digest.update(&chunk);
        feed.send(chunk).await.unwrap();
    }

    // Half the part is in its file while the body is still arriving.
    let mut on_disk = 0;
    for _ in 0..6000 {
        on_disk = incoming_file(&root)
            .and_then(|file| std::fs::metadata(file).ok())
            .map_or(0, |meta| meta.len());
        if on_disk >= (half * MIB - 16 * MIB) as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        on_disk >= (half * MIB - 16 * MIB) as u64,
        "only {on_disk} bytes on disk after {half} MiB sent"
    );
    let receiving = asset(&control, &id).await["parts"][0]["receiving_bytes"]
        .as_u64()
        .unwrap();
    assert!(receiving >= on_disk, "{receiving} < {on_disk}");
    assert!(!upload.is_finished(), "the body is not complete");

    for index in half..chunks_in_all {
        let chunk = chunk(&block, index);
        digest.update(&chunk);
        feed.send(chunk).await.unwrap();
    }
    drop(feed);
    let answer = upload.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::OK);

    let whole = asset(&control, &id).await;
    assert_eq!(whole["complete"], true, "{whole}");
    assert_eq!(whole["received_bytes"], PART);
    assert_eq!(whole["parts"][0]["received_count"], 1);
    assert_eq!(whole["sha256"], hex(digest.finish().as_ref()));

    if let (Some(before), Some(after)) = (before, peak_memory()) {
        let grown = after.saturating_sub(before);
        assert!(
            grown < MEMORY_SLACK,
            "peak memory grew by {} MiB while 512 MiB streamed through",
            grown / 1024 / 1024
        );
    }
    drop(server);
    assert!(!root.exists(), "the part's file goes with the server");
}
