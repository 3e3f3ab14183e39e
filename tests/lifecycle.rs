//! Keeping pairings alive, against the embedded server with the real keychain: refresh with
//! rotation, 401 handling, re-pairing without retry loops, unpair, and ten devices at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use c2c_pair::c2c::{ClientError, OAuthErrorCode};
use c2c_pair::demo::DemoServer;
use c2c_pair::device::{self, Context, DeviceId, LifecycleError, PairEvent, PairOutcome};
use c2c_pair::keychain::{Keychain, TokenSet};
use c2c_pair::registry::{DeviceRecord, DeviceState};
use common::{Control, TestKeychain};
use secrecy::ExposeSecret as _;
use tokio_util::sync::CancellationToken;

const REFRESH_GRANT: &str = "refresh_token";

/// Pairs `device` on `server` (approving through the control API) and returns its record.
async fn pair(ctx: &Context, control: &Control, device: &str) -> DeviceRecord {
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let id = DeviceId::parse(device).unwrap();
    let run = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let cancel = CancellationToken::new();
            device::pair(&ctx, &id, Some("Cam"), None, &cancel, |e| {
                let _ = tx.send(e);
            })
            .await
        })
    };
    while let Some(event) = events.recv().await {
        if let PairEvent::CodeIssued(code) = event {
            control.approve(&code.user_code).await;
            break;
        }
    }
    let outcome = run.await.unwrap();
    assert!(
        matches!(outcome, Ok(PairOutcome::Paired(_))),
        "expected Paired, got {outcome:?}"
    );
    recorded(ctx, device)
}

fn recorded(ctx: &Context, device: &str) -> DeviceRecord {
    let devices = ctx.registry.load().unwrap().devices;
    devices
        .into_iter()
        .find(|d| d.device_id == device)
        .expect("recorded")
}

async fn setup(kc: &TestKeychain) -> (DemoServer, Control, Context) {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let ctx = kc.context(common::backend_for(&server, common::demo_secret()));
    (server, control, ctx)
}

