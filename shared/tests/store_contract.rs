//! One contract for both store adapters: every test runs against the embedded table and against
//! DynamoDB as served by moto (`AWS_ENDPOINT_URL`, set by `infra/test.sh`).

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic is the failure report.

use std::sync::Arc;
use std::time::Duration;

use outpost_shared::campaigns::{
    Campaign, CampaignContent, CampaignRequest, CampaignStatus, Counter, Counts, Delivery, SendState, Suppression,
    SuppressionReason,
};
use outpost_shared::crypto;
use outpost_shared::ids::{OrgId, RecipientObject, RecordId, UserId};
use outpost_shared::salesforce::SfDateTime;
use outpost_shared::services::aws_clients;
use outpost_shared::store::table::{BatchPut, Condition, Key, Table, Write};
use outpost_shared::store::*;
use serde::{Deserialize, Serialize};

/// A fresh embedded store in its own temporary directory (kept alive by the returned guard).
fn embedded() -> (Items<EmbeddedTable>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let table = EmbeddedTable::open(&dir.path().join("store")).expect("open embedded table");
    (Items::new(table), dir)
}

/// A fresh DynamoDB table on the moto server the test command started, reached through the
/// functions' own client (its HTTP connector included).
async fn dynamo() -> (Items<DynamoTable>, ()) {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL must name the moto server: run the tests through ./infra/test.sh"
    );
    let (client, _) = aws_clients().unwrap();
    let name = format!("contract-{}", &crypto::random_token()[..12]).replace(['_', '-'], "x");
    DynamoTable::create_if_missing(&client, &name).await.expect("create table");
    (Items::new(DynamoTable::new(client, name)), ())
}

/// Declares each contract test once per adapter.
macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod embedded_table {
            $(
                #[tokio::test]
                async fn $test() {
                    let (store, _guard) = super::embedded();
                    super::$test(store).await;
                }
            )*
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test]
                async fn $test() {
                    let (store, _guard) = super::dynamo().await;
                    super::$test(store).await;
                }
            )*
        }
    };
}

contract!(
    registers_updates_and_lists_orgs,
    lists_more_orgs_than_one_page,
    creates_a_user_mapping_once,
    sessions_live_slide_and_end,
    expired_items_read_as_absent,
    validated_sessions_are_cached_until_they_expire,
    idempotency_keys_replay_conflict_and_release,
    one_of_two_concurrent_claims_wins,
    checkpoints_start_initial_and_round_trip,
    a_sync_page_lands_with_its_checkpoint,
    batches_and_pages_cover_every_item,
    conditional_writes_follow_the_condition,
    recipients_keep_the_newest_modstamp,
    recipients_are_read_many_at_a_time_in_the_order_asked,
    recipients_list_across_shards_per_object,
    write_backs_queue_once_retry_and_bury,
    sync_runs_leases_and_requests,
    the_recipients_version_moves_when_marked,
    lists_are_revised_listed_and_deleted_with_members,
    org_fields_and_selections_round_trip,
    counters_add_atomically_and_respect_their_ceiling,
    campaign_deliveries_are_claimed_once_and_updated_by_stamp,
    campaigns_suppressions_and_requests_round_trip,
);

fn random_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = crypto::random_bytes::<12>();
    let tail: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("{prefix}{tail}")
}

fn random_org() -> OrgId {
    OrgId::parse(&random_id("00D")).expect("valid org id")
}

fn random_user() -> UserId {
    UserId::parse(&random_id("005")).expect("valid user id")
}

fn registration(org: OrgId, mode: ProvisioningMode) -> OrgRegistration {
    OrgRegistration {
        org_id: org,
        name: "Acme".into(),
        pinned_host: "acme.my.salesforce.com".into(),
        mode,
        status: OrgStatus::Active,
        secrets: OrgSecretNames::conventional("outpost", &org),
        registered_at: now_epoch(),
        settings: Default::default(),
        namespace: None,
    }
}

fn session(org: OrgId, user: UserId, expires_in: i64) -> OutpostSession {
    let now = now_epoch();
    OutpostSession {
        token_hash: crypto::sha256_hex(crypto::random_token().as_bytes()),
        org_id: org,
        user_id: user,
        mode: ProvisioningMode::PerUser,
        created_at: now,
        expires_at: now + expires_in,
        absolute_expires_at: now + 3600,
    }
}

async fn registers_updates_and_lists_orgs<T: Table>(store: Items<T>) {
    let a = random_org();
    let b = random_org();
    store.put_org(&registration(a, ProvisioningMode::PerUser)).await.unwrap();
    store.put_org(&registration(b, ProvisioningMode::OrgWide)).await.unwrap();
    assert_eq!(store.get_org(&a).await.unwrap().unwrap().mode, ProvisioningMode::PerUser);
    assert!(store.get_org(&random_org()).await.unwrap().is_none());

    let mut inactive = registration(a, ProvisioningMode::PerUser);
    inactive.status = OrgStatus::Inactive;
    store.put_org(&inactive).await.unwrap();
    assert!(!store.get_org(&a).await.unwrap().unwrap().is_active());

    let listed: Vec<OrgId> = store.list_orgs().await.unwrap().into_iter().map(|o| o.org_id).collect();
    assert!(listed.contains(&a) && listed.contains(&b), "{listed:?}");
}

