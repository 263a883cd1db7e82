//! Crash safety: a run that dies at any page boundary, before or after its checkpoint, loses
//! nothing and duplicates nothing once the next run has finished; records sharing one
//! SystemModstamp across page boundaries are each read exactly once.

use std::collections::HashMap;

use outpost_tests::outpost_shared::ids::RecipientObject;
use outpost_tests::outpost_shared::salesforce::SfDateTime;
use outpost_tests::outpost_shared::store::{RunStatus, SyncCursor};
use outpost_tests::outpost_sync::{CrashPoint, RunOutcome, sync_org};
use outpost_tests::salesforce_sim::SimConfig;

use outpost_tests::StoreKind;

use super::support::*;

on_both_stores!(
    a_crash_at_any_page_boundary_then_a_rerun_ends_exactly_like_an_uninterrupted_run,
    five_thousand_records_sharing_one_system_modstamp_are_each_read_once_across_restarts,
    a_crash_between_bulk_result_pages_resumes_at_the_saved_locator_and_loses_nothing,
);

/// Rows the first `pages` pages of a first sync cover: Contacts first, then Leads.
fn rows_in_first_pages(contacts: u64, leads: u64, pages: u64) -> u64 {
    let page = u64::from(PAGE);
    let contact_pages = contacts.div_ceil(page).max(1);
    if pages <= contact_pages {
        (pages * page).min(contacts)
    } else {
        contacts + ((pages - contact_pages) * page).min(leads)
    }
}

/// One crash case on a fresh stack: crash after `pages` pages at `point`, run again, compare.
async fn crash_then_rerun(store: StoreKind, point: CrashPoint, pages: u64) {
    let stack = stack_on(store, 450, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let registration = &stack.acme().registration;
    let case = format!("crash-{point:?}-{pages}");

    let began = SfDateTime::now();
    let crashed = sync_org(&stack.stack.sync, registration, &crash_at(&case, point, pages)).await;
    assert!(matches!(crashed, RunOutcome::Crashed), "{case}: {crashed:?}");
    // Where getDeleted must start is saved before the first record: a first sync that dies and
    // resumes later, or takes many runs, still propagates every hard delete made since it began.
    let deletes_from = checkpoint(&stack, &org, RecipientObject::Contact).await.deletes_checked_until;
    assert!(deletes_from.is_some_and(|from| from <= began), "{case}: {deletes_from:?}");
    assert!(
        stack.stack.services.store.recent_runs(&org, 5).await.unwrap().is_empty(),
        "{case}: a crash records no run"
    );
    let contacts = query_all_rows(sim, RecipientObject::Contact).len() as u64;
    let leads = query_all_rows(sim, RecipientObject::Lead).len() as u64;
    let durable_pages = match point {
        CrashPoint::BeforeCheckpoint => pages - 1,
        CrashPoint::AfterCheckpoint => pages,
    };
    let checkpointed = checkpointed_rows(&stack, &org, sim).await;
    assert_eq!(checkpointed, rows_in_first_pages(contacts, leads, durable_pages), "{case}: checkpointed rows");

    let rerun = run_org(&stack, registration, options(&format!("{case}-rerun"))).await;

    assert_eq!(rerun.status, RunStatus::Complete, "{case}: {rerun:#?}");
    assert_eq!(
        pulled(&rerun),
        contacts + leads - checkpointed,
        "{case}: the rerun reads exactly what was not checkpointed"
    );
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), &case);
    let contacts = checkpoint(&stack, &org, RecipientObject::Contact).await;
    assert_eq!(contacts.deletes_checked_until, deletes_from, "{case}: the rerun keeps the first sync's start");
}

async fn a_crash_at_any_page_boundary_then_a_rerun_ends_exactly_like_an_uninterrupted_run(store: StoreKind) {
    let reference = stack_on(store, 450, 250, |sync| sync.page_size = PAGE).await;
    let uninterrupted = run(&reference, "crash-reference").await;
    let pages = uninterrupted.contacts.pages + uninterrupted.leads.pages;
    assert!(pages >= 4, "several pages per object: {uninterrupted:#?}");
    assert_same(&stored_all(&reference, &acme_id(&reference)).await, &expected_all(acme_sim(&reference)), "reference");

    let cases = [CrashPoint::BeforeCheckpoint, CrashPoint::AfterCheckpoint]
        .into_iter()
        .flat_map(|point| (1..=pages).map(move |k| crash_then_rerun(store, point, k)));
    futures::future::join_all(cases).await;
}

