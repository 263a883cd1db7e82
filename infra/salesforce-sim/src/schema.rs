//! The org's schema: which objects exist, their fields and field types (with the describe
//! metadata Salesforce serves for them), who may read which field, and how a stored row exposes
//! a field value to SOQL evaluation and rendering.

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
    /// `Account` (prefix 001), what `Contact.AccountId` refers to.
    Account,
}

const ALL_OBJECTS: [SObject; 5] = [SObject::Contact, SObject::Lead, SObject::Task, SObject::User, SObject::Account];

impl SObject {
    /// The API name.
    pub fn name(self) -> &'static str {
        match self {
            SObject::Contact => "Contact",
            SObject::Lead => "Lead",
            SObject::Task => "Task",
            SObject::User => "User",
            SObject::Account => "Account",
        }
    }

    /// The plural label (describe `labelPlural`).
    pub fn label_plural(self) -> &'static str {
        match self {
            SObject::Contact => "Contacts",
            SObject::Lead => "Leads",
            SObject::Task => "Tasks",
            SObject::User => "Users",
            SObject::Account => "Accounts",
        }
    }

    /// The key prefix of its ids.
    pub fn prefix(self) -> &'static str {
        match self {
            SObject::Contact => crate::ids::CONTACT_PREFIX,
            SObject::Lead => crate::ids::LEAD_PREFIX,
            SObject::Task => crate::ids::TASK_PREFIX,
            SObject::User => crate::ids::USER_PREFIX,
            SObject::Account => crate::ids::ACCOUNT_PREFIX,
        }
    }

    /// Case-insensitive lookup by API name.
    pub fn from_name(s: &str) -> Option<SObject> {
        ALL_OBJECTS.into_iter().find(|o| o.name().eq_ignore_ascii_case(s))
    }

    /// The object whose ids carry this prefix.
    pub fn of_id(id: &SfId) -> Option<SObject> {
        ALL_OBJECTS.into_iter().find(|o| o.prefix() == id.prefix())
    }

    /// The fields of this object, in describe order (relationship paths such as `Account.Name`
    /// are not fields of their own and are not listed).
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
                OwnerId,
                AccountId,
                Title,
                Department,
                LeadSource,
                MailingCity,
                MailingState,
                MailingCountry,
                Field::REGION,
                Field::SCORE,
                Field::TIER,
                Field::NOTES,
                Field::SECRET,
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
                OwnerId,
                Title,
                LeadSource,
                Industry,
                City,
                State,
                Country,
                Field::REGION,
                Field::SCORE,
                Field::NOTES,
                Field::SECRET,
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
            SObject::Account => &[Id, Name, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp, IsDeleted],
        }
    }

    /// Case-insensitive field lookup on this object (no relationship paths).
    pub fn field(self, name: &str) -> Option<Field> {
        self.fields().iter().copied().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// Describe metadata of one of this object's fields (or of the `Account.Name` path).
    pub fn meta(self, f: Field) -> FieldMeta {
        field_meta(self, f)
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

/// Field value types, as SOQL sees them (picklists, emails and text areas are text).
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
    /// double.
    Number,
}

/// A custom field's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomKind {
    /// A restricted picklist with these values.
    Picklist(&'static [&'static str]),
    /// A number (`double`) with this precision and scale.
    Double {
        /// Total digits.
        precision: u32,
        /// Digits after the decimal point.
        scale: u32,
    },
    /// A long text area (`textarea`, `plaintextarea`): never filterable.
    LongText {
        /// Maximum characters.
        length: u32,
    },
    /// A text field.
    Text {
        /// Maximum characters.
        length: u32,
    },
}

/// A custom field of the org (besides `Outpost_External_Id__c`), stored in a record's generic
/// `custom` map under its API name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustomField {
    /// API name, e.g. `Region__c`.
    pub name: &'static str,
    /// Label.
    pub label: &'static str,
    /// Type.
    pub kind: CustomKind,
    /// The objects that carry it.
    pub objects: &'static [SObject],
    /// Whether field-level security lets the integration user read it.
    pub integration_readable: bool,
}

/// `Region__c` values.
pub const REGIONS: &[&str] = &["EMEA", "AMER", "APAC"];
/// `Tier__c` values.
pub const TIERS: &[&str] = &["Gold", "Silver", "Bronze"];

