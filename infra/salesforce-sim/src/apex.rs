//! The org's Apex: the package's REST resource (`@RestResource(urlMapping='/outpost/v1/*')`)
//! and the trigger-driven callouts to Outpost (`POST <outpost>/apex/v1/records`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::clock::SfDate;
use crate::data::Task;
use crate::gate::Caller;
use crate::ids::{SfId, TASK_PREFIX};
use crate::org::Org;
use crate::reply;
use crate::schema::{Field, Row, SObject};

fn parser_error(msg: &str) -> Response {
    reply::bulk_error(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", msg)
}

#[derive(Serialize)]
struct ActivityResult {
    #[serde(rename = "whoId")]
    who_id: String,
    success: bool,
    #[serde(rename = "taskId", skip_serializing_if = "Option::is_none")]
    task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `POST /services/apexrest/...`: the package's resource answers only at its namespace's path, as
/// a managed package's classes do; any other path is Salesforce's `NOT_FOUND`.
pub async fn rest(
    State(org): State<Arc<Org>>,
    Path(path): Path<String>,
    caller: Extension<Caller>,
    body: Bytes,
) -> Response {
    let expected = match org.namespace.read().unwrap_or_else(|poisoned| poisoned.into_inner()).as_deref() {
        Some(namespace) => format!("{namespace}/outpost/v1/activity"),
        None => "outpost/v1/activity".to_owned(),
    };
    if path != expected {
        return reply::api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Could not find a match for URL");
    }
    activity(State(org), caller, body).await
}

/// `POST /services/apexrest/[<namespace>/]outpost/v1/activity`: one Task per whoId.
async fn activity(State(org): State<Arc<Org>>, Extension(caller): Extension<Caller>, body: Bytes) -> Response {
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return parser_error(&format!("Unexpected character in JSON body: {e}")),
    };
    let Some(o) = v.as_object() else {
        return parser_error("Expected a JSON object");
    };
    let subject = match o.get("subject") {
        Some(serde_json::Value::String(s)) if (1..=255).contains(&s.chars().count()) => s.clone(),
        _ => return parser_error("subject must be a string of 1 to 255 characters"),
    };
    let description = match o.get("description") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        _ => return parser_error("description must be a string or null"),
    };
    let activity_date = match o.get("activityDate").and_then(|d| d.as_str()).and_then(SfDate::parse) {
        Some(d) => d,
        None => return parser_error("activityDate must be a date YYYY-MM-DD"),
    };
    let who_ids: Vec<String> = match o.get("whoIds").and_then(|w| w.as_array()) {
        Some(a) if (1..=200).contains(&a.len()) => {
            match a.iter().map(|x| x.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>() {
                Some(ids) => ids,
                None => return parser_error("whoIds must be an array of strings"),
            }
        }
        _ => return parser_error("whoIds must be an array of 1 to 200 ids"),
    };
    let now = org.now();
    let mut db = org.db_mut();
    let mut results = Vec::with_capacity(who_ids.len());
    for raw in who_ids {
        let parsed =
            SfId::parse(&raw).filter(|id| matches!(SObject::of_id(id), Some(SObject::Contact | SObject::Lead)));
        let outcome = match parsed {
            None => Err(format!("INVALID_CROSS_REFERENCE_KEY: invalid cross reference id: {raw}")),
            Some(id) => match db.record(&id) {
                None => Err(format!("INVALID_CROSS_REFERENCE_KEY: invalid cross reference id: {raw}")),
                Some(r) if r.is_deleted || r.purged => Err("ENTITY_IS_DELETED: entity is deleted".to_owned()),
                Some(_) => Ok(id),
            },
        };
        results.push(match outcome {
            Ok(who) => {
                let id = db.next_id(TASK_PREFIX);
                db.tasks.push(Task {
                    id,
                    who_id: who,
                    subject: subject.clone(),
                    description: description.clone(),
                    activity_date,
                    status: "Completed".to_owned(),
                    owner_id: caller.user,
                    created_date: now,
                });
                ActivityResult { who_id: who.to_string(), success: true, task_id: Some(id.to_string()), error: None }
            }
            Err(e) => ActivityResult { who_id: raw, success: false, task_id: None, error: Some(e) },
        });
    }
    drop(db);
    reply::json(StatusCode::OK, &serde_json::json!({ "results": results }))
}

/// Options of [`crate::SimHandle::fire_callouts`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CalloutOptions {
    /// Send every batch twice with the same `Idempotency-Key`, as Apex does when it retries
    /// after its 10-second callout timeout although Outpost did receive the first request.
    #[serde(default)]
    pub retry_as_if_timed_out: bool,
    /// Mixed into the idempotency key, to make otherwise identical batches distinct.
    #[serde(default)]
    pub key_salt: Option<String>,
}

