//! Campaigns in the app: writing one from a list, checking it, and asking the send function to
//! send, pause, resume or cancel it; its totals, per-recipient status and results.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use outpost_shared::campaigns::tally::all_deliveries;
use outpost_shared::campaigns::{
    Campaign, CampaignContent, CampaignRequest, CampaignStatus, CampaignTemplates, Counts, Delivery, PauseReason,
    TemplateError,
};
use outpost_shared::crypto;
use outpost_shared::ids::{OrgId, RecordId};
use outpost_shared::lists::is_deliverable_address;
use outpost_shared::store::{SharedStore, StoreError, keys, now_epoch};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{instant, json_body};
use crate::pages::query_param;
use crate::{AppError, AppState, Context};

/// The largest HTML or text body a campaign takes.
pub const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;
/// A campaign request's body: both bodies at their largest, and the rest.
pub const MAX_CAMPAIGN_BODY: usize = 2 * MAX_TEMPLATE_BYTES + 64 * 1024;
/// A start request lives this long if the send function never takes it.
const REQUEST_TTL: Duration = Duration::from_secs(3600);
/// Recipients per page of the status search, by default and at most.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// How the app reaches the send function: the table's stream on AWS, a channel locally.
#[async_trait]
pub trait CampaignTrigger: Send + Sync {
    async fn request(&self, org: &OrgId, campaign: &str, request: &CampaignRequest) -> Result<(), StoreError>;
}

/// On AWS: a request item, whose stream record starts the send function.
pub struct StreamTrigger(pub SharedStore);

#[async_trait]
impl CampaignTrigger for StreamTrigger {
    async fn request(&self, org: &OrgId, campaign: &str, request: &CampaignRequest) -> Result<(), StoreError> {
        self.0.request_campaign(org, campaign, request, REQUEST_TTL).await.map(drop)
    }
}

/// A campaign as a request writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignBody {
    pub list_id: String,
    pub subject: String,
    pub from: String,
    #[serde(default)]
    pub reply_to: Option<String>,
    pub html: String,
    pub text: String,
}

fn refused(code: &'static str, message: impl Into<String>, path: &str) -> AppError {
    AppError { path: Some(path.to_owned()), ..AppError::bad_request(code, message) }
}

fn template_refused(err: TemplateError) -> AppError {
    refused(err.code, err.message, err.part)
}

pub(crate) fn campaign_not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "campaign_not_found", "no such campaign")
}

impl AppState {
    /// Checks and saves a new draft.
    pub(crate) async fn create_campaign(&self, context: &Context, body: CampaignBody) -> Result<Campaign, AppError> {
        let subject = body.subject.trim();
        if subject.is_empty() || subject.chars().count() > 500 {
            return Err(refused("invalid_subject", "a subject needs 1 to 500 characters", "subject"));
        }
        for (part, text) in [("html", &body.html), ("text", &body.text)] {
            if text.len() > MAX_TEMPLATE_BYTES {
                return Err(refused("body_too_large", format!("the {part} body is over 1 MB"), part));
            }
        }
        let from = body.from.trim();
        if !context.org.settings.allows_sender(from) || !is_deliverable_address(from) {
            let message = format!("{from:?} is not one of the org's allowed sender addresses");
            return Err(refused("sender_not_allowed", message, "from"));
        }
        let reply_to = body.reply_to.as_deref().map(str::trim).filter(|reply_to| !reply_to.is_empty());
        if let Some(reply_to) = reply_to
            && !is_deliverable_address(reply_to)
        {
            return Err(refused("invalid_reply_to", format!("{reply_to:?} is not an email address"), "reply_to"));
        }
        CampaignTemplates::compile(subject, &body.html, &body.text, &context.org.settings.postal_address)
            .map_err(template_refused)?;
        let list = self.visible_list(context, &body.list_id).await.map_err(|err| {
            if err.code == "list_not_found" { AppError { path: Some("list_id".into()), ..err } } else { err }
        })?;
        let now = now_epoch();
        let campaign = Campaign {
            org_id: context.who.org_id,
            id: crate::manage::new_id(),
            list_id: list.id.clone(),
            list_name: list.name.clone(),
            owner_id: context.who.user_id,
            subject: subject.to_owned(),
            from: from.to_owned(),
            reply_to: reply_to.map(str::to_owned),
            status: CampaignStatus::Draft,
            pause_reason: None,
            frozen: false,
            recipients: 0,
            freeze_after: None,
            excluded: 0,
            suppressed: 0,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            revision: crypto::random_token(),
        };
        let content = CampaignContent { html: body.html, text: body.text };
        let store = &self.services.store;
        // The bodies first: a campaign is never seen without them.
        store.put_campaign_content(&campaign.org_id, &campaign.id, &content).await.map_err(AppError::store)?;
        if !store.put_campaign(&campaign, None).await.map_err(AppError::store)? {
            return Err(AppError::new(StatusCode::CONFLICT, "campaign_exists", "try again"));
        }
        Ok(campaign)
    }

