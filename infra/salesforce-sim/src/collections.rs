//! Writes: sObject Collections (create, update, upsert by external id, delete) and the
//! single-record upsert/update/delete resources. Every write plans on copies first, so
//! `allOrNone=true` can roll back without touching the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::data::{NewValue, Record, WriteError, WriteMode, apply_writes, blank_record, check_references, parse_write};
use crate::gate::{Caller, parse_version};
use crate::ids::SfId;
use crate::org::{Org, lock};
use crate::reply;
use crate::schema::{Field, SObject};

const MAX_RECORDS: usize = 200;

/// One planned write.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Update an existing record.
    Update {
        /// Record id.
        id: SfId,
        /// Field writes.
        writes: Vec<(Field, NewValue)>,
    },
    /// Create a record.
    Create {
        /// Contact or Lead.
        obj: SObject,
        /// Field writes.
        writes: Vec<(Field, NewValue)>,
    },
    /// Upsert by `Outpost_External_Id__c`.
    Upsert {
        /// Contact or Lead.
        obj: SObject,
        /// External id value.
        value: String,
        /// Field writes.
        writes: Vec<(Field, NewValue)>,
    },
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The record's id (absent for failed creates and unparseable ids).
    pub id: Option<SfId>,
    /// Upsert only: created?
    pub created: Option<bool>,
    /// The failure, if any.
    pub error: Option<WriteError>,
    /// Upsert only: every record the external id matched when it matched several.
    pub multiple: Vec<SfId>,
}

impl Outcome {
    fn fail(id: Option<SfId>, e: WriteError) -> Outcome {
        Outcome { id, created: None, error: Some(e), multiple: Vec::new() }
    }
}

