//! Session validation: the HTTP API Lambda REQUEST authorizer (payload 2.0, simple responses).
//!
//! Two identities are accepted: the `__Host-outpost_session` cookie (one store read), or
//! `Authorization: Bearer <Salesforce session id>` with `X-Salesforce-Instance: <host>` for
//! Salesforce-side code, checked like `/entry` and cached by SHA-256 of the session id for at most
//! five minutes. Anything expired, revoked, forged or malformed is simply not authorized.

use std::time::Duration;

use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_http::lambda_runtime::LambdaEvent;
use outpost_shared::app_session::{self, SESSION_COOKIE, SessionPolicy};
use outpost_shared::hosts::SalesforceHost;
use outpost_shared::ids::OrgId;
use outpost_shared::services::Services;
use outpost_shared::store::{ProvisioningMode, ValidatedSession, now_epoch};
use outpost_shared::tokens::{self, SessionId};
use outpost_shared::{cookies, crypto, identity};

pub use outpost_shared::authorized::Authorized;

/// Validated Salesforce sessions are trusted again without asking Salesforce for this long.
pub const VALIDATED_SESSION_TTL: Duration = Duration::from_secs(300);

/// What the authorizer needs.
#[derive(Debug, Clone)]
pub struct AuthorizerState {
    pub services: Services,
    pub sessions: SessionPolicy,
}

/// The parts of a request the authorizer looks at.
#[derive(Debug, Default)]
pub struct Credentials<'a> {
    /// `Cookie` header values (or API Gateway's `cookies` entries).
    pub cookies: Vec<&'a str>,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The `X-Salesforce-Instance` header.
    pub instance: Option<&'a str>,
}

impl<'a> Credentials<'a> {
    /// The credentials a route takes, as template.yaml's two authorizers read them: `/api/*` takes
    /// `Authorization` + `X-Salesforce-Instance` (Salesforce-side code), every other protected route
    /// the `Cookie` header. `None` when the route's identity source is absent: API Gateway answers
    /// 401 then, without asking the authorizer.
    pub fn for_route(
        path: &str,
        cookies: Vec<&'a str>,
        authorization: Option<&'a str>,
        instance: Option<&'a str>,
    ) -> Option<Self> {
        if path.starts_with("/api/") {
            let (authorization, instance) = (authorization?, instance?);
            Some(Self { cookies: Vec::new(), authorization: Some(authorization), instance: Some(instance) })
        } else {
            (!cookies.is_empty()).then_some(Self { cookies, authorization: None, instance: None })
        }
    }
}

/// Why a request was refused: logged, never returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoCredentials,
    MalformedCredentials,
    UnknownSession,
    UnknownOrg,
    HostMismatch,
    SalesforceRefused,
    NotOnboarded,
    StoreUnavailable,
}

/// Decides whether a request may pass.
#[tracing::instrument(skip_all, fields(kind))]
pub async fn authorize(state: &AuthorizerState, credentials: &Credentials<'_>) -> Result<Authorized, Refusal> {
    if let Some(authorization) = credentials.authorization {
        tracing::Span::current().record("kind", "bearer");
        return bearer(state, authorization, credentials.instance).await;
    }
    tracing::Span::current().record("kind", "cookie");
    let token = cookies::find(credentials.cookies.iter().copied(), SESSION_COOKIE).ok_or(Refusal::NoCredentials)?;
    if !crypto::is_random_token(token) {
        return Err(Refusal::MalformedCredentials);
    }
    let now = now_epoch();
    let session = state
        .services
        .store
        .get_session(&app_session::token_hash(token))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "session store unavailable");
            Refusal::StoreUnavailable
        })?
        .filter(|session| app_session::is_live(session, now))
        .ok_or(Refusal::UnknownSession)?;
    if let Some(slid) = state.sessions.slide(&session, now)
        && let Err(err) = state.services.store.extend_session(&slid).await
    {
        // The session is valid either way; a failed slide only shortens it.
        tracing::warn!(error = %err, "could not extend the session");
    }
    Ok(Authorized { org_id: session.org_id, user_id: session.user_id, mode: session.mode })
}

