//! Callout authentication: the Named Credential's External Credential adds
//! `Authorization: Bearer <per-org callout key>`; Apex adds `X-Outpost-Org: <org id>`. The key
//! lives in the secret store and is compared in constant time.

use axum::http::HeaderMap;
use outpost_shared::crypto::constant_time_eq;
use outpost_shared::ids::OrgId;
use outpost_shared::secrets::CalloutKey;
use outpost_shared::store::OrgRegistration;
use outpost_shared::tokens;
use secrecy::ExposeSecret;

use crate::ApexState;
use crate::error::ApiError;

/// Checks the callout's credentials and returns its org's registration.
pub async fn authenticate(state: &ApexState, headers: &HeaderMap) -> Result<OrgRegistration, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let presented = header("authorization").and_then(tokens::bearer_token).ok_or(ApiError::Unauthenticated)?;
    let org_id =
        header("x-outpost-org").and_then(|org| OrgId::parse(org.trim()).ok()).ok_or(ApiError::Unauthenticated)?;
    let org = state
        .services
        .store
        .get_org(&org_id)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "org lookup failed");
            ApiError::StoreUnavailable
        })?
        .ok_or_else(|| {
            // Refused as a wrong key is, so the answer never tells which org ids are registered.
            tracing::info!(org = %org_id, "callout for an org that is not registered");
            ApiError::Unauthenticated
        })?;
    if !org.is_active() {
        tracing::info!(org = %org_id, "callout for an inactive org");
        return Err(ApiError::Unauthenticated);
    }
    let expected: CalloutKey = state.services.secrets.json(&org.secrets.callout_key).await.map_err(|err| {
        tracing::error!(error = %err, org = %org_id, "callout key unavailable");
        ApiError::Misconfigured
    })?;
    if !constant_time_eq(presented.as_bytes(), expected.key.expose_secret().as_bytes()) {
        return Err(ApiError::Unauthenticated);
    }
    Ok(org)
}
