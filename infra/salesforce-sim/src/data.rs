//! The org's records (Contacts, Leads, Accounts, Tasks, Users), their indexes and the field-write
//! rules shared by the REST write APIs and the in-process control methods.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::clock::{SfDate, SfDateTime};
use crate::ids::{self, SfId};
use crate::schema::{Access, CustomKind, Field, FieldType, Row, SObject, Value};

/// One Contact or Lead, including the sim-only recycle-bin/purge bookkeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 18-char id.
    #[serde(rename = "Id")]
    pub id: SfId,
    /// `Contact` or `Lead`.
    #[serde(rename = "sobject")]
    pub sobject: SObject,
    /// FirstName.
    #[serde(rename = "FirstName")]
    pub first_name: Option<String>,
    /// LastName (required).
    #[serde(rename = "LastName")]
    pub last_name: String,
    /// Email.
    #[serde(rename = "Email")]
    pub email: Option<String>,
    /// HasOptedOutOfEmail.
    #[serde(rename = "HasOptedOutOfEmail")]
    pub has_opted_out_of_email: bool,
    /// IsEmailBounced (derived from the bounce fields on API writes).
    #[serde(rename = "IsEmailBounced")]
    pub is_email_bounced: bool,
    /// EmailBouncedReason.
    #[serde(rename = "EmailBouncedReason")]
    pub email_bounced_reason: Option<String>,
    /// EmailBouncedDate.
    #[serde(rename = "EmailBouncedDate")]
    pub email_bounced_date: Option<SfDateTime>,
    /// CreatedDate.
    #[serde(rename = "CreatedDate")]
    pub created_date: SfDateTime,
    /// LastModifiedDate.
    #[serde(rename = "LastModifiedDate")]
    pub last_modified_date: SfDateTime,
    /// SystemModstamp.
    #[serde(rename = "SystemModstamp")]
    pub system_modstamp: SfDateTime,
    /// IsDeleted (in the recycle bin).
    #[serde(rename = "IsDeleted")]
    pub is_deleted: bool,
    /// When it went to the recycle bin or was purged (sim bookkeeping).
    #[serde(rename = "_deletedDate")]
    pub deleted_date: Option<SfDateTime>,
    /// Hard-deleted: gone from every query, still reported by getDeleted (sim bookkeeping).
    #[serde(rename = "_purged")]
    pub purged: bool,
    /// Outpost_External_Id__c (External ID text field).
    #[serde(rename = "Outpost_External_Id__c")]
    pub external_id: Option<String>,
    /// Lead.Company.
    #[serde(rename = "Company", default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Lead.Status.
    #[serde(rename = "Status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Lead.IsConverted.
    #[serde(rename = "IsConverted", default)]
    pub is_converted: bool,
    /// OwnerId (a User of the org).
    #[serde(rename = "OwnerId")]
    pub owner_id: SfId,
    /// Title. The text fields below borrow the generator's static values (no allocation per
    /// generated record) and own what a write puts there.
    #[serde(rename = "Title", default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Cow<'static, str>>,
    /// LeadSource (picklist).
    #[serde(rename = "LeadSource", default, skip_serializing_if = "Option::is_none")]
    pub lead_source: Option<Cow<'static, str>>,
    /// Contact.AccountId.
    #[serde(rename = "AccountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<SfId>,
    /// Contact.Department.
    #[serde(rename = "Department", default, skip_serializing_if = "Option::is_none")]
    pub department: Option<Cow<'static, str>>,
    /// Contact.MailingCountry.
    #[serde(rename = "MailingCountry", default, skip_serializing_if = "Option::is_none")]
    pub mailing_country: Option<Cow<'static, str>>,
    /// Contact.MailingState.
    #[serde(rename = "MailingState", default, skip_serializing_if = "Option::is_none")]
    pub mailing_state: Option<Cow<'static, str>>,
    /// Contact.MailingCity.
    #[serde(rename = "MailingCity", default, skip_serializing_if = "Option::is_none")]
    pub mailing_city: Option<Cow<'static, str>>,
    /// Lead.Industry (picklist).
    #[serde(rename = "Industry", default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<Cow<'static, str>>,
    /// Lead.Country.
    #[serde(rename = "Country", default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Cow<'static, str>>,
    /// Lead.State.
    #[serde(rename = "State", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Cow<'static, str>>,
    /// Lead.City.
    #[serde(rename = "City", default, skip_serializing_if = "Option::is_none")]
    pub city: Option<Cow<'static, str>>,
    /// Custom fields (`Region__c`, `Score__c`, …) by API name, typed by
    /// [`crate::schema::CUSTOM_FIELDS`]; a missing key is null.
    #[serde(flatten)]
    pub custom: BTreeMap<Cow<'static, str>, serde_json::Value>,
}

impl Record {
    /// `Name` as Salesforce derives it.
    pub fn name(&self) -> Cow<'_, str> {
        match &self.first_name {
            Some(f) if !f.is_empty() => Cow::Owned(format!("{f} {}", self.last_name)),
            _ => Cow::Borrowed(&self.last_name),
        }
    }
}

