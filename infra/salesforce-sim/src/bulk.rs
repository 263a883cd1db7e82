//! Bulk API 2.0 query jobs: create, poll (UploadComplete → InProgress → JobComplete), CSV
//! results paged by `Sforce-Locator`, abort, delete. Results are a snapshot at completion.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, STANDARD_NO_PAD_INDIFFERENT};
use serde::{Deserialize, Serialize};

use crate::clock::SfDateTime;
use crate::data::Db;
use crate::gate::{Caller, parse_version};
use crate::ids::{BULK_JOB_PREFIX, SfId};
use crate::org::{Org, lock};
use crate::query::{execute, row};
use crate::reply;
use crate::schema::{Field, Row, Value, format_number};
use crate::soql::{self, Query};

/// Job states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum JobState {
    /// Created.
    UploadComplete,
    /// Running.
    InProgress,
    /// Results ready.
    JobComplete,
    /// Failed (see `errorMessage`).
    Failed,
    /// Aborted by the client.
    Aborted,
}

/// CSV results frozen at completion: header + data rows with their byte offsets.
pub struct Results {
    header: String,
    body: String,
    /// Start offset of every row, plus the end of the body.
    starts: Vec<usize>,
}

impl Results {
    fn rows(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }
}

/// One query job.
pub struct Job {
    id: SfId,
    operation: String,
    query: Query,
    created_by: SfId,
    created: SfDateTime,
    modstamp: SfDateTime,
    api_version: String,
    column_delimiter: String,
    line_ending: String,
    state: JobState,
    polls: u32,
    fail: Option<String>,
    results: Option<Arc<Results>>,
    processing_ms: u64,
}

/// All jobs of the org (in memory only).
#[derive(Default)]
pub struct Jobs {
    map: BTreeMap<SfId, Job>,
}

/// Rendered results kept in memory across all jobs; older jobs are deleted beyond this
/// (Salesforce deletes finished jobs after 7 days; long benchmarks need a tighter bound).
const RESULTS_BYTE_BUDGET: usize = 512 * 1024 * 1024;

impl Jobs {
    fn evict_results(&mut self) {
        let size = |j: &Job| j.results.as_ref().map_or(0, |r| r.body.len() + r.starts.len() * 8);
        let mut total: usize = self.map.values().map(size).sum();
        // Job ids rise with creation, so the map's first entries are the oldest.
        while total > RESULTS_BYTE_BUDGET {
            let Some(oldest) = self.map.iter().find(|(_, j)| j.results.is_some()).map(|(k, _)| *k) else {
                break;
            };
            if let Some(j) = self.map.remove(&oldest) {
                total -= size(&j);
            }
        }
    }

    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are no jobs.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[derive(Serialize)]
struct JobInfo<'a> {
    id: String,
    operation: &'a str,
    object: &'a str,
    #[serde(rename = "createdById")]
    created_by_id: String,
    #[serde(rename = "createdDate")]
    created_date: SfDateTime,
    #[serde(rename = "systemModstamp")]
    system_modstamp: SfDateTime,
    state: JobState,
    #[serde(rename = "concurrencyMode")]
    concurrency_mode: &'static str,
    #[serde(rename = "contentType")]
    content_type: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: f64,
    #[serde(rename = "jobType", skip_serializing_if = "Option::is_none")]
    job_type: Option<&'static str>,
    #[serde(rename = "lineEnding")]
    line_ending: &'a str,
    #[serde(rename = "columnDelimiter")]
    column_delimiter: &'a str,
    #[serde(rename = "numberRecordsProcessed", skip_serializing_if = "Option::is_none")]
    number_records_processed: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retries: Option<u32>,
    #[serde(rename = "totalProcessingTime", skip_serializing_if = "Option::is_none")]
    total_processing_time: Option<u64>,
    #[serde(rename = "isPkChunkingSupported", skip_serializing_if = "Option::is_none")]
    is_pk_chunking_supported: Option<bool>,
    #[serde(rename = "errorMessage", skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
}

