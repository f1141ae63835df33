//! `ApiError`: every error answer of the server, as a status and a JSON body
//! `{"error": "..."}`. Never HTML, never internal details.

use axum::http::header::RETRY_AFTER;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use peercloud_core::Refusal;
use serde_json::{json, Value};

use super::HANDLER_FAILED;

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Value,
    /// Seconds for a `Retry-After` header, when the refused peer should
    /// wait before it asks again.
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({ "error": error.into() }),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error)
    }

    pub(crate) fn handler_failed(message: &str) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: json!({ "error": HANDLER_FAILED, "message": message }),
            retry_after: None,
        }
    }

    pub(crate) fn shutting_down() -> Self {
        ApiError::from(Refusal::ShuttingDown)
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError {
            // Whole seconds, rounded up: "0" would send it back at once.
            retry_after: refusal
                .retry_after()
                .map(|wait| wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            ..ApiError::new(status, refusal.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, secs.into());
        }
        response
    }
}