/// The org's custom fields; `Field::Custom(i)` is `CUSTOM_FIELDS[i]`.
pub const CUSTOM_FIELDS: &[CustomField] = &[
    CustomField {
        name: "Region__c",
        label: "Region",
        kind: CustomKind::Picklist(REGIONS),
        objects: &[SObject::Contact, SObject::Lead],
        integration_readable: true,
    },
    CustomField {
        name: "Score__c",
        label: "Score",
        kind: CustomKind::Double { precision: 5, scale: 2 },
        objects: &[SObject::Contact, SObject::Lead],
        integration_readable: true,
    },
    CustomField {
        name: "Tier__c",
        label: "Tier",
        kind: CustomKind::Picklist(TIERS),
        objects: &[SObject::Contact],
        integration_readable: true,
    },
    CustomField {
        name: "Notes__c",
        label: "Notes",
        kind: CustomKind::LongText { length: 32_768 },
        objects: &[SObject::Contact, SObject::Lead],
        integration_readable: true,
    },
    CustomField {
        name: "Secret__c",
        label: "Secret",
        kind: CustomKind::Text { length: 255 },
        objects: &[SObject::Contact, SObject::Lead],
        integration_readable: false,
    },
];

/// `LeadSource` values.
pub const LEAD_SOURCES: &[&str] = &["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"];
/// Lead `Status` values.
pub const LEAD_STATUSES: &[&str] =
    &["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"];
/// Lead `Industry` values.
pub const INDUSTRIES: &[&str] =
    &["Technology", "Finance", "Healthcare", "Manufacturing", "Retail", "Education", "Government", "Other"];
const TASK_STATUSES: &[&str] = &["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"];

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
    Title,
    LeadSource,
    AccountId,
    /// The relationship path `Account.Name` (Contact), read through `AccountId`.
    AccountName,
    Department,
    MailingCountry,
    MailingState,
    MailingCity,
    Industry,
    Country,
    State,
    City,
    /// `CUSTOM_FIELDS[i]`.
    Custom(u8),
}

impl Field {
    /// `Region__c`.
    pub const REGION: Field = Field::Custom(0);
    /// `Score__c`.
    pub const SCORE: Field = Field::Custom(1);
    /// `Tier__c` (Contact).
    pub const TIER: Field = Field::Custom(2);
    /// `Notes__c`.
    pub const NOTES: Field = Field::Custom(3);
    /// `Secret__c` (hidden from the integration user).
    pub const SECRET: Field = Field::Custom(4);

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
            Field::Title => "Title",
            Field::LeadSource => "LeadSource",
            Field::AccountId => "AccountId",
            Field::AccountName => "Account.Name",
            Field::Department => "Department",
            Field::MailingCountry => "MailingCountry",
            Field::MailingState => "MailingState",
            Field::MailingCity => "MailingCity",
            Field::Industry => "Industry",
            Field::Country => "Country",
            Field::State => "State",
            Field::City => "City",
            Field::Custom(i) => CUSTOM_FIELDS.get(usize::from(i)).map_or("", |c| c.name),
        }
    }

    /// The custom field definition, for `Field::Custom`.
    pub fn custom(self) -> Option<&'static CustomField> {
        match self {
            Field::Custom(i) => CUSTOM_FIELDS.get(usize::from(i)),
            _ => None,
        }
    }

    /// The value type.
    pub fn ty(self) -> FieldType {
        match self {
            Field::Id | Field::WhoId | Field::OwnerId | Field::AccountId => FieldType::Id,
            Field::HasOptedOutOfEmail
            | Field::IsEmailBounced
            | Field::IsDeleted
            | Field::IsConverted
            | Field::IsActive => FieldType::Boolean,
            Field::EmailBouncedDate | Field::CreatedDate | Field::LastModifiedDate | Field::SystemModstamp => {
                FieldType::DateTime
            }
            Field::ActivityDate => FieldType::Date,
            Field::Custom(_) => match self.custom().map(|c| c.kind) {
                Some(CustomKind::Double { .. }) => FieldType::Number,
                _ => FieldType::Text,
            },
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
            FieldType::Number => "double",
        }
    }
}

/// What a user may read: Salesforce's field-level security, reduced to the one distinction the
/// sim makes (the integration user's permission set does not grant `Secret__c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Every field (the demo users, and the control API).
    All,
    /// The integration user: fields with `integration_readable: false` are invisible.
    Integration,
}

impl Access {
    /// Whether this user can see (describe, select, filter, write) `f`.
    pub fn can_read(self, f: Field) -> bool {
        match (self, f.custom()) {
            (Access::Integration, Some(c)) => c.integration_readable,
            _ => true,
        }
    }
}

