//! What Outpost keeps (docs/data-model.md). No password and no Salesforce session id appears here:
//! sessions are keyed by the SHA-256 of their token.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hosts::{HostError, HostPolicy, SalesforceHost};
use crate::ids::{OrgId, RecipientObject, RecordId, UserId};
use crate::namespace::Namespace;
use crate::salesforce::SfDateTime;

/// Seconds since the Unix epoch.
pub type EpochSeconds = i64;

/// The current time in epoch seconds.
pub fn now_epoch() -> EpochSeconds {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// How an org's users get access (the seed's two provisioning models).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisioningMode {
    /// Each user is identified and onboarded once.
    PerUser,
    /// Every active user of the org gets in; nobody is onboarded.
    OrgWide,
}

impl ProvisioningMode {
    /// `per_user` / `org_wide`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisioningMode::PerUser => "per_user",
            ProvisioningMode::OrgWide => "org_wide",
        }
    }

    /// Parses `per_user` / `org_wide`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "per_user" => Some(ProvisioningMode::PerUser),
            "org_wide" => Some(ProvisioningMode::OrgWide),
            _ => None,
        }
    }
}

/// Whether an org may use Outpost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgStatus {
    Active,
    Inactive,
}

/// Names of an org's secrets in the secret store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSecretNames {
    /// The integration user's credentials (JWT bearer or client credentials).
    pub integration: String,
    /// The key Apex callouts present.
    pub callout_key: String,
    /// The org's own OAuth client (SSO, Canvas) when it does not use the app-wide one.
    #[serde(default)]
    pub oauth_client: Option<String>,
}

impl OrgSecretNames {
    /// The conventional names under `prefix` (`outpost/org/<org18>/…`).
    pub fn conventional(prefix: &str, org: &OrgId) -> Self {
        Self {
            integration: format!("{prefix}/org/{org}/integration"),
            callout_key: format!("{prefix}/org/{org}/callout-key"),
            oauth_client: None,
        }
    }
}

/// Which synced records an org's users see in their lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Every Outpost user of the org sees every synced recipient.
    #[default]
    AllUsers,
    /// A user's lists only ever hold the records that user owns in Salesforce.
    Owner,
}

/// The additional fields (custom ones included) an org asks the sync to read, per object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraFieldNames {
    #[serde(default)]
    pub contact: Vec<String>,
    #[serde(default)]
    pub lead: Vec<String>,
}

impl ExtraFieldNames {
    /// The most additional fields an org may name per object.
    pub const MAX_PER_OBJECT: usize = 20;

    /// The names asked for `object`.
    pub fn of(&self, object: RecipientObject) -> &[String] {
        match object {
            RecipientObject::Contact => &self.contact,
            RecipientObject::Lead => &self.lead,
        }
    }

    /// Refuses more than [`Self::MAX_PER_OBJECT`] names for an object, or a name that is not a
    /// field's API name (letters, digits and underscores, starting with a letter).
    pub fn check(&self) -> Result<(), String> {
        for object in RecipientObject::ALL {
            let names = self.of(object);
            if names.len() > Self::MAX_PER_OBJECT {
                return Err(format!(
                    "{} names more than {} additional fields",
                    object.api_name(),
                    Self::MAX_PER_OBJECT
                ));
            }
            let shaped = |name: &String| {
                name.starts_with(|c: char| c.is_ascii_alphabetic())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            };
            if let Some(name) = names.iter().find(|name| !shaped(name)) {
                return Err(format!("{name:?} is not a field's API name ({})", object.api_name()));
            }
        }
        Ok(())
    }
}

/// What an org's registration chooses beyond who it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSettings {
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default)]
    pub extra_fields: ExtraFieldNames,
    /// The verified SES identities campaigns may send from: addresses, or `@domain` for any
    /// address of a domain.
    #[serde(default)]
    pub allowed_senders: Vec<String>,
    /// The sender's postal address, ending every campaign message (anti-spam laws require one).
    #[serde(default)]
    pub postal_address: String,
    /// Record a completed Task on each recipient a campaign was sent to.
    #[serde(default)]
    pub record_tasks: bool,
}

impl OrgSettings {
    /// Whether campaigns may send from `address`.
    pub fn allows_sender(&self, address: &str) -> bool {
        let address = address.trim().to_lowercase();
        let domain = address.rsplit_once('@').map(|(_, domain)| domain);
        self.allowed_senders.iter().map(|allowed| allowed.trim().to_lowercase()).any(|allowed| {
            allowed == address || allowed.strip_prefix('@').is_some_and(|allowed| Some(allowed) == domain)
        })
    }
}

