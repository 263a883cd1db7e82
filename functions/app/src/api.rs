//! The JSON API at `/api/v1`, for Salesforce-side code (Apex, flows) calling with the user's
//! session: lists, their counts and members, and static lists' records. Errors are
//! `{"error": {"code", "message"[, "path"]}}` with a stable code.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use outpost_shared::authorized::Authorized;
use outpost_shared::salesforce::SfDateTime;
use outpost_shared::store::{EpochSeconds, ListDefinition, RecipientList};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::definition::{Draft, ListBody};
use crate::members::{Evaluated, MemberView};
use crate::pages::{exclusion_rows, query_param};
use crate::{AppError, AppState, Context};

/// Members per page of `GET /lists/{id}/members`, by default and at most.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1_000;
/// Records one call adds or removes (as sObject Collections take 200).
const MAX_IDS_PER_CALL: usize = 200;

/// The request body as `T`: JSON only, with the path of the first field that does not fit.
pub(crate) fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, AppError> {
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).is_some_and(|value| {
        value.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        let message = "send the body as application/json";
        return Err(AppError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message));
    }
    let body =
        body.map_err(|_| AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the body is too large"))?;
    let mut reader = serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(&mut reader).map_err(|err| {
        let path = err.path().to_string();
        AppError {
            path: (path != ".").then_some(path),
            ..AppError::bad_request("invalid_json", err.inner().to_string())
        }
    })
}

pub(crate) fn instant(at: EpochSeconds) -> String {
    SfDateTime::from_millis(at.saturating_mul(1000)).iso8601()
}

/// A list as the API shows it; with `evaluated`, its count now and what was left out.
fn list_json(list: &RecipientList, evaluated: Option<&Evaluated>) -> Value {
    let (kind, match_, conditions) = match &list.definition {
        ListDefinition::Dynamic { match_all, conditions } => {
            ("dynamic", Some(if *match_all { "all" } else { "any" }), Some(conditions))
        }
        ListDefinition::Static => ("static", None, None),
    };
    let mut value = json!({
        "id": list.id,
        "name": list.name,
        "kind": kind,
        "objects": list.objects.iter().map(|object| object.api_name()).collect::<Vec<_>>(),
        "owner_id": list.owner_id,
        "created_at": instant(list.created_at),
        "updated_at": instant(list.updated_at),
        "revision": list.revision,
        "count": list.last_count,
        "counted_at": list.last_evaluated_at.map(instant),
    });
    if let (Some(match_), Some(conditions)) = (match_, conditions) {
        value["match"] = json!(match_);
        value["conditions"] = json!(conditions);
    }
    if let Some(evaluated) = evaluated {
        value["count"] = json!(evaluated.count());
        value["excluded"] = json!(evaluated.excluded());
    }
    value
}

/// A preview's answer, for the API and the builder's script alike.
pub(crate) fn preview_json(evaluated: &Evaluated, sample: Vec<MemberView>) -> Value {
    let excluded = evaluated.excluded();
    let reasons: Vec<Value> = exclusion_rows(&excluded)
        .into_iter()
        .map(|(reason, count)| json!({"reason": reason, "count": count}))
        .collect();
    json!({
        "count": evaluated.count(),
        "excluded": excluded,
        "excluded_total": excluded.total(),
        "excluded_reasons": reasons,
        "sample": sample,
    })
}

