//! `POST /apex/v1/records`: Contact/Lead changes pushed by the package's triggers. They update the
//! same recipient set the scheduled sync keeps, and an older `SystemModstamp` never overwrites a
//! newer one. One bad record never rejects the rest.

use outpost_shared::ids::{RecipientObject, RecordId};
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

/// A validated change, or the rejection of the raw record.
enum Parsed {
    Change(Recipient),
    Rejected(RecordOutcome),
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

fn parse_record(object: RecipientObject, record: &Map<String, Value>) -> Parsed {
    let raw_id = record.get("Id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let Ok(id) = RecordId::parse_for(object, &raw_id) else {
        return Parsed::Rejected(reject(raw_id, "invalid_id", format!("Id is not a {} id", object.api_name())));
    };
    let fields = || -> Result<Recipient, RecordError> {
        let modstamp = datetime(record, "SystemModstamp")?
            .ok_or(RecordError { code: "invalid_field", message: "SystemModstamp is required".into() })?;
        Ok(Recipient {
            id,
            first_name: optional_string(record, "FirstName")?,
            last_name: optional_string(record, "LastName")?,
            email: optional_string(record, "Email")?,
            opted_out: flag(record, "HasOptedOutOfEmail")?,
            bounced: flag(record, "IsEmailBounced")?,
            bounce_reason: optional_string(record, "EmailBouncedReason")?,
            bounced_at: datetime(record, "EmailBouncedDate")?,
            converted: object == RecipientObject::Lead && flag(record, "IsConverted")?,
            deleted: flag(record, "IsDeleted")?,
            modstamp: modstamp.millis(),
        })
    };
    match fields() {
        Ok(recipient) => Parsed::Change(recipient),
        Err(error) => {
            Parsed::Rejected(RecordOutcome { id: id.to_string(), status: Status::Rejected, error: Some(error) })
        }
    }
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
            Parsed::Change(recipient) if recipient.modstamp > latest => {
                return Err(ApiError::ModstampInFuture { path: format!("records[{index}].SystemModstamp") });
            }
            Parsed::Change(recipient) => {
                changes.push((outcomes.len(), recipient));
                outcomes.push(None);
            }
            Parsed::Rejected(outcome) => outcomes.push(Some(outcome)),
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
    let applied = store.apply_recipients(&org.org_id, &batch.recipients()).await?;
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
