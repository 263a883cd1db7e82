//! The apex function over real HTTP (issue 5): Apex callouts in through the Named Credential's
//! headers (`/apex/v1/records`, `/apex/v1/sync`, `/apex/v1/health`) with their idempotency,
//! bounds and errors; the simulated org playing the triggers; and the call back into the org's
//! Apex REST class with the integration user.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use outpost_tests::outpost_local::provision::ProvisionedOrg;
use outpost_tests::outpost_shared::ids::{OrgId, RecipientObject, RecordId};
use outpost_tests::outpost_shared::namespace::Namespace;
use outpost_tests::outpost_shared::salesforce::{ActivityRequest, ApiMeter, SfDateTime};
use outpost_tests::outpost_shared::store::{IdempotencyClaim, OrgStatus, Recipient, RunStatus, SavedResponse, SyncRun};
use outpost_tests::outpost_sync::{RunOptions, RunOutcome, sync_orgs};
use outpost_tests::salesforce_sim::{CalloutAttempt, CalloutOptions, SObject};
use outpost_tests::{StackOptions, TestStack};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

const RECORDS: &str = "/apex/v1/records";
const SYNC: &str = "/apex/v1/sync";
const HEALTH: &str = "/apex/v1/health";
/// The largest body the apex function reads.
const MAX_BODY: usize = 1024 * 1024;

// ---- helpers ----

/// An answer of the apex function.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// `idempotent-replayed: true`: the saved response of an earlier request.
    replayed: bool,
    json: Value,
}

/// Reads an answer; every answer of the apex function is JSON.
async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let replayed = header("idempotent-replayed").is_some_and(|v| v == "true");
    let content_type = header(CONTENT_TYPE.as_str()).unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(content_type.starts_with("application/json"), "{status} came as {content_type:?}: {text}");
    let json = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{status} is not JSON ({err}): {text}"));
    Reply { status, replayed, json }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    reply(request.send().await.expect("the request reaches Outpost")).await
}

/// Asserts the stable error shape `{"error": {"code", "message"}}`; returns the error object.
fn assert_error<'a>(reply: &'a Reply, status: u16, code: &str) -> &'a Value {
    assert_eq!(reply.status, status, "{}", reply.json);
    let error = &reply.json["error"];
    assert_eq!(error["code"], code, "{}", reply.json);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "a message: {}", reply.json);
    assert!(!reply.replayed, "errors before processing are never replays");
    error
}

/// A POST as the org's Named Credential sends it: its callout key, its org id, JSON, and a key.
fn callout(stack: &TestStack, org: &ProvisionedOrg, path: &str, idempotency_key: &str) -> reqwest::RequestBuilder {
    stack
        .http
        .post(stack.url(path))
        .bearer_auth(&org.callout_key)
        .header("x-outpost-org", org.registration.org_id.to_string())
        .header("idempotency-key", idempotency_key)
        .header(CONTENT_TYPE, "application/json")
}

async fn post_records(stack: &TestStack, org: &ProvisionedOrg, key: &str, body: &Value) -> Reply {
    send(callout(stack, org, RECORDS, key).body(body.to_string())).await
}

/// A Contact as the package's trigger serialises it.
fn contact(id: &str, email: &str, modstamp: SfDateTime) -> Value {
    json!({
        "attributes": {"type": "Contact"},
        "Id": id,
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Email": email,
        "HasOptedOutOfEmail": false,
        "IsEmailBounced": false,
        "EmailBouncedReason": null,
        "EmailBouncedDate": null,
        "SystemModstamp": modstamp.to_string(),
    })
}

fn batch(sobject: &str, records: Vec<Value>, deleted: &[&str]) -> Value {
    json!({"sobject": sobject, "records": records, "deleted": deleted})
}

/// `(id, status)` of every result, in order.
fn outcomes(json: &Value) -> Vec<(String, String)> {
    json["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results: {json}"))
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn expect<S: AsRef<str>>(pairs: &[(S, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(id, status)| (id18(id.as_ref()), (*status).to_owned())).collect()
}

fn id18(id: &str) -> String {
    RecordId::parse(id).unwrap().to_string()
}

/// Live Contacts or Leads of a simulated org (not deleted, not converted).
fn live_ids(stack: &TestStack, org: &ProvisionedOrg, sobject: SObject) -> Vec<String> {
    let records = stack.sim(org).records(sobject);
    records.into_iter().filter(|r| !r.is_deleted && !r.purged && !r.is_converted).map(|r| r.id.to_string()).collect()
}

/// Distinct valid Contact ids that the org does not have (Outpost does not look them up).
fn synthetic_contacts(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("003q0000{n:07}")).collect()
}

async fn stored(stack: &TestStack, org: &ProvisionedOrg, id: &str) -> Option<Recipient> {
    let id = RecordId::parse(id).unwrap();
    stack.stack.services.store.get_recipient(&org.registration.org_id, &id).await.unwrap()
}

