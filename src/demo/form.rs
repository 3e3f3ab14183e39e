//! A form body in either encoding the C2C OAuth endpoints accept: urlencoded or multipart.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse as _, Response};

use super::reply::oauth_error;
use crate::c2c::model::OAuthErrorCode;

/// The fields of a form body. A field sent twice keeps its first value.
pub struct FormFields(pub HashMap<String, String>);

impl FormFields {
    /// A field's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut fields = HashMap::new();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(request, state)
                .await
                .map_err(|_| bad_body("the multipart body could not be read"))?;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|_| bad_body("the multipart body could not be read"))?
            {
                let name = field.name().unwrap_or_default().to_owned();
                let value = field
                    .text()
                    .await
                    .map_err(|_| bad_body("a multipart field is not text"))?;
                fields.entry(name).or_insert(value);
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let body = Bytes::from_request(request, state)
                .await
                .map_err(|_| bad_body("the body could not be read"))?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|_| bad_body("the form body is malformed"))?;
            for (name, value) in pairs {
                fields.entry(name).or_insert(value);
            }
        } else {
            return Err(bad_body(
                "send a form: application/x-www-form-urlencoded or multipart/form-data",
            ));
        }
        Ok(Self(fields))
    }
}

fn bad_body(description: &str) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        &OAuthErrorCode::InvalidRequest,
        Some(description),
    )
    .into_response()
}