/// Describe `type` of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescribeType {
    /// `id`.
    Id,
    /// `string`.
    String,
    /// `email`.
    Email,
    /// `picklist`.
    Picklist,
    /// `boolean`.
    Boolean,
    /// `datetime`.
    DateTime,
    /// `date`.
    Date,
    /// `double`.
    Double,
    /// `reference`.
    Reference,
    /// `textarea`.
    TextArea,
    /// `combobox`.
    Combobox,
}

impl DescribeType {
    /// The describe `type` value.
    pub fn name(self) -> &'static str {
        match self {
            DescribeType::Id => "id",
            DescribeType::String => "string",
            DescribeType::Email => "email",
            DescribeType::Picklist => "picklist",
            DescribeType::Boolean => "boolean",
            DescribeType::DateTime => "datetime",
            DescribeType::Date => "date",
            DescribeType::Double => "double",
            DescribeType::Reference => "reference",
            DescribeType::TextArea => "textarea",
            DescribeType::Combobox => "combobox",
        }
    }

    /// The describe `soapType` value.
    pub fn soap_type(self) -> &'static str {
        match self {
            DescribeType::Id | DescribeType::Reference => "tns:ID",
            DescribeType::Boolean => "xsd:boolean",
            DescribeType::DateTime => "xsd:dateTime",
            DescribeType::Date => "xsd:date",
            DescribeType::Double => "xsd:double",
            _ => "xsd:string",
        }
    }
}

/// The describe metadata of one field (what `GET /sobjects/{obj}/describe` serves, and what the
/// SOQL binder and the write path enforce: filterable, sortable, writable, length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldMeta {
    /// Label.
    pub label: &'static str,
    /// Describe type.
    pub kind: DescribeType,
    /// Maximum length of text values (0 for other types).
    pub length: u32,
    /// May be null.
    pub nillable: bool,
    /// Writable on create.
    pub createable: bool,
    /// Writable on update.
    pub updateable: bool,
    /// Usable in WHERE.
    pub filterable: bool,
    /// Usable in ORDER BY.
    pub sortable: bool,
    /// Usable in GROUP BY.
    pub groupable: bool,
    /// Custom field.
    pub custom: bool,
    /// Formula / derived field.
    pub calculated: bool,
    /// The object's name field.
    pub name_field: bool,
    /// External id.
    pub external_id: bool,
    /// Can identify a record in upserts.
    pub id_lookup: bool,
    /// Salesforce fills it on create when absent.
    pub defaulted_on_create: bool,
    /// Picklist values (the first one is not a default: no picklist here has one).
    pub picklist: &'static [&'static str],
    /// Writes must use one of `picklist`.
    pub restricted_picklist: bool,
    /// Reference targets.
    pub reference_to: &'static [&'static str],
    /// Relationship name of a reference (`Account`, `Owner`, `Who`).
    pub relationship_name: Option<&'static str>,
    /// `plaintextarea`, `personname`, … .
    pub extra_type_info: Option<&'static str>,
    /// Number precision (digits).
    pub precision: u32,
    /// Number scale (digits after the point).
    pub scale: u32,
}

impl FieldMeta {
    const fn base(label: &'static str, kind: DescribeType, length: u32) -> FieldMeta {
        FieldMeta {
            label,
            kind,
            length,
            nillable: true,
            createable: true,
            updateable: true,
            filterable: true,
            sortable: true,
            groupable: true,
            custom: false,
            calculated: false,
            name_field: false,
            external_id: false,
            id_lookup: false,
            defaulted_on_create: false,
            picklist: &[],
            restricted_picklist: false,
            reference_to: &[],
            relationship_name: None,
            extra_type_info: None,
            precision: 0,
            scale: 0,
        }
    }

    const fn read_only(mut self) -> FieldMeta {
        self.createable = false;
        self.updateable = false;
        self
    }

    const fn required(mut self) -> FieldMeta {
        self.nillable = false;
        self
    }

    const fn system_datetime(label: &'static str) -> FieldMeta {
        let mut m = FieldMeta::base(label, DescribeType::DateTime, 0).read_only().required();
        m.groupable = false;
        m.defaulted_on_create = true;
        m
    }

    const fn boolean(label: &'static str) -> FieldMeta {
        let mut m = FieldMeta::base(label, DescribeType::Boolean, 0).required();
        m.defaulted_on_create = true;
        m
    }