async fn bearer(state: &AuthorizerState, authorization: &str, instance: Option<&str>) -> Result<Authorized, Refusal> {
    let raw = tokens::bearer_token(authorization).ok_or(Refusal::MalformedCredentials)?;
    let org_id = raw.get(..15).and_then(|prefix| OrgId::parse(prefix).ok()).ok_or(Refusal::MalformedCredentials)?;
    let sid = SessionId::parse(raw, &org_id).map_err(|_| Refusal::MalformedCredentials)?;
    let policy = state.services.config.host_policy;
    let instance =
        instance.and_then(|host| SalesforceHost::from_host(host, policy).ok()).ok_or(Refusal::MalformedCredentials)?;
    let store = &state.services.store;
    let unavailable = |err: outpost_shared::store::StoreError| {
        tracing::error!(error = %err, "store unavailable");
        Refusal::StoreUnavailable
    };
    let org =
        store.get_org(&org_id).await.map_err(unavailable)?.filter(|org| org.is_active()).ok_or(Refusal::UnknownOrg)?;
    // The session id only ever goes to the host pinned for its org.
    if org.host(policy).ok().as_ref() != Some(&instance) {
        return Err(Refusal::HostMismatch);
    }
    let sid_hash = sid.token().sha256_hex();
    if let Some(cached) = store.get_validated(&sid_hash).await.map_err(unavailable)?
        && cached.org_id == org_id
    {
        return Ok(Authorized { org_id, user_id: cached.user_id, mode: org.mode });
    }
    let info =
        identity::confirm(&state.services.salesforce, &instance, sid.token(), &org_id, None).await.map_err(|err| {
            tracing::info!(error = %err, "Salesforce did not confirm the bearer session");
            Refusal::SalesforceRefused
        })?;
    if org.mode == ProvisioningMode::PerUser
        && store.get_user(&org_id, &info.user_id).await.map_err(unavailable)?.is_none()
    {
        return Err(Refusal::NotOnboarded);
    }
    let validated = ValidatedSession {
        sid_hash,
        org_id,
        user_id: info.user_id,
        expires_at: now_epoch() + VALIDATED_SESSION_TTL.as_secs() as i64,
    };
    if let Err(err) = store.put_validated(&validated).await {
        tracing::warn!(error = %err, "could not cache the validated session");
    }
    Ok(Authorized { org_id, user_id: info.user_id, mode: org.mode })
}

/// The simple response for a decision.
pub type SimpleResponse = ApiGatewayV2CustomAuthorizerSimpleResponse<serde_json::Value>;

/// The Lambda handler: reads the payload-2.0 event, answers a simple response.
pub async fn handle(
    state: &AuthorizerState,
    event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>,
) -> Result<SimpleResponse, std::convert::Infallible> {
    let request = &event.payload;
    let header = |name: &str| request.headers.get(name).and_then(|value| value.to_str().ok());
    let mut cookie_values: Vec<&str> = request.cookies.iter().map(String::as_str).collect();
    cookie_values.extend(header("cookie"));
    let path = request.raw_path.as_deref().unwrap_or_default();
    let mut response = SimpleResponse::default();
    let Some(credentials) =
        Credentials::for_route(path, cookie_values, header("authorization"), header("x-salesforce-instance"))
    else {
        tracing::info!(refusal = ?Refusal::NoCredentials, "not authorized");
        return Ok(response);
    };
    match authorize(state, &credentials).await {
        Ok(who) => {
            response.is_authorized = true;
            response.context = serde_json::to_value(who.to_context()).unwrap_or_default();
        }
        Err(refusal) => tracing::info!(?refusal, "not authorized"),
    }
    Ok(response)
}
