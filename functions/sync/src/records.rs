//! What the sync reads: the SOQL it sends, the record shape it parses (REST JSON and Bulk CSV),
//! and how a Contact or Lead becomes a recipient.

use std::borrow::Cow;

use outpost_shared::ids::{RecipientObject, RecordId};
use outpost_shared::parsed::optional_text;
use outpost_shared::salesforce::{FetchedPage, SalesforceError, SfDateTime};
use outpost_shared::store::{Recipient, RecipientRef, SyncCursor};
use serde::Deserialize;

use crate::layout;

/// The fields the sync reads, in the order it selects them: a Lead's; a Contact's are all but the
/// last. REST rows list them in this order (which [`layout`] relies on), and Bulk CSV columns
/// are found by these names.
const FIELDS: [&str; 11] = [
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "HasOptedOutOfEmail",
    "IsEmailBounced",
    "EmailBouncedReason",
    "EmailBouncedDate",
    "SystemModstamp",
    "IsDeleted",
    "IsConverted",
];

/// The fields selected from `object`.
pub fn fields(object: RecipientObject) -> &'static [&'static str] {
    match object {
        RecipientObject::Contact => &FIELDS[..10],
        RecipientObject::Lead => &FIELDS,
    }
}

/// Changes after `cursor` in `(SystemModstamp, Id)` order. The tie clause means records that share
/// the cursor's modstamp across a page boundary are neither lost nor read twice. A cursor without
/// an id (a Bulk load's snapshot time) starts at its modstamp, inclusive: SOQL refuses `Id > ''`.
pub fn changes_after(object: RecipientObject, cursor: Option<&SyncCursor>) -> String {
    let select = format!("SELECT {} FROM {}", fields(object).join(", "), object.api_name());
    match cursor {
        None => format!("{select} ORDER BY SystemModstamp, Id"),
        Some(cursor) if cursor.id.is_empty() => {
            let t = cursor.modstamp.soql_literal();
            format!("{select} WHERE SystemModstamp >= {t} ORDER BY SystemModstamp, Id")
        }
        Some(cursor) => {
            let t = cursor.modstamp.soql_literal();
            let id = cursor.id.replace(['\\', '\''], "");
            format!(
                "{select} WHERE SystemModstamp > {t} OR (SystemModstamp = {t} AND Id > '{id}') ORDER BY SystemModstamp, Id"
            )
        }
    }
}

/// The Bulk API 2.0 query of a first full load (no ORDER BY: Bulk does not promise one).
pub fn full_load(object: RecipientObject) -> String {
    format!("SELECT {} FROM {}", fields(object).join(", "), object.api_name())
}

/// Every live id, for a reconciliation past getDeleted's window.
pub fn all_ids(object: RecipientObject) -> String {
    format!("SELECT Id FROM {}", object.api_name())
}

/// A Contact or Lead row as REST returns it, its text borrowed from the page (a Bulk CSV row
/// becomes one with owned text).
#[derive(Debug, PartialEq, Deserialize)]
pub struct SyncRecord<'a> {
    #[serde(rename = "Id")]
    pub id: RecordId,
    #[serde(rename = "FirstName", borrow, default, deserialize_with = "optional_text")]
    pub first_name: Option<Cow<'a, str>>,
    #[serde(rename = "LastName", borrow, default, deserialize_with = "optional_text")]
    pub last_name: Option<Cow<'a, str>>,
    #[serde(rename = "Email", borrow, default, deserialize_with = "optional_text")]
    pub email: Option<Cow<'a, str>>,
    #[serde(rename = "HasOptedOutOfEmail", default)]
    pub opted_out: Option<bool>,
    #[serde(rename = "IsEmailBounced", default)]
    pub bounced: Option<bool>,
    #[serde(rename = "EmailBouncedReason", borrow, default, deserialize_with = "optional_text")]
    pub bounce_reason: Option<Cow<'a, str>>,
    #[serde(rename = "EmailBouncedDate", default)]
    pub bounced_at: Option<SfDateTime>,
    #[serde(rename = "SystemModstamp")]
    pub modstamp: SfDateTime,
    #[serde(rename = "IsDeleted", default)]
    pub deleted: Option<bool>,
    #[serde(rename = "IsConverted", default)]
    pub converted: Option<bool>,
}

/// A query page's records: read by their layout when the page keeps to Salesforce's (see
/// [`layout`]), by serde otherwise.
pub fn page_records(page: &FetchedPage, object: RecipientObject) -> Result<Vec<SyncRecord<'_>>, SalesforceError> {
    match page.rows().and_then(|rows| layout::records(rows, object)) {
        Some(records) => Ok(records),
        None => Ok(page.parse::<SyncRecord>()?.records),
    }
}

/// An id row of a reconciliation query.
#[derive(Debug, Deserialize)]
pub struct IdRecord {
    #[serde(rename = "Id")]
    pub id: String,
}

impl<'a> SyncRecord<'a> {
    /// The cursor position of this record.
    pub fn cursor(&self) -> SyncCursor {
        SyncCursor { modstamp: self.modstamp, id: self.id.as_str().to_owned() }
    }

