//! A device whose record was lost (e.g. a damaged list was moved aside) but whose tokens are
//! still in the keychain is recorded again rather than declared unpaired.

use super::{DeviceId, LifecycleError};
use crate::keychain::{Keychain, TokenSet, token_account};
use crate::registry::{DeviceRecord, DeviceState, Registry};

/// Records `device_id` again from its tokens in the keychain, as paired with `api_base`
/// under keychain host `host`; [`LifecycleError::NotPaired`] when the keychain has none.
pub async fn restore(
    registry: &Registry,
    keychain: &Keychain,
    device_id: &DeviceId,
    api_base: &str,
    host: &str,
) -> Result<DeviceRecord, LifecycleError> {
    let not_paired = || LifecycleError::NotPaired {
        device: device_id.clone(),
        host: host.to_owned(),
    };
    let tokens: TokenSet = keychain
        .load_tokens(&token_account(device_id.as_str(), host))
        .await?
        .ok_or_else(not_paired)?;
    let record = DeviceRecord {
        device_id: device_id.clone(),
        name: None,
        api_base: api_base.to_owned(),
        keychain_host: host.to_owned(),
        paired_at: tokens.issued_at,
        project_name: None,
        project_id: None,
        remote_name: None,
        access_expires_at: tokens.access_expires_at,
        refresh_issued_at: Some(tokens.issued_at),
        last_heartbeat: None,
        last_upload: None,
        client_version: None,
        request_shape: None,
        save_pending: None,
        state: DeviceState::Paired,
    };
    registry.upsert(record.clone())?;
    tracing::info!(device = %device_id, "restored a device missing from the list from the keychain");
    Ok(record)
}