    /// A campaign of the org this user may see (under `owner` visibility, only their own).
    pub(crate) async fn visible_campaign(&self, context: &Context, id: &str) -> Result<Campaign, AppError> {
        if !crate::manage::is_item_id(id) {
            return Err(campaign_not_found());
        }
        let campaign = self.services.store.get_campaign(&context.who.org_id, id).await.map_err(AppError::store)?;
        campaign
            .filter(|campaign| context.owner().is_none_or(|owner| campaign.owner_id.as_str() == owner))
            .ok_or_else(campaign_not_found)
    }

    /// Changes a campaign's status with `change`, which refuses with the error to answer.
    async fn change_campaign(
        &self,
        context: &Context,
        id: &str,
        change: impl Fn(&mut Campaign) -> Result<(), AppError>,
    ) -> Result<Campaign, AppError> {
        loop {
            let mut campaign = self.visible_campaign(context, id).await?;
            change(&mut campaign)?;
            let expected = std::mem::replace(&mut campaign.revision, crypto::random_token());
            campaign.updated_at = now_epoch();
            if self.services.store.put_campaign(&campaign, Some(&expected)).await.map_err(AppError::store)? {
                return Ok(campaign);
            }
        }
    }

    async fn trigger(&self, campaign: &Campaign, request: &CampaignRequest) -> Result<(), AppError> {
        self.campaigns.request(&campaign.org_id, &campaign.id, request).await.map_err(AppError::store)
    }

    pub(crate) async fn send_campaign(&self, context: &Context, id: &str) -> Result<Campaign, AppError> {
        if context.org.settings.postal_address.trim().is_empty() {
            let message = "the org's registration has no postal address, which every campaign message must carry";
            return Err(AppError::new(StatusCode::CONFLICT, "postal_address_missing", message));
        }
        let campaign = self
            .change_campaign(context, id, |campaign| match campaign.status {
                CampaignStatus::Draft => {
                    campaign.status = CampaignStatus::Sending;
                    campaign.started_at = Some(now_epoch());
                    Ok(())
                }
                CampaignStatus::Sending => {
                    Err(AppError::new(StatusCode::CONFLICT, "already_sending", "the campaign is already sending"))
                }
                CampaignStatus::Paused => {
                    Err(AppError::new(StatusCode::CONFLICT, "campaign_paused", "the campaign is paused: resume it"))
                }
                CampaignStatus::Sent | CampaignStatus::Cancelled => Err(finished()),
            })
            .await?;
        self.trigger(&campaign, &CampaignRequest::Start).await?;
        Ok(campaign)
    }