/// Applies writes atomically (allOrNone) or per record; `mode` decides read-only rules.
pub fn execute_writes(
    org: &Org,
    caller: &Caller,
    ops: Vec<Result<WriteOp, WriteError>>,
    all_or_none: bool,
    upsert: bool,
) -> Vec<Outcome> {
    let mode = WriteMode::Api(org.access_of(&caller.user));
    let now = org.now();
    let mut db = org.db_mut();
    let mut faults = lock(&org.faults);
    // Tentative state: updated copies by (object, slot), new records in order.
    let mut staged: HashMap<(SObject, u32), Record> = HashMap::new();
    let mut creates: Vec<(usize, Record)> = Vec::new();
    let mut outcomes = Vec::with_capacity(ops.len());
    // An external id twice in one request fails both records, like Salesforce.
    let mut ext_counts: HashMap<String, usize> = HashMap::new();
    for op in ops.iter().flatten() {
        if let WriteOp::Upsert { value, .. } = op {
            *ext_counts.entry(value.to_lowercase()).or_default() += 1;
        }
    }
    let dup_ext: std::collections::HashSet<String> =
        ext_counts.into_iter().filter(|(_, n)| *n > 1).map(|(k, _)| k).collect();
    for (i, op) in ops.into_iter().enumerate() {
        let op = match op {
            Ok(op) => op,
            Err(e) => {
                outcomes.push(Outcome::fail(None, e));
                continue;
            }
        };
        // Resolve upserts to an update or a create.
        let (target, writes, obj, ext_created) = match op {
            WriteOp::Update { id, writes } => match db.find_record(&id) {
                Some((obj, slot)) => (Some((obj, slot, id)), writes, obj, None),
                None => {
                    outcomes.push(Outcome::fail(Some(id), WriteError::not_found(&id)));
                    continue;
                }
            },
            WriteOp::Create { obj, writes } => (None, writes, obj, None),
            WriteOp::Upsert { obj, value, writes } => {
                if dup_ext.contains(&value.to_lowercase()) {
                    outcomes.push(Outcome::fail(
                        None,
                        WriteError::new(
                            "DUPLICATE_VALUE",
                            format!("Duplicate external id specified: {value}"),
                            &[Field::OutpostExternalId.name()],
                        ),
                    ));
                    continue;
                }
                let Some(t) = db.table(obj) else {
                    outcomes.push(Outcome::fail(
                        None,
                        WriteError::new("INVALID_TYPE", "Must send a concrete entity type.", &[]),
                    ));
                    continue;
                };
                let matches: Vec<u32> = t
                    .by_external_id(&value)
                    .iter()
                    .copied()
                    .filter(|s| t.get(*s).is_some_and(|r| !r.is_deleted))
                    .collect();
                match matches.as_slice() {
                    [] => {
                        let mut w = writes;
                        w.retain(|(f, _)| *f != Field::OutpostExternalId);
                        w.push((Field::OutpostExternalId, NewValue::Text(value)));
                        (None, w, obj, Some(true))
                    }
                    [slot] => {
                        let id = t.get(*slot).map(|r| r.id);
                        match id {
                            Some(id) => (Some((obj, *slot, id)), writes, obj, Some(false)),
                            None => {
                                outcomes.push(Outcome::fail(None, WriteError::entity_deleted()));
                                continue;
                            }
                        }
                    }
                    many => {
                        let ids: Vec<SfId> = many.iter().filter_map(|s| t.get(*s).map(|r| r.id)).collect();
                        let mut o = Outcome::fail(
                            None,
                            WriteError::new(
                                "DUPLICATE_EXTERNAL_ID",
                                format!(
                                    "{}: more than one record found for external id field: {:?}",
                                    Field::OutpostExternalId.name(),
                                    ids.iter().map(SfId::to_string).collect::<Vec<_>>()
                                ),
                                &[Field::OutpostExternalId.name()],
                            ),
                        );
                        o.multiple = ids;
                        outcomes.push(o);
                        continue;
                    }
                }
            }
        };
        let created_flag = if upsert { ext_created } else { None };
        match target {
            Some((tobj, slot, id)) => {
                let current = match staged.get(&(tobj, slot)) {
                    Some(r) => r.clone(),
                    None => match db.table(tobj).and_then(|t| t.get(slot)) {
                        Some(r) => r.clone(),
                        None => {
                            outcomes.push(Outcome::fail(Some(id), WriteError::not_found(&id)));
                            continue;
                        }
                    },
                };
                let pre = if current.is_deleted || current.purged {
                    Err(WriteError::entity_deleted())
                } else if current.is_converted {
                    Err(WriteError::new("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", &[]))
                } else if let Some((code, msg)) = faults.take_write_failure(&id) {
                    Err(WriteError::new(&code, msg, &[]))
                } else {
                    Ok(())
                };
                let mut next = current;
                let applied = pre
                    .and_then(|()| check_references(&db, tobj, &writes))
                    .and_then(|()| apply_writes(&mut next, &writes, mode));
                match applied {
                    Ok(()) => {
                        next.last_modified_date = now;
                        next.system_modstamp = now.max(next.system_modstamp);
                        staged.insert((tobj, slot), next);
                        outcomes.push(Outcome {
                            id: Some(id),
                            created: created_flag,
                            error: None,
                            multiple: Vec::new(),
                        });
                    }
                    Err(e) => outcomes.push(Outcome::fail(Some(id), e)),
                }
            }
            None => {
                // Placeholder id; the real one is assigned at commit so rollbacks burn none.
                // Salesforce makes the creating user the owner unless the record names one.
                let mut rec = blank_record(db.next_id_peek(obj.prefix()), obj, now, caller.user);
                let applied = check_references(&db, obj, &writes).and_then(|()| apply_writes(&mut rec, &writes, mode));
                match applied {
                    Ok(()) => {
                        creates.push((i, rec));
                        outcomes.push(Outcome { id: None, created: created_flag, error: None, multiple: Vec::new() });
                    }
                    Err(e) => outcomes.push(Outcome::fail(None, e)),
                }
            }
        }
    }
    let any_failed = outcomes.iter().any(|o| o.error.is_some());
    if all_or_none && any_failed {
        for o in &mut outcomes {
            if o.error.is_none() {
                o.error = Some(WriteError::new(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                    &[],
                ));
                o.created = None;
            }
        }
        return outcomes;
    }
    for ((obj, slot), rec) in staged {
        if let Some(t) = db.table_mut(obj) {
            t.modify(slot, |r| *r = rec);
        }
    }
    for (i, mut rec) in creates {
        let id = db.next_id(rec.sobject.prefix());
        rec.id = id;
        if let Some(t) = db.table_mut(rec.sobject) {
            t.push(rec);
        }
        if let Some(o) = outcomes.get_mut(i) {
            o.id = Some(id);
        }
    }
    outcomes
}

#[derive(Serialize)]
struct ErrorItem<'a> {
    #[serde(rename = "statusCode")]
    status_code: &'a str,
    message: &'a str,
    fields: &'a [String],
}

#[derive(Serialize)]
struct SaveResult<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    success: bool,
    errors: Vec<ErrorItem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<bool>,
}

fn results(outcomes: &[Outcome], upsert: bool) -> Response {
    let body: Vec<SaveResult<'_>> = outcomes
        .iter()
        .map(|o| SaveResult {
            id: o.id.map(|i| i.to_string()),
            success: o.error.is_none(),
            errors: o
                .error
                .iter()
                .map(|e| ErrorItem { status_code: &e.code, message: &e.message, fields: &e.fields })
                .collect(),
            created: if upsert && o.error.is_none() { o.created } else { None },
        })
        .collect();
    reply::json(StatusCode::OK, &body)
}