impl Row for Record {
    fn id(&self) -> SfId {
        self.id
    }
    fn value(&self, f: Field) -> Value<'_> {
        let lead = self.sobject == SObject::Lead;
        match f {
            Field::Id => Value::Id(self.id),
            Field::FirstName => Value::opt_text(&self.first_name),
            Field::LastName => Value::Text(Cow::Borrowed(&self.last_name)),
            Field::Name => Value::Text(self.name()),
            Field::Email => Value::opt_text(&self.email),
            Field::HasOptedOutOfEmail => Value::Bool(self.has_opted_out_of_email),
            Field::IsEmailBounced => Value::Bool(self.is_email_bounced),
            Field::EmailBouncedReason => Value::opt_text(&self.email_bounced_reason),
            Field::EmailBouncedDate => self.email_bounced_date.map_or(Value::Null, Value::DateTime),
            Field::CreatedDate => Value::DateTime(self.created_date),
            Field::LastModifiedDate => Value::DateTime(self.last_modified_date),
            Field::SystemModstamp => Value::DateTime(self.system_modstamp),
            Field::IsDeleted => Value::Bool(self.is_deleted),
            Field::OutpostExternalId => Value::opt_text(&self.external_id),
            Field::Company if lead => Value::opt_text(&self.company),
            Field::Status if lead => Value::opt_text(&self.status),
            Field::IsConverted if lead => Value::Bool(self.is_converted),
            Field::OwnerId => Value::Id(self.owner_id),
            Field::Title => Value::opt_text(&self.title),
            Field::LeadSource => Value::opt_text(&self.lead_source),
            Field::AccountId if !lead => self.account_id.map_or(Value::Null, Value::Id),
            Field::Department if !lead => Value::opt_text(&self.department),
            Field::MailingCountry if !lead => Value::opt_text(&self.mailing_country),
            Field::MailingState if !lead => Value::opt_text(&self.mailing_state),
            Field::MailingCity if !lead => Value::opt_text(&self.mailing_city),
            Field::Industry if lead => Value::opt_text(&self.industry),
            Field::Country if lead => Value::opt_text(&self.country),
            Field::State if lead => Value::opt_text(&self.state),
            Field::City if lead => Value::opt_text(&self.city),
            Field::Custom(_) => match f.custom() {
                Some(c) if c.objects.contains(&self.sobject) => Value::from_json(self.custom.get(c.name)),
                _ => Value::Null,
            },
            // Account.Name lives on the Account: `query::RowRef` resolves it.
            _ => Value::Null,
        }
    }
    fn is_deleted(&self) -> bool {
        self.is_deleted
    }
}

/// A Task logged through the Apex REST endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// 18-char id (00T).
    #[serde(rename = "Id")]
    pub id: SfId,
    /// The Contact or Lead.
    #[serde(rename = "WhoId")]
    pub who_id: SfId,
    /// Subject.
    #[serde(rename = "Subject")]
    pub subject: String,
    /// Description.
    #[serde(rename = "Description")]
    pub description: Option<String>,
    /// ActivityDate.
    #[serde(rename = "ActivityDate")]
    pub activity_date: SfDate,
    /// Status (`Completed`).
    #[serde(rename = "Status")]
    pub status: String,
    /// The API user that created it.
    #[serde(rename = "OwnerId")]
    pub owner_id: SfId,
    /// CreatedDate.
    #[serde(rename = "CreatedDate")]
    pub created_date: SfDateTime,
}

impl Row for Task {
    fn id(&self) -> SfId {
        self.id
    }
    fn value(&self, f: Field) -> Value<'_> {
        match f {
            Field::Id => Value::Id(self.id),
            Field::WhoId => Value::Id(self.who_id),
            Field::Subject => Value::Text(Cow::Borrowed(&self.subject)),
            Field::Description => Value::opt_text(&self.description),
            Field::ActivityDate => Value::Date(self.activity_date),
            Field::Status => Value::Text(Cow::Borrowed(&self.status)),
            Field::OwnerId => Value::Id(self.owner_id),
            Field::CreatedDate | Field::LastModifiedDate | Field::SystemModstamp => Value::DateTime(self.created_date),
            Field::IsDeleted => Value::Bool(false),
            _ => Value::Null,
        }
    }
}

/// A user of the org.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// 18-char id (005).
    #[serde(rename = "Id")]
    pub id: SfId,
    /// Login name.
    #[serde(rename = "Username")]
    pub username: String,
    /// Given name.
    #[serde(rename = "FirstName")]
    pub first_name: String,
    /// Family name.
    #[serde(rename = "LastName")]
    pub last_name: String,
    /// Email.
    #[serde(rename = "Email")]
    pub email: String,
    /// Whether the user is active.
    #[serde(rename = "IsActive")]
    pub active: bool,
    /// A "Salesforce Integration" licence user (the Run-As user of client credentials).
    #[serde(rename = "_integration")]
    pub integration: bool,
    /// Locale, e.g. `en_US`.
    #[serde(rename = "LocaleSidKey")]
    pub locale: String,
    /// IANA time zone, e.g. `Europe/London`.
    #[serde(rename = "TimeZoneSidKey")]
    pub zoneinfo: String,
    /// CreatedDate.
    #[serde(rename = "CreatedDate")]
    pub created_date: SfDateTime,
    /// LastModifiedDate.
    #[serde(rename = "LastModifiedDate")]
    pub last_modified_date: SfDateTime,
}