/// An org registered with Outpost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRegistration {
    pub org_id: OrgId,
    pub name: String,
    /// The API host pinned at registration; links must name exactly this host.
    pub pinned_host: String,
    pub mode: ProvisioningMode,
    pub status: OrgStatus,
    pub secrets: OrgSecretNames,
    pub registered_at: EpochSeconds,
    #[serde(default)]
    pub settings: OrgSettings,
    /// The namespace of the org's Outpost package (managed packages); none for a package
    /// installed without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Namespace>,
}

impl OrgRegistration {
    /// The pinned host, validated again under the running process's policy.
    pub fn host(&self, policy: HostPolicy) -> Result<SalesforceHost, HostError> {
        SalesforceHost::from_host(&self.pinned_host, policy)
    }

    /// Whether the org may use Outpost.
    pub fn is_active(&self) -> bool {
        self.status == OrgStatus::Active
    }
}

/// How a user mapping came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingSource {
    /// The user completed onboarding (`per_user`).
    Onboarding,
    /// Created on first entry in an `org_wide` org.
    OrgWide,
}

/// An Outpost user: keyed by (org id, user id), never by email or username.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMapping {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub display_name: String,
    /// Where replies to mail sent by this user go.
    pub reply_to: String,
    pub source: MappingSource,
    /// When the user accepted the terms (onboarding only).
    #[serde(default)]
    pub consented_at: Option<EpochSeconds>,
    pub created_at: EpochSeconds,
}

/// An Outpost session, stored under the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutpostSession {
    pub token_hash: String,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub mode: ProvisioningMode,
    pub created_at: EpochSeconds,
    /// Sliding idle expiry; never past `absolute_expires_at`.
    pub expires_at: EpochSeconds,
    pub absolute_expires_at: EpochSeconds,
}

/// A Salesforce session that userinfo confirmed, cached by the SHA-256 of the session id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatedSession {
    pub sid_hash: String,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub expires_at: EpochSeconds,
}

/// A response saved for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedResponse {
    pub status: u16,
    pub body: String,
}

/// What an idempotency key has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub org_id: OrgId,
    pub key: String,
    /// Hex SHA-256 of the request body.
    pub body_hash: String,
    /// `None` while the first request is being processed.
    #[serde(default)]
    pub response: Option<SavedResponse>,
    pub expires_at: EpochSeconds,
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: process the request, then complete or release the key.
    Claimed,
    /// Same key, same body, finished: answer with the saved response.
    Replay(SavedResponse),
    /// Same key, same body, still being processed elsewhere.
    InProgress,
    /// Same key, different body.
    Mismatch,
}

/// A position in the `(SystemModstamp, Id)` order of an object's records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SyncCursor {
    pub modstamp: SfDateTime,
    pub id: String,
}

/// Where the sync of one object of one org stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCheckpoint {
    pub org_id: OrgId,
    pub object: RecipientObject,
    /// The last record durably written; `None` before the first page.
    #[serde(default)]
    pub cursor: Option<SyncCursor>,
    /// A Bulk API 2.0 job of an initial load that is still to be read.
    #[serde(default)]
    pub bulk_job: Option<BulkJobCheckpoint>,
    /// Deletions have been checked up to here (getDeleted `latestDateCovered`).
    #[serde(default)]
    pub deletes_checked_until: Option<SfDateTime>,
    /// When the last run of this object reached the end of its changes.
    #[serde(default)]
    pub completed_at: Option<EpochSeconds>,
    /// The fields the records up to the cursor were read with: when a field is added, the
    /// object is read again from the start.
    #[serde(default)]
    pub fields: Option<String>,
}

impl SyncCheckpoint {
    /// The checkpoint of an object never synced.
    pub fn initial(org_id: OrgId, object: RecipientObject) -> Self {
        Self {
            org_id,
            object,
            cursor: None,
            bulk_job: None,
            deletes_checked_until: None,
            completed_at: None,
            fields: None,
        }
    }
}

/// A Bulk API 2.0 job being read: its id, and the next results locator once reading began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkJobCheckpoint {
    pub job_id: String,
    #[serde(default)]
    pub locator: Option<String>,
    /// The job's snapshot time: the cursor the REST sync resumes from once the job is read.
    pub started_at: SfDateTime,
}

