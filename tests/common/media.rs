//! A paired device speaking the demo server's media API over raw HTTP (no app code between),
//! and test content with its SHA-256.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use c2c_pair::c2c::{C2cClient, ClientCredentials};
use c2c_pair::demo::DemoServer;
use reqwest::StatusCode;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use url::Url;

use super::Control;

/// One MiB.
pub const MIB: usize = 1024 * 1024;

/// A device paired with a demo server, its access token at hand.
pub struct Device {
    /// The device's `client_id`.
    pub client_id: String,
    /// Its access token.
    pub token: String,
    /// The server's base URL.
    pub base: Url,
    /// The HTTP client.
    pub http: reqwest::Client,
}

/// Pairs `client_id` with `server` (approved through the control API).
pub async fn paired(server: &DemoServer, client_id: &str) -> Device {
    c2c_pair::c2c::install_crypto_provider();
    let client = C2cClient::new(super::profile_for(server.base_url())).unwrap();
    let credentials = ClientCredentials {
        client_id: client_id.into(),
        client_secret: SecretString::from(super::demo_secret()),
    };
    let auth = client.request_device_code(&credentials).await.unwrap();
    Control::new(server.base_url())
        .approve(&auth.user_code)
        .await;
    let tokens = client
        .exchange_device_code(&credentials, &auth.device_code)
        .await
        .unwrap();
    Device {
        client_id: client_id.to_owned(),
        token: tokens.access_token.expose_secret().to_owned(),
        base: server.base_url().clone(),
        http: reqwest::Client::new(),
    }
}

impl Device {
    /// POSTs JSON to `path` with the device's token; the status and the JSON answer (`Null`
    /// when the answer is not JSON).
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let request = self
            .http
            .post(self.base.join(path).unwrap())
            .bearer_auth(&self.token)
            .json(body);
        answer(request).await
    }

    /// POSTs JSON to `path` without a token.
    pub async fn post_anonymously(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let request = self.http.post(self.base.join(path).unwrap()).json(body);
        answer(request).await
    }

    /// `POST /v2/devices/assets`.
    pub async fn create(&self, body: &Value) -> (StatusCode, Value) {
        self.post("/v2/devices/assets", body).await
    }

    /// A normal asset of `filesize` bytes in `parts` parts; its id and upload URLs.
    pub async fn create_normal(
        &self,
        name: &str,
        filesize: usize,
        parts: u32,
    ) -> (String, Vec<String>) {
        let body = serde_json::json!({
            "name": name, "filetype": "video/mp4", "filesize": filesize,
            "offset": 0, "channel": 1, "parts": parts,
        });
        let (status, asset) = self.create(&body).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        let urls = asset["upload_urls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|url| url.as_str().unwrap().to_owned())
            .collect();
        (asset["id"].as_str().unwrap().to_owned(), urls)
    }

    /// `POST /v2/devices/assets/{id}/realtime_upload/parts`.
    pub async fn realtime_parts(&self, asset_id: &str, body: &Value) -> (StatusCode, Value) {
        let path = format!("/v2/devices/assets/{asset_id}/realtime_upload/parts");
        self.post(&path, body).await
    }

    /// `POST /v2/devices/assets/{id}/comments`.
    pub async fn comment(&self, asset_id: &str, body: &Value) -> (StatusCode, Value) {
        self.post(&format!("/v2/devices/assets/{asset_id}/comments"), body)
            .await
    }

    /// PUTs `bytes` to an upload URL as a presigned S3 URL takes them: no token, and the
    /// headers the URL signs ([`signed`]).
    pub async fn put(&self, url: &str, bytes: &[u8]) -> reqwest::Result<reqwest::Response> {
        signed(self.http.put(url)).body(bytes.to_vec()).send().await
    }
}

/// A part PUT with the headers a part URL signs, as Frame.io's client sends them: every test
/// asset here is `video/mp4`, and parts are `private`.
pub fn signed(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header(reqwest::header::CONTENT_TYPE, "video/mp4")
        .header("x-amz-acl", "private")
}

async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `len` bytes that do not repeat in any short period (an xorshift sequence from `seed`).
pub fn patterned(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The asset `id` as the control API lists it.
pub async fn asset(control: &Control, id: &str) -> Value {
    control
        .assets()
        .await
        .into_iter()
        .find(|asset| asset["id"] == id)
        .expect("the asset is listed")
}
