//! Write-back: queued opt-outs and bounces reach Salesforce through sObject Collections; failed
//! records are retried with backoff and become visible dead letters after N attempts.

use std::time::Duration;

use outpost_tests::outpost_shared::ids::RecipientObject;
use outpost_tests::outpost_shared::salesforce::SfDateTime;
use outpost_tests::outpost_shared::store::{Change, Created, RunStatus, WriteBack, WriteBackRun, now_epoch};

use super::support::*;

fn bounce(reason: &str) -> Change {
    Change::Bounce { reason: reason.into(), bounced_at: SfDateTime::parse("2026-03-04T05:06:07.000+0000").unwrap() }
}

fn entry<'a>(entries: &'a [WriteBack], record: &str) -> &'a WriteBack {
    entries.iter().find(|e| e.record.as_str() == record).unwrap_or_else(|| panic!("{record} in {entries:#?}"))
}

#[tokio::test]
async fn queued_opt_outs_and_bounces_reach_salesforce_and_come_back_in_the_next_pull() {
    let stack = stack(200, 100, |_| {}).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    run(&stack, "write-back-first").await;
    let contact = pick(sim, RecipientObject::Contact, |r| !r.has_opted_out_of_email);
    let lead = pick(sim, RecipientObject::Lead, |r| !r.is_email_bounced && r.email.is_some());
    assert_eq!(enqueue(&stack, contact.id.as_str(), Change::OptOut).await, Created::Created);
    assert_eq!(enqueue(&stack, lead.id.as_str(), bounce("550 5.1.1 user unknown")).await, Created::Created);

    let written = run(&stack, "write-back").await;

    assert_eq!(written.status, RunStatus::Complete, "{written:#?}");
    assert_eq!(written.write_back, WriteBackRun { ok: 2, failed: 0, dead: 0 });
    assert_eq!(written.api_calls, 3, "two queries and one Collections request");
    assert!(sim.record(contact.id.as_str()).unwrap().has_opted_out_of_email);
    let bounced = sim.record(lead.id.as_str()).unwrap();
    assert!(bounced.is_email_bounced);
    assert_eq!(bounced.email_bounced_reason.as_deref(), Some("550 5.1.1 user unknown"));
    assert_eq!(
        bounced.email_bounced_date.map(|d| d.0 * 1000),
        Some(SfDateTime::parse("2026-03-04T05:06:07Z").unwrap().millis())
    );
    let store = &stack.stack.services.store;
    assert!(store.pending_write_backs(&org).await.unwrap().is_empty(), "the queue is empty");
    assert!(store.dead_letters(&org).await.unwrap().is_empty());

    let next = run(&stack, "write-back-next").await;

    assert_eq!((next.contacts.pulled, next.leads.pulled), (1, 1), "the two written records come back");
    assert_eq!(next.write_back, WriteBackRun::default());
    assert!(stored_recipient(&stack, &org, contact.id.as_str()).await.opted_out);
    let lead = stored_recipient(&stack, &org, lead.id.as_str()).await;
    assert!(lead.bounced);
    assert_eq!(lead.bounce_reason.as_deref(), Some("550 5.1.1 user unknown"));
    assert_members_match(&stack, &org, sim).await;
}

#[tokio::test]
async fn the_same_change_queued_twice_is_written_once() {
    let stack = stack(200, 100, |_| {}).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let contact = pick(sim, RecipientObject::Contact, |r| !r.has_opted_out_of_email);
    assert_eq!(enqueue(&stack, contact.id.as_str(), Change::OptOut).await, Created::Created);
    assert_eq!(enqueue(&stack, contact.id.as_str(), Change::OptOut).await, Created::AlreadyExists);
    assert_eq!(stack.stack.services.store.pending_write_backs(&org).await.unwrap().len(), 1);

    let run = run(&stack, "write-back-twice").await;

    assert_eq!(run.write_back, WriteBackRun { ok: 1, failed: 0, dead: 0 });
    assert!(sim.record(contact.id.as_str()).unwrap().has_opted_out_of_email);
    assert!(stack.stack.services.store.pending_write_backs(&org).await.unwrap().is_empty());
}