/// A Contact or Lead as a mail recipient, keyed by its record id. Deleted records and converted
/// leads stay as tombstones (with their modstamp) so a late, older change cannot bring them back.
/// Besides what mail needs, it keeps the fields people filter lists on. Empty fields are left out
/// of the stored item; its flags read as false when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub id: RecordId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub opted_out: bool,
    #[serde(default)]
    pub bounced: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounced_at: Option<SfDateTime>,
    /// Leads only.
    #[serde(default)]
    pub converted: bool,
    #[serde(default)]
    pub deleted: bool,
    /// `SystemModstamp` in epoch milliseconds: newer wins.
    pub modstamp: i64,
    /// `OwnerId`: a user, or for a Lead a queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<SfDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_at: Option<SfDateTime>,
    /// Contacts: `AccountId`, `Account.Name`, `Department`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Leads: `Company`, `Status`, `Industry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// A Contact's mailing address, a Lead's address: one name per concept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// The org's additional fields, by API name (text, number or boolean).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Recipient {
    /// A record with only its id and modstamp known.
    pub fn empty(id: RecordId, modstamp: i64) -> Self {
        Self {
            id,
            first_name: None,
            last_name: None,
            email: None,
            opted_out: false,
            bounced: false,
            bounce_reason: None,
            bounced_at: None,
            converted: false,
            deleted: false,
            modstamp,
            owner_id: None,
            title: None,
            lead_source: None,
            created_at: None,
            last_modified_at: None,
            account_id: None,
            account_name: None,
            department: None,
            company: None,
            status: None,
            industry: None,
            country: None,
            state: None,
            city: None,
            extra: BTreeMap::new(),
        }
    }

    /// Whether the record belongs in the recipient set (not deleted, not a converted lead).
    pub fn is_member(&self) -> bool {
        !self.deleted && !self.converted
    }

    /// A tombstone for a record deleted as of `modstamp`.
    pub fn tombstone(id: RecordId, modstamp: i64) -> Self {
        Self { deleted: true, ..Self::empty(id, modstamp) }
    }
}

/// What a conditional recipient write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Written: it was new or newer than what was stored.
    Written,
    /// Not written: the stored record is as new or newer.
    Stale,
}

/// A change Outpost owes Salesforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The recipient unsubscribed: `HasOptedOutOfEmail = true`.
    OptOut,
    /// Mail to the recipient bounced: `EmailBouncedReason`/`EmailBouncedDate`.
    Bounce { reason: String, bounced_at: SfDateTime },
}

impl Change {
    /// A short name, part of the queue key: one pending change of each kind per record.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::OptOut => "opt_out",
            Change::Bounce { .. } => "bounce",
        }
    }
}

/// A queued write-back, retried with backoff until it succeeds or becomes a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBack {
    pub org_id: OrgId,
    pub record: RecordId,
    pub change: Change,
    pub attempts: u32,
    /// Not before this time (backoff).
    pub next_attempt_at: EpochSeconds,
    #[serde(default)]
    pub last_error: Option<String>,
    pub enqueued_at: EpochSeconds,
}

impl WriteBack {
    /// A new queue entry, due at once.
    pub fn due_now(org_id: OrgId, record: RecordId, change: Change) -> Self {
        let now = now_epoch();
        Self { org_id, record, change, attempts: 0, next_attempt_at: now, last_error: None, enqueued_at: now }
    }
}

/// How a sync run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every object reached the end of its changes; the write-back queue was worked.
    Complete,
    /// Some work finished and some did not (an object failed, a Bulk job is still running).
    Partial,
    /// The org's API budget share is spent; the checkpoint is saved.
    StoppedBudget,
    /// The Lambda deadline came; the checkpoint is saved.
    StoppedDeadline,
    /// The integration user could not log in (policy refusal, bad credentials).
    AuthFailed,
    Failed,
}

impl RunStatus {
    /// The status as run records and logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Complete => "complete",
            RunStatus::Partial => "partial",
            RunStatus::StoppedBudget => "stopped_budget",
            RunStatus::StoppedDeadline => "stopped_deadline",
            RunStatus::AuthFailed => "auth_failed",
            RunStatus::Failed => "failed",
        }
    }
}

/// What one object's sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRun {
    /// Rows read from Salesforce.
    pub pulled: u64,
    /// Rows stored as members of the recipient set.
    pub upserted: u64,
    /// Stored members that Salesforce deleted.
    pub deleted: u64,
    /// Converted Leads read (they leave the recipient set).
    #[serde(default)]
    pub converted: u64,
    pub pages: u64,
    /// Whether a Bulk API 2.0 job carried the load.
    pub bulk: bool,
    /// The checkpoint's cursor when the run began.
    #[serde(default)]
    pub cursor_before: Option<SyncCursor>,
    /// The last cursor the run saved (where an interrupted object will resume).
    #[serde(default)]
    pub cursor_after: Option<SyncCursor>,
    #[serde(default)]
    pub error: Option<String>,
}

