//! `GET /services/data/vNN.N/sobjects/{SObject}/describe`: Salesforce's DescribeSObjectResult,
//! listing only the fields field-level security lets the caller read (docs/salesforce.md,
//! "Contact and Lead fields, describe and SOQL").

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value as Json, json};

use crate::gate::{Caller, parse_version};
use crate::org::Org;
use crate::reply;
use crate::schema::{Access, DescribeType, Field, SObject};

/// One `fields[]` entry.
pub fn field_json(obj: SObject, f: Field) -> Json {
    let m = obj.meta(f);
    let text = matches!(
        m.kind,
        DescribeType::String
            | DescribeType::Email
            | DescribeType::Picklist
            | DescribeType::TextArea
            | DescribeType::Combobox
            | DescribeType::Id
            | DescribeType::Reference
    );
    // Salesforce counts three bytes per character of text fields.
    let byte_length = if text { m.length * 3 } else { 0 };
    let picklist: Vec<Json> = m
        .picklist
        .iter()
        .map(|v| json!({"active": true, "defaultValue": false, "label": v, "validFor": null, "value": v}))
        .collect();
    let entries: [(&str, Json); 43] = [
        ("aggregatable", (m.sortable && m.kind != DescribeType::Boolean).into()),
        ("autoNumber", false.into()),
        ("byteLength", byte_length.into()),
        ("calculated", m.calculated.into()),
        ("calculatedFormula", Json::Null),
        ("caseSensitive", false.into()),
        ("controllerName", Json::Null),
        ("createable", m.createable.into()),
        ("custom", m.custom.into()),
        ("defaultValue", Json::Null),
        ("defaultedOnCreate", m.defaulted_on_create.into()),
        ("dependentPicklist", false.into()),
        ("deprecatedAndHidden", false.into()),
        ("digits", 0.into()),
        ("encrypted", false.into()),
        ("externalId", m.external_id.into()),
        ("extraTypeInfo", m.extra_type_info.into()),
        ("filterable", m.filterable.into()),
        ("groupable", m.groupable.into()),
        ("htmlFormatted", false.into()),
        ("idLookup", m.id_lookup.into()),
        ("inlineHelpText", Json::Null),
        ("label", m.label.into()),
        ("length", m.length.into()),
        ("name", f.name().into()),
        ("nameField", m.name_field.into()),
        ("namePointing", false.into()),
        ("nillable", m.nillable.into()),
        ("permissionable", (m.custom && m.nillable).into()),
        ("picklistValues", picklist.into()),
        ("polymorphicForeignKey", (m.reference_to.len() > 1).into()),
        ("precision", m.precision.into()),
        ("referenceTo", m.reference_to.into()),
        ("relationshipName", m.relationship_name.into()),
        ("relationshipOrder", Json::Null),
        ("restrictedPicklist", m.restricted_picklist.into()),
        ("scale", m.scale.into()),
        ("soapType", m.kind.soap_type().into()),
        ("sortable", m.sortable.into()),
        ("type", m.kind.name().into()),
        ("unique", false.into()),
        ("updateable", m.updateable.into()),
        ("writeRequiresMasterRead", false.into()),
    ];
    Json::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// The whole DescribeSObjectResult of `obj` as a user with `access` sees it.
pub fn describe_json(obj: SObject, access: Access, version: &str) -> Json {
    let writable = matches!(obj, SObject::Contact | SObject::Lead);
    let fields: Vec<Json> =
        obj.fields().iter().copied().filter(|f| access.can_read(*f)).map(|f| field_json(obj, f)).collect();
    let base = format!("/services/data/v{version}/sobjects/{obj}");
    json!({
        "actionOverrides": [],
        "activateable": false,
        "childRelationships": [],
        "compactLayoutable": true,
        "createable": writable,
        "custom": false,
        "customSetting": false,
        "deletable": writable,
        "deprecatedAndHidden": false,
        "feedEnabled": false,
        "fields": fields,
        "hasSubtypes": false,
        "isSubtype": false,
        "keyPrefix": obj.prefix(),
        "label": obj.name(),
        "labelPlural": obj.label_plural(),
        "layoutable": true,
        "mergeable": writable,
        "mruEnabled": true,
        "name": obj.name(),
        "namedLayoutInfos": [],
        "networkScopeFieldName": null,
        "queryable": true,
        "recordTypeInfos": [],
        "replicateable": true,
        "retrieveable": true,
        "searchLayoutable": true,
        "searchable": true,
        "supportedScopes": [],
        "triggerable": true,
        "undeletable": writable,
        "updateable": writable,
        "urls": {
            "describe": format!("{base}/describe"),
            "rowTemplate": format!("{base}/{{ID}}"),
            "sobject": base,
        },
    })
}

/// `GET /services/data/vNN.N/sobjects/{SObject}/describe[/]`; unknown objects answer 404
/// `NOT_FOUND`.
pub async fn describe(
    State(org): State<Arc<Org>>,
    Path((v, obj)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let (Some(version), Some(obj)) = (parse_version(&v), SObject::from_name(&obj)) else {
        return reply::not_found();
    };
    reply::json(StatusCode::OK, &describe_json(obj, org.access_of(&caller.user), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fls_hides_secret_from_the_integration_user_only() {
        let names = |access| -> Vec<String> {
            describe_json(SObject::Contact, access, "64.0")["fields"]
                .as_array()
                .map(|a| a.iter().filter_map(|f| f["name"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        assert!(names(Access::All).iter().any(|n| n == "Secret__c"));
        assert!(!names(Access::Integration).iter().any(|n| n == "Secret__c"));
        assert!(names(Access::Integration).iter().any(|n| n == "Region__c"));
    }
}