/// Every stored recipient of `object`, tombstones included, in store order.
async fn recipients(stack: &TestStack, org: &ProvisionedOrg, object: RecipientObject) -> Vec<Recipient> {
    let store = &stack.stack.services.store;
    let (mut all, mut cursor) = (Vec::new(), None);
    loop {
        let (page, next) = store.list_recipients(&org.registration.org_id, object, cursor, 500).await.unwrap();
        all.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Asserts that the stored recipient is the simulated org's record as it is now.
async fn assert_stored_as_in_salesforce(stack: &TestStack, org: &ProvisionedOrg, id: &str) {
    let record = stack.sim(org).record(id).unwrap();
    let recipient = stored(stack, org, id).await.unwrap_or_else(|| panic!("{id} is stored"));
    assert_eq!(recipient.first_name, record.first_name, "{id}");
    assert_eq!(recipient.last_name.as_deref(), Some(record.last_name.as_str()), "{id}");
    assert_eq!(recipient.email, record.email, "{id}");
    assert_eq!(recipient.opted_out, record.has_opted_out_of_email, "{id}");
    assert_eq!(recipient.bounced, record.is_email_bounced, "{id}");
    assert_eq!(recipient.bounce_reason, record.email_bounced_reason, "{id}");
    assert_eq!(recipient.bounced_at.map(SfDateTime::millis), record.email_bounced_date.map(|d| d.0 * 1000), "{id}");
    assert_eq!(recipient.converted, record.is_converted, "{id}");
    assert_eq!(recipient.modstamp, record.system_modstamp.0 * 1000, "{id}");
    assert_eq!(recipient.is_member(), !record.is_converted, "{id}");
}

/// The scheduled sync of one org, run in process to completion.
async fn run_sync(stack: &TestStack, org: &ProvisionedOrg) {
    let options =
        RunOptions { trigger: "test".into(), deadline: Instant::now() + Duration::from_secs(60), crash: None };
    let outcomes = sync_orgs(&stack.stack.sync, Some(&[org.registration.org_id]), &options).await.unwrap();
    assert!(matches!(&outcomes[..], [(_, RunOutcome::Ran(run))] if run.status == RunStatus::Complete), "{outcomes:?}");
}

/// Waits (bounded) until the org has at least `count` recorded sync runs; newest first.
async fn wait_for_runs(stack: &TestStack, org: &OrgId, count: usize) -> Vec<SyncRun> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = stack.stack.services.store.recent_runs(org, 10).await.unwrap();
        if runs.len() >= count {
            return runs;
        }
        assert!(Instant::now() < deadline, "{count} sync run(s) within 30 s; have {runs:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn attempt_results(attempt: &CalloutAttempt) -> Vec<(String, String)> {
    assert_eq!(attempt.status, 200, "batch {}: {:?} {}", attempt.batch, attempt.error, attempt.body);
    outcomes(&serde_json::from_str(&attempt.body).unwrap())
}

// ---- records: accepted ----

#[tokio::test]
async fn trigger_callouts_update_the_synced_recipient_set_in_batches_of_200() {
    let stack = TestStack::start_with(StackOptions { contacts: 260, ..StackOptions::default() }).await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    run_sync(&stack, acme).await;
    let synced = recipients(&stack, acme, RecipientObject::Contact).await;

    let live = live_ids(&stack, acme, SObject::Contact);
    let (changed, gone) = (&live[..230], &live[230..233]);
    for (n, id) in changed.iter().enumerate() {
        sim.update_record(id, json!({"Email": format!("moved{n}@example.org"), "HasOptedOutOfEmail": n % 7 == 0}))
            .unwrap();
    }
    for id in gone {
        sim.soft_delete(id).unwrap();
    }
    let attempts = sim.fire_callouts(SObject::Contact, changed, gone, CalloutOptions::default()).await.unwrap();

    // Two batches (200 + 30 records; the deletions ride in the first), each with its own key.
    assert_eq!(attempts.iter().map(|a| a.batch).collect::<Vec<_>>(), [0, 1]);
    assert_ne!(attempts[0].idempotency_key, attempts[1].idempotency_key);
    let upserted = |ids: &[String]| ids.iter().map(|id| (id.clone(), "upserted".to_owned())).collect::<Vec<_>>();
    let deleted: Vec<(String, String)> = gone.iter().map(|id| (id.clone(), "deleted".to_owned())).collect();
    assert_eq!(attempt_results(&attempts[0]), [upserted(&changed[..200]), deleted].concat());
    assert_eq!(attempt_results(&attempts[1]), upserted(&changed[200..]));

    for id in changed {
        assert_stored_as_in_salesforce(&stack, acme, id).await;
    }
    for id in gone {
        let tombstone = stored(&stack, acme, id).await.unwrap();
        assert!(tombstone.deleted && !tombstone.is_member(), "{tombstone:?}");
    }
    // The callouts replaced the items the sync wrote: no copies, three fewer members.
    let after = recipients(&stack, acme, RecipientObject::Contact).await;
    assert_eq!(after.len(), synced.len());
    let members = |set: &[Recipient]| set.iter().filter(|r| r.is_member()).count();
    assert_eq!(members(&after), members(&synced) - 3);
}

#[tokio::test]
async fn lead_callouts_take_converted_leads_out_of_the_recipient_set() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let live = live_ids(&stack, acme, SObject::Lead);
    let (converted, edited) = (&live[0], &live[1]);
    sim.convert_lead(converted).unwrap();
    sim.update_record(edited, json!({"FirstName": "Grace", "Email": "grace@example.org"})).unwrap();

    let ids = [converted.clone(), edited.clone()];
    let attempts = sim.fire_callouts(SObject::Lead, &ids, &[], CalloutOptions::default()).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempt_results(&attempts[0]), expect(&[(converted, "upserted"), (edited, "upserted")]));
    assert_stored_as_in_salesforce(&stack, acme, converted).await;
    assert_stored_as_in_salesforce(&stack, acme, edited).await;
    assert!(!stored(&stack, acme, converted).await.unwrap().is_member());
    assert_eq!(stored(&stack, acme, edited).await.unwrap().first_name.as_deref(), Some("Grace"));
}

#[tokio::test]
async fn a_batch_of_200_records_and_200_deletions_is_accepted() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ids = synthetic_contacts(400);
    let modstamp = SfDateTime::now().plus_seconds(-60);
    let records = ids[..200].iter().map(|id| contact(id, "bulk@example.org", modstamp)).collect();
    let deleted: Vec<&str> = ids[200..].iter().map(String::as_str).collect();
    let answer = post_records(&stack, acme, "limits-1", &batch("Contact", records, &deleted)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let statuses = outcomes(&answer.json);
    assert_eq!(statuses.len(), 400);
    assert!(statuses[..200].iter().all(|(_, status)| status == "upserted"), "{statuses:?}");
    assert!(statuses[200..].iter().all(|(_, status)| status == "deleted"), "{statuses:?}");
    assert_eq!(
        statuses.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        ids.iter().map(|id| id18(id)).collect::<Vec<_>>()
    );
    assert!(stored(&stack, acme, &ids[199]).await.unwrap().is_member());
    assert!(stored(&stack, acme, &ids[399]).await.unwrap().deleted);
}

// ---- records: per-record outcomes ----

