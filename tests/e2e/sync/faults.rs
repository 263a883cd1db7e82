//! Salesforce misbehaving mid-run: 5xx storms, latency, an expired session, a refused login,
//! a spent API budget. Each run ends in the documented state with its checkpoint saved, and the
//! next healthy run reaches exactly the org's data.

use std::time::Duration;

use outpost_tests::TestStack;
use outpost_tests::outpost_shared::ids::RecipientObject;
use outpost_tests::outpost_shared::store::{Change, RunStatus};
use outpost_tests::salesforce_sim::{ApiUsage, JwtRefusal};

use outpost_tests::StoreKind;

use super::support::*;

on_both_stores!(
    a_short_5xx_storm_mid_pagination_is_retried_and_changes_nothing,
    a_5xx_storm_outlasting_the_retries_leaves_a_partial_run_that_the_next_run_completes,
    latency_on_every_call_slows_the_run_and_changes_nothing,
    an_expired_session_mid_run_logs_in_once_more_and_resumes_from_the_checkpoint,
    a_refused_login_ends_the_run_as_auth_failed_without_retrying,
    a_refused_renewal_after_a_session_expiry_ends_the_run_without_a_login_loop,
    reaching_the_budget_ceiling_stops_the_run_with_its_checkpoint_saved,
    the_apps_own_api_share_stops_the_run_when_it_is_the_tighter_budget,
    request_limit_exceeded_mid_run_stops_the_run_like_a_spent_budget,
    a_deadline_mid_run_stops_with_the_checkpoint_saved_and_the_next_run_finishes_the_job,
);

/// First-sync pages of the demo org at [`PAGE`] rows a page.
fn pages(stack: &TestStack) -> u64 {
    let sim = acme_sim(stack);
    pages_of(sim, RecipientObject::Contact, PAGE) + pages_of(sim, RecipientObject::Lead, PAGE)
}

async fn a_short_5xx_storm_mid_pagination_is_retried_and_changes_nothing(store: StoreKind) {
    let stack = stack_on(store, 1000, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    sim.set_latency(Duration::from_millis(20));
    let storm = once_contacts_are_checkpointed(&stack, |sim| sim.fail_next_calls(3));
    let usage_before = sim.api_usage().used;

    let run = run(&stack, "short-storm").await;
    storm.await.unwrap();

    assert_eq!(run.status, RunStatus::Complete, "{run:#?}");
    assert_eq!(sim.faults().fail_next_calls, 0, "the storm hit the run");
    assert_eq!(run.api_calls, DESCRIBES + pages(&stack) + 3, "three failed attempts, each retried");
    assert_eq!(sim.api_usage().used - usage_before, DESCRIBES + pages(&stack), "503s are not counted by the org");
    assert_eq!(pulled(&run), query_all_count(sim), "every row once");
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "after a short storm");
}

async fn a_5xx_storm_outlasting_the_retries_leaves_a_partial_run_that_the_next_run_completes(store: StoreKind) {
    // Contacts span more pages than a pull keeps in flight, so the storm that starts at their
    // first checkpoint meets them mid-pagination.
    let stack = stack_on(store, 3000, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    sim.set_latency(Duration::from_millis(20));
    // Four attempts per call: the Contacts page in flight fails for good, then the Leads query.
    let storm = once_contacts_are_checkpointed(&stack, |sim| sim.fail_next_calls(8));

    let stormy = run(&stack, "long-storm").await;
    storm.await.unwrap();

    assert_eq!(stormy.status, RunStatus::Partial, "{stormy:#?}");
    for (object, counts) in [(RecipientObject::Contact, &stormy.contacts), (RecipientObject::Lead, &stormy.leads)] {
        let error = counts.error.as_deref().unwrap_or_default();
        assert!(error.contains("SERVER_UNAVAILABLE"), "{error}");
        // An interrupted object reports the cursor it saved: where the next run resumes.
        assert_eq!(counts.cursor_after, checkpoint(&stack, &org, object).await.cursor, "{object:?}");
    }
    assert!(stormy.contacts.cursor_after.is_some() && stormy.leads.cursor_after.is_none());
    assert!(stormy.contacts.pulled > 0 && stormy.leads.pulled == 0, "{stormy:#?}");
    assert_eq!(stormy.api_calls, DESCRIBES + stormy.contacts.pages + 8);
    assert_eq!(checkpointed_rows(&stack, &org, sim).await, pulled(&stormy), "every page read is checkpointed");

    let next = run(&stack, "long-storm-next").await;

    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
    assert_eq!(pulled(&stormy) + pulled(&next), query_all_count(sim), "nothing read twice, nothing skipped");
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "after a long storm");
}