fn json_error(msg: &str) -> Response {
    reply::api_error(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", msg)
}

/// Parses `{"allOrNone":…, "records":[…]}`.
fn parse_body(body: &[u8]) -> Result<(bool, Vec<serde_json::Map<String, serde_json::Value>>), Response> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| json_error(&e.to_string()))?;
    let obj =
        v.as_object().ok_or_else(|| json_error("Cannot deserialize instance of SObjectCollection from START_ARRAY"))?;
    let all_or_none = match obj.get("allOrNone") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(_) => return Err(json_error("allOrNone must be a boolean")),
    };
    let records = obj
        .get("records")
        .and_then(|r| r.as_array())
        .ok_or_else(|| json_error("records is required and must be an array"))?;
    if records.len() > MAX_RECORDS {
        return Err(reply::api_error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        ));
    }
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        match r.as_object() {
            Some(m) => out.push(m.clone()),
            None => return Err(json_error("Each record must be a JSON object")),
        }
    }
    Ok((all_or_none, out))
}

fn record_type(rec: &serde_json::Map<String, serde_json::Value>) -> Result<SObject, WriteError> {
    let t = rec
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(|t| t.as_str())
        .ok_or_else(|| WriteError::new("INVALID_TYPE", "Must send a concrete entity type.", &[]))?;
    SObject::from_name(t)
        .filter(|o| matches!(o, SObject::Contact | SObject::Lead))
        .ok_or_else(|| WriteError::new("INVALID_TYPE", format!("sObject type '{t}' is not supported."), &[]))
}