#[tokio::test]
async fn one_bad_record_is_rejected_alone_and_the_rest_are_applied() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let contacts = live_ids(&stack, acme, SObject::Contact);
    let lead = &live_ids(&stack, acme, SObject::Lead)[0];
    let [good, no_modstamp, bad_flag, bad_date, bad_name, long_email, good_too, gone] =
        std::array::from_fn(|n| &contacts[n]);
    let at = SfDateTime::now().plus_seconds(-3600);
    let mut bounced = contact(good_too, "bounced@example.org", at);
    bounced["HasOptedOutOfEmail"] = json!(true);
    bounced["IsEmailBounced"] = json!(true);
    bounced["EmailBouncedReason"] = json!("550 mailbox unavailable");
    bounced["EmailBouncedDate"] = json!("2026-03-14T09:26:53.000Z");
    let with = |id: &str, field: &str, value: Value| {
        let mut record = contact(id, "x@example.org", at);
        record[field] = value;
        record
    };
    let mut missing_modstamp = contact(no_modstamp, "x@example.org", at);
    missing_modstamp.as_object_mut().unwrap().remove("SystemModstamp");
    let body = batch(
        "Contact",
        vec![
            contact(good, "good@example.org", at),
            contact(lead, "lead@example.org", at),
            missing_modstamp,
            with(bad_flag, "HasOptedOutOfEmail", json!("yes")),
            with(bad_date, "SystemModstamp", json!("yesterday")),
            with(bad_name, "FirstName", json!(42)),
            with(long_email, "Email", json!(format!("{}@example.org", "x".repeat(250)))),
            json!({"Id": "not-an-id", "SystemModstamp": at.to_string()}),
            json!({"LastName": "Nobody", "SystemModstamp": at.to_string()}),
            bounced,
        ],
        &[gone, "bogus", lead],
    );
    let answer = post_records(&stack, acme, "mixed-1", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let results = answer.json["results"].as_array().unwrap();
    let codes: Vec<(&str, &str, Option<&str>)> = results
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["status"].as_str().unwrap(), r["error"]["code"].as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            (good.as_str(), "upserted", None),
            (lead.as_str(), "rejected", Some("invalid_id")),
            (no_modstamp.as_str(), "rejected", Some("invalid_field")),
            (bad_flag.as_str(), "rejected", Some("invalid_field")),
            (bad_date.as_str(), "rejected", Some("invalid_field")),
            (bad_name.as_str(), "rejected", Some("invalid_field")),
            (long_email.as_str(), "rejected", Some("invalid_field")),
            ("not-an-id", "rejected", Some("invalid_id")),
            ("", "rejected", Some("invalid_id")),
            (good_too.as_str(), "upserted", None),
            (gone.as_str(), "deleted", None),
            ("bogus", "rejected", Some("invalid_id")),
            (lead.as_str(), "rejected", Some("invalid_id")),
        ]
    );
    for result in results {
        match result["status"].as_str() {
            Some("rejected") => assert!(result["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{result}"),
            _ => assert!(result.get("error").is_none(), "{result}"),
        }
    }
    assert_eq!(results[2]["error"]["message"], "SystemModstamp is required");

    assert_eq!(stored(&stack, acme, good).await.unwrap().email.as_deref(), Some("good@example.org"));
    let applied = stored(&stack, acme, good_too).await.unwrap();
    assert!(applied.opted_out && applied.bounced, "{applied:?}");
    assert_eq!(applied.bounce_reason.as_deref(), Some("550 mailbox unavailable"));
    assert_eq!(applied.bounced_at, Some(SfDateTime::parse("2026-03-14T09:26:53.000Z").unwrap()));
    assert!(stored(&stack, acme, gone).await.unwrap().deleted);
    for rejected in [lead, no_modstamp, bad_flag, bad_date, bad_name, long_email] {
        assert_eq!(stored(&stack, acme, rejected).await, None, "{rejected} was rejected, so not written");
    }
}

#[tokio::test]
async fn an_older_system_modstamp_never_overwrites_a_newer_one() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ids = live_ids(&stack, acme, SObject::Contact);
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let newer = SfDateTime::now().plus_seconds(-60);
    let older = newer.plus_seconds(-3600);

    // Callouts arriving out of order: the newer first, the older late.
    let first =
        post_records(&stack, acme, "order-1", &batch("Contact", vec![contact(a, "new@example.org", newer)], &[])).await;
    assert_eq!(outcomes(&first.json), expect(&[(a, "upserted")]));
    let late =
        post_records(&stack, acme, "order-2", &batch("Contact", vec![contact(a, "old@example.org", older)], &[])).await;
    assert_eq!(outcomes(&late.json), expect(&[(a, "unchanged")]));
    // The same modstamp is not newer either.
    let same =
        post_records(&stack, acme, "order-3", &batch("Contact", vec![contact(a, "same@example.org", newer)], &[]))
            .await;
    assert_eq!(outcomes(&same.json), expect(&[(a, "unchanged")]));
    let kept = stored(&stack, acme, a).await.unwrap();
    assert_eq!((kept.email.as_deref(), kept.modstamp), (Some("new@example.org"), newer.millis()));

    // Within one batch, in request order.
    let body =
        batch("Contact", vec![contact(b, "b-new@example.org", newer), contact(b, "b-old@example.org", older)], &[]);
    let answer = post_records(&stack, acme, "order-4", &body).await;
    assert_eq!(outcomes(&answer.json), expect(&[(b, "upserted"), (b, "unchanged")]));
    assert_eq!(stored(&stack, acme, b).await.unwrap().email.as_deref(), Some("b-new@example.org"));

    // A deletion is as of its arrival: an edit made before it, arriving after it, stays dead.
    let deleted = post_records(&stack, acme, "order-5", &batch("Contact", vec![], &[c])).await;
    assert_eq!(outcomes(&deleted.json), expect(&[(c, "deleted")]));
    let stale =
        post_records(&stack, acme, "order-6", &batch("Contact", vec![contact(c, "c@example.org", newer)], &[])).await;
    assert_eq!(outcomes(&stale.json), expect(&[(c, "unchanged")]));
    let tombstone = stored(&stack, acme, c).await.unwrap();
    assert!(tombstone.deleted && tombstone.email.is_none(), "{tombstone:?}");
}

#[tokio::test]
async fn a_system_modstamp_from_the_future_is_400_and_cannot_freeze_a_record() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ids = live_ids(&stack, acme, SObject::Contact);
    let a = &ids[0];
    let before = stored(&stack, acme, a).await;
    let future = SfDateTime::now().plus_seconds(3600);

    let refused =
        post_records(&stack, acme, "future-1", &batch("Contact", vec![contact(a, "frozen@example.org", future)], &[]))
            .await;
    let error = assert_error(&refused, 400, "modstamp_in_future");
    assert_eq!(error["path"], "records[0].SystemModstamp");
    assert_eq!(stored(&stack, acme, a).await, before, "nothing was applied");

    // A later, genuine edit still lands.
    let now = SfDateTime::now();
    let later =
        post_records(&stack, acme, "future-2", &batch("Contact", vec![contact(a, "real@example.org", now)], &[])).await;
    assert_eq!(outcomes(&later.json), expect(&[(a, "upserted")]));
    assert_eq!(stored(&stack, acme, a).await.unwrap().email.as_deref(), Some("real@example.org"));
}

