//! Test controls: ground-truth data edits, sessions, faults, clock and API usage — as methods
//! on the org (used by `SimHandle`) and as JSON routes under `/_sim/*` (used by scripts).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::apex::{self, CalloutError, CalloutOptions};
use crate::clock::SfDateTime;
use crate::config::OutpostTarget;
use crate::data::{NewValue, Record, WriteMode, apply_writes, blank_record, check_references, parse_write};
use crate::faults::{FaultUpdate, Faults, WriteFailure};
use crate::ids::SfId;
use crate::org::{Org, lock, write};
use crate::reply;
use crate::schema::{Field, SObject};
use crate::sessions::SessionKind;
use crate::{canvas, ui};

/// Errors of the control API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No such user (by id or username).
    #[error("unknown user: {0}")]
    UnknownUser(String),
    /// No such record.
    #[error("unknown record: {0}")]
    UnknownRecord(String),
    /// Not a Salesforce id.
    #[error("invalid Salesforce id: {0}")]
    InvalidId(String),
    /// The object does not support that operation.
    #[error("unsupported object: {0}")]
    UnsupportedObject(String),
    /// A write was refused (`INVALID_FIELD`, `REQUIRED_FIELD_MISSING`, …).
    #[error("{code}: {message}")]
    Write {
        /// Salesforce status code.
        code: String,
        /// Message.
        message: String,
    },
    /// Callouts could not be fired.
    #[error(transparent)]
    Callout(#[from] CalloutError),
    /// No Outpost URL configured.
    #[error("no Outpost URL configured")]
    NoOutpost,
    /// A list-view selection the list button refuses (none, more than 1,000, another object).
    #[error("invalid selection: {0}")]
    InvalidSelection(String),
    /// Binding, persistence or other I/O.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Invalid configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<crate::data::WriteError> for SimError {
    fn from(e: crate::data::WriteError) -> Self {
        SimError::Write { code: e.code, message: e.message }
    }
}

impl SimError {
    fn status(&self) -> StatusCode {
        match self {
            SimError::UnknownUser(_) | SimError::UnknownRecord(_) => StatusCode::NOT_FOUND,
            SimError::NoOutpost => StatusCode::CONFLICT,
            SimError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        reply::json(self.status(), &json!({"error": self.to_string()}))
    }
}

/// Most records one list-button hand-over carries (`OutpostEntry.MAX_RECORDS`).
pub const MAX_LIST_SELECTION: usize = 1000;

fn parse_id(s: &str) -> Result<SfId, SimError> {
    SfId::parse(s).ok_or_else(|| SimError::InvalidId(s.to_owned()))
}

fn record_object(obj: SObject) -> Result<SObject, SimError> {
    match obj {
        SObject::Contact | SObject::Lead => Ok(obj),
        other => Err(SimError::UnsupportedObject(other.name().to_owned())),
    }
}

fn parse_fields(
    obj: SObject,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<(Field, NewValue)>, SimError> {
    fields
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("attributes") && !k.eq_ignore_ascii_case("id"))
        .map(|(k, v)| parse_write(obj, k, v, WriteMode::Control).map_err(SimError::from))
        .collect()
}

impl Org {
    /// A SystemModstamp at least 1 s past every existing one, so cursors see the change.
    fn bumped_modstamp(&self, db: &crate::data::Db, obj: SObject) -> SfDateTime {
        let max = db.table(obj).map_or(i64::MIN, |t| t.max_modstamp());
        SfDateTime(self.now().0.max(max.saturating_add(1)))
    }

    /// Ground truth of one object (purged rows included, flagged).
    pub fn ctl_records(&self, obj: SObject) -> Result<Vec<Record>, SimError> {
        let obj = record_object(obj)?;
        Ok(self.db().table(obj).map(|t| t.records().to_vec()).unwrap_or_default())
    }

    /// One record.
    pub fn ctl_record(&self, id: &str) -> Result<Record, SimError> {
        let id = parse_id(id)?;
        self.db().record(&id).cloned().ok_or_else(|| SimError::UnknownRecord(id.to_string()))
    }

