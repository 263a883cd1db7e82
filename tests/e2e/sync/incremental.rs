//! Incremental runs: updates, soft and hard deletes, conversions and new records all reach the
//! store at the next run; a getDeleted window the org no longer has falls back to reconciling by id.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use outpost_tests::outpost_shared::ids::RecipientObject;
use outpost_tests::outpost_shared::store::{ObjectRun, RunStatus};
use outpost_tests::salesforce_sim::SObject;
use serde_json::json;

use outpost_tests::StoreKind;

use super::support::*;

on_both_stores!(
    updates_soft_deletes_conversions_and_new_records_reach_the_store_at_the_next_run,
    hard_deletes_are_found_through_get_deleted_once_their_minute_is_covered,
    past_the_get_deleted_window_a_reconciliation_by_id_still_removes_hard_deletes,
    the_get_deleted_checkpoint_never_moves_back_when_salesforces_clock_is_behind,
);

async fn updates_soft_deletes_conversions_and_new_records_reach_the_store_at_the_next_run(store: StoreKind) {
    let stack = stack_on(store, 300, 200, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let first = run(&stack, "incremental-first").await;

    let renamed = pick(sim, RecipientObject::Contact, |r| !r.has_opted_out_of_email && !r.is_email_bounced);
    sim.update_record(
        renamed.id.as_str(),
        json!({"FirstName": "Renamed", "LastName": "Person", "Email": "renamed.person@example.com", "HasOptedOutOfEmail": true}),
    )
    .unwrap();
    let bounced = pick(sim, RecipientObject::Lead, |r| !r.is_email_bounced && r.email.is_some());
    sim.update_record(
        bounced.id.as_str(),
        json!({"EmailBouncedReason": "550 mailbox unavailable", "EmailBouncedDate": "2026-01-02T03:04:05.000+0000"}),
    )
    .unwrap();
    let trashed = pick(sim, RecipientObject::Contact, |r| r.id != renamed.id);
    sim.soft_delete(trashed.id.as_str()).unwrap();
    let converted = pick(sim, RecipientObject::Lead, |r| r.id != bounced.id);
    sim.convert_lead(converted.id.as_str()).unwrap();
    let contact =
        sim.create_record(SObject::Contact, json!({"LastName": "Newcomer", "Email": "new@example.com"})).unwrap();
    let lead = sim.create_record(SObject::Lead, json!({"LastName": "Prospect", "Company": "Initech"})).unwrap();

    let second = run(&stack, "incremental-second").await;

    assert_eq!(second.status, RunStatus::Complete, "{second:#?}");
    assert_members_match(&stack, &org, sim).await;
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "every row queryAll returns");
    let renamed = stored_recipient(&stack, &org, renamed.id.as_str()).await;
    assert_eq!(renamed.first_name.as_deref(), Some("Renamed"));
    assert_eq!(renamed.email.as_deref(), Some("renamed.person@example.com"));
    assert!(renamed.opted_out && renamed.is_member());
    let bounced = stored_recipient(&stack, &org, bounced.id.as_str()).await;
    assert!(bounced.bounced && bounced.is_member());
    assert_eq!(bounced.bounce_reason.as_deref(), Some("550 mailbox unavailable"));
    assert!(stored_recipient(&stack, &org, trashed.id.as_str()).await.deleted);
    assert!(stored_recipient(&stack, &org, converted.id.as_str()).await.converted);
    assert!(stored_recipient(&stack, &org, contact.id.as_str()).await.is_member());
    assert!(stored_recipient(&stack, &org, lead.id.as_str()).await.is_member());
    // Exactly the six changed rows, in one page per object; a converted Lead is counted as converted.
    let counts = |run: &ObjectRun| (run.pulled, run.upserted, run.deleted, run.converted);
    assert_eq!(counts(&second.contacts), (3, 2, 1, 0));
    assert_eq!(counts(&second.leads), (3, 2, 0, 1));
    assert_eq!((second.contacts.pages, second.leads.pages), (1, 1));
    assert_eq!(second.contacts.cursor_before, first.contacts.cursor_after);
    assert_eq!(second.leads.cursor_before, first.leads.cursor_after);
    assert_eq!(second.contacts.cursor_after, newest_cursor(sim, RecipientObject::Contact));
    assert_eq!(second.leads.cursor_after, newest_cursor(sim, RecipientObject::Lead));
}

