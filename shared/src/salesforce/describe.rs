//! `GET /sobjects/{SObject}/describe` (docs/salesforce.md#contact-lead-fields): the fields the
//! caller can read, with their types and whether SOQL can filter on them. A field hidden from the
//! caller by field-level security is absent.

use reqwest::Method;
use serde::Deserialize;

use super::{OrgConnection, SalesforceError, data_path, is_api_name};

/// An sObject's describe, as far as Outpost reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SObjectDescribe {
    pub name: String,
    pub fields: Vec<DescribedField>,
}

/// One field of a describe.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DescribedField {
    pub name: String,
    #[serde(default)]
    pub label: String,
    /// `string`, `email`, `picklist`, `boolean`, `date`, `datetime`, `double`, `textarea`, …
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default)]
    pub filterable: bool,
    #[serde(rename = "picklistValues", default)]
    pub picklist_values: Vec<PicklistValue>,
}

/// A picklist's value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PicklistValue {
    pub value: String,
    #[serde(default)]
    pub active: bool,
}

impl SObjectDescribe {
    /// The field called `name` (API names are case-insensitive).
    pub fn field(&self, name: &str) -> Option<&DescribedField> {
        self.fields.iter().find(|field| field.name.eq_ignore_ascii_case(name))
    }
}

impl OrgConnection {
    /// `GET /sobjects/{SObject}/describe`.
    pub async fn describe(&self, sobject: &str) -> Result<SObjectDescribe, SalesforceError> {
        if !is_api_name(sobject) {
            return Err(SalesforceError::Protocol("invalid sObject name".into()));
        }
        let reply =
            self.client.send(self.call(Method::GET, &data_path(&format!("/sobjects/{sobject}/describe")))).await?;
        serde_json::from_slice(&reply.body).map_err(|err| SalesforceError::Protocol(format!("describe: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_of_a_documented_describe() {
        let body = r#"{"name":"Contact","label":"Contact","keyPrefix":"003","queryable":true,"fields":[
            {"name":"Id","type":"id","filterable":true,"label":"Contact ID","picklistValues":[]},
            {"name":"Region__c","type":"picklist","filterable":true,"label":"Region","custom":true,
             "picklistValues":[{"active":true,"defaultValue":false,"label":"EMEA","validFor":null,"value":"EMEA"},
                               {"active":false,"defaultValue":false,"label":"Old","validFor":null,"value":"Old"}]},
            {"name":"Notes__c","type":"textarea","filterable":false,"label":"Notes","extraTypeInfo":"plaintextarea"}]}"#;
        let describe: SObjectDescribe = serde_json::from_str(body).unwrap();
        let region = describe.field("region__c").unwrap();
        assert_eq!((region.field_type.as_str(), region.filterable), ("picklist", true));
        assert_eq!(region.picklist_values.iter().filter(|v| v.active).count(), 1);
        assert!(!describe.field("Notes__c").unwrap().filterable);
        assert!(describe.field("Secret__c").is_none());
    }
}
