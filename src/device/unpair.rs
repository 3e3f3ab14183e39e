//! Unpairing: revoke at the server (RFC 7009), then forget the credentials and the record.
//!
//! A 200 means done, even for a token the server had already dropped. A 503 or a network
//! error keeps everything and marks the device "unpair pending", to be retried; nothing is
//! deleted until the server has confirmed.

use super::Context;
use super::session::{LifecycleError, ensure_held_here, latest_record, lock_device};
use crate::c2c::{ClientError, Verdict};
use crate::keychain::Keychain;
use crate::registry::{DeviceRecord, DeviceState, Registry};

/// How an unpairing went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpaired {
    /// The server confirmed the revocation (false when there was nothing to revoke, or the
    /// demo server that issued the tokens is gone).
    pub revoked: bool,
    /// Anything the user should know.
    pub note: Option<String>,
}

/// Forgets a device on this computer only, without asking the server (`unpair --local`).
///
/// Deletes its keychain entry and its record, for a server that is gone or a record that is
/// wrong. The server may still consider the device paired until its tokens expire.
pub async fn forget(
    keychain: &Keychain,
    registry: &Registry,
    record: &DeviceRecord,
) -> Result<(), LifecycleError> {
    let _lock = lock_device(registry, record).await?;
    keychain.delete(&record.account()).await?;
    registry.remove(&record.device_id, &record.keychain_host)?;
    tracing::info!(device = %record.device_id, "forgotten here, without the server");
    Ok(())
}

/// Revokes the device's tokens, then deletes its keychain entry and its record.
///
/// A device handed off to itself cannot be unpaired from here: the laptop holds no token to
/// revoke with, so it is refused ([`LifecycleError::HandedOff`]) rather than forgotten as if
/// there had been nothing to revoke; [`forget`] removes its record.
pub async fn unpair(ctx: &Context, record: &DeviceRecord) -> Result<Unpaired, LifecycleError> {
    let _lock = lock_device(&ctx.registry, record).await?;
    ensure_held_here(record)?;
    if let Some(latest) = latest_record(ctx, record)? {
        ensure_held_here(&latest)?;
    }
    let account = record.account();
    let mut outcome = Unpaired {
        revoked: false,
        note: None,
    };
    if let Some(tokens) = ctx.keychain.load_tokens(&account).await? {
        let credentials = ctx.backend.credentials(&record.device_id);
        let client = &*ctx.client(record);
        // The refresh token is the long-lived credential; revoking it should end the access
        // token too (RFC 7009 §2.1), which is revoked as well in case the server does not.
        let primary = tokens
            .refresh_token
            .as_ref()
            .unwrap_or(&tokens.access_token);
        match client.revoke(&credentials, primary).await {
            Ok(()) => {
                outcome.revoked = true;
                if tokens.refresh_token.is_some()
                    && let Err(error) = client.revoke(&credentials, &tokens.access_token).await
                {
                    tracing::info!(device = %record.device_id, %error, "access token revoke failed; the refresh token is revoked");
                }
            }
            Err(ClientError::Connect { .. }) if record.is_demo() => {
                // Demo servers keep nothing across runs: the tokens died with it.
                outcome.note = Some(
                    "the demo server that issued these credentials is no longer running, so \
                     there was nothing to revoke"
                        .into(),
                );
            }
            Err(error) if error.verdict() == Verdict::CredentialsDead => {
                // The server says the credentials are already dead: what unpairing wanted.
                outcome.note =
                    Some("the server said these credentials were already invalid".into());
            }
            Err(error) if error.verdict() == Verdict::Retry => {
                let reason = error.to_string();
                let state = DeviceState::UnpairPending {
                    reason: reason.clone(),
                };
                ctx.registry
                    .modify(&record.device_id, &record.keychain_host, |r| {
                        r.state = state;
                    })?;
                return Err(LifecycleError::UnpairPending {
                    device: record.device_id.clone(),
                    reason,
                });
            }
            Err(error) => {
                return Err(LifecycleError::Refused {
                    device: record.device_id.clone(),
                    error,
                });
            }
        }
        ctx.keychain.delete(&account).await?;
    }
    ctx.registry
        .remove(&record.device_id, &record.keychain_host)?;
    tracing::info!(device = %record.device_id, revoked = outcome.revoked, "unpaired");
    Ok(outcome)
}
