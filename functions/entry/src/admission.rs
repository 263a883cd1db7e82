//! Step 4 of every entry (link, SSO, Canvas): Salesforce has confirmed the user; the org's
//! provisioning mode decides between an Outpost session and onboarding.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use outpost_shared::app_session::SESSION_COOKIE;
use outpost_shared::cookies::{self, Site};
use outpost_shared::crypto;
use outpost_shared::ids::{OrgId, RecordId, UserId};
use outpost_shared::salesforce::UserInfo;
use outpost_shared::store::{MappingSource, OrgRegistration, ProvisioningMode, UserMapping, now_epoch};
use serde::{Deserialize, Serialize};

use crate::EntryState;
use crate::error::EntryError;

/// The pending-onboarding cookie: the identity Salesforce confirmed, signed, short-lived.
pub const PENDING_COOKIE: &str = "outpost_pending";
/// Signing purpose of the pending cookie.
pub const PENDING_PURPOSE: &str = "pending-identity";
/// How long a new user has to finish onboarding.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Who Salesforce says a new user is, carried from entry to onboarding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingIdentity {
    pub org: OrgId,
    pub user: UserId,
    pub name: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub landing: Landing,
    /// Binds the onboarding form's CSRF token to this cookie.
    pub nonce: String,
}

/// Where in the app a user lands once signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Landing {
    Home,
    /// The record the link was on, offered for adding to a list.
    Record(RecordId),
    /// The token of the list-view selection waiting in the store.
    Selection(String),
}

impl Landing {
    /// The app's address for it.
    pub fn location(&self) -> String {
        match self {
            Landing::Home => "/app".to_owned(),
            Landing::Record(record) => format!("/app?rid={record}"),
            Landing::Selection(token) => format!("/app/selections/{token}"),
        }
    }
}

/// A `303 See Other` carrying cookies.
pub fn see_other(location: &str, set_cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    for cookie in set_cookies {
        if let Ok(cookie) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, cookie);
        }
    }
    response
}

pub fn store_failed(err: outpost_shared::store::StoreError) -> EntryError {
    tracing::error!(error = %err, "store write failed");
    EntryError::StoreUnavailable
}

/// Issues an Outpost session and sends the user into the app.
pub async fn sign_in(
    state: &EntryState,
    org: &OrgRegistration,
    user: UserId,
    landing: &Landing,
    extra_cookies: &[String],
) -> Result<Response, EntryError> {
    let issued = state.sessions.issue(org.org_id, user, org.mode, now_epoch());
    state.services.store.create_session(&issued.record).await.map_err(store_failed)?;
    tracing::info!(org = %org.org_id, user = %user, "signed in");
    let mut set_cookies =
        vec![cookies::set(SESSION_COOKIE, &issued.token, "/", Site::CrossSite, state.sessions.cookie_max_age())];
    set_cookies.extend_from_slice(extra_cookies);
    Ok(see_other(&landing.location(), &set_cookies))
}

/// Admits a user Salesforce confirmed: known users (or anyone in an `org_wide` org) get a
/// session; new users of a `per_user` org go to onboarding.
pub async fn admit(
    state: &EntryState,
    org: &OrgRegistration,
    info: &UserInfo,
    mapping: Option<UserMapping>,
    landing: Landing,
) -> Result<Response, EntryError> {
    match (org.mode, mapping) {
        (_, Some(_)) => sign_in(state, org, info.user_id, &landing, &[]).await,
        (ProvisioningMode::OrgWide, None) => {
            let mapping = UserMapping {
                org_id: org.org_id,
                user_id: info.user_id,
                display_name: info.display_name(),
                reply_to: info.email.clone().unwrap_or_default(),
                source: MappingSource::OrgWide,
                consented_at: None,
                created_at: now_epoch(),
            };
            // A concurrent first entry may create it too; either way it exists afterwards.
            state.services.store.create_user(&mapping).await.map_err(store_failed)?;
            sign_in(state, org, info.user_id, &landing, &[]).await
        }
        (ProvisioningMode::PerUser, None) => {
            let pending = PendingIdentity {
                org: org.org_id,
                user: info.user_id,
                name: info.display_name(),
                email: info.email.clone(),
                username: info.preferred_username.clone(),
                landing,
                nonce: crypto::random_token(),
            };
            let sealed = state.signer().await?.seal(PENDING_PURPOSE, &pending, PENDING_LIFETIME);
            let cookie = cookies::set(PENDING_COOKIE, &sealed, "/onboarding", Site::CrossSite, PENDING_LIFETIME);
            tracing::info!(org = %org.org_id, user = %info.user_id, "new user sent to onboarding");
            Ok(see_other("/onboarding", &[cookie]))
        }
    }
}
