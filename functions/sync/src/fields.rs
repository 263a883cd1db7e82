//! The additional fields an org names at registration: each is checked against the object's
//! describe (it exists, the integration user can read it, SOQL can filter on it, lists can compare
//! its type) before a run reads it. A field that fails is skipped and named in the run record; the
//! ones that pass are saved for the list builder.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outpost_shared::ids::{OrgId, RecipientObject};
use outpost_shared::lists::{ExtraField, FieldKind};
use outpost_shared::salesforce::{SObjectDescribe, SalesforceError};
use outpost_shared::store::{ExtraFieldNames, OrgFields, SkippedField, now_epoch};

use crate::records::Selected;
use crate::run::{Interrupt, Run, Stop};

/// How long a describe is trusted: field changes in Salesforce reach the sync within this.
const DESCRIBE_TTL: Duration = Duration::from_secs(3600);

/// A describe and when it was fetched.
type Fetched = (Instant, Arc<SObjectDescribe>);

/// Describes fetched lately, per org and object, shared by every run of a warm function.
#[derive(Debug, Default)]
pub struct Describes {
    cached: Mutex<HashMap<(OrgId, RecipientObject), Fetched>>,
}

impl Describes {
    fn get(&self, org: OrgId, object: RecipientObject) -> Option<Arc<SObjectDescribe>> {
        let cached = self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cached
            .get(&(org, object))
            .filter(|(fetched, _)| fetched.elapsed() < DESCRIBE_TTL)
            .map(|(_, describe)| Arc::clone(describe))
    }

    fn put(&self, org: OrgId, object: RecipientObject, describe: Arc<SObjectDescribe>) {
        let mut cached = self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cached.insert((org, object), (Instant::now(), describe));
    }
}

/// How lists compare a field of this describe type; `None` for types they cannot compare.
fn kind_of(field_type: &str) -> Option<FieldKind> {
    Some(match field_type {
        "string" | "email" | "picklist" | "phone" | "url" | "id" | "reference" | "combobox" | "textarea" => {
            FieldKind::Text
        }
        "boolean" => FieldKind::Boolean,
        "date" => FieldKind::Date,
        "datetime" => FieldKind::DateTime,
        "double" | "currency" | "int" | "percent" | "long" => FieldKind::Number,
        _ => return None,
    })
}

/// Checks `names` against `describe`: the usable fields, and why each other one is skipped.
fn check(
    object: RecipientObject,
    names: &[String],
    describe: &SObjectDescribe,
) -> (Vec<ExtraField>, Vec<SkippedField>) {
    let (mut usable, mut skipped) = (Vec::new(), Vec::new());
    let mut skip = |field: &str, reason: String| {
        skipped.push(SkippedField { object, field: field.to_owned(), reason });
    };
    let standard = Selected::standard_fields_of(object);
    for (index, name) in names.iter().enumerate() {
        if index >= ExtraFieldNames::MAX_PER_OBJECT {
            skip(name, format!("beyond the first {} additional fields", ExtraFieldNames::MAX_PER_OBJECT));
            continue;
        }
        if standard.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            skip(name, "already read as a standard field".into());
            continue;
        }
        let Some(field) = describe.field(name) else {
            skip(name, "not found, or not readable by the integration user".into());
            continue;
        };
        if !field.filterable {
            skip(name, format!("Salesforce cannot filter on it ({})", field.field_type));
            continue;
        }
        let Some(kind) = kind_of(&field.field_type) else {
            skip(name, format!("lists cannot compare fields of type {}", field.field_type));
            continue;
        };
        if usable.iter().any(|known: &ExtraField| known.name == field.name) {
            continue;
        }
        let picklist =
            field.picklist_values.iter().filter(|value| value.active).map(|value| value.value.clone()).collect();
        usable.push(ExtraField {
            name: field.name.clone(),
            label: field.label.clone(),
            kind,
            objects: vec![object],
            picklist,
        });
    }
    (usable, skipped)
}

