//! getDeleted / getUpdated (`/sobjects/{SObject}/deleted/`, `/updated/`): minute-granular
//! windows over the delete log (15 days) and the SystemModstamp index (30 days).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::clock::SfDateTime;
use crate::gate::parse_version;
use crate::org::Org;
use crate::reply;
use crate::schema::SObject;

/// getUpdated refuses more ids than this.
const ID_LIMIT: usize = 600_000;

fn bad_date(msg: &str) -> Response {
    reply::api_error(StatusCode::BAD_REQUEST, "INVALID_REPLICATION_DATE", msg)
}

/// Parses `start`/`end`; both required, ISO 8601.
fn window(raw: Option<&str>) -> Result<(SfDateTime, SfDateTime), Response> {
    let mut start = None;
    let mut end = None;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "start" => start = Some(v.into_owned()),
            "end" => end = Some(v.into_owned()),
            _ => {}
        }
    }
    let (Some(start), Some(end)) = (start, end) else {
        return Err(reply::api_error(
            StatusCode::BAD_REQUEST,
            "MISSING_ARGUMENT",
            "Both start and end parameters are required",
        ));
    };
    let parse = |s: &str| SfDateTime::parse(s).ok_or_else(|| bad_date(&format!("Unable to parse date: {s}")));
    let (start, end) = (parse(&start)?, parse(&end)?);
    if end < start {
        return Err(bad_date("startDate must chronologically precede endDate"));
    }
    Ok((start, end))
}

#[derive(Serialize)]
struct DeletedRecord {
    id: String,
    #[serde(rename = "deletedDate")]
    deleted_date: SfDateTime,
}

#[derive(Serialize)]
struct DeletedBody {
    #[serde(rename = "deletedRecords")]
    deleted_records: Vec<DeletedRecord>,
    #[serde(rename = "earliestDateAvailable")]
    earliest_date_available: SfDateTime,
    #[serde(rename = "latestDateCovered")]
    latest_date_covered: SfDateTime,
}

#[derive(Serialize)]
struct UpdatedBody {
    ids: Vec<String>,
    #[serde(rename = "latestDateCovered")]
    latest_date_covered: SfDateTime,
}

fn object(v: &str, obj: &str) -> Option<SObject> {
    parse_version(v)?;
    SObject::from_name(obj)
}

/// `GET /services/data/vNN.N/sobjects/{SObject}/deleted/?start=&end=`.
pub async fn deleted(
    State(org): State<Arc<Org>>,
    Path((v, obj)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(obj) = object(&v, &obj) else {
        return reply::not_found();
    };
    let (start, end) = match window(raw.as_deref()) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let now = org.now();
    let retention = org.config.deleted_retention.as_secs() as i64;
    let earliest = SfDateTime(now.0 - retention).floor_minute();
    if start < earliest {
        return bad_date(&format!("startDate is before the earliestDateAvailable ({})", earliest.rest().as_str()));
    }
    let latest = end.min(now).floor_minute();
    // The log is trimmed lazily: entries older than the window are dropped here.
    let mut db = org.db_mut();
    db.trim_deleted_log(earliest);
    let deleted_records = db
        .deleted_log
        .iter()
        .filter(|e| e.sobject == obj && e.deleted_date >= start && e.deleted_date < latest)
        .map(|e| DeletedRecord { id: e.id.to_string(), deleted_date: e.deleted_date })
        .collect();
    drop(db);
    reply::json(
        StatusCode::OK,
        &DeletedBody { deleted_records, earliest_date_available: earliest, latest_date_covered: latest },
    )
}

/// `GET /services/data/vNN.N/sobjects/{SObject}/updated/?start=&end=`.
pub async fn updated(
    State(org): State<Arc<Org>>,
    Path((v, obj)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(obj) = object(&v, &obj) else {
        return reply::not_found();
    };
    let (start, end) = match window(raw.as_deref()) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let now = org.now();
    let retention = org.config.updated_retention.as_secs() as i64;
    let earliest = SfDateTime(now.0 - retention).floor_minute();
    if start < earliest {
        return bad_date(&format!("startDate cannot be more than {} days ago", retention / 86_400));
    }
    let latest = end.min(now).floor_minute();
    let db = org.db();
    let ids: Vec<String> = match db.table(obj) {
        // BTreeSet::range panics on an inverted range.
        Some(_) if latest <= start => Vec::new(),
        Some(t) => t
            .by_modstamp()
            .range((start.0, 0)..(latest.0, 0))
            .filter_map(|(_, s)| t.get(*s))
            .filter(|r| !r.is_deleted)
            .map(|r| r.id.to_string())
            .collect(),
        None => Vec::new(),
    };
    if ids.len() > ID_LIMIT {
        return reply::api_error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "Too many ids: narrow the start/end window",
        );
    }
    reply::json(StatusCode::OK, &UpdatedBody { ids, latest_date_covered: latest })
}
