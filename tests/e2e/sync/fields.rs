//! The org's additional fields (docs/flows.md#additional-fields): checked against Salesforce's
//! describe as the integration user sees it, the usable ones read into every recipient and offered
//! to the list builder, the others named in the run record; a field added later is back-filled by
//! re-reading only the object that lacks it.

use outpost_tests::outpost_shared::ids::RecipientObject;
use outpost_tests::outpost_shared::lists::FieldKind;
use outpost_tests::outpost_shared::store::{RunStatus, SkippedField};
use outpost_tests::outpost_sync::{RunOutcome, SyncContext, sync_org};
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn usable_fields_are_read_and_offered_and_the_others_named_in_the_run() {
    let stack = stack(300, 150, |sync| sync.page_size = PAGE).await;
    let org = acme_id(&stack);
    let run = run(&stack, "fields").await;

    assert_eq!(run.status, RunStatus::Complete, "{run:#?}");
    let skipped: Vec<(RecipientObject, &str, &str)> = run
        .skipped_fields
        .iter()
        .map(|SkippedField { object, field, reason }| (*object, field.as_str(), reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (RecipientObject::Contact, "Notes__c", "Salesforce cannot filter on it (textarea)"),
            (RecipientObject::Contact, "Secret__c", "not found, or not readable by the integration user"),
        ],
        "a long text area and a field hidden by field-level security are named, never read"
    );
    let offered = stack.stack.services.store.org_fields(&org).await.unwrap();
    let fields: Vec<(&str, FieldKind, Vec<RecipientObject>)> =
        offered.fields.iter().map(|field| (field.name.as_str(), field.kind, field.objects.clone())).collect();
    let both = RecipientObject::ALL.to_vec();
    assert_eq!(
        fields,
        [
            ("Region__c", FieldKind::Text, both.clone()),
            ("Score__c", FieldKind::Number, both),
            ("Tier__c", FieldKind::Text, vec![RecipientObject::Contact]),
        ]
    );
    assert_eq!(offered.fields[0].picklist, ["EMEA", "AMER", "APAC"], "a picklist's values, for suggestions");
    assert_same(&stored_all(&stack, &org).await, &expected_all(acme_sim(&stack)), "every field of every row");
}

#[tokio::test]
async fn a_field_added_later_is_back_filled_by_reading_only_its_object_again() {
    let stack = stack(300, 150, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let mut without = stack.acme().registration.clone();
    without.settings.extra_fields.contact.retain(|field| field != "Tier__c");
    let first = run_org(&stack, &without, options("without-tier")).await;
    assert_eq!(first.status, RunStatus::Complete, "{first:#?}");
    let stored = stored_all(&stack, &org).await;
    assert!(stored.values().all(|recipient| !recipient.extra.contains_key("Tier__c")), "not asked, not read");
    assert!(stored.values().any(|recipient| recipient.extra.contains_key("Region__c")));

    let with = stack.acme().registration.clone();
    let second = run_org(&stack, &with, options("with-tier")).await;

    assert_eq!(second.status, RunStatus::Complete, "{second:#?}");
    let contacts = query_all_rows(sim, RecipientObject::Contact).len() as u64;
    assert_eq!(second.contacts.pulled, contacts, "every Contact is read again, with the new field");
    assert_eq!(second.leads.pulled, 0, "Leads lack nothing: they are not read again");
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "back-filled");
    let offered = stack.stack.services.store.org_fields(&org).await.unwrap();
    assert!(offered.fields.iter().any(|field| field.name == "Tier__c"));
}

#[tokio::test]
async fn a_failed_describe_leaves_its_object_unread_so_no_stored_field_is_lost() {
    let stack = stack(300, 150, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    assert_eq!(run(&stack, "described").await.status, RunStatus::Complete);
    let changed = pick(sim, RecipientObject::Contact, |r| r.custom.contains_key("Region__c"));
    sim.update_record(changed.id.as_str(), json!({"Title": "Changed while the describe fails"})).unwrap();
    let before = stored_all(&stack, &org).await;

    // A cold function describes again; every attempt at the Contact describe fails.
    let cold = SyncContext::new(stack.stack.services.clone(), stack.stack.sync.settings.clone());
    sim.fail_next_calls(4);
    let failed = match sync_org(&cold, &stack.acme().registration, &options("describe-fails")).await {
        RunOutcome::Ran(run) => *run,
        _ => panic!("the run ran"),
    };

    assert_eq!(failed.status, RunStatus::Partial, "{failed:#?}");
    let error = failed.contacts.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("not read this run: the describe of Contact failed"), "{error}");
    assert_eq!(failed.contacts.pulled, 0, "Contacts are not read without their fields");
    assert_eq!(stored_all(&stack, &org).await, before, "nothing stored changed, no field value lost");
    let offered = stack.stack.services.store.org_fields(&org).await.unwrap();
    assert!(offered.fields.iter().any(|field| field.name == "Tier__c"), "the saved fields are kept");

    let next = run_org(&stack, &stack.acme().registration, options("described-again")).await;
    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "the change arrives with every field");
}
