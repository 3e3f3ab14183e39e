//! C2C Pairing Assistant: pairs Frame.io Camera to Cloud devices from a laptop through the
//! OAuth 2.0 Device Authorization Grant (RFC 8628) and keeps their credentials in the OS keychain.
//!
//! Arrows point one way: `ui -> worker -> device -> {c2c, keychain}`; `demo` shares
//! `c2c::model` and nothing else.

pub mod backend;
pub mod c2c;
pub mod clock;
pub mod demo;
pub mod device;
pub mod device_id;
pub mod diagnostics;
pub mod errors;
pub mod human_time;
pub mod import;
pub mod keychain;
pub mod log_buffer;
pub mod log_file;
pub mod printable;
pub mod redact;
pub mod registry;
pub mod report;
pub mod settings;
pub mod ui;
pub mod wifi;
pub mod worker;