    /// Updates fields (Salesforce names) and bumps SystemModstamp past the current max.
    pub fn ctl_update(
        &self,
        id: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Record, SimError> {
        let id = parse_id(id)?;
        let mut db = self.db_mut();
        let (obj, slot) = db.find_record(&id).ok_or_else(|| SimError::UnknownRecord(id.to_string()))?;
        let writes = parse_fields(obj, fields)?;
        let stamp = self.bumped_modstamp(&db, obj);
        check_references(&db, obj, &writes)?;
        let table = db.table_mut(obj).ok_or_else(|| SimError::UnknownRecord(id.to_string()))?;
        let mut next = table.get(slot).cloned().ok_or_else(|| SimError::UnknownRecord(id.to_string()))?;
        if next.purged {
            return Err(SimError::UnknownRecord(id.to_string()));
        }
        apply_writes(&mut next, &writes, WriteMode::Control)?;
        next.system_modstamp = stamp;
        next.last_modified_date = stamp;
        let out = next.clone();
        table.modify(slot, |r| *r = next);
        Ok(out)
    }

    /// Creates a Contact or Lead from fields (Salesforce names).
    pub fn ctl_create(
        &self,
        obj: SObject,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Record, SimError> {
        let obj = record_object(obj)?;
        let writes = parse_fields(obj, fields)?;
        let mut db = self.db_mut();
        let stamp = self.bumped_modstamp(&db, obj);
        let mut rec = blank_record(db.next_id_peek(obj.prefix()), obj, stamp, db.default_owner());
        check_references(&db, obj, &writes)?;
        apply_writes(&mut rec, &writes, WriteMode::Control)?;
        rec.id = db.next_id(obj.prefix());
        let out = rec.clone();
        if let Some(t) = db.table_mut(obj) {
            t.push(rec);
        }
        Ok(out)
    }

    /// Moves a record to the recycle bin.
    pub fn ctl_soft_delete(&self, id: &str) -> Result<(), SimError> {
        let id = parse_id(id)?;
        let mut db = self.db_mut();
        let (obj, _) = db.find_record(&id).ok_or_else(|| SimError::UnknownRecord(id.to_string()))?;
        let stamp = self.bumped_modstamp(&db, obj);
        Ok(db.soft_delete(&id, stamp)?)
    }

    /// Purges a record (hard delete).
    pub fn ctl_hard_delete(&self, id: &str) -> Result<(), SimError> {
        let id = parse_id(id)?;
        let now = self.now();
        Ok(self.db_mut().purge(&id, now)?)
    }

    /// Converts a lead (IsConverted, status `Closed - Converted`).
    pub fn ctl_convert_lead(&self, id: &str) -> Result<Record, SimError> {
        let mut fields = serde_json::Map::new();
        fields.insert("IsConverted".into(), true.into());
        fields.insert("Status".into(), "Closed - Converted".into());
        let sid = parse_id(id)?;
        if sid.prefix() != SObject::Lead.prefix() {
            return Err(SimError::UnsupportedObject("only Leads convert".into()));
        }
        self.ctl_update(id, &fields)
    }

    /// Mints a session for a user (id or username).
    pub fn ctl_mint(&self, user: &str, kind: SessionKind) -> Result<String, SimError> {
        let u = self.find_user(user).ok_or_else(|| SimError::UnknownUser(user.to_owned()))?;
        Ok(self.mint(u.id, kind))
    }

    /// Resets every fault knob to the configured defaults.
    pub fn ctl_reset_faults(&self) {
        *lock(&self.faults) = Faults::new(self.config.latency, self.config.bulk.polls_until_complete, self.config.seed);
    }

    /// The exact custom link for a user, minting a session of `kind`.
    pub fn ctl_custom_link(&self, user: &str, record: Option<&str>, kind: SessionKind) -> Result<String, SimError> {
        let target = self.outpost().ok_or(SimError::NoOutpost)?;
        let u = self.find_user(user).ok_or_else(|| SimError::UnknownUser(user.to_owned()))?;
        let record = record.map(parse_id).transpose()?;
        let sid = self.mint(u.id, kind);
        Ok(ui::custom_link(self, &target.base_url, &u.id, record.as_ref(), &sid))
    }

    /// The launcher's entry form for a user (`uid`, `oid`, `sid`, `srv`, optional `rid`),
    /// minting a session of `kind` as the Visualforce page render would.
    pub fn ctl_launcher_form(
        &self,
        user: &str,
        record: Option<&str>,
        kind: SessionKind,
    ) -> Result<Vec<(String, String)>, SimError> {
        let u = self.find_user(user).ok_or_else(|| SimError::UnknownUser(user.to_owned()))?;
        let record = match record {
            Some(r) => {
                let id = parse_id(r)?;
                // OutpostEntry.withRecord refuses anything but a Contact or Lead id.
                if !matches!(SObject::of_id(&id), Some(SObject::Contact | SObject::Lead)) {
                    return Err(SimError::UnsupportedObject(format!("{id} is not a Contact or Lead id")));
                }
                Some(id)
            }
            None => None,
        };
        let mut form = ui::entry_form(self, &u.id, &self.mint(u.id, kind));
        if let Some(r) = record {
            form.push(("rid".to_owned(), r.to_string()));
        }
        Ok(form)
    }

    /// The list button's entry form for a user: the launcher's fields plus `ids` (18-char,
    /// comma-separated, 1 to 1,000) and `object`, minting a session of `kind`.
    pub fn ctl_list_button_form(
        &self,
        user: &str,
        object: SObject,
        ids: &[&str],
        kind: SessionKind,
    ) -> Result<Vec<(String, String)>, SimError> {
        let u = self.find_user(user).ok_or_else(|| SimError::UnknownUser(user.to_owned()))?;
        let object = record_object(object)?;
        if ids.is_empty() {
            return Err(SimError::InvalidSelection("Select the records to add to an Outpost list first.".into()));
        }
        if ids.len() > MAX_LIST_SELECTION {
            return Err(SimError::InvalidSelection(format!(
                "Select at most {MAX_LIST_SELECTION} records at a time; {} are selected.",
                ids.len()
            )));
        }
        let mut joined = String::with_capacity(ids.len() * 19);
        for raw in ids {
            let id = parse_id(raw)?;
            if id.prefix() != object.prefix() {
                return Err(SimError::InvalidSelection(format!("{id} is not a {object} id")));
            }
            if !joined.is_empty() {
                joined.push(',');
            }
            joined.push_str(id.as_str());
        }
        let mut form = ui::entry_form(self, &u.id, &self.mint(u.id, kind));
        form.push(("ids".to_owned(), joined));
        form.push(("object".to_owned(), object.name().to_owned()));
        Ok(form)
    }

    /// A Canvas signed request for a user.
    pub fn ctl_signed_request(&self, user: &str) -> Result<String, SimError> {
        let u = self.find_user(user).ok_or_else(|| SimError::UnknownUser(user.to_owned()))?;
        Ok(canvas::signed_request(self, &u))
    }

    /// Sets where Outpost runs.
    pub fn ctl_set_outpost(&self, target: Option<OutpostTarget>) {
        *write(&self.outpost) = target;
    }

    /// Advances the sim clock.
    pub fn ctl_advance_clock(&self, by: Duration) {
        self.clock.advance(by);
        self.meta_dirty.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

// ---- HTTP ----

type Ctl = State<Arc<Org>>;

fn ok() -> Response {
    reply::json(StatusCode::OK, &json!({"ok": true}))
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    let bytes = if body.is_empty() { b"{}".as_slice() } else { body };
    serde_json::from_slice(bytes)
        .map_err(|e| reply::json(StatusCode::BAD_REQUEST, &json!({"error": format!("bad JSON: {e}")})))
}

fn obj_of(name: &str) -> Result<SObject, SimError> {
    SObject::from_name(name).ok_or_else(|| SimError::UnsupportedObject(name.to_owned()))
}

fn query_map(raw: Option<&str>) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// `GET /_sim/info`.
pub async fn info(State(org): Ctl) -> Response {
    reply::json(
        StatusCode::OK,
        &json!({
            "org_id": org.id.as_str(),
            "org_id15": org.id.as15(),
            "org_name": org.name,
            "base_url": org.base_url,
            "login_url": org.login_url,
            "outpost": org.outpost().map(|o| o.base_url),
            "api_usage": org.usage(),
            "consumer_key": org.config.integration_app.consumer_key,
            "client_id": org.config.oauth_client.client_id,
            "integration_user": org.integration_user().map(|u| json!({"id": u.id, "username": u.username})),
            "now": org.now(),
            "contacts": org.db().contacts.records().len(),
            "leads": org.db().leads.records().len(),
            "accounts": org.db().accounts.len(),
        }),
    )
}

#[derive(Deserialize)]
struct OutpostBody {
    base_url: Option<String>,
    #[serde(default)]
    callout_key: Option<String>,
}

/// `PUT /_sim/outpost` `{"base_url","callout_key"}` (`base_url: null` clears).
pub async fn set_outpost(State(org): Ctl, body: Bytes) -> Response {
    let b: OutpostBody = match body_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let key = b
        .callout_key
        .or_else(|| org.outpost().map(|o| o.callout_key))
        .unwrap_or_else(|| crate::config::DEFAULT_CALLOUT_KEY.to_owned());
    org.ctl_set_outpost(
        b.base_url.map(|u| OutpostTarget { base_url: u.trim_end_matches('/').to_owned(), callout_key: key }),
    );
    ok()
}

/// `GET /_sim/users`.
pub async fn users(State(org): Ctl) -> Response {
    reply::json(StatusCode::OK, &org.db().users)
}

/// `GET /_sim/tasks`.
pub async fn tasks(State(org): Ctl) -> Response {
    reply::json(StatusCode::OK, &org.db().tasks)
}

/// `GET /_sim/records/{sobject}`.
pub async fn list_records(State(org): Ctl, Path(obj): Path<String>) -> Response {
    match obj_of(&obj).and_then(|o| org.ctl_records(o)) {
        Ok(r) => reply::json(StatusCode::OK, &r),
        Err(e) => e.into_response(),
    }
}

/// `POST /_sim/records/{sobject}` with fields → the new record.
pub async fn create_record(
    State(org): Ctl,
    Path(obj): Path<String>,
    Json(fields): Json<serde_json::Map<String, serde_json::Value>>,
) -> Response {
    match obj_of(&obj).and_then(|o| org.ctl_create(o, &fields)) {
        Ok(r) => reply::json(StatusCode::CREATED, &r),
        Err(e) => e.into_response(),
    }
}

/// `GET /_sim/record/{id}`.
pub async fn get_record(State(org): Ctl, Path(id): Path<String>) -> Response {
    match org.ctl_record(&id) {
        Ok(r) => reply::json(StatusCode::OK, &r),
        Err(e) => e.into_response(),
    }
}

/// `PATCH /_sim/record/{id}` with fields → the updated record.
pub async fn update_record(
    State(org): Ctl,
    Path(id): Path<String>,
    Json(fields): Json<serde_json::Map<String, serde_json::Value>>,
) -> Response {
    match org.ctl_update(&id, &fields) {
        Ok(r) => reply::json(StatusCode::OK, &r),
        Err(e) => e.into_response(),
    }
}

/// `POST /_sim/record/{id}/{delete|purge|convert}`.
pub async fn record_action(State(org): Ctl, Path((id, action)): Path<(String, String)>) -> Response {
    let r = match action.as_str() {
        "delete" => org.ctl_soft_delete(&id).map(|()| ok()),
        "purge" => org.ctl_hard_delete(&id).map(|()| ok()),
        "convert" => org.ctl_convert_lead(&id).map(|r| reply::json(StatusCode::OK, &r)),
        _ => return reply::json(StatusCode::NOT_FOUND, &json!({"error": "unknown action"})),
    };
    r.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
struct MintBody {
    user: String,
    #[serde(default)]
    kind: SessionKind,
}

/// `POST /_sim/sessions` `{"user","kind"}` → `{"session_id"}`.
pub async fn mint(State(org): Ctl, body: Bytes) -> Response {
    let b: MintBody = match body_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match org.ctl_mint(&b.user, b.kind) {
        Ok(s) => reply::json(StatusCode::OK, &json!({"session_id": s})),
        Err(e) => e.into_response(),
    }
}

/// `POST /_sim/sessions/expire-all`.
pub async fn expire_all(State(org): Ctl) -> Response {
    lock(&org.sessions).expire_all();
    ok()
}

#[derive(Deserialize)]
struct RevokeBody {
    session_id: String,
}

/// `POST /_sim/sessions/revoke` `{"session_id"}`.
pub async fn revoke(State(org): Ctl, body: Bytes) -> Response {
    let b: RevokeBody = match body_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let existed = lock(&org.sessions).revoke(&b.session_id);
    reply::json(StatusCode::OK, &json!({"revoked": existed}))
}

#[derive(Deserialize)]
struct SecondsBody {
    seconds: u64,
}

/// `PUT /_sim/sessions/lifetime` `{"seconds"}`.
pub async fn session_lifetime(State(org): Ctl, body: Bytes) -> Response {
    let b: SecondsBody = match body_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    lock(&org.sessions).lifetime_secs = b.seconds as i64;
    ok()
}

/// `GET /_sim/faults`.
pub async fn faults(State(org): Ctl) -> Response {
    reply::json(StatusCode::OK, &lock(&org.faults).snapshot())
}

/// `POST /_sim/faults` with a partial [`FaultUpdate`].
pub async fn update_faults(State(org): Ctl, body: Bytes) -> Response {
    let u: FaultUpdate = match body_json(&body) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut f = lock(&org.faults);
    f.apply(u);
    reply::json(StatusCode::OK, &f.snapshot())
}

/// `POST /_sim/faults/reset`.
pub async fn reset_faults(State(org): Ctl) -> Response {
    org.ctl_reset_faults();
    ok()
}

#[derive(Deserialize)]
struct WriteFailureBody {
    record_id: String,
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    times: Option<u32>,
}

/// `POST /_sim/faults/write-failures` `{"record_id","code","message"?,"times"?}`.
pub async fn add_write_failure(State(org): Ctl, body: Bytes) -> Response {
    let b: WriteFailureBody = match body_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let id = match parse_id(&b.record_id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    lock(&org.faults).write_failures.insert(id, WriteFailure { code: b.code, message: b.message, remaining: b.times });
    ok()
}

/// `DELETE /_sim/faults/write-failures`.
pub async fn clear_write_failures(State(org): Ctl) -> Response {
    lock(&org.faults).write_failures.clear();
    ok()
}

/// `GET /_sim/api-usage`.
pub async fn api_usage(State(org): Ctl) -> Response {
    reply::json(StatusCode::OK, &org.usage())
}

#[derive(Deserialize)]
struct UsageBody {
    #[serde(default)]
    used: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
}

/// `PUT /_sim/api-usage` `{"used"?, "limit"?}`.
pub async fn set_api_usage(State(org): Ctl, body: Bytes) -> Response {
    let b: UsageBody = match body_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(l) = b.limit {
        org.set_limit(l);
    }
    if let Some(u) = b.used {
        org.set_usage(u);
    }
    reply::json(StatusCode::OK, &org.usage())
}

/// `GET /_sim/clock`.
pub async fn clock(State(org): Ctl) -> Response {
    reply::json(StatusCode::OK, &json!({"now": org.now(), "offset_ms": org.clock.offset_ms()}))
}

/// `POST /_sim/clock/advance` `{"seconds"}`.
pub async fn advance_clock(State(org): Ctl, body: Bytes) -> Response {
    let b: SecondsBody = match body_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    org.ctl_advance_clock(Duration::from_secs(b.seconds));
    reply::json(StatusCode::OK, &json!({"now": org.now()}))
}

/// `GET /_sim/custom-link?user=&record=&session=` → `{"url"}`.
pub async fn custom_link(State(org): Ctl, RawQuery(raw): RawQuery) -> Response {
    let p = query_map(raw.as_deref());
    let kind = p.get("session").and_then(|s| SessionKind::parse(s)).unwrap_or_default();
    let user = p.get("user").cloned().unwrap_or_default();
    match org.ctl_custom_link(&user, p.get("record").map(String::as_str), kind) {
        Ok(url) => reply::json(StatusCode::OK, &json!({"url": url})),
        Err(e) => e.into_response(),
    }
}

/// `GET /_sim/signed-request?user=` → `{"signed_request"}`.
pub async fn signed_request(State(org): Ctl, RawQuery(raw): RawQuery) -> Response {
    let p = query_map(raw.as_deref());
    let user = p.get("user").cloned().unwrap_or_default();
    match org.ctl_signed_request(&user) {
        Ok(sr) => reply::json(StatusCode::OK, &json!({"signed_request": sr})),
        Err(e) => e.into_response(),
    }
}

/// Body of `POST /_sim/callouts`.
#[derive(Deserialize, Serialize)]
struct CalloutBody {
    sobject: String,
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    deleted: Vec<String>,
    #[serde(flatten)]
    options: CalloutOptions,
}

/// `POST /_sim/callouts` `{"sobject","ids","deleted","retry_as_if_timed_out"?,"key_salt"?}`.
pub async fn callouts(State(org): Ctl, body: Bytes) -> Response {
    let b: CalloutBody = match body_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let obj = match obj_of(&b.sobject) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    match apex::fire(&org, obj, &b.ids, &b.deleted, &b.options).await {
        Ok(a) => reply::json(StatusCode::OK, &a),
        Err(CalloutError::NoOutpost) => SimError::NoOutpost.into_response(),
        Err(e) => SimError::from(e).into_response(),
    }
}
