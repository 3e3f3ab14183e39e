//! No issued token is dropped and none spent twice: a library session whose keychain refuses
//! the refreshed credentials holds them (and marks the device), and a second process — the
//! real `c2c-pair` binary — neither refreshes nor prints a token meanwhile, and says why.
//! When the holder lets go unsaved, the second process says the pairing is lost, still
//! without spending the old refresh token. Runs without a Secret Service: the holder uses an
//! in-memory store, and the second process stops before its keychain is touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use c2c_pair::demo::DemoServer;
use c2c_pair::device::{self, Context, LifecycleError, PairOutcome};
use c2c_pair::keychain::Keychain;
use c2c_pair::registry::{DeviceState, Registry};
use common::{Control, RefusingWrites};

async fn second_process(server: &DemoServer, config: &std::path::Path, args: &[&str]) -> Output {
    let base = server.base_url().to_string();
    let mut all = vec!["--api-base", base.as_str()];
    all.extend_from_slice(args);
    let mut command = common::c2c_pair_in("c2c-pair-test-held-never-used", config, &all);
    command.env("C2C_PAIR_CLIENT_SECRET", common::demo_secret());
    tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("the second process answers at once")
        .unwrap()
}

async fn refreshes(control: &Control) -> usize {
    control
        .requests_to("/v2/auth/token", Some("CAM-HELD"))
        .await
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some("refresh_token"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_never_spends_a_refresh_token_another_one_holds() {
    let server = DemoServer::start(common::fast_config()).await.unwrap();
    let control = Control::new(server.base_url());
    let config = tempfile::tempdir().unwrap();
    let store = Arc::new(RefusingWrites::in_memory());
    let ctx = Context {
        backend: Arc::new(common::backend_for(&server, common::demo_secret())),
        keychain: Keychain::new(store.clone(), std::time::Duration::from_secs(5)),
        registry: Registry::in_dir(config.path()),
    };

    let paired = common::pair_approving(&ctx, &control, "CAM-HELD").await;
    assert!(matches!(paired, Ok(PairOutcome::Paired(_))), "{paired:?}");
    let record = ctx.registry.load().unwrap().devices.remove(0);

    // The keychain locks; a refresh rotates the tokens and cannot save them.
    store.refuse.store(true, Ordering::SeqCst);
    let held = match device::refresh(&ctx, &record).await {
        Err(LifecycleError::SaveFailed { unsaved, .. }) => unsaved,
        other => panic!("expected SaveFailed, got {other:?}"),
    };
    assert_eq!(refreshes(&control).await, 1);
    let marked = ctx.registry.load().unwrap().devices.remove(0);
    assert_eq!(
        marked.save_pending.as_ref().map(|p| p.pid),
        Some(std::process::id())
    );

    // A second process is told why it waits, with exit 6, and sends nothing.
    for args in [
        &["refresh", "--device", "CAM-HELD"][..],
        &["token", "--device", "CAM-HELD"][..],
    ] {
        let out = second_process(&server, config.path(), args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "another c2c-pair process (pid {})",
                std::process::id()
            )),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "no token printed");
    }
    assert_eq!(
        refreshes(&control).await,
        1,
        "the old refresh token was not spent"
    );
    // This process's own routine calls wait too.
    assert!(matches!(
        device::fresh_tokens(&ctx, &marked).await,
        Err(LifecycleError::HeldElsewhere { .. })
    ));

    // The keychain unlocks: the held set is saved and the mark cleared.
    store.refuse.store(false, Ordering::SeqCst);
    held.save(&ctx.keychain).await.unwrap();
    let saved = ctx.registry.load().unwrap().devices.remove(0);
    assert_eq!(saved.save_pending, None);
    device::refresh(&ctx, &saved).await.unwrap();
    assert_eq!(
        refreshes(&control).await,
        2,
        "the saved set refreshes again"
    );

    // Held again, then dropped unsaved (as when a process dies): the next process says the
    // pairing is lost, marks it, and still spends nothing.
    store.refuse.store(true, Ordering::SeqCst);
    let held = match device::refresh(&ctx, &saved).await {
        Err(LifecycleError::SaveFailed { unsaved, .. }) => unsaved,
        other => panic!("expected SaveFailed, got {other:?}"),
    };
    drop(held);
    let out = second_process(&server, config.path(), &["refresh", "--device", "CAM-HELD"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("newest credentials were lost"), "{stderr}");
    assert_eq!(refreshes(&control).await, 3, "no refresh after the loss");
    let lost = ctx.registry.load().unwrap().devices.remove(0);
    assert!(matches!(lost.state, DeviceState::NeedsRepairing { .. }));
    assert_eq!(lost.save_pending, None);
}
