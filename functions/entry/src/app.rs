//! `GET /app` and `POST /logout`, behind the authorizer: the landing page a signed-in user sees
//! until the recipient-list application arrives, and sign-out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use outpost_shared::app_session::{self, SESSION_COOKIE};
use outpost_shared::authorized::Authorized;
use outpost_shared::cookies::{self, Site};
use outpost_shared::ids::RecordId;
use serde::Deserialize;

use crate::EntryState;
use crate::error::{EntryError, Wants};
use crate::forms;
use crate::pages::{self, AppPage, Framing, Page, RecordContext, SignedOutPage};

const CSRF_PURPOSE: &str = "logout";

#[derive(Deserialize)]
pub struct AppQuery {
    rid: Option<String>,
}

/// The session token's hash from the cookie: what the logout CSRF token binds to.
fn session_hash(headers: &HeaderMap) -> Option<String> {
    let values = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
    cookies::find(values, SESSION_COOKIE).map(app_session::token_hash)
}

/// `GET /app`.
pub async fn landing(
    State(state): State<Arc<EntryState>>,
    who: Authorized,
    headers: HeaderMap,
    query: Result<Query<AppQuery>, QueryRejection>,
) -> Response {
    let policy = state.services.config.host_policy;
    let result = async {
        let org = state.active_org(&who.org_id).await?;
        let host = org.host(policy).map_err(|_| EntryError::HostNotAllowed)?;
        let mapping =
            state.services.store.get_user(&who.org_id, &who.user_id).await.map_err(|_| EntryError::StoreUnavailable)?;
        // Record context is a courtesy: a malformed query (a repeated `rid`) is ignored like a bad id.
        let record = query
            .ok()
            .and_then(|Query(query)| query.rid)
            .and_then(|rid| RecordId::parse(&rid).ok())
            .map(|rid| RecordContext { object: rid.object().api_name(), id: rid.to_string() });
        let csrf = state.signer().await?.csrf_token(CSRF_PURPOSE, &session_hash(&headers).unwrap_or_default());
        let page = AppPage {
            page: Page::new("Home"),
            display_name: mapping.map_or_else(|| who.user_id.to_string(), |m| m.display_name),
            user_id: who.user_id.to_string(),
            org_name: org.name.clone(),
            org_id: who.org_id.to_string(),
            mode: who.mode.as_str(),
            record,
            csrf,
        };
        Ok(pages::html(StatusCode::OK, &page, &page.page, &Framing::org(&host)))
    }
    .await;
    result.unwrap_or_else(|err: EntryError| err.render(Wants::from_headers(&headers), policy))
}

/// `GET /api/v1/me`: who the authorizer let in, for Salesforce-side code checking its access.
pub async fn me(who: Authorized) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "org_id": who.org_id,
        "user_id": who.user_id,
        "mode": who.mode.as_str(),
    }))
}

/// `POST /logout`: deletes the session (CSRF-checked) and clears the cookie.
pub async fn logout(
    State(state): State<Arc<EntryState>>,
    who: Authorized,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let policy = state.services.config.host_policy;
    let result = async {
        let hash = session_hash(&headers).ok_or(EntryError::Csrf)?;
        let mut fields = forms::parse_body(body, &["csrf"])?;
        let csrf = fields.remove("csrf").unwrap_or_default();
        if !state.signer().await?.verify_csrf(CSRF_PURPOSE, &hash, &csrf) {
            return Err(EntryError::Csrf);
        }
        state.services.store.delete_session(&hash).await.map_err(|_| EntryError::StoreUnavailable)?;
        tracing::info!(org = %who.org_id, user = %who.user_id, "signed out");
        let org = state.active_org(&who.org_id).await?;
        let host = org.host(policy).map_err(|_| EntryError::HostNotAllowed)?;
        let page = SignedOutPage { page: Page::new("Signed out") };
        let mut response = pages::html(StatusCode::OK, &page, &page.page, &Framing::org(&host));
        if let Ok(clear) = HeaderValue::from_str(&cookies::clear(SESSION_COOKIE, "/", Site::CrossSite)) {
            response.headers_mut().append(header::SET_COOKIE, clear);
        }
        Ok(response)
    }
    .await;
    result.unwrap_or_else(|err: EntryError| err.render(Wants::from_headers(&headers), policy))
}
