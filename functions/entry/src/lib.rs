//! Custom-link, web-tab and formula-link entry; Canvas entry; SSO login; onboarding; and the
//! landing page behind the authorizer. docs/flows.md describes each.

mod admission;
mod canvas;
mod error;
mod forms;
mod link;
mod logout;
mod onboarding;
mod pages;
mod sso;

use std::sync::Arc;

use axum::middleware;
use axum::routing::{get, post};
use axum::{Json, Router};
use outpost_shared::app_session::SessionPolicy;
use outpost_shared::ids::OrgId;
use outpost_shared::secrets::{AppSecret, OAuthClientSecret};
use outpost_shared::services::Services;
use outpost_shared::signed::Signer;
use outpost_shared::store::OrgRegistration;
use outpost_shared::web;

pub use error::{EntryError, Wants};
pub use link::EntryLink;

/// What every entry request reaches.
#[derive(Debug, Clone)]
pub struct EntryState {
    pub services: Services,
    pub sessions: SessionPolicy,
}

impl EntryState {
    pub fn new(services: Services) -> Arc<Self> {
        Arc::new(Self { services, sessions: SessionPolicy::default() })
    }

    /// The org's registration, which must exist and be active.
    async fn active_org(&self, org: &OrgId) -> Result<OrgRegistration, EntryError> {
        let registration = self.services.store.get_org(org).await.map_err(|err| {
            tracing::error!(error = %err, "org lookup failed");
            EntryError::StoreUnavailable
        })?;
        match registration {
            None => Err(EntryError::OrgNotRegistered),
            Some(org) if !org.is_active() => Err(EntryError::OrgInactive),
            Some(org) => Ok(org),
        }
    }

    async fn app_secret(&self) -> Result<AppSecret, EntryError> {
        self.services.secrets.json::<AppSecret>(&self.services.config.app_secret_name).await.map_err(|err| {
            tracing::error!(error = %err, "app secret unavailable");
            EntryError::Misconfigured
        })
    }

    /// The signer for cookies and CSRF tokens.
    async fn signer(&self) -> Result<Signer, EntryError> {
        Ok(self.app_secret().await?.signer())
    }

    /// The OAuth client (SSO, Canvas) of `org`: its own, or the packaged app's.
    async fn oauth_client(&self, org: &OrgRegistration) -> Result<OAuthClientSecret, EntryError> {
        let client = match &org.secrets.oauth_client {
            Some(name) => self.services.secrets.json(name).await.map_err(|err| {
                tracing::error!(error = %err, "org OAuth client secret unavailable");
                EntryError::Misconfigured
            })?,
            None => {
                let app = self.app_secret().await?;
                OAuthClientSecret { client_id: app.oauth_client_id, client_secret: app.oauth_client_secret }
            }
        };
        if !client.is_configured() {
            tracing::error!(org = %org.org_id, "the OAuth client's key and secret are not set (still the placeholder)");
            return Err(EntryError::Misconfigured);
        }
        Ok(client)
    }
}

/// The entry function's routes. `/app`, `/logout` and `/api/*` sit behind the authorizer
/// (template.yaml, and the local stack's middleware).
pub fn router(state: Arc<EntryState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/entry", get(link::entry).post(link::entry_form))
        .route("/onboarding", get(onboarding::show).post(onboarding::submit))
        .route("/sso/start", get(sso::start))
        .route("/sso/callback", get(sso::callback))
        .route("/canvas", post(canvas::enter))
        .route("/logout", post(logout::logout))
        .layer(axum::extract::DefaultBodyLimit::max(forms::MAX_FORM_BYTES))
        // Every entry answer may follow a link that carried a session id.
        .layer(middleware::from_fn(web::private_answers))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "function": "entry" }))
}
