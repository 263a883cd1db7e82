//! REST query / queryAll: execution over the indexes, cursors (`nextRecordsUrl`), and page
//! rendering straight from the stored rows (no intermediate JSON values).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::clock::SfDateTime;
use crate::data::{Account, Db, Record, Task, User};
use crate::gate::{Caller, parse_version};
use crate::ids::{self, SfId};
use crate::org::{Org, lock};
use crate::reply;
use crate::schema::{Field, Row, SObject, Value, format_number};
use crate::soql::{self, Query};

/// Cursor lifetime (API 56.0+: 2 days).
const CURSOR_TTL_SECS: i64 = 2 * 86_400;
/// Default / min / max `batchSize`.
const BATCH_DEFAULT: usize = 2000;
const BATCH_MIN: usize = 200;

/// A borrowed row of any object.
#[derive(Clone, Copy)]
pub enum RowRef<'a> {
    /// Contact or Lead, with the org's Accounts (for `Account.Name`).
    Rec(&'a Record, &'a [Account]),
    /// Task.
    Task(&'a Task),
    /// User.
    User(&'a User),
    /// Account.
    Account(&'a Account),
}

impl<'a> RowRef<'a> {
    /// A Contact or Lead of `db`.
    pub fn rec(db: &'a Db, r: &'a Record) -> RowRef<'a> {
        RowRef::Rec(r, &db.accounts)
    }

    /// The Contact's Account, if it has one.
    pub fn account(&self) -> Option<&'a Account> {
        match self {
            RowRef::Rec(r, accounts) => {
                let id = r.account_id?;
                accounts.binary_search_by(|a| a.id.cmp(&id)).ok().and_then(|i| accounts.get(i))
            }
            _ => None,
        }
    }
}

impl Row for RowRef<'_> {
    fn id(&self) -> SfId {
        match self {
            RowRef::Rec(r, _) => r.id(),
            RowRef::Task(t) => t.id(),
            RowRef::User(u) => u.id(),
            RowRef::Account(a) => a.id(),
        }
    }
    fn value(&self, f: Field) -> Value<'_> {
        match self {
            RowRef::Rec(_, _) if f == Field::AccountName => {
                self.account().map_or(Value::Null, |a| Value::Text(Cow::Borrowed(&a.name)))
            }
            RowRef::Rec(r, _) => r.value(f),
            RowRef::Task(t) => t.value(f),
            RowRef::User(u) => u.value(f),
            RowRef::Account(a) => a.value(f),
        }
    }
    fn is_deleted(&self) -> bool {
        matches!(self, RowRef::Rec(r, _) if r.is_deleted)
    }
}

/// Row `slot` of `obj` (table slot for Contact/Lead, vector index for the others).
pub fn row(db: &Db, obj: SObject, slot: u32) -> Option<RowRef<'_>> {
    match obj {
        SObject::Contact | SObject::Lead => db.table(obj)?.get(slot).map(|r| RowRef::rec(db, r)),
        SObject::Task => db.tasks.get(slot as usize).map(RowRef::Task),
        SObject::User => db.users.get(slot as usize).map(RowRef::User),
        SObject::Account => db.accounts.get(slot as usize).map(RowRef::Account),
    }
}

