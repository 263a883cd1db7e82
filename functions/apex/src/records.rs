//! `POST /apex/v1/records`: Contact/Lead changes pushed by the package's triggers. They update the
//! same recipient set the scheduled sync keeps, and an older `SystemModstamp` never overwrites a
//! newer one. One bad record never rejects the rest.

use outpost_shared::ids::{RecipientObject, RecordId, SalesforceId};
use outpost_shared::salesforce::SfDateTime;
use outpost_shared::store::{Applied, OrgRegistration, Recipient};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Salesforce hands a trigger at most 200 records.
pub const MAX_RECORDS: usize = 200;

/// How far ahead of Outpost's clock a `SystemModstamp` may be: clock skew, not a stamp from
/// the future that would make every later change look older.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    sobject: RecipientObject,
    #[serde(default)]
    records: Vec<Map<String, Value>>,
    #[serde(default)]
    deleted: Vec<String>,
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Upserted,
    Deleted,
    Unchanged,
    Rejected,
}

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordError {
    pub code: &'static str,
    pub message: String,
}

/// One entry of the response, in request order (records, then deleted ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordOutcome {
    pub id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
}

/// The response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordsResponse {
    pub results: Vec<RecordOutcome>,
}

fn reject(id: String, code: &'static str, message: impl Into<String>) -> RecordOutcome {
    RecordOutcome { id, status: Status::Rejected, error: Some(RecordError { code, message: message.into() }) }
}

fn optional_string(record: &Map<String, Value>, field: &'static str) -> Result<Option<String>, RecordError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= 255 => Ok(Some(text.clone())),
        Some(_) => Err(RecordError {
            code: "invalid_field",
            message: format!("{field} must be a string of at most 255 characters or null"),
        }),
    }
}

/// An id field, stored in its 18-character form so it compares with ids Outpost holds (owners).
fn optional_id(record: &Map<String, Value>, field: &'static str) -> Result<Option<String>, RecordError> {
    let Some(text) = optional_string(record, field)? else {
        return Ok(None);
    };
    match SalesforceId::parse(&text) {
        Ok(id) => Ok(Some(id.as_str().to_owned())),
        Err(err) => {
            Err(RecordError { code: "invalid_field", message: format!("{field} is not a Salesforce id: {err}") })
        }
    }
}

fn flag(record: &Map<String, Value>, field: &'static str) -> Result<bool, RecordError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(RecordError { code: "invalid_field", message: format!("{field} must be true, false or null") }),
    }
}

fn datetime(record: &Map<String, Value>, field: &'static str) -> Result<Option<SfDateTime>, RecordError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => SfDateTime::parse(text).map(Some).map_err(|_| RecordError {
            code: "invalid_field",
            message: format!("{field} is not a Salesforce datetime"),
        }),
        Some(_) => {
            Err(RecordError { code: "invalid_field", message: format!("{field} must be a datetime string or null") })
        }
    }
}

/// `Account.Name` as Apex serializes a parent record: `"Account": {"Name": …}` (or absent).
fn parent_name(record: &Map<String, Value>, relationship: &'static str) -> Result<Option<String>, RecordError> {
    match record.get(relationship) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(parent)) => optional_string(parent, "Name"),
        Some(_) => {
            Err(RecordError { code: "invalid_field", message: format!("{relationship} must be an object or null") })
        }
    }
}

/// A validated change, or the rejection of the raw record.
fn parse_record(object: RecipientObject, record: &Map<String, Value>) -> Result<Recipient, RecordOutcome> {
    let raw_id = record.get("Id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let Ok(id) = RecordId::parse_for(object, &raw_id) else {
        return Err(reject(raw_id, "invalid_id", format!("Id is not a {} id", object.api_name())));
    };
    let fields = || -> Result<Recipient, RecordError> {
        let modstamp = datetime(record, "SystemModstamp")?
            .ok_or(RecordError { code: "invalid_field", message: "SystemModstamp is required".into() })?;
        let contact = object == RecipientObject::Contact;
        // One name per concept: a Contact's mailing address, a Lead's address.
        let (country, state, city) =
            if contact { ("MailingCountry", "MailingState", "MailingCity") } else { ("Country", "State", "City") };
        Ok(Recipient {
            first_name: optional_string(record, "FirstName")?,
            last_name: optional_string(record, "LastName")?,
            email: optional_string(record, "Email")?,
            opted_out: flag(record, "HasOptedOutOfEmail")?,
            bounced: flag(record, "IsEmailBounced")?,
            bounce_reason: optional_string(record, "EmailBouncedReason")?,
            bounced_at: datetime(record, "EmailBouncedDate")?,
            converted: !contact && flag(record, "IsConverted")?,
            deleted: flag(record, "IsDeleted")?,
            owner_id: optional_id(record, "OwnerId")?,
            title: optional_string(record, "Title")?,
            lead_source: optional_string(record, "LeadSource")?,
            created_at: datetime(record, "CreatedDate")?,
            last_modified_at: datetime(record, "LastModifiedDate")?,
            account_id: if contact { optional_id(record, "AccountId")? } else { None },
            account_name: if contact { parent_name(record, "Account")? } else { None },
            department: if contact { optional_string(record, "Department")? } else { None },
            company: if contact { None } else { optional_string(record, "Company")? },
            status: if contact { None } else { optional_string(record, "Status")? },
            industry: if contact { None } else { optional_string(record, "Industry")? },
            country: optional_string(record, country)?,
            state: optional_string(record, state)?,
            city: optional_string(record, city)?,
            ..Recipient::empty(id, modstamp.millis())
        })
    };
    fields().map_err(|error| RecordOutcome { id: id.to_string(), status: Status::Rejected, error: Some(error) })
}

