//! Bulk API 2.0 for large first syncs: a clean load, a failed job, a job that outlives the run's
//! deadline and is picked up again by the next run, and a pending job Salesforce deleted.

use std::time::Duration;

use outpost_tests::TestStack;
use outpost_tests::outpost_shared::ids::RecipientObject;
use outpost_tests::outpost_shared::store::RunStatus;
use outpost_tests::salesforce_sim::{SessionKind, SimHandle};

use super::support::*;

/// A stack whose first sync of either object goes through Bulk API 2.0.
async fn bulk_stack() -> TestStack {
    stack(450, 250, |sync| sync.bulk_threshold = 100).await
}

/// The org's Bulk query jobs, as `GET /jobs/query` lists them.
async fn bulk_jobs(stack: &TestStack, sim: &SimHandle) -> Vec<serde_json::Value> {
    let integration = sim.integration_user().unwrap();
    let session = sim.mint_session(&integration.username, SessionKind::Api).unwrap();
    let url = format!("{}/services/data/v66.0/jobs/query", sim.base_url());
    let response = stack.http.get(url).bearer_auth(session).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_large_first_sync_loads_through_bulk_and_matches_the_org() {
    let stack = bulk_stack().await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);

    let run = run(&stack, "bulk-load").await;

    assert_eq!(run.status, RunStatus::Complete, "{run:#?}");
    assert!(run.contacts.bulk && run.leads.bulk, "{run:#?}");
    assert_members_match(&stack, &org, sim).await;
    for object in RecipientObject::ALL {
        let checkpoint = checkpoint(&stack, &org, object).await;
        assert_eq!(checkpoint.bulk_job, None, "{object:?}: the job is read to the end");
        assert!(checkpoint.cursor.is_some(), "{object:?}: REST takes over from the job's start");
    }
    let jobs = bulk_jobs(&stack, sim).await;
    assert_eq!(jobs.len(), 2, "one job per object: {jobs:#?}");

    let next = run_org(&stack, &stack.acme().registration, options("bulk-load-next")).await;
    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
    assert!(!next.contacts.bulk && !next.leads.bulk, "later runs are incremental REST pulls");
    assert_members_match(&stack, &org, sim).await;
}

#[tokio::test]
async fn a_failed_bulk_job_is_reported_as_a_partial_run_and_the_next_run_loads_again() {
    let stack = bulk_stack().await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    sim.fail_next_bulk_job("InternalServerError: the query timed out");

    let failed = run(&stack, "bulk-failed").await;

    assert_eq!(failed.status, RunStatus::Partial, "{failed:#?}");
    let error = failed.contacts.error.as_deref().unwrap_or_default();
    assert!(error.contains("BULK_JOB_FAILED") && error.contains("the query timed out"), "{error}");
    assert_eq!(failed.contacts.pulled, 0);
    assert!(failed.leads.error.is_none() && failed.leads.bulk, "the Leads job ran: {failed:#?}");
    let contacts = checkpoint(&stack, &org, RecipientObject::Contact).await;
    assert_eq!((contacts.bulk_job, contacts.cursor), (None, None), "the failed job is dropped");
    assert_eq!(stack.stack.services.store.recent_runs(&org, 1).await.unwrap(), vec![failed]);

    let next = run(&stack, "bulk-failed-next").await;

    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
    assert!(next.contacts.bulk, "{next:#?}");
    assert_members_match(&stack, &org, sim).await;
}

#[tokio::test]
async fn a_bulk_job_outliving_the_deadline_is_kept_in_the_checkpoint_and_finished_by_the_next_run() {
    let stack = bulk_stack().await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    sim.set_bulk_never_complete(true);

    let stopped =
        run_org(&stack, &stack.acme().registration, deadline_in("bulk-deadline", Duration::from_millis(500))).await;

    assert_eq!(stopped.status, RunStatus::StoppedDeadline, "{stopped:#?}");
    assert!(stopped.contacts.bulk && stopped.contacts.error.is_none(), "a slow job is no failure: {stopped:#?}");
    let pending = checkpoint(&stack, &org, RecipientObject::Contact).await;
    let job = pending.bulk_job.clone().expect("the job id is checkpointed");
    assert_eq!(pending.cursor, None);
    assert!(stored_all(&stack, &org).await.is_empty());

    sim.set_bulk_never_complete(false);
    let next = run(&stack, "bulk-deadline-next").await;

    assert_eq!(next.status, RunStatus::Complete, "{next:#?}");
    assert!(next.contacts.bulk && next.contacts.pulled > 0, "{next:#?}");
    assert_members_match(&stack, &org, sim).await;
    let contacts = checkpoint(&stack, &org, RecipientObject::Contact).await;
    assert_eq!(contacts.bulk_job, None);
    assert_eq!(contacts.cursor.map(|c| c.modstamp), Some(job.started_at), "REST resumes at the job's snapshot");
    let jobs = bulk_jobs(&stack, sim).await;
    let contact_jobs: Vec<_> = jobs.iter().filter(|j| j["object"] == "Contact").collect();
    assert_eq!(contact_jobs.len(), 1, "the pending job was resumed, not replaced: {jobs:#?}");
    assert_eq!(contact_jobs[0]["id"], job.job_id.as_str());
}

#[tokio::test]
async fn a_pending_bulk_job_that_salesforce_deleted_is_dropped_and_the_load_starts_over() {
    let stack = bulk_stack().await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    sim.set_bulk_never_complete(true);
    let stopped =
        run_org(&stack, &stack.acme().registration, deadline_in("bulk-gone", Duration::from_millis(500))).await;
    assert_eq!(stopped.status, RunStatus::StoppedDeadline, "{stopped:#?}");
    let job = checkpoint(&stack, &org, RecipientObject::Contact).await.bulk_job.expect("a pending job");
    // Salesforce deletes jobs (an admin, or 7 days after they ended): the checkpointed id is gone.
    let integration = sim.integration_user().unwrap();
    let session = sim.mint_session(&integration.username, SessionKind::Api).unwrap();
    let url = format!("{}/services/data/v66.0/jobs/query/{}", sim.base_url(), job.job_id);
    let deleted = stack.http.delete(url).bearer_auth(session).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    sim.set_bulk_never_complete(false);

    let gone = run(&stack, "bulk-gone-next").await;

    assert_eq!(gone.status, RunStatus::Partial, "{gone:#?}");
    let error = gone.contacts.error.as_deref().unwrap_or_default();
    assert!(error.contains(&job.job_id), "the lost job is reported: {error}");
    assert_eq!(checkpoint(&stack, &org, RecipientObject::Contact).await.bulk_job, None, "and forgotten");

    let reloaded = run(&stack, "bulk-gone-reloaded").await;

    assert_eq!(reloaded.status, RunStatus::Complete, "{reloaded:#?}");
    assert!(reloaded.contacts.bulk, "{reloaded:#?}");
    assert_members_match(&stack, &org, sim).await;
}
