//! What the sync reads: the SOQL it sends, the record shape it parses (the same struct reads REST
//! JSON rows and Bulk API 2.0 CSV rows by field name), and how a Contact or Lead becomes a
//! recipient.

use std::collections::HashMap;

use outpost_shared::ids::{RecipientObject, RecordId};
use outpost_shared::lists::{ExtraField, FieldKind, stored_number};
use outpost_shared::salesforce::{SalesforceError, SfDateTime};
use outpost_shared::store::{Recipient, SyncCursor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The standard fields read from every Contact.
const CONTACT_FIELDS: &[&str] = &[
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "OwnerId",
    "Title",
    "Department",
    "AccountId",
    "Account.Name",
    "MailingCountry",
    "MailingState",
    "MailingCity",
    "LeadSource",
    "HasOptedOutOfEmail",
    "IsEmailBounced",
    "EmailBouncedReason",
    "EmailBouncedDate",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
    "IsDeleted",
];

/// The standard fields read from every Lead.
const LEAD_FIELDS: &[&str] = &[
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "OwnerId",
    "Title",
    "Company",
    "Status",
    "Industry",
    "Country",
    "State",
    "City",
    "LeadSource",
    "HasOptedOutOfEmail",
    "IsEmailBounced",
    "EmailBouncedReason",
    "EmailBouncedDate",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
    "IsDeleted",
    "IsConverted",
];

/// Standard fields that are booleans (a Bulk CSV cell holds `true` or `false`).
const BOOLEAN_FIELDS: &[&str] = &["HasOptedOutOfEmail", "IsEmailBounced", "IsDeleted", "IsConverted"];

/// Raised whenever the standard field lists above change: stored checkpoints of another version
/// re-read their object, so every record gets the fields.
const STANDARD_FIELDS_VERSION: u32 = 2;

/// The fields a run reads from one object: the standard ones and the org's usable extra ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub object: RecipientObject,
    pub extra: Vec<ExtraField>,
}

impl Selected {
    /// The standard fields alone.
    pub fn standard(object: RecipientObject) -> Self {
        Self { object, extra: Vec::new() }
    }

