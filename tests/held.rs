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
use std::sync::atomic::{AtomicBool, Ordering};

use c2c_pair::demo::DemoServer;
use c2c_pair::device::{self, Context, DeviceId, LifecycleError, PairEvent, PairOutcome};
use c2c_pair::keychain::{CredentialStore, Keychain, KeychainError, MemoryStore};
use c2c_pair::registry::{DeviceState, Registry};
use common::Control;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// A memory store whose writes fail while `refusing` is set (a keychain locked mid-session).
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    refusing: AtomicBool,
}

impl CredentialStore for FlakyStore {
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), KeychainError> {
        if self.refusing.load(Ordering::SeqCst) {
            return Err(KeychainError::Locked {
                reason: "locked for the test".into(),
            });
        }
        self.inner.set(account, secret)
    }
    fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError> {
        self.inner.get(account)
    }
    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        self.inner.delete(account)
    }
    fn describe(&self) -> String {
        "a store that can refuse writes".into()
    }
}

async fn second_process(server: &DemoServer, config: &std::path::Path, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_c2c-pair"));
    command
        .arg("--api-base")
        .arg(server.base_url().as_str())
        .args(args)
        .env("C2C_PAIR_KEYCHAIN_SERVICE", "c2c-pair-test-held-never-used")
        .env("C2C_PAIR_CONFIG_DIR", config)
        .env("C2C_PAIR_LOG_DIR", config.join("logs"))
        .env("C2C_PAIR_CLIENT_SECRET", common::demo_secret())
        .env_remove("C2C_PAIR_CONFIG")
        .env_remove("C2C_PAIR_API_BASE")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
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
    let store = Arc::new(FlakyStore::default());
    let ctx = Context {
        backend: Arc::new(common::backend_for(&server, common::demo_secret())),
        keychain: Keychain::new(store.clone(), std::time::Duration::from_secs(5)),
        registry: Registry::in_dir(config.path()),
    };

    // Pair, with the control API approving.
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let run = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let id = DeviceId::parse("CAM-HELD").unwrap();
            device::pair(&ctx, &id, None, &CancellationToken::new(), |e| {
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
    assert!(matches!(run.await.unwrap(), Ok(PairOutcome::Paired(_))));
    let record = ctx.registry.load().unwrap().devices.remove(0);

    // The keychain locks; a refresh rotates the tokens and cannot save them.
    store.refusing.store(true, Ordering::SeqCst);
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
    store.refusing.store(false, Ordering::SeqCst);
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
    store.refusing.store(true, Ordering::SeqCst);
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
