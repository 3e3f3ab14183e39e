//! Pairing end to end through the library: the embedded server on loopback, the real HTTP
//! client, the real poller, and the real OS keychain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use c2c_pair::c2c::StopReason;
use c2c_pair::c2c::profile::BodyEncoding;
use c2c_pair::demo::{DemoConfig, DemoServer};
use c2c_pair::device::{self, Context, DeviceId, FailureKind, PairError, PairEvent, PairOutcome};
use c2c_pair::keychain::{TokenSet, token_account};
use common::{Control, FAST_INTERVAL, TestKeychain};
use secrecy::ExposeSecret as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A pairing running in the background, with its events.
struct Run {
    events: mpsc::UnboundedReceiver<PairEvent>,
    result: tokio::task::JoinHandle<Result<PairOutcome, PairError>>,
    cancel: CancellationToken,
}

fn start(ctx: Context, device: &str) -> Run {
    let (tx, events) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let device_id = DeviceId::parse(device).unwrap();
    let token = cancel.clone();
    let result = tokio::spawn(async move {
        device::pair(&ctx, &device_id, None, None, &token, |event| {
            let _ = tx.send(event);
        })
        .await
    });
    Run {
        events,
        result,
        cancel,
    }
}

impl Run {
    /// Waits for the code to be shown and returns it.
    async fn code(&mut self) -> String {
        while let Some(event) = self.events.recv().await {
            if let PairEvent::CodeIssued(code) = event {
                return code.user_code;
            }
        }
        panic!(
            "pairing ended before a code was shown: {:?}",
            self.finish_now().await
        );
    }

    async fn finish_now(&mut self) -> Result<PairOutcome, PairError> {
        (&mut self.result).await.unwrap()
    }
}

/// Pairs a device on a running demo server, with the right secret and the test keychain.
fn start_on(server: &DemoServer, kc: &TestKeychain, device: &str) -> Run {
    start(
        kc.context(common::backend_for(server, common::demo_secret())),
        device,
    )
}

async fn fast_server() -> (DemoServer, Control) {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    (server, control)
}

fn assert_gaps_at_least(times: &[f64], first_after: f64, interval: f64) {
    assert!(!times.is_empty(), "no token requests");
    assert!(
        times[0] - first_after >= interval,
        "first poll {:.3}s after the code",
        times[0] - first_after
    );
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= interval,
            "polls {:.3}s apart, interval {interval}",
            pair[1] - pair[0]
        );
    }
}