/// Runs a query and returns the matching slots in result order (OFFSET/LIMIT applied).
/// `all` = queryAll (recycle-bin rows included; purged rows never are).
pub fn execute(db: &Db, q: &Query, all: bool) -> Vec<u32> {
    let wanted = q.limit.map(|l| l.saturating_add(q.offset));
    let mut slots: Vec<u32> = match q.object {
        SObject::Contact | SObject::Lead => {
            let Some(t) = db.table(q.object) else {
                return Vec::new();
            };
            let keep = |slot: u32| {
                t.get(slot).is_some_and(|r| !r.purged && (all || !r.is_deleted) && q.matches(&RowRef::rec(db, r)))
            };
            let bound = q.modstamp_lower_bound();
            if q.ordered_by_modstamp_id() {
                // The index is already in (SystemModstamp, Id) order: stream and stop early.
                let it = t.by_modstamp().range((bound.unwrap_or(i64::MIN), 0)..).map(|(_, s)| *s).filter(|s| keep(*s));
                match wanted {
                    Some(n) => it.take(n).collect(),
                    None => it.collect(),
                }
            } else if let Some(b) = bound {
                let mut v: Vec<u32> = t.by_modstamp().range((b, 0)..).map(|(_, s)| *s).filter(|s| keep(*s)).collect();
                if q.ordered_by_id() {
                    v.sort_unstable();
                } else {
                    sort(db, q, &mut v);
                }
                v
            } else {
                let it = (0..t.records().len() as u32).filter(|s| keep(*s));
                if q.ordered_by_id() {
                    match wanted {
                        Some(n) => it.take(n).collect(),
                        None => it.collect(),
                    }
                } else {
                    let mut v: Vec<u32> = it.collect();
                    sort(db, q, &mut v);
                    v
                }
            }
        }
        SObject::Task | SObject::User | SObject::Account => {
            let n = match q.object {
                SObject::Task => db.tasks.len(),
                SObject::Account => db.accounts.len(),
                _ => db.users.len(),
            };
            let mut v: Vec<u32> =
                (0..n as u32).filter(|s| row(db, q.object, *s).is_some_and(|r| q.matches(&r))).collect();
            sort(db, q, &mut v);
            v
        }
    };
    if q.offset > 0 {
        slots.drain(..q.offset.min(slots.len()));
    }
    if let Some(l) = q.limit {
        slots.truncate(l);
    }
    slots
}

fn sort(db: &Db, q: &Query, v: &mut [u32]) {
    v.sort_by(|a, b| match (row(db, q.object, *a), row(db, q.object, *b)) {
        (Some(x), Some(y)) => q.compare(&x, &y),
        _ => a.cmp(b),
    });
}

/// An open query cursor: a snapshot of the matching rows at query time.
#[derive(Clone)]
pub struct Cursor {
    object: SObject,
    fields: Arc<[Field]>,
    slots: Arc<[u32]>,
    created: SfDateTime,
    batch: usize,
    seq: u64,
}

/// Open cursors by locator.
#[derive(Default)]
pub struct Cursors {
    map: HashMap<String, Cursor>,
    next_seq: u64,
}

/// At most this many row slots (4 bytes each) stay in open cursors; the oldest cursors are
/// dropped first (their locators then answer INVALID_QUERY_LOCATOR). Bounds memory in long
/// benchmark runs, where Salesforce's 2-day lifetime would otherwise keep every snapshot.
const CURSOR_SLOT_BUDGET: usize = 16_000_000;

impl Cursors {
    fn open(&mut self, org: &SfId, mut c: Cursor, now: SfDateTime) -> String {
        self.map.retain(|_, c| now.0 - c.created.0 <= CURSOR_TTL_SECS);
        let mut held: usize = self.map.values().map(|c| c.slots.len()).sum();
        while held + c.slots.len() > CURSOR_SLOT_BUDGET {
            let oldest = self.map.iter().min_by_key(|(_, c)| c.seq).map(|(k, _)| k.clone());
            match oldest.and_then(|k| self.map.remove(&k)) {
                Some(old) => held -= old.slots.len(),
                None => break,
            }
        }
        self.next_seq += 1;
        c.seq = self.next_seq;
        // Random body so a restarted sim never serves another run's locator.
        let locator = loop {
            let body =
                format!("{}{}{}", ids::QUERY_LOCATOR_PREFIX, &org.as_str()[3..5], ids::random_chars(ids::ALNUM, 10));
            if let Some(id) = SfId::parse(&body)
                && !self.map.contains_key(id.as_str())
            {
                break id.to_string();
            }
        };
        self.map.insert(locator.clone(), c);
        locator
    }

    fn get(&mut self, locator: &str, now: SfDateTime) -> Option<Cursor> {
        let c = self.map.get(locator)?;
        if now.0 - c.created.0 > CURSOR_TTL_SECS {
            self.map.remove(locator);
            return None;
        }
        Some(c.clone())
    }

    /// Number of open cursors.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no cursor is open.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Serializes a field value the way the REST API renders it.
pub struct ValueJson<'a>(pub &'a Value<'a>);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Text(t) => s.serialize_str(t),
            Value::Id(id) => s.serialize_str(id.as_str()),
            Value::DateTime(t) => s.serialize_str(t.rest().as_str()),
            Value::Date(d) => s.serialize_str(d.format().as_str()),
            Value::Number(n) => s.serialize_f64(*n),
        }
    }
}

