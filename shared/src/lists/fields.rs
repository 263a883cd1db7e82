//! The fields a list can filter on: the standard ones every org has, and the additional ones an
//! org names at registration once the sync has checked them against Salesforce's describe.
//! Field names are Salesforce API names; `Country`, `State`, `City` and `Company` name one concept
//! on both objects (a Contact's mailing address and Account, a Lead's address and company).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::RecipientObject;
use crate::salesforce::SfDateTime;
use crate::store::Recipient;

/// How a field's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Text, picklists, emails, phones, URLs and ids: compared case-insensitively, as SOQL does.
    Text,
    Boolean,
    /// A calendar date.
    Date,
    /// An instant.
    DateTime,
    Number,
}

/// A field Salesforce has on every Contact and Lead (or on one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StandardField {
    FirstName,
    LastName,
    Email,
    OwnerId,
    Title,
    LeadSource,
    CreatedDate,
    LastModifiedDate,
    HasOptedOutOfEmail,
    IsEmailBounced,
    EmailBouncedReason,
    EmailBouncedDate,
    AccountId,
    AccountName,
    Department,
    Company,
    Status,
    Industry,
    Country,
    State,
    City,
    IsConverted,
}

impl StandardField {
    /// Every standard field, in the order the list builder offers them.
    pub const ALL: [StandardField; 22] = [
        StandardField::FirstName,
        StandardField::LastName,
        StandardField::Email,
        StandardField::Title,
        StandardField::Company,
        StandardField::AccountName,
        StandardField::Department,
        StandardField::Country,
        StandardField::State,
        StandardField::City,
        StandardField::LeadSource,
        StandardField::Status,
        StandardField::Industry,
        StandardField::OwnerId,
        StandardField::AccountId,
        StandardField::CreatedDate,
        StandardField::LastModifiedDate,
        StandardField::HasOptedOutOfEmail,
        StandardField::IsEmailBounced,
        StandardField::EmailBouncedReason,
        StandardField::EmailBouncedDate,
        StandardField::IsConverted,
    ];

    /// The name conditions use.
    pub fn name(self) -> &'static str {
        match self {
            StandardField::FirstName => "FirstName",
            StandardField::LastName => "LastName",
            StandardField::Email => "Email",
            StandardField::OwnerId => "OwnerId",
            StandardField::Title => "Title",
            StandardField::LeadSource => "LeadSource",
            StandardField::CreatedDate => "CreatedDate",
            StandardField::LastModifiedDate => "LastModifiedDate",
            StandardField::HasOptedOutOfEmail => "HasOptedOutOfEmail",
            StandardField::IsEmailBounced => "IsEmailBounced",
            StandardField::EmailBouncedReason => "EmailBouncedReason",
            StandardField::EmailBouncedDate => "EmailBouncedDate",
            StandardField::AccountId => "AccountId",
            StandardField::AccountName => "Account.Name",
            StandardField::Department => "Department",
            StandardField::Company => "Company",
            StandardField::Status => "Status",
            StandardField::Industry => "Industry",
            StandardField::Country => "Country",
            StandardField::State => "State",
            StandardField::City => "City",
            StandardField::IsConverted => "IsConverted",
        }
    }

    /// What a person reads.
    pub fn label(self) -> &'static str {
        match self {
            StandardField::FirstName => "First name",
            StandardField::LastName => "Last name",
            StandardField::Email => "Email",
            StandardField::OwnerId => "Owner ID",
            StandardField::Title => "Title",
            StandardField::LeadSource => "Lead source",
            StandardField::CreatedDate => "Created",
            StandardField::LastModifiedDate => "Last modified",
            StandardField::HasOptedOutOfEmail => "Email opt out",
            StandardField::IsEmailBounced => "Email bounced",
            StandardField::EmailBouncedReason => "Bounce reason",
            StandardField::EmailBouncedDate => "Bounce date",
            StandardField::AccountId => "Account ID (Contacts)",
            StandardField::AccountName => "Account name (Contacts)",
            StandardField::Department => "Department (Contacts)",
            StandardField::Company => "Company (Lead company, Contact account)",
            StandardField::Status => "Lead status (Leads)",
            StandardField::Industry => "Industry (Leads)",
            StandardField::Country => "Country",
            StandardField::State => "State",
            StandardField::City => "City",
            StandardField::IsConverted => "Converted (Leads)",
        }
    }

    pub fn kind(self) -> FieldKind {
        match self {
            StandardField::CreatedDate | StandardField::LastModifiedDate | StandardField::EmailBouncedDate => {
                FieldKind::DateTime
            }
            StandardField::HasOptedOutOfEmail | StandardField::IsEmailBounced | StandardField::IsConverted => {
                FieldKind::Boolean
            }
            _ => FieldKind::Text,
        }
    }

    /// The Salesforce field behind this one on `object`; `None` where the object has none (its
    /// value is then empty).
    pub fn source(self, object: RecipientObject) -> Option<&'static str> {
        use RecipientObject::{Contact, Lead};
        match (self, object) {
            (StandardField::AccountId | StandardField::AccountName | StandardField::Department, Lead)
            | (StandardField::Status | StandardField::Industry | StandardField::IsConverted, Contact) => None,
            (StandardField::Company, Contact) => Some("Account.Name"),
            (StandardField::Country, Contact) => Some("MailingCountry"),
            (StandardField::State, Contact) => Some("MailingState"),
            (StandardField::City, Contact) => Some("MailingCity"),
            (field, _) => Some(field.name()),
        }
    }

    fn by_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name().eq_ignore_ascii_case(name))
    }

    fn value(self, recipient: &Recipient) -> Value<'_> {
        let object = recipient.id.object();
        if self.source(object).is_none() {
            return match self.kind() {
                FieldKind::Boolean => Value::Boolean(false),
                _ => Value::Null,
            };
        }
        fn text(field: &Option<String>) -> Value<'_> {
            field.as_deref().filter(|text| !text.is_empty()).map_or(Value::Null, Value::Text)
        }
        let instant = |at: Option<SfDateTime>| at.map_or(Value::Null, |at| Value::Instant(at.millis()));
        match self {
            StandardField::FirstName => text(&recipient.first_name),
            StandardField::LastName => text(&recipient.last_name),
            StandardField::Email => text(&recipient.email),
            StandardField::OwnerId => text(&recipient.owner_id),
            StandardField::Title => text(&recipient.title),
            StandardField::LeadSource => text(&recipient.lead_source),
            StandardField::CreatedDate => instant(recipient.created_at),
            StandardField::LastModifiedDate => instant(recipient.last_modified_at),
            StandardField::HasOptedOutOfEmail => Value::Boolean(recipient.opted_out),
            StandardField::IsEmailBounced => Value::Boolean(recipient.bounced),
            StandardField::EmailBouncedReason => text(&recipient.bounce_reason),
            StandardField::EmailBouncedDate => instant(recipient.bounced_at),
            StandardField::AccountId => text(&recipient.account_id),
            StandardField::AccountName => text(&recipient.account_name),
            StandardField::Department => text(&recipient.department),
            StandardField::Company if object == RecipientObject::Contact => text(&recipient.account_name),
            StandardField::Company => text(&recipient.company),
            StandardField::Status => text(&recipient.status),
            StandardField::Industry => text(&recipient.industry),
            StandardField::Country => text(&recipient.country),
            StandardField::State => text(&recipient.state),
            StandardField::City => text(&recipient.city),
            StandardField::IsConverted => Value::Boolean(recipient.converted),
        }
    }
}