    const fn picklist(label: &'static str, length: u32, values: &'static [&'static str]) -> FieldMeta {
        let mut m = FieldMeta::base(label, DescribeType::Picklist, length);
        m.picklist = values;
        m
    }

    const fn reference(label: &'static str, to: &'static [&'static str], rel: &'static str) -> FieldMeta {
        let mut m = FieldMeta::base(label, DescribeType::Reference, 18);
        m.reference_to = to;
        m.relationship_name = Some(rel);
        m
    }

    const fn long_text(label: &'static str, length: u32) -> FieldMeta {
        let mut m = FieldMeta::base(label, DescribeType::TextArea, length);
        m.filterable = false;
        m.sortable = false;
        m.groupable = false;
        m.extra_type_info = Some("plaintextarea");
        m
    }

    /// Whether the REST API may write the field (control writes may also set the derived flags).
    pub fn writable(&self) -> bool {
        self.createable || self.updateable
    }
}

fn custom_meta(c: &CustomField) -> FieldMeta {
    let mut m = match c.kind {
        CustomKind::Picklist(values) => {
            let mut m = FieldMeta::picklist(c.label, 255, values);
            m.restricted_picklist = true;
            m
        }
        CustomKind::Double { precision, scale } => {
            let mut m = FieldMeta::base(c.label, DescribeType::Double, 0);
            m.precision = precision;
            m.scale = scale;
            m.groupable = false;
            m
        }
        CustomKind::LongText { length } => FieldMeta::long_text(c.label, length),
        CustomKind::Text { length } => FieldMeta::base(c.label, DescribeType::String, length),
    };
    m.custom = true;
    m
}

fn field_meta(obj: SObject, f: Field) -> FieldMeta {
    use DescribeType as T;
    let person = matches!(obj, SObject::Contact | SObject::Lead | SObject::User);
    match f {
        Field::Id => {
            let mut m = FieldMeta::base(
                match obj {
                    SObject::Contact => "Contact ID",
                    SObject::Lead => "Lead ID",
                    SObject::Task => "Activity ID",
                    SObject::User => "User ID",
                    SObject::Account => "Account ID",
                },
                T::Id,
                18,
            )
            .read_only()
            .required();
            m.id_lookup = true;
            m.defaulted_on_create = true;
            m
        }
        Field::FirstName => FieldMeta::base("First Name", T::String, 40),
        Field::LastName => FieldMeta::base("Last Name", T::String, 80).required(),
        Field::Name if person => {
            let mut m = FieldMeta::base("Full Name", T::String, 121).read_only().required();
            m.name_field = true;
            m.extra_type_info = Some("personname");
            m
        }
        Field::Name => {
            let mut m = FieldMeta::base("Account Name", T::String, 255).required();
            m.name_field = true;
            m.id_lookup = true;
            m
        }
        Field::Email => {
            let mut m = FieldMeta::base("Email", T::Email, 80);
            m.id_lookup = true;
            if obj == SObject::User {
                m.nillable = false;
            }
            m
        }
        Field::HasOptedOutOfEmail => FieldMeta::boolean("Email Opt Out"),
        Field::IsEmailBounced => FieldMeta::boolean("Is Email Bounced").read_only(),
        Field::EmailBouncedReason => FieldMeta::base("Email Bounced Reason", T::String, 255),
        Field::EmailBouncedDate => {
            let mut m = FieldMeta::base("Email Bounced Date", T::DateTime, 0);
            m.groupable = false;
            m
        }
        Field::CreatedDate => FieldMeta::system_datetime("Created Date"),
        Field::LastModifiedDate => FieldMeta::system_datetime("Last Modified Date"),
        Field::SystemModstamp => FieldMeta::system_datetime("System Modstamp"),
        Field::IsDeleted => FieldMeta::boolean("Deleted").read_only(),
        Field::OutpostExternalId => {
            let mut m = FieldMeta::base("Outpost External Id", T::String, 255);
            m.custom = true;
            m.external_id = true;
            m.id_lookup = true;
            m
        }
        Field::Company => FieldMeta::base("Company", T::String, 255).required(),
        Field::Status if obj == SObject::Task => {
            let mut m = FieldMeta::picklist("Status", 40, TASK_STATUSES).required();
            m.defaulted_on_create = true;
            m
        }
        Field::Status => {
            let mut m = FieldMeta::picklist("Status", 40, LEAD_STATUSES).required();
            m.defaulted_on_create = true;
            m
        }
        Field::IsConverted => FieldMeta::boolean("Converted").read_only(),
        Field::WhoId => FieldMeta::reference("Name ID", &["Contact", "Lead"], "Who"),
        Field::Subject => FieldMeta::base("Subject", T::Combobox, 255),
        Field::Description => FieldMeta::long_text("Comments", 32_000),
        Field::ActivityDate => FieldMeta::base("Due Date Only", T::Date, 0),
        Field::OwnerId => {
            let to: &'static [&'static str] = match obj {
                SObject::Lead | SObject::Task => &["Group", "User"],
                _ => &["User"],
            };
            let mut m = FieldMeta::reference("Owner ID", to, "Owner").required();
            m.defaulted_on_create = true;
            m
        }
        Field::Username => FieldMeta::base("Username", T::String, 80).required(),
        Field::IsActive => FieldMeta::boolean("Active"),
        Field::UserType => FieldMeta::picklist("User Type", 40, &["Standard"]).read_only(),
        Field::TimeZoneSidKey => FieldMeta::base("Time Zone", T::Picklist, 40).required(),
        Field::LocaleSidKey => FieldMeta::base("Locale", T::Picklist, 40).required(),
        Field::LanguageLocaleKey => FieldMeta::base("Language", T::Picklist, 40).required(),
        Field::Title => FieldMeta::base("Title", T::String, 128),
        Field::LeadSource => FieldMeta::picklist("Lead Source", 255, LEAD_SOURCES),
        Field::AccountId => FieldMeta::reference("Account ID", &["Account"], "Account"),
        Field::AccountName => FieldMeta::base("Account Name", T::String, 255).read_only(),
        Field::Department => FieldMeta::base("Department", T::String, 80),
        Field::MailingCountry => FieldMeta::base("Mailing Country", T::String, 80),
        Field::MailingState => FieldMeta::base("Mailing State/Province", T::String, 80),
        Field::MailingCity => FieldMeta::base("Mailing City", T::String, 40),
        Field::Industry => FieldMeta::picklist("Industry", 255, INDUSTRIES),
        Field::Country => FieldMeta::base("Country", T::String, 80),
        Field::State => FieldMeta::base("State/Province", T::String, 80),
        Field::City => FieldMeta::base("City", T::String, 40),
        Field::Custom(_) => match f.custom() {
            Some(c) => custom_meta(c),
            None => FieldMeta::base("", T::String, 0),
        },
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
    /// double.
    Number(f64),
}

impl Value<'_> {
    /// Text of an optional string field.
    pub fn opt_text<S: AsRef<str>>(s: &Option<S>) -> Value<'_> {
        match s {
            Some(s) => Value::Text(Cow::Borrowed(s.as_ref())),
            None => Value::Null,
        }
    }

