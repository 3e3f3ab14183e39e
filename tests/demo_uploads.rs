//! The demo server's media API over raw HTTP and TCP: parts assembled and hashed on the
//! server, receptions counted, sizes checked; upload faults that really drop, stall or
//! throttle a part's connection; real-time parts under S3's rules; comments; the deprecated
//! path; pause windows judged by `offset`; heartbeats and the online timer; presigned part
//! URLs and the headers they sign; more or fewer upload URLs than asked; answers lost after
//! the work was done; latency; an outage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use c2c_pair::demo::DemoServer;
use common::Control;
use common::media::{MIB, asset, paired, patterned, sha256_hex};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

async fn server() -> (DemoServer, Control) {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    (server, control)
}

/// Waits (bounded) until `check` holds for the asset `id`, and returns it.
async fn asset_when(control: &Control, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..3000 {
        let asset = asset(control, id).await;
        if check(&asset) {
            return asset;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the asset never reached the state waited for: {}",
        asset(control, id).await
    );
}

/// The request target (path and the presigning query) and `host:port` of an upload URL, for
/// raw requests.
fn target(url: &str) -> (String, String) {
    let url = url::Url::parse(url).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let query = url.query().expect("upload URLs are presigned");
    (format!("{}?{query}", url.path()), host)
}

/// The path of a URL (what the request log shows).
fn path_of(url: &str) -> String {
    url::Url::parse(url).unwrap().path().to_owned()
}

/// What a raw client reads back before the connection ends: the bytes, and whether it ended
/// with an error (reset) rather than a clean close. Bounded: a server that holds the
/// connection fails the test.
async fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buffer))
            .await
            .expect("the server closes the connection");
        match read {
            Ok(0) => return (got, false),
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(_) => return (got, true),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_assemble_to_the_clients_sha256_and_each_reception_is_counted() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-SHA").await;
    let content = patterned(10 * MIB + 1000, 7);
    let parts = [
        &content[..5 * MIB],
        &content[5 * MIB..10 * MIB],
        &content[10 * MIB..],
    ];
    let (id, urls) = cam.create_normal("A001.mov", content.len(), 3).await;
    assert_eq!(urls.len(), 3);
    assert_eq!(path_of(&urls[1]), format!("/_uploads/{id}/2"), "{urls:?}");

    // Out of order; each answer's ETag is the part's own SHA-256.
    for index in [2, 0] {
        let answer = cam.put(&urls[index], parts[index]).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let etag = answer.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(etag, format!("\"{}\"", sha256_hex(parts[index])));
    }
    let partial = asset(&control, &id).await;
    assert_eq!(partial["complete"], false);
    assert_eq!(partial["sha256"], Value::Null);
    assert_eq!(partial["error"], Value::Null);
    assert_eq!(partial["received_bytes"], 5 * MIB + 1000);
    assert_eq!(partial["parts"][1]["received_count"], 0);

    // The last part in: the asset is hashed before that part's answer.
    let answer = cam.put(&urls[1], parts[1]).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let whole = asset(&control, &id).await;
    assert_eq!(whole["complete"], true, "{whole}");
    assert_eq!(whole["sha256"], sha256_hex(&content));
    assert_eq!(whole["received_bytes"], content.len());
    assert_eq!(whole["realtime"], false);
    assert_eq!(whole["created_via"], "devices");
    assert_eq!(whole["filesize"], content.len());

    // A part sent again replaces the earlier copy and is counted again.
    assert_eq!(
        cam.put(&urls[1], parts[1]).await.unwrap().status(),
        StatusCode::OK
    );
    let again = asset(&control, &id).await;
    let counts: Vec<&Value> = again["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| &part["received_count"])
        .collect();
    assert_eq!(counts, [1, 2, 1]);
    assert_eq!(again["sha256"], sha256_hex(&content));
    assert_eq!(again["parts"][2]["received_bytes"], 1000);
    assert_eq!(again["parts"][2]["size"], Value::Null, "not announced");

    // On disk, one file per part in the asset's folder (nothing left from receptions).
    let root = server.upload_dir().unwrap();
    // Asset folders (beside them, the lock file that says the server runs).
    let folders: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = folders[0].clone();
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["part-00001", "part-00002", "part-00003"]);

    // The page shows it with its hash.
    let page = reqwest::get(server.approval_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&sha256_hex(&content)), "{page}");
    assert!(page.contains("A001.mov"));

    // The server's folder goes with the server.
    drop(server);
    assert!(!root.exists(), "{root:?} is removed with the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_are_checked_early_and_a_wrong_total_is_the_assets_error() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-SIZE").await;
    let (id, urls) = cam.create_normal("short.mp4", 6 * MIB, 2).await;

    // A part that says it is larger than the asset allows: refused before its body is read.
    let (path, host) = target(&urls[0]);
    let mut raw = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: video/mp4\r\nx-amz-acl: private\r\nContent-Length: {}\r\n\r\n",
        7 * MIB
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_to_close(&mut raw).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A chunked body that grows past the limit: refused once it does.
    let mut raw = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: video/mp4\r\nx-amz-acl: private\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    let over = 6 * MIB + 64 * 1024 + 1;
    raw.write_all(format!("{over:x}\r\n").as_bytes())
        .await
        .unwrap();
    raw.write_all(&vec![1_u8; over]).await.unwrap();
    let (answer, _) = read_to_close(&mut raw).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Parts before the last need 5 MiB; URLs made up for other parts and assets are not
    // signed for them: 403, as S3 answers.
    let small = cam.put(&urls[0], &[1; 1000]).await.unwrap();
    assert_eq!(small.status(), StatusCode::BAD_REQUEST);
    assert!(small.text().await.unwrap().contains("at least 5 MiB"));
    let query = url::Url::parse(&urls[0])
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    let base = server.base_url();
    for path in [
        format!("_uploads/{id}/3"),
        format!("_uploads/{id}/0"),
        "_uploads/no-such-asset/1".to_owned(),
    ] {
        let mut url = base.join(&path).unwrap();
        url.set_query(Some(&query));
        let answer = cam.put(url.as_str(), b"x").await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            answer
                .text()
                .await
                .unwrap()
                .contains("<Code>SignatureDoesNotMatch</Code>")
        );
    }
    let refused = asset(&control, &id).await;
    assert_eq!(
        refused["parts"][0]["received_count"], 0,
        "refused parts are not counted"
    );

    // All parts in, but short of the announced size: the asset's error, not complete.
    let content = patterned(6 * MIB - 10, 3);
    cam.put(&urls[0], &content[..5 * MIB]).await.unwrap();
    let last = cam.put(&urls[1], &content[5 * MIB..]).await.unwrap();
    assert_eq!(last.status(), StatusCode::OK, "the part itself is fine");
    let failed = asset(&control, &id).await;
    assert_eq!(failed["complete"], false);
    assert_eq!(failed["sha256"], Value::Null);
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("6291446 bytes") && error.contains("announced as 6291456"),
        "{error}"
    );
    // Sent right, the error goes.
    let right = patterned(MIB, 4);
    cam.put(&urls[1], &right).await.unwrap();
    let fixed = asset(&control, &id).await;
    assert_eq!(fixed["complete"], true);
    assert_eq!(fixed["error"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_part_upload_closes_the_connection_without_an_answer() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-DROP").await;
    let content = patterned(MIB, 5);
    let (id, urls) = cam.create_normal("drop.mp4", MIB, 1).await;
    let (path, host) = target(&urls[0]);
    let logged_path = path_of(&urls[0]);

    // Mid-body: the raw client sees the connection end, and not one byte of an answer.
    let faults = control
        .upload_fault(json!({"drop_after_bytes": 1000}))
        .await;
    assert_eq!(faults["drop_after_bytes"], 1000);
    let mut raw = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: video/mp4\r\nx-amz-acl: private\r\nContent-Length: {}\r\n\r\n",
        content.len()
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    // The server may cut while this is still being written.
    let _ = raw.write_all(&content[..64 * 1024]).await;
    let (answer, _) = read_to_close(&mut raw).await;
    assert!(
        answer.is_empty(),
        "no answer: {}",
        String::from_utf8_lossy(&answer)
    );

    // After the whole body (a lost answer): still nothing, and the part is not kept.
    control
        .upload_fault(json!({"drop_after_bytes": content.len() * 2}))
        .await;
    let mut raw = TcpStream::connect(&host).await.unwrap();
    raw.write_all(head.as_bytes()).await.unwrap();
    raw.write_all(&content).await.unwrap();
    let (answer, _) = read_to_close(&mut raw).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let after = asset(&control, &id).await;
    assert_eq!(after["parts"][0]["received_count"], 0);
    assert_eq!(after["complete"], false);

    // An HTTP client sees a network error, not a status.
    control.upload_fault(json!({"drop_after_bytes": 0})).await;
    let error = cam.put(&urls[0], &content).await.unwrap_err();
    assert_eq!(error.status(), None, "{error}");

    // The request log says why those went unanswered.
    let dropped = control
        .requests_to(&logged_path, None)
        .await
        .into_iter()
        .filter(|r| r.error.as_deref() == Some("upload fault: connection dropped"))
        .count();
    assert_eq!(dropped, 3);

    // The fault was for one upload each time: the next one goes through.
    let answer = cam.put(&urls[0], &content).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let done = asset(&control, &id).await;
    assert_eq!(done["parts"][0]["received_count"], 1);
    assert_eq!(done["sha256"], sha256_hex(&content));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_part_upload_is_held_unread_until_the_client_gives_up() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-STALL").await;
    let content = patterned(4 * MIB, 6);
    let (id, urls) = cam.create_normal("stall.mp4", content.len(), 1).await;
    control
        .upload_fault(json!({"stall_after_bytes": MIB}))
        .await;
    let http = cam.http.clone();
    let url = urls[0].clone();
    let body = content.clone();
    let upload = tokio::spawn(async move {
        common::media::signed(http.put(url))
            .body(body)
            .timeout(Duration::from_secs(3))
            .send()
            .await
    });
    // The server read exactly the first MiB, and no more.
    let stalled = asset_when(&control, &id, |a| a["parts"][0]["receiving_bytes"] == MIB).await;
    assert_eq!(stalled["parts"][0]["received_count"], 0);
    let outcome = upload.await.unwrap();
    let error = outcome.expect_err("no answer while stalled");
    assert!(error.is_timeout(), "the client gave up: {error}");
    let held = asset(&control, &id).await;
    assert_eq!(
        held["parts"][0]["receiving_bytes"], MIB,
        "still held, unread"
    );
    assert_eq!(held["parts"][0]["received_count"], 0);

    // A server that stops ends the stalled upload rather than wait for it.
    let root = server.upload_dir().unwrap();
    tokio::time::timeout(Duration::from_secs(30), server.shutdown())
        .await
        .expect("shutdown does not wait for a stalled upload");
    assert!(!root.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_part_uploads_take_at_least_their_size_over_the_rate() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-SLOW").await;
    let content = patterned(512 * 1024, 8);
    let (id, urls) = cam.create_normal("slow.mp4", content.len(), 1).await;
    let rate = 256 * 1024;
    let faults = control
        .upload_fault(json!({"read_bytes_per_second": rate}))
        .await;
    assert_eq!(faults["read_bytes_per_second"], rate);
    let started = Instant::now();
    let answer = cam.put(&urls[0], &content).await.unwrap();
    let took = started.elapsed();
    assert_eq!(answer.status(), StatusCode::OK);
    // 512 KiB at 256 KiB/s: 2 s at least in theory; a lower bound cannot be flaky.
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
    assert_eq!(asset(&control, &id).await["complete"], true);
    // The throttle stays until cleared, and clearing says so.
    assert_eq!(
        control.upload_fault(json!({"drop_after_bytes": 5})).await["read_bytes_per_second"],
        rate
    );
    control.clear_upload_faults().await;
    let cleared = control.upload_fault(json!({"stall_after_bytes": 1})).await;
    assert_eq!(cleared["read_bytes_per_second"], Value::Null);
    assert_eq!(cleared["drop_after_bytes"], Value::Null);
    control.clear_upload_faults().await;

    // Faults are control calls: this machine's programs only, with the header.
    let url = server.base_url().join("/_control/uploads/fault").unwrap();
    let bare = reqwest::Client::new()
        .post(url)
        .json(&json!({"drop_after_bytes": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    // And a fault call that sets nothing, or something unknown, is refused.
    for body in [
        json!({}),
        json!({"drop_after": 1}),
        json!({"read_bytes_per_second": 0}),
    ] {
        let url = server.base_url().join("/_control/uploads/fault").unwrap();
        let answer = reqwest::Client::new()
            .post(url)
            .header(c2c_pair::demo::CONTROL_HEADER, "1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_time_asset_takes_parts_as_they_come_and_completes_with_the_final_one() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-LIVE").await;
    let (status, created) = cam
        .create(&json!({"is_realtime_upload": true, "filetype": "video/mp4", "name": "live.mp4"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["name"], "live.mp4");
    assert!(
        created.get("upload_urls").is_none(),
        "no upload URLs for a real-time asset: {created}"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let content = patterned(10 * MIB + 1000, 9);

    let (status, first) = cam
        .realtime_parts(
            &id,
            &json!({"parts": [{"number": 1, "size": 5 * MIB, "is_final": false}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let first_url = first["upload_urls"][0].as_str().unwrap().to_owned();
    assert_eq!(path_of(&first_url), format!("/_uploads/{id}/1"));
    assert!(
        first_url.starts_with(server.base_url().as_str()),
        "same host"
    );
    cam.put(&first_url, &content[..5 * MIB]).await.unwrap();
    let growing = asset(&control, &id).await;
    assert_eq!(growing["complete"], false, "no final part yet");
    assert_eq!(growing["realtime"], true);
    assert_eq!(growing["filesize"], Value::Null);

    // The rest, final part first: URLs in request order.
    let body = json!({
        "parts": [
            {"number": 3, "size": 1000, "is_final": true},
            {"number": 2, "size": 5 * MIB, "is_final": false},
        ],
        "asset_filesize": content.len(),
    });
    let (status, rest) = cam.realtime_parts(&id, &body).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    let urls: Vec<&str> = rest["upload_urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(
        path_of(urls[0]).ends_with("/3") && path_of(urls[1]).ends_with("/2"),
        "{urls:?}"
    );
    cam.put(urls[0], &content[10 * MIB..]).await.unwrap();
    assert_eq!(
        asset(&control, &id).await["complete"],
        false,
        "part 2 missing"
    );
    let answer = cam.put(urls[1], &content[5 * MIB..10 * MIB]).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let whole = asset(&control, &id).await;
    assert_eq!(whole["complete"], true, "{whole}");
    assert_eq!(whole["sha256"], sha256_hex(&content));
    assert_eq!(whole["asset_filesize"], content.len());
    assert_eq!(whole["parts"][2]["size"], 1000);

    // Nothing may follow the final part now.
    let (status, after) = cam
        .realtime_parts(&id, &json!({"parts": [{"number": 4, "size": 5 * MIB}]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        after["message"]
            .as_str()
            .unwrap()
            .contains("no part may follow")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_time_rules_are_enforced_with_clear_messages() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-RULES").await;
    let other = paired(&server, "CAM-OTHER").await;
    let live = json!({"is_realtime_upload": true, "filetype": "video/mp4", "name": "r.mp4"});
    let (_, created) = cam.create(&live).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let five = 5 * MIB;
    let refusals = [
        (json!({"parts": []}), "at least one part"),
        (
            json!({"parts": [{"number": 0, "size": five}]}),
            "1 to 10000",
        ),
        (
            json!({"parts": [{"number": 10_001, "size": five}]}),
            "1 to 10000",
        ),
        (
            json!({"parts": [{"number": 1, "size": MIB}]}),
            "at least 5 MiB",
        ),
        (
            json!({"parts": [{"number": 1, "size": 5 * 1024 * MIB + 1}]}),
            "at most 5 GiB",
        ),
        (
            json!({"parts": [{"number": 1, "size": 10, "is_final": true}]}),
            "asset_filesize is required",
        ),
        (
            json!({"parts": [{"number": 1, "size": 10, "is_final": true}],
                   "asset_filesize": 5_u64 * 1024 * 1024 * 1024 * 1024 + 1}),
            "at most 5 TiB",
        ),
        (
            json!({"parts": [{"number": 2, "size": 10, "is_final": true},
                             {"number": 3, "size": five}], "asset_filesize": five + 10}),
            "no part may follow",
        ),
        (
            json!({"parts": [{"number": 1, "size": five}, {"number": 1, "size": five}]}),
            "twice",
        ),
        (
            json!({"parts": [{"number": -1, "size": five}]}),
            "send JSON",
        ),
        (json!({"parts": "all"}), "send JSON"),
    ];
    for (body, says) in refusals {
        let (status, answer) = cam.realtime_parts(&id, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    assert!(
        asset(&control, &id).await["parts"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let one = json!({"parts": [{"number": 1, "size": five}]});
    // Another device's asset, or none: 404; no token: 401.
    assert_eq!(
        other.realtime_parts(&id, &one).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        cam.realtime_parts("no-such-asset", &one).await.0,
        StatusCode::NOT_FOUND
    );
    let path = format!("/v2/devices/assets/{id}/realtime_upload/parts");
    assert_eq!(
        cam.post_anonymously(&path, &one).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A normal asset's URLs came with it.
    let (normal, _) = cam.create_normal("n.mp4", MIB, 1).await;
    let (status, answer) = cam.realtime_parts(&normal, &one).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("not created as a real-time")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_time_asset_is_named_by_its_extension_and_created_with_json() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-MAKE").await;
    // Created by extension alone, then named by its parts request.
    let (status, unnamed) = cam
        .create(&json!({"is_realtime_upload": true, "filetype": "video/mp4", "extension": ".mp4"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{unnamed}");
    let unnamed_id = unnamed["id"].as_str().unwrap();
    assert!(unnamed["name"].as_str().unwrap().ends_with(".mp4"));
    let body = json!({"parts": [{"number": 1, "size": 5 * MIB}], "asset_name": "A002.mp4"});
    assert_eq!(
        cam.realtime_parts(unnamed_id, &body).await.0,
        StatusCode::OK
    );
    assert_eq!(asset(&control, unnamed_id).await["name"], "A002.mp4");

    // Thousands of parts in one request fit its body limit (6000 of 5 MiB: within the 32 GiB
    // the demo server keeps; 7000 are not).
    let many: Vec<Value> = (1..=6_000)
        .map(|number| json!({"number": number, "size": 5 * MIB}))
        .collect();
    let (status, answer) = cam
        .realtime_parts(unnamed_id, &json!({"parts": many}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["upload_urls"].as_array().unwrap().len(), 6_000);
    let more: Vec<Value> = (1..=7_000)
        .map(|number| json!({"number": number, "size": 5 * MIB}))
        .collect();
    let (status, answer) = cam
        .realtime_parts(unnamed_id, &json!({"parts": more}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"].as_str().unwrap().contains("32 GiB"),
        "{answer}"
    );

    // A name with an extension, or an extension; they agree; no filesize.
    for (body, says) in [
        (
            json!({"is_realtime_upload": true, "filetype": "video/mp4", "name": "clip"}),
            "no extension",
        ),
        (
            json!({"is_realtime_upload": true, "filetype": "video/mp4", "name": "c.mov",
                   "extension": ".mp4"}),
            "disagree",
        ),
        (
            json!({"is_realtime_upload": true, "filetype": "video/mp4", "name": "c.mp4",
                   "filesize": 100}),
            "filesize is for normal uploads",
        ),
        (
            json!({"is_realtime_upload": true, "name": "c.mp4"}),
            "filetype",
        ),
    ] {
        let (status, answer) = cam.create(&body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    // JSON is mandatory for a real-time asset (a form creates normal assets only).
    let form = cam
        .http
        .post(cam.base.join("/v2/devices/assets").unwrap())
        .bearer_auth(&cam.token)
        .form(&[
            ("is_realtime_upload", "true"),
            ("filetype", "video/mp4"),
            ("name", "f.mp4"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let form = cam
        .http
        .post(cam.base.join("/v2/devices/assets").unwrap())
        .bearer_auth(&cam.token)
        .form(&[
            ("name", "f.mp4"),
            ("filetype", "video/mp4"),
            ("filesize", "10"),
            ("parts", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
}

/// Now, Unix seconds, as the server's clock reads it.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_created_during_a_pause_is_refused_whatever_the_wait_and_others_are_not() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-PAUSED").await;
    let normal = |offset: Value| {
        json!({"name": "n.mp4", "filetype": "video/mp4", "filesize": 10, "parts": 1,
               "offset": offset})
    };
    let live = |offset: Value| {
        json!({"is_realtime_upload": true, "filetype": "video/mp4", "name": "p.mp4",
               "offset": offset})
    };
    let (status, made_live) = cam.create(&live(json!(0))).await;
    assert_eq!(status, StatusCode::OK, "{made_live}");
    let live_id = made_live["id"].as_str().unwrap().to_owned();

    // Paused ten minutes ago for five: a file made in between is refused now, however long
    // after the pause it is sent, through either path, normal or real-time, offset as text.
    let now = unix_now();
    control
        .pause_window("CAM-PAUSED", now - 600.0, now - 300.0)
        .await;
    for (status, answer) in [
        cam.create(&normal(json!(400))).await,
        cam.create(&normal(json!("450"))).await,
        cam.post("/v2/assets", &normal(json!(500))).await,
        cam.create(&live(json!("350"))).await,
    ] {
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert_eq!(answer["message"], "Channel Paused");
        assert_eq!(answer["errors"][0]["title"], "Channel Paused");
        assert_eq!(
            answer["errors"][0]["detail"],
            "The channel you're uploading from is currently paused."
        );
    }
    // Made before the pause, after it, or just now (no offset): accepted.
    for offset in [json!(700), json!("100"), Value::Null] {
        let (status, answer) = cam.create(&normal(offset.clone())).await;
        assert_eq!(status, StatusCode::OK, "offset {offset}: {answer}");
    }
    let assets = control.assets().await;
    assert_eq!(assets.len(), 4, "the refused files made no asset");
    assert_eq!(assets[1]["offset"], 700);
    assert_eq!(assets[2]["offset"], 100, "an offset sent as text");
    assert_eq!(assets[3]["offset"], Value::Null);
    let made = assets[1]["recorded_at_unix"].as_f64().unwrap();
    assert!((made - (now - 700.0)).abs() < 30.0, "{made} vs {now}");

    // Paused now: media made since is refused, media made before is not; parts of an asset
    // already created and comments are not refused for a pause.
    control.pause("CAM-PAUSED").await;
    let (status, _) = cam.create(&normal(json!(0))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = cam.create(&normal(json!(200))).await;
    assert_eq!(status, StatusCode::OK, "made before this pause began");
    let (status, parts) = cam
        .realtime_parts(
            &live_id,
            &json!({"parts": [{"number": 1, "size": 5 * MIB}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{parts}");
    let (status, _) = cam.comment(&live_id, &json!({"text": "still here"})).await;
    assert_eq!(status, StatusCode::OK);
    let devices = control.devices().await;
    let device = &devices[0];
    assert_eq!(device["paused"], true);
    let pauses = device["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 2);
    assert!((pauses[0]["until"].as_f64().unwrap() - (now - 300.0)).abs() < 0.01);
    assert_eq!(pauses[1]["until"], Value::Null);
    let me = control.device_info(&cam.token).await.unwrap();
    assert_eq!(me["status"], "paused");

    control.resume("CAM-PAUSED").await;
    let (status, _) = cam.create(&normal(json!(0))).await;
    assert_eq!(status, StatusCode::OK, "made after the pause");
    let devices = control.devices().await;
    assert_eq!(devices[0]["paused"], false);
    assert!(devices[0]["pauses"][1]["until"].as_f64().is_some());
    // A window that ends before it begins is refused.
    let url = server
        .base_url()
        .join("/_control/devices/CAM-PAUSED/pause")
        .unwrap();
    let backwards = reqwest::Client::new()
        .post(url)
        .header(c2c_pair::demo::CONTROL_HEADER, "1")
        .json(&json!({"from": now, "until": now - 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(backwards.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_kept_with_their_asset_and_shown_escaped() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-NOTE").await;
    let other = paired(&server, "CAM-ELSE").await;
    let (id, _) = cam.create_normal("take.mp4", MIB, 1).await;

    let (status, made) = cam
        .comment(
            &id,
            &json!({"text": "focus <b>soft</b> & late", "timestamp": 48}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["text"], "focus <b>soft</b> & late");
    assert_eq!(made["timestamp"], 48);
    assert_eq!(made["asset_id"], id);
    assert!(made["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        made["inserted_at"].as_str().unwrap().ends_with('Z'),
        "{made}"
    );
    let (status, global) = cam.comment(&id, &json!({"text": "whole clip"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(global["timestamp"], Value::Null);

    for body in [
        json!({}),
        json!({"text": ""}),
        json!({"text": "t", "timestamp": -1}),
        json!({"text": "t", "timestamp": "12"}),
        json!({"text": "x".repeat(4001)}),
    ] {
        let (status, answer) = cam.comment(&id, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["message"].is_string());
    }
    assert_eq!(
        cam.comment(&id, &json!({"text": "x".repeat(4000)})).await.0,
        StatusCode::OK
    );
    let hello = json!({"text": "hello"});
    assert_eq!(other.comment(&id, &hello).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        cam.comment("no-such-asset", &hello).await.0,
        StatusCode::NOT_FOUND
    );
    let path = format!("/v2/devices/assets/{id}/comments");
    assert_eq!(
        cam.post_anonymously(&path, &hello).await.0,
        StatusCode::UNAUTHORIZED
    );

    let listed = asset(&control, &id).await;
    let comments = listed["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 3);
    assert_eq!(comments[0]["id"], made["id"]);
    assert_eq!(comments[0]["text"], "focus <b>soft</b> & late");
    assert_eq!(comments[0]["timestamp"], 48);
    assert_eq!(comments[1]["timestamp"], Value::Null);

    let page = reqwest::get(server.approval_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("[frame 48] focus &lt;b&gt;soft&lt;/b&gt; &amp; late"),
        "{page}"
    );
    assert!(!page.contains("<b>soft"), "escaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deprecated_path_creates_assets_and_an_older_server_has_only_it() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-OLD").await;
    let body = json!({"name": "old.mp4", "filetype": "video/mp4", "filesize": 1000, "parts": 1});
    let (status, legacy) = cam.post("/v2/assets", &body).await;
    assert_eq!(status, StatusCode::OK, "{legacy}");
    let id = legacy["id"].as_str().unwrap();
    let url = legacy["upload_urls"][0].as_str().unwrap();
    assert_eq!(
        cam.put(url, &[3; 1000]).await.unwrap().status(),
        StatusCode::OK
    );
    let kept = asset(&control, id).await;
    assert_eq!(kept["created_via"], "legacy");
    assert_eq!(kept["complete"], true);

    control.legacy_only(true).await;
    let (status, _) = cam.create(&body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an older server");
    assert_eq!(cam.post("/v2/assets", &body).await.0, StatusCode::OK);
    control.legacy_only(false).await;
    let (status, _) = cam.create(&body).await;
    assert_eq!(status, StatusCode::OK);
    // Without a token, either path is 401.
    assert_eq!(
        cam.post_anonymously("/v2/assets", &body).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// A demo server with `config` changes on the fast test timings, and its control API.
async fn server_with(
    change: impl FnOnce(&mut c2c_pair::demo::DemoConfig),
) -> (DemoServer, Control) {
    let mut config = common::fast_config();
    change(&mut config);
    let server = DemoServer::start(config).await.unwrap();
    let control = Control::new(server.base_url());
    (server, control)
}

/// `POST /v2/devices/heartbeat` as the device.
async fn heartbeat(cam: &common::media::Device) {
    let (status, answer) = cam.post("/v2/devices/heartbeat", &Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "heartbeat: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_heartbeats_keep_a_device_online_and_its_gaps_are_logged() {
    let (server, control) = server_with(|config| {
        config.offline_after = Duration::from_secs(1);
    })
    .await;
    let cam = paired(&server, "CAM-BEAT").await;
    let devices = control.devices().await;
    assert_eq!(devices[0]["online"], false, "no heartbeat yet: {devices}");
    assert_eq!(devices[0]["last_heartbeat_unix_ms"], Value::Null);
    assert_eq!(devices[0]["online_log"], json!([]));
    let me = control.device_info(&cam.token).await.unwrap();
    assert_eq!(me["status"], "offline", "other calls do not count");

    heartbeat(&cam).await;
    let devices = control.devices().await;
    let first = devices[0]["last_heartbeat_unix_ms"].as_u64().unwrap();
    assert_eq!(devices[0]["online"], true, "{devices}");
    assert_eq!(
        devices[0]["online_log"],
        json!([{"at_unix_ms": first, "online": true}])
    );
    assert_eq!(devices[0]["offline_gaps"], json!([]));
    assert_eq!(
        control.device_info(&cam.token).await.unwrap()["status"],
        "online"
    );

    // Busy with other calls (creating assets, sending parts), but no heartbeat: offline a
    // second after the last one.
    let (_, urls) = cam.create_normal("busy.mp4", 1000, 1).await;
    let mut offline = None;
    for _ in 0..500 {
        cam.put(&urls[0], &[1; 1000]).await.unwrap();
        let devices = control.devices().await;
        if devices[0]["online"] == false {
            offline = Some(devices);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let offline = offline.expect("offline a second after the last heartbeat");
    assert_eq!(
        offline[0]["offline_gaps"],
        json!([{"from_unix_ms": first + 1000, "until_unix_ms": null}])
    );
    assert_eq!(
        control.device_info(&cam.token).await.unwrap()["status"],
        "offline"
    );

    // The next heartbeat ends the gap.
    heartbeat(&cam).await;
    let devices = control.devices().await;
    let second = devices[0]["last_heartbeat_unix_ms"].as_u64().unwrap();
    assert_eq!(devices[0]["online"], true);
    assert_eq!(
        devices[0]["offline_gaps"],
        json!([{"from_unix_ms": first + 1000, "until_unix_ms": second}])
    );
    assert_eq!(devices[0]["online_log"].as_array().unwrap().len(), 3);
    // The status page (this machine's) shows it too.
    let page = reqwest::get(server.approval_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // "0 s ago", or 1 s on a busy machine.
    let seconds = page
        .split_once("CAM-BEAT (CAM-BEAT) — online · last heartbeat ")
        .and_then(|(_, rest)| rest.split_once(" s ago"))
        .and_then(|(seconds, _)| seconds.parse::<u64>().ok());
    assert!(seconds.is_some_and(|s| s <= 1), "{page}");
    control.pause("CAM-BEAT").await;
    let page = reqwest::get(server.approval_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(" · paused</li>"), "{page}");
}

/// PUTs a part with the headers its URL signs (`None` leaves one out).
async fn put_signed(
    cam: &common::media::Device,
    url: &str,
    content_type: Option<&str>,
    acl: Option<&str>,
    bytes: &[u8],
) -> reqwest::Response {
    let mut request = cam.http.put(url).body(bytes.to_vec());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(acl) = acl {
        request = request.header("x-amz-acl", acl);
    }
    request.send().await.unwrap()
}

/// The request log's `error` of the last request to `path`.
async fn last_error(control: &Control, path: &str) -> Option<String> {
    control
        .requests_to(path, None)
        .await
        .pop()
        .and_then(|request| request.error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_urls_are_presigned_and_a_changed_one_is_refused_before_its_body() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-SIGN").await;
    let content = patterned(6 * MIB, 12);
    let (id, urls) = cam.create_normal("signed.mp4", content.len(), 2).await;
    let url = url::Url::parse(&urls[0]).unwrap();
    assert!(urls[0].len() < 1024, "{}", urls[0]);
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
    assert_eq!(query["X-Amz-Expires"], "86400");
    assert_eq!(query["X-Amz-SignedHeaders"], "content-type;host;x-amz-acl");
    assert!(
        url.query()
            .unwrap()
            .contains("X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-acl")
    );
    let date = &query["X-Amz-Date"];
    assert!(
        date.len() == 16 && date.ends_with('Z') && date.as_bytes()[8] == b'T',
        "{date}"
    );
    let signature = &query["X-Amz-Signature"];
    assert!(signature.len() == 64 && signature.chars().all(|c| c.is_ascii_hexdigit()));

    // Strict header mode is on by default: a bare PUT is refused. Off, it is taken, and the
    // part shows that no signed header came with it.
    let refused = put_signed(&cam, &urls[0], None, None, &content[..5 * MIB]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    control.strict_headers(false).await;
    let bare = put_signed(&cam, &urls[0], None, None, &content[..5 * MIB]).await;
    assert_eq!(bare.status(), StatusCode::OK);
    let kept = asset(&control, &id).await;
    assert_eq!(kept["parts"][0]["content_type"], Value::Null);
    assert_eq!(kept["parts"][0]["acl"], Value::Null);

    // A changed signature, or none: 403 with S3's XML, before the body is read.
    let path = path_of(&urls[1]);
    let second = url::Url::parse(&urls[1]).unwrap();
    let its_signature = second
        .query_pairs()
        .find(|(name, _)| name == "X-Amz-Signature")
        .unwrap()
        .1
        .into_owned();
    let flipped = if its_signature.ends_with('0') {
        '1'
    } else {
        '0'
    };
    let tampered = urls[1].replace(
        &its_signature,
        &format!("{}{flipped}", &its_signature[..63]),
    );
    assert_ne!(tampered, urls[1]);
    let unsigned = server.base_url().join(&path).unwrap().to_string();
    for (bad, why) in [
        (tampered.as_str(), "signature does not match"),
        (unsigned.as_str(), "missing X-Amz-Algorithm in the query"),
    ] {
        let answer = cam.put(bad, &content[5 * MIB..]).await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{bad}");
        assert_eq!(answer.headers()["content-type"], "application/xml");
        let body = answer.text().await.unwrap();
        assert!(body.contains("<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message></Error>"), "{body}");
        assert_eq!(last_error(&control, &path).await.as_deref(), Some(why));
    }
    assert_eq!(
        asset(&control, &id).await["parts"][1]["received_count"],
        0,
        "nothing kept from refused PUTs"
    );

    // Switched on and off again: bare PUTs are taken.
    control.strict_headers(true).await;
    control.strict_headers(false).await;
    assert_eq!(
        put_signed(&cam, &urls[1], None, None, &content[5 * MIB..])
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_wants_the_headers_a_part_url_signs_on_every_part() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-STRICT").await;
    let content = patterned(6 * MIB, 14);
    let (id, urls) = cam.create_normal("strict.mp4", content.len(), 2).await;
    let path = path_of(&urls[1]);
    control.strict_headers(true).await;
    let first = put_signed(
        &cam,
        &urls[0],
        Some("video/mp4"),
        Some("private"),
        &content[..5 * MIB],
    )
    .await;
    assert_eq!(first.status(), StatusCode::OK);
    for (content_type, acl, why) in [
        (Some("video/mp4"), None, "missing header x-amz-acl"),
        (
            Some("video/mp4"),
            Some("public-read"),
            "x-amz-acl is \"public-read\"",
        ),
        (None, Some("private"), "missing header content-type"),
        (
            Some("video/quicktime"),
            Some("private"),
            "content-type is \"video/quicktime\"",
        ),
    ] {
        let answer = put_signed(&cam, &urls[1], content_type, acl, &content[5 * MIB..]).await;
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{why}");
        assert!(
            answer
                .text()
                .await
                .unwrap()
                .contains("SignatureDoesNotMatch")
        );
        let logged = last_error(&control, &path).await.unwrap();
        assert!(logged.starts_with(why), "{logged}");
    }
    assert_eq!(
        asset(&control, &id).await["parts"][1]["received_count"],
        0,
        "refused before the body was kept"
    );
    let signed = put_signed(
        &cam,
        &urls[1],
        Some("video/mp4"),
        Some("private"),
        &content[5 * MIB..],
    )
    .await;
    assert_eq!(signed.status(), StatusCode::OK);
    let whole = asset(&control, &id).await;
    assert_eq!(whole["complete"], true, "{whole}");
    for part in whole["parts"].as_array().unwrap() {
        assert_eq!(part["content_type"], "video/mp4", "{part}");
        assert_eq!(part["acl"], "private", "{part}");
    }

    // Real-time parts' URLs are presigned too.
    let (_, live) = cam
        .create(&json!({"is_realtime_upload": true, "filetype": "audio/wav", "name": "l.wav"}))
        .await;
    let live_id = live["id"].as_str().unwrap();
    let body =
        json!({"parts": [{"number": 1, "size": 10, "is_final": true}], "asset_filesize": 10});
    let (_, parts) = cam.realtime_parts(live_id, &body).await;
    let live_url = parts["upload_urls"][0].as_str().unwrap();
    assert!(live_url.contains("X-Amz-Signature="), "{live_url}");
    let wrong = put_signed(&cam, live_url, Some("video/mp4"), Some("private"), &[1; 10]).await;
    assert_eq!(
        wrong.status(),
        StatusCode::FORBIDDEN,
        "the asset's own filetype is signed"
    );
    let right = put_signed(&cam, live_url, Some("audio/wav"), Some("private"), &[1; 10]).await;
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_part_url_is_refused_as_s3_refuses_it() {
    // URLs that live no time at all: expired as soon as they are handed out.
    let (server, control) = server_with(|config| config.upload_url_lifetime = Duration::ZERO).await;
    let cam = paired(&server, "CAM-LATE").await;
    let (id, urls) = cam.create_normal("late.mp4", 1000, 1).await;
    assert!(urls[0].contains("X-Amz-Expires=0"), "{}", urls[0]);
    let answer = put_signed(
        &cam,
        &urls[0],
        Some("video/mp4"),
        Some("private"),
        &[1; 1000],
    )
    .await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let body = answer.text().await.unwrap();
    assert!(
        body.contains("<Code>AccessDenied</Code><Message>Request has expired</Message>"),
        "{body}"
    );
    assert_eq!(
        last_error(&control, &path_of(&urls[0])).await.as_deref(),
        Some("request has expired")
    );
    assert_eq!(asset(&control, &id).await["parts"][0]["received_count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_may_hand_out_fewer_or_more_upload_urls_than_asked() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-URLS").await;
    let faults = control.upload_fault(json!({"upload_urls_delta": -1})).await;
    assert_eq!(faults["upload_urls_delta"], -1);
    // Three parts asked for, two given: the file goes in two, by S3's rules.
    let content = patterned(12 * MIB, 13);
    let (fewer, urls) = cam.create_normal("fewer.mp4", content.len(), 3).await;
    assert_eq!(urls.len(), 2);
    cam.put(&urls[0], &content[..6 * MIB]).await.unwrap();
    cam.put(&urls[1], &content[6 * MIB..]).await.unwrap();
    let done = asset(&control, &fewer).await;
    assert_eq!(done["complete"], true, "{done}");
    assert_eq!(done["sha256"], sha256_hex(&content));
    // One asked for, never fewer than one.
    assert_eq!(cam.create_normal("one.mp4", 1000, 1).await.1.len(), 1);

    // Two more: every part but the last still needs 5 MiB.
    control.upload_fault(json!({"upload_urls_delta": 2})).await;
    let (more, urls) = cam.create_normal("more.mp4", content.len(), 1).await;
    assert_eq!(urls.len(), 3);
    let small = cam.put(&urls[0], &content[..MIB]).await.unwrap();
    assert_eq!(small.status(), StatusCode::BAD_REQUEST);
    for (url, part) in urls.iter().zip(content.chunks(5 * MIB)) {
        assert_eq!(cam.put(url, part).await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(asset(&control, &more).await["sha256"], sha256_hex(&content));

    control.clear_upload_faults().await;
    assert_eq!(
        cam.create_normal("asked.mp4", content.len(), 3)
            .await
            .1
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_leaves_the_work_done_and_the_client_without_a_word() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-LOST").await;
    let lose = c2c_pair::demo::fault::Fault::LoseAnswer;
    control.inject("/v2/devices/assets", &lose, 1).await;
    let body = json!({"name": "lost.mp4", "filetype": "video/mp4", "filesize": 10, "parts": 1,
                      "offset": 0});
    let error = cam
        .http
        .post(cam.base.join("/v2/devices/assets").unwrap())
        .bearer_auth(&cam.token)
        .json(&body)
        .send()
        .await
        .expect_err("the connection is cut without an answer");
    assert_eq!(error.status(), None, "{error}");
    let assets = control.assets().await;
    assert_eq!(assets.len(), 1, "the asset was made");
    assert_eq!(assets[0]["name"], "lost.mp4");
    let logged = control.requests_to("/v2/devices/assets", None).await;
    assert_eq!(logged[0].fault.as_deref(), Some("answer lost"));
    assert_eq!(logged[0].status, 200, "the real handler answered");

    // A comment likewise; the next request to the path is answered.
    let id = assets[0]["id"].as_str().unwrap();
    let path = format!("/v2/devices/assets/{id}/comments");
    control.inject(&path, &lose, 1).await;
    let error = cam
        .http
        .post(cam.base.join(&path).unwrap())
        .bearer_auth(&cam.token)
        .json(&json!({"text": "sent once"}))
        .send()
        .await
        .expect_err("no answer");
    assert_eq!(error.status(), None);
    assert_eq!(
        asset(&control, id).await["comments"][0]["text"],
        "sent once"
    );
    let (status, _) = cam.comment(id, &json!({"text": "again"})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_every_request_but_control_calls() {
    let (server, control) = server().await;
    let cam = paired(&server, "CAM-SLOW-NET").await;
    let (_, urls) = cam.create_normal("far.mp4", 1000, 1).await;
    let latency = Duration::from_millis(1500);
    control.latency(1500).await;
    assert_eq!(control.stats().await["latency_ms"], 1500);

    let started = Instant::now();
    let answer = reqwest::get(server.base_url().join("/health").unwrap())
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    let started = Instant::now();
    assert_eq!(
        cam.put(&urls[0], &[1; 1000]).await.unwrap().status(),
        StatusCode::OK
    );
    assert!(
        started.elapsed() >= latency,
        "a part too: {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    reqwest::get(server.approval_url()).await.unwrap();
    assert!(started.elapsed() >= latency, "the page too");
    let started = Instant::now();
    control.stats().await;
    assert!(started.elapsed() < latency, "control calls are not delayed");

    control.latency(0).await;
    assert_eq!(control.stats().await["latency_ms"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_refuses_connections_cuts_open_ones_and_ends() {
    let (server, control) = server().await;
    let addr = {
        let base = server.base_url();
        format!("{}:{}", base.host_str().unwrap(), base.port().unwrap())
    };
    // A keep-alive connection, answered once before the outage.
    let mut open = TcpStream::connect(&addr).await.unwrap();
    let ask = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    open.write_all(ask.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !String::from_utf8_lossy(&got).contains(r#"{"status":"ok"}"#) {
        let read = tokio::time::timeout(Duration::from_secs(30), open.read(&mut buffer))
            .await
            .expect("an answer")
            .unwrap();
        assert!(read > 0, "the connection stays open after its answer");
        got.extend_from_slice(&buffer[..read]);
    }

    let started = Instant::now();
    control.outage(2).await;
    let refused = TcpStream::connect(&addr)
        .await
        .expect_err("nothing listens");
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{refused}"
    );
    let (after, _) = read_to_close(&mut open).await;
    assert!(
        after.is_empty(),
        "cut without a word: {}",
        String::from_utf8_lossy(&after)
    );

    // Then it listens again on the same address.
    let mut back = None;
    for _ in 0..400 {
        if let Ok(stream) = TcpStream::connect(&addr).await {
            back = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    back.expect("listening again after the outage");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let health = reqwest::get(server.base_url().join("/health").unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        control.stats().await["latency_ms"],
        0,
        "the control API answers again"
    );

    // Outages are bounded.
    let url = server.base_url().join("/_control/outage").unwrap();
    for seconds in [0.0, 3601.0, -1.0] {
        let answer = reqwest::Client::new()
            .post(url.clone())
            .header(c2c_pair::demo::CONTROL_HEADER, "1")
            .json(&json!({ "seconds": seconds }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{seconds}");
    }
}