    /// The standard fields read from `object`.
    pub(crate) fn standard_fields_of(object: RecipientObject) -> &'static [&'static str] {
        match object {
            RecipientObject::Contact => CONTACT_FIELDS,
            RecipientObject::Lead => LEAD_FIELDS,
        }
    }

    fn standard_fields(&self) -> &'static [&'static str] {
        Self::standard_fields_of(self.object)
    }

    /// The SELECT list.
    fn select(&self) -> String {
        let extra = self.extra.iter().map(|field| field.name.as_str());
        self.standard_fields().iter().copied().chain(extra).collect::<Vec<_>>().join(", ")
    }

    /// What a checkpoint records of the fields its cursor covers: [`STANDARD_FIELDS_VERSION`] and
    /// the sorted extra names.
    pub fn signature(&self) -> String {
        let mut names: Vec<&str> = self.extra.iter().map(|field| field.name.as_str()).collect();
        names.sort_unstable();
        format!("{STANDARD_FIELDS_VERSION}:{}", names.join(","))
    }

    /// Whether records read under `signature` lack some field read now: then the object is
    /// read again from the start (fields only removed need no re-read).
    pub fn needs_reread(&self, signature: Option<&str>) -> bool {
        let Some((version, names)) = signature.and_then(|signature| signature.split_once(':')) else {
            return true;
        };
        let before: Vec<&str> = names.split(',').filter(|name| !name.is_empty()).collect();
        version != STANDARD_FIELDS_VERSION.to_string()
            || self.extra.iter().any(|field| !before.contains(&field.name.as_str()))
    }

    /// Changes after `cursor` in `(SystemModstamp, Id)` order. The tie clause means records that
    /// share the cursor's modstamp across a page boundary are neither lost nor read twice. A
    /// cursor without an id (a Bulk load's snapshot time) starts at its modstamp, inclusive: SOQL
    /// refuses `Id > ''`.
    pub fn changes_after(&self, cursor: Option<&SyncCursor>) -> String {
        let select = format!("SELECT {} FROM {}", self.select(), self.object.api_name());
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
    pub fn full_load(&self) -> String {
        format!("SELECT {} FROM {}", self.select(), self.object.api_name())
    }

    /// A page's rows as recipients, and the cursor past the last of them.
    pub fn recipients(&self, rows: Vec<SyncRecord>) -> Result<(Vec<Recipient>, Option<SyncCursor>), SalesforceError> {
        let cursor = rows.last().map(SyncRecord::cursor);
        let recipients = rows.into_iter().map(|row| row.into_recipient(self)).collect::<Result<_, _>>()?;
        Ok((recipients, cursor))
    }

    /// A Bulk CSV row (cells by column name) as the record a REST page would hold: empty cells
    /// are nulls, booleans and numbers take their kind, `Account.Name` nests as REST nests it.
    pub fn csv_row(&self, cells: HashMap<String, String>) -> Result<SyncRecord, SalesforceError> {
        let mut row = Map::new();
        for (column, cell) in cells {
            if cell.is_empty() {
                continue;
            }
            let kind = self.extra.iter().find(|field| field.name == column).map(|field| field.kind);
            let value = if BOOLEAN_FIELDS.contains(&column.as_str()) || kind == Some(FieldKind::Boolean) {
                Value::Bool(cell.eq_ignore_ascii_case("true"))
            } else if kind == Some(FieldKind::Number) {
                cell.parse::<f64>()
                    .ok()
                    .and_then(stored_number)
                    .map(Value::Number)
                    .ok_or_else(|| SalesforceError::Protocol(format!("bulk row: {column} is not a number")))?
            } else {
                Value::String(cell)
            };
            match column.split_once('.') {
                Some((parent, field)) => {
                    let nested = row.entry(parent.to_owned()).or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(nested) = nested {
                        nested.insert(field.to_owned(), value);
                    }
                }
                None => {
                    row.insert(column, value);
                }
            }
        }
        SyncRecord::deserialize(Value::Object(row)).map_err(|err| SalesforceError::Protocol(format!("bulk row: {err}")))
    }
}

/// Every live id, for a reconciliation past getDeleted's window.
pub fn all_ids(object: RecipientObject) -> String {
    format!("SELECT Id FROM {}", object.api_name())
}

/// A parent record a row names through a relationship (`Account.Name`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Parent {
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
}

/// A Contact or Lead row, from a REST page (JSON, nulls for empty fields) or a Bulk page (CSV,
/// turned into the same JSON by [`Selected::csv_row`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SyncRecord {
    #[serde(rename = "Id")]
    pub id: RecordId,
    #[serde(rename = "FirstName", default)]
    pub first_name: Option<String>,
    #[serde(rename = "LastName", default)]
    pub last_name: Option<String>,
    #[serde(rename = "Email", default)]
    pub email: Option<String>,
    #[serde(rename = "OwnerId", default)]
    pub owner_id: Option<String>,
    #[serde(rename = "Title", default)]
    pub title: Option<String>,
    #[serde(rename = "Department", default)]
    pub department: Option<String>,
    #[serde(rename = "AccountId", default)]
    pub account_id: Option<String>,
    #[serde(rename = "Account", default)]
    pub account: Option<Parent>,
    #[serde(rename = "MailingCountry", default)]
    pub mailing_country: Option<String>,
    #[serde(rename = "MailingState", default)]
    pub mailing_state: Option<String>,
    #[serde(rename = "MailingCity", default)]
    pub mailing_city: Option<String>,
    #[serde(rename = "Company", default)]
    pub company: Option<String>,
    #[serde(rename = "Status", default)]
    pub status: Option<String>,
    #[serde(rename = "Industry", default)]
    pub industry: Option<String>,
    #[serde(rename = "Country", default)]
    pub country: Option<String>,
    #[serde(rename = "State", default)]
    pub state: Option<String>,
    #[serde(rename = "City", default)]
    pub city: Option<String>,
    #[serde(rename = "LeadSource", default)]
    pub lead_source: Option<String>,
    #[serde(rename = "HasOptedOutOfEmail", default)]
    pub opted_out: Option<bool>,
    #[serde(rename = "IsEmailBounced", default)]
    pub bounced: Option<bool>,
    #[serde(rename = "EmailBouncedReason", default)]
    pub bounce_reason: Option<String>,
    #[serde(rename = "EmailBouncedDate", default)]
    pub bounced_at: Option<SfDateTime>,
    #[serde(rename = "CreatedDate", default)]
    pub created_at: Option<SfDateTime>,
    #[serde(rename = "LastModifiedDate", default)]
    pub last_modified_at: Option<SfDateTime>,
    #[serde(rename = "SystemModstamp")]
    pub modstamp: SfDateTime,
    #[serde(rename = "IsDeleted", default)]
    pub deleted: Option<bool>,
    #[serde(rename = "IsConverted", default)]
    pub converted: Option<bool>,
    /// Every other field of the row: the org's extra fields (and `attributes`).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An additional field's value as stored: one form for a number whichever way the page wrote it
