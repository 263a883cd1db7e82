//! The recipient-list application users land in (docs/flows.md#recipient-lists): HTML pages at
//! `/app` and a JSON API at `/api/v1`, both behind the authorizer. A marketer builds lists from the
//! org's synced Contacts and Leads, counts and inspects them, and exports them; static lists take
//! the records selected in a Salesforce list view.

mod api;
mod campaign_pages;
pub mod campaigns;
mod definition;
mod error;
mod export;
mod manage;
mod members;
mod pages;
mod selection;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use outpost_shared::authorized::Authorized;
use outpost_shared::hosts::SalesforceHost;
use outpost_shared::lists::{Catalog, Snapshot, SnapshotCache};
use outpost_shared::services::Services;
use outpost_shared::signed::Signer;
use outpost_shared::store::{OrgRegistration, RecipientList, Visibility};
use outpost_shared::web;

pub use error::AppError;
pub use export::Exports;

/// The largest body a list request or form carries (a definition of 50 conditions, or 200 ids).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every request of the app reaches.
pub struct AppState {
    pub services: Services,
    /// Each org's recipients, kept while unchanged.
    pub recipients: SnapshotCache,
    /// Where large exports go on AWS (an S3 bucket); `None` streams them from the function.
    pub exports: Option<Exports>,
    /// How campaigns reach the send function.
    pub campaigns: Arc<dyn campaigns::CampaignTrigger>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("services", &self.services).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(
        services: Services,
        exports: Option<Exports>,
        campaigns: Arc<dyn campaigns::CampaignTrigger>,
    ) -> Arc<Self> {
        Arc::new(Self { services, recipients: SnapshotCache::new(4), exports, campaigns })
    }
}

/// A signed-in user's request context: who, in which org, with what the org allows.
pub(crate) struct Context {
    pub who: Authorized,
    pub org: OrgRegistration,
    pub catalog: Catalog,
    /// The org's Salesforce, where member links point.
    pub salesforce: SalesforceHost,
}

/// The JSON API's handlers start with their context; a refusal answers in JSON.
impl FromRequestParts<Arc<AppState>> for Context {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Response> {
        let who = Authorized::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        state.context(who).await.map_err(IntoResponse::into_response)
    }
}

impl Context {
    /// The owner lists are limited to under the org's `owner` visibility.
    pub fn owner(&self) -> Option<&str> {
        (self.org.settings.visibility == Visibility::Owner).then_some(self.who.user_id.as_str())
    }

    /// Whether this user may see `list`: any of the org's lists, or under `owner` visibility
    /// only their own.
    pub fn may_see(&self, list: &RecipientList) -> bool {
        self.owner().is_none_or(|owner| list.owner_id.as_str() == owner)
    }
}

impl AppState {
    /// The org of `who` (registered and active) and the fields its lists can use.
    pub(crate) async fn context(&self, who: Authorized) -> Result<Context, AppError> {
        let store = &self.services.store;
        let (org, fields) = tokio::join!(store.get_org(&who.org_id), store.org_fields(&who.org_id));
        let org = org.map_err(AppError::store)?.filter(|org| org.is_active()).ok_or_else(AppError::org_inactive)?;
        let catalog = Catalog::new(&fields.map_err(AppError::store)?.fields);
        let salesforce = org.host(self.services.config.host_policy).map_err(|_| AppError::host_not_allowed())?;
        Ok(Context { who, org, catalog, salesforce })
    }

    /// The org's recipients as of now.
    pub(crate) async fn snapshot(&self, context: &Context) -> Result<Arc<Snapshot>, AppError> {
        self.recipients.get(self.services.store.as_ref(), &context.who.org_id).await.map_err(AppError::store)
    }

    /// The signer of CSRF tokens (the app secret's key, shared with the entry function).
    pub(crate) async fn signer(&self) -> Result<Signer, AppError> {
        self.services.app_signer().await.map_err(|err| {
            tracing::error!(error = %err, "app secret unavailable");
            AppError::misconfigured()
        })
    }
}

/// Campaign routes take bodies of up to two 1 MB templates.
fn campaign_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/campaigns", get(campaigns::api_list).post(campaigns::api_create))
        .route("/api/v1/campaigns/{id}", get(campaigns::api_get))
        .route("/api/v1/campaigns/{id}/recipients", get(campaigns::api_recipients))
        .route("/api/v1/campaigns/{id}/results.csv", get(campaigns::api_results))
        .route("/api/v1/campaigns/{id}/{action}", post(campaigns::api_action))
        .route("/app/campaigns", get(campaign_pages::index).post(campaign_pages::create))
        .route("/app/campaigns/new", get(campaign_pages::new_campaign))
        .route("/app/campaigns/{id}", get(campaign_pages::view))
        .route("/app/campaigns/{id}/results.csv", get(campaign_pages::results))
        .route("/app/campaigns/{id}/preview.html", get(campaign_pages::preview_document))
        .route("/app/campaigns/{id}/{action}", post(campaign_pages::act))
        .layer(axum::extract::DefaultBodyLimit::max(campaigns::MAX_CAMPAIGN_BODY))
}

/// The app's routes: `/app/*` for people (cookie), `/api/*` for Salesforce-side code (Bearer).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/app", get(pages::index))
        .route("/app/static/app.js", get(pages::script))
        .route("/app/lists", post(pages::create))
        .route("/app/lists/new", get(pages::new_list))
        .route("/app/lists/preview", post(pages::preview))
        .route("/app/lists/{id}", get(pages::view).post(pages::update))
        .route("/app/lists/{id}/edit", get(pages::edit))
        .route("/app/lists/{id}/duplicate", post(pages::duplicate))
        .route("/app/lists/{id}/delete", get(pages::confirm_delete).post(pages::delete))
        .route("/app/lists/{id}/members", get(pages::members))
        .route("/app/lists/{id}/members/remove", post(pages::remove_members))
        .route("/app/lists/{id}/export", get(export::page))
        .route("/app/selections", post(selection::from_record))
        .route("/app/selections/{token}", get(selection::show).post(selection::add))
        .route("/api/v1/me", get(api::me))
        .route("/api/v1/lists", get(api::lists).post(api::create))
        .route("/api/v1/lists/preview", post(api::preview))
        .route("/api/v1/lists/{id}", get(api::list).patch(api::update).delete(api::delete))
        .route("/api/v1/lists/{id}/members", get(api::members).post(api::add_members).delete(api::remove_members))
        .route("/api/v1/lists/{id}/export", get(export::api))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .merge(campaign_routes())
        .layer(middleware::from_fn(web::private_answers))
        .with_state(state)
}
