//! Property tests: every parser of outside input survives any input without panicking —
//! server answers (device code, token, both error shapes, device info), stored token sets,
//! device lists and the registry file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use c2c_pair::c2c::model::{
    DeviceAuthorization, DeviceInfo, ErrorBody, MAX_CODE_LIFETIME, MAX_INTERVAL, TokenResponse,
};
use c2c_pair::import;
use c2c_pair::keychain::TokenSet;
use c2c_pair::printable;
use c2c_pair::registry::Registry;
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::Value;

/// Any JSON value, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("120"),
            Just("5.5"),
            Just("-1"),
            Just("1e999"),
            Just("NaN")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Field names the parsers look for, and others.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("device_code".to_owned()),
        Just("user_code".to_owned()),
        Just("expires_in".to_owned()),
        Just("interval".to_owned()),
        Just("verification_uri".to_owned()),
        Just("verification_uri_complete".to_owned()),
        Just("access_token".to_owned()),
        Just("refresh_token".to_owned()),
        Just("error".to_owned()),
        Just("error_description".to_owned()),
        Just("errors".to_owned()),
        Just("message".to_owned()),
        Just("detail".to_owned()),
        Just("project".to_owned()),
        Just("name".to_owned()),
        "[a-z_]{1,12}",
    ]
}

fn parse_everything(bytes: &[u8]) {
    let _ = serde_json::from_slice::<DeviceAuthorization>(bytes);
    let _ = serde_json::from_slice::<TokenResponse>(bytes);
    let _ = serde_json::from_slice::<DeviceInfo>(bytes);
    let _ = ErrorBody::parse(bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = TokenSet::from_secret(&SecretString::from(text.to_string()));
    let _ = import::parse(&text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_are_parsed_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&bytes);
    }

    #[test]
    fn any_json_is_parsed_without_panic(value in json()) {
        parse_everything(value.to_string().as_bytes());
    }

    #[test]
    fn a_device_code_answer_keeps_its_numbers_and_codes(
        expires in 0u32..100_000,
        interval in 0u32..3_600,
        user_code in "[0-9A-Z-]{1,12}",
        as_text in any::<bool>(),
    ) {
        let number = |n: u32| if as_text { Value::from(n.to_string()) } else { Value::from(n) };
        let body = serde_json::json!({
            "device_code": "d", "user_code": user_code,
            "expires_in": number(expires), "interval": number(interval),
        });
        let parsed: DeviceAuthorization = serde_json::from_value(body).unwrap();
        prop_assert_eq!(parsed.user_code, user_code);
        // Kept as sent within the sane ranges, clamped beyond them.
        prop_assert_eq!(parsed.expires_in.as_secs(), u64::from(expires).min(MAX_CODE_LIFETIME.as_secs()));
        prop_assert_eq!(parsed.interval.as_secs(), u64::from(interval).min(MAX_INTERVAL.as_secs()));
    }

    #[test]
    fn error_descriptions_are_kept_verbatim_when_printable(description in "[^\\x00-\\x1f]{1,80}") {
        let body = serde_json::json!({"error": "access_denied", "error_description": description});
        let parsed = ErrorBody::parse(body.to_string().as_bytes());
        let shown = parsed.description.unwrap_or_default();
        prop_assert!(printable::is_printable(&shown), "{:?}", shown);
        if printable::is_printable(&description) {
            prop_assert_eq!(shown, description.trim().to_owned());
        }
    }

    #[test]
    fn device_lists_yield_only_valid_ids(text in ".{0,300}") {
        let parsed = import::parse(&text);
        for entry in parsed.entries {
            let id = entry.device_id.as_str();
            prop_assert!(!id.is_empty() && id.chars().count() <= 128 && !id.chars().any(char::is_control));
        }
    }

    #[test]
    fn any_registry_file_is_read_or_kept_aside_never_lost(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::in_dir(dir.path());
        std::fs::write(registry.path(), &bytes).unwrap();
        match registry.load() {
            Ok(loaded) if loaded.moved_aside.is_some() => {
                // The original bytes are kept, byte for byte, beside a fresh list.
                let kept: Vec<Vec<u8>> = std::fs::read_dir(dir.path())
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.to_string_lossy().contains("corrupt"))
                    .map(|p| std::fs::read(p).unwrap())
                    .collect();
                prop_assert_eq!(kept, vec![bytes]);
            }
            Ok(_) => {}
            Err(error) => prop_assert!(error.to_string().contains("newer c2c-pair"), "{}", error),
        }
    }
}
