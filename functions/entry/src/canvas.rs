//! `POST /canvas` (docs/flows.md#canvas): a Canvas signed request, so no token ever travels in a URL.
//! `base64(HMAC-SHA256(consumer secret, payload)) "." base64(JSON)`, standard base64, split on the
//! first `.`, verified in constant time; the context's `client.oauthToken` is then confirmed live.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use outpost_shared::crypto::HmacKey;
use outpost_shared::hosts::SalesforceHost;
use outpost_shared::identity;
use outpost_shared::ids::{OrgId, UserId};
use outpost_shared::tokens::AccessToken;
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::EntryState;
use crate::admission::{Landing, admit};
use crate::error::{EntryError, Wants};
use crate::forms;

#[derive(Deserialize)]
struct SignedRequest {
    #[serde(default)]
    algorithm: Option<String>,
    client: Client,
    context: Context,
}

#[derive(Deserialize)]
struct Client {
    #[serde(rename = "oauthToken")]
    oauth_token: String,
    #[serde(rename = "instanceUrl")]
    instance_url: String,
}

/// The verified context; its organization is the one already read to pick the secret.
#[derive(Deserialize)]
struct Context {
    user: ContextUser,
}

#[derive(Deserialize)]
struct ContextUser {
    #[serde(rename = "userId")]
    user_id: String,
}

#[derive(Deserialize)]
struct ContextOrganization {
    #[serde(rename = "organizationId")]
    organization_id: String,
}

/// The org a payload claims, read before verification only to find which secret verifies it.
#[derive(Deserialize)]
struct ClaimedOrg {
    context: ClaimedContext,
}

#[derive(Deserialize)]
struct ClaimedContext {
    organization: ContextOrganization,
}

/// Decodes base64 the way the Canvas SDK does: standard alphabet, URL-safe tolerated.
fn decode(text: &str) -> Option<Vec<u8>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(text).ok())
}

/// `POST /canvas`.
pub async fn enter(
    State(state): State<Arc<EntryState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let policy = state.services.config.host_policy;
    let result = async {
        let mut fields = forms::parse_body(body, &["signed_request"])?;
        let signed = fields.remove("signed_request").ok_or(EntryError::CanvasInvalid("signed_request is missing"))?;
        let (signature, payload) = signed.split_once('.').ok_or(EntryError::CanvasInvalid("not a signed request"))?;
        let signature =
            decode(signature).filter(|s| s.len() == 32).ok_or(EntryError::CanvasInvalid("malformed signature"))?;
        let json = decode(payload).ok_or(EntryError::CanvasInvalid("malformed payload"))?;
        let claimed: ClaimedOrg =
            serde_json::from_slice(&json).map_err(|_| EntryError::CanvasInvalid("malformed payload"))?;
        let org_id = OrgId::parse(&claimed.context.organization.organization_id)
            .map_err(|_| EntryError::CanvasInvalid("malformed organization id"))?;
        let org = state.active_org(&org_id).await?;
        let client = state.oauth_client(&org).await?;
        if !HmacKey::new(client.client_secret.expose_secret().as_bytes()).verify(payload.as_bytes(), &signature) {
            return Err(EntryError::CanvasInvalid("the signature does not match"));
        }
        // Verified: from here the payload is Salesforce's word.
        let request: SignedRequest =
            serde_json::from_slice(&json).map_err(|_| EntryError::CanvasInvalid("incomplete context"))?;
        if request.algorithm.as_deref().is_some_and(|a| a != "HMACSHA256") {
            return Err(EntryError::CanvasInvalid("unsupported algorithm"));
        }
        let user =
            UserId::parse(&request.context.user.user_id).map_err(|_| EntryError::CanvasInvalid("malformed user id"))?;
        let pinned = org.host(policy).map_err(|_| EntryError::HostNotAllowed)?;
        let instance =
            SalesforceHost::from_url(&request.client.instance_url, policy).map_err(|_| EntryError::HostNotAllowed)?;
        if instance != pinned {
            return Err(EntryError::HostNotAllowed);
        }
        let services = &state.services;
        let token = AccessToken::new(request.client.oauth_token);
        let (confirmed, mapping) = tokio::join!(
            identity::confirm(&services.salesforce, &pinned, &token, &org_id, Some(&user)),
            services.store.get_user(&org_id, &user),
        );
        let info = confirmed.map_err(|err| EntryError::from_identity(err, org_id))?;
        let mapping = mapping.map_err(|err| {
            tracing::error!(error = %err, "user mapping lookup failed");
            EntryError::StoreUnavailable
        })?;
        admit(&state, &org, &info, mapping, Landing::Home).await
    }
    .await;
    result.unwrap_or_else(|err| err.render(Wants::from_headers(&headers), policy))
}