/// A field value as conditions see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Text(&'a str),
    Boolean(bool),
    /// Epoch milliseconds (a date is its midnight, UTC).
    Instant(i64),
    Number(f64),
}

/// An additional field an org reads, as the sync found it in Salesforce's describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraField {
    /// The API name, e.g. `Region__c`.
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    /// Which objects have it.
    pub objects: Vec<RecipientObject>,
    /// A picklist's active values, for the list builder's suggestions.
    #[serde(default)]
    pub picklist: Vec<String>,
}

/// A field conditions can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    Standard(StandardField),
    Extra { name: String, kind: FieldKind, objects: Vec<RecipientObject> },
}

impl FieldRef {
    pub fn name(&self) -> &str {
        match self {
            FieldRef::Standard(field) => field.name(),
            FieldRef::Extra { name, .. } => name,
        }
    }

    pub fn kind(&self) -> FieldKind {
        match self {
            FieldRef::Standard(field) => field.kind(),
            FieldRef::Extra { kind, .. } => *kind,
        }
    }

    /// This field's value on `recipient` (empty where its object has no such field).
    pub fn value<'a>(&self, recipient: &'a Recipient) -> Value<'a> {
        match self {
            FieldRef::Standard(field) => field.value(recipient),
            FieldRef::Extra { name, kind, objects } => {
                if !objects.contains(&recipient.id.object()) {
                    return if *kind == FieldKind::Boolean { Value::Boolean(false) } else { Value::Null };
                }
                extra_value(recipient.extra.get(name), *kind)
            }
        }
    }

    /// The value as a cell of an export.
    pub fn cell(&self, recipient: &Recipient) -> String {
        match self.value(recipient) {
            Value::Null => String::new(),
            Value::Text(text) => text.to_owned(),
            Value::Boolean(flag) => flag.to_string(),
            Value::Number(number) => number.to_string(),
            Value::Instant(millis) => match self.kind() {
                FieldKind::Date => SfDateTime::from_millis(millis).date(),
                _ => SfDateTime::from_millis(millis).to_string(),
            },
        }
    }
}

/// A number as recipients store it: a whole number as an integer, anything else as a double, so
/// that it reads back the same from DynamoDB (which keeps `64.0` as `64`) and from JSON.
pub fn stored_number(value: f64) -> Option<serde_json::Number> {
    let whole = value.fract() == 0.0 && value.abs() < 9.0e15;
    if whole { Some(serde_json::Number::from(value as i64)) } else { serde_json::Number::from_f64(value) }
}