/// A list's answer, with its revision as the `ETag` for `If-Match`.
fn with_etag(status: StatusCode, list: &RecipientList, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", list.revision)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// `GET /api/v1/me`: who the authorizer let in, for Salesforce-side code checking its access.
pub async fn me(who: Authorized) -> Json<Value> {
    Json(json!({"org_id": who.org_id, "user_id": who.user_id, "mode": who.mode.as_str()}))
}

/// `GET /api/v1/lists`: the lists this user may see, newest first, with their last counts.
pub async fn lists(State(state): State<Arc<AppState>>, context: Context) -> Result<Response, AppError> {
    let lists = state.services.store.lists(&context.who.org_id).await.map_err(AppError::store)?;
    let visible: Vec<Value> =
        lists.iter().filter(|list| context.may_see(list)).map(|list| list_json(list, None)).collect();
    Ok(Json(json!({"lists": visible})).into_response())
}

/// `POST /api/v1/lists`: creates a list; answers it with its count.
pub async fn create(
    State(state): State<Arc<AppState>>,
    context: Context,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body: ListBody = json_body(&headers, body)?;
    let draft = Draft::new(body, &context.catalog, true)?;
    let list = state.create_list(&context, draft).await?;
    let evaluated = state.evaluate_list(&context, &list).await?;
    let mut response = with_etag(StatusCode::CREATED, &list, list_json(&list, Some(&evaluated)));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/lists/{}", list.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `POST /api/v1/lists/preview`: what a definition would select, without saving it.
pub async fn preview(
    State(state): State<Arc<AppState>>,
    context: Context,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body: ListBody = json_body(&headers, body)?;
    let draft = Draft::new(body, &context.catalog, false)?;
    let evaluated = state.evaluate_draft(&context, &draft).await?;
    let sample = crate::pages::Outcome::of(&evaluated, context.salesforce.origin()).sample;
    Ok(Json(preview_json(&evaluated, sample)).into_response())
}

/// `GET /api/v1/lists/{id}`: a list with its count now.
pub async fn list(
    State(state): State<Arc<AppState>>,
    context: Context,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let list = state.visible_list(&context, &id).await?;
    let evaluated = state.evaluate_list(&context, &list).await?;
    Ok(with_etag(StatusCode::OK, &list, list_json(&list, Some(&evaluated))))
}

/// `PATCH /api/v1/lists/{id}`: changes the fields the body names. With `If-Match`, only the
/// revision the caller read is changed.
pub async fn update(
    State(state): State<Arc<AppState>>,
    context: Context,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let list = state.visible_list(&context, &id).await?;
    // `*` asks only that the list exists; a weak tag never matches (RFC 9110 strong comparison).
    let expected = headers.get(header::IF_MATCH).and_then(|value| value.to_str().ok()).map(str::trim);
    let conditional = expected.is_some_and(|expected| expected != "*");
    let mismatch = || {
        let message = "the list changed since you read it: read it again";
        AppError::new(StatusCode::PRECONDITION_FAILED, "revision_mismatch", message)
    };
    if conditional && expected != Some(format!("\"{}\"", list.revision).as_str()) {
        return Err(mismatch());
    }
    let body: ListBody = json_body(&headers, body)?;
    let draft = Draft::change(&list, body, &context.catalog)?;
    let updated = match state.update_list(&context, &list, draft).await {
        // Another write landed between the read above and this one.
        Err(err) if conditional && err.code == "list_changed" => return Err(mismatch()),
        other => other?,
    };
    let evaluated = state.evaluate_list(&context, &updated).await?;
    Ok(with_etag(StatusCode::OK, &updated, list_json(&updated, Some(&evaluated))))
}

/// `DELETE /api/v1/lists/{id}`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    context: Context,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let list = state.visible_list(&context, &id).await?;
    state.delete_list(&context, &list).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/lists/{id}/members?limit=&cursor=`: the members in record-id order, a page at a
/// time; `next_cursor` is the `cursor` of the following page.
pub async fn members(
    State(state): State<Arc<AppState>>,
    context: Context,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let limit =
        match query_param(query.as_deref(), "limit") {
            None => DEFAULT_PAGE,
            Some(limit) => limit.parse().ok().filter(|limit| (1..=MAX_PAGE).contains(limit)).ok_or_else(|| {
                AppError::bad_request("invalid_limit", format!("limit is a number from 1 to {MAX_PAGE}"))
            })?,
        };
    let after = query_param(query.as_deref(), "cursor").unwrap_or_default();
    let list = state.visible_list(&context, &id).await?;
    let evaluated = state.evaluate_list(&context, &list).await?;
    let mut members: Vec<_> = evaluated.members().filter(|member| member.id.as_str() > after.as_str()).collect();
    members.sort_by_key(|member| member.id);
    let next = (members.len() > limit).then(|| members[limit - 1].id.to_string());
    let page: Vec<MemberView> =
        members.into_iter().take(limit).map(|member| MemberView::of(member, context.salesforce.origin())).collect();
    Ok(Json(json!({"count": evaluated.count(), "members": page, "next_cursor": next})).into_response())
}

/// The records of a members request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Records {
    ids: Vec<String>,
}

/// `POST /api/v1/lists/{id}/members` `{"ids": [...]}`: adds up to 200 records to a static list.
pub async fn add_members(
    State(state): State<Arc<AppState>>,
    context: Context,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let Records { ids } = json_body(&headers, body)?;
    let list = state.visible_list(&context, &id).await?;
    let added = state.add_members(&list, &ids, MAX_IDS_PER_CALL).await?;
    Ok(Json(json!(added)).into_response())
}

/// `DELETE /api/v1/lists/{id}/members` `{"ids": [...]}`: takes records out of a static list.
pub async fn remove_members(
    State(state): State<Arc<AppState>>,
    context: Context,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let Records { ids } = json_body(&headers, body)?;
    let list = state.visible_list(&context, &id).await?;
    let removed = state.remove_members(&context, &list, &ids, MAX_IDS_PER_CALL).await?;
    Ok(Json(json!({"removed": removed})).into_response())
}