// ---- idempotency ----

#[tokio::test]
async fn a_retried_callout_gets_the_saved_response_and_is_applied_once() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ids = live_ids(&stack, acme, SObject::Contact);
    let (a, b) = (&ids[0], &ids[1]);
    let t1 = SfDateTime::now().plus_seconds(-3600);
    let original = batch("Contact", vec![contact(a, "first@example.org", t1)], &[b]);
    let first = post_records(&stack, acme, "retry-1", &original).await;
    assert_eq!((first.status, first.replayed), (200, false));
    assert_eq!(outcomes(&first.json), expect(&[(a, "upserted"), (b, "deleted")]));

    // Newer changes arrive in their own batch: a edited again, b restored just after its deletion.
    let deleted_at = stored(&stack, acme, b).await.unwrap().modstamp;
    let restored_at = SfDateTime::from_millis(deleted_at + 1);
    let newer = batch(
        "Contact",
        vec![contact(a, "second@example.org", t1.plus_seconds(60)), contact(b, "back@example.org", restored_at)],
        &[],
    );
    let second = post_records(&stack, acme, "retry-2", &newer).await;
    assert_eq!(outcomes(&second.json), expect(&[(a, "upserted"), (b, "upserted")]));
    let before = recipients(&stack, acme, RecipientObject::Contact).await;
    // Applied again now, the deletion of b (as of its arrival) would be newer than b's restore.
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Salesforce retries the first batch three times, byte for byte.
    for _ in 0..3 {
        let retry = post_records(&stack, acme, "retry-1", &original).await;
        assert_eq!((retry.status, retry.replayed), (200, true));
        assert_eq!(retry.json, first.json, "the saved response (a second application would not say upserted)");
    }
    assert_eq!(recipients(&stack, acme, RecipientObject::Contact).await, before, "nothing applied again");
    assert_eq!(stored(&stack, acme, a).await.unwrap().email.as_deref(), Some("second@example.org"));
    let b_now = stored(&stack, acme, b).await.unwrap();
    assert!(b_now.is_member() && b_now.email.as_deref() == Some("back@example.org"), "{b_now:?}");
}

#[tokio::test]
async fn apex_retrying_after_a_timeout_is_answered_from_the_saved_response() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let ids: Vec<String> = live_ids(&stack, acme, SObject::Contact)[..3].to_vec();
    for id in &ids {
        sim.update_record(id, json!({"LastName": "Retried"})).unwrap();
    }
    let retried = CalloutOptions { retry_as_if_timed_out: true, key_salt: None };
    let attempts = sim.fire_callouts(SObject::Contact, &ids, &[], retried).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].idempotency_key, attempts[1].idempotency_key);
    let upserted: Vec<(String, String)> = ids.iter().map(|id| (id.clone(), "upserted".to_owned())).collect();
    assert_eq!(attempt_results(&attempts[0]), upserted);
    assert_eq!(attempts[1].body, attempts[0].body, "the retry gets the first answer, not a second application");
    for id in &ids {
        assert_stored_as_in_salesforce(&stack, acme, id).await;
    }

    // The same batch under a new key is a new callout: processed, and stale by its modstamp.
    let salted = CalloutOptions { retry_as_if_timed_out: false, key_salt: Some("again".into()) };
    let again = sim.fire_callouts(SObject::Contact, &ids, &[], salted).await.unwrap();
    assert_ne!(again[0].idempotency_key, attempts[0].idempotency_key);
    let unchanged: Vec<(String, String)> = ids.iter().map(|id| (id.clone(), "unchanged".to_owned())).collect();
    assert_eq!(attempt_results(&again[0]), unchanged);
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_another_body_is_422_and_applies_nothing() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let a = &live_ids(&stack, acme, SObject::Contact)[0];
    let at = SfDateTime::now().plus_seconds(-3600);
    let original = batch("Contact", vec![contact(a, "first@example.org", at)], &[]);
    let first = post_records(&stack, acme, "reused-1", &original).await;
    assert_eq!(outcomes(&first.json), expect(&[(a, "upserted")]));

    let other = batch("Contact", vec![contact(a, "other@example.org", at.plus_seconds(60))], &[]);
    assert_error(&post_records(&stack, acme, "reused-1", &other).await, 422, "idempotency_key_reused");
    // "Sync now" shares the org's keys: a different body under a used key is refused there too.
    assert_error(&send(callout(&stack, acme, SYNC, "reused-1").body("{}")).await, 422, "idempotency_key_reused");
    assert_eq!(stored(&stack, acme, a).await.unwrap().email.as_deref(), Some("first@example.org"));

    // The saved answer is untouched by the refusals.
    let retry = post_records(&stack, acme, "reused-1", &original).await;
    assert_eq!((retry.status, retry.replayed), (200, true));
    assert_eq!(retry.json, first.json);
}

#[tokio::test]
async fn a_retry_while_the_first_attempt_is_processing_gets_409_and_then_its_saved_answer() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let org = acme.registration.org_id;
    let store = &stack.stack.services.store;
    let a = &live_ids(&stack, acme, SObject::Contact)[0];
    let body =
        batch("Contact", vec![contact(a, "a@example.org", SfDateTime::now().plus_seconds(-60))], &[]).to_string();
    // The first attempt has claimed the key and is still working (a slow invocation elsewhere).
    let hash = outpost_tests::outpost_apex::request_hash(RECORDS, body.as_bytes());
    let claim = store.claim_idempotency_key(&org, "in-flight-1", &hash, Duration::from_secs(60)).await.unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);

    let retry = send(callout(&stack, acme, RECORDS, "in-flight-1").body(body.clone())).await;
    assert_error(&retry, 409, "idempotency_in_progress");
    assert_eq!(stored(&stack, acme, a).await, None, "the retry did not process the batch");

    // The first attempt finishes; the next retry is answered with its response, not processed.
    let saved = json!({"results": [{"id": id18(a), "status": "upserted"}]});
    let response = SavedResponse { status: 200, body: saved.to_string() };
    let retention = Duration::from_secs(3600);
    store.complete_idempotency_key(&org, "in-flight-1", &hash, &response, retention).await.unwrap();
    let later = send(callout(&stack, acme, RECORDS, "in-flight-1").body(body)).await;
    assert_eq!((later.status, later.replayed, &later.json), (200, true, &saved));
    assert_eq!(stored(&stack, acme, a).await, None);
}