#[tokio::test]
async fn failed_records_are_retried_until_they_succeed_or_become_dead_letters() {
    let stack = stack(200, 100, |sync| sync.write_back_max_attempts = 3).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let store = &stack.stack.services.store;
    let ok = pick(sim, RecipientObject::Contact, |r| !r.has_opted_out_of_email);
    let locked = pick(sim, RecipientObject::Contact, |r| r.id != ok.id && !r.has_opted_out_of_email);
    let invalid = pick(sim, RecipientObject::Lead, |r| !r.has_opted_out_of_email);
    let converted = pick(sim, RecipientObject::Lead, |r| r.id != invalid.id);
    sim.convert_lead(converted.id.as_str()).unwrap();
    sim.fail_record_writes(locked.id.as_str(), "UNABLE_TO_LOCK_ROW", Some(1)).unwrap();
    sim.fail_record_writes(invalid.id.as_str(), "INVALID_FIELD", None).unwrap();
    for record in [&ok, &locked, &invalid, &converted] {
        enqueue(&stack, record.id.as_str(), Change::OptOut).await;
    }

    let first = run(&stack, "write-back-failures-1").await;

    assert_eq!(first.write_back, WriteBackRun { ok: 1, failed: 2, dead: 1 }, "{first:#?}");
    assert_eq!(first.status, RunStatus::Complete, "per-record failures do not fail the run");
    assert!(sim.record(ok.id.as_str()).unwrap().has_opted_out_of_email);
    let pending = store.pending_write_backs(&org).await.unwrap();
    assert_eq!(pending.len(), 2, "{pending:#?}");
    for (record, code) in [(&locked, "UNABLE_TO_LOCK_ROW"), (&invalid, "INVALID_FIELD")] {
        let waiting = entry(&pending, record.id.as_str());
        assert_eq!(waiting.attempts, 1);
        assert!(waiting.last_error.as_deref().unwrap_or_default().starts_with(code), "{waiting:#?}");
    }
    // A converted lead cannot be updated, ever: a dead letter at once.
    let dead = store.dead_letters(&org).await.unwrap();
    assert_eq!(dead.len(), 1);
    let dead = entry(&dead, converted.id.as_str());
    assert!(dead.last_error.as_deref().unwrap_or_default().starts_with("CANNOT_UPDATE_CONVERTED_LEAD"), "{dead:#?}");

    let second = run(&stack, "write-back-failures-2").await;

    assert_eq!(second.write_back, WriteBackRun { ok: 1, failed: 1, dead: 0 }, "{second:#?}");
    assert!(sim.record(locked.id.as_str()).unwrap().has_opted_out_of_email, "the lock was released");
    let pending = store.pending_write_backs(&org).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(entry(&pending, invalid.id.as_str()).attempts, 2);

    let third = run(&stack, "write-back-failures-3").await;

    assert_eq!(third.write_back, WriteBackRun { ok: 0, failed: 0, dead: 1 }, "{third:#?}");
    assert!(store.pending_write_backs(&org).await.unwrap().is_empty(), "nothing left to retry");
    let dead = store.dead_letters(&org).await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:#?}");
    let buried = entry(&dead, invalid.id.as_str());
    assert_eq!(buried.attempts, 3);
    assert!(buried.last_error.as_deref().unwrap_or_default().starts_with("INVALID_FIELD"), "{buried:#?}");
    assert!(!sim.record(invalid.id.as_str()).unwrap().has_opted_out_of_email);

    let fourth = run(&stack, "write-back-failures-4").await;
    assert_eq!(fourth.write_back, WriteBackRun::default(), "dead letters are not retried");
}