fn info(job: &Job, detailed: bool) -> JobInfo<'_> {
    JobInfo {
        id: job.id.to_string(),
        operation: &job.operation,
        object: job.query.object.name(),
        created_by_id: job.created_by.to_string(),
        created_date: job.created,
        system_modstamp: job.modstamp,
        state: job.state,
        concurrency_mode: "Parallel",
        content_type: "CSV",
        api_version: job.api_version.parse().unwrap_or(0.0),
        job_type: detailed.then_some("V2Query"),
        line_ending: &job.line_ending,
        column_delimiter: &job.column_delimiter,
        number_records_processed: detailed.then(|| job.results.as_ref().map_or(0, |r| r.rows())),
        retries: detailed.then_some(0),
        total_processing_time: detailed.then_some(job.processing_ms),
        is_pk_chunking_supported: detailed.then_some(true),
        error_message: if job.state == JobState::Failed { job.fail.as_deref() } else { None },
    }
}

fn bad(code: &str, msg: &str) -> Response {
    reply::bulk_error(StatusCode::BAD_REQUEST, code, msg)
}

fn job_not_found() -> Response {
    reply::bulk_error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist")
}

fn delimiter(name: &str) -> Option<char> {
    Some(match name {
        "COMMA" => ',',
        "TAB" => '\t',
        "SEMICOLON" => ';',
        "PIPE" => '|',
        "CARET" => '^',
        "BACKQUOTE" => '`',
        _ => return None,
    })
}

#[derive(Deserialize)]
struct CreateBody {
    operation: Option<String>,
    query: Option<String>,
    #[serde(rename = "columnDelimiter")]
    column_delimiter: Option<String>,
    #[serde(rename = "lineEnding")]
    line_ending: Option<String>,
    #[serde(rename = "contentType")]
    content_type: Option<String>,
}

/// `POST /services/data/vNN.N/jobs/query`.
pub async fn create(
    State(org): State<Arc<Org>>,
    Path(v): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let Some(version) = parse_version(&v) else {
        return reply::not_found();
    };
    let b: CreateBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad("JSON_PARSER_ERROR", &e.to_string()),
    };
    let operation = b.operation.unwrap_or_default();
    if operation != "query" && operation != "queryAll" {
        return bad("INVALIDJOB", &format!("Invalid operation: '{operation}'; expected query or queryAll"));
    }
    let Some(q) = b.query.filter(|q| !q.trim().is_empty()) else {
        return bad("INVALIDJOB", "The query field is required");
    };
    let query = match soql::parse_as(&q, &org.soql_context(&caller.user)) {
        Ok(q) => q,
        Err(e) => return bad(e.code(), &e.to_string()),
    };
    if query.count {
        return bad("INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0 query jobs");
    }
    let column_delimiter = b.column_delimiter.unwrap_or_else(|| "COMMA".to_owned());
    if delimiter(&column_delimiter).is_none() {
        return bad("INVALIDJOB", &format!("Invalid columnDelimiter: {column_delimiter}"));
    }
    let line_ending = b.line_ending.unwrap_or_else(|| "LF".to_owned());
    if line_ending != "LF" && line_ending != "CRLF" {
        return bad("INVALIDJOB", &format!("Invalid lineEnding: {line_ending}"));
    }
    if b.content_type.is_some_and(|c| c != "CSV") {
        return bad("INVALIDJOB", "Only contentType CSV is supported");
    }
    let now = org.now();
    let id = org.db_mut().next_id(BULK_JOB_PREFIX);
    let fail = lock(&org.faults).bulk_fail_next.take();
    let job = Job {
        id,
        operation,
        query,
        created_by: caller.user,
        created: now,
        modstamp: now,
        api_version: version.to_owned(),
        column_delimiter,
        line_ending,
        state: JobState::UploadComplete,
        polls: 0,
        fail,
        results: None,
        processing_ms: 0,
    };
    let resp = reply::json(StatusCode::OK, &info(&job, false));
    let mut jobs = lock(&org.bulk);
    jobs.evict_results();
    jobs.map.insert(id, job);
    resp
}