impl User {
    /// Full name.
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

impl Row for User {
    fn id(&self) -> SfId {
        self.id
    }
    fn value(&self, f: Field) -> Value<'_> {
        match f {
            Field::Id => Value::Id(self.id),
            Field::Username => Value::Text(Cow::Borrowed(&self.username)),
            Field::FirstName => Value::Text(Cow::Borrowed(&self.first_name)),
            Field::LastName => Value::Text(Cow::Borrowed(&self.last_name)),
            Field::Name => Value::Text(Cow::Owned(self.name())),
            Field::Email => Value::Text(Cow::Borrowed(&self.email)),
            Field::IsActive => Value::Bool(self.active),
            Field::UserType => Value::Text(Cow::Borrowed("Standard")),
            Field::TimeZoneSidKey => Value::Text(Cow::Borrowed(&self.zoneinfo)),
            Field::LocaleSidKey | Field::LanguageLocaleKey => Value::Text(Cow::Borrowed(&self.locale)),
            Field::CreatedDate => Value::DateTime(self.created_date),
            Field::LastModifiedDate | Field::SystemModstamp => Value::DateTime(self.last_modified_date),
            _ => Value::Null,
        }
    }
}

/// An Account, what `Contact.AccountId` refers to (read-only in the sim).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// 18-char id (001).
    #[serde(rename = "Id")]
    pub id: SfId,
    /// Name.
    #[serde(rename = "Name")]
    pub name: String,
    /// OwnerId.
    #[serde(rename = "OwnerId")]
    pub owner_id: SfId,
    /// CreatedDate (= LastModifiedDate = SystemModstamp: accounts never change).
    #[serde(rename = "CreatedDate")]
    pub created_date: SfDateTime,
}

impl Row for Account {
    fn id(&self) -> SfId {
        self.id
    }
    fn value(&self, f: Field) -> Value<'_> {
        match f {
            Field::Id => Value::Id(self.id),
            Field::Name => Value::Text(Cow::Borrowed(&self.name)),
            Field::OwnerId => Value::Id(self.owner_id),
            Field::CreatedDate | Field::LastModifiedDate | Field::SystemModstamp => Value::DateTime(self.created_date),
            Field::IsDeleted => Value::Bool(false),
            _ => Value::Null,
        }
    }
}

/// One entry of the delete log that getDeleted reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeletedEntry {
    /// The deleted record.
    pub id: SfId,
    /// Its object.
    pub sobject: SObject,
    /// When it was deleted.
    pub deleted_date: SfDateTime,
}

/// Contacts or Leads: sorted by id (= creation order) with a `(SystemModstamp, slot)` index
/// and an external-id index; purged rows stay in place (flagged) so slots never move.
#[derive(Debug, Default)]
pub struct Table {
    records: Vec<Record>,
    by_modstamp: BTreeSet<(i64, u32)>,
    by_ext: HashMap<String, Vec<u32>>,
    max_modstamp: i64,
}

impl Table {
    /// Builds a table (and its indexes) from records in any order.
    pub fn from_records(mut records: Vec<Record>) -> Table {
        records.sort_by_key(|r| r.id);
        let mut t = Table { records, ..Table::default() };
        for slot in 0..t.records.len() {
            t.index(slot as u32);
        }
        t
    }

    fn index(&mut self, slot: u32) {
        let r = &self.records[slot as usize];
        if r.purged {
            return;
        }
        let ms = r.system_modstamp.0;
        self.max_modstamp = self.max_modstamp.max(ms);
        self.by_modstamp.insert((ms, slot));
        if let Some(ext) = &r.external_id {
            self.by_ext.entry(ext.to_lowercase()).or_default().push(slot);
        }
    }

    fn unindex(&mut self, slot: u32) {
        let r = &self.records[slot as usize];
        self.by_modstamp.remove(&(r.system_modstamp.0, slot));
        if let Some(ext) = &r.external_id {
            let key = ext.to_lowercase();
            if let Some(v) = self.by_ext.get_mut(&key) {
                v.retain(|s| *s != slot);
                if v.is_empty() {
                    self.by_ext.remove(&key);
                }
            }
        }
    }

    /// All rows (including purged ones), in id order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Row by slot.
    pub fn get(&self, slot: u32) -> Option<&Record> {
        self.records.get(slot as usize)
    }

    /// Slot of an id (binary search: ids sort in creation order).
    pub fn find(&self, id: &SfId) -> Option<u32> {
        self.records.binary_search_by(|r| r.id.cmp(id)).ok().map(|s| s as u32)
    }

