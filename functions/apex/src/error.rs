//! Errors of the Apex-facing API: always JSON `{"error": {"code", "message"[, "path"]}}` with a
//! stable code, because the caller is Apex code that branches on it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A refused or failed callout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Missing or wrong callout key, or an org that is not registered or not active: alike, so
    /// the answer does not reveal which org ids are registered.
    Unauthenticated,
    PayloadTooLarge,
    UnsupportedMediaType,
    InvalidJson(String),
    /// The payload does not follow the schema; `path` names the field.
    InvalidPayload {
        path: String,
        message: String,
    },
    /// A record's `SystemModstamp` is further ahead of Outpost's clock than skew explains:
    /// stored, it would make every later change of the record look older.
    ModstampInFuture {
        path: String,
    },
    IdempotencyKeyMissing,
    IdempotencyKeyInvalid,
    /// The key was used before with a different body.
    IdempotencyKeyReused,
    /// The first request with this key is still being processed: retry later.
    IdempotencyInProgress,
    StoreUnavailable,
    Misconfigured,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::InvalidJson(_)
            | ApiError::InvalidPayload { .. }
            | ApiError::ModstampInFuture { .. }
            | ApiError::IdempotencyKeyMissing
            | ApiError::IdempotencyKeyInvalid => StatusCode::BAD_REQUEST,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::IdempotencyInProgress => StatusCode::CONFLICT,
            ApiError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidPayload { .. } => "invalid_payload",
            ApiError::ModstampInFuture { .. } => "modstamp_in_future",
            ApiError::IdempotencyKeyMissing => "idempotency_key_missing",
            ApiError::IdempotencyKeyInvalid => "idempotency_key_invalid",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::IdempotencyInProgress => "idempotency_in_progress",
            ApiError::StoreUnavailable => "store_unavailable",
            ApiError::Misconfigured => "misconfigured",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => {
                "the callout key is missing or wrong for this org, or the org cannot use Outpost \
                 (Authorization: Bearer <key>, X-Outpost-Org: <org id>)"
                    .into()
            }
            ApiError::PayloadTooLarge => format!("the body exceeds {} bytes", crate::MAX_BODY_BYTES),
            ApiError::UnsupportedMediaType => "send Content-Type: application/json".into(),
            ApiError::InvalidJson(reason) => format!("the body is not JSON: {reason}"),
            ApiError::InvalidPayload { message, .. } => message.clone(),
            ApiError::ModstampInFuture { .. } => format!(
                "SystemModstamp is more than {} seconds ahead of Outpost's clock; nothing was applied",
                crate::records::MAX_CLOCK_SKEW_SECONDS
            ),
            ApiError::IdempotencyKeyMissing => "every POST carries an Idempotency-Key header".into(),
            ApiError::IdempotencyKeyInvalid => "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
            ApiError::IdempotencyKeyReused => "this Idempotency-Key was used with a different body".into(),
            ApiError::IdempotencyInProgress => {
                "a request with this Idempotency-Key is still being processed; retry".into()
            }
            ApiError::StoreUnavailable => "Outpost's storage is unavailable; retry".into(),
            ApiError::Misconfigured => "Outpost cannot read this org's callout key".into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code(), "message": self.message() });
        if let ApiError::InvalidPayload { path, .. } | ApiError::ModstampInFuture { path } = self {
            error["path"] = serde_json::Value::String(path.clone());
        }
        serde_json::json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::warn!(code = self.code(), "callout failed");
        } else {
            tracing::info!(code = self.code(), "callout refused");
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if self == ApiError::Unauthenticated {
            // A 401 names the scheme to authenticate with (RFC 9110 §11.6.1).
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