/// Advances a job by one poll (the sim's stand-in for background processing).
fn advance(org: &Org, job: &mut Job) {
    if !matches!(job.state, JobState::UploadComplete | JobState::InProgress) {
        return;
    }
    let (never, polls_needed) = {
        let f = lock(&org.faults);
        (f.bulk_never_complete, f.bulk_polls_until_complete)
    };
    job.modstamp = org.now();
    if job.fail.is_some() {
        job.state = JobState::Failed;
        return;
    }
    job.polls += 1;
    if never || job.polls <= polls_needed {
        job.state = JobState::InProgress;
        return;
    }
    let started = std::time::Instant::now();
    let db = org.db();
    job.results = Some(Arc::new(snapshot(&db, job)));
    job.processing_ms = started.elapsed().as_millis() as u64;
    job.state = JobState::JobComplete;
}

fn push_csv_value(out: &mut String, v: &Value<'_>) {
    let quoted = |out: &mut String, s: &str| {
        out.push('"');
        for c in s.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    };
    match v {
        Value::Null => {}
        Value::Bool(b) => quoted(out, if *b { "true" } else { "false" }),
        Value::Text(s) => quoted(out, s),
        Value::Id(id) => quoted(out, id.as_str()),
        Value::DateTime(t) => quoted(out, t.zulu().as_str()),
        Value::Date(d) => quoted(out, d.format().as_str()),
        Value::Number(n) => quoted(out, &format_number(*n)),
    }
}

/// Renders the job's query as CSV (every non-null value quoted, null = empty cell).
fn snapshot(db: &Db, job: &Job) -> Results {
    let all = job.operation == "queryAll";
    let slots = execute(db, &job.query, all);
    let delim = delimiter(&job.column_delimiter).unwrap_or(',');
    let eol = if job.line_ending == "CRLF" { "\r\n" } else { "\n" };
    let fields: &[Field] = &job.query.fields;
    let mut header = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            header.push(delim);
        }
        header.push('"');
        header.push_str(f.name());
        header.push('"');
    }
    header.push_str(eol);
    let mut body = String::with_capacity(slots.len() * 24 * fields.len().max(1));
    let mut starts = Vec::with_capacity(slots.len() + 1);
    for slot in slots {
        let Some(r) = row(db, job.query.object, slot) else {
            continue;
        };
        starts.push(body.len());
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                body.push(delim);
            }
            push_csv_value(&mut body, &r.value(*f));
        }
        body.push_str(eol);
    }
    starts.push(body.len());
    Results { header, body, starts }
}

fn with_job<T>(org: &Org, id: &str, f: impl FnOnce(&mut Job) -> T) -> Option<T> {
    let id = SfId::parse(id)?;
    let mut jobs = lock(&org.bulk);
    jobs.map.get_mut(&id).map(f)
}

/// `GET /services/data/vNN.N/jobs/query/{id}` — polling advances the job.
pub async fn get(State(org): State<Arc<Org>>, Path((v, id)): Path<(String, String)>) -> Response {
    if parse_version(&v).is_none() {
        return reply::not_found();
    }
    with_job(&org, &id, |job| {
        advance(&org, job);
        reply::json(StatusCode::OK, &info(job, true))
    })
    .unwrap_or_else(job_not_found)
}

/// `GET /services/data/vNN.N/jobs/query` — all jobs.
pub async fn list(State(org): State<Arc<Org>>, Path(v): Path<String>) -> Response {
    if parse_version(&v).is_none() {
        return reply::not_found();
    }
    let jobs = lock(&org.bulk);
    let records: Vec<JobInfo<'_>> = jobs.map.values().map(|j| info(j, true)).collect();
    reply::json(StatusCode::OK, &serde_json::json!({"done": true, "records": records, "nextRecordsUrl": null}))
}

/// `PATCH /services/data/vNN.N/jobs/query/{id}` with `{"state":"Aborted"}`.
pub async fn abort(State(org): State<Arc<Org>>, Path((v, id)): Path<(String, String)>, body: Bytes) -> Response {
    if parse_version(&v).is_none() {
        return reply::not_found();
    }
    let wanted: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if wanted.get("state").and_then(|s| s.as_str()) != Some("Aborted") {
        return bad("INVALIDJOBSTATE", "Only state Aborted can be set on a query job");
    }
    let now = org.now();
    with_job(&org, &id, |job| {
        if matches!(job.state, JobState::UploadComplete | JobState::InProgress) {
            job.state = JobState::Aborted;
            job.modstamp = now;
            reply::json(StatusCode::OK, &info(job, false))
        } else {
            bad("INVALIDJOBSTATE", &format!("Job is already in state {:?}", job.state))
        }
    })
    .unwrap_or_else(job_not_found)
}