    /// Appends a new record; its id must sort after every existing one.
    pub fn push(&mut self, r: Record) -> u32 {
        let slot = self.records.len() as u32;
        debug_assert!(self.records.last().is_none_or(|l| l.id < r.id));
        self.records.push(r);
        self.index(slot);
        slot
    }

    /// Mutates one record, keeping the indexes right.
    pub fn modify<T>(&mut self, slot: u32, f: impl FnOnce(&mut Record) -> T) -> Option<T> {
        if slot as usize >= self.records.len() {
            return None;
        }
        self.unindex(slot);
        let out = f(&mut self.records[slot as usize]);
        self.index(slot);
        Some(out)
    }

    /// `(SystemModstamp, slot)` index, purged rows excluded.
    pub fn by_modstamp(&self) -> &BTreeSet<(i64, u32)> {
        &self.by_modstamp
    }

    /// Live (not purged) slots whose external id equals `value` (case-insensitive).
    pub fn by_external_id(&self, value: &str) -> &[u32] {
        self.by_ext.get(&value.to_lowercase()).map_or(&[], |v| v.as_slice())
    }

    /// The greatest SystemModstamp ever indexed.
    pub fn max_modstamp(&self) -> i64 {
        self.max_modstamp
    }
}

/// Everything that is persisted: records, users, tasks, the delete log and id counters.
#[derive(Debug, Default)]
pub struct Db {
    /// Contacts.
    pub contacts: Table,
    /// Leads.
    pub leads: Table,
    /// Users, in id order.
    pub users: Vec<User>,
    /// Accounts, in id order.
    pub accounts: Vec<Account>,
    /// Tasks, in id order.
    pub tasks: Vec<Task>,
    /// The delete log (recycle-bin and hard deletes).
    pub deleted_log: Vec<DeletedEntry>,
    /// Next counter per key prefix.
    pub counters: BTreeMap<String, u64>,
    /// The two pod chars every id carries.
    pub pod: [u8; 2],
}

impl Db {
    /// Empty database whose ids share the org's pod.
    pub fn new(org: &SfId) -> Db {
        Db { pod: ids::pod_of(org), ..Db::default() }
    }

    /// A fresh id for `prefix`, greater than every id handed out before.
    pub fn next_id(&mut self, prefix: &str) -> SfId {
        let c = self.counters.entry(prefix.to_owned()).or_insert(1);
        let id = ids::make_id(prefix, self.pod, *c);
        *c += 1;
        id
    }

    /// The id `next_id` would hand out, without consuming it.
    pub fn next_id_peek(&self, prefix: &str) -> SfId {
        ids::make_id(prefix, self.pod, self.counters.get(prefix).copied().unwrap_or(1))
    }

    /// The Contact or Lead table.
    pub fn table(&self, obj: SObject) -> Option<&Table> {
        match obj {
            SObject::Contact => Some(&self.contacts),
            SObject::Lead => Some(&self.leads),
            _ => None,
        }
    }

    /// The Contact or Lead table, mutably.
    pub fn table_mut(&mut self, obj: SObject) -> Option<&mut Table> {
        match obj {
            SObject::Contact => Some(&mut self.contacts),
            SObject::Lead => Some(&mut self.leads),
            _ => None,
        }
    }

    /// Finds a Contact or Lead by id.
    pub fn find_record(&self, id: &SfId) -> Option<(SObject, u32)> {
        let obj = SObject::of_id(id)?;
        Some((obj, self.table(obj)?.find(id)?))
    }

    /// A Contact or Lead by id.
    pub fn record(&self, id: &SfId) -> Option<&Record> {
        let (obj, slot) = self.find_record(id)?;
        self.table(obj)?.get(slot)
    }

    /// An Account by id (binary search: ids sort in creation order).
    pub fn account(&self, id: &SfId) -> Option<&Account> {
        self.accounts.binary_search_by(|a| a.id.cmp(id)).ok().and_then(|i| self.accounts.get(i))
    }

    /// The owner of records created without one: the first active user who is not the
    /// integration user (Ada by default), else the first user.
    pub fn default_owner(&self) -> SfId {
        self.users
            .iter()
            .find(|u| u.active && !u.integration)
            .or_else(|| self.users.first())
            .map_or_else(|| self.next_id_peek(ids::USER_PREFIX), |u| u.id)
    }

    /// A user by id.
    pub fn user(&self, id: &SfId) -> Option<&User> {
        self.users.iter().find(|u| u.id == *id)
    }

