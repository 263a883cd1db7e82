//! "Read back through the API": confirm who owns a Salesforce session by asking userinfo on the
//! org's pinned host, and compare Salesforce's answer with what the caller claimed. Identity comes
//! from Salesforce's answer, never from link parameters alone.

use std::time::Duration;

use crate::hosts::SalesforceHost;
use crate::ids::{OrgId, UserId};
use crate::salesforce::{SalesforceClient, SalesforceError, UserInfo};
use crate::tokens::AccessToken;

/// Why a session was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// `Bad_OAuth_Token` (or an expired `INVALID_SESSION_ID`): sign in again.
    #[error("the Salesforce session has expired")]
    SessionExpired,
    /// Valid in the browser, refused to a server: Lightning-context session, IP lock, API access control.
    #[error("Salesforce will not accept this session from Outpost: {0}")]
    SessionNotApiEnabled(String),
    /// Salesforce says the session belongs to another user or org than claimed.
    #[error("the session belongs to another user or organization")]
    Mismatch,
    /// The user exists but is not active.
    #[error("the Salesforce user is not active")]
    Inactive,
    /// Salesforce could not be reached or failed.
    #[error("Salesforce is unavailable: {0}")]
    Unavailable(String),
}

impl From<SalesforceError> for IdentityError {
    fn from(err: SalesforceError) -> Self {
        match err {
            SalesforceError::BadOAuthToken | SalesforceError::SessionExpired => IdentityError::SessionExpired,
            SalesforceError::SessionRefused { message, .. } => IdentityError::SessionNotApiEnabled(message),
            SalesforceError::Forbidden { message, .. } => IdentityError::SessionNotApiEnabled(message),
            other => IdentityError::Unavailable(other.code().to_owned()),
        }
    }
}

/// How long Salesforce gets to confirm a session, retries included: a person is waiting, and the
/// functions' own timeout (template.yaml) must not cut Outpost's answer off.
pub const CONFIRM_BUDGET: Duration = Duration::from_secs(5);

/// Asks userinfo who owns `token` and requires the answer to name `org` (and `user`, when the
/// caller claims one) and an active user, all within [`CONFIRM_BUDGET`].
#[tracing::instrument(skip_all, fields(org = %org, token = %token.fingerprint()))]
pub async fn confirm(
    client: &SalesforceClient,
    host: &SalesforceHost,
    token: &AccessToken,
    org: &OrgId,
    user: Option<&UserId>,
) -> Result<UserInfo, IdentityError> {
    let info = tokio::time::timeout(CONFIRM_BUDGET, client.userinfo(host, token))
        .await
        .unwrap_or(Err(SalesforceError::Timeout))?;
    if info.organization_id != *org || user.is_some_and(|user| info.user_id != *user) {
        tracing::warn!(claimed_user = ?user, actual_user = %info.user_id, "session identity mismatch");
        return Err(IdentityError::Mismatch);
    }
    if !info.active {
        return Err(IdentityError::Inactive);
    }
    Ok(info)
}