#[tokio::test]
async fn concurrent_first_uses_of_a_key_are_processed_exactly_once() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ids = synthetic_contacts(200);
    let at = SfDateTime::now().plus_seconds(-60);
    let body = batch("Contact", ids.iter().map(|id| contact(id, "race@example.org", at)).collect(), &[]).to_string();

    let replies = join_all((0..12).map(|_| send(callout(&stack, acme, RECORDS, "race-1").body(body.clone())))).await;
    let processed: Vec<&Reply> = replies.iter().filter(|r| r.status == 200 && !r.replayed).collect();
    assert_eq!(processed.len(), 1, "exactly one processed: {replies:?}");
    let processed = processed[0];
    assert!(outcomes(&processed.json).iter().all(|(_, status)| status == "upserted"), "{}", processed.json);
    for reply in &replies {
        match reply.status {
            200 => assert_eq!(reply.json, processed.json, "a replay is the saved response"),
            _ => {
                assert_error(reply, 409, "idempotency_in_progress");
            }
        }
    }
    // Those told to retry get the saved answer now.
    let retry = send(callout(&stack, acme, RECORDS, "race-1").body(body)).await;
    assert_eq!((retry.status, retry.replayed), (200, true));
    assert_eq!(retry.json, processed.json);
    for id in [&ids[0], &ids[199]] {
        assert_eq!(stored(&stack, acme, id).await.unwrap().email.as_deref(), Some("race@example.org"));
    }
}

// ---- authentication ----

#[tokio::test]
async fn callouts_without_the_orgs_callout_key_are_401_and_change_nothing() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let a = &live_ids(&stack, acme, SObject::Contact)[0];
    let body =
        batch("Contact", vec![contact(a, "a@example.org", SfDateTime::now().plus_seconds(-60))], &[]).to_string();
    let org = acme.registration.org_id.to_string();
    let post = |path: &str, key: &str| {
        stack
            .http
            .post(stack.url(path))
            .header("idempotency-key", key)
            .header(CONTENT_TYPE, "application/json")
            .body(if path == RECORDS { body.clone() } else { "{}".to_owned() })
    };
    let refused = [
        ("no credentials", post(RECORDS, "auth-1")),
        ("no key", post(RECORDS, "auth-2").header("x-outpost-org", &org)),
        ("wrong key", post(RECORDS, "auth-3").header("x-outpost-org", &org).bearer_auth("not-the-key")),
        ("empty key", post(RECORDS, "auth-4").header("x-outpost-org", &org).header(AUTHORIZATION, "Bearer ")),
        (
            "not bearer",
            post(RECORDS, "auth-5").header("x-outpost-org", &org).basic_auth(&acme.callout_key, None::<&str>),
        ),
        ("no org", post(RECORDS, "auth-6").bearer_auth(&acme.callout_key)),
        ("malformed org", post(RECORDS, "auth-7").header("x-outpost-org", "acme").bearer_auth(&acme.callout_key)),
        ("sync, no key", post(SYNC, "auth-8").header("x-outpost-org", &org)),
        ("sync, wrong key", post(SYNC, "auth-9").header("x-outpost-org", &org).bearer_auth("not-the-key")),
        ("health, no key", stack.http.get(stack.url(HEALTH)).header("x-outpost-org", &org)),
        ("health, wrong key", stack.http.get(stack.url(HEALTH)).header("x-outpost-org", &org).bearer_auth("nope")),
    ];
    for (case, request) in refused {
        let response = request.send().await.unwrap();
        let challenge = response.headers().get(reqwest::header::WWW_AUTHENTICATE).cloned();
        let cache = response.headers().get(reqwest::header::CACHE_CONTROL).cloned();
        assert_eq!(cache.as_ref().and_then(|value| value.to_str().ok()), Some("no-store"), "{case}: never cached");
        let answer = reply(response).await;
        assert_eq!(answer.status, 401, "{case}: {}", answer.json);
        assert_error(&answer, 401, "unauthenticated");
        assert!(challenge.is_some_and(|c| c.to_str().unwrap().starts_with("Bearer")), "{case}: a Bearer challenge");
    }
    assert_eq!(stored(&stack, acme, a).await, None);
    // None of the refused "sync now" requests was queued.
    let sync = send(callout(&stack, acme, SYNC, "auth-10").body("{}")).await;
    assert_eq!((sync.status, &sync.json), (202, &json!({"status": "queued"})));
    // A refused request does not use up its idempotency key either.
    // The scheme is case-insensitive (RFC 9110): a lower-case "bearer" carries the key as well.
    let lower = post(RECORDS, "auth-3").header("x-outpost-org", &org);
    let accepted =
        reply(lower.header(AUTHORIZATION, format!("bearer {}", acme.callout_key)).send().await.unwrap()).await;
    assert_eq!((accepted.status, accepted.replayed), (200, false), "{}", accepted.json);
    assert_eq!(outcomes(&accepted.json), expect(&[(a, "upserted")]));
}

#[tokio::test]
async fn callouts_for_unregistered_or_other_orgs_are_refused() {
    let stack = TestStack::start().await;
    let (acme, globex) = (stack.acme(), stack.globex());
    let a = &live_ids(&stack, acme, SObject::Contact)[0];
    let body =
        batch("Contact", vec![contact(a, "a@example.org", SfDateTime::now().plus_seconds(-60))], &[]).to_string();
    let as_org = |org: &str, key: &str, idempotency_key: &str| {
        stack
            .http
            .post(stack.url(RECORDS))
            .bearer_auth(key)
            .header("x-outpost-org", org)
            .header("idempotency-key", idempotency_key)
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone())
    };
    let (acme_id, globex_id) = (acme.registration.org_id.to_string(), globex.registration.org_id.to_string());

    // An org that never registered (a real org id, 15 or 18 characters): refused as a wrong key
    // is, so the answer never tells which org ids are registered.
    for unknown in ["00D5g0000Unknwn", "00Dx0000000BV7zEAG"] {
        let answer = send(as_org(unknown, &acme.callout_key, "foreign-1")).await;
        assert_error(&answer, 401, "unauthenticated");
    }
    // One registered org's key never opens another's door.
    assert_error(&send(as_org(&acme_id, &globex.callout_key, "foreign-2")).await, 401, "unauthenticated");
    assert_error(&send(as_org(&globex_id, &acme.callout_key, "foreign-3")).await, 401, "unauthenticated");
    assert_eq!(stored(&stack, acme, a).await, None);
    assert_eq!(stored(&stack, globex, a).await, None);

    // Each org's callouts land in its own recipient set, and keys are per org.
    // (Both simulated orgs number their records alike: take one Acme's callout did not name.)
    let g = &live_ids(&stack, globex, SObject::Contact).into_iter().find(|id| id != a).unwrap();
    let globex_body = batch("Contact", vec![contact(g, "g@example.org", SfDateTime::now().plus_seconds(-60))], &[]);
    let from_acme = send(as_org(&acme_id, &acme.callout_key, "shared-key")).await;
    let from_globex = post_records(&stack, globex, "shared-key", &globex_body).await;
    assert_eq!((from_acme.status, from_acme.replayed), (200, false));
    assert_eq!((from_globex.status, from_globex.replayed), (200, false));
    assert_eq!(outcomes(&from_globex.json), expect(&[(g, "upserted")]));
    assert!(stored(&stack, acme, a).await.is_some() && stored(&stack, globex, a).await.is_none());
    assert!(stored(&stack, globex, g).await.is_some() && stored(&stack, acme, g).await.is_none());
}