/// A checked payload: changes to apply and the positions of their outcomes.
pub struct Batch {
    outcomes: Vec<Option<RecordOutcome>>,
    changes: Vec<(usize, Recipient)>,
}

/// Parses and checks the body; schema errors name the path, record errors stay per record.
pub fn parse(body: &[u8], now: SfDateTime) -> Result<Batch, ApiError> {
    let payload: Payload = crate::parse_json(body)?;
    for (field, length) in [("records", payload.records.len()), ("deleted", payload.deleted.len())] {
        if length > MAX_RECORDS {
            return Err(ApiError::InvalidPayload {
                path: field.into(),
                message: format!("at most {MAX_RECORDS} entries, got {length}"),
            });
        }
    }
    let mut outcomes = Vec::with_capacity(payload.records.len() + payload.deleted.len());
    let mut changes = Vec::with_capacity(outcomes.capacity());
    let latest = now.plus_seconds(MAX_CLOCK_SKEW_SECONDS).millis();
    for (index, record) in payload.records.iter().enumerate() {
        match parse_record(payload.sobject, record) {
            Ok(recipient) if recipient.modstamp > latest => {
                return Err(ApiError::ModstampInFuture { path: format!("records[{index}].SystemModstamp") });
            }
            Ok(recipient) => {
                changes.push((outcomes.len(), recipient));
                outcomes.push(None);
            }
            Err(outcome) => outcomes.push(Some(outcome)),
        }
    }
    for raw in payload.deleted {
        match RecordId::parse_for(payload.sobject, &raw) {
            // A delete carries no modstamp: it is as of now, so earlier edits arriving late lose.
            Ok(id) => {
                changes.push((outcomes.len(), Recipient::tombstone(id, now.millis())));
                outcomes.push(None);
            }
            Err(_) => {
                outcomes.push(Some(reject(raw, "invalid_id", format!("not a {} id", payload.sobject.api_name()))))
            }
        }
    }
    Ok(Batch { outcomes, changes })
}

impl Batch {
    /// The recipients to write, in order.
    pub fn recipients(&self) -> Vec<Recipient> {
        self.changes.iter().map(|(_, recipient)| recipient.clone()).collect()
    }

    /// The response, given what the store did with [`Batch::recipients`].
    pub fn respond(mut self, applied: &[Applied]) -> RecordsResponse {
        for ((position, recipient), applied) in self.changes.iter().zip(applied) {
            let status = match applied {
                Applied::Stale => Status::Unchanged,
                Applied::Written if recipient.deleted => Status::Deleted,
                Applied::Written => Status::Upserted,
            };
            self.outcomes[*position] = Some(RecordOutcome { id: recipient.id.to_string(), status, error: None });
        }
        RecordsResponse { results: self.outcomes.into_iter().flatten().collect() }
    }
}

