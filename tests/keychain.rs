//! The OS keychain itself (Secret Service in CI), through the same store the app uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use c2c_pair::keychain::{TokenSet, client_secret_account, token_account};
use secrecy::{ExposeSecret as _, SecretString};

#[tokio::test]
#[ignore = "needs a Secret Service (its subject is the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn entries_round_trip_replace_and_delete() {
    let kc = common::os_keychain();
    let account = kc.track(&token_account("CAM-KC-1", "api.frame.io:443"));
    assert!(kc.keychain.get(&account).await.unwrap().is_none());

    kc.keychain
        .set(&account, SecretString::from("first"))
        .await
        .unwrap();
    kc.keychain
        .set(&account, SecretString::from("second — ünïcode ✓"))
        .await
        .unwrap();
    let read = kc.keychain.get(&account).await.unwrap().unwrap();
    assert_eq!(
        read.expose_secret(),
        "second — ünïcode ✓",
        "a set replaces, never duplicates"
    );

    assert!(kc.keychain.delete(&account).await.unwrap());
    assert!(!kc.keychain.delete(&account).await.unwrap());
    assert!(kc.keychain.get(&account).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs a Secret Service (its subject is the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn token_sets_and_client_secrets_live_side_by_side() {
    let kc = common::os_keychain();
    let tokens = kc.track(&token_account("CAM-KC-2", "demo"));
    let secret = kc.track(&client_secret_account("demo"));
    let set = TokenSet::sample();
    kc.keychain.save_tokens(&tokens, &set).await.unwrap();
    kc.keychain
        .set(&secret, SecretString::from("model-secret"))
        .await
        .unwrap();
    assert_eq!(kc.keychain.load_tokens(&tokens).await.unwrap(), Some(set));
    assert_eq!(kc.read(&secret).unwrap().expose_secret(), "model-secret");
    // What a user sees with `secret-tool search service c2c-pair`: one entry per account.
    assert_eq!(tokens, "CAM-KC-2@demo");
    assert_eq!(secret, "client-secret:demo");
}

#[tokio::test]
#[ignore = "needs a Secret Service (its subject is the OS keychain); run .ci/run, \
            or .ci/with-keyring cargo test -- --include-ignored"]
async fn the_preflight_passes_and_leaves_nothing_behind() {
    let kc = common::os_keychain();
    let store = c2c_pair::keychain::OsStore::new(kc.service.clone());
    let account = kc.track("CAM-KC-3@demo");
    kc.keychain
        .set(&account, SecretString::from("x"))
        .await
        .unwrap();
    assert_eq!(
        store.accounts().unwrap(),
        std::slice::from_ref(&account),
        "the search sees what is stored"
    );
    kc.keychain.preflight().await.unwrap();
    kc.keychain.preflight().await.unwrap();
    assert_eq!(
        store.accounts().unwrap(),
        [account],
        "no preflight entry is left over"
    );
}