#[tokio::test]
async fn callouts_from_an_inactive_org_are_refused_like_a_wrong_key_even_with_the_right_one() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let store = &stack.stack.services.store;
    let a = &live_ids(&stack, acme, SObject::Contact)[0];
    let body = batch("Contact", vec![contact(a, "a@example.org", SfDateTime::now().plus_seconds(-60))], &[]);
    set_status(&stack, acme, OrgStatus::Inactive).await;

    assert_error(&post_records(&stack, acme, "inactive-1", &body).await, 401, "unauthenticated");
    assert_error(&send(callout(&stack, acme, SYNC, "inactive-2").body("{}")).await, 401, "unauthenticated");
    let org = acme.registration.org_id.to_string();
    let health = stack.http.get(stack.url(HEALTH)).bearer_auth(&acme.callout_key).header("x-outpost-org", org);
    assert_error(&send(health).await, 401, "unauthenticated");
    assert_eq!(stored(&stack, acme, a).await, None);
    assert!(store.recent_runs(&acme.registration.org_id, 1).await.unwrap().is_empty());

    // Reactivated, the same callout goes through: the status was the only reason.
    set_status(&stack, acme, OrgStatus::Active).await;
    let answer = post_records(&stack, acme, "inactive-1", &body).await;
    assert_eq!(outcomes(&answer.json), expect(&[(a, "upserted")]));
}

/// Changes an org's registration status the way an operator would (`put_org`).
async fn set_status(stack: &TestStack, org: &ProvisionedOrg, status: OrgStatus) {
    let store = &stack.stack.services.store;
    let mut registration = store.get_org(&org.registration.org_id).await.unwrap().unwrap();
    registration.status = status;
    store.put_org(&registration).await.unwrap();
}

#[tokio::test]
async fn health_answers_for_the_calling_org_with_the_key_the_admin_configured() {
    let stack = TestStack::start().await;
    let info: Value = stack.get(&stack.url("/_local/info")).await.json().await.unwrap();
    let key = info["callout_key"].as_str().unwrap();
    let org = info["org_id"].as_str().unwrap();
    let health = |org: &str, key: &str| stack.http.get(stack.url(HEALTH)).bearer_auth(key).header("x-outpost-org", org);

    let acme = send(health(org, key)).await;
    assert_eq!(acme.status, 200, "{}", acme.json);
    assert_eq!(acme.json, json!({"status": "ok", "org_id": org, "org_name": "Acme Sim", "mode": "per_user"}));
    let globex = stack.globex();
    let globex_id = globex.registration.org_id.to_string();
    let other = send(health(&globex_id, &globex.callout_key)).await;
    assert_eq!(other.json, json!({"status": "ok", "org_id": globex_id, "org_name": "Globex Sim", "mode": "org_wide"}));
    assert_error(&send(health(&globex_id, key)).await, 401, "unauthenticated");
}

// ---- bounds and malformed input ----

/// A built request whose `Content-Type` is replaced (`None`: removed).
fn with_content_type(request: reqwest::RequestBuilder, content_type: Option<&str>) -> reqwest::Request {
    let mut request = request.build().unwrap();
    match content_type {
        Some(value) => request.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap()),
        None => request.headers_mut().remove(CONTENT_TYPE),
    };
    request
}

async fn execute(stack: &TestStack, request: reqwest::Request) -> Reply {
    reply(stack.http.execute(request).await.expect("the request reaches Outpost")).await
}