/// Sleeps past the next minute boundary: getDeleted covers whole minutes only
/// (`latestDateCovered` is floored), so a delete is reported once its minute has ended.
async fn wait_for_the_next_minute() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into_minute = Duration::from_millis(u64::try_from(now.as_millis() % 60_000).unwrap());
    tokio::time::sleep(Duration::from_secs(60) - into_minute + Duration::from_millis(500)).await;
}

async fn hard_deletes_are_found_through_get_deleted_once_their_minute_is_covered(store: StoreKind) {
    let stack = stack_on(store, 300, 200, |sync| sync.deletes_check_interval = Duration::ZERO).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    run(&stack, "hard-delete-first").await;
    let contact = pick(sim, RecipientObject::Contact, |_| true);
    let lead = pick(sim, RecipientObject::Lead, |_| true);
    sim.hard_delete(contact.id.as_str()).unwrap();
    sim.hard_delete(lead.id.as_str()).unwrap();

    wait_for_the_next_minute().await;
    let second = run(&stack, "hard-delete-second").await;

    assert_eq!(second.status, RunStatus::Complete, "{second:#?}");
    assert_members_match(&stack, &org, sim).await;
    assert_eq!((second.contacts.pulled, second.contacts.deleted), (0, 1), "{second:#?}");
    assert_eq!((second.leads.pulled, second.leads.deleted), (0, 1), "{second:#?}");
    assert_eq!(second.api_calls, 4, "a query and a getDeleted per object");
    for id in [contact.id, lead.id] {
        assert!(stored_recipient(&stack, &org, id.as_str()).await.deleted, "{id}");
    }
}

async fn past_the_get_deleted_window_a_reconciliation_by_id_still_removes_hard_deletes(store: StoreKind) {
    let stack = stack_on(store, 300, 200, |sync| sync.deletes_check_interval = Duration::ZERO).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    run(&stack, "reconcile-first").await;
    let contact = pick(sim, RecipientObject::Contact, |_| true);
    let lead = pick(sim, RecipientObject::Lead, |_| true);
    sim.hard_delete(contact.id.as_str()).unwrap();
    sim.hard_delete(lead.id.as_str()).unwrap();
    // Sixteen days pass on Salesforce's side. The sim checks JWT `exp` against its own clock, so
    // the integration session is kept alive instead of logging in again 16 days "late".
    sim.set_session_lifetime(Duration::from_secs(30 * 24 * 3600));
    sim.advance_clock(Duration::from_secs(16 * 24 * 3600));

    let second = run(&stack, "reconcile-second").await;

    assert_eq!(second.status, RunStatus::Complete, "{second:#?}");
    assert_members_match(&stack, &org, sim).await;
    assert_eq!((second.contacts.pulled, second.contacts.deleted), (0, 1), "{second:#?}");
    assert_eq!((second.leads.pulled, second.leads.deleted), (0, 1), "{second:#?}");
    assert_eq!(second.api_calls, 6, "per object: a query, getDeleted refusing the window, an id query");
    for id in [contact.id, lead.id] {
        assert!(stored_recipient(&stack, &org, id.as_str()).await.deleted, "{id}");
    }
}

async fn the_get_deleted_checkpoint_never_moves_back_when_salesforces_clock_is_behind(store: StoreKind) {
    let stack = stack_on(store, 100, 50, |sync| sync.deletes_check_interval = Duration::ZERO).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    run(&stack, "clock-behind-first").await;
    let stack = &stack;
    let checked = |object| async move { checkpoint(stack, &org, object).await.deletes_checked_until.unwrap() };
    let before = [checked(RecipientObject::Contact).await, checked(RecipientObject::Lead).await];
    // Salesforce's clock runs ten minutes behind ours: its latestDateCovered is earlier than the
    // point already checked.
    sim.set_clock_back(Duration::from_secs(600));

    let second = run(stack, "clock-behind-second").await;

    assert_eq!(second.status, RunStatus::Complete, "{second:#?}");
    assert_eq!(second.api_calls, 4, "a query and a getDeleted per object");
    let after = [checked(RecipientObject::Contact).await, checked(RecipientObject::Lead).await];
    assert!(after[0] >= before[0] && after[1] >= before[1], "{before:?} then {after:?}");
}