async fn lists_more_orgs_than_one_page<T: Table>(store: Items<T>) {
    let orgs: Vec<OrgId> = (0..230).map(|_| random_org()).collect();
    for org in &orgs {
        store.put_org(&registration(*org, ProvisioningMode::PerUser)).await.unwrap();
    }
    let listed = store.list_orgs().await.unwrap();
    for org in &orgs {
        assert!(listed.iter().any(|o| o.org_id == *org));
    }
    assert_eq!(listed.len(), orgs.len());
}

async fn creates_a_user_mapping_once<T: Table>(store: Items<T>) {
    let org = random_org();
    let user = random_user();
    let mapping = UserMapping {
        org_id: org,
        user_id: user,
        display_name: "Ada".into(),
        reply_to: "ada@example.com".into(),
        source: MappingSource::Onboarding,
        consented_at: Some(now_epoch()),
        created_at: now_epoch(),
    };
    assert_eq!(store.create_user(&mapping).await.unwrap(), Created::Created);
    let second = UserMapping { display_name: "Someone else".into(), ..mapping.clone() };
    assert_eq!(store.create_user(&second).await.unwrap(), Created::AlreadyExists);
    assert_eq!(store.get_user(&org, &user).await.unwrap(), Some(mapping));
    assert!(store.get_user(&org, &random_user()).await.unwrap().is_none());
}

async fn sessions_live_slide_and_end<T: Table>(store: Items<T>) {
    let mut live = session(random_org(), random_user(), 600);
    store.create_session(&live).await.unwrap();
    assert!(matches!(store.create_session(&live).await, Err(StoreError::Conflict)));
    assert_eq!(store.get_session(&live.token_hash).await.unwrap().as_ref(), Some(&live));

    live.expires_at += 300;
    store.extend_session(&live).await.unwrap();
    assert_eq!(store.get_session(&live.token_hash).await.unwrap().unwrap().expires_at, live.expires_at);

    store.delete_session(&live.token_hash).await.unwrap();
    assert!(store.get_session(&live.token_hash).await.unwrap().is_none());
    // Sliding a deleted session must not bring it back.
    store.extend_session(&live).await.unwrap();
    assert!(store.get_session(&live.token_hash).await.unwrap().is_none());
}

async fn expired_items_read_as_absent<T: Table>(store: Items<T>) {
    let expired = session(random_org(), random_user(), -1);
    store.create_session(&expired).await.unwrap();
    assert!(store.get_session(&expired.token_hash).await.unwrap().is_none());
    // An expired item does not block a create under its key either.
    store.create_session(&expired).await.unwrap();
}

async fn validated_sessions_are_cached_until_they_expire<T: Table>(store: Items<T>) {
    let sid_hash = crypto::sha256_hex(b"00Dx0000000BV7z!session");
    let cached = ValidatedSession {
        sid_hash: sid_hash.clone(),
        org_id: random_org(),
        user_id: random_user(),
        expires_at: now_epoch() + 300,
    };
    store.put_validated(&cached).await.unwrap();
    assert_eq!(store.get_validated(&sid_hash).await.unwrap(), Some(cached.clone()));
    let stale = ValidatedSession { expires_at: now_epoch() - 1, ..cached };
    store.put_validated(&stale).await.unwrap();
    assert!(store.get_validated(&sid_hash).await.unwrap().is_none());
}

async fn idempotency_keys_replay_conflict_and_release<T: Table>(store: Items<T>) {
    let org = random_org();
    let lease = Duration::from_secs(60);
    let retention = Duration::from_secs(3600);
    let claim = |key: &'static str, hash: &'static str| store.claim_idempotency_key(&org, key, hash, lease);

    assert_eq!(claim("k1", "h1").await.unwrap(), IdempotencyClaim::Claimed);
    assert_eq!(claim("k1", "h1").await.unwrap(), IdempotencyClaim::InProgress);
    assert_eq!(claim("k1", "h2").await.unwrap(), IdempotencyClaim::Mismatch);

    let saved = SavedResponse { status: 200, body: r#"{"results":[]}"#.into() };
    store.complete_idempotency_key(&org, "k1", "h1", &saved, retention).await.unwrap();
    assert_eq!(claim("k1", "h1").await.unwrap(), IdempotencyClaim::Replay(saved.clone()));
    assert_eq!(claim("k1", "h2").await.unwrap(), IdempotencyClaim::Mismatch);
    // Another org's identical key is independent.
    assert_eq!(store.claim_idempotency_key(&random_org(), "k1", "h1", lease).await.unwrap(), IdempotencyClaim::Claimed);

    assert_eq!(claim("k2", "h1").await.unwrap(), IdempotencyClaim::Claimed);
    store.release_idempotency_key(&org, "k2", "h1").await.unwrap();
    assert_eq!(claim("k2", "h1").await.unwrap(), IdempotencyClaim::Claimed);

    // A lapsed lease frees the key.
    assert_eq!(store.claim_idempotency_key(&org, "k3", "h1", Duration::ZERO).await.unwrap(), IdempotencyClaim::Claimed);
    assert_eq!(claim("k3", "h1").await.unwrap(), IdempotencyClaim::Claimed);
}

async fn one_of_two_concurrent_claims_wins<T: Table>(store: Items<T>) {
    let store = Arc::new(store);
    let org = random_org();
    let claims = (0..8).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(
            async move { store.claim_idempotency_key(&org, "race", "h", Duration::from_secs(60)).await.unwrap() },
        )
    });
    let outcomes = futures::future::join_all(claims).await;
    let won = outcomes.iter().filter(|o| matches!(o, Ok(IdempotencyClaim::Claimed))).count();
    assert_eq!(won, 1, "{outcomes:?}");
}

