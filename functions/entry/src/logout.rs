//! `POST /logout`, behind the authorizer: deletes the Outpost session and clears its cookie.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use outpost_shared::app_session::{self, LOGOUT_CSRF, SESSION_COOKIE};
use outpost_shared::authorized::Authorized;
use outpost_shared::cookies::{self, Site};

use crate::EntryState;
use crate::error::{EntryError, Wants};
use crate::forms;
use crate::pages::{self, Framing, Page, SignedOutPage};

/// The session token's hash from the cookie: what the logout CSRF token binds to.
fn session_hash(headers: &HeaderMap) -> Option<String> {
    app_session::session_hash_of(headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()))
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
        if !state.signer().await?.verify_csrf(LOGOUT_CSRF, &hash, &csrf) {
            return Err(EntryError::Csrf);
        }
        state.services.store.delete_session(&hash).await.map_err(|_| EntryError::StoreUnavailable)?;
        tracing::info!(org = %who.org_id, user = %who.user_id, "signed out");
        let org = state.active_org(&who.org_id).await?;
        let host = org.host(policy).map_err(|_| EntryError::HostNotAllowed)?;
        let page = SignedOutPage { page: Page::new("Signed out") };
        let mut response = pages::html(StatusCode::OK, &page, &page.page, &Framing::org(&host, org.namespace.as_ref()));
        if let Ok(clear) = HeaderValue::from_str(&cookies::clear(SESSION_COOKIE, "/", Site::CrossSite)) {
            response.headers_mut().append(header::SET_COOKIE, clear);
        }
        Ok(response)
    }
    .await;
    result.unwrap_or_else(|err: EntryError| err.render(Wants::from_headers(&headers), policy))
}
