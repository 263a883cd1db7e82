//! Salesforce-shaped responses: REST error arrays, Bulk error arrays, OAuth errors, JSON/HTML.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// REST data-API error element: `{"message","errorCode"[,"fields"]}`.
#[derive(Serialize)]
struct RestError<'a> {
    message: &'a str,
    #[serde(rename = "errorCode")]
    error_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a [String]>,
}

/// Bulk 2.0 error element: `{"errorCode","message"}`.
#[derive(Serialize)]
struct BulkError<'a> {
    #[serde(rename = "errorCode")]
    error_code: &'a str,
    message: &'a str,
}

/// OAuth token endpoint error.
#[derive(Serialize)]
struct OAuthError<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// JSON with Salesforce's content type.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => bytes_with(status, "application/json;charset=UTF-8", bytes),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("serialization failed: {e}")),
    }
}

/// Raw bytes with a content type.
pub fn bytes_with(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `[{"message","errorCode"}]`.
pub fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(status, &[RestError { message, error_code: code, fields: None }])
}

/// `[{"message","errorCode","fields"}]`.
pub fn api_error_fields(status: StatusCode, code: &str, message: &str, fields: &[String]) -> Response {
    json(status, &[RestError { message, error_code: code, fields: Some(fields) }])
}

/// `[{"errorCode","message"}]` (Bulk 2.0 and Apex REST shape).
pub fn bulk_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(status, &[BulkError { error_code: code, message }])
}

/// 400 `{"error","error_description"}`.
pub fn oauth_error(error: &str, description: &str) -> Response {
    json(StatusCode::BAD_REQUEST, &OAuthError { error, error_description: description })
}

/// 404 `NOT_FOUND` as the REST API answers unknown resources.
pub fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist")
}

/// 401 for unknown, expired or revoked sessions.
pub fn invalid_session() -> Response {
    api_error(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID", "Session expired or invalid")
}

/// 401 for sessions that exist but may not use the API (Lightning context, IP lock).
pub fn session_not_for_api() -> Response {
    api_error(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID", "This session is not valid for use with the REST API")
}

/// Plain text.
pub fn text(status: StatusCode, body: &str) -> Response {
    bytes_with(status, "text/plain;charset=UTF-8", body.as_bytes().to_vec())
}

/// HTML page.
pub fn html(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html;charset=UTF-8")], body).into_response()
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