async fn five_thousand_records_sharing_one_system_modstamp_are_each_read_once_across_restarts(store: StoreKind) {
    let stack = stack_on(store, 50, 25, |sync| sync.page_size = 2000).await;
    let config = SimConfig::default().with_records(6000, 300).with_same_modstamp_block(5000);
    let (sim, registration) = extra_org(&stack, "00D5g0000SameTs", config).await;
    let org = registration.org_id;
    let contacts = query_all_rows(&sim, RecipientObject::Contact);
    let shared = {
        let mut counts = HashMap::new();
        for record in &contacts {
            *counts.entry(record.system_modstamp.0).or_insert(0u64) += 1;
        }
        let (stamp, count) = counts.into_iter().max_by_key(|(_, count)| *count).unwrap();
        assert_eq!(count, 5000, "the block");
        SfDateTime::from_millis(stamp * 1000)
    };

    // Each run dies right after its first page is durable, so every page is read by a fresh
    // query that starts at the checkpoint — twice in the middle of the block.
    let mut crashes = 0u64;
    loop {
        let trigger = format!("same-modstamp-{crashes}");
        match sync_org(&stack.stack.sync, &registration, &crash_at(&trigger, CrashPoint::AfterCheckpoint, 1)).await {
            RunOutcome::Crashed => crashes += 1,
            RunOutcome::Ran(run) => {
                assert_eq!(run.status, RunStatus::Complete, "{run:#?}");
                assert_eq!(pulled(&run), 0, "every row was read by a crashed run");
                break;
            }
            RunOutcome::AlreadyRunning => panic!("the lease outlived a crashed run"),
        }
        let cursor = checkpoint(&stack, &org, RecipientObject::Contact).await.cursor.unwrap();
        let covered = rows_up_to(&sim, RecipientObject::Contact, &cursor);
        assert_eq!(covered, (crashes * 2000).min(contacts.len() as u64), "after {crashes} pages");
        if crashes <= 2 {
            assert_eq!(cursor.modstamp, shared, "page {crashes} ends inside the block");
        }
    }
    assert_eq!(crashes, (contacts.len() as u64).div_ceil(2000) + 1, "one crashed run per page");
    assert_same(&stored_all(&stack, &org).await, &expected_all(&sim), "the same-modstamp org");
}

/// One crash case of a Bulk first sync whose results come in pages of 100 rows.
async fn bulk_crash_then_rerun(store: StoreKind, point: CrashPoint, pages: u64) {
    let stack = stack_on(store, 20, 10, |sync| sync.bulk_threshold = 50).await;
    let mut config = SimConfig::default().with_records(350, 150);
    config.bulk.page_size = 100;
    let (sim, registration) = extra_org(&stack, "00D5g0000BulkPg", config).await;
    let case = format!("bulk-crash-{point:?}-{pages}");

    let crashed = sync_org(&stack.stack.sync, &registration, &crash_at(&case, point, pages)).await;
    assert!(matches!(crashed, RunOutcome::Crashed), "{case}: {crashed:?}");
    let pending = checkpoint(&stack, &registration.org_id, RecipientObject::Contact).await.bulk_job;
    let rerun = run_org(&stack, &registration, options(&format!("{case}-rerun"))).await;

    assert_eq!(rerun.status, RunStatus::Complete, "{case}: {rerun:#?}");
    assert_same(&stored_members(&stack, &registration.org_id).await, &expected_members(&sim), &case);
    let live = query_all_rows(&sim, RecipientObject::Contact).iter().filter(|r| !r.is_deleted).count() as u64;
    if let (CrashPoint::AfterCheckpoint, true) = (point, pages * 100 < live) {
        // Resumed at the saved locator: the rest of the job, then REST from the job's snapshot.
        let job = pending.expect("the job and its locator are checkpointed");
        assert!(job.locator.is_some(), "{case}: {job:?}");
        let snapshot = SyncCursor { modstamp: job.started_at, id: String::new() };
        let since_snapshot = query_all_rows(&sim, RecipientObject::Contact)
            .iter()
            .filter(|record| cursor_of(record) >= snapshot)
            .count() as u64;
        assert_eq!(rerun.contacts.pulled, live - pages * 100 + since_snapshot, "{case}: {rerun:#?}");
    }
}

async fn a_crash_between_bulk_result_pages_resumes_at_the_saved_locator_and_loses_nothing(store: StoreKind) {
    // Bulk reads live rows only: 4 pages of Contacts and 2 of Leads at 100 rows a page.
    let cases = [CrashPoint::BeforeCheckpoint, CrashPoint::AfterCheckpoint]
        .into_iter()
        .flat_map(|point| (1..=6).map(move |k| bulk_crash_then_rerun(store, point, k)));
    futures::future::join_all(cases).await;
}
