//! SSO with Salesforce (docs/flows.md#sso-with-pkce): the OAuth 2.0 web-server flow with PKCE (S256) and `state`
//! against the org's pinned My Domain host. It identifies new users and is the way in whenever a
//! link's session cannot be used from a server. The access token is used once, for userinfo, and
//! dropped.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use outpost_shared::cookies::{self, Site};
use outpost_shared::crypto::{self, constant_time_eq};
use outpost_shared::hosts::SalesforceHost;
use outpost_shared::identity;
use outpost_shared::ids::{OrgId, RecordId};
use outpost_shared::salesforce::{AuthorizationCode, SalesforceError};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::EntryState;
use crate::admission::{Landing, admit};
use crate::error::{EntryError, Wants};

const SSO_COOKIE: &str = "outpost_sso";
const SSO_PURPOSE: &str = "sso-state";
/// Time allowed to sign in at Salesforce.
const SSO_LIFETIME: Duration = Duration::from_secs(10 * 60);
const SCOPE: &str = "openid profile email";

/// What the browser carries between `/sso/start` and `/sso/callback`.
#[derive(Debug, Serialize, Deserialize)]
struct SsoState {
    org: OrgId,
    state: String,
    verifier: String,
    record: Option<RecordId>,
}

/// Outpost's base URL: configured, or this request's host (API Gateway answers only its own).
fn public_url(state: &EntryState, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = &state.services.config.public_url {
        return Some(url.clone());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plausible =
        !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    plausible.then(|| format!("https://{host}"))
}

fn query_pairs(query: Option<&str>) -> Result<std::collections::HashMap<String, String>, EntryError> {
    let mut pairs = std::collections::HashMap::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if pairs.insert(name.into_owned(), value.into_owned()).is_some() {
            return Err(EntryError::InvalidLink("a parameter appears twice"));
        }
    }
    Ok(pairs)
}

/// `GET /sso/start?org=<oid>[&rid=]`: redirects to the org's authorize endpoint.
pub async fn start(State(state): State<Arc<EntryState>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let policy = state.services.config.host_policy;
    let result = async {
        let mut params = query_pairs(query.as_deref())?;
        let org_id = params
            .remove("org")
            .and_then(|org| OrgId::parse(&org).ok())
            .ok_or(EntryError::InvalidLink("org is not a Salesforce organization id"))?;
        let record = params
            .remove("rid")
            .map(|rid| RecordId::parse(&rid).map_err(|_| EntryError::InvalidLink("rid is not a Contact or Lead id")))
            .transpose()?;
        let org = state.active_org(&org_id).await?;
        let host = org.host(policy).map_err(|_| EntryError::HostNotAllowed)?;
        let client = state.oauth_client(&org).await?;
        let base = public_url(&state, &headers).ok_or(EntryError::Misconfigured)?;
        let sso = SsoState { org: org_id, state: crypto::random_token(), verifier: crypto::random_token(), record };
        let challenge = URL_SAFE_NO_PAD.encode(crypto::sha256(sso.verifier.as_bytes()));
        let endpoint = host.url("/services/oauth2/authorize?");
        // The pairs start after the `?`: `new` would put a stray `&` before the first one.
        let start = endpoint.len();
        let authorize = url::form_urlencoded::Serializer::for_suffix(endpoint, start)
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", &format!("{base}/sso/callback"))
            .append_pair("scope", SCOPE)
            .append_pair("state", &sso.state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let sealed = state.signer().await?.seal(SSO_PURPOSE, &sso, SSO_LIFETIME);
        let mut response = StatusCode::FOUND.into_response();
        let headers = response.headers_mut();
        headers.insert(header::LOCATION, HeaderValue::from_str(&authorize).map_err(|_| EntryError::Misconfigured)?);
        let cookie = cookies::set(SSO_COOKIE, &sealed, "/sso", Site::TopLevel, SSO_LIFETIME);
        headers.insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| EntryError::Misconfigured)?);
        Ok::<_, EntryError>(response)
    }
    .await;
    result.unwrap_or_else(|err| err.render(Wants::from_headers(&headers), policy))
}

/// `GET /sso/callback?code=&state=` (or `?error=…&state=`): checks state, exchanges the code,
/// asks userinfo, and continues as a successful entry.
pub async fn callback(State(state): State<Arc<EntryState>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let policy = state.services.config.host_policy;
    let result = async {
        let params = query_pairs(query.as_deref())?;
        let signer = state.signer().await?;
        let values = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
        let sso: SsoState = cookies::find(values, SSO_COOKIE)
            .and_then(|sealed| signer.open(SSO_PURPOSE, sealed).ok())
            .ok_or(EntryError::SsoState)?;
        let returned_state = params.get("state").map(String::as_str).unwrap_or_default();
        if !constant_time_eq(returned_state.as_bytes(), sso.state.as_bytes()) {
            return Err(EntryError::SsoState);
        }
        if let Some(error) = params.get("error") {
            tracing::info!(error = %error.chars().take(64).collect::<String>(), "Salesforce refused the sign-in");
            return Err(EntryError::SsoDenied);
        }
        let code = params.get("code").filter(|c| !c.is_empty()).ok_or(EntryError::SsoFailed)?;
        let org = state.active_org(&sso.org).await?;
        let host: SalesforceHost = org.host(policy).map_err(|_| EntryError::HostNotAllowed)?;
        let client = state.oauth_client(&org).await?;
        let base = public_url(&state, &headers).ok_or(EntryError::Misconfigured)?;
        let redirect_uri = format!("{base}/sso/callback");
        let services = &state.services;
        let token = services
            .salesforce
            .authorization_code_token(
                &host,
                &AuthorizationCode {
                    code,
                    client_id: &client.client_id,
                    client_secret: client.client_secret.expose_secret(),
                    redirect_uri: &redirect_uri,
                    code_verifier: &sso.verifier,
                },
            )
            .await
            .map_err(|err| {
                tracing::warn!(code = err.code(), "authorization code exchange failed");
                match err {
                    SalesforceError::Unreachable | SalesforceError::Timeout | SalesforceError::Unavailable { .. } => {
                        EntryError::SsoUnreachable
                    }
                    _ => EntryError::SsoFailed,
                }
            })?;
        // Identity from the token's own userinfo answer, on the pinned host only.
        let info = identity::confirm(&services.salesforce, &host, &token.access_token, &sso.org, None)
            .await
            .map_err(|err| EntryError::from_identity(err, sso.org))?;
        let mapping = services.store.get_user(&sso.org, &info.user_id).await.map_err(|err| {
            tracing::error!(error = %err, "user mapping lookup failed");
            EntryError::StoreUnavailable
        })?;
        let landing = sso.record.map_or(Landing::Home, Landing::Record);
        let mut response = admit(&state, &org, &info, mapping, landing).await?;
        if let Ok(clear) = HeaderValue::from_str(&cookies::clear(SSO_COOKIE, "/sso", Site::TopLevel)) {
            response.headers_mut().append(header::SET_COOKIE, clear);
        }
        Ok(response)
    }
    .await;
    result.unwrap_or_else(|err| err.render(Wants::from_headers(&headers), policy))
}