    /// A custom field's stored JSON value.
    pub fn from_json(v: Option<&serde_json::Value>) -> Value<'_> {
        match v {
            Some(serde_json::Value::String(s)) => Value::Text(Cow::Borrowed(s)),
            Some(serde_json::Value::Number(n)) => n.as_f64().map_or(Value::Null, Value::Number),
            Some(serde_json::Value::Bool(b)) => Value::Bool(*b),
            _ => Value::Null,
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
            Value::Number(n) => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, Into::into),
        }
    }
}

/// Writes a double the way the REST API and Bulk CSV render it (`72.5`, `80.0`).
pub fn format_number(n: f64) -> String {
    serde_json::Number::from_f64(n).map_or_else(String::new, |n| n.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_resolves_by_name_and_has_metadata() {
        for obj in ALL_OBJECTS {
            for f in obj.fields() {
                assert_eq!(obj.field(f.name()), Some(*f), "{obj}.{}", f.name());
                assert_eq!(obj.field(&f.name().to_uppercase()), Some(*f));
                let m = obj.meta(*f);
                assert!(!m.label.is_empty(), "{obj}.{}", f.name());
                assert_eq!(m.custom, f.name().ends_with("__c"), "{obj}.{}", f.name());
            }
        }
        assert_eq!(SObject::Contact.field("Account.Name"), None, "a path, not a field");
        assert_eq!(SObject::Lead.field("Tier__c"), None, "Contact only");
        let notes = SObject::Contact.meta(Field::NOTES);
        assert_eq!(
            (notes.kind, notes.filterable, notes.extra_type_info),
            (DescribeType::TextArea, false, Some("plaintextarea"))
        );
        assert_eq!(Field::SCORE.ty(), FieldType::Number);
        assert!(!Access::Integration.can_read(Field::SECRET) && Access::All.can_read(Field::SECRET));
        assert_eq!(format_number(80.0), "80.0");
        assert_eq!(format_number(72.35), "72.35");
    }
}
