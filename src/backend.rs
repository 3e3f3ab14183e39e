//! Which server to pair against: Frame.io (or another RFC 8628 server) when a client secret
//! is configured, else the embedded demo server on loopback.

use secrecy::SecretString;

use crate::c2c::profile::{ConfigError, Profile};
use crate::c2c::{C2cClient, ClientCredentials, ClientError};
use crate::demo::{DemoConfig, DemoServer};
use crate::keychain::{Keychain, KeychainError, client_secret_account};
use crate::registry::DeviceRecord;

/// Environment variable that supplies the client secret (beats the keychain).
pub const CLIENT_SECRET_ENV: &str = "C2C_PAIR_CLIENT_SECRET";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct BackendChoice {
    /// The real service's profile (API base, paths, version, encoding).
    pub profile: Profile,
    /// Use the demo server even if a client secret is configured.
    pub force_demo: bool,
    /// Without a client secret, fall back to the demo server. Off when the user named a
    /// server explicitly: pairing a demo device instead would only confuse.
    pub demo_fallback: bool,
    /// How to run the demo server when it is used.
    pub demo: DemoConfig,
    /// A client secret from the environment, if set.
    pub env_secret: Option<SecretString>,
}

/// The server pairing talks to, ready to use.
pub struct Backend {
    /// Client for the chosen server.
    pub client: C2cClient,
    /// The client secret for that server.
    pub client_secret: SecretString,
    /// Why demo mode was chosen although a secret may exist (e.g. a locked keychain).
    pub warning: Option<String>,
}

/// A backend just set up, with the demo server it runs on in demo mode.
///
/// Whoever connects owns the server (it stops when dropped) and lends it to what pairs on
/// it; the backend itself is only a client and a secret.
pub struct Connected {
    /// The backend.
    pub backend: Backend,
    /// The embedded server, in demo mode.
    pub demo_server: Option<DemoServer>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("api_base", &self.client.profile().api_base.as_str())
            .field("demo", &self.is_demo())
            .finish_non_exhaustive()
    }
}

/// Why no backend could be set up. The messages say what is wrong; what to do about it
/// (which command, which field) is for the CLI and the window to add.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The demo server could not listen.
    #[error("the demo server could not listen on {addr}: {reason}")]
    DemoListen {
        /// Address asked for.
        addr: String,
        /// What the OS said.
        reason: String,
    },
    /// A server was named but no client secret for it is configured.
    #[error("no client secret is configured for {host}")]
    NoSecret {
        /// The server's keychain host.
        host: String,
    },
    /// The environment's client secret is for another server than the device's.
    #[error(
        "{CLIENT_SECRET_ENV} is used only for the configured server ({configured}), and this \
         device was paired with {host}, for which no client secret is stored"
    )]
    EnvSecretElsewhere {
        /// The device's server.
        host: String,
        /// The server the environment's secret is for.
        configured: String,
    },
    /// The keychain could not be read to find the client secret.
    #[error("the client secret could not be read: {0}")]
    SecretUnreadable(KeychainError),
}

impl Backend {
    /// Picks the server: the configured service if a client secret is found (environment
    /// first, then the keychain), else (when allowed) the embedded demo server. With the demo
    /// fallback, a keychain that cannot be read counts as "no secret", with a warning;
    /// pairing's own preflight then reports the keychain.
    pub async fn connect(
        choice: BackendChoice,
        keychain: &Keychain,
    ) -> Result<Connected, BackendError> {
        choice.profile.validate()?;
        if choice.force_demo {
            return Self::demo(choice, None).await;
        }
        let secret = if let Some(secret) = choice.env_secret.clone() {
            Ok(Some(secret))
        } else {
            let account = client_secret_account(&choice.profile.keychain_host());
            keychain.get(&account).await
        };
        match secret {
            Ok(Some(client_secret)) => {
                let client = C2cClient::new(choice.profile)?;
                let backend = Self {
                    client,
                    client_secret,
                    warning: None,
                };
                Ok(Connected {
                    backend,
                    demo_server: None,
                })
            }
            Ok(None) if choice.demo_fallback => Self::demo(choice, None).await,
            Ok(None) => Err(BackendError::NoSecret {
                host: choice.profile.keychain_host(),
            }),
            Err(error) if choice.demo_fallback => {
                tracing::debug!(%error, "could not read the client secret; using the demo server");
                let warning = "The keychain could not be read to look for a client secret, so the \
                    demo server is used."
                    .to_owned();
                Self::demo(choice, Some(warning)).await
            }
            Err(error) => Err(BackendError::SecretUnreadable(error)),
        }
    }