/// (`55`, `55.0`), so REST, Bulk and DynamoDB agree.
fn stored_value(value: Value, kind: FieldKind) -> Value {
    match (kind, value.as_f64().and_then(stored_number)) {
        (FieldKind::Number, Some(number)) => Value::Number(number),
        _ => value,
    }
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
    fn into_recipient(mut self, selected: &Selected) -> Result<Recipient, SalesforceError> {
        let object = selected.object;
        if self.id.object() != object {
            return Err(SalesforceError::Protocol(format!("{} returned another object's id", object.api_name())));
        }
        let extra = selected
            .extra
            .iter()
            .filter_map(|field| {
                let value = self.other.remove(&field.name).filter(|value| !value.is_null())?;
                Some((field.name.clone(), stored_value(value, field.kind)))
            })
            .collect();
        let (country, state, city) = match object {
            RecipientObject::Contact => (self.mailing_country, self.mailing_state, self.mailing_city),
            RecipientObject::Lead => (self.country, self.state, self.city),
        };
        Ok(Recipient {
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            opted_out: self.opted_out.unwrap_or(false),
            bounced: self.bounced.unwrap_or(false),
            bounce_reason: self.bounce_reason,
            bounced_at: self.bounced_at,
            converted: self.converted.unwrap_or(false),
            deleted: self.deleted.unwrap_or(false),
            owner_id: self.owner_id,
            title: self.title,
            lead_source: self.lead_source,
            created_at: self.created_at,
            last_modified_at: self.last_modified_at,
            account_id: self.account_id,
            account_name: self.account.and_then(|account| account.name),
            department: self.department,
            company: self.company,
            status: self.status,
            industry: self.industry,
            country,
            state,
            city,
            extra,
            ..Recipient::empty(self.id, self.modstamp.millis())
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use outpost_shared::salesforce::{BulkResultsPage, FetchedPage};

    use super::*;

    fn region() -> ExtraField {
        ExtraField {
            name: "Region__c".into(),
            label: "Region".into(),
            kind: FieldKind::Text,
            objects: vec![RecipientObject::Lead],
            picklist: Vec::new(),
        }
    }

    fn score() -> ExtraField {
        ExtraField { name: "Score__c".into(), label: "Score".into(), kind: FieldKind::Number, ..region() }
    }

    #[test]
    fn the_cursor_query_breaks_modstamp_ties_by_id_and_reads_every_field() {
        let cursor = SyncCursor {
            modstamp: SfDateTime::parse("2026-01-02T03:04:05.000+0000").unwrap(),
            id: "003q000000KvQ1tAAF".into(),
        };
        let contacts = Selected::standard(RecipientObject::Contact).changes_after(Some(&cursor));
        assert!(contacts.starts_with("SELECT Id, FirstName, LastName, Email, OwnerId, Title, Department, AccountId, Account.Name, MailingCountry"), "{contacts}");
        assert!(
            contacts.ends_with(
                "IsDeleted FROM Contact WHERE SystemModstamp > 2026-01-02T03:04:05Z \
                 OR (SystemModstamp = 2026-01-02T03:04:05Z AND Id > '003q000000KvQ1tAAF') ORDER BY SystemModstamp, Id"
            ),
            "{contacts}"
        );
        let leads = Selected { object: RecipientObject::Lead, extra: vec![region(), score()] };
        assert!(
            leads
                .changes_after(None)
                .ends_with("IsConverted, Region__c, Score__c FROM Lead ORDER BY SystemModstamp, Id")
        );
        let snapshot =
            SyncCursor { modstamp: SfDateTime::parse("2026-01-02T03:04:05.000+0000").unwrap(), id: String::new() };
        assert!(
            leads
                .changes_after(Some(&snapshot))
                .ends_with("FROM Lead WHERE SystemModstamp >= 2026-01-02T03:04:05Z ORDER BY SystemModstamp, Id")
        );
    }

    #[test]
    fn a_checkpoint_is_read_again_when_fields_were_added_not_when_removed() {
        let both = Selected { object: RecipientObject::Lead, extra: vec![score(), region()] };
        assert_eq!(both.signature(), "2:Region__c,Score__c");
        assert!(!both.needs_reread(Some("2:Region__c,Score__c")));
        assert!(both.needs_reread(Some("2:Region__c")), "Score__c was added");
        assert!(both.needs_reread(None), "a checkpoint from before fields were recorded");
        assert!(both.needs_reread(Some("1:Region__c,Score__c")), "the standard fields changed");
        let one = Selected { object: RecipientObject::Lead, extra: vec![region()] };
        assert!(!one.needs_reread(Some("2:Region__c,Score__c")), "Score__c was only removed");
    }

    #[test]
    fn rest_and_csv_rows_become_the_same_recipients() {
        let json = br#"{"totalSize":2,"done":true,"records":[
            {"attributes":{"type":"Lead"},"Id":"00Qq000000KvQ1tEAF","FirstName":null,"LastName":"Doe",
            "Email":"doe@example.com","OwnerId":"005q000000KvQ1tAAF","Title":"CTO","Company":"Initech",
            "Status":"Open - Not Contacted","Industry":"Technology","Country":"Germany","State":null,"City":"Berlin",
            "LeadSource":"Web","HasOptedOutOfEmail":true,"IsEmailBounced":false,"EmailBouncedReason":null,
            "EmailBouncedDate":null,"CreatedDate":"2025-01-02T03:04:05.000+0000","LastModifiedDate":"2026-01-02T03:04:05.000+0000",
            "SystemModstamp":"2026-01-02T03:04:05.000+0000","IsDeleted":false,"IsConverted":true,"Region__c":"EMEA","Score__c":12.5},
            {"attributes":{"type":"Lead"},"Id":"00Qq000000KvQ1uEAF","FirstName":"Ann","LastName":"Lee",
            "Email":null,"OwnerId":"005q000000KvQ1tAAF","Title":null,"Company":"Globex","Status":null,"Industry":null,
            "Country":null,"State":null,"City":null,"LeadSource":null,"HasOptedOutOfEmail":false,"IsEmailBounced":true,
            "EmailBouncedReason":"550 no such user","EmailBouncedDate":"2026-01-01T00:00:00.000+0000",
            "CreatedDate":"2025-01-02T03:04:05.000+0000","LastModifiedDate":"2026-01-02T03:04:06.000+0000",
            "SystemModstamp":"2026-01-02T03:04:06.000+0000","IsDeleted":false,"IsConverted":false,"Region__c":null,"Score__c":null}]}"#;
        let leads = Selected { object: RecipientObject::Lead, extra: vec![region(), score()] };
        let page = FetchedPage::from_slice(json).unwrap();
        let (from_json, cursor) = leads.recipients(page.records().unwrap()).unwrap();
        assert!(from_json[0].opted_out && from_json[0].converted && !from_json[0].is_member());
        assert_eq!(from_json[0].company.as_deref(), Some("Initech"));
        assert_eq!(from_json[0].country.as_deref(), Some("Germany"));
        assert_eq!(
            from_json[0].extra,
            [("Region__c".to_owned(), serde_json::json!("EMEA")), ("Score__c".to_owned(), serde_json::json!(12.5))]
                .into()
        );
        assert!(from_json[1].extra.is_empty());
        assert_eq!(cursor.unwrap().id, "00Qq000000KvQ1uEAF");

        let csv = "\"Id\",\"FirstName\",\"LastName\",\"Email\",\"OwnerId\",\"Title\",\"Company\",\"Status\",\"Industry\",\"Country\",\
                   \"State\",\"City\",\"LeadSource\",\"HasOptedOutOfEmail\",\"IsEmailBounced\",\"EmailBouncedReason\",\
                   \"EmailBouncedDate\",\"CreatedDate\",\"LastModifiedDate\",\"SystemModstamp\",\"IsDeleted\",\"IsConverted\",\
                   \"Region__c\",\"Score__c\"\n\
                   \"00Qq000000KvQ1tEAF\",\"\",\"Doe\",\"doe@example.com\",\"005q000000KvQ1tAAF\",\"CTO\",\"Initech\",\
                   \"Open - Not Contacted\",\"Technology\",\"Germany\",\"\",\"Berlin\",\"Web\",\"true\",\"false\",\"\",\"\",\
                   \"2025-01-02T03:04:05.000Z\",\"2026-01-02T03:04:05.000Z\",\"2026-01-02T03:04:05.000Z\",\"false\",\"true\",\"EMEA\",\"12.5\"\n\
                   \"00Qq000000KvQ1uEAF\",\"Ann\",\"Lee\",\"\",\"005q000000KvQ1tAAF\",\"\",\"Globex\",\"\",\"\",\"\",\"\",\"\",\"\",\
                   \"false\",\"true\",\"550 no such user\",\"2026-01-01T00:00:00.000Z\",\"2025-01-02T03:04:05.000Z\",\
                   \"2026-01-02T03:04:06.000Z\",\"2026-01-02T03:04:06.000Z\",\"false\",\"false\",\"\",\"\"\n";
        let page = BulkResultsPage { csv: Bytes::from(csv), next_locator: None, records: None };
        let rows = page.rows::<HashMap<String, String>>().unwrap().into_iter().map(|row| leads.csv_row(row));
        let (from_csv, _) = leads.recipients(rows.collect::<Result<_, _>>().unwrap()).unwrap();
        assert_eq!(from_csv, from_json);
    }

    #[test]
    fn a_contacts_account_name_nests_in_both_shapes_and_a_wrong_object_is_an_error() {
        let contacts = Selected::standard(RecipientObject::Contact);
        let cells: HashMap<String, String> = [
            ("Id", "003q000000KvQ1tAAF"),
            ("LastName", "Doe"),
            ("Account.Name", "Initech"),
            ("MailingCountry", "France"),
            ("SystemModstamp", "2026-01-02T03:04:05.000Z"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (recipients, _) = contacts.recipients(vec![contacts.csv_row(cells.clone()).unwrap()]).unwrap();
        assert_eq!(
            (recipients[0].account_name.as_deref(), recipients[0].country.as_deref()),
            (Some("Initech"), Some("France"))
        );
        let json = r#"{"Id":"003q000000KvQ1tAAF","LastName":"Doe","Account":null,"SystemModstamp":"2026-01-02T03:04:05.000Z"}"#;
        let row: SyncRecord = serde_json::from_str(json).unwrap();
        assert_eq!(contacts.recipients(vec![row]).unwrap().0[0].account_name, None);
        let leads = Selected::standard(RecipientObject::Lead);
        assert!(leads.recipients(vec![contacts.csv_row(cells).unwrap()]).is_err());
    }
}