/// One HTTP attempt of a callout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalloutAttempt {
    /// Batch number (0-based).
    pub batch: usize,
    /// HTTP status; 0 when the request did not complete (see `error`).
    pub status: u16,
    /// Response body.
    pub body: String,
    /// The `Idempotency-Key` sent.
    pub idempotency_key: String,
    /// Transport error, if any.
    pub error: Option<String>,
}

/// Why callouts could not be fired.
#[derive(Debug, thiserror::Error)]
pub enum CalloutError {
    /// No Outpost URL configured.
    #[error("no Outpost URL configured (SimConfig::outpost / set_outpost)")]
    NoOutpost,
    /// Only Contact and Lead have triggers.
    #[error("callouts exist for Contact and Lead only, not {0}")]
    UnsupportedObject(SObject),
    /// Unknown or malformed id.
    #[error("unknown {0} id: {1}")]
    UnknownRecord(SObject, String),
}

/// Builds the batches (≤200 records + ≤200 deleted ids each) as JSON bodies.
pub fn callout_batches(
    org: &Org,
    obj: SObject,
    ids: &[String],
    deleted: &[String],
) -> Result<Vec<serde_json::Value>, CalloutError> {
    if !matches!(obj, SObject::Contact | SObject::Lead) {
        return Err(CalloutError::UnsupportedObject(obj));
    }
    let db = org.db();
    let mut fields = vec![
        Field::Id,
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::HasOptedOutOfEmail,
        Field::IsEmailBounced,
        Field::EmailBouncedReason,
        Field::EmailBouncedDate,
        Field::SystemModstamp,
    ];
    if obj == SObject::Lead {
        fields.push(Field::IsConverted);
    }
    let mut records = Vec::with_capacity(ids.len());
    for raw in ids {
        let rec = SfId::parse(raw)
            .filter(|id| id.prefix() == obj.prefix())
            .and_then(|id| db.record(&id))
            .ok_or_else(|| CalloutError::UnknownRecord(obj, raw.clone()))?;
        let mut m = serde_json::Map::new();
        for f in &fields {
            // Apex JSON.serialize renders datetimes as `…000Z`.
            m.insert(f.name().to_owned(), rec.value(*f).to_json(true));
        }
        records.push(serde_json::Value::Object(m));
    }
    let mut deleted_ids = Vec::with_capacity(deleted.len());
    for raw in deleted {
        let id = SfId::parse(raw)
            .filter(|id| id.prefix() == obj.prefix())
            .ok_or_else(|| CalloutError::UnknownRecord(obj, raw.clone()))?;
        deleted_ids.push(serde_json::Value::String(id.to_string()));
    }
    let n = records.len().div_ceil(200).max(deleted_ids.len().div_ceil(200)).max(1);
    let mut rec_chunks = records.chunks(200);
    let mut del_chunks = deleted_ids.chunks(200);
    Ok((0..n)
        .map(|_| {
            serde_json::json!({
                "sobject": obj.name(),
                "records": rec_chunks.next().unwrap_or(&[]),
                "deleted": del_chunks.next().unwrap_or(&[]),
            })
        })
        .collect())
}

/// A key that is stable for a given batch content (so a replayed batch carries the same key).
fn idempotency_key(org: &SfId, body: &[u8], salt: Option<&str>) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(org.as_str().as_bytes());
    ctx.update(body);
    if let Some(s) = salt {
        ctx.update(s.as_bytes());
    }
    let d = ctx.finish();
    let hex: String = d.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    // UUID-shaped, like Apex's UUID.randomUUID() strings.
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// POSTs the batches to `<outpost>/apex/v1/records`.
pub async fn fire(
    org: &Org,
    obj: SObject,
    ids: &[String],
    deleted: &[String],
    opts: &CalloutOptions,
) -> Result<Vec<CalloutAttempt>, CalloutError> {
    let target = org.outpost().ok_or(CalloutError::NoOutpost)?;
    let batches = callout_batches(org, obj, ids, deleted)?;
    let url = format!("{}/apex/v1/records", target.base_url.trim_end_matches('/'));
    let mut attempts = Vec::new();
    for (batch, body) in batches.into_iter().enumerate() {
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let key = idempotency_key(&org.id, &bytes, opts.key_salt.as_deref());
        let sends = if opts.retry_as_if_timed_out { 2 } else { 1 };
        for _ in 0..sends {
            let res = org
                .http
                .post(&url)
                .header("Authorization", format!("Bearer {}", target.callout_key))
                .header("X-Outpost-Org", org.id.as_str())
                .header("Idempotency-Key", &key)
                .header("Content-Type", "application/json")
                .body(bytes.clone())
                .send()
                .await;
            attempts.push(match res {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap_or_default();
                    CalloutAttempt { batch, status, body, idempotency_key: key.clone(), error: None }
                }
                Err(e) => CalloutAttempt {
                    batch,
                    status: 0,
                    body: String::new(),
                    idempotency_key: key.clone(),
                    error: Some(e.to_string()),
                },
            });
        }
    }
    Ok(attempts)
}
