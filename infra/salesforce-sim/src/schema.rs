//! The org's schema: which objects exist, their fields and field types, and how a stored row
//! exposes a field value to SOQL evaluation and rendering.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clock::{SfDate, SfDateTime};
use crate::ids::SfId;

/// The sObject types the sim knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SObject {
    /// `Contact` (prefix 003).
    Contact,
    /// `Lead` (prefix 00Q).
    Lead,
    /// `Task` (prefix 00T), created by the Apex REST endpoint.
    Task,
    /// `User` (prefix 005).
    User,
}

impl SObject {
    /// The API name.
    pub fn name(self) -> &'static str {
        match self {
            SObject::Contact => "Contact",
            SObject::Lead => "Lead",
            SObject::Task => "Task",
            SObject::User => "User",
        }
    }

    /// The key prefix of its ids.
    pub fn prefix(self) -> &'static str {
        match self {
            SObject::Contact => crate::ids::CONTACT_PREFIX,
            SObject::Lead => crate::ids::LEAD_PREFIX,
            SObject::Task => crate::ids::TASK_PREFIX,
            SObject::User => crate::ids::USER_PREFIX,
        }
    }

    /// Case-insensitive lookup by API name.
    pub fn from_name(s: &str) -> Option<SObject> {
        [SObject::Contact, SObject::Lead, SObject::Task, SObject::User]
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(s))
    }

    /// The object whose ids carry this prefix.
    pub fn of_id(id: &SfId) -> Option<SObject> {
        [SObject::Contact, SObject::Lead, SObject::Task, SObject::User].into_iter().find(|o| o.prefix() == id.prefix())
    }

    /// The fields of this object, in describe order.
    pub fn fields(self) -> &'static [Field] {
        use Field::*;
        match self {
            SObject::Contact => &[
                Id,
                FirstName,
                LastName,
                Name,
                Email,
                HasOptedOutOfEmail,
                IsEmailBounced,
                EmailBouncedReason,
                EmailBouncedDate,
                CreatedDate,
                LastModifiedDate,
                SystemModstamp,
                IsDeleted,
                OutpostExternalId,
            ],
            SObject::Lead => &[
                Id,
                FirstName,
                LastName,
                Name,
                Email,
                Company,
                Status,
                IsConverted,
                HasOptedOutOfEmail,
                IsEmailBounced,
                EmailBouncedReason,
                EmailBouncedDate,
                CreatedDate,
                LastModifiedDate,
                SystemModstamp,
                IsDeleted,
                OutpostExternalId,
            ],
            SObject::Task => &[
                Id,
                WhoId,
                Subject,
                Description,
                ActivityDate,
                Status,
                OwnerId,
                CreatedDate,
                LastModifiedDate,
                SystemModstamp,
                IsDeleted,
            ],
            SObject::User => &[
                Id,
                Username,
                FirstName,
                LastName,
                Name,
                Email,
                IsActive,
                UserType,
                TimeZoneSidKey,
                LocaleSidKey,
                LanguageLocaleKey,
                CreatedDate,
                LastModifiedDate,
                SystemModstamp,
            ],
        }
    }

    /// Case-insensitive field lookup on this object.
    pub fn field(self, name: &str) -> Option<Field> {
        self.fields().iter().copied().find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for SObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SObject {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SObject::from_name(s).ok_or_else(|| format!("unknown sObject {s:?}"))
    }
}

/// Field value types, as SOQL sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Record id or reference (compared as strings, byte order).
    Id,
    /// Text (compared case-insensitively, like SOQL).
    Text,
    /// Boolean.
    Boolean,
    /// dateTime.
    DateTime,
    /// date.
    Date,
}

/// Every field of every object (one enum keeps SOQL binding and rendering branch-cheap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Field {
    Id,
    FirstName,
    LastName,
    Name,
    Email,
    HasOptedOutOfEmail,
    IsEmailBounced,
    EmailBouncedReason,
    EmailBouncedDate,
    CreatedDate,
    LastModifiedDate,
    SystemModstamp,
    IsDeleted,
    OutpostExternalId,
    Company,
    Status,
    IsConverted,
    WhoId,
    Subject,
    Description,
    ActivityDate,
    OwnerId,
    Username,
    IsActive,
    UserType,
    TimeZoneSidKey,
    LocaleSidKey,
    LanguageLocaleKey,
}

