//! Every parser of outside input, fed arbitrary bytes: server answers (device code, token,
//! both error shapes, device info), stored token sets and device lists. See RELIABILITY.md.
#![no_main]

use c2c_pair::c2c::model::{DeviceAuthorization, DeviceInfo, ErrorBody, TokenResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = serde_json::from_slice::<DeviceAuthorization>(bytes);
    let _ = serde_json::from_slice::<TokenResponse>(bytes);
    let _ = serde_json::from_slice::<DeviceInfo>(bytes);
    let _ = ErrorBody::parse(bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = c2c_pair::keychain::TokenSet::from_secret(&secrecy::SecretString::from(text.to_string()));
    let _ = c2c_pair::import::parse(&text);
});