async fn pair_and_check(kc: &TestKeychain, body: BodyEncoding, device: &str) {
    let (server, control) = fast_server().await;
    let mut profile = common::profile_for(server.base_url());
    profile.body = body;
    let backend = common::backend_with_profile(profile.clone(), common::demo_secret());
    let account = kc.track(&token_account(device, &profile.keychain_host()));
    let mut run = start(kc.context(backend), device);
    let code = run.code().await;
    assert_eq!(code.len(), 6, "a six-character user code: {code}");
    control.approve_into(&code, "Booth Reel", "A-Cam").await;
    let paired = match run.finish_now().await.unwrap() {
        PairOutcome::Paired(paired) => paired,
        other @ PairOutcome::Cancelled => panic!("expected Paired, got {other:?}"),
    };
    assert_eq!(paired.keychain_account, account, "the keychain account");
    assert_eq!(
        paired.project.as_deref(),
        Some("Booth Reel"),
        "the connected project"
    );
    assert_eq!(
        paired.remote_name.as_deref(),
        Some("A-Cam"),
        "the name at the server"
    );

    // Every call the app made carried the client version.
    let requests = control.requests().await;
    assert!(
        requests.len() >= 3,
        "a code request, a token request and the project lookup: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.client_version.as_deref() == Some(env!("CARGO_PKG_VERSION"))),
        "every call carries x-client-version {}: {requests:?}",
        env!("CARGO_PKG_VERSION")
    );

    // The token set is in the OS keychain, readable back, and works against the server.
    let stored = TokenSet::from_secret(&kc.read(&account).expect("stored")).unwrap();
    assert!(stored.refresh_token.is_some(), "a refresh token is stored");
    let info = control
        .device_info(stored.access_token.expose_secret())
        .await
        .expect("token works");
    assert_eq!(
        info["project"]["name"], "Booth Reel",
        "the stored token sees the project: {info}"
    );

    // Polling never beat the interval.
    let times = control.token_request_times(device).await;
    let code_at = control.code_request_time(device).await;
    assert_gaps_at_least(&times, code_at, FAST_INTERVAL.as_secs_f64());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_end_to_end_into_the_os_keychain_with_urlencoded_bodies() {
    let kc = common::test_keychain();
    pair_and_check(&kc, BodyEncoding::Urlencoded, "CAM-URLENC-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_end_to_end_with_multipart_bodies() {
    let kc = common::test_keychain();
    pair_and_check(&kc, BodyEncoding::Multipart, "CAM-MULTI-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_raises_the_interval_by_five_seconds_for_later_polls() {
    let kc = common::test_keychain();
    let (server, control) = fast_server().await;
    let backend = common::backend_for(&server, common::demo_secret());
    kc.track(&token_account(
        "CAM-SLOW",
        &backend.client.profile().keychain_host(),
    ));
    let mut run = start(kc.context(backend), "CAM-SLOW");
    let code = run.code().await;
    control.slow_down(1).await;
    // Wait for the slowed-down poll to be answered, then approve.
    while let Some(event) = run.events.recv().await {
        if let PairEvent::Polled {
            status: c2c_pair::c2c::PollStatus::SlowDown { interval },
            ..
        } = event
        {
            assert_eq!(interval, FAST_INTERVAL + Duration::from_secs(5));
            break;
        }
    }
    control.approve(&code).await;
    assert!(matches!(run.finish_now().await, Ok(PairOutcome::Paired(_))));
    let times = control.token_request_times("CAM-SLOW").await;
    assert_eq!(
        times.len(),
        2,
        "one slowed-down poll, then the approved one: {times:?}"
    );
    assert!(
        times[1] - times[0] >= 5.2,
        "gap after slow_down {:.3}s",
        times[1] - times[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denial_and_server_side_expiry_stop_with_clear_reasons() {
    let kc = common::test_keychain();
    let (server, control) = fast_server().await;

    let mut run = start_on(&server, &kc, "CAM-DENY");
    control.deny(&run.code().await).await;
    let error = run.finish_now().await.unwrap_err();
    assert!(
        matches!(error, PairError::Stopped(StopReason::Denied { .. })),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Refused);
    assert!(error.to_string().contains("declined"), "{error}");

    let mut run = start_on(&server, &kc, "CAM-EXP");
    control.expire(&run.code().await).await;
    let error = run.finish_now().await.unwrap_err();
    assert!(
        matches!(
            error,
            PairError::Stopped(StopReason::Expired { by_server: true })
        ),
        "{error:?}"
    );
    assert_eq!(error.kind().exit_code(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_deadline_ends_polling_when_the_server_says_nothing() {
    let kc = common::test_keychain();
    let config = DemoConfig {
        expires_in: Duration::from_millis(700),
        ..common::fast_config()
    };
    let server = DemoServer::start(config).await.unwrap();
    let control = Control::new(server.base_url());
    let mut run = start_on(&server, &kc, "CAM-LATE");
    run.code().await;
    let error = run.finish_now().await.unwrap_err();
    assert!(
        matches!(error, PairError::Stopped(StopReason::Expired { .. })),
        "{error:?}"
    );
    // No poll after the code died (the server would have said expired_token).
    let requests = control.requests().await;
    assert!(
        requests
            .iter()
            .all(|r| r.error.as_deref() != Some("expired_token")),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_polling_at_once() {
    let kc = common::test_keychain();
    let (server, control) = fast_server().await;
    let mut run = start_on(&server, &kc, "CAM-CANCEL");
    run.code().await;
    // Let one poll happen, then cancel while waiting for the next.
    while let Some(event) = run.events.recv().await {
        if matches!(event, PairEvent::Polled { .. }) {
            break;
        }
    }
    run.cancel.cancel();
    assert!(matches!(run.finish_now().await, Ok(PairOutcome::Cancelled)));
    let polls = control.token_request_times("CAM-CANCEL").await.len();
    // A witness device polls twice more on the same server: time enough for the cancelled
    // one to have polled again, had it not stopped.
    let mut witness = start_on(&server, &kc, "CAM-WITNESS");
    witness.code().await;
    let mut witness_polls = 0;
    while witness_polls < 2 {
        if let Some(PairEvent::Polled { .. }) = witness.events.recv().await {
            witness_polls += 1;
        }
    }
    witness.cancel.cancel();
    assert_eq!(control.token_request_times("CAM-CANCEL").await.len(), polls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_is_refused_before_any_code() {
    let kc = common::test_keychain();
    let (server, _control) = fast_server().await;
    let mut run = start(
        kc.context(common::backend_for(&server, "not-the-secret")),
        "CAM-SECRET",
    );
    let error = run.finish_now().await.unwrap_err();
    assert_eq!(error.kind(), FailureKind::Refused);
    assert!(error.to_string().contains("invalid_client"), "{error}");
    assert!(error.to_string().contains("client secret"), "{error}");
    assert!(
        !error.to_string().contains("not-the-secret"),
        "secret leaked: {error}"
    );
}
