//! The app's failures: a stable code, an HTTP status and a message; JSON for the API and for the
//! list builder's script, an HTML page for people.

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use outpost_shared::lists::ListError;
use outpost_shared::store::StoreError;
use outpost_shared::web::{self, Framing, Page, Scripts};

/// A refused or failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Where in the request, for a bad field.
    pub path: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorView<'a> {
    page: Page,
    error: &'a AppError,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), path: None }
    }

    pub fn list_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "list_not_found", "no such list in this organization")
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "the form expired or did not come from Outpost: reload the page and try again",
        )
    }

    pub fn org_inactive() -> Self {
        Self::new(StatusCode::FORBIDDEN, "org_inactive", "this organization's Outpost registration is not active")
    }

    pub fn host_not_allowed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            "this organization's Salesforce address is not one Outpost serves",
        )
    }

    pub fn list_changed() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "list_changed",
            "someone else changed this list meanwhile: reload it and make your change again",
        )
    }

    pub fn misconfigured() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", "Outpost's configuration is incomplete")
    }

    pub fn store(err: StoreError) -> Self {
        tracing::error!(error = %err, "store failed");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "Outpost's storage is unavailable; try again")
    }

    /// The message as a sentence for a page: a capital first letter and a full stop.
    pub fn sentence(&self) -> String {
        sentence(&self.message)
    }

    /// The JSON answer: `{"error": {"code", "message"[, "path"]}}`.
    pub fn json(&self) -> Response {
        let mut error = serde_json::json!({"code": self.code, "message": self.message});
        if let Some(path) = &self.path {
            error["path"] = serde_json::Value::String(path.clone());
        }
        (self.status, Json(serde_json::json!({"error": error}))).into_response()
    }

    /// The page a person sees.
    pub fn html(&self, framing: &Framing) -> Response {
        let view = ErrorView { page: Page::new("Something went wrong"), error: self };
        web::html(self.status, view.render(), &view.page, framing, Scripts::None)
    }
}

/// `message` (written in lower case, as JSON errors are) as a sentence.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

impl From<ListError> for AppError {
    fn from(err: ListError) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: err.code, message: err.message, path: err.path }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.json()
    }
}