    /// A user by username (case-insensitive, like Salesforce logins).
    pub fn user_by_username(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username.eq_ignore_ascii_case(username))
    }

    /// Moves a record to the recycle bin (bumps SystemModstamp, logs the delete).
    pub fn soft_delete(&mut self, id: &SfId, now: SfDateTime) -> Result<(), WriteError> {
        let (obj, slot) = self.find_record(id).ok_or_else(|| WriteError::not_found(id))?;
        let table = self.table_mut(obj).ok_or_else(|| WriteError::not_found(id))?;
        let deleted = table.get(slot).is_some_and(|r| r.is_deleted || r.purged);
        if deleted {
            return Err(WriteError::entity_deleted());
        }
        table.modify(slot, |r| {
            r.is_deleted = true;
            r.deleted_date = Some(now);
            r.system_modstamp = now.max(r.system_modstamp);
        });
        self.deleted_log.push(DeletedEntry { id: *id, sobject: obj, deleted_date: now });
        Ok(())
    }

    /// Hard-deletes (purges) a record: gone from queryAll, still in the delete log.
    pub fn purge(&mut self, id: &SfId, now: SfDateTime) -> Result<(), WriteError> {
        let (obj, slot) = self.find_record(id).ok_or_else(|| WriteError::not_found(id))?;
        let table = self.table_mut(obj).ok_or_else(|| WriteError::not_found(id))?;
        let (purged, was_deleted) = table.get(slot).map_or((true, false), |r| (r.purged, r.is_deleted));
        if purged {
            return Err(WriteError::entity_deleted());
        }
        table.modify(slot, |r| {
            r.purged = true;
            r.is_deleted = true;
            r.deleted_date.get_or_insert(now);
        });
        if !was_deleted {
            self.deleted_log.push(DeletedEntry { id: *id, sobject: obj, deleted_date: now });
        }
        Ok(())
    }

    /// Drops delete-log entries older than `cutoff`.
    pub fn trim_deleted_log(&mut self, cutoff: SfDateTime) {
        self.deleted_log.retain(|e| e.deleted_date >= cutoff);
    }
}

/// A per-record write failure (`statusCode`, `message`, `fields`), or a request-level one.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteError {
    /// Salesforce status code, e.g. `INVALID_FIELD`.
    pub code: String,
    /// Human message.
    pub message: String,
    /// Fields involved.
    pub fields: Vec<String>,
    /// Fails the whole request (400) rather than one record.
    pub request_level: bool,
}

impl WriteError {
    /// A per-record error.
    pub fn new(code: &str, message: impl Into<String>, fields: &[&str]) -> WriteError {
        WriteError {
            code: code.to_owned(),
            message: message.into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            request_level: false,
        }
    }

    fn request(code: &str, message: impl Into<String>) -> WriteError {
        WriteError { request_level: true, ..WriteError::new(code, message, &[]) }
    }

    /// `ENTITY_IS_DELETED`.
    pub fn entity_deleted() -> WriteError {
        WriteError::new("ENTITY_IS_DELETED", "entity is deleted", &[])
    }

    /// `INVALID_CROSS_REFERENCE_KEY` for an id that names no record.
    pub fn not_found(id: &SfId) -> WriteError {
        WriteError::new("INVALID_CROSS_REFERENCE_KEY", format!("invalid cross reference id: {id}"), &[])
    }
}

/// Who is writing: the REST API enforces read-only fields and field-level security, the
/// control API may set anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// sObject Collections / single-record resources, as a user with this access.
    Api(Access),
    /// `SimHandle::update_record` and friends.
    Control,
}

/// A parsed, type-checked new value for one field.
#[derive(Clone, Debug, PartialEq)]
pub enum NewValue {
    /// null.
    Null,
    /// boolean.
    Bool(bool),
    /// text.
    Text(String),
    /// dateTime.
    DateTime(SfDateTime),
    /// id (reference fields).
    Id(SfId),
    /// double.
    Number(f64),
}

fn no_such_column(obj: SObject, name: &str) -> WriteError {
    WriteError::new("INVALID_FIELD", format!("No such column '{name}' on sobject of type {obj}"), &[])
}

/// Parses one JSON field of a write body for `obj`.
pub fn parse_write(
    obj: SObject,
    name: &str,
    value: &serde_json::Value,
    mode: WriteMode,
) -> Result<(Field, NewValue), WriteError> {
    let field = obj.field(name).filter(|f| *f != Field::Name).ok_or_else(|| no_such_column(obj, name))?;
    if let WriteMode::Api(access) = mode
        && !access.can_read(field)
    {
        // Field-level security: an invisible field does not exist for this user.
        return Err(no_such_column(obj, name));
    }
    let control_writable = matches!(field, Field::IsEmailBounced | Field::IsConverted);
    let writable = obj.meta(field).writable() || (mode == WriteMode::Control && control_writable);
    if !writable {
        return Err(WriteError::new(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {}. Please check the security settings of this \
                 field and verify that it is read/write for your profile or permission set.",
                field.name()
            ),
            &[field.name()],
        ));
    }
    let bad_type = |what: &str| {
        WriteError::request(
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of {} from {what} value {value} or request may be \
                 missing a required field",
                field.type_name()
            ),
        )
    };
    let nv = match (field.ty(), value) {
        (_, serde_json::Value::Null) => NewValue::Null,
        (FieldType::Boolean, serde_json::Value::Bool(b)) => NewValue::Bool(*b),
        (FieldType::Text, serde_json::Value::String(s)) => {
            if s.is_empty() {
                NewValue::Null
            } else {
                NewValue::Text(s.clone())
            }
        }
        (FieldType::Id, serde_json::Value::String(s)) if s.is_empty() => NewValue::Null,
        (FieldType::Id, serde_json::Value::String(s)) => match SfId::parse(s) {
            Some(id) => NewValue::Id(id),
            None => {
                return Err(WriteError::new(
                    "MALFORMED_ID",
                    format!("{}: id value of incorrect type: {s}", obj.meta(field).label),
                    &[field.name()],
                ));
            }
        },
        (FieldType::Number, serde_json::Value::Number(n)) => match n.as_f64() {
            Some(n) => NewValue::Number(n),
            None => return Err(bad_type("VALUE_NUMBER_FLOAT")),
        },
        (FieldType::DateTime, serde_json::Value::String(s)) => match SfDateTime::parse(s) {
            Some(t) => NewValue::DateTime(t),
            None => {
                return Err(WriteError::new(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    format!("{}: value not of required type: {s}", field.name()),
                    &[field.name()],
                ));
            }
        },
        (_, serde_json::Value::String(_)) => return Err(bad_type("VALUE_STRING")),
        (_, serde_json::Value::Bool(_)) => return Err(bad_type("VALUE_TRUE")),
        (_, serde_json::Value::Number(_)) => return Err(bad_type("VALUE_NUMBER_INT")),
        _ => return Err(bad_type("START_OBJECT")),
    };
    Ok((field, nv))
}