    async fn demo(
        choice: BackendChoice,
        warning: Option<String>,
    ) -> Result<Connected, BackendError> {
        let addr = choice.demo.listen;
        let secret = choice.demo.client_secret.clone();
        let server =
            DemoServer::start(choice.demo)
                .await
                .map_err(|e| BackendError::DemoListen {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                })?;
        let mut profile = Profile {
            api_base: server.base_url().clone(),
            demo: true,
            ..choice.profile
        };
        // The demo server always offers links, so the QR has somewhere to point.
        profile.url_pairing = true;
        let client = C2cClient::new(profile)?;
        let backend = Self {
            client,
            client_secret: SecretString::from(secret),
            warning,
        };
        Ok(Connected {
            backend,
            demo_server: Some(server),
        })
    }

    /// The credentials one device presents to this server.
    pub fn credentials(&self, client_id: &str) -> ClientCredentials {
        ClientCredentials {
            client_id: client_id.to_owned(),
            client_secret: self.client_secret.clone(),
        }
    }

    /// The server a recorded device was paired with, for refresh, heartbeat and unpair:
    /// the user's profile settings with the record's API base, and that host's client secret
    /// (the demo server's own for demo devices; the environment's, else the keychain's).
    pub async fn for_record(
        choice: &BackendChoice,
        record: &DeviceRecord,
        keychain: &Keychain,
    ) -> Result<Self, BackendError> {
        let api_base = record.checked_api_base().map_err(|reason| {
            BackendError::Config(ConfigError::BadApiBase(record.api_base.clone(), reason))
        })?;
        let demo = record.is_demo();
        let profile = Profile {
            api_base,
            demo,
            ..choice.profile.clone()
        };
        profile.validate()?;
        let client_secret = if demo {
            SecretString::from(choice.demo.client_secret.clone())
        } else if let Some(secret) = choice
            .env_secret
            .clone()
            // The environment's secret belongs to the configured server only.
            .filter(|_| record.keychain_host == choice.profile.keychain_host())
        {
            secret
        } else {
            let account = client_secret_account(&record.keychain_host);
            match keychain.get(&account).await {
                Ok(Some(secret)) => secret,
                Ok(None) if choice.env_secret.is_some() => {
                    return Err(BackendError::EnvSecretElsewhere {
                        host: record.keychain_host.clone(),
                        configured: choice.profile.keychain_host(),
                    });
                }
                Ok(None) => {
                    return Err(BackendError::NoSecret {
                        host: record.keychain_host.clone(),
                    });
                }
                Err(error) => return Err(BackendError::SecretUnreadable(error)),
            }
        };
        let client = C2cClient::new(profile)?;
        Ok(Self {
            client,
            client_secret,
            warning: None,
        })
    }

    /// True for the embedded demo server (its profile says so: one answer for a backend
    /// just connected and for one found for a recorded demo device).
    pub fn is_demo(&self) -> bool {
        self.client.profile().demo
    }
}

/// Stores the client secret for a profile's host in the keychain.
pub async fn save_client_secret(
    keychain: &Keychain,
    profile: &Profile,
    secret: SecretString,
) -> Result<(), KeychainError> {
    keychain
        .set(&client_secret_account(&profile.keychain_host()), secret)
        .await
}
