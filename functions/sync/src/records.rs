//! What the sync reads: the SOQL it sends, the record shape it parses (the same struct reads REST
//! JSON rows and Bulk API 2.0 CSV rows by field name), and how a Contact or Lead becomes a
//! recipient.

use outpost_shared::ids::{RecipientObject, RecordId};
use outpost_shared::salesforce::{SalesforceError, SfDateTime};
use outpost_shared::store::{Recipient, SyncCursor};
use serde::Deserialize;

/// The fields the sync reads: a Lead's; a Contact's are all but the last.
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

/// A Contact or Lead row, from a REST page (JSON, nulls for empty fields) or a Bulk page (CSV,
/// empty cells for empty fields).
#[derive(Debug, PartialEq, Deserialize)]
pub struct SyncRecord {
    #[serde(rename = "Id")]
    pub id: RecordId,
    #[serde(rename = "FirstName", default)]
    pub first_name: Option<String>,
    #[serde(rename = "LastName", default)]
    pub last_name: Option<String>,
    #[serde(rename = "Email", default)]
    pub email: Option<String>,
    #[serde(rename = "HasOptedOutOfEmail", default)]
    pub opted_out: Option<bool>,
    #[serde(rename = "IsEmailBounced", default)]
    pub bounced: Option<bool>,
    #[serde(rename = "EmailBouncedReason", default)]
    pub bounce_reason: Option<String>,
    #[serde(rename = "EmailBouncedDate", default)]
    pub bounced_at: Option<SfDateTime>,
    #[serde(rename = "SystemModstamp")]
    pub modstamp: SfDateTime,
    #[serde(rename = "IsDeleted", default)]
    pub deleted: Option<bool>,
    #[serde(rename = "IsConverted", default)]
    pub converted: Option<bool>,
}

/// An id row of a reconciliation query.
#[derive(Debug, Deserialize)]
pub struct IdRecord {
    #[serde(rename = "Id")]
    pub id: String,
}

impl SyncRecord {
    /// The cursor position of this record.
    pub fn cursor(&self) -> SyncCursor {
        SyncCursor { modstamp: self.modstamp, id: self.id.as_str().to_owned() }
    }

    /// The recipient this record is (a tombstone when deleted).
    pub fn into_recipient(self, object: RecipientObject) -> Result<Recipient, SalesforceError> {
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

/// A page's rows as recipients, and the cursor past the last of them.
pub fn recipients(
    rows: Vec<SyncRecord>,
    object: RecipientObject,
) -> Result<(Vec<Recipient>, Option<SyncCursor>), SalesforceError> {
    let cursor = rows.last().map(SyncRecord::cursor);
    let recipients = rows.into_iter().map(|row| row.into_recipient(object)).collect::<Result<_, _>>()?;
    Ok((recipients, cursor))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use outpost_shared::salesforce::{BulkResultsPage, FetchedPage};

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
    fn rest_and_csv_rows_become_the_same_recipients() {
        let json = br#"{"totalSize":2,"done":true,"records":[
            {"attributes":{"type":"Lead"},"Id":"00Qq000000KvQ1tEAF","FirstName":null,"LastName":"Doe",
            "Email":"doe@example.com","HasOptedOutOfEmail":true,"IsEmailBounced":false,"EmailBouncedReason":null,
            "EmailBouncedDate":null,"SystemModstamp":"2026-01-02T03:04:05.000+0000","IsDeleted":false,"IsConverted":true},
            {"attributes":{"type":"Lead"},"Id":"00Qq000000KvQ1uEAF","FirstName":"Ann","LastName":"Lee",
            "Email":null,"HasOptedOutOfEmail":false,"IsEmailBounced":true,"EmailBouncedReason":"550 no such user",
            "EmailBouncedDate":"2026-01-01T00:00:00.000+0000","SystemModstamp":"2026-01-02T03:04:06.000+0000",
            "IsDeleted":false,"IsConverted":false}]}"#;
        let page = FetchedPage::from_slice(json).unwrap();
        let (from_json, cursor) = recipients(page.records().unwrap(), RecipientObject::Lead).unwrap();
        assert!(from_json[0].opted_out && from_json[0].converted && !from_json[0].is_member());
        assert_eq!(cursor.unwrap().id, "00Qq000000KvQ1uEAF");

        let csv = "\"Id\",\"FirstName\",\"LastName\",\"Email\",\"HasOptedOutOfEmail\",\"IsEmailBounced\",\
                   \"EmailBouncedReason\",\"EmailBouncedDate\",\"SystemModstamp\",\"IsDeleted\",\"IsConverted\"\n\
                   \"00Qq000000KvQ1tEAF\",\"\",\"Doe\",\"doe@example.com\",\"true\",\"false\",\"\",\"\",\
                   \"2026-01-02T03:04:05.000Z\",\"false\",\"true\"\n\
                   \"00Qq000000KvQ1uEAF\",\"Ann\",\"Lee\",\"\",\"false\",\"true\",\"550 no such user\",\
                   \"2026-01-01T00:00:00.000Z\",\"2026-01-02T03:04:06.000Z\",\"false\",\"false\"\n";
        let page = BulkResultsPage { csv: Bytes::from(csv), next_locator: None, records: None };
        let (from_csv, _) = recipients(page.rows().unwrap(), RecipientObject::Lead).unwrap();
        assert_eq!(from_csv, from_json);
    }

    #[test]
    fn a_row_of_another_object_is_an_error() {
        let csv = "Id,LastName,SystemModstamp\n003q000000KvQ1tAAF,Doe,2026-01-02T03:04:05.000Z\n";
        let page = BulkResultsPage { csv: Bytes::from(csv), next_locator: None, records: None };
        let rows: Vec<SyncRecord> = page.rows().unwrap();
        assert!(recipients(rows, RecipientObject::Lead).is_err());
    }
}
