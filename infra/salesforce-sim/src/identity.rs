//! "Who am I" surfaces: `/services/oauth2/userinfo`, the identity URL `/id/{org}/{user}`,
//! `/services/data/` (versions), `/services/data/vNN.N/` (resources) and `/limits`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value as Json, json};

use crate::data::User;
use crate::gate::{Caller, parse_version};
use crate::ids::SfId;
use crate::org::{Org, lock};
use crate::reply;
use crate::sessions::{SessionError, bearer};

/// API versions `GET /services/data/` lists (Winter '24 … Summer '26).
const VERSIONS: &[(&str, &str)] = &[
    ("59.0", "Winter '24"),
    ("60.0", "Spring '24"),
    ("61.0", "Summer '24"),
    ("62.0", "Winter '25"),
    ("63.0", "Spring '25"),
    ("64.0", "Summer '25"),
    ("65.0", "Winter '26"),
    ("66.0", "Spring '26"),
    ("67.0", "Summer '26"),
];

/// Rough UTC offsets (no DST) for the zones the default users carry.
fn utc_offset_ms(zone: &str) -> i64 {
    let hours = match zone {
        "America/Los_Angeles" => -8,
        "America/Denver" => -7,
        "America/Chicago" => -6,
        "America/New_York" => -5,
        "Europe/Berlin" | "Europe/Paris" | "Europe/Amsterdam" => 1,
        "Asia/Tokyo" => 9,
        "Asia/Kolkata" => 5,
        _ => 0,
    };
    hours * 3_600_000
}

fn urls(org: &Org, user: &User) -> Json {
    let b = &org.base_url;
    let o = org.id.as15();
    json!({
        "enterprise": format!("{b}/services/Soap/c/{{version}}/{o}"),
        "metadata": format!("{b}/services/Soap/m/{{version}}/{o}"),
        "partner": format!("{b}/services/Soap/u/{{version}}/{o}"),
        "rest": format!("{b}/services/data/v{{version}}/"),
        "sobjects": format!("{b}/services/data/v{{version}}/sobjects/"),
        "search": format!("{b}/services/data/v{{version}}/search/"),
        "query": format!("{b}/services/data/v{{version}}/query/"),
        "recent": format!("{b}/services/data/v{{version}}/recent/"),
        "tooling_soap": format!("{b}/services/Soap/T/{{version}}/{o}"),
        "tooling_rest": format!("{b}/services/data/v{{version}}/tooling/"),
        "profile": format!("{b}/{}", user.id),
        "feeds": format!("{b}/services/data/v{{version}}/chatter/feeds"),
        "groups": format!("{b}/services/data/v{{version}}/chatter/groups"),
        "users": format!("{b}/services/data/v{{version}}/chatter/users"),
        "feed_items": format!("{b}/services/data/v{{version}}/chatter/feed-items"),
        "feed_elements": format!("{b}/services/data/v{{version}}/chatter/feed-elements"),
        "custom_domain": b,
    })
}

fn photos(org: &Org, user: &User) -> Json {
    json!({
        "picture": format!("{}/profilephoto/005/F?u={}", org.base_url, user.id.as15()),
        "thumbnail": format!("{}/profilephoto/005/T?u={}", org.base_url, user.id.as15()),
    })
}

