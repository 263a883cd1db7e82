//! One run per org at a time.

use std::sync::Arc;
use std::time::Duration;

use outpost_tests::TestStack;
use outpost_tests::outpost_shared::ids::RecipientObject;
use outpost_tests::outpost_shared::store::{Created, RunStatus};
use outpost_tests::outpost_sync::{RunOutcome, sync_org};
use outpost_tests::salesforce_sim::SObject;

use super::support::*;

/// Starts a run of the demo org against a slowed org in the background; returns once it has
/// written its first page, so it is still running.
async fn start_slow_run(stack: &TestStack, trigger: &str) -> tokio::task::JoinHandle<RunOutcome> {
    acme_sim(stack).set_latency(Duration::from_millis(20));
    let sync = Arc::clone(&stack.stack.sync);
    let registration = stack.acme().registration.clone();
    let options = options(trigger);
    let run = tokio::spawn(async move { sync_org(&sync, &registration, &options).await });
    while checkpoint(stack, &acme_id(stack), RecipientObject::Contact).await.cursor.is_none() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    run
}

#[tokio::test]
async fn a_second_run_of_an_org_while_one_is_running_is_refused_as_already_running() {
    let stack = stack(1000, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let first = start_slow_run(&stack, "lease-first").await;

    let second = sync_org(&stack.stack.sync, &stack.acme().registration, &options("lease-second")).await;

    assert!(matches!(second, RunOutcome::AlreadyRunning), "{second:?}");
    let RunOutcome::Ran(first) = first.await.unwrap() else { panic!("the first run finishes") };
    assert_eq!(first.status, RunStatus::Complete, "{first:#?}");
    assert_eq!(pulled(&first), query_all_count(sim), "the refused run took nothing from it");
    let runs = stack.stack.services.store.recent_runs(&org, 5).await.unwrap();
    assert_eq!(runs, vec![*first], "the refused run records nothing");

    // The lease ends with the run.
    let third = run(&stack, "lease-third").await;
    assert_eq!(third.status, RunStatus::Complete, "{third:#?}");
}

#[tokio::test]
async fn of_two_runs_started_together_exactly_one_runs() {
    let stack = stack(450, 250, |_| {}).await;
    let registration = &stack.acme().registration;
    let (options_a, options_b) = (options("together-a"), options("together-b"));

    let (a, b) = tokio::join!(
        sync_org(&stack.stack.sync, registration, &options_a),
        sync_org(&stack.stack.sync, registration, &options_b),
    );

    let ran = [&a, &b]
        .iter()
        .filter(|outcome| matches!(outcome, RunOutcome::Ran(run) if run.status == RunStatus::Complete))
        .count();
    let refused = [&a, &b].iter().filter(|outcome| matches!(outcome, RunOutcome::AlreadyRunning)).count();
    assert_eq!((ran, refused), (1, 1), "{a:?} / {b:?}");
    assert_members_match(&stack, &acme_id(&stack), acme_sim(&stack)).await;
}

#[tokio::test]
async fn a_sync_requested_during_a_run_gets_its_own_run_right_after() {
    let stack = stack(1000, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let store = &stack.stack.services.store;
    store.request_sync(&org, Duration::from_secs(60)).await.unwrap();
    let first = start_slow_run(&stack, "during-first").await;
    // The pending request was taken by this run; an admin clicks "sync now" while it runs, after
    // some of its pages were read, and edits a record the run has already passed.
    let changed = sim.records(SObject::Contact).into_iter().find(|r| !r.is_deleted).unwrap();
    sim.update_record(&changed.id.to_string(), serde_json::json!({"FirstName": "Requested"})).unwrap();
    assert_eq!(store.request_sync(&org, Duration::from_secs(60)).await.unwrap(), Created::Created);

    let RunOutcome::Ran(last) = first.await.unwrap() else { panic!("the runs finish") };
    let runs = store.recent_runs(&org, 5).await.unwrap();
    assert_eq!(runs.len(), 2, "the request got a run of its own: {runs:#?}");
    assert_eq!(runs[0], *last);
    assert!(runs.iter().all(|run| run.status == RunStatus::Complete));
    assert!(!store.take_sync_request(&org).await.unwrap(), "the request was served");
    assert_members_match(&stack, &org, sim).await;
    assert_eq!(stored_recipient(&stack, &org, &changed.id.to_string()).await.first_name.as_deref(), Some("Requested"));
}

#[tokio::test]
async fn a_lease_whose_holder_stopped_renewing_blocks_the_next_run_for_at_most_its_ttl() {
    let stack = stack(200, 100, |sync| sync.lease_ttl = Duration::from_secs(2)).await;
    let org = acme_id(&stack);
    let store = &stack.stack.services.store;
    // What a run killed mid-way leaves behind: its lease, never renewed again.
    assert!(store.acquire_sync_lease(&org, "killed-run", Duration::from_secs(2)).await.unwrap());

    let blocked = sync_org(&stack.stack.sync, &stack.acme().registration, &options("after-crash-1")).await;
    assert!(matches!(blocked, RunOutcome::AlreadyRunning), "{blocked:?}");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let next = run(&stack, "after-crash-2").await;
    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
}

#[tokio::test]
async fn a_run_longer_than_its_lease_renews_it_as_pages_land_and_keeps_other_runs_out() {
    let stack = stack(2000, 250, |sync| {
        sync.page_size = PAGE;
        // The store keeps expiry in whole seconds.
        sync.lease_ttl = Duration::from_secs(2);
    })
    .await;
    let sim = acme_sim(&stack);
    // Thirteen calls of 250 ms: over three seconds, well past the lease's TTL.
    sim.set_latency(Duration::from_millis(250));
    let sync = Arc::clone(&stack.stack.sync);
    let registration = stack.acme().registration.clone();
    let long = tokio::spawn(async move { sync_org(&sync, &registration, &options("long-run")).await });

    // Well past the lease's TTL, the run still holds it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!long.is_finished(), "the run outlasts its lease's TTL");
    let intruder = sync_org(&stack.stack.sync, &stack.acme().registration, &options("intruder")).await;
    assert!(matches!(intruder, RunOutcome::AlreadyRunning), "{intruder:?}");

    let RunOutcome::Ran(long) = long.await.unwrap() else { panic!("the long run finishes") };
    assert_eq!(long.status, RunStatus::Complete, "{long:#?}");
    assert_eq!(pulled(&long), query_all_count(sim));
}
