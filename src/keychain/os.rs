//! The OS keychain through keyring 4's platform stores, chosen explicitly: Secret Service over
//! zbus on Linux and the BSDs, Keychain on macOS, Credential Manager on Windows. There is no
//! fallback: keyring-core's in-memory default would "succeed" and lose every token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use keyring_core::{CredentialStore as PlatformStore, Entry, Error};
use secrecy::{ExposeSecret as _, SecretString};

use super::{CredentialStore, KeychainError};

/// The platform keychain, under one service name.
pub struct OsStore {
    service: String,
    // Connected on first use and dropped after a failure, so that a keychain started or
    // unlocked after the app came up is found on the next try.
    platform: Mutex<Option<Arc<PlatformStore>>>,
}

impl OsStore {
    /// The OS keychain; entries go under `service` (normally [`super::SERVICE`]).
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            platform: Mutex::new(None),
        }
    }

    /// The service name entries are stored under.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Every account stored under this service, sorted. The search is by the `service`
    /// attribute, as the Secret Service and macOS Keychain stores understand it.
    pub fn accounts(&self) -> Result<Vec<String>, KeychainError> {
        let platform = self.connect()?;
        let spec = HashMap::from([("service", self.service.as_str())]);
        let entries = Entry::search_in_store(&platform, &spec).map_err(|e| map_error(e, "*"))?;
        let mut accounts: Vec<String> = entries
            .iter()
            .filter_map(Entry::get_specifiers)
            .filter(|(service, _)| *service == self.service)
            .map(|(_, account)| account)
            .collect();
        accounts.sort();
        accounts.dedup();
        Ok(accounts)
    }

    fn with_entry<T>(
        &self,
        account: &str,
        action: impl FnOnce(&Entry) -> Result<T, Error>,
    ) -> Result<T, KeychainError> {
        let platform = self.connect()?;
        let result =
            Entry::new_in_store(&platform, &self.service, account).and_then(|entry| action(&entry));
        if let Err(Error::PlatformFailure(_) | Error::NoStorageAccess(_)) = &result {
            self.forget_connection();
        }
        result.map_err(|e| map_error(e, account))
    }

    fn connect(&self) -> Result<Arc<PlatformStore>, KeychainError> {
        let mut slot = self.platform.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(platform) = slot.as_ref() {
            return Ok(platform.clone());
        }
        let platform = platform::open().map_err(|e| KeychainError::Unavailable {
            reason: crate::errors::chain(&e),
        })?;
        *slot = Some(platform.clone());
        Ok(platform)
    }

    fn forget_connection(&self) {
        *self.platform.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl CredentialStore for OsStore {
    /// Stored as UTF-8 bytes. (`set_password` would store UTF-16 on Windows, halving what
    /// fits in Credential Manager's 2560-byte limit.)
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), KeychainError> {
        self.with_entry(account, |entry| {
            entry.set_secret(secret.expose_secret().as_bytes())
        })
    }

    fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError> {
        let bytes = self.with_entry(account, |entry| match entry.get_secret() {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Error::NoEntry) => Ok(None),
            Err(other) => Err(other),
        })?;
        bytes
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map(SecretString::from)
                    .map_err(|_| KeychainError::Corrupt {
                        account: account.to_owned(),
                        reason: "the stored value is not valid text".into(),
                    })
            })
            .transpose()
    }

    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        self.with_entry(account, |entry| match entry.delete_credential() {
            Ok(()) => Ok(true),
            Err(Error::NoEntry) => Ok(false),
            Err(other) => Err(other),
        })
    }

    fn describe(&self) -> String {
        format!("{}, service {}", platform::NAME, self.service)
    }
}

/// The platform's store: its name for messages, and how to open it.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod platform {
    use super::{Arc, Error, PlatformStore};
    pub const NAME: &str = "Secret Service";
    pub fn open() -> Result<Arc<PlatformStore>, Error> {
        Ok(zbus_secret_service_keyring_store::Store::new()?)
    }
}

#[cfg(target_os = "macos")]
mod platform {
    use super::{Arc, Error, PlatformStore};
    pub const NAME: &str = "macOS Keychain";
    pub fn open() -> Result<Arc<PlatformStore>, Error> {
        Ok(apple_native_keyring_store::keychain::Store::new()?)
    }
}

#[cfg(target_os = "windows")]
mod platform {
    use super::{Arc, Error, PlatformStore};
    pub const NAME: &str = "Windows Credential Manager";
    pub fn open() -> Result<Arc<PlatformStore>, Error> {
        Ok(windows_native_keyring_store::Store::new()?)
    }
}

#[cfg(any(
    target_os = "ios",
    target_os = "android",
    not(any(unix, target_os = "windows"))
))]
mod platform {
    use super::{Arc, Error, PlatformStore};
    pub const NAME: &str = "no supported keychain";
    pub fn open() -> Result<Arc<PlatformStore>, Error> {
        Err(Error::NotSupportedByStore(
            "this platform has no supported keychain".into(),
        ))
    }
}

/// Maps keyring errors to ours. Some keyring errors carry the stored bytes
/// (`BadEncoding`, `BadDataFormat`): those are never formatted.
fn map_error(error: Error, account: &str) -> KeychainError {
    match error {
        Error::NoStorageAccess(_) => KeychainError::Locked {
            reason: crate::errors::chain(&error),
        },
        Error::BadEncoding(_) | Error::BadDataFormat(..) => KeychainError::Corrupt {
            account: account.to_owned(),
            reason: "the stored value is not valid text".into(),
        },
        Error::Ambiguous(items) => KeychainError::Failed {
            reason: format!(
                "{} keychain entries match {account}; remove the extras (e.g. with \
                 `secret-tool search --all service c2c-pair`)",
                items.len()
            ),
        },
        Error::NoDefaultStore | Error::NotSupportedByStore(_) => KeychainError::Unavailable {
            reason: error.to_string(),
        },
        other => KeychainError::Failed {
            reason: crate::errors::chain(&other),
        },
    }
}