async fn refreshes(control: &Control, device: &str) -> usize {
    control
        .requests_to("/v2/auth/token", Some(device))
        .await
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some(REFRESH_GRANT))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_the_spent_refresh_token_is_refused() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let record = pair(&ctx, &control, "CAM-ROTATE").await;
    kc.track(&record.account());
    let before = kc
        .keychain
        .load_tokens(&record.account())
        .await
        .unwrap()
        .unwrap();

    let renewed = device::refresh(&ctx, &record).await.unwrap();
    let stored = kc
        .keychain
        .load_tokens(&record.account())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, renewed, "the keychain holds the new set");
    let old_refresh = before.refresh_token.unwrap();
    assert_ne!(
        stored.refresh_token.unwrap().expose_secret(),
        old_refresh.expose_secret()
    );

    let credentials = ctx.backend.credentials("CAM-ROTATE");
    let reused = ctx
        .backend
        .client
        .refresh(&credentials, &old_refresh)
        .await
        .unwrap_err();
    assert!(
        matches!(
            reused,
            ClientError::OAuth {
                error: OAuthErrorCode::InvalidRequest,
                ..
            }
        ),
        "{reused:?}"
    );
    let updated = recorded(&ctx, "CAM-ROTATE");
    assert_eq!(updated.access_expires_at, renewed.access_expires_at);
    assert_eq!(
        updated.project_name.as_deref(),
        Some("Demo Project"),
        "project read after refresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_keychain_write_keeps_the_old_set_and_reports_it() {
    let kc = common::test_keychain();
    let store = Arc::new(kc.refusing_writes());
    let (_server, control, ctx) = setup(&kc).await;
    let ctx = Context {
        keychain: Keychain::new(store.clone(), c2c_pair::keychain::DEFAULT_TIMEOUT),
        ..ctx
    };
    let record = pair(&ctx, &control, "CAM-LOCKED").await;
    kc.track(&record.account());
    let old = kc
        .keychain
        .load_tokens(&record.account())
        .await
        .unwrap()
        .unwrap();

    store.refuse.store(true, Ordering::SeqCst);
    let error = device::refresh(&ctx, &record).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("still holds the previous set"),
        "{message}"
    );
    assert_eq!(error.kind().exit_code(), 6);
    let LifecycleError::SaveFailed { unsaved, .. } = error else {
        panic!("expected SaveFailed, got {message}");
    };
    let still = kc
        .keychain
        .load_tokens(&record.account())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still, old, "the old set is kept");
    assert_ne!(unsaved.tokens, old, "the new set is held in memory");

    store.refuse.store(false, Ordering::SeqCst);
    unsaved.save(&ctx.keychain).await.unwrap();
    let saved = kc
        .keychain
        .load_tokens(&record.account())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved, unsaved.tokens, "a retry saves the new set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_from_device_info_refreshes_once_and_the_retry_succeeds() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let record = pair(&ctx, &control, "CAM-401").await;
    kc.track(&record.account());
    control.expire_access("CAM-401").await;

    let project = device::connected_project(&ctx, &record).await.unwrap();
    assert_eq!(project.as_deref(), Some("Demo Project"));
    assert_eq!(refreshes(&control, "CAM-401").await, 1);
    let answers: Vec<u16> = control
        .requests_to("/v2/devices/me", Some("CAM-401"))
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    // Pairing's lookup, then after the refresh, the retried call and the post-refresh lookup.
    assert!(
        answers.iter().filter(|s| **s == 200).count() >= 2,
        "{answers:?}"
    );
    let all: Vec<u16> = control
        .requests_to("/v2/devices/me", None)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert!(
        all.contains(&401),
        "the expired token was refused first: {all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_with_an_oauth_body_refreshes_once_like_any_other_401() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let record = pair(&ctx, &control, "CAM-OAUTH-401").await;
    kc.track(&record.account());
    // A gateway that words its refusal as OAuth does: `{"error": "invalid_token"}`, 401.
    let refused = c2c_pair::demo::fault::Fault::OAuth {
        error: "invalid_token".into(),
        status: Some(401),
    };
    control.inject("/v2/devices/heartbeat", &refused, 1).await;
    device::heartbeat(&ctx, &record).await.unwrap();
    assert_eq!(refreshes(&control, "CAM-OAUTH-401").await, 1);
    let beats: Vec<u16> = control
        .requests_to("/v2/devices/heartbeat", None)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(beats, [401, 204], "refused, refreshed, sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devices_own_firmware_version_goes_on_each_of_its_calls() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let id = DeviceId::parse("CAM-FW").unwrap();
    let cancel = CancellationToken::new();
    let pairing = {
        let (ctx, id, cancel) = (ctx.clone(), id.clone(), cancel.clone());
        tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let run = tokio::spawn(async move {
                device::pair(&ctx, &id, None, Some("2.16.4"), &cancel, |e| {
                    let _ = tx.send(e);
                })
                .await
            });
            while let Some(event) = rx.recv().await {
                if let PairEvent::CodeIssued(code) = event {
                    return (run, code.user_code);
                }
            }
            panic!("no code");
        })
    };
    let (run, code) = pairing.await.unwrap();
    control.approve(&code).await;
    assert!(matches!(run.await.unwrap(), Ok(PairOutcome::Paired(_))));
    let record = recorded(&ctx, "CAM-FW");
    kc.track(&record.account());
    assert_eq!(record.client_version.as_deref(), Some("2.16.4"));
    control.expire_access("CAM-FW").await;
    device::heartbeat(&ctx, &record).await.unwrap();
    let other = pair(&ctx, &control, "CAM-DEFAULT").await;
    kc.track(&other.account());
    let log = control.requests().await;
    let versions = |device: &str| -> Vec<String> {
        log.iter()
            .filter(|r| r.client_id.as_deref() == Some(device))
            .map(|r| r.client_version.clone().unwrap_or_default())
            .collect()
    };
    let own = versions("CAM-FW");
    // Code, polls, device info, the refresh, the heartbeat: every one.
    assert!(own.len() >= 4, "{own:?}");
    assert!(
        own.iter().all(|v| v == "2.16.4"),
        "{own:?} {:?}",
        log.iter()
            .map(|r| (
                r.path.clone(),
                r.client_id.clone(),
                r.client_version.clone()
            ))
            .collect::<Vec<_>>()
    );
    let default = versions("CAM-DEFAULT");
    assert!(
        !default.is_empty() && default.iter().all(|v| v == env!("CARGO_PKG_VERSION")),
        "another device keeps the setting's: {default:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_means_re_pairing_without_a_retry_loop() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let record = pair(&ctx, &control, "CAM-GONE").await;
    kc.track(&record.account());
    control.revoke_device("CAM-GONE").await;

    let error = device::heartbeat(&ctx, &record).await.unwrap_err();
    assert!(
        matches!(error, LifecycleError::NeedsRepairing { .. }),
        "{error:?}"
    );
    assert_eq!(error.kind().exit_code(), 3);
    let marked = recorded(&ctx, "CAM-GONE");
    assert!(
        matches!(marked.state, DeviceState::NeedsRepairing { .. }),
        "{marked:?}"
    );

    // Routine calls do not reach the server again: one refresh in all.
    for _ in 0..3 {
        assert!(device::heartbeat(&ctx, &marked).await.is_err());
        assert!(device::fresh_tokens(&ctx, &marked).await.is_err());
    }
    assert_eq!(refreshes(&control, "CAM-GONE").await, 1);
    // A refresh the user asks for tries once more (the mark may come from a mistake since
    // fixed); refused again, the device stays marked.
    let again = device::refresh(&ctx, &marked).await.unwrap_err();
    assert!(
        matches!(again, LifecycleError::NeedsRepairing { .. }),
        "{again:?}"
    );
    assert_eq!(refreshes(&control, "CAM-GONE").await, 2);
    assert!(matches!(
        recorded(&ctx, "CAM-GONE").state,
        DeviceState::NeedsRepairing { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpair_revokes_at_the_server_then_forgets_the_device() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let record = pair(&ctx, &control, "CAM-BYE").await;
    let account = kc.track(&record.account());
    let tokens = kc.keychain.load_tokens(&account).await.unwrap().unwrap();

    let done = device::unpair(&ctx, &record).await.unwrap();
    assert!(done.revoked);
    let revokes = control
        .requests_to("/v2/auth/revoke", Some("CAM-BYE"))
        .await;
    assert!(
        !revokes.is_empty() && revokes.iter().all(|r| r.status == 200),
        "{revokes:?}"
    );
    assert!(kc.read(&account).is_none(), "keychain entry deleted");
    assert!(
        ctx.registry.load().unwrap().devices.is_empty(),
        "registry entry deleted"
    );
    assert!(
        control
            .device_info(tokens.access_token.expose_secret())
            .await
            .is_none(),
        "token dead"
    );
    // RFC 7009: revoking a token that is already dead still answers 200.
    let credentials = ctx.backend.credentials("CAM-BYE");
    ctx.backend
        .client
        .revoke(&credentials, &tokens.access_token)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpair_answered_with_503_keeps_everything_and_is_pending() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let record = pair(&ctx, &control, "CAM-LATER").await;
    let account = kc.track(&record.account());
    control.fault("/v2/auth/revoke", 503, 1).await;

    let error = device::unpair(&ctx, &record).await.unwrap_err();
    assert!(
        matches!(error, LifecycleError::UnpairPending { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("kept"), "{error}");
    assert!(kc.read(&account).is_some(), "credentials kept");
    let pending = recorded(&ctx, "CAM-LATER");
    assert!(matches!(pending.state, DeviceState::UnpairPending { .. }));

    // The retry goes through once the server is back.
    assert!(device::unpair(&ctx, &pending).await.unwrap().revoked);
    assert!(kc.read(&account).is_none());
    assert!(ctx.registry.load().unwrap().devices.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_near_expiry_is_refreshed_before_it_is_used() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let record = pair(&ctx, &control, "CAM-OLD").await;
    kc.track(&record.account());
    // Seven and a half of its eight hours have passed: less than 10 % is left.
    let tokens = kc
        .keychain
        .load_tokens(&record.account())
        .await
        .unwrap()
        .unwrap();
    let aged = TokenSet {
        issued_at: tokens.issued_at - 27_000,
        access_expires_at: tokens.access_expires_at.map(|at| at - 27_000),
        ..tokens
    };
    kc.keychain
        .save_tokens(&record.account(), &aged)
        .await
        .unwrap();

    device::heartbeat(&ctx, &record).await.unwrap();
    assert_eq!(refreshes(&control, "CAM-OLD").await, 1, "refreshed first");
    let heartbeats = control
        .requests_to("/v2/devices/heartbeat", Some("CAM-OLD"))
        .await;
    assert_eq!(
        heartbeats.iter().map(|r| r.status).collect::<Vec<_>>(),
        [204]
    );
    assert!(recorded(&ctx, "CAM-OLD").last_heartbeat.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_devices_pair_concurrently_each_with_its_own_tokens() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let runs: Vec<_> = (0..10)
        .map(|i| {
            let (ctx, control) = (ctx.clone(), control.clone());
            tokio::spawn(async move { pair(&ctx, &control, &format!("RIG-{i:02}")).await })
        })
        .collect();
    let mut access_tokens = std::collections::HashSet::new();
    for run in runs {
        let record = run.await.unwrap();
        let account = kc.track(&record.account());
        assert_eq!(record.state, DeviceState::Paired);
        let tokens = kc
            .keychain
            .load_tokens(&account)
            .await
            .unwrap()
            .expect("own tokens");
        assert!(access_tokens.insert(tokens.access_token.expose_secret().to_owned()));
    }
    assert_eq!(ctx.registry.load().unwrap().devices.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_lost_from_the_list_is_restored_from_the_keychain_and_still_refreshes() {
    let kc = common::test_keychain();
    let (_server, control, ctx) = setup(&kc).await;
    let record = pair(&ctx, &control, "CAM-LOST").await;
    kc.track(&record.account());
    assert!(
        ctx.registry
            .remove("CAM-LOST", &record.keychain_host)
            .unwrap()
    );
    let id = DeviceId::parse("CAM-LOST").unwrap();

    let restored = device::restore(
        &ctx.registry,
        &ctx.keychain,
        &id,
        &record.api_base,
        &record.keychain_host,
    )
    .await
    .unwrap();
    assert_eq!(restored.state, DeviceState::Paired);
    assert_eq!(restored.access_expires_at, record.access_expires_at);
    assert_eq!(recorded(&ctx, "CAM-LOST").api_base, record.api_base);
    device::refresh(&ctx, &restored).await.unwrap();
    assert_eq!(refreshes(&control, "CAM-LOST").await, 1);

    // Nothing in the keychain: not paired, and nothing recorded.
    let stranger = DeviceId::parse("CAM-NEVER").unwrap();
    let refused = device::restore(
        &ctx.registry,
        &ctx.keychain,
        &stranger,
        &record.api_base,
        &record.keychain_host,
    )
    .await;
    assert!(
        matches!(refused, Err(LifecycleError::NotPaired { .. })),
        "{refused:?}"
    );
    let devices = ctx.registry.load().unwrap().devices;
    assert!(devices.iter().all(|d| d.device_id != "CAM-NEVER"));
}