/// `prefix` padded with trailing whitespace (still the same JSON) to exactly `size` bytes.
fn padded(prefix: &Value, size: usize) -> String {
    let text = prefix.to_string();
    assert!(text.len() <= size);
    format!("{text}{}", " ".repeat(size - text.len()))
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no declared length) over a raw connection;
/// returns the status and the body of the answer.
async fn post_chunked(stack: &TestStack, org: &ProvisionedOrg, key: &str, body: &[u8]) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = stack.stack.base_url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {RECORDS} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nX-Outpost-Org: {}\r\n\
         Idempotency-Key: {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        org.callout_key, org.registration.org_id
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(16 * 1024) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        // The server may answer and stop reading once it has seen too much.
        if socket.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _closed = socket.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    // A reset after the answer is fine: what arrived before it is kept.
    let _reset = socket.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("an HTTP answer: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, serde_json::from_str(body).unwrap_or_else(|err| panic!("{err}: {body:?}")))
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413_and_one_mebibyte_is_read() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let ids = live_ids(&stack, acme, SObject::Contact);
    let at = SfDateTime::now().plus_seconds(-60);
    let one = |id: &str| batch("Contact", vec![contact(id, "big@example.org", at)], &[]);

    let exactly = send(callout(&stack, acme, RECORDS, "size-1").body(padded(&one(&ids[0]), MAX_BODY))).await;
    assert_eq!(outcomes(&exactly.json), expect(&[(&ids[0], "upserted")]));

    let over = send(callout(&stack, acme, RECORDS, "size-2").body(padded(&one(&ids[1]), MAX_BODY + 1))).await;
    let error = assert_error(&over, 413, "payload_too_large");
    assert!(error["message"].as_str().unwrap().contains(&MAX_BODY.to_string()), "{error}");
    assert_eq!(stored(&stack, acme, &ids[1]).await, None);

    // Without a declared length the body is still read no further than the limit.
    let chunked = padded(&one(&ids[2]), 2 * MAX_BODY);
    let (status, json) = post_chunked(&stack, acme, "size-3", chunked.as_bytes()).await;
    assert_eq!((status, &json["error"]["code"]), (413, &json!("payload_too_large")), "{json}");
    assert_eq!(stored(&stack, acme, &ids[2]).await, None);
    // A chunked body within the limit is fine.
    let (status, json) = post_chunked(&stack, acme, "size-4", padded(&one(&ids[3]), 100_000).as_bytes()).await;
    assert_eq!((status, outcomes(&json)), (200, expect(&[(&ids[3], "upserted")])));

    // Over the record limits: 201 records, or 201 deletions.
    let many = synthetic_contacts(201);
    let records = many.iter().map(|id| contact(id, "x@example.org", at)).collect();
    let too_many = post_records(&stack, acme, "size-5", &batch("Contact", records, &[])).await;
    assert_eq!(assert_error(&too_many, 400, "invalid_payload")["path"], "records");
    let deleted: Vec<&str> = many.iter().map(String::as_str).collect();
    let too_many = post_records(&stack, acme, "size-6", &batch("Contact", vec![], &deleted)).await;
    assert_eq!(assert_error(&too_many, 400, "invalid_payload")["path"], "deleted");
    assert_eq!(stored(&stack, acme, &many[0]).await, None);
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_stable_error_codes_and_paths() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let a = &live_ids(&stack, acme, SObject::Contact)[0];
    let at = SfDateTime::now().plus_seconds(-60);
    let good = batch("Contact", vec![contact(a, "a@example.org", at)], &[]).to_string();
    let keys = std::sync::atomic::AtomicUsize::new(0);
    let key = || format!("malformed-{}", keys.fetch_add(1, std::sync::atomic::Ordering::Relaxed));

    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/jsonx")]
    {
        let request = with_content_type(callout(&stack, acme, RECORDS, &key()).body(good.clone()), content_type);
        assert_error(&execute(&stack, request).await, 415, "unsupported_media_type");
    }
    let sync = with_content_type(callout(&stack, acme, SYNC, &key()).body("{}"), Some("text/plain"));
    assert_error(&execute(&stack, sync).await, 415, "unsupported_media_type");

    let not_json =
        ["", "not json", r#"{"sobject": "Contact", "records": ["#, &format!("{good} {good}"), &format!("{good}]")];
    for text in not_json {
        let answer = send(callout(&stack, acme, RECORDS, &key()).body(text.to_owned())).await;
        assert_error(&answer, 400, "invalid_json");
    }
    for text in ["", "{", "{} trailing", "[]", r#"{"now": true}"#] {
        let answer = send(callout(&stack, acme, SYNC, &key()).body(text.to_owned())).await;
        let code = if matches!(text, "[]" | r#"{"now": true}"#) { "invalid_payload" } else { "invalid_json" };
        assert_error(&answer, 400, code);
    }

    let schema_errors = [
        (json!({"sobject": "Account", "records": []}), "sobject"),
        (json!({"sobject": null}), "sobject"),
        (json!({"sobject": "Contact", "records": [contact(a, "a@example.org", at), {}, {}, 7]}), "records[3]"),
        (json!({"sobject": "Contact", "records": {"Id": a}}), "records"),
        (json!({"sobject": "Contact", "deleted": a}), "deleted"),
        (json!({"sobject": "Contact", "deleted": [a, 7]}), "deleted[1]"),
    ];
    for (body, path) in schema_errors {
        let answer = post_records(&stack, acme, &key(), &body).await;
        assert_eq!(assert_error(&answer, 400, "invalid_payload")["path"], path, "{body}");
    }
    for body in [json!({"records": []}), json!({"sobject": "Contact", "extra": 1}), json!(["Contact"])] {
        let answer = post_records(&stack, acme, &key(), &body).await;
        assert!(assert_error(&answer, 400, "invalid_payload")["path"].is_string(), "{body}: {}", answer.json);
    }

    // Every POST names its Idempotency-Key: one visible-ASCII token of at most 255 characters.
    let request = |key: Option<&str>| {
        let request = stack
            .http
            .post(stack.url(RECORDS))
            .bearer_auth(&acme.callout_key)
            .header("x-outpost-org", acme.registration.org_id.to_string())
            .header(CONTENT_TYPE, "application/json")
            .body(good.clone());
        match key {
            Some(key) => request.header("idempotency-key", key),
            None => request,
        }
    };
    assert_error(&send(request(None)).await, 400, "idempotency_key_missing");
    for bad in ["", "two words", &"k".repeat(256), "tab\tinside"] {
        assert_error(&send(request(Some(bad))).await, 400, "idempotency_key_invalid");
    }
    assert_eq!(stored(&stack, acme, a).await, None, "nothing refused was applied");
    let longest = send(request(Some(&"k".repeat(255)))).await;
    assert_eq!(outcomes(&longest.json), expect(&[(a, "upserted")]));
    // A JSON content type with parameters is JSON.
    let b = &live_ids(&stack, acme, SObject::Contact)[1];
    let body = batch("Contact", vec![contact(b, "b@example.org", at)], &[]).to_string();
    let with_charset =
        with_content_type(callout(&stack, acme, RECORDS, &key()).body(body), Some("application/json; charset=utf-8"));
    assert_eq!(outcomes(&execute(&stack, with_charset).await.json), expect(&[(b, "upserted")]));
}

// ---- sync now ----

#[tokio::test]
async fn sync_now_is_accepted_at_once_runs_in_the_background_and_never_twice_at_a_time() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let org = acme.registration.org_id;
    let store = &stack.stack.services.store;
    // Every Salesforce call of the run takes a while, so the run is still on while we ask again.
    stack.sim(acme).set_latency(Duration::from_millis(400));

    let first = send(callout(&stack, acme, SYNC, "sync-1").body("{}")).await;
    assert_eq!((first.status, first.replayed, &first.json), (202, false, &json!({"status": "queued"})));
    assert!(store.recent_runs(&org, 10).await.unwrap().is_empty(), "answered before the run got anywhere");

    // Admins clicking again while it is queued or running: absorbed into one pending request. A run
    // takes the pending request as it starts, so at most one click of the burst queues a follow-up.
    let burst =
        join_all((0..8).map(|n| send(callout(&stack, acme, SYNC, &format!("sync-burst-{n}")).body("{}")))).await;
    let queued = burst.iter().filter(|answer| answer.json == json!({"status": "queued"})).count();
    assert!(queued <= 1, "{burst:?}");
    for answer in &burst {
        assert_eq!((answer.status, answer.replayed), (202, false));
        assert!(answer.json == json!({"status": "queued"}) || answer.json == json!({"status": "already_queued"}));
    }
    // Apex retrying the first request gets its saved answer (processing it now would say already_queued).
    let retry = send(callout(&stack, acme, SYNC, "sync-1").body("{}")).await;
    assert_eq!((retry.status, retry.replayed, &retry.json), (202, true, &json!({"status": "queued"})));

    let runs = wait_for_runs(&stack, &org, 1 + queued).await;
    assert_eq!(runs.len(), 1 + queued, "one run for the first request, one for a click during it: {runs:?}");
    for run in &runs {
        assert_eq!((run.trigger.as_str(), run.status), ("apex", RunStatus::Complete), "{run:?}");
    }
    // Never two at a time: each run ended before the next began.
    for (later, earlier) in runs.iter().zip(runs.iter().skip(1)) {
        let earlier_end = earlier.started_at.millis() + i64::try_from(earlier.duration_ms).unwrap();
        assert!(earlier_end <= later.started_at.millis(), "{earlier:?} overlaps {later:?}");
    }
    assert!(runs.last().unwrap().contacts.pulled > 0 && runs.last().unwrap().leads.pulled > 0, "{runs:?}");
    let synced = live_ids(&stack, acme, SObject::Contact);
    assert!(stored(&stack, acme, &synced[0]).await.is_some_and(|r| r.is_member()));

    // With no run pending or running, "sync now" queues again and gets its run.
    stack.sim(acme).set_latency(Duration::ZERO);
    let again = send(callout(&stack, acme, SYNC, "sync-again").body("{}")).await;
    assert_eq!((again.status, &again.json), (202, &json!({"status": "queued"})));
    let runs = wait_for_runs(&stack, &org, 2 + queued).await;
    assert!(runs.iter().all(|run| run.trigger == "apex"), "{runs:?}");
}

// ---- Outpost → Apex ----

#[tokio::test]
async fn the_integration_user_logs_activity_through_the_orgs_apex_rest_class() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let contact = live_ids(&stack, acme, SObject::Contact)[0].clone();
    let gone = live_ids(&stack, acme, SObject::Contact)[1].clone();
    let lead = live_ids(&stack, acme, SObject::Lead)[0].clone();
    sim.soft_delete(&gone).unwrap();
    let meter = Arc::new(ApiMeter::default());
    let connection = stack.stack.sync.login.connect(&acme.registration, Arc::clone(&meter)).await.unwrap();
    let calls = meter.calls();

    let request = ActivityRequest {
        subject: "Newsletter delivered".into(),
        description: Some("Spring issue".into()),
        activity_date: "2026-03-14".into(),
        who_ids: [&contact, &lead, &gone].map(|id| RecordId::parse(id).unwrap()).to_vec(),
    };
    let response = connection.record_activity(None, &request).await.unwrap();
    assert_eq!(meter.calls() - calls, 1, "one API call");

    let results = &response.results;
    assert_eq!(
        results.iter().map(|r| (r.who_id.as_str(), r.success)).collect::<Vec<_>>(),
        [(contact.as_str(), true), (lead.as_str(), true), (gone.as_str(), false)]
    );
    assert!(results[2].error.as_deref().is_some_and(|e| e.starts_with("ENTITY_IS_DELETED")), "{results:?}");
    let integration_user = sim.integration_user().unwrap().id;
    let tasks = sim.tasks();
    assert_eq!(tasks.len(), 2);
    for result in &results[..2] {
        let task_id = result.task_id.as_deref().unwrap();
        let task = tasks.iter().find(|t| t.id.as_str() == task_id).unwrap_or_else(|| panic!("task {task_id}"));
        assert_eq!(task.who_id.as_str(), result.who_id);
        assert_eq!(task.subject, "Newsletter delivered");
        assert_eq!(task.description.as_deref(), Some("Spring issue"));
        assert_eq!(task.activity_date.format().as_str(), "2026-03-14");
        assert_eq!(task.status, "Completed");
        assert_eq!(task.owner_id, integration_user, "created as the integration user");
    }
}

#[tokio::test]
async fn an_activity_call_is_never_resent_and_never_sent_outside_the_classs_limits() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let contact = RecordId::parse(&live_ids(&stack, acme, SObject::Contact)[0]).unwrap();
    let meter = Arc::new(ApiMeter::default());
    let connection = stack.stack.sync.login.connect(&acme.registration, Arc::clone(&meter)).await.unwrap();
    let request = |who_ids: Vec<RecordId>| ActivityRequest {
        subject: "Newsletter delivered".into(),
        description: None,
        activity_date: "2026-03-14".into(),
        who_ids,
    };

    // Creating Tasks is not idempotent: a failure after sending is reported, not retried.
    let calls = meter.calls();
    sim.fail_next_calls(1);
    assert!(connection.record_activity(None, &request(vec![contact])).await.is_err());
    assert_eq!(meter.calls() - calls, 1, "sent once");
    assert!(sim.tasks().is_empty());

    // 0 or 201 records: refused before any request.
    let calls = meter.calls();
    assert!(connection.record_activity(None, &request(vec![])).await.is_err());
    assert!(connection.record_activity(None, &request(vec![contact; 201])).await.is_err());
    assert_eq!(meter.calls(), calls, "nothing sent");

    let response = connection.record_activity(None, &request(vec![contact; 2])).await.unwrap();
    assert!(response.results.iter().all(|r| r.success), "{:?}", response.results);
    assert_eq!(sim.tasks().len(), 2);
}

#[tokio::test]
async fn a_managed_package_is_called_under_its_namespace() {
    let stack = TestStack::start().await;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let contact = RecordId::parse(&live_ids(&stack, acme, SObject::Contact)[0]).unwrap();
    let connection = stack.stack.sync.login.connect(&acme.registration, Arc::new(ApiMeter::default())).await.unwrap();
    let request = ActivityRequest {
        subject: "Newsletter delivered".into(),
        description: None,
        activity_date: "2026-03-14".into(),
        who_ids: vec![contact],
    };
    sim.set_namespace(Some("acmepkg"));

    let unnamespaced = connection.record_activity(None, &request).await;
    assert!(matches!(unnamespaced, Err(ref err) if err.code() == "NOT_FOUND"), "{unnamespaced:?}");
    assert!(sim.tasks().is_empty(), "nothing was created at the wrong path");
    let namespace = Namespace::parse("acmepkg").unwrap();
    let response = connection.record_activity(Some(&namespace), &request).await.unwrap();
    assert!(response.results.iter().all(|r| r.success), "{:?}", response.results);
    assert_eq!(sim.tasks().len(), 1);
}
