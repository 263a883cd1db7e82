//! The receiver of Apex callouts (docs/flows.md#apex-callouts): Contact/Lead changes from triggers, "sync now", and a
//! health check for the admin's "Test connection" button. Every POST is idempotent by its
//! `Idempotency-Key`: Salesforce's retries are applied once and answered with the saved response.

mod auth;
mod error;
mod records;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use outpost_shared::ids::OrgId;
use outpost_shared::salesforce::SfDateTime;
use outpost_shared::services::Services;
use outpost_shared::store::{Created, IdempotencyClaim, OrgRegistration, SavedResponse, StoreError};
use outpost_shared::{crypto, web};

pub use error::ApiError;
pub use records::{RecordOutcome, RecordsResponse, Status};

/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A claimed key lapses after this if its request never finishes (a crashed invocation).
const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(60);
/// Saved responses answer retries for this long.
const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Whether a "sync now" was queued or one already was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncQueued {
    Queued,
    AlreadyQueued,
}

/// Starts an asynchronous sync of an org with the integration user.
#[async_trait]
pub trait SyncTrigger: Send + Sync {
    async fn request(&self, org: &OrgId) -> Result<SyncQueued, StoreError>;
}

/// On AWS: a request item in the table, whose stream record starts the sync function; while it
/// exists (until the run clears it or it expires) further requests are absorbed.
pub struct StoredSyncRequest {
    pub services: Services,
}

/// How long an unanswered request blocks the next one.
pub const SYNC_REQUEST_TTL: Duration = Duration::from_secs(15 * 60);

#[async_trait]
impl SyncTrigger for StoredSyncRequest {
    async fn request(&self, org: &OrgId) -> Result<SyncQueued, StoreError> {
        Ok(match self.services.store.request_sync(org, SYNC_REQUEST_TTL).await? {
            Created::Created => SyncQueued::Queued,
            Created::AlreadyExists => SyncQueued::AlreadyQueued,
        })
    }
}

/// What every callout reaches.
pub struct ApexState {
    pub services: Services,
    pub sync: Arc<dyn SyncTrigger>,
}

/// The apex function's routes.
pub fn router(state: Arc<ApexState>) -> Router {
    Router::new()
        .route("/apex/v1/records", post(receive_records))
        .route("/apex/v1/sync", post(sync_now))
        .route("/apex/v1/health", get(health))
        .layer(axum::extract::DefaultBodyLimit::disable())
        // Answers depend on the org's key: never cached, refusals included.
        .layer(axum::middleware::from_fn(web::private_answers))
        .with_state(state)
}

/// Reads at most [`MAX_BODY_BYTES`] of a JSON body.
async fn json_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiError::PayloadTooLarge)
}

/// Reads a JSON object into `T`: bad syntax (trailing bytes included) is `invalid_json`; valid
/// JSON that does not fit is `invalid_payload`, with the path of the offending field.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Syntax on its own pass: serde_json files some type errors (`null` for an enum) as syntax.
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|err| ApiError::InvalidJson(err.to_string()))?;
    // serde would also fill a struct from an array of its fields; the schema is an object.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::InvalidPayload { path: ".".into(), message: "the body must be a JSON object".into() });
    }
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
        .map_err(|err| ApiError::InvalidPayload { path: err.path().to_string(), message: err.into_inner().to_string() })
}

/// The body of "sync now": `{}`, as `OutpostAdmin.syncNow()` sends it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncRequest {}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("idempotency-key")
        .ok_or(ApiError::IdempotencyKeyMissing)?
        .to_str()
        .map_err(|_| ApiError::IdempotencyKeyInvalid)?
        .trim();
    let valid = !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic());
    if valid { Ok(key.to_owned()) } else { Err(ApiError::IdempotencyKeyInvalid) }
}

fn json_response(status: StatusCode, body: String, replayed: bool) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn store_error(err: StoreError) -> ApiError {
    tracing::error!(error = %err, "store failed");
    ApiError::StoreUnavailable
}

/// What an idempotency key is bound to: the route and the body (the same body sent to another
/// route is another request).
pub fn request_hash(route: &str, body: &[u8]) -> String {
    crypto::sha256_hex(&[route.as_bytes(), b"\n", body].concat())
}