async fn latency_on_every_call_slows_the_run_and_changes_nothing(store: StoreKind) {
    let stack = stack_on(store, 450, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    sim.set_latency(Duration::from_millis(40));

    let run = run(&stack, "latency").await;

    assert_eq!(run.status, RunStatus::Complete, "{run:#?}");
    assert_eq!(run.api_calls, DESCRIBES + pages(&stack));
    // The login and every data call waited.
    assert!(run.duration_ms >= 40 * (run.api_calls + 1), "{} ms", run.duration_ms);
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "with latency");
}

async fn an_expired_session_mid_run_logs_in_once_more_and_resumes_from_the_checkpoint(store: StoreKind) {
    let stack = stack_on(store, 1000, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let contacts = query_all_rows(sim, RecipientObject::Contact).len() as u64;
    // The second Contacts page is the last call the session serves.
    sim.expire_sessions_after_calls(Some(DESCRIBES + 2));

    let trigger = format!("session-expiry-{store:?}");
    let run = run(&stack, &trigger).await;

    assert_eq!(run.status, RunStatus::Complete, "{run:#?}");
    assert_eq!(log_lines(&trigger, "logging in again"), 1);
    assert_eq!(log_lines(&trigger, "integration user logged in"), 2, "the first login and one renewal");
    // Restarting from the checkpoint (two pages in), not from the beginning: no row is read twice.
    assert_eq!(run.contacts.pulled, contacts);
    // The record keeps the cursor the run started from, not the one the re-login found.
    assert_eq!(run.contacts.cursor_before, None, "{run:#?}");
    assert_eq!(run.contacts.pages, pages_of(sim, RecipientObject::Contact, PAGE));
    assert_eq!(run.api_calls, DESCRIBES + pages(&stack) + 1, "plus the call that found the session expired");
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "after a renewal");
}

async fn a_refused_login_ends_the_run_as_auth_failed_without_retrying(store: StoreKind) {
    let stack = stack_on(store, 200, 100, |_| {}).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    sim.set_jwt_refusal(Some(JwtRefusal::NotApproved));

    let refused = run(&stack, "jwt-refused-cold").await;

    assert_eq!(refused.status, RunStatus::AuthFailed, "{refused:#?}");
    let error = refused.error.as_deref().unwrap_or_default();
    assert!(error.contains("user hasn't approved this consumer"), "{error}");
    assert_eq!(refused.api_calls, 0, "no data call without a session");
    assert!(stored_all(&stack, &org).await.is_empty());
    assert_eq!(stack.stack.services.store.recent_runs(&org, 5).await.unwrap(), vec![refused]);

    sim.set_jwt_refusal(None);
    let recovered = run(&stack, "jwt-refused-recovered").await;
    assert_eq!(recovered.status, RunStatus::Complete, "{recovered:#?}");
    assert_members_match(&stack, &org, sim).await;
}

async fn a_refused_renewal_after_a_session_expiry_ends_the_run_without_a_login_loop(store: StoreKind) {
    let stack = stack_on(store, 200, 100, |_| {}).await;
    let sim = acme_sim(&stack);
    run(&stack, "jwt-renewal-warmup").await;
    sim.set_jwt_refusal(Some(JwtRefusal::NotApproved));
    sim.expire_all_sessions();

    let trigger = format!("jwt-renewal-refused-{store:?}");
    let refused = run(&stack, &trigger).await;

    assert_eq!(refused.status, RunStatus::AuthFailed, "{refused:#?}");
    assert!(refused.error.as_deref().unwrap_or_default().contains("hasn't approved"), "{refused:#?}");
    assert_eq!(refused.api_calls, 1, "the call that found the session expired, nothing after the refusal");
    assert_eq!(log_lines(&trigger, "logging in again"), 1);

    // The cached token is gone: the next run tries one login and stops again.
    let again = run(&stack, "jwt-renewal-again").await;
    assert_eq!(again.status, RunStatus::AuthFailed, "{again:#?}");
    assert_eq!(again.api_calls, 0);
}