impl Field {
    /// The API name (canonical casing, as Salesforce renders it).
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "Id",
            Field::FirstName => "FirstName",
            Field::LastName => "LastName",
            Field::Name => "Name",
            Field::Email => "Email",
            Field::HasOptedOutOfEmail => "HasOptedOutOfEmail",
            Field::IsEmailBounced => "IsEmailBounced",
            Field::EmailBouncedReason => "EmailBouncedReason",
            Field::EmailBouncedDate => "EmailBouncedDate",
            Field::CreatedDate => "CreatedDate",
            Field::LastModifiedDate => "LastModifiedDate",
            Field::SystemModstamp => "SystemModstamp",
            Field::IsDeleted => "IsDeleted",
            Field::OutpostExternalId => "Outpost_External_Id__c",
            Field::Company => "Company",
            Field::Status => "Status",
            Field::IsConverted => "IsConverted",
            Field::WhoId => "WhoId",
            Field::Subject => "Subject",
            Field::Description => "Description",
            Field::ActivityDate => "ActivityDate",
            Field::OwnerId => "OwnerId",
            Field::Username => "Username",
            Field::IsActive => "IsActive",
            Field::UserType => "UserType",
            Field::TimeZoneSidKey => "TimeZoneSidKey",
            Field::LocaleSidKey => "LocaleSidKey",
            Field::LanguageLocaleKey => "LanguageLocaleKey",
        }
    }

    /// The value type.
    pub fn ty(self) -> FieldType {
        match self {
            Field::Id | Field::WhoId | Field::OwnerId => FieldType::Id,
            Field::HasOptedOutOfEmail
            | Field::IsEmailBounced
            | Field::IsDeleted
            | Field::IsConverted
            | Field::IsActive => FieldType::Boolean,
            Field::EmailBouncedDate | Field::CreatedDate | Field::LastModifiedDate | Field::SystemModstamp => {
                FieldType::DateTime
            }
            Field::ActivityDate => FieldType::Date,
            _ => FieldType::Text,
        }
    }

    /// The SOQL type name used in error messages.
    pub fn type_name(self) -> &'static str {
        match self.ty() {
            FieldType::Id => "id",
            FieldType::Text => "string",
            FieldType::Boolean => "boolean",
            FieldType::DateTime => "dateTime",
            FieldType::Date => "date",
        }
    }
}

/// A field value borrowed from a stored row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// SOQL null.
    Null,
    /// boolean.
    Bool(bool),
    /// text.
    Text(Cow<'a, str>),
    /// id or reference.
    Id(SfId),
    /// dateTime.
    DateTime(SfDateTime),
    /// date.
    Date(SfDate),
}

impl Value<'_> {
    /// Text of an optional string field.
    pub fn opt_text(s: &Option<String>) -> Value<'_> {
        match s {
            Some(s) => Value::Text(Cow::Borrowed(s)),
            None => Value::Null,
        }
    }

    /// As JSON (for the control API and Apex callout bodies; datetimes in `zulu` when asked).
    pub fn to_json(&self, zulu: bool) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Text(s) => s.as_ref().into(),
            Value::Id(id) => id.as_str().into(),
            Value::DateTime(t) if zulu => t.zulu().as_str().into(),
            Value::DateTime(t) => t.rest().as_str().into(),
            Value::Date(d) => d.format().as_str().into(),
        }
    }
}

/// Anything a SOQL query can read fields from.
pub trait Row {
    /// The record id.
    fn id(&self) -> SfId;
    /// A field value (fields not on the row's object read as null).
    fn value(&self, f: Field) -> Value<'_>;
    /// Whether the row is in the recycle bin.
    fn is_deleted(&self) -> bool {
        false
    }
}