/// Applies a batch for `org`.
pub async fn apply(
    store: &dyn outpost_shared::store::Store,
    org: &OrgRegistration,
    batch: Batch,
) -> Result<RecordsResponse, outpost_shared::store::StoreError> {
    let mut recipients = batch.recipients();
    // A callout carries the standard fields; an org's additional fields keep the values the
    // sync last read until it reads the record again.
    let ids: Vec<RecordId> = recipients.iter().map(|recipient| recipient.id).collect();
    let stored = store.get_recipients(&org.org_id, &ids).await?;
    for (recipient, stored) in recipients.iter_mut().zip(stored) {
        if let Some(stored) = stored {
            recipient.extra = stored.extra;
        }
    }
    let applied = store.apply_recipients(&org.org_id, &recipients).await?;
    if applied.contains(&Applied::Written) {
        // Functions that keep the org's recipients in memory read them again.
        store.mark_recipients_changed(&org.org_id).await?;
    }
    Ok(batch.respond(&applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SfDateTime {
        SfDateTime::parse("2026-06-01T00:00:00Z").unwrap()
    }

    #[test]
    fn keeps_good_records_and_rejects_bad_ones_individually() {
        let body = serde_json::json!({
            "sobject": "Contact",
            "records": [
                {"attributes": {"type": "Contact"}, "Id": "003q000000KvQ1tAAF", "FirstName": "Ada", "LastName": "Lovelace",
                 "Email": "ada@example.com", "HasOptedOutOfEmail": false, "IsEmailBounced": false,
                 "EmailBouncedReason": null, "EmailBouncedDate": null, "SystemModstamp": "2026-05-01T10:00:00.000+0000"},
                {"Id": "00Qq000000KvQ1t", "SystemModstamp": "2026-05-01T10:00:00.000Z"},
                {"Id": "003q000000KvQ2t"},
                {"Id": "003q000000KvQ3t", "SystemModstamp": "2026-05-01T10:00:00Z", "HasOptedOutOfEmail": "yes"}
            ],
            "deleted": ["003q000000KvQ4t", "bogus"]
        });
        let batch = parse(body.to_string().as_bytes(), now()).unwrap();
        let recipients = batch.recipients();
        assert_eq!(recipients.len(), 2);
        assert!(recipients[1].deleted);
        assert_eq!(recipients[1].modstamp, now().millis());
        let response = batch.respond(&[Applied::Written, Applied::Written]);
        let statuses: Vec<Status> = response.results.iter().map(|r| r.status.clone()).collect();
        assert_eq!(
            statuses,
            vec![
                Status::Upserted,
                Status::Rejected,
                Status::Rejected,
                Status::Rejected,
                Status::Deleted,
                Status::Rejected
            ]
        );
        assert_eq!(response.results[2].error.as_ref().unwrap().message, "SystemModstamp is required");
    }

    #[test]
    fn a_modstamp_beyond_clock_skew_refuses_the_batch_and_one_within_it_is_kept() {
        let record = |stamp: &str| serde_json::json!({"Id": "003q000000KvQ1tAAF", "SystemModstamp": stamp});
        let body = |stamp: &str| serde_json::json!({"sobject": "Contact", "records": [record("2026-05-01T10:00:00Z"), record(stamp)]});
        let err = parse(body("2026-06-01T00:05:01Z").to_string().as_bytes(), now()).err().unwrap();
        assert_eq!(err, ApiError::ModstampInFuture { path: "records[1].SystemModstamp".into() });
        assert_eq!((err.status(), err.code()), (axum::http::StatusCode::BAD_REQUEST, "modstamp_in_future"));
        assert!(parse(body("2026-06-01T00:05:00Z").to_string().as_bytes(), now()).is_ok());
    }

    #[test]
    fn reads_the_fields_lists_filter_on_with_one_name_per_concept() {
        let body = serde_json::json!({"sobject": "Contact", "records": [
            {"Id": "003q000000KvQ1tAAF", "SystemModstamp": "2026-05-01T10:00:00Z", "OwnerId": "005q000000KvQ1tAAF",
             "Title": "CTO", "AccountId": "001q000000KvQ1tAAF", "Account": {"attributes": {"type": "Account"}, "Name": "Initech"},
             "MailingCountry": "Germany", "MailingCity": "Berlin", "Company": "ignored on a Contact",
             "CreatedDate": "2025-01-01T00:00:00.000+0000"},
            {"Id": "003q000000KvQ2tAAF", "SystemModstamp": "2026-05-01T10:00:00Z", "Account": "Initech"}
        ]});
        let batch = parse(body.to_string().as_bytes(), now()).unwrap();
        let recipients = batch.recipients();
        assert_eq!(recipients.len(), 1, "a malformed Account is rejected alone");
        let contact = &recipients[0];
        assert_eq!(contact.account_name.as_deref(), Some("Initech"));
        assert_eq!((contact.country.as_deref(), contact.city.as_deref()), (Some("Germany"), Some("Berlin")));
        assert_eq!(contact.company, None);
        assert_eq!(contact.created_at, Some(SfDateTime::parse("2025-01-01T00:00:00Z").unwrap()));
    }

    #[test]
    fn schema_errors_name_the_path() {
        let err = parse(br#"{"sobject": "Account", "records": []}"#, now()).err().unwrap();
        assert!(matches!(err, ApiError::InvalidPayload { ref path, .. } if path == "sobject"), "{err:?}");
        let err = parse(br#"{"sobject": null}"#, now()).err().unwrap();
        assert!(matches!(err, ApiError::InvalidPayload { ref path, .. } if path == "sobject"), "{err:?}");
        let err = parse(br#"{"sobject": "Lead", "records": [1]}"#, now()).err().unwrap();
        assert!(matches!(err, ApiError::InvalidPayload { ref path, .. } if path == "records[0]"), "{err:?}");
        let err = parse(br#"{"sobject": "Lead", "extra": 1}"#, now()).err().unwrap();
        assert!(matches!(err, ApiError::InvalidPayload { .. }), "{err:?}");
        assert!(matches!(parse(b"{not json", now()), Err(ApiError::InvalidJson(_))));
        assert!(matches!(parse(br#"{"sobject": "Lead"} {"sobject": "Lead"}"#, now()), Err(ApiError::InvalidJson(_))));
        let err = parse(br#"["Lead", [], []]"#, now()).err().unwrap();
        assert!(matches!(err, ApiError::InvalidPayload { ref path, .. } if path == "."), "{err:?}");
        let many: Vec<String> = (0..201).map(|n| format!("003q0000{n:07}")).collect();
        let body = serde_json::json!({"sobject": "Contact", "deleted": many});
        let err = parse(body.to_string().as_bytes(), now()).err().unwrap();
        assert!(matches!(err, ApiError::InvalidPayload { ref path, .. } if path == "deleted"));
    }
}