/// Checks the reference fields among `writes` against the org: `OwnerId` must name an active
/// user, `AccountId` an Account (the REST API and the control API alike).
pub fn check_references(db: &Db, obj: SObject, writes: &[(Field, NewValue)]) -> Result<(), WriteError> {
    for (field, v) in writes {
        let (target, id) = match (field, v) {
            (Field::OwnerId, NewValue::Id(id)) => (SObject::User, id),
            (Field::AccountId, NewValue::Id(id)) => (SObject::Account, id),
            _ => continue,
        };
        let label = obj.meta(*field).label;
        if SObject::of_id(id) != Some(target) {
            return Err(WriteError::new(
                "FIELD_INTEGRITY_EXCEPTION",
                format!("{label}: id value of incorrect type: {id}"),
                &[field.name()],
            ));
        }
        let exists = match target {
            SObject::User => match db.user(id) {
                Some(u) if !u.active => {
                    return Err(WriteError::new(
                        "INACTIVE_OWNER_OR_USER",
                        format!("operation performed with inactive user [{id}] as owner of {}", obj.name()),
                        &[field.name()],
                    ));
                }
                found => found.is_some(),
            },
            _ => db.account(id).is_some(),
        };
        if !exists {
            return Err(WriteError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                format!("invalid cross reference id: {id}"),
                &[field.name()],
            ));
        }
    }
    Ok(())
}

fn max_len(obj: SObject, f: Field) -> usize {
    match obj.meta(f).length {
        0 => 255,
        n => n as usize,
    }
}