async fn checkpoints_start_initial_and_round_trip<T: Table>(store: Items<T>) {
    let org = random_org();
    let initial = store.get_checkpoint(&org, RecipientObject::Lead).await.unwrap();
    assert_eq!(initial, SyncCheckpoint::initial(org, RecipientObject::Lead));

    let mut checkpoint = initial;
    checkpoint.cursor = Some(SyncCursor {
        modstamp: SfDateTime::parse("2026-01-02T03:04:05.000+0000").unwrap(),
        id: "00Qq000000KvQ1tAAF".into(),
    });
    checkpoint.bulk_job = Some(BulkJobCheckpoint {
        job_id: "750R0000000zlh9IAA".into(),
        locator: Some("MTAwMDA".into()),
        started_at: SfDateTime::parse("2026-01-02T00:00:00Z").unwrap(),
    });
    store.put_checkpoint(&checkpoint).await.unwrap();
    assert_eq!(store.get_checkpoint(&org, RecipientObject::Lead).await.unwrap(), checkpoint);
    assert_eq!(
        store.get_checkpoint(&org, RecipientObject::Contact).await.unwrap(),
        SyncCheckpoint::initial(org, RecipientObject::Contact)
    );
}

async fn a_sync_page_lands_with_its_checkpoint<T: Table>(store: Items<T>) {
    let org = random_org();
    // More than one DynamoDB batch (25), a deleted record (a tombstone) among them.
    let mut page: Vec<Recipient> =
        (0..60).map(|n| recipient(&format!("003q00000{n:06}"), 1_000 + n, &format!("r{n}@example.com"))).collect();
    page[7].deleted = true;
    let mut checkpoint = SyncCheckpoint::initial(org, RecipientObject::Contact);
    checkpoint.cursor =
        Some(SyncCursor { modstamp: SfDateTime::parse("2026-03-04T05:06:07Z").unwrap(), id: page[59].id.to_string() });
    store.write_recipients(&org, &page).await.unwrap();
    store.put_checkpoint(&checkpoint).await.unwrap();

    assert_eq!(store.get_checkpoint(&org, RecipientObject::Contact).await.unwrap(), checkpoint);
    for written in &page {
        assert_eq!(store.get_recipient(&org, &written.id).await.unwrap().as_ref(), Some(written));
    }
    let (listed, _) = store.list_recipients(&org, RecipientObject::Contact, None, 100).await.unwrap();
    assert_eq!(listed.len(), 60, "tombstones are listed too");
    assert_eq!(listed.iter().filter(|r| r.is_member()).count(), 59);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Thing {
    n: i64,
    label: String,
}

async fn batches_and_pages_cover_every_item<T: Table>(store: Items<T>) {
    let table = store.table();
    let pk = format!("TEST#{}", crypto::random_token());
    let sort_keys: Vec<String> = (0..137).map(|n| format!("T#{n:04}")).collect();
    let puts: Vec<BatchPut<Thing>> = (0..137)
        .zip(&sort_keys)
        .map(|(n, sk)| BatchPut {
            key: Key::new(pk.clone(), sk.clone()),
            ttl: (n % 10 == 0).then_some(now_epoch() - 1),
            item: Thing { n, label: format!("thing {n}") },
        })
        .collect();
    table.put_batch(&puts).await.unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = table.query::<Thing>(&pk, "T#", after.as_deref(), 25).await.unwrap();
        seen.extend(page.items.into_iter().map(|(_, thing)| thing.n));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let expected: Vec<i64> = (0..137).filter(|n| n % 10 != 0).collect();
    assert_eq!(seen, expected, "expired items are skipped, live ones all seen in order");

    let keys: Vec<Key> = sort_keys.iter().map(|sk| Key::new(pk.clone(), sk.clone())).collect();
    table.delete_batch(&keys).await.unwrap();
    let page = table.query::<Thing>(&pk, "T#", None, 500).await.unwrap();
    assert!(page.items.is_empty());
}

async fn conditional_writes_follow_the_condition<T: Table>(store: Items<T>) {
    let table = store.table();
    let key = Key::new(format!("TEST#{}", crypto::random_token()), "ONE");
    let thing = |n| Thing { n, label: "x".into() };

    assert_eq!(table.put(&key, None, &thing(5), Condition::AbsentOrBelow("n", 5)).await.unwrap(), Write::Done);
    assert_eq!(
        table.put(&key, None, &thing(5), Condition::AbsentOrBelow("n", 5)).await.unwrap(),
        Write::Refused(Some(thing(5))),
        "an equal value is not below"
    );
    assert_eq!(table.put(&key, None, &thing(7), Condition::AbsentOrBelow("n", 7)).await.unwrap(), Write::Done);
    assert_eq!(
        table.put(&key, None, &thing(6), Condition::AbsentOrBelow("n", 6)).await.unwrap(),
        Write::Refused(Some(thing(7))),
        "an older value never overwrites a newer one"
    );
    assert_eq!(
        table.put(&key, None, &thing(1), Condition::Equals("label", "y".into())).await.unwrap(),
        Write::Refused(Some(thing(7)))
    );
    assert_eq!(table.put(&key, None, &thing(1), Condition::Equals("label", "x".into())).await.unwrap(), Write::Done);
    assert_eq!(table.delete(&key, Condition::Equals("label", "y".into())).await.unwrap(), Write::Refused(None));
    assert_eq!(table.delete(&key, Condition::Always).await.unwrap(), Write::Done);
    assert_eq!(table.get::<Thing>(&key).await.unwrap(), None);
}

fn recipient(id: &str, modstamp: i64, email: &str) -> Recipient {
    Recipient {
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some(email.into()),
        ..Recipient::empty(RecordId::parse(id).unwrap(), modstamp)
    }
}

async fn recipients_keep_the_newest_modstamp<T: Table>(store: Items<T>) {
    let org = random_org();
    let id = "003q000000KvQ1t";
    let applied = store.apply_recipients(&org, &[recipient(id, 2_000, "new@example.com")]).await.unwrap();
    assert_eq!(applied, vec![Applied::Written]);
    let applied = store
        .apply_recipients(
            &org,
            &[
                recipient(id, 1_000, "old@example.com"),
                recipient("003q000000KvQ2t", 1_000, "other@example.com"),
                recipient(id, 2_000, "same@example.com"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(applied, vec![Applied::Stale, Applied::Written, Applied::Stale]);
    let stored = store.get_recipient(&org, &RecordId::parse(id).unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.email.as_deref(), Some("new@example.com"));

    let tombstone = Recipient::tombstone(RecordId::parse(id).unwrap(), 3_000);
    assert_eq!(store.apply_recipients(&org, &[tombstone]).await.unwrap(), vec![Applied::Written]);
    let late_update = recipient(id, 2_500, "late@example.com");
    assert_eq!(store.apply_recipients(&org, &[late_update]).await.unwrap(), vec![Applied::Stale]);
    assert!(!store.get_recipient(&org, &RecordId::parse(id).unwrap()).await.unwrap().unwrap().is_member());

    // Sync writes are unconditional: a snapshot page overwrites.
    store.write_recipients(&org, &[recipient(id, 4_000, "synced@example.com")]).await.unwrap();
    let synced = store.get_recipient(&org, &RecordId::parse(id).unwrap()).await.unwrap().unwrap();
    assert!(synced.is_member());
    assert_eq!(synced.email.as_deref(), Some("synced@example.com"));
}

async fn recipients_are_read_many_at_a_time_in_the_order_asked<T: Table>(store: Items<T>) {
    let org = random_org();
    // More than one BatchGetItem (100 keys), a tombstone and absent ids among them.
    let stored: Vec<Recipient> =
        (0..150).map(|n| recipient(&format!("003q0001{n:07}"), n, &format!("m{n}@example.com"))).collect();
    store.write_recipients(&org, &stored).await.unwrap();
    store.apply_recipients(&org, &[Recipient::tombstone(stored[3].id, 1_000)]).await.unwrap();
    let mut asked: Vec<RecordId> = stored.iter().rev().map(|r| r.id).collect();
    asked.insert(10, RecordId::parse("003q0009999999A").unwrap());
    asked.push(RecordId::parse("00Qq0009999999A").unwrap());

    let read = store.get_recipients(&org, &asked).await.unwrap();

    assert_eq!(read.len(), asked.len());
    for (id, found) in asked.iter().zip(&read) {
        match stored.iter().find(|r| r.id == *id) {
            Some(expected) if expected.id == stored[3].id => assert!(found.as_ref().is_some_and(|r| r.deleted)),
            Some(expected) => assert_eq!(found.as_ref(), Some(expected)),
            None => assert_eq!(found, &None, "{id}"),
        }
    }
    assert!(store.get_recipients(&org, &[]).await.unwrap().is_empty());
}

async fn recipients_list_across_shards_per_object<T: Table>(store: Items<T>) {
    let org = random_org();
    let contacts: Vec<Recipient> =
        (0..75).map(|n| recipient(&format!("003q0000{n:07}"), n, &format!("c{n}@example.com"))).collect();
    let leads: Vec<Recipient> =
        (0..30).map(|n| recipient(&format!("00Qq0000{n:07}"), n, &format!("l{n}@example.com"))).collect();
    store.write_recipients(&org, &contacts).await.unwrap();
    store.write_recipients(&org, &leads).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = store.list_recipients(&org, RecipientObject::Contact, cursor, 20).await.unwrap();
        assert!(page.len() <= 20);
        seen.extend(page.into_iter().map(|r| r.id));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    seen.sort();
    let mut expected: Vec<RecordId> = contacts.iter().map(|r| r.id).collect();
    expected.sort();
    assert_eq!(seen, expected);
    let (leads_page, _) = store.list_recipients(&org, RecipientObject::Lead, None, 1000).await.unwrap();
    assert_eq!(leads_page.len(), 30);
}

async fn write_backs_queue_once_retry_and_bury<T: Table>(store: Items<T>) {
    let org = random_org();
    let record = RecordId::parse("003q000000KvQ1t").unwrap();
    let change = WriteBack::due_now(org, record, Change::OptOut);
    let now = change.enqueued_at;
    assert_eq!(store.enqueue_write_back(&change).await.unwrap(), Created::Created);
    assert_eq!(store.enqueue_write_back(&change).await.unwrap(), Created::AlreadyExists);
    let bounce_of = |reason: &str, at: &str| WriteBack {
        change: Change::Bounce { reason: reason.into(), bounced_at: SfDateTime::parse(at).unwrap() },
        ..change.clone()
    };
    let bounce = bounce_of("550 mailbox unavailable", "2026-01-01T00:00:00Z");
    assert_eq!(store.enqueue_write_back(&bounce).await.unwrap(), Created::Created);
    assert_eq!(store.enqueue_write_back(&bounce).await.unwrap(), Created::AlreadyExists);
    let newer_bounce = bounce_of("552 mailbox full", "2026-01-02T00:00:00Z");
    assert_eq!(store.enqueue_write_back(&newer_bounce).await.unwrap(), Created::Created, "a newer bounce replaces");
    let bounce = newer_bounce;
    assert_eq!(store.due_write_backs(&org, now, 10).await.unwrap().len(), 2);

    let retried = WriteBack {
        attempts: 1,
        next_attempt_at: now + 60,
        last_error: Some("UNABLE_TO_LOCK_ROW".into()),
        ..change.clone()
    };
    store.retry_write_back(&retried).await.unwrap();
    assert_eq!(store.due_write_backs(&org, now, 10).await.unwrap(), vec![bounce.clone()]);
    assert_eq!(store.due_write_backs(&org, now + 60, 10).await.unwrap().len(), 2);

    store.bury_write_back(&retried).await.unwrap();
    assert_eq!(store.dead_letters(&org).await.unwrap(), vec![retried]);
    store.complete_write_back(&bounce).await.unwrap();
    assert!(store.pending_write_backs(&org).await.unwrap().is_empty());
}

async fn sync_runs_leases_and_requests<T: Table>(store: Items<T>) {
    let org = random_org();
    let run = |millis: i64, id: &str| SyncRun {
        org_id: org,
        run_id: id.into(),
        trigger: "schedule".into(),
        status: RunStatus::Complete,
        started_at: SfDateTime::from_millis(millis),
        duration_ms: 12,
        contacts: ObjectRun::default(),
        leads: ObjectRun::default(),
        write_back: WriteBackRun::default(),
        activity: Default::default(),
        api_calls: 2,
        api_usage: Some("2/15000".into()),
        skipped_fields: Vec::new(),
        error: None,
    };
    store.put_run(&run(1_000, "first")).await.unwrap();
    store.put_run(&run(2_000, "second")).await.unwrap();
    let recent = store.recent_runs(&org, 10).await.unwrap();
    assert_eq!(recent.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), vec!["second", "first"]);

    let ttl = Duration::from_secs(60);
    assert!(store.acquire_sync_lease(&org, "a", ttl).await.unwrap());
    assert!(!store.acquire_sync_lease(&org, "b", ttl).await.unwrap());
    store.release_sync_lease(&org, "b").await.unwrap();
    assert!(!store.acquire_sync_lease(&org, "b", ttl).await.unwrap(), "only the holder releases");
    assert!(store.renew_sync_lease(&org, "a", ttl).await.unwrap(), "the holder renews");
    assert!(!store.renew_sync_lease(&org, "b", ttl).await.unwrap(), "nobody else does");
    store.release_sync_lease(&org, "a").await.unwrap();
    assert!(store.acquire_sync_lease(&org, "b", ttl).await.unwrap());
    assert!(!store.renew_sync_lease(&org, "a", ttl).await.unwrap(), "a released lease is not renewed");

    // A lease that lapses (its holder stopped renewing) is free for the next run.
    let lapsed = random_org();
    assert!(store.acquire_sync_lease(&lapsed, "crashed", Duration::from_secs(1)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(store.acquire_sync_lease(&lapsed, "next", ttl).await.unwrap());
    assert!(!store.renew_sync_lease(&lapsed, "crashed", ttl).await.unwrap());

    assert!(!store.take_sync_request(&org).await.unwrap(), "nothing pending yet");
    assert_eq!(store.request_sync(&org, ttl).await.unwrap(), Created::Created);
    assert_eq!(store.request_sync(&org, ttl).await.unwrap(), Created::AlreadyExists);
    assert!(store.take_sync_request(&org).await.unwrap());
    assert!(!store.take_sync_request(&org).await.unwrap(), "taken once");
    assert_eq!(store.request_sync(&org, ttl).await.unwrap(), Created::Created);
}

async fn the_recipients_version_moves_when_marked<T: Table>(store: Items<T>) {
    let org = random_org();
    assert_eq!(store.recipients_version(&org).await.unwrap(), None);
    assert!(store.all_recipients(&org).await.unwrap().is_empty());
    let ids: Vec<String> = (0..70).map(|n| format!("003q0000000{n:04}")).collect();
    let recipients: Vec<Recipient> = ids.iter().map(|id| recipient(id, 1_000, "a@example.com")).collect();
    store.write_recipients(&org, &recipients).await.unwrap();
    store.mark_recipients_changed(&org).await.unwrap();
    let first = store.recipients_version(&org).await.unwrap().expect("a version once marked");
    let mut all: Vec<String> = store.all_recipients(&org).await.unwrap().iter().map(|r| r.id.to_string()).collect();
    all.sort();
    let mut expected: Vec<String> = recipients.iter().map(|r| r.id.to_string()).collect();
    expected.sort();
    assert_eq!(all, expected, "every shard is read");
    assert!(store.all_recipients(&random_org()).await.unwrap().is_empty(), "orgs stay apart");
    store.mark_recipients_changed(&org).await.unwrap();
    assert_ne!(store.recipients_version(&org).await.unwrap(), Some(first));
}

fn list(org: OrgId, id: &str, updated_at: i64) -> RecipientList {
    RecipientList {
        org_id: org,
        id: id.into(),
        name: format!("List {id}"),
        objects: vec![RecipientObject::Contact],
        definition: ListDefinition::Static,
        owner_id: random_user(),
        created_at: 1,
        updated_at,
        revision: "r1".into(),
        last_count: None,
        last_evaluated_at: None,
    }
}

async fn lists_are_revised_listed_and_deleted_with_members<T: Table>(store: Items<T>) {
    let org = random_org();
    let older = list(org, "older", 10);
    let newer = list(org, "newer", 20);
    assert!(store.put_list(&older, None).await.unwrap());
    assert!(store.put_list(&newer, None).await.unwrap());
    assert!(!store.put_list(&older, None).await.unwrap(), "a new list's id is taken once");
    let names: Vec<String> = store.lists(&org).await.unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(names, ["newer", "older"], "newest first");
    assert!(store.lists(&random_org()).await.unwrap().is_empty());

    let edited = RecipientList { name: "Edited".into(), revision: "r2".into(), ..older.clone() };
    assert!(store.put_list(&edited, Some("r1")).await.unwrap());
    let stale = RecipientList { name: "Stale".into(), revision: "r3".into(), ..older.clone() };
    assert!(!store.put_list(&stale, Some("r1")).await.unwrap(), "an edit of an old revision is refused");
    assert_eq!(store.get_list(&org, "older").await.unwrap().unwrap().name, "Edited");

    let members: Vec<RecordId> = (0..60).map(|n| RecordId::parse(&format!("003q0000000{n:04}")).unwrap()).collect();
    store.add_list_members(&org, "older", &members).await.unwrap();
    store.add_list_members(&org, "older", &members[..5]).await.unwrap();
    store.remove_list_members(&org, "older", &members[..10]).await.unwrap();
    let mut stored = store.list_members(&org, "older").await.unwrap();
    stored.sort();
    assert_eq!(stored, members[10..].to_vec(), "adding twice keeps one; removed ones are gone");
    assert!(store.list_members(&org, "newer").await.unwrap().is_empty());

    assert!(store.delete_list(&org, "older").await.unwrap());
    assert!(!store.delete_list(&org, "older").await.unwrap(), "deleted once");
    assert_eq!(store.get_list(&org, "older").await.unwrap(), None);
    assert!(store.list_members(&org, "older").await.unwrap().is_empty(), "its members go with it");
}

async fn org_fields_and_selections_round_trip<T: Table>(store: Items<T>) {
    use outpost_shared::lists::{ExtraField, FieldKind};
    let org = random_org();
    assert_eq!(store.org_fields(&org).await.unwrap(), OrgFields::default());
    let fields = OrgFields {
        fields: vec![ExtraField {
            name: "Region__c".into(),
            label: "Region".into(),
            kind: FieldKind::Text,
            objects: vec![RecipientObject::Contact, RecipientObject::Lead],
            picklist: vec!["EMEA".into(), "APAC".into()],
        }],
        checked_at: 42,
    };
    store.put_org_fields(&org, &fields).await.unwrap();
    assert_eq!(store.org_fields(&org).await.unwrap(), fields);

    let selection = PendingSelection {
        token: crypto::random_token(),
        org_id: org,
        user_id: random_user(),
        object: RecipientObject::Lead,
        ids: vec![RecordId::parse("00Qq000000KvQ1t").unwrap()],
        expires_at: now_epoch() + 60,
    };
    store.put_selection(&selection).await.unwrap();
    assert_eq!(store.get_selection(&selection.token).await.unwrap(), Some(selection.clone()));
    let lapsed = PendingSelection { token: crypto::random_token(), expires_at: now_epoch() - 1, ..selection };
    store.put_selection(&lapsed).await.unwrap();
    assert_eq!(store.get_selection(&lapsed.token).await.unwrap(), None, "an expired selection is gone");
}

async fn counters_add_atomically_and_respect_their_ceiling<T: Table>(store: Items<T>) {
    let store = Arc::new(store);
    let org = random_org();
    // Many writers at once: none of their additions is lost.
    let adds = (0..20).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.count(&org, "campaign", Counter::Sent, 3).await.unwrap() })
    });
    futures::future::join_all(adds).await;
    store.count(&org, "campaign", Counter::BouncedPermanent, 2).await.unwrap();
    store.count(&org, "campaign", Counter::BouncedTransient, 1).await.unwrap();
    store.count(&org, "campaign", Counter::Sent, -1).await.unwrap();
    let counts = store.campaign_counts(&org, "campaign").await.unwrap();
    assert_eq!((counts.sent, counts.bounced, counts.bounced_permanent), (59, 3, 2));
    assert_eq!(store.campaign_counts(&org, "other").await.unwrap(), Counts::default());

    // A second's send slots: concurrent takers never exceed the ceiling together.
    let second = now_epoch() * 1000 + i64::from(crypto::random_bytes::<1>()[0]);
    let takes = (0..12).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.take_send_slots(second, 10, 50).await.unwrap() })
    });
    let granted = futures::future::join_all(takes).await.into_iter().filter(|taken| *taken.as_ref().unwrap()).count();
    assert_eq!(granted, 5, "50 slots of 10 each");
    assert!(store.take_send_slots(second + 1, 50, 50).await.unwrap(), "the next second starts afresh");
    assert!(!store.take_send_slots(second + 1, 1, 50).await.unwrap());
}