    pub(crate) async fn pause_campaign(&self, context: &Context, id: &str) -> Result<Campaign, AppError> {
        self.change_campaign(context, id, |campaign| {
            if campaign.status != CampaignStatus::Sending {
                return Err(AppError::new(StatusCode::CONFLICT, "not_sending", "only a sending campaign pauses"));
            }
            campaign.status = CampaignStatus::Paused;
            campaign.pause_reason = Some(PauseReason::Requested);
            Ok(())
        })
        .await
    }

    pub(crate) async fn resume_campaign(&self, context: &Context, id: &str) -> Result<Campaign, AppError> {
        let campaign = self
            .change_campaign(context, id, |campaign| {
                if campaign.status != CampaignStatus::Paused {
                    return Err(AppError::new(StatusCode::CONFLICT, "not_paused", "only a paused campaign resumes"));
                }
                campaign.status = CampaignStatus::Sending;
                campaign.pause_reason = None;
                Ok(())
            })
            .await?;
        self.trigger(&campaign, &CampaignRequest::Start).await?;
        Ok(campaign)
    }

    pub(crate) async fn cancel_campaign(&self, context: &Context, id: &str) -> Result<Campaign, AppError> {
        self.change_campaign(context, id, |campaign| match campaign.status {
            CampaignStatus::Sent | CampaignStatus::Cancelled => Err(finished()),
            _ => {
                campaign.status = CampaignStatus::Cancelled;
                campaign.pause_reason = None;
                campaign.finished_at = Some(now_epoch());
                Ok(())
            }
        })
        .await
    }

    pub(crate) async fn test_campaign(
        &self,
        context: &Context,
        id: &str,
        to: &str,
        record: Option<&str>,
    ) -> Result<(), AppError> {
        let campaign = self.visible_campaign(context, id).await?;
        let to = to.trim();
        if !is_deliverable_address(to) {
            return Err(refused("invalid_address", format!("{to:?} is not an email address"), "to"));
        }
        let record = match record.map(str::trim).filter(|record| !record.is_empty()) {
            None => None,
            Some(record) => Some(
                RecordId::parse(record)
                    .map_err(|_| refused("invalid_record", format!("{record:?} is not a record id"), "record_id"))?,
            ),
        };
        self.trigger(&campaign, &CampaignRequest::Test { to: to.to_owned(), record }).await
    }

    pub(crate) async fn counts(&self, campaign: &Campaign) -> Result<Counts, AppError> {
        let mut counts =
            self.services.store.campaign_counts(&campaign.org_id, &campaign.id).await.map_err(AppError::store)?;
        counts.recipients = campaign.recipients;
        Ok(counts)
    }
}

fn finished() -> AppError {
    AppError::new(StatusCode::CONFLICT, "campaign_finished", "the campaign has been sent or cancelled")
}

pub(crate) fn campaign_json(campaign: &Campaign, counts: Option<&Counts>) -> Value {
    let mut value = json!({
        "id": campaign.id,
        "status": campaign.status.as_str(),
        "list_id": campaign.list_id,
        "list_name": campaign.list_name,
        "subject": campaign.subject,
        "from": campaign.from,
        "reply_to": campaign.reply_to,
        "owner_id": campaign.owner_id,
        "created_at": instant(campaign.created_at),
        "updated_at": instant(campaign.updated_at),
        "started_at": campaign.started_at.map(instant),
        "finished_at": campaign.finished_at.map(instant),
    });
    if let Some(reason) = campaign.pause_reason {
        value["pause_reason"] = json!(reason.as_str());
    }
    if let Some(counts) = counts {
        value["counts"] = json!({
            "recipients": counts.recipients,
            "sent": counts.sent,
            "delivered": counts.delivered,
            "bounced": counts.bounced,
            "bounced_permanent": counts.bounced_permanent,
            "bounced_transient": counts.bounced_transient,
            "complained": counts.complained,
            "unsubscribed": counts.unsubscribed,
            "failed": counts.failed,
            "unknown": counts.unknown,
            "skipped": counts.skipped,
        });
        value["excluded"] = json!({ "by_list": campaign.excluded, "suppressed": campaign.suppressed });
    }
    value
}