/// The userinfo body (docs/salesforce.md#userinfo).
pub fn userinfo_json(org: &Org, user: &User) -> Json {
    let nickname = user.username.split('@').next().unwrap_or(&user.username);
    json!({
        "sub": org.identity_url(&user.id),
        "user_id": user.id.as_str(),
        "organization_id": org.id.as_str(),
        "preferred_username": user.username,
        "nickname": nickname,
        "name": user.name(),
        "given_name": user.first_name,
        "family_name": user.last_name,
        "email": user.email,
        "email_verified": true,
        "zoneinfo": user.zoneinfo,
        "photos": photos(org, user),
        "profile": format!("{}/{}", org.base_url, user.id),
        "picture": format!("{}/profilephoto/005/F?u={}", org.base_url, user.id.as15()),
        "address": {},
        "phone_number": null,
        "phone_number_verified": false,
        "is_salesforce_integration_user": user.integration,
        "urls": urls(org, user),
        "active": user.active,
        "user_type": "STANDARD",
        "language": user.locale,
        "locale": user.locale,
        "utcOffset": utc_offset_ms(&user.zoneinfo),
        "updated_at": user.last_modified_date.to_offset_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

/// Token from `Authorization: Bearer` or an `oauth_token` parameter (query or form body).
fn token_of(headers: &HeaderMap, raw: Option<&str>, body: &[u8]) -> Option<String> {
    if let Some(t) = bearer(headers) {
        return Some(t.to_owned());
    }
    let from = |b: &[u8]| {
        url::form_urlencoded::parse(b)
            .find(|(k, _)| k == "oauth_token" || k == "access_token")
            .map(|(_, v)| v.into_owned())
    };
    from(raw.unwrap_or_default().as_bytes()).or_else(|| from(body))
}

/// Resolves the session for identity endpoints: 403 text errors, 401 for API-less sessions.
fn identity_caller(org: &Org, headers: &HeaderMap, raw: Option<&str>, body: &[u8]) -> Result<User, Response> {
    let Some(token) = token_of(headers, raw, body) else {
        return Err(reply::text(StatusCode::FORBIDDEN, "Missing_OAuth_Token"));
    };
    let bad = || reply::text(StatusCode::FORBIDDEN, "Bad_OAuth_Token");
    let session = match lock(&org.sessions).check_api(&token, org.now()) {
        Ok(s) => s,
        Err(SessionError::Invalid) => return Err(bad()),
        Err(SessionError::NotForApi) => return Err(reply::session_not_for_api()),
    };
    org.db().user(&session.user).cloned().ok_or_else(bad)
}

/// `GET|POST /services/oauth2/userinfo`.
pub async fn userinfo(
    State(org): State<Arc<Org>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    match identity_caller(&org, &headers, raw.as_deref(), &body) {
        Ok(user) => reply::json(StatusCode::OK, &userinfo_json(&org, &user)),
        Err(r) => r,
    }
}

/// `GET /id/{org}/{user}`: the identity service. Like Salesforce it answers for the user in
/// the path (not necessarily the caller; `asserted_user` tells which).
pub async fn identity(
    State(org): State<Arc<Org>>,
    Path((org_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match identity_caller(&org, &headers, raw.as_deref(), &[]) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (Some(o), Some(u)) = (SfId::parse(&org_id), SfId::parse(&user_id)) else {
        return reply::text(StatusCode::NOT_FOUND, "Bad_Id");
    };
    let Some(user) = org.db().user(&u).cloned().filter(|_| o == org.id) else {
        return reply::text(StatusCode::NOT_FOUND, "Bad_Id");
    };
    reply::json(
        StatusCode::OK,
        &json!({
            "id": org.identity_url(&user.id),
            "asserted_user": caller.id == user.id,
            "user_id": user.id.as_str(),
            "organization_id": org.id.as_str(),
            "username": user.username,
            "nick_name": user.username.split('@').next().unwrap_or(""),
            "display_name": user.name(),
            "email": user.email,
            "email_verified": true,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "timezone": user.zoneinfo,
            "photos": photos(&org, &user),
            "urls": urls(&org, &user),
            "active": user.active,
            "user_type": "STANDARD",
            "language": user.locale,
            "locale": user.locale,
            "utcOffset": utc_offset_ms(&user.zoneinfo),
            "last_modified_date": user.last_modified_date,
            "is_app_installed": true,
        }),
    )
}

/// `GET /services/data/` — versions, no credentials needed.
pub async fn versions() -> Response {
    let list: Vec<Json> = VERSIONS
        .iter()
        .map(|(v, label)| json!({"label": label, "url": format!("/services/data/v{v}"), "version": v}))
        .collect();
    reply::json(StatusCode::OK, &list)
}

/// `GET /services/data/vNN.N/` — resources, including the caller's `identity`.
pub async fn resources(
    State(org): State<Arc<Org>>,
    Path(v): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let Some(v) = parse_version(&v) else {
        return reply::not_found();
    };
    let p = |r: &str| format!("/services/data/v{v}/{r}");
    reply::json(
        StatusCode::OK,
        &json!({
            "tooling": p("tooling"),
            "metadata": p("metadata"),
            "chatter": p("chatter"),
            "tabs": p("tabs"),
            "appMenu": p("appMenu"),
            "quickActions": p("quickActions"),
            "queryAll": p("queryAll"),
            "search": p("search"),
            "identity": format!("{}/id/{}/{}", org.base_url, org.id, caller.user),
            "composite": p("composite"),
            "recent": p("recent"),
            "limits": p("limits"),
            "process": p("process"),
            "query": p("query"),
            "sobjects": p("sobjects"),
            "actions": p("actions"),
            "jobs": p("jobs"),
        }),
    )
}

/// `GET /services/data/vNN.N/limits`.
pub async fn limits(State(org): State<Arc<Org>>) -> Response {
    let u = org.usage();
    let jobs = lock(&org.bulk).len() as u64;
    reply::json(
        StatusCode::OK,
        &json!({
            "DailyApiRequests": {"Max": u.limit, "Remaining": u.limit.saturating_sub(u.used)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000u64.saturating_sub(jobs)},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976_562, "Remaining": 976_562},
            "DailyAsyncApexExecutions": {"Max": 250_000, "Remaining": 250_000},
        }),
    )
}