fn delivery(address: &str, record: &str) -> Delivery {
    let recipient = Recipient::empty(RecordId::parse(record).unwrap(), 1);
    Delivery::queued(&recipient, address, now_epoch())
}

async fn campaign_deliveries_are_claimed_once_and_updated_by_stamp<T: Table>(store: Items<T>) {
    let store = Arc::new(store);
    let org = random_org();
    let deliveries: Vec<Delivery> =
        (0..60).map(|n| delivery(&format!("person{n}@example.com"), &format!("003000000000{n:03}"))).collect();
    store.put_deliveries(&org, "c1", &deliveries).await.unwrap();
    let mut read = Vec::new();
    for segment in 0..keys::CAMPAIGN_SEGMENTS {
        let mut after: Option<String> = None;
        loop {
            let (page, next) = store.deliveries(&org, "c1", segment, after.as_deref(), 7).await.unwrap();
            read.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    assert_eq!(read.len(), 60, "every address, segment by segment");

    // Two senders claim the same addresses at once: each address goes to one of them.
    let claim = |sender: &'static str| {
        let store = Arc::clone(&store);
        let claims: Vec<Delivery> = deliveries
            .iter()
            .map(|d| Delivery { state: SendState::Claimed, claimed_by: Some(sender.into()), ..d.clone() })
            .collect();
        tokio::spawn(async move { store.claim_deliveries(&org, "c1", &claims).await.unwrap() })
    };
    let (a, b) = (claim("a"), claim("b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(a.iter().zip(&b).all(|(a, b)| a ^ b), "exactly one claim wins each address");

    let stored = store.get_delivery(&org, "c1", "person7@example.com").await.unwrap().unwrap();
    assert_eq!(stored.state, SendState::Claimed);
    // A record lands only over its own claim.
    let recorded = Delivery { state: SendState::Sent, stamp: "recorded".into(), ..stored.clone() };
    let outcomes = store.record_deliveries(&org, "c1", &[recorded.clone(), recorded], &[&stored.stamp, "stale"]).await;
    assert_eq!(outcomes.unwrap(), [true, false]);
    let stored = store.get_delivery(&org, "c1", "person7@example.com").await.unwrap().unwrap();
    assert_eq!(stored.state, SendState::Sent);
    let moved = Delivery { delivered: true, stamp: "new".into(), ..stored.clone() };
    assert!(store.update_delivery(&org, "c1", &moved, &stored.stamp).await.unwrap());
    assert!(!store.update_delivery(&org, "c1", &moved, &stored.stamp).await.unwrap(), "a stale stamp is refused");
    let again = Delivery { state: SendState::Claimed, ..stored.clone() };
    assert_eq!(store.claim_deliveries(&org, "c1", &[again]).await.unwrap(), [false], "a sent address is not claimed");

    store.delete_deliveries(&org, "c1", &["person7@example.com".to_owned()]).await.unwrap();
    assert!(store.get_delivery(&org, "c1", "person7@example.com").await.unwrap().is_none());
    store.mark_segment_done(&org, "c1", 3).await.unwrap();
    store.mark_segment_done(&org, "c1", 3).await.unwrap();
    store.mark_segment_done(&org, "c1", 11).await.unwrap();
    let mut done = store.segments_done(&org, "c1").await.unwrap();
    done.sort_unstable();
    assert_eq!(done, [3, 11]);
}

async fn campaigns_suppressions_and_requests_round_trip<T: Table>(store: Items<T>) {
    let org = random_org();
    let campaign = Campaign {
        org_id: org,
        id: "c".repeat(16),
        list_id: "l".repeat(16),
        list_name: "Everyone".into(),
        owner_id: random_user(),
        subject: "Hi".into(),
        from: "news@example.com".into(),
        reply_to: None,
        status: CampaignStatus::Draft,
        pause_reason: None,
        frozen: false,
        recipients: 0,
        freeze_after: None,
        excluded: 0,
        suppressed: 0,
        created_at: now_epoch(),
        updated_at: now_epoch(),
        started_at: None,
        finished_at: None,
        revision: "r1".into(),
    };
    // Bodies of a megabyte each: more than one DynamoDB item holds, in characters of every width.
    let html = format!("<p>{}</p>{{{{unsubscribe_url}}}}", "é€😀x".repeat(100_000));
    let content = CampaignContent { html, text: "t{{unsubscribe_url}}".repeat(50_000) };
    assert!(content.html.len() + content.text.len() > 1_500_000);
    assert_eq!(store.campaign_content(&org, &campaign.id).await.unwrap(), None);
    store.put_campaign_content(&org, &campaign.id, &content).await.unwrap();
    assert_eq!(store.campaign_content(&org, &campaign.id).await.unwrap(), Some(content));
    assert!(store.put_campaign(&campaign, None).await.unwrap());
    assert!(!store.put_campaign(&campaign, None).await.unwrap(), "created once");
    let sending = Campaign { status: CampaignStatus::Sending, revision: "r2".into(), ..campaign.clone() };
    assert!(store.put_campaign(&sending, Some("r1")).await.unwrap());
    assert!(!store.put_campaign(&sending, Some("r1")).await.unwrap(), "a stale revision is refused");
    assert_eq!(store.get_campaign(&org, &campaign.id).await.unwrap(), Some(sending.clone()));
    store.count(&org, &campaign.id, Counter::Sent, 1).await.unwrap();
    assert_eq!(store.campaigns(&org).await.unwrap(), [sending], "counters are not campaigns");

    let suppression = |reason| Suppression {
        org_id: org,
        address: "gone@example.com".into(),
        reason,
        campaign_id: None,
        at: now_epoch(),
    };
    assert_eq!(store.suppress(&suppression(SuppressionReason::Bounced)).await.unwrap(), Created::Created);
    assert_eq!(store.suppress(&suppression(SuppressionReason::Complained)).await.unwrap(), Created::AlreadyExists);
    let listed = store.suppressions(&org).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason, SuppressionReason::Bounced, "the first reason stays");

    let ttl = Duration::from_secs(60);
    let id = &campaign.id;
    assert_eq!(store.request_campaign(&org, id, &CampaignRequest::Start, ttl).await.unwrap(), Created::Created);
    assert_eq!(store.request_campaign(&org, id, &CampaignRequest::Start, ttl).await.unwrap(), Created::AlreadyExists);
    let test = CampaignRequest::Test { to: "me@example.com".into(), record: None };
    assert_eq!(store.request_campaign(&org, id, &test, ttl).await.unwrap(), Created::Created);
    assert_eq!(store.request_campaign(&org, id, &test, ttl).await.unwrap(), Created::Created, "tests never wait");
    assert!(store.take_campaign_request(&org, id).await.unwrap());
    assert!(!store.take_campaign_request(&org, id).await.unwrap());
}