#[tokio::test]
async fn a_failed_record_waits_for_its_backoff_before_the_next_attempt() {
    let stack = stack(200, 100, |sync| sync.write_back_base_delay = Duration::from_secs(3600)).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let locked = pick(sim, RecipientObject::Contact, |r| !r.has_opted_out_of_email);
    sim.fail_record_writes(locked.id.as_str(), "UNABLE_TO_LOCK_ROW", Some(1)).unwrap();
    enqueue(&stack, locked.id.as_str(), Change::OptOut).await;

    let first = run(&stack, "backoff-1").await;
    let before = now_epoch();

    assert_eq!(first.write_back, WriteBackRun { ok: 0, failed: 1, dead: 0 });
    let pending = stack.stack.services.store.pending_write_backs(&org).await.unwrap();
    let waiting = entry(&pending, locked.id.as_str());
    // Full jitter over the first ceiling (the base delay): between half and all of it.
    assert!((before + 1790..=before + 3600).contains(&waiting.next_attempt_at), "{waiting:#?}");

    let second = run(&stack, "backoff-2").await;

    assert_eq!(second.write_back, WriteBackRun::default(), "not due yet");
    assert_eq!(second.api_calls, 2, "no Collections request");
    assert_eq!(stack.stack.services.store.pending_write_backs(&org).await.unwrap(), pending);
}

#[tokio::test]
async fn a_request_salesforce_refuses_whole_is_retried_a_bounded_number_of_times_then_dead_lettered() {
    let stack = stack(200, 100, |sync| sync.write_back_max_attempts = 2).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    let store = &stack.stack.services.store;
    let contact = pick(sim, RecipientObject::Contact, |r| !r.has_opted_out_of_email);
    let lead = pick(sim, RecipientObject::Lead, |r| !r.has_opted_out_of_email);
    enqueue(&stack, contact.id.as_str(), Change::OptOut).await;
    enqueue(&stack, lead.id.as_str(), Change::OptOut).await;
    sim.refuse_collection_updates(Some("INVALID_FIELD"));

    let first = run(&stack, "refused-whole-1").await;

    assert_eq!(first.status, RunStatus::Complete, "a refused request does not fail the run: {first:#?}");
    assert_eq!(first.write_back, WriteBackRun { ok: 0, failed: 2, dead: 0 });
    let pending = store.pending_write_backs(&org).await.unwrap();
    for record in [&contact, &lead] {
        let waiting = entry(&pending, record.id.as_str());
        assert_eq!(waiting.attempts, 1);
        assert!(waiting.last_error.as_deref().unwrap_or_default().contains("INVALID_FIELD"), "{waiting:#?}");
    }

    let second = run(&stack, "refused-whole-2").await;

    assert_eq!(second.write_back, WriteBackRun { ok: 0, failed: 0, dead: 2 }, "{second:#?}");
    assert!(store.pending_write_backs(&org).await.unwrap().is_empty(), "the queue is not stuck behind them");
    let dead = store.dead_letters(&org).await.unwrap();
    assert!(entry(&dead, lead.id.as_str()).last_error.as_deref().unwrap_or_default().contains("INVALID_FIELD"));

    // Changes queued after them go through once Salesforce accepts requests again.
    sim.refuse_collection_updates(None);
    let later = pick(sim, RecipientObject::Contact, |r| r.id != contact.id && !r.has_opted_out_of_email);
    enqueue(&stack, later.id.as_str(), Change::OptOut).await;
    let third = run(&stack, "refused-whole-3").await;
    assert_eq!(third.write_back, WriteBackRun { ok: 1, failed: 0, dead: 0 });
    assert!(sim.record(later.id.as_str()).unwrap().has_opted_out_of_email);
}

#[tokio::test]
async fn a_session_that_expires_before_the_write_back_is_renewed_once_and_the_write_lands() {
    let stack = stack(200, 100, |_| {}).await;
    let sim = acme_sim(&stack);
    let org = acme_id(&stack);
    run(&stack, "expiry-write-back-first").await;
    let contact = pick(sim, RecipientObject::Contact, |r| !r.has_opted_out_of_email);
    enqueue(&stack, contact.id.as_str(), Change::OptOut).await;
    // Both queries succeed; the session is gone when the Collections request comes.
    sim.expire_sessions_after_calls(Some(2));

    let written = run(&stack, "expiry-write-back").await;

    assert_eq!(written.status, RunStatus::Complete, "{written:#?}");
    assert_eq!(written.write_back, WriteBackRun { ok: 1, failed: 0, dead: 0 });
    assert_eq!(written.api_calls, 4, "two queries, the refused request, and its retry after one login");
    assert!(sim.record(contact.id.as_str()).unwrap().has_opted_out_of_email);
    assert!(stack.stack.services.store.pending_write_backs(&org).await.unwrap().is_empty());
}