/// Write-back outcome counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBackRun {
    pub ok: u64,
    pub failed: u64,
    pub dead: u64,
}

/// Campaign Tasks recorded in Salesforce by a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRun {
    pub recorded: u64,
    pub failed: u64,
}

/// The record of one sync run of one org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    pub org_id: OrgId,
    pub run_id: String,
    /// What started it: `schedule`, `apex`, `local`, …
    pub trigger: String,
    pub status: RunStatus,
    pub started_at: SfDateTime,
    pub duration_ms: u64,
    pub contacts: ObjectRun,
    pub leads: ObjectRun,
    pub write_back: WriteBackRun,
    /// Tasks recorded for sent campaigns (orgs with `record_tasks`).
    #[serde(default)]
    pub activity: ActivityRun,
    pub api_calls: u64,
    /// `used/limit` from the last `Sforce-Limit-Info`.
    #[serde(default)]
    pub api_usage: Option<String>,
    /// Additional fields the org asked for that the sync could not read, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_fields: Vec<SkippedField>,
    #[serde(default)]
    pub error: Option<String>,
}

/// An additional field the sync skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedField {
    pub object: RecipientObject,
    pub field: String,
    pub reason: String,
}

/// The additional fields the sync last found readable and filterable, for the list builder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgFields {
    pub fields: Vec<crate::lists::ExtraField>,
    pub checked_at: EpochSeconds,
}

/// How a list chooses its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ListDefinition {
    /// Records meeting the conditions, evaluated afresh each time.
    Dynamic { match_all: bool, conditions: Vec<crate::lists::ConditionSpec> },
    /// Records added one by one (from a Salesforce list view or the API).
    Static,
}

/// A saved recipient list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientList {
    pub org_id: OrgId,
    /// 16 URL-safe characters.
    pub id: String,
    pub name: String,
    pub objects: Vec<RecipientObject>,
    pub definition: ListDefinition,
    pub owner_id: UserId,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
    /// Changes with every edit, so that two people editing one list cannot silently undo each other.
    pub revision: String,
    /// Members at the last evaluation, and when that was.
    #[serde(default)]
    pub last_count: Option<u64>,
    #[serde(default)]
    pub last_evaluated_at: Option<EpochSeconds>,
}

/// Records selected in a Salesforce list view, held briefly while the user picks a list for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSelection {
    pub token: String,
    pub org_id: OrgId,
    /// Only the user who selected them may use them.
    pub user_id: UserId,
    pub object: RecipientObject,
    pub ids: Vec<RecordId>,
    pub expires_at: EpochSeconds,
}

impl PendingSelection {
    /// The most records a list-view selection hands over (the package's button allows as many).
    pub const MAX_RECORDS: usize = 1_000;
}

impl SyncRun {
    /// The counts of `object`.
    pub fn object_mut(&mut self, object: RecipientObject) -> &mut ObjectRun {
        match object {
            RecipientObject::Contact => &mut self.contacts,
            RecipientObject::Lead => &mut self.leads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additional_field_names_are_api_names_twenty_at_most() {
        let names = |contact: &[&str]| ExtraFieldNames {
            contact: contact.iter().map(|n| (*n).to_owned()).collect(),
            lead: Vec::new(),
        };
        assert_eq!(names(&["Region__c", "Score__c", "Title"]).check(), Ok(()));
        for bad in [&["Account.Name"][..], &["Name, (SELECT"], &["__c"], &[""]] {
            assert!(names(bad).check().is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..21).map(|n| format!("Field{n}__c")).collect();
        assert!(ExtraFieldNames { contact: Vec::new(), lead: many }.check().is_err());
    }

    #[test]
    fn a_recipient_is_stored_without_its_empty_fields_and_reads_back_without_its_false_flags() {
        let id = RecordId::parse("003q000000KvQ1tAAF").unwrap();
        let member =
            Recipient { email: Some("ada@example.com".to_owned()), deleted: false, ..Recipient::tombstone(id, 7) };
        let stored = serde_json::to_value(&member).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"id": "003q000000KvQ1tAAF", "email": "ada@example.com", "opted_out": false,
                "bounced": false, "converted": false, "deleted": false, "modstamp": 7})
        );
        assert_eq!(serde_json::from_value::<Recipient>(stored).unwrap(), member);
        let without_flags = serde_json::json!({"id": "003q000000KvQ1tAAF", "email": "ada@example.com", "modstamp": 7});
        assert_eq!(serde_json::from_value::<Recipient>(without_flags).unwrap(), member);
    }
}