pub(crate) fn delivery_json(delivery: &Delivery) -> Value {
    json!({
        "email": delivery.email,
        "record_id": delivery.record,
        "first_name": delivery.first_name,
        "last_name": delivery.last_name,
        "status": delivery.status(),
        "message_id": delivery.message_id,
        "detail": delivery.detail,
        "updated_at": instant(delivery.updated_at),
    })
}

/// The recipients a search asks for: an exact address, or those whose address or name contains
/// `q`, with `status`.
pub(crate) async fn search(
    state: &AppState,
    campaign: &Campaign,
    q: Option<&str>,
    status: Option<&str>,
) -> Result<Vec<Delivery>, AppError> {
    let store = state.services.store.as_ref();
    let q = q.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
    let mut found = match q.as_deref() {
        // A whole address is one read.
        Some(address) if is_deliverable_address(address) => store
            .get_delivery(&campaign.org_id, &campaign.id, address)
            .await
            .map_err(AppError::store)?
            .into_iter()
            .collect(),
        _ => all_deliveries(store, &campaign.org_id, &campaign.id).await.map_err(AppError::store)?,
    };
    found.retain(|delivery| {
        let name = format!(
            "{} {}",
            delivery.first_name.as_deref().unwrap_or_default(),
            delivery.last_name.as_deref().unwrap_or_default()
        )
        .to_lowercase();
        q.as_deref().is_none_or(|q| delivery.address.contains(q) || name.contains(q))
            && status.is_none_or(|status| delivery.status() == status)
    });
    found.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(found)
}