/// Applies parsed writes to a record (no index or modstamp handling) and enforces the
/// record-level rules: lengths, email syntax, picklists, number ranges, required fields,
/// bounce/email coupling.
pub fn apply_writes(rec: &mut Record, writes: &[(Field, NewValue)], mode: WriteMode) -> Result<(), WriteError> {
    let obj = rec.sobject;
    let old_email = rec.email.clone();
    let mut touched_bounce = false;
    let mut explicit_bounced = None;
    for (field, v) in writes {
        if let NewValue::Text(s) = v
            && s.chars().count() > max_len(obj, *field)
        {
            return Err(WriteError::new(
                "STRING_TOO_LONG",
                format!("{}: data value too large: {s} (max length={})", field.name(), max_len(obj, *field)),
                &[field.name()],
            ));
        }
        let text = || match v {
            NewValue::Text(s) => Some(s.clone()),
            _ => None,
        };
        match field {
            Field::FirstName => rec.first_name = text(),
            Field::LastName => rec.last_name = text().unwrap_or_default(),
            Field::Email => {
                let e = text();
                if let Some(e) = &e
                    && !valid_email(e)
                {
                    return Err(WriteError::new(
                        "INVALID_EMAIL_ADDRESS",
                        format!("Email: invalid email address: {e}"),
                        &["Email"],
                    ));
                }
                rec.email = e;
            }
            Field::HasOptedOutOfEmail => rec.has_opted_out_of_email = *v == NewValue::Bool(true),
            Field::EmailBouncedReason => {
                touched_bounce = true;
                rec.email_bounced_reason = text();
            }
            Field::EmailBouncedDate => {
                touched_bounce = true;
                rec.email_bounced_date = match v {
                    NewValue::DateTime(t) => Some(*t),
                    _ => None,
                };
            }
            Field::OutpostExternalId => rec.external_id = text(),
            Field::Company => rec.company = text(),
            Field::Status => rec.status = text(),
            Field::IsEmailBounced => explicit_bounced = Some(*v == NewValue::Bool(true)),
            Field::IsConverted => rec.is_converted = *v == NewValue::Bool(true),
            Field::OwnerId => match v {
                NewValue::Id(id) => rec.owner_id = *id,
                _ => {
                    return Err(WriteError::new(
                        "REQUIRED_FIELD_MISSING",
                        "Required fields are missing: [OwnerId]",
                        &["OwnerId"],
                    ));
                }
            },
            Field::AccountId => {
                rec.account_id = match v {
                    NewValue::Id(id) => Some(*id),
                    _ => None,
                }
            }
            Field::Title => rec.title = text().map(Cow::Owned),
            Field::LeadSource => rec.lead_source = text().map(Cow::Owned),
            Field::Department => rec.department = text().map(Cow::Owned),
            Field::MailingCountry => rec.mailing_country = text().map(Cow::Owned),
            Field::MailingState => rec.mailing_state = text().map(Cow::Owned),
            Field::MailingCity => rec.mailing_city = text().map(Cow::Owned),
            Field::Industry => rec.industry = text().map(Cow::Owned),
            Field::Country => rec.country = text().map(Cow::Owned),
            Field::State => rec.state = text().map(Cow::Owned),
            Field::City => rec.city = text().map(Cow::Owned),
            Field::Custom(_) => {
                if let Some(c) = field.custom() {
                    apply_custom(rec, c, v)?;
                }
            }
            _ => {}
        }
    }
    // Salesforce clears bounce data when the address changes (the new address has not bounced).
    let email_changed = match (&old_email, &rec.email) {
        (Some(a), Some(b)) => !a.eq_ignore_ascii_case(b),
        (None, None) => false,
        _ => true,
    };
    if email_changed && !touched_bounce {
        rec.email_bounced_reason = None;
        rec.email_bounced_date = None;
    }
    rec.is_email_bounced = match explicit_bounced {
        Some(b) if mode == WriteMode::Control => b,
        _ => rec.email_bounced_reason.is_some() || rec.email_bounced_date.is_some(),
    };
    let mut missing = Vec::new();
    if rec.last_name.is_empty() {
        missing.push("LastName");
    }
    if rec.sobject == SObject::Lead && rec.company.as_deref().is_none_or(str::is_empty) {
        missing.push("Company");
    }
    if !missing.is_empty() {
        return Err(WriteError::new(
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
            &missing,
        ));
    }
    Ok(())
}

/// Writes one custom field into the record's map, checking it against its definition.
fn apply_custom(rec: &mut Record, c: &crate::schema::CustomField, v: &NewValue) -> Result<(), WriteError> {
    let stored = match (c.kind, v) {
        (_, NewValue::Null) => None,
        (CustomKind::Picklist(values), NewValue::Text(s)) => {
            // Custom picklists are restricted, as Setup creates them by default.
            if !values.contains(&s.as_str()) {
                return Err(WriteError::new(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    format!("{}: bad value for restricted picklist field: {s}", c.label),
                    &[c.name],
                ));
            }
            Some(serde_json::Value::String(s.clone()))
        }
        (CustomKind::Double { precision, scale }, NewValue::Number(n)) => {
            let factor = 10f64.powi(scale as i32);
            let rounded = (n * factor).round() / factor;
            let limit = 10f64.powi(precision.saturating_sub(scale) as i32);
            if !rounded.is_finite() || rounded.abs() >= limit {
                return Err(WriteError::new(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    format!("{}: value outside of valid range on numeric field: {n}", c.label),
                    &[c.name],
                ));
            }
            serde_json::Number::from_f64(rounded).map(serde_json::Value::Number)
        }
        (CustomKind::LongText { .. } | CustomKind::Text { .. }, NewValue::Text(s)) => {
            Some(serde_json::Value::String(s.clone()))
        }
        _ => None,
    };
    match stored {
        Some(v) => rec.custom.insert(Cow::Borrowed(c.name), v),
        None => rec.custom.remove(c.name),
    };
    Ok(())
}

/// Email syntax check as lenient as Salesforce's (its help article "How does Salesforce qualify
/// an email address?"): a local part that does not start with a dot (consecutive dots and a
/// trailing dot are allowed), one domain without empty labels (a top-level domain is not
/// required: `user@intranet` passes), no whitespace.
fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.starts_with('.')
        && !domain.is_empty()
        && domain.split('.').all(|label| !label.is_empty())
        && !e.chars().any(char::is_whitespace)
}

/// A blank Contact or Lead to apply create-writes to, owned by `owner`.
pub fn blank_record(id: SfId, obj: SObject, now: SfDateTime, owner: SfId) -> Record {
    Record {
        id,
        sobject: obj,
        first_name: None,
        last_name: String::new(),
        email: None,
        has_opted_out_of_email: false,
        is_email_bounced: false,
        email_bounced_reason: None,
        email_bounced_date: None,
        created_date: now,
        last_modified_date: now,
        system_modstamp: now,
        is_deleted: false,
        deleted_date: None,
        purged: false,
        external_id: None,
        company: None,
        status: (obj == SObject::Lead).then(|| "Open - Not Contacted".to_owned()),
        is_converted: false,
        owner_id: owner,
        title: None,
        lead_source: None,
        account_id: None,
        department: None,
        mailing_country: None,
        mailing_state: None,
        mailing_city: None,
        industry: None,
        country: None,
        state: None,
        city: None,
        custom: BTreeMap::new(),
    }
}