/// Runs `process` once per idempotency key: first use processes and saves the response; a retry
/// with the same route and body gets the saved response; anything else under the key is refused.
async fn once<F, Fut>(
    state: &ApexState,
    org: &OrgRegistration,
    route: &str,
    headers: &HeaderMap,
    body: &[u8],
    process: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let result = async {
        let key = idempotency_key(headers)?;
        let body_hash = request_hash(route, body);
        let store = &state.services.store;
        match store
            .claim_idempotency_key(&org.org_id, &key, &body_hash, IDEMPOTENCY_LEASE)
            .await
            .map_err(store_error)?
        {
            IdempotencyClaim::Claimed => {}
            IdempotencyClaim::Replay(saved) => {
                let status = StatusCode::from_u16(saved.status).unwrap_or(StatusCode::OK);
                return Ok(json_response(status, saved.body, true));
            }
            IdempotencyClaim::InProgress => return Err(ApiError::IdempotencyInProgress),
            IdempotencyClaim::Mismatch => return Err(ApiError::IdempotencyKeyReused),
        }
        let (status, json) = match process().await {
            Ok(answer) => answer,
            // Failures of the request itself are answers too; failures of Outpost are not saved.
            Err(err) if err.status().is_client_error() => (err.status(), err.body()),
            Err(err) => {
                if let Err(release) = store.release_idempotency_key(&org.org_id, &key, &body_hash).await {
                    tracing::warn!(error = %release, "could not release the idempotency key");
                }
                return Err(err);
            }
        };
        let saved = SavedResponse { status: status.as_u16(), body: json.to_string() };
        store
            .complete_idempotency_key(&org.org_id, &key, &body_hash, &saved, IDEMPOTENCY_RETENTION)
            .await
            .map_err(store_error)?;
        Ok(json_response(status, saved.body, false))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /apex/v1/records`.
#[tracing::instrument(skip_all, fields(org))]
async fn receive_records(State(state): State<Arc<ApexState>>, headers: HeaderMap, body: Body) -> Response {
    let org = match auth::authenticate(&state, &headers).await {
        Ok(org) => org,
        Err(err) => return err.into_response(),
    };
    tracing::Span::current().record("org", tracing::field::display(&org.org_id));
    let body = match json_body(&headers, body).await {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    once(&state, &org, "/apex/v1/records", &headers, &body, || async {
        let batch = records::parse(&body, SfDateTime::now())?;
        let response = records::apply(state.services.store.as_ref(), &org, batch).await.map_err(store_error)?;
        tracing::info!(results = response.results.len(), "callout applied");
        Ok((StatusCode::OK, serde_json::to_value(&response).unwrap_or_default()))
    })
    .await
}

/// `POST /apex/v1/sync`: answered at once; the integration user syncs asynchronously, never twice
/// at the same time for one org.
async fn sync_now(State(state): State<Arc<ApexState>>, headers: HeaderMap, body: Body) -> Response {
    let org = match auth::authenticate(&state, &headers).await {
        Ok(org) => org,
        Err(err) => return err.into_response(),
    };
    let body = match json_body(&headers, body).await {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    once(&state, &org, "/apex/v1/sync", &headers, &body, || async {
        let SyncRequest {} = parse_json(&body)?;
        let queued = state.sync.request(&org.org_id).await.map_err(store_error)?;
        let status = match queued {
            SyncQueued::Queued => "queued",
            SyncQueued::AlreadyQueued => "already_queued",
        };
        tracing::info!(org = %org.org_id, status, "sync requested");
        Ok((StatusCode::ACCEPTED, serde_json::json!({ "status": status })))
    })
    .await
}

/// `GET /apex/v1/health`: authenticated, so "Test connection" proves the key too.
async fn health(State(state): State<Arc<ApexState>>, headers: HeaderMap) -> Response {
    match auth::authenticate(&state, &headers).await {
        Ok(org) => Json(serde_json::json!({
            "status": "ok",
            "org_id": org.org_id,
            "org_name": org.name,
            "mode": org.mode.as_str(),
        }))
        .into_response(),
        Err(err) => err.into_response(),
    }
}