/// A selected `Account.Name`: `{"attributes":{"type":"Account","url":…},"Name":…}` or null.
struct AccountJson<'a> {
    account: Option<&'a Account>,
    version: &'a str,
}

impl Serialize for AccountJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(a) = self.account else {
            return s.serialize_unit();
        };
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(
            "attributes",
            &Attributes(RecordUrl { version: self.version, obj: SObject::Account, id: a.id }),
        )?;
        m.serialize_entry("Name", &a.name)?;
        m.end()
    }
}

struct RecordUrl<'a> {
    version: &'a str,
    obj: SObject,
    id: SfId,
}

impl fmt::Display for RecordUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/services/data/v{}/sobjects/{}/{}", self.version, self.obj, self.id)
    }
}

struct Attributes<'a>(RecordUrl<'a>);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("type", self.0.obj.name())?;
        m.serialize_entry("url", &format_args!("{}", self.0))?;
        m.end()
    }
}

/// One record as `{"attributes":{…}, <fields>}`.
pub struct RecordJson<'a> {
    /// The row.
    pub row: RowRef<'a>,
    /// Its object.
    pub obj: SObject,
    /// Selected fields.
    pub fields: &'a [Field],
    /// API version for `attributes.url`.
    pub version: &'a str,
}

impl Serialize for RecordJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.fields.len() + 1))?;
        m.serialize_entry(
            "attributes",
            &Attributes(RecordUrl { version: self.version, obj: self.obj, id: self.row.id() }),
        )?;
        for f in self.fields {
            if *f == Field::AccountName {
                m.serialize_entry("Account", &AccountJson { account: self.row.account(), version: self.version })?;
                continue;
            }
            let v = self.row.value(*f);
            m.serialize_entry(f.name(), &ValueJson(&v))?;
        }
        m.end()
    }
}

/// Appends `s` as a JSON string (fast path: nothing to escape).
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends a field value as the REST API renders it.
fn push_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Text(t) => push_json_str(out, t),
        Value::Id(id) => {
            out.push(b'"');
            out.extend_from_slice(id.as_str().as_bytes());
            out.push(b'"');
        }
        Value::DateTime(t) => {
            out.push(b'"');
            out.extend_from_slice(t.rest().as_str().as_bytes());
            out.push(b'"');
        }
        Value::Date(d) => {
            out.push(b'"');
            out.extend_from_slice(d.format().as_str().as_bytes());
            out.push(b'"');
        }
        Value::Number(n) => out.extend_from_slice(format_number(*n).as_bytes()),
    }
}

/// Appends `[{"attributes":{…},<fields>},…]`. Hand-written rather than serde: everything
/// constant per page (attribute prefix, quoted keys) is rendered once, which makes a
/// 2,000-row page several times cheaper than the generic serializer.
fn push_rows(out: &mut Vec<u8>, db: &Db, obj: SObject, slots: &[u32], fields: &[Field], version: &str) {
    let mut prefix = Vec::new();
    prefix.extend_from_slice(b"{\"attributes\":{\"type\":");
    push_json_str(&mut prefix, obj.name());
    prefix.extend_from_slice(b",\"url\":");
    let url_head = format!("/services/data/v{version}/sobjects/{obj}/");
    push_json_str(&mut prefix, &url_head);
    prefix.pop(); // reopen the URL string: the id follows
    let keys: Vec<Vec<u8>> = fields
        .iter()
        .map(|f| {
            let mut k = vec![b','];
            // A relationship path nests under the relationship's name.
            push_json_str(&mut k, if *f == Field::AccountName { "Account" } else { f.name() });
            k.push(b':');
            k
        })
        .collect();
    let mut account_head = Vec::new();
    account_head.extend_from_slice(b"{\"attributes\":{\"type\":\"Account\",\"url\":");
    push_json_str(&mut account_head, &format!("/services/data/v{version}/sobjects/Account/"));
    account_head.pop(); // reopen the URL string: the id follows
    out.push(b'[');
    let mut first = true;
    for slot in slots {
        let Some(row) = row(db, obj, *slot) else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(&prefix);
        out.extend_from_slice(row.id().as_str().as_bytes());
        out.extend_from_slice(b"\"}");
        for (f, key) in fields.iter().zip(&keys) {
            out.extend_from_slice(key);
            if *f == Field::AccountName {
                match row.account() {
                    Some(a) => {
                        out.extend_from_slice(&account_head);
                        out.extend_from_slice(a.id.as_str().as_bytes());
                        out.extend_from_slice(b"\"},\"Name\":");
                        push_json_str(out, &a.name);
                        out.push(b'}');
                    }
                    None => out.extend_from_slice(b"null"),
                }
                continue;
            }
            push_value(out, &row.value(*f));
        }
        out.push(b'}');
    }
    out.push(b']');
}

