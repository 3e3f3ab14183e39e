//! The Frame.io C2C protocol: wire types, the HTTP client and the RFC 8628 poller.
//! Knows nothing of screens or keychains.

pub mod assets;
pub mod client;
pub mod model;
pub mod part;
pub mod poller;
pub mod portal;
pub mod profile;
mod proxy;

pub use client::{
    C2cClient, ClientCredentials, ClientError, Reached, Verdict, install_crypto_provider,
};
pub use model::{DeviceAuthorization, OAuthErrorCode, TokenResponse};
pub use poller::{PollStatus, Poller, StopReason};
