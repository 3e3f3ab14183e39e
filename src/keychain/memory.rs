//! An in-memory [`CredentialStore`] for unit tests of logic. Never used for real credentials.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use secrecy::{ExposeSecret as _, SecretString};

use super::{CredentialStore, KeychainError};

/// Secrets in a map, gone when the process ends.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, String>>,
}

impl MemoryStore {
    /// Account names stored, sorted.
    pub fn accounts(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CredentialStore for MemoryStore {
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), KeychainError> {
        self.lock()
            .insert(account.to_owned(), secret.expose_secret().to_owned());
        Ok(())
    }

    fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError> {
        Ok(self
            .lock()
            .get(account)
            .map(|s| SecretString::from(s.clone())))
    }

    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        Ok(self.lock().remove(account).is_some())
    }

    fn describe(&self) -> String {
        "in-memory test store".into()
    }
}