/// `DELETE /services/data/vNN.N/jobs/query/{id}`.
pub async fn delete(State(org): State<Arc<Org>>, Path((v, id)): Path<(String, String)>) -> Response {
    if parse_version(&v).is_none() {
        return reply::not_found();
    }
    let removed = SfId::parse(&id).and_then(|id| lock(&org.bulk).map.remove(&id));
    match removed {
        Some(_) => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        None => job_not_found(),
    }
}

/// `GET /services/data/vNN.N/jobs/query/{id}/results[?locator=&maxRecords=]`.
pub async fn results(
    State(org): State<Arc<Org>>,
    Path((v, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(version) = parse_version(&v) else {
        return reply::not_found();
    };
    // Results are CSV only: a client that says it wants anything else (or several things) is
    // refused rather than guessed at.
    let accepts: Vec<&[u8]> = headers.get_all(axum::http::header::ACCEPT).iter().map(|v| v.as_bytes()).collect();
    if accepts != [b"text/csv".as_slice()] {
        return reply::bulk_error(StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE", "Results are served as text/csv only");
    }
    let found = with_job(&org, &id, |job| (job.api_version.clone(), job.state, job.results.clone()));
    let Some((job_version, state, results)) = found else {
        return job_not_found();
    };
    if job_version != version {
        return reply::bulk_error(
            StatusCode::CONFLICT,
            "API_VERSION_MISMATCH",
            &format!("Results must be retrieved with the job's API version v{job_version}"),
        );
    }
    let Some(results) = results.filter(|_| state == JobState::JobComplete) else {
        return bad("INVALIDJOBSTATE", &format!("Job is not complete (state {state:?}); results are not available"));
    };
    let mut locator = None;
    let mut max = org.config.bulk.page_size;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "locator" => locator = Some(v.into_owned()),
            "maxRecords" => match v.parse::<usize>() {
                Ok(n) if n > 0 => max = n,
                _ => return bad("INVALID_MAX_RECORDS", &format!("Invalid maxRecords: {v}")),
            },
            _ => {}
        }
    }
    // Locators are base64 of the row offset, like the opaque values Salesforce returns.
    let offset = match locator.as_deref() {
        None | Some("") => 0,
        Some(l) => match STANDARD_NO_PAD_INDIFFERENT
            .decode(l)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|o| *o <= results.rows())
        {
            Some(o) => o,
            None => return bad("INVALID_LOCATOR", &format!("Invalid locator: {l}")),
        },
    };
    let end = offset.saturating_add(max).min(results.rows());
    let (a, b) = (results.starts[offset], results.starts[end]);
    let mut body = String::with_capacity(results.header.len() + b - a);
    body.push_str(&results.header);
    body.push_str(&results.body[a..b]);
    let next = if end < results.rows() { STANDARD_NO_PAD.encode(end.to_string()) } else { "null".to_owned() };
    let mut r = reply::bytes_with(StatusCode::OK, "text/csv", body.into_bytes());
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&next) {
        h.insert("sforce-locator", v);
    }
    h.insert("sforce-numberofrecords", HeaderValue::from(end - offset));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn csv_quotes_every_value_and_leaves_nulls_empty() {
        let mut s = String::new();
        push_csv_value(&mut s, &Value::Text(Cow::Borrowed("say \"hi\", ok\nbye")));
        s.push(',');
        push_csv_value(&mut s, &Value::Null);
        s.push(',');
        push_csv_value(&mut s, &Value::Bool(true));
        s.push(',');
        push_csv_value(&mut s, &Value::DateTime(SfDateTime(0)));
        assert_eq!(s, "\"say \"\"hi\"\", ok\nbye\",,\"true\",\"1970-01-01T00:00:00.000Z\"");
    }
}