/// An additional field's stored value, read as its kind.
fn extra_value(stored: Option<&serde_json::Value>, kind: FieldKind) -> Value<'_> {
    use serde_json::Value as Json;
    match (stored, kind) {
        (Some(Json::String(text)), FieldKind::Text) if !text.is_empty() => Value::Text(text),
        (Some(Json::Bool(flag)), FieldKind::Boolean) => Value::Boolean(*flag),
        (None | Some(Json::Null), FieldKind::Boolean) => Value::Boolean(false),
        (Some(Json::Number(number)), FieldKind::Number) => number.as_f64().map_or(Value::Null, Value::Number),
        (Some(Json::String(text)), FieldKind::Date | FieldKind::DateTime) => {
            SfDateTime::parse_date_or_datetime(text).map_or(Value::Null, |at| Value::Instant(at.millis()))
        }
        _ => Value::Null,
    }
}

/// The fields one org's lists can name: the standard ones and its checked additional ones.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    extra: BTreeMap<String, ExtraField>,
}

impl Catalog {
    /// The standard fields and `extra`.
    pub fn new(extra: &[ExtraField]) -> Self {
        Self { extra: extra.iter().map(|field| (field.name.to_ascii_lowercase(), field.clone())).collect() }
    }

    /// The field called `name` (API names are case-insensitive, as in SOQL).
    pub fn field(&self, name: &str) -> Option<FieldRef> {
        if let Some(field) = StandardField::by_name(name) {
            return Some(FieldRef::Standard(field));
        }
        self.extra.get(&name.to_ascii_lowercase()).map(|field| FieldRef::Extra {
            name: field.name.clone(),
            kind: field.kind,
            objects: field.objects.clone(),
        })
    }

    /// Every field, standard ones first: (name, label, kind, picklist values).
    pub fn entries(&self) -> Vec<(String, String, FieldKind, Vec<String>)> {
        let standard = StandardField::ALL
            .into_iter()
            .map(|field| (field.name().to_owned(), field.label().to_owned(), field.kind(), Vec::new()));
        let extra = self
            .extra
            .values()
            .map(|field| (field.name.clone(), field.label.clone(), field.kind, field.picklist.clone()));
        standard.chain(extra).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RecordId;

    fn contact() -> Recipient {
        Recipient {
            account_name: Some("Initech".into()),
            country: Some("Germany".into()),
            company: Some("ignored on a Contact".into()),
            ..Recipient::empty(RecordId::parse("003q000000KvQ1tAAF").unwrap(), 1)
        }
    }

    #[test]
    fn one_name_per_concept_on_both_objects() {
        let lead = Recipient {
            company: Some("Globex".into()),
            country: Some("France".into()),
            converted: true,
            ..Recipient::empty(RecordId::parse("00Qq000000KvQ1tEAF").unwrap(), 1)
        };
        let catalog = Catalog::default();
        let company = catalog.field("company").unwrap();
        assert_eq!(company.value(&contact()), Value::Text("Initech"), "a Contact's company is its account");
        assert_eq!(company.value(&lead), Value::Text("Globex"));
        let country = catalog.field("Country").unwrap();
        assert_eq!((country.value(&contact()), country.value(&lead)), (Value::Text("Germany"), Value::Text("France")));
        let status = catalog.field("Status").unwrap();
        assert_eq!(status.value(&contact()), Value::Null, "a Contact has no lead status");
        let converted = catalog.field("IsConverted").unwrap();
        assert_eq!(
            (converted.value(&contact()), converted.value(&lead)),
            (Value::Boolean(false), Value::Boolean(true))
        );
        assert!(catalog.field("Account.Name").is_some() && catalog.field("Nope").is_none());
    }

    #[test]
    fn additional_fields_read_as_their_kind() {
        let region = ExtraField {
            name: "Region__c".into(),
            label: "Region".into(),
            kind: FieldKind::Text,
            objects: vec![RecipientObject::Contact],
            picklist: vec!["EMEA".into()],
        };
        let score =
            ExtraField { name: "Score__c".into(), kind: FieldKind::Number, label: "Score".into(), ..region.clone() };
        let catalog = Catalog::new(&[region, score]);
        let mut recipient = contact();
        recipient.extra.insert("Region__c".into(), serde_json::json!("EMEA"));
        recipient.extra.insert("Score__c".into(), serde_json::json!(42.5));
        assert_eq!(catalog.field("region__c").unwrap().value(&recipient), Value::Text("EMEA"));
        assert_eq!(catalog.field("Score__c").unwrap().value(&recipient), Value::Number(42.5));
        let lead = Recipient::empty(RecordId::parse("00Qq000000KvQ1tEAF").unwrap(), 1);
        assert_eq!(catalog.field("Region__c").unwrap().value(&lead), Value::Null, "a Lead has no Region__c here");
        assert_eq!(catalog.entries().len(), StandardField::ALL.len() + 2);
    }
}
