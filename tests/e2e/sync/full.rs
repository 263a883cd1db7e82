//! Full and incremental runs: the store holds exactly the org's current Contacts and Leads.

use outpost_tests::outpost_shared::ids::RecipientObject;
use outpost_tests::outpost_shared::store::RunStatus;

use outpost_tests::StoreKind;

use super::support::*;

on_both_stores!(
    a_full_run_stores_exactly_the_orgs_contacts_and_unconverted_leads,
    a_second_run_without_changes_pulls_nothing_with_one_query_per_object,
);

async fn a_full_run_stores_exactly_the_orgs_contacts_and_unconverted_leads(store: StoreKind) {
    let stack = stack_on(store, 450, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let usage_before = sim.api_usage().used;

    let run = run(&stack, "full-run").await;

    assert_eq!(run.status, RunStatus::Complete, "{run:#?}");
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "every row queryAll returns");
    assert_members_match(&stack, &org, sim).await;
    for (object, counts) in [(RecipientObject::Contact, &run.contacts), (RecipientObject::Lead, &run.leads)] {
        let rows = query_all_rows(sim, object);
        let members = rows.iter().filter(|r| !r.is_deleted && !r.is_converted).count() as u64;
        let converted = rows.iter().filter(|r| !r.is_deleted && r.is_converted).count() as u64;
        assert_eq!(counts.pulled, rows.len() as u64, "{object:?}");
        assert_eq!(counts.upserted, members, "{object:?}");
        assert_eq!(counts.converted, converted, "{object:?}");
        assert!(object == RecipientObject::Contact || converted > 0, "the demo org has converted Leads");
        // Recycle-bin rows of a first sync become tombstones of records never stored: no deletes.
        assert!(rows.iter().any(|r| r.is_deleted), "the demo org has deleted rows");
        assert_eq!(counts.deleted, 0, "{object:?}");
        assert_eq!(counts.pages, pages_of(sim, object, PAGE), "{object:?}");
        assert!(!counts.bulk && counts.error.is_none(), "{object:?}");
        assert_eq!(counts.cursor_before, None, "{object:?}");
        assert_eq!(counts.cursor_after, newest_cursor(sim, object), "{object:?}");
    }
    let pages = pages_of(sim, RecipientObject::Contact, PAGE) + pages_of(sim, RecipientObject::Lead, PAGE);
    assert_eq!(run.api_calls, DESCRIBES + pages, "the describes, then one call per page, nothing else");
    assert_eq!(sim.api_usage().used - usage_before, DESCRIBES + pages);
    assert_eq!(run.api_usage, Some(format!("{}/{}", sim.api_usage().used, sim.api_usage().limit)));
    assert_eq!(run.trigger, "full-run");
    assert_eq!(run.org_id, org);
    let stored = stack.stack.services.store.recent_runs(&org, 5).await.unwrap();
    assert_eq!(stored, vec![run], "the run record is stored as returned");
}

async fn a_second_run_without_changes_pulls_nothing_with_one_query_per_object(store: StoreKind) {
    let stack = stack_on(store, 450, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let first = run(&stack, "unchanged-first").await;
    let usage_before = sim.api_usage().used;

    let second = run(&stack, "unchanged-second").await;

    assert_eq!(second.status, RunStatus::Complete, "{second:#?}");
    for (counts, before) in [(&second.contacts, &first.contacts), (&second.leads, &first.leads)] {
        assert_eq!((counts.pulled, counts.upserted, counts.deleted, counts.pages), (0, 0, 0, 0));
        assert_eq!(counts.cursor_before, before.cursor_after);
        assert_eq!(counts.cursor_after, before.cursor_after);
    }
    assert_eq!(second.api_calls, 2, "one query per object");
    assert_eq!(sim.api_usage().used - usage_before, 2);
    assert_members_match(&stack, &org, sim).await;
    let runs = stack.stack.services.store.recent_runs(&org, 5).await.unwrap();
    assert_eq!(runs, vec![second, first], "newest first");
}