async fn reaching_the_budget_ceiling_stops_the_run_with_its_checkpoint_saved(store: StoreKind) {
    let stack = stack_on(store, 450, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let contact = pick(sim, RecipientObject::Contact, |r| !r.has_opted_out_of_email);
    enqueue(&stack, contact.id.as_str(), Change::OptOut).await;
    let limit = sim.api_usage().limit;
    // 80 % of the daily allocation is reached by the run's first page.
    sim.set_api_usage(limit * 8 / 10 - 1 - DESCRIBES);

    let stopped = run(&stack, "budget-ceiling").await;

    assert_eq!(stopped.status, RunStatus::StoppedBudget, "{stopped:#?}");
    assert_eq!(stopped.api_calls, DESCRIBES + 1);
    assert_eq!(stopped.api_usage, Some(format!("{}/{limit}", limit * 8 / 10)));
    assert_eq!((stopped.contacts.pulled, stopped.leads.pulled), (u64::from(PAGE), 0));
    assert_eq!(checkpointed_rows(&stack, &org, sim).await, u64::from(PAGE), "the page read is checkpointed");
    assert_eq!(stopped.write_back, Default::default(), "no write-back on a spent budget");
    assert!(!sim.record(contact.id.as_str()).unwrap().has_opted_out_of_email);

    sim.set_api_usage(0);
    let next = run(&stack, "budget-ceiling-next").await;

    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
    assert_eq!(pulled(&next), query_all_count(sim) - u64::from(PAGE));
    assert_eq!(next.write_back.ok, 1);
    assert!(sim.record(contact.id.as_str()).unwrap().has_opted_out_of_email);
    // The write-back came after the pull: the following run reads the opted-out contact back.
    let after = run(&stack, "budget-ceiling-after").await;
    assert_eq!((after.contacts.pulled, after.leads.pulled), (1, 0));
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "after the budget recovered");
}

async fn the_apps_own_api_share_stops_the_run_when_it_is_the_tighter_budget(store: StoreKind) {
    let stack = stack_on(store, 450, 250, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    // The org has plenty left; this app's own allocation reaches 80 % with the run's first page.
    sim.set_api_usage(0);
    sim.set_app_api_usage(Some(ApiUsage { used: 199 - DESCRIBES, limit: 250 }));

    let stopped = run(&stack, "app-budget").await;

    assert_eq!(stopped.status, RunStatus::StoppedBudget, "{stopped:#?}");
    assert_eq!(stopped.api_calls, DESCRIBES + 1);
    assert_eq!(stopped.api_usage.as_deref(), Some("200/250 per app"));
    assert_eq!(checkpointed_rows(&stack, &org, sim).await, u64::from(PAGE), "the page read is checkpointed");

    sim.set_app_api_usage(None);
    let next = run(&stack, "app-budget-next").await;
    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
    assert_eq!(pulled(&stopped) + pulled(&next), query_all_count(sim));
}

async fn request_limit_exceeded_mid_run_stops_the_run_like_a_spent_budget(store: StoreKind) {
    // A ceiling above 100 %: only Salesforce's own refusal can stop this run.
    let stack = stack_on(store, 450, 250, |sync| {
        sync.page_size = PAGE;
        sync.budget_ceiling = 2.0;
    })
    .await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let limit = sim.api_usage().limit;
    sim.set_api_usage(limit - 2 - DESCRIBES);

    let stopped = run(&stack, "request-limit").await;

    assert_eq!(stopped.status, RunStatus::StoppedBudget, "{stopped:#?}");
    assert_eq!(stopped.api_calls, DESCRIBES + 3, "two pages, then REQUEST_LIMIT_EXCEEDED");
    assert_eq!(stopped.api_usage, Some(format!("{limit}/{limit}")));
    assert_eq!(pulled(&stopped), 2 * u64::from(PAGE));
    assert_eq!(checkpointed_rows(&stack, &org, sim).await, 2 * u64::from(PAGE));

    sim.set_api_limit(limit * 2);
    let next = run(&stack, "request-limit-next").await;

    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
    assert_eq!(pulled(&stopped) + pulled(&next), query_all_count(sim));
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "after the limit was raised");
}

async fn a_deadline_mid_run_stops_with_the_checkpoint_saved_and_the_next_run_finishes_the_job(store: StoreKind) {
    let stack = stack_on(store, 1000, 500, |sync| sync.page_size = PAGE).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    // The login and a few pages fit in the deadline, however slow the store; eight pages do not.
    sim.set_latency(Duration::from_millis(400));

    let stopped =
        run_org(&stack, &stack.acme().registration, deadline_in("deadline", Duration::from_millis(3000))).await;

    assert_eq!(stopped.status, RunStatus::StoppedDeadline, "{stopped:#?}");
    assert!(pulled(&stopped) > 0 && pulled(&stopped) < query_all_count(sim), "{stopped:#?}");
    assert_eq!(checkpointed_rows(&stack, &org, sim).await, pulled(&stopped), "every page read is checkpointed");

    sim.set_latency(Duration::ZERO);
    let next = run(&stack, "deadline-next").await;

    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
    assert_eq!(pulled(&stopped) + pulled(&next), query_all_count(sim));
    assert_same(&stored_all(&stack, &org).await, &expected_all(sim), "after a deadline stop");
}