/// Field writes of one record; a request-level error aborts the whole call.
fn field_writes(
    obj: SObject,
    rec: &serde_json::Map<String, serde_json::Value>,
    skip: &[&str],
    mode: WriteMode,
) -> Result<Result<Vec<(Field, NewValue)>, WriteError>, Response> {
    let mut writes = Vec::new();
    let mut first_err = None;
    for (k, v) in rec {
        if k == "attributes" || skip.iter().any(|s| s.eq_ignore_ascii_case(k)) {
            continue;
        }
        match parse_write(obj, k, v, mode) {
            Ok(w) => writes.push(w),
            Err(e) if e.request_level => return Err(json_error(&e.message)),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Ok(match first_err {
        Some(e) => Err(e),
        None => Ok(writes),
    })
}

fn check_version(v: &str) -> Result<(), Response> {
    parse_version(v).map(|_| ()).ok_or_else(reply::not_found)
}

/// `PATCH /services/data/vNN.N/composite/sobjects` — update.
pub async fn update(
    State(org): State<Arc<Org>>,
    Path(v): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let mode = WriteMode::Api(org.access_of(&caller.user));
    if let Err(r) = check_version(&v) {
        return r;
    }
    let refusal = crate::org::lock(&org.faults).refuse_collection_updates.clone();
    if let Some(code) = refusal {
        // As when a field in the request is not writable for the user: the request fails whole.
        let message = "No such column 'HasOptedOutOfEmail' on sobject of type Contact";
        return reply::api_error(axum::http::StatusCode::BAD_REQUEST, &code, message);
    }
    let (all_or_none, records) = match parse_body(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut ops = Vec::with_capacity(records.len());
    for rec in &records {
        let id_val = rec.get("id").or_else(|| rec.get("Id")).and_then(|v| v.as_str());
        let op = (|| -> Result<Result<WriteOp, WriteError>, Response> {
            let obj = match record_type(rec) {
                Ok(o) => o,
                Err(e) => return Ok(Err(e)),
            };
            let Some(raw) = id_val else {
                return Ok(Err(WriteError::new("MISSING_ARGUMENT", "Id not specified in an update call", &[])));
            };
            let id = match SfId::parse(raw) {
                Some(id) if id.prefix() == obj.prefix() => id,
                _ => {
                    return Ok(Err(WriteError::new("MALFORMED_ID", format!("malformed id {raw}"), &[])));
                }
            };
            Ok(field_writes(obj, rec, &["id"], mode)?.map(|writes| WriteOp::Update { id, writes }))
        })();
        match op {
            Ok(op) => ops.push(op),
            Err(r) => return r,
        }
    }
    let outcomes = execute_writes(&org, &caller, ops, all_or_none, false);
    results(&outcomes, false)
}

/// `POST /services/data/vNN.N/composite/sobjects` — create.
pub async fn create(
    State(org): State<Arc<Org>>,
    Path(v): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let mode = WriteMode::Api(org.access_of(&caller.user));
    if let Err(r) = check_version(&v) {
        return r;
    }
    let (all_or_none, records) = match parse_body(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut ops = Vec::with_capacity(records.len());
    for rec in &records {
        let op = match record_type(rec) {
            Err(e) => Err(e),
            Ok(obj) => {
                if rec.keys().any(|k| k.eq_ignore_ascii_case("id")) {
                    Err(WriteError::new("INVALID_FIELD", "cannot specify Id in an insert call", &["Id"]))
                } else {
                    match field_writes(obj, rec, &[], mode) {
                        Ok(w) => w.map(|writes| WriteOp::Create { obj, writes }),
                        Err(r) => return r,
                    }
                }
            }
        };
        ops.push(op);
    }
    let outcomes = execute_writes(&org, &caller, ops, all_or_none, false);
    results(&outcomes, false)
}

fn external_field_missing(field: &str) -> Response {
    reply::api_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("Provided external ID field does not exist or is not accessible: {field}"),
    )
}

fn is_external_field(obj: SObject, field: &str) -> bool {
    obj.field(field) == Some(Field::OutpostExternalId)
}

/// `PATCH /services/data/vNN.N/composite/sobjects/{SObject}/{ExternalIdField}` — upsert.
pub async fn upsert(
    State(org): State<Arc<Org>>,
    Path((v, obj, field)): Path<(String, String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let mode = WriteMode::Api(org.access_of(&caller.user));
    if let Err(r) = check_version(&v) {
        return r;
    }
    let Some(obj) = SObject::from_name(&obj).filter(|o| matches!(o, SObject::Contact | SObject::Lead)) else {
        return reply::not_found();
    };
    if !is_external_field(obj, &field) {
        return external_field_missing(&field);
    }
    let (all_or_none, records) = match parse_body(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut ops = Vec::with_capacity(records.len());
    for rec in &records {
        let op = match record_type(rec) {
            Err(e) => Err(e),
            Ok(t) if t != obj => {
                Err(WriteError::new("INVALID_TYPE", format!("Record type {t} does not match the URI type {obj}"), &[]))
            }
            Ok(_) if rec.keys().any(|k| k.eq_ignore_ascii_case("id")) => {
                Err(WriteError::new("INVALID_FIELD", "Id is not allowed when upserting by external id", &["Id"]))
            }
            Ok(_) => {
                let value = rec
                    .iter()
                    .find(|(k, _)| is_external_field(obj, k))
                    .and_then(|(_, v)| v.as_str())
                    .filter(|s| !s.is_empty());
                match value {
                    None => Err(WriteError::new(
                        "MISSING_ARGUMENT",
                        format!("{} not specified", Field::OutpostExternalId.name()),
                        &[Field::OutpostExternalId.name()],
                    )),
                    Some(value) => match field_writes(obj, rec, &[], mode) {
                        Ok(w) => w.map(|writes| WriteOp::Upsert { obj, value: value.to_owned(), writes }),
                        Err(r) => return r,
                    },
                }
            }
        };
        ops.push(op);
    }
    let outcomes = execute_writes(&org, &caller, ops, all_or_none, true);
    results(&outcomes, true)
}

/// `DELETE /services/data/vNN.N/composite/sobjects?ids=…&allOrNone=` — to the recycle bin.
pub async fn delete(State(org): State<Arc<Org>>, Path(v): Path<String>, RawQuery(raw): RawQuery) -> Response {
    if let Err(r) = check_version(&v) {
        return r;
    }
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let ids: Vec<&str> =
        params.get("ids").map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    if ids.len() > MAX_RECORDS {
        return reply::api_error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        );
    }
    let all_or_none = params.get("allOrNone").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let now = org.now();
    let mut db = org.db_mut();
    let check = |db: &crate::data::Db, raw: &str| -> Outcome {
        match SfId::parse(raw) {
            None => Outcome::fail(None, WriteError::new("MALFORMED_ID", format!("malformed id {raw}"), &[])),
            Some(id) => match db.record(&id) {
                None => Outcome::fail(Some(id), WriteError::not_found(&id)),
                Some(r) if r.is_deleted || r.purged => Outcome::fail(Some(id), WriteError::entity_deleted()),
                Some(_) => Outcome { id: Some(id), created: None, error: None, multiple: Vec::new() },
            },
        }
    };
    let mut outcomes: Vec<Outcome> = ids.iter().map(|raw| check(&db, raw)).collect();
    if all_or_none && outcomes.iter().any(|o| o.error.is_some()) {
        for o in &mut outcomes {
            if o.error.is_none() {
                o.error = Some(WriteError::new(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                    &[],
                ));
            }
        }
    } else {
        for o in &mut outcomes {
            if let (None, Some(id)) = (&o.error, o.id)
                && let Err(e) = db.soft_delete(&id, now)
            {
                o.error = Some(e);
            }
        }
    }
    results(&outcomes, false)
}

fn single_error(e: &WriteError) -> Response {
    let status = if e.code == "NOT_FOUND" { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
    reply::api_error_fields(status, &e.code, &e.message, &e.fields)
}

fn parse_single_body(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Response> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| json_error(&e.to_string()))?;
    v.as_object().cloned().ok_or_else(|| json_error("Cannot deserialize instance of SObject from START_ARRAY"))
}

/// `PATCH /services/data/vNN.N/sobjects/{SObject}/{ExternalIdField}/{value}` — upsert one.
pub async fn upsert_one(
    State(org): State<Arc<Org>>,
    Path((v, obj, field, value)): Path<(String, String, String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let mode = WriteMode::Api(org.access_of(&caller.user));
    let Some(version) = parse_version(&v) else {
        return reply::not_found();
    };
    let Some(obj) = SObject::from_name(&obj).filter(|o| matches!(o, SObject::Contact | SObject::Lead)) else {
        return reply::not_found();
    };
    if !is_external_field(obj, &field) {
        return external_field_missing(&field);
    }
    let rec = match parse_single_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let writes = match field_writes(obj, &rec, &[], mode) {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => return single_error(&e),
        Err(r) => return r,
    };
    let outcome = execute_writes(&org, &caller, vec![Ok(WriteOp::Upsert { obj, value, writes })], true, true);
    let Some(o) = outcome.into_iter().next() else {
        return reply::not_found();
    };
    if !o.multiple.is_empty() {
        let urls: Vec<String> =
            o.multiple.iter().map(|id| format!("/services/data/v{version}/sobjects/{obj}/{id}")).collect();
        return reply::json(StatusCode::MULTIPLE_CHOICES, &urls);
    }
    match (&o.error, o.created) {
        (Some(e), _) => single_error(e),
        (None, Some(true)) => reply::json(
            StatusCode::CREATED,
            &serde_json::json!({"id": o.id.map(|i| i.to_string()), "success": true, "errors": [], "created": true}),
        ),
        (None, _) => no_content(),
    }
}

fn no_content() -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// `PATCH /services/data/vNN.N/sobjects/{SObject}/{id}` — update one (204).
pub async fn update_one(
    State(org): State<Arc<Org>>,
    Path((v, obj, id)): Path<(String, String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let mode = WriteMode::Api(org.access_of(&caller.user));
    if let Err(r) = check_version(&v) {
        return r;
    }
    let Some(obj) = SObject::from_name(&obj).filter(|o| matches!(o, SObject::Contact | SObject::Lead)) else {
        return reply::not_found();
    };
    let Some(id) = SfId::parse(&id).filter(|i| i.prefix() == obj.prefix()) else {
        return reply::not_found();
    };
    let rec = match parse_single_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let writes = match field_writes(obj, &rec, &["id"], mode) {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => return single_error(&e),
        Err(r) => return r,
    };
    let o = execute_writes(&org, &caller, vec![Ok(WriteOp::Update { id, writes })], true, false);
    match o.first().and_then(|o| o.error.as_ref()) {
        // The record itself is unknown (a bad reference in a field names that field instead).
        Some(e) if e.code == "INVALID_CROSS_REFERENCE_KEY" && e.fields.is_empty() => reply::not_found(),
        Some(e) => single_error(e),
        None => no_content(),
    }
}

/// `DELETE /services/data/vNN.N/sobjects/{SObject}/{id}` — to the recycle bin (204).
pub async fn delete_one(State(org): State<Arc<Org>>, Path((v, obj, id)): Path<(String, String, String)>) -> Response {
    if let Err(r) = check_version(&v) {
        return r;
    }
    let (Some(obj), Some(id)) = (SObject::from_name(&obj), SfId::parse(&id)) else {
        return reply::not_found();
    };
    if id.prefix() != obj.prefix() {
        return reply::not_found();
    }
    let now = org.now();
    match org.db_mut().soft_delete(&id, now) {
        Ok(()) => no_content(),
        Err(e) if e.code == "INVALID_CROSS_REFERENCE_KEY" => reply::not_found(),
        Err(e) => reply::api_error(StatusCode::NOT_FOUND, &e.code, &e.message),
    }
}