/// The first `limit` recipients, segment by segment, without reading the rest.
pub(crate) async fn first_recipients(
    state: &AppState,
    campaign: &Campaign,
    limit: usize,
) -> Result<Vec<Delivery>, AppError> {
    let store = &state.services.store;
    let mut found = Vec::new();
    for segment in 0..keys::CAMPAIGN_SEGMENTS {
        let mut after: Option<String> = None;
        while found.len() < limit {
            let (page, next) = store
                .deliveries(&campaign.org_id, &campaign.id, segment, after.as_deref(), limit - found.len())
                .await
                .map_err(AppError::store)?;
            found.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    found.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(found)
}

/// The results as CSV: one row per address.
pub(crate) fn results_csv(deliveries: &[Delivery]) -> Result<Vec<u8>, AppError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |err: csv::Error| {
        tracing::error!(error = %err, "results CSV failed");
        AppError::misconfigured()
    };
    writer
        .write_record(["Email", "RecordId", "FirstName", "LastName", "Status", "MessageId", "Detail", "UpdatedAt"])
        .map_err(failed)?;
    for delivery in deliveries {
        let cells = [
            delivery.email.clone(),
            delivery.record.to_string(),
            delivery.first_name.clone().unwrap_or_default(),
            delivery.last_name.clone().unwrap_or_default(),
            delivery.status().to_owned(),
            delivery.message_id.clone().unwrap_or_default(),
            delivery.detail.clone().unwrap_or_default(),
            instant(delivery.updated_at),
        ];
        writer.write_record(cells.iter().map(|cell| crate::export::cell(cell).into_owned())).map_err(failed)?;
    }
    writer.into_inner().map_err(|err| failed(err.into_error().into()))
}

// --- JSON API -------------------------------------------------------------------------------

pub(crate) async fn api_create(
    State(state): State<Arc<AppState>>,
    context: Context,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body: CampaignBody = json_body(&headers, body)?;
    let campaign = state.create_campaign(&context, body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": campaign.id, "status": campaign.status.as_str() }))).into_response())
}

pub(crate) async fn api_list(State(state): State<Arc<AppState>>, context: Context) -> Result<Json<Value>, AppError> {
    let campaigns = state.services.store.campaigns(&context.who.org_id).await.map_err(AppError::store)?;
    let visible = campaigns
        .iter()
        .filter(|campaign| context.owner().is_none_or(|owner| campaign.owner_id.as_str() == owner))
        .map(|campaign| campaign_json(campaign, None))
        .collect::<Vec<_>>();
    Ok(Json(json!({ "campaigns": visible })))
}

pub(crate) async fn api_get(
    State(state): State<Arc<AppState>>,
    context: Context,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let campaign = state.visible_campaign(&context, &id).await?;
    let counts = state.counts(&campaign).await?;
    Ok(Json(campaign_json(&campaign, Some(&counts))))
}

/// `POST /api/v1/campaigns/{id}/{action}`.
pub(crate) async fn api_action(
    State(state): State<Arc<AppState>>,
    context: Context,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let (status, campaign) = match action.as_str() {
        "send" => (StatusCode::ACCEPTED, state.send_campaign(&context, &id).await?),
        "pause" => (StatusCode::OK, state.pause_campaign(&context, &id).await?),
        "resume" => (StatusCode::ACCEPTED, state.resume_campaign(&context, &id).await?),
        "cancel" => (StatusCode::OK, state.cancel_campaign(&context, &id).await?),
        "test" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Test {
                to: String,
                #[serde(default)]
                record_id: Option<String>,
            }
            let test: Test = json_body(&headers, body)?;
            state.test_campaign(&context, &id, &test.to, test.record_id.as_deref()).await?;
            return Ok((StatusCode::ACCEPTED, Json(json!({ "queued": true }))).into_response());
        }
        _ => return Err(AppError::new(StatusCode::NOT_FOUND, "not_found", "no such action")),
    };
    Ok((status, Json(json!({ "id": campaign.id, "status": campaign.status.as_str() }))).into_response())
}

/// `GET /api/v1/campaigns/{id}/recipients?q=&status=&limit=&offset=`.
pub(crate) async fn api_recipients(
    State(state): State<Arc<AppState>>,
    context: Context,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    let campaign = state.visible_campaign(&context, &id).await?;
    let query = query.as_deref();
    let number = |name: &str, default: usize| -> Result<usize, AppError> {
        match query_param(query, name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| refused("invalid_query", format!("{name} must be a number"), name)),
        }
    };
    let limit = number("limit", DEFAULT_PAGE)?.clamp(1, MAX_PAGE);
    let offset = number("offset", 0)?;
    let found =
        search(&state, &campaign, query_param(query, "q").as_deref(), query_param(query, "status").as_deref()).await?;
    let page: Vec<Value> = found.iter().skip(offset).take(limit).map(delivery_json).collect();
    Ok(Json(json!({ "total": found.len(), "offset": offset, "recipients": page })))
}

/// `GET /api/v1/campaigns/{id}/results.csv`.
pub(crate) async fn api_results(
    State(state): State<Arc<AppState>>,
    context: Context,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let campaign = state.visible_campaign(&context, &id).await?;
    results(&state, &campaign).await
}

/// A campaign's results: on AWS a link to the file in the exports bucket (a Lambda answer holds
/// 6 MB, some 37,000 rows), locally the file itself.
pub(crate) async fn results(state: &AppState, campaign: &Campaign) -> Result<Response, AppError> {
    let deliveries = search(state, campaign, None, None).await?;
    let body = results_csv(&deliveries)?;
    match &state.exports {
        Some(exports) => {
            let file_name = results_file_name(campaign);
            let link = exports.publish(&campaign.org_id, &campaign.id, &file_name, [Ok(body.into())]).await?;
            Ok(crate::pages::see_other(&link))
        }
        None => csv_response(campaign, body),
    }
}

fn results_file_name(campaign: &Campaign) -> String {
    format!("campaign-{}-results.csv", campaign.id)
}

fn csv_response(campaign: &Campaign, body: Vec<u8>) -> Result<Response, AppError> {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let disposition = format!("attachment; filename=\"{}\"", results_file_name(campaign));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