impl Run<'_> {
    /// The fields this run reads from each object: the standard ones, and the org's extra ones
    /// that pass their describe. Saves what passed for the list builder.
    pub(crate) async fn select_fields(&mut self) -> Result<(), Stop> {
        let names = self.org.settings.extra_fields.clone();
        let mut usable: Vec<ExtraField> = Vec::new();
        let mut described = true;
        for object in RecipientObject::ALL {
            let asked = names.of(object);
            if asked.is_empty() {
                continue;
            }
            let (fields, mut skipped) = match self.describe(object).await {
                Ok(describe) => check(object, asked, &describe),
                Err(Interrupt::Stop(stop)) => return Err(stop),
                Err(Interrupt::Salesforce(err)) => {
                    described = false;
                    let reason = format!("the describe of {} failed: {}", object.api_name(), err.code());
                    // Read without its additional fields, a changed record would lose their values.
                    self.unread.insert(object);
                    self.record.object_mut(object).error = Some(format!("not read this run: {reason}"));
                    let skipped =
                        asked.iter().map(|field| SkippedField { object, field: field.clone(), reason: reason.clone() });
                    (Vec::new(), skipped.collect())
                }
            };
            // One name is one field to the list builder: the same name with another type on the
            // other object cannot be compared alike, so only the first is kept.
            let mut kept = Vec::new();
            for field in fields {
                match usable.iter_mut().find(|known| known.name.eq_ignore_ascii_case(&field.name)) {
                    Some(known) if known.kind == field.kind => {
                        known.objects.push(object);
                        kept.push(field);
                    }
                    Some(known) => skipped.push(SkippedField {
                        object,
                        field: field.name.clone(),
                        reason: format!(
                            "a field of that name on {} has another type",
                            known.objects.first().map_or("the other object", |other| other.api_name())
                        ),
                    }),
                    None => {
                        usable.push(field.clone());
                        kept.push(field);
                    }
                }
            }
            for field in &skipped {
                tracing::warn!(object = object.api_name(), field = %field.field, reason = %field.reason, "field skipped");
            }
            self.record.skipped_fields.extend(skipped);
            self.selected.insert(object, Selected { object, extra: kept });
        }
        // Saved every run, so fields an admin removed stop being offered too; a failed describe
        // keeps what was last saved rather than taking every field away.
        if described {
            let fields = OrgFields { fields: usable, checked_at: now_epoch() };
            let saved = self.ctx.services.store.put_org_fields(&self.org.org_id, &fields).await;
            saved.map_err(|err| Stop::Fatal(err.to_string()))?;
        }
        Ok(())
    }

    /// The object's describe, cached for an hour; an expired session is renewed once.
    async fn describe(&mut self, object: RecipientObject) -> Result<Arc<SObjectDescribe>, Interrupt> {
        if let Some(describe) = self.ctx.describes.get(self.org.org_id, object) {
            return Ok(describe);
        }
        self.may_call()?;
        let describe = match self.conn.describe(object.api_name()).await {
            Err(SalesforceError::SessionExpired) => {
                self.renew_session().await?;
                self.conn.describe(object.api_name()).await?
            }
            result => result?,
        };
        let describe = Arc::new(describe);
        self.ctx.describes.put(self.org.org_id, object, Arc::clone(&describe));
        Ok(describe)
    }

    /// The fields read from `object`.
    pub(crate) fn selected(&self, object: RecipientObject) -> Selected {
        self.selected.get(&object).cloned().unwrap_or_else(|| Selected::standard(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_kept_only_when_readable_filterable_and_comparable() {
        let describe: SObjectDescribe = serde_json::from_value(serde_json::json!({"name": "Contact", "fields": [
            {"name": "Region__c", "type": "picklist", "filterable": true, "label": "Region",
             "picklistValues": [{"value": "EMEA", "active": true}, {"value": "Old", "active": false}]},
            {"name": "Score__c", "type": "double", "filterable": true, "label": "Score"},
            {"name": "Notes__c", "type": "textarea", "filterable": false, "label": "Notes"},
            {"name": "Tags__c", "type": "multipicklist", "filterable": true, "label": "Tags"}
        ]}))
        .unwrap();
        let names: Vec<String> =
            ["region__c", "Score__c", "Notes__c", "Tags__c", "Secret__c", "title"].map(String::from).into();
        let (usable, skipped) = check(RecipientObject::Contact, &names, &describe);
        assert_eq!(
            usable.iter().map(|f| (f.name.as_str(), f.kind)).collect::<Vec<_>>(),
            [("Region__c", FieldKind::Text), ("Score__c", FieldKind::Number)]
        );
        assert_eq!(usable[0].picklist, ["EMEA"]);
        let reasons: Vec<(&str, &str)> = skipped.iter().map(|s| (s.field.as_str(), s.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                ("Notes__c", "Salesforce cannot filter on it (textarea)"),
                ("Tags__c", "lists cannot compare fields of type multipicklist"),
                ("Secret__c", "not found, or not readable by the integration user"),
                ("title", "already read as a standard field"),
            ]
        );
    }
}