/// SplitMix64: tiny deterministic RNG step (seeded data, fault rates).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Deterministic RNG used by the generator and the fault injector.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded RNG.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        splitmix64(&mut self.0)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// A random element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::schema::Access;

    #[test]
    fn email_syntax_is_as_lenient_as_salesforces() {
        for ok in ["a@b.co", "first..last@example.com", "first.last.@example.com", "user@intranet", "o'brien@x.io"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in ["", "nobody", "@example.com", ".lead@example.com", "a@", "a@.com", "a@b..com", "a@b.", "a b@c.d"] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    fn db() -> Db {
        let org = SfId::parse(crate::config::DEFAULT_ORG_ID).unwrap_or_else(|| SfId::parse("00D000000000001").unwrap());
        crate::generate::generate(&SimConfig::default().with_records(16, 2), &org, SfDateTime(1_780_000_000))
    }

    fn write(obj: SObject, name: &str, v: serde_json::Value, mode: WriteMode) -> Result<(Field, NewValue), WriteError> {
        parse_write(obj, name, &v, mode)
    }

    #[test]
    fn custom_fields_are_typed_by_the_schema() {
        let db = db();
        let mut rec = db.contacts.records()[0].clone();
        let api = WriteMode::Api(Access::All);
        let writes = vec![
            write(SObject::Contact, "region__c", "APAC".into(), api).unwrap(),
            write(SObject::Contact, "Score__c", serde_json::json!(12.345), api).unwrap(),
            write(SObject::Contact, "Notes__c", "multi\nline".into(), api).unwrap(),
            write(SObject::Contact, "Tier__c", serde_json::Value::Null, api).unwrap(),
        ];
        apply_writes(&mut rec, &writes, api).unwrap();
        assert_eq!(rec.custom.get("Region__c"), Some(&serde_json::json!("APAC")));
        assert_eq!(rec.custom.get("Score__c"), Some(&serde_json::json!(12.35)), "rounded to the scale");
        assert!(!rec.custom.contains_key("Tier__c"));
        let refused = |name: &str, v: serde_json::Value| {
            let w = write(SObject::Contact, name, v, api).unwrap();
            apply_writes(&mut rec.clone(), &[w], api).unwrap_err().code
        };
        assert_eq!(refused("Region__c", "Europe".into()), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
        assert_eq!(refused("Score__c", serde_json::json!(1000)), "NUMBER_OUTSIDE_VALID_RANGE");
        assert_eq!(refused("Title", "x".repeat(129).into()), "STRING_TOO_LONG");
        let e = write(SObject::Contact, "Score__c", "12".into(), api).unwrap_err();
        assert!(e.request_level && e.code == "JSON_PARSER_ERROR");
        assert_eq!(write(SObject::Lead, "Tier__c", "Gold".into(), api).unwrap_err().code, "INVALID_FIELD");
        let hidden = write(SObject::Contact, "Secret__c", "x".into(), WriteMode::Api(Access::Integration));
        assert_eq!(hidden.unwrap_err().message, "No such column 'Secret__c' on sobject of type Contact");
        assert!(write(SObject::Contact, "Secret__c", "x".into(), WriteMode::Control).is_ok());
    }

    #[test]
    fn references_must_name_an_active_user_or_an_account() {
        let db = db();
        let api = WriteMode::Api(Access::All);
        let check = |name: &str, v: &str| {
            let w = write(SObject::Contact, name, v.into(), api)?;
            check_references(&db, SObject::Contact, &[w])
        };
        let grace = db.users.iter().find(|u| u.first_name == "Grace").map(|u| u.id.to_string()).unwrap_or_default();
        let alan = db.users.iter().find(|u| u.first_name == "Alan").map(|u| u.id.to_string()).unwrap_or_default();
        let account = db.accounts[0].id.to_string();
        assert!(check("OwnerId", &grace).is_ok() && check("AccountId", &account).is_ok());
        assert_eq!(check("OwnerId", &alan).unwrap_err().code, "INACTIVE_OWNER_OR_USER");
        assert_eq!(check("OwnerId", &account).unwrap_err().code, "FIELD_INTEGRITY_EXCEPTION");
        assert_eq!(check("AccountId", "001000000000000").unwrap_err().code, "INVALID_CROSS_REFERENCE_KEY");
        assert_eq!(check("AccountId", "nope").unwrap_err().code, "MALFORMED_ID");
        let mut rec = db.contacts.records()[0].clone();
        let null_owner = write(SObject::Contact, "OwnerId", serde_json::Value::Null, api).unwrap();
        assert_eq!(apply_writes(&mut rec, &[null_owner], api).unwrap_err().code, "REQUIRED_FIELD_MISSING");
    }
}