/// `Sforce-Query-Options: batchSize=N`, clamped to 200..2000.
fn batch_size(headers: &HeaderMap) -> Option<usize> {
    let v = headers.get("sforce-query-options")?.to_str().ok()?;
    v.split(',').find_map(|opt| {
        let (k, n) = opt.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("batchSize") {
            return None;
        }
        let n: usize = n.trim().parse().ok()?;
        Some(n.clamp(BATCH_MIN, BATCH_DEFAULT))
    })
}

/// Renders one page `{"totalSize","done","nextRecordsUrl"?,"records"}`.
fn render_page(
    db: &Db,
    cursor: &Cursor,
    offset: usize,
    batch: usize,
    locator: Option<&str>,
    version: &str,
) -> Response {
    let total = cursor.slots.len();
    let end = offset.saturating_add(batch).min(total);
    let slots = &cursor.slots[offset.min(end)..end];
    let mut out = Vec::with_capacity(64 + slots.len() * (96 + 40 * cursor.fields.len()));
    out.extend_from_slice(format!("{{\"totalSize\":{total},\"done\":").as_bytes());
    match locator {
        Some(loc) if end < total => {
            out.extend_from_slice(b"false,\"nextRecordsUrl\":");
            push_json_str(&mut out, &format!("/services/data/v{version}/query/{loc}-{end}"));
        }
        _ => out.extend_from_slice(b"true"),
    }
    out.extend_from_slice(b",\"records\":");
    push_rows(&mut out, db, cursor.object, slots, &cursor.fields, version);
    out.push(b'}');
    reply::bytes_with(StatusCode::OK, "application/json;charset=UTF-8", out)
}