    /// The recipient this record is (a tombstone when deleted).
    pub fn into_recipient(self, object: RecipientObject) -> Result<RecipientRef<'a>, SalesforceError> {
        if self.id.object() != object {
            return Err(SalesforceError::Protocol(format!("{} returned another object's id", object.api_name())));
        }
        Ok(Recipient {
            id: self.id,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            opted_out: self.opted_out.unwrap_or(false),
            bounced: self.bounced.unwrap_or(false),
            bounce_reason: self.bounce_reason,
            bounced_at: self.bounced_at,
            converted: self.converted.unwrap_or(false),
            deleted: self.deleted.unwrap_or(false),
            modstamp: self.modstamp.millis(),
        })
    }
}

/// Maps Bulk CSV rows onto records by the header's column names.
pub struct CsvColumns {
    positions: Vec<(usize, &'static str)>,
}

impl CsvColumns {
    pub fn from_header(header: &[String]) -> Self {
        let positions = header
            .iter()
            .enumerate()
            .filter_map(|(index, name)| FIELDS.iter().find(|f| **f == name).map(|f| (index, *f)))
            .collect();
        Self { positions }
    }

    /// A CSV row as a record (empty cells are null).
    pub fn record(&self, row: &[String]) -> Result<SyncRecord<'static>, SalesforceError> {
        let mut json = serde_json::Map::new();
        for (index, name) in &self.positions {
            let Some(cell) = row.get(*index).filter(|cell| !cell.is_empty()) else {
                continue;
            };
            let value = match *name {
                "HasOptedOutOfEmail" | "IsEmailBounced" | "IsDeleted" | "IsConverted" => {
                    serde_json::Value::Bool(cell.eq_ignore_ascii_case("true"))
                }
                _ => serde_json::Value::String(cell.clone()),
            };
            json.insert((*name).to_owned(), value);
        }
        SyncRecord::deserialize(serde_json::Value::Object(json))
            .map_err(|err| SalesforceError::Protocol(format!("bulk row: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_query_breaks_modstamp_ties_by_id() {
        let cursor = SyncCursor {
            modstamp: SfDateTime::parse("2026-01-02T03:04:05.000+0000").unwrap(),
            id: "003q000000KvQ1tAAF".into(),
        };
        assert_eq!(
            changes_after(RecipientObject::Contact, Some(&cursor)),
            "SELECT Id, FirstName, LastName, Email, HasOptedOutOfEmail, IsEmailBounced, EmailBouncedReason, \
             EmailBouncedDate, SystemModstamp, IsDeleted FROM Contact WHERE SystemModstamp > 2026-01-02T03:04:05Z \
             OR (SystemModstamp = 2026-01-02T03:04:05Z AND Id > '003q000000KvQ1tAAF') ORDER BY SystemModstamp, Id"
        );
        assert!(
            changes_after(RecipientObject::Lead, None).ends_with("IsConverted FROM Lead ORDER BY SystemModstamp, Id")
        );
    }

    #[test]
    fn a_cursor_without_an_id_starts_at_its_modstamp_inclusive() {
        let snapshot =
            SyncCursor { modstamp: SfDateTime::parse("2026-01-02T03:04:05.000+0000").unwrap(), id: String::new() };
        assert!(
            changes_after(RecipientObject::Contact, Some(&snapshot))
                .ends_with("FROM Contact WHERE SystemModstamp >= 2026-01-02T03:04:05Z ORDER BY SystemModstamp, Id")
        );
    }

    #[test]
    fn maps_rest_and_csv_rows_to_recipients() {
        let json = r#"{"attributes":{"type":"Lead"},"Id":"00Qq000000KvQ1tEAF","FirstName":null,"LastName":"Doe",
            "Email":"doe@example.com","HasOptedOutOfEmail":true,"IsEmailBounced":false,"EmailBouncedReason":null,
            "EmailBouncedDate":null,"SystemModstamp":"2026-01-02T03:04:05.000+0000","IsDeleted":false,"IsConverted":true}"#;
        let record: SyncRecord = serde_json::from_str(json).unwrap();
        let recipient = record.into_recipient(RecipientObject::Lead).unwrap();
        assert!(recipient.opted_out && recipient.converted && !recipient.is_member());

        let header: Vec<String> = ["Id", "Email", "SystemModstamp", "IsDeleted", "Unrelated"].map(String::from).into();
        let columns = CsvColumns::from_header(&header);
        let row: Vec<String> =
            ["003q000000KvQ1tAAF", "", "2026-01-02T03:04:05.000Z", "false", "x"].map(String::from).into();
        let recipient = columns.record(&row).unwrap().into_recipient(RecipientObject::Contact).unwrap();
        assert_eq!(recipient.email, None);
        assert!(recipient.is_member());
        assert!(RecordId::parse("00Qq000000KvQ1t").is_ok());
        let contact_as_lead = columns.record(&row).unwrap().into_recipient(RecipientObject::Lead);
        assert!(contact_as_lead.is_err());
    }
}