fn query_param(raw: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(raw?.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// Parses SOQL as `caller` would run it now, mapping errors to the REST 400 shape.
pub fn parse_soql(org: &Org, caller: &SfId, q: &str) -> Result<Query, Response> {
    soql::parse_as(q, &org.soql_context(caller))
        .map_err(|e| reply::api_error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()))
}

async fn run_query(
    org: &Org,
    caller: &Caller,
    version: &str,
    raw: Option<&str>,
    headers: &HeaderMap,
    all: bool,
) -> Response {
    let Some(version) = parse_version(version) else {
        return reply::not_found();
    };
    let Some(q) = query_param(raw, "q") else {
        return reply::api_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", "A query string has to be specified");
    };
    let q = match parse_soql(org, &caller.user, &q) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let batch = batch_size(headers).unwrap_or(BATCH_DEFAULT);
    let db = org.db();
    let slots = execute(&db, &q, all);
    if q.count {
        let body = format!("{{\"totalSize\":{},\"done\":true,\"records\":[]}}", slots.len());
        return reply::bytes_with(StatusCode::OK, "application/json;charset=UTF-8", body.into_bytes());
    }
    let cursor =
        Cursor { object: q.object, fields: q.fields.into(), slots: slots.into(), created: org.now(), batch, seq: 0 };
    let locator = (cursor.slots.len() > batch).then(|| lock(&org.cursors).open(&org.id, cursor.clone(), org.now()));
    render_page(&db, &cursor, 0, batch, locator.as_deref(), version)
}

/// `GET /services/data/vNN.N/query[/]?q=`.
pub async fn query(
    State(org): State<Arc<Org>>,
    Path(v): Path<String>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    run_query(&org, &caller, &v, raw.as_deref(), &headers, false).await
}

/// `GET /services/data/vNN.N/queryAll[/]?q=`.
pub async fn query_all(
    State(org): State<Arc<Org>>,
    Path(v): Path<String>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    run_query(&org, &caller, &v, raw.as_deref(), &headers, true).await
}

/// `GET /services/data/vNN.N/query/<locator>-<offset>` (also under `/queryAll/`).
pub async fn next_page(
    State(org): State<Arc<Org>>,
    Path((v, loc)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(version) = parse_version(&v) else {
        return reply::not_found();
    };
    let invalid = || reply::api_error(StatusCode::BAD_REQUEST, "INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((locator, offset)) = loc.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let Some(cursor) = lock(&org.cursors).get(locator, org.now()) else {
        return invalid();
    };
    if offset >= cursor.slots.len() {
        return invalid();
    }
    let batch = batch_size(&headers).unwrap_or(cursor.batch);
    let db = org.db();
    render_page(&db, &cursor, offset, batch, Some(locator), version)
}

/// `GET /services/data/vNN.N/sobjects/{SObject}/{id}`: one record, every field the caller can
/// read (field-level security hides the others, as Salesforce does).
pub async fn retrieve(
    State(org): State<Arc<Org>>,
    Path((v, obj, id)): Path<(String, String, String)>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let (Some(version), Some(obj)) = (parse_version(&v), SObject::from_name(&obj)) else {
        return reply::not_found();
    };
    let Some(id) = SfId::parse(&id) else {
        return reply::not_found();
    };
    let access = org.access_of(&caller.user);
    let db = org.db();
    let found = match obj {
        SObject::Contact | SObject::Lead => db.table(obj).and_then(|t| t.find(&id)).and_then(|s| row(&db, obj, s)),
        SObject::Task => db.tasks.iter().find(|t| t.id == id).map(RowRef::Task),
        SObject::User => db.user(&id).map(RowRef::User),
        SObject::Account => db.account(&id).map(RowRef::Account),
    };
    let fields: Vec<Field> = obj.fields().iter().copied().filter(|f| access.can_read(*f)).collect();
    match found {
        Some(RowRef::Rec(r, _)) if r.purged => reply::not_found(),
        Some(RowRef::Rec(r, _)) if r.is_deleted => {
            reply::api_error(StatusCode::NOT_FOUND, "ENTITY_IS_DELETED", "entity is deleted")
        }
        Some(r) => reply::json(StatusCode::OK, &RecordJson { row: r, obj, fields: &fields, version }),
        None => reply::not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    #[test]
    fn hand_written_rows_match_the_serde_rendering() {
        let cfg = SimConfig::default().with_records(50, 50);
        let org = SfId::parse(crate::config::DEFAULT_ORG_ID).unwrap();
        let mut db = crate::generate::generate(&cfg, &org, SfDateTime(1_780_000_000));
        db.contacts.modify(0, |r| {
            r.last_name = "Quote \" back\\slash \n tab\t ctl\u{1} ünï".into();
        });
        db.contacts.modify(1, |r| r.account_id = None);
        db.contacts.modify(2, |r| {
            r.custom.insert("Notes__c".into(), "a \"quoted\"\nnote".into());
            r.custom.insert("Score__c".into(), 80.0.into());
        });
        for obj in [SObject::Contact, SObject::Lead, SObject::User, SObject::Account] {
            let mut fields = obj.fields().to_vec();
            if obj == SObject::Contact {
                fields.push(Field::AccountName);
            }
            let fields = fields.as_slice();
            let n = match obj {
                SObject::User => db.users.len(),
                SObject::Account => db.accounts.len(),
                _ => 50,
            };
            let slots: Vec<u32> = (0..n as u32).collect();
            let mut out = Vec::new();
            push_rows(&mut out, &db, obj, &slots, fields, "64.0");
            let hand: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let serde: Vec<serde_json::Value> = slots
                .iter()
                .map(|s| {
                    let r = RecordJson { row: row(&db, obj, *s).unwrap(), obj, fields, version: "64.0" };
                    serde_json::to_value(&r).unwrap()
                })
                .collect();
            assert_eq!(hand, serde_json::Value::Array(serde));
        }
        let mut out = Vec::new();
        push_rows(&mut out, &db, SObject::Contact, &[0, 1, 2], &[Field::Id, Field::AccountName, Field::SCORE], "64.0");
        let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let account = db.contacts.records()[0].account_id.and_then(|id| db.account(&id)).unwrap();
        assert_eq!(
            rows[0]["Account"],
            serde_json::json!({"attributes": {"type": "Account", "url": format!("/services/data/v64.0/sobjects/Account/{}", account.id)}, "Name": account.name})
        );
        assert_eq!(rows[1]["Account"], serde_json::Value::Null);
        assert!(String::from_utf8_lossy(&out).contains("\"Score__c\":80.0"));
    }
}
