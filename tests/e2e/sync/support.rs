//! Helpers of the sync tests: stacks sized and tuned per test, runs with a generous deadline,
//! the org's ground truth as the recipients the sync should store, and what the store holds.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use outpost_tests::outpost_local::provision::{DEMO_ORGS, integration_public_key};
use outpost_tests::outpost_shared::ids::{OrgId, RecipientObject, RecordId};
use outpost_tests::outpost_shared::lists::stored_number;
use outpost_tests::outpost_shared::salesforce::SfDateTime;
use outpost_tests::outpost_shared::store::{
    Change, Created, OrgRegistration, OrgSecretNames, OrgStatus, ProvisioningMode, Recipient, SharedStore,
    SyncCheckpoint, SyncCursor, SyncRun, WriteBack, now_epoch,
};
use outpost_tests::outpost_sync::{CrashPoint, RunOptions, RunOutcome, SyncSettings, sync_org};
use outpost_tests::salesforce_sim::SfDateTime as SimDateTime;
use outpost_tests::salesforce_sim::{Record, SObject, Sim, SimConfig, SimHandle};
use outpost_tests::{StackOptions, StoreKind, TestStack};
use secrecy::ExposeSecret;

/// The batch size the page-boundary tests use: the smallest the API honours.
pub const PAGE: u16 = 200;

/// The calls a stack's first run makes before its pages: a describe of each object, to check
/// the demo org's additional fields (later runs reuse them).
pub const DESCRIBES: u64 = 2;

/// A stack on the embedded store whose demo org has `contacts` and `leads`, with the sync
/// settings `tune` leaves.
pub async fn stack(contacts: usize, leads: usize, tune: impl FnOnce(&mut SyncSettings)) -> TestStack {
    stack_on(StoreKind::Embedded, contacts, leads, tune).await
}

/// [`stack`] on `store`.
pub async fn stack_on(
    store: StoreKind,
    contacts: usize,
    leads: usize,
    tune: impl FnOnce(&mut SyncSettings),
) -> TestStack {
    let mut options = StackOptions { contacts, leads, store, ..StackOptions::default() };
    tune(&mut options.sync);
    TestStack::start_with(options).await
}

/// Options of a run that has all the time it needs; `trigger` names the run in the logs.
pub fn options(trigger: &str) -> RunOptions {
    RunOptions { trigger: trigger.into(), deadline: Instant::now() + Duration::from_secs(60), crash: None }
}

/// Options of a run that must stop at `crash`.
pub fn crash_at(trigger: &str, point: CrashPoint, pages: u64) -> RunOptions {
    RunOptions { crash: Some((point, pages)), ..options(trigger) }
}

/// Options of a run that may last `budget`.
pub fn deadline_in(trigger: &str, budget: Duration) -> RunOptions {
    RunOptions { deadline: Instant::now() + budget, ..options(trigger) }
}

/// Syncs the demo org once and returns its run record.
pub async fn run(stack: &TestStack, trigger: &str) -> SyncRun {
    run_org(stack, &stack.acme().registration, options(trigger)).await
}

/// Syncs `org` once with `options`; the run must have run (not crashed, not refused).
pub async fn run_org(stack: &TestStack, org: &OrgRegistration, options: RunOptions) -> SyncRun {
    match sync_org(&stack.stack.sync, org, &options).await {
        RunOutcome::Ran(run) => *run,
        RunOutcome::AlreadyRunning => panic!("{}: another run held the lease", options.trigger),
        RunOutcome::Crashed => panic!("{}: the run crashed", options.trigger),
    }
}

/// The demo org's simulated Salesforce.
pub fn acme_sim(stack: &TestStack) -> &SimHandle {
    stack.sim(stack.acme())
}

/// The demo org's id.
pub fn acme_id(stack: &TestStack) -> OrgId {
    stack.acme().registration.org_id
}

fn sobject(object: RecipientObject) -> SObject {
    match object {
        RecipientObject::Contact => SObject::Contact,
        RecipientObject::Lead => SObject::Lead,
    }
}

/// The additional fields the sync reads from `object` of the org `sim` plays: its demo settings'
/// fields, less the two the simulated org keeps from the integration user (`Secret__c`, hidden by
/// field-level security) and from SOQL filters (`Notes__c`, a long text area).
fn extra_fields(sim: &SimHandle, object: RecipientObject) -> Vec<&'static str> {
    let Some(spec) = DEMO_ORGS
        .iter()
        .find(|spec| OrgId::parse(spec.org_id).ok().map(|id| id.to_string()) == Some(sim.org_id().to_owned()))
    else {
        return Vec::new();
    };
    let names = match object {
        RecipientObject::Contact => spec.contact_fields,
        RecipientObject::Lead => spec.lead_fields,
    };
    names.iter().copied().filter(|name| !matches!(*name, "Secret__c" | "Notes__c")).collect()
}

/// A Salesforce row exactly as the sync should store it: every field it reads, one name per
/// concept for the address, the account's name through the relationship, the org's additional
/// fields, and the deleted and converted flags.
pub fn as_recipient(record: &Record, accounts: &HashMap<String, String>, extra: &[&str]) -> Recipient {
    let id = RecordId::parse(record.id.as_str()).unwrap();
    let text = |value: &Option<std::borrow::Cow<'static, str>>| value.as_deref().map(str::to_owned);
    let at = |date: SimDateTime| Some(SfDateTime::from_millis(date.0 * 1000));
    let contact = id.object() == RecipientObject::Contact;
    let account_id = record.account_id.map(|account| account.as_str().to_owned());
    Recipient {
        first_name: record.first_name.clone(),
        last_name: Some(record.last_name.clone()),
        email: record.email.clone(),
        opted_out: record.has_opted_out_of_email,
        bounced: record.is_email_bounced,
        bounce_reason: record.email_bounced_reason.clone(),
        bounced_at: record.email_bounced_date.map(|date| SfDateTime::from_millis(date.0 * 1000)),
        converted: record.is_converted,
        deleted: record.is_deleted,
        owner_id: Some(record.owner_id.as_str().to_owned()),
        title: text(&record.title),
        lead_source: text(&record.lead_source),
        created_at: at(record.created_date),
        last_modified_at: at(record.last_modified_date),
        account_name: account_id.as_ref().and_then(|account| accounts.get(account).cloned()),
        account_id,
        department: text(&record.department),
        company: if contact { None } else { record.company.clone() },
        status: if contact { None } else { record.status.clone() },
        industry: text(&record.industry),
        country: if contact { text(&record.mailing_country) } else { text(&record.country) },
        state: if contact { text(&record.mailing_state) } else { text(&record.state) },
        city: if contact { text(&record.mailing_city) } else { text(&record.city) },
        extra: extra
            .iter()
            .filter_map(|name| {
                let value = record.custom.get(*name).filter(|value| !value.is_null())?;
                // One form for a number, whichever way it was written.
                let value = match value.as_f64().and_then(stored_number) {
                    Some(number) => serde_json::Value::Number(number),
                    None => value.clone(),
                };
                Some(((*name).to_owned(), value))
            })
            .collect(),
        ..Recipient::empty(id, record.system_modstamp.0 * 1000)
    }
}

/// Every row `queryAll` returns for `object` (live and recycle bin; purged rows are gone).
pub fn query_all_rows(sim: &SimHandle, object: RecipientObject) -> Vec<Record> {
    sim.records(sobject(object)).into_iter().filter(|record| !record.purged).collect()
}

/// Rows `queryAll` returns for both objects.
pub fn query_all_count(sim: &SimHandle) -> u64 {
    RecipientObject::ALL.iter().map(|object| query_all_rows(sim, *object).len() as u64).sum()
}

/// The pages a first sync of `object` reads at `page` rows a page.
pub fn pages_of(sim: &SimHandle, object: RecipientObject, page: u16) -> u64 {
    (query_all_rows(sim, object).len() as u64).div_ceil(u64::from(page)).max(1)
}

/// What an uninterrupted sync stores: every row `queryAll` returns, as a recipient.
pub fn expected_all(sim: &SimHandle) -> BTreeMap<RecordId, Recipient> {
    let accounts: HashMap<String, String> =
        sim.accounts().into_iter().map(|account| (account.id.as_str().to_owned(), account.name)).collect();
    RecipientObject::ALL
        .iter()
        .flat_map(|object| {
            let extra = extra_fields(sim, *object);
            query_all_rows(sim, *object).into_iter().map(move |record| (record, extra.clone()))
        })
        .map(|(record, extra)| as_recipient(&record, &accounts, &extra))
        .map(|recipient| (recipient.id, recipient))
        .collect()
}

/// The org's current recipients: live Contacts and unconverted, live Leads.
pub fn expected_members(sim: &SimHandle) -> BTreeMap<RecordId, Recipient> {
    expected_all(sim).into_iter().filter(|(_, recipient)| recipient.is_member()).collect()
}

/// Everything the store holds for `org` (tombstones included); no id may appear twice.
pub async fn stored_all(stack: &TestStack, org: &OrgId) -> BTreeMap<RecordId, Recipient> {
    stored_all_in(&stack.stack.services.store, org).await
}

/// Everything `store` holds for `org` (tombstones included); no id may appear twice.
pub async fn stored_all_in(store: &SharedStore, org: &OrgId) -> BTreeMap<RecordId, Recipient> {
    let mut all = BTreeMap::new();
    for object in RecipientObject::ALL {
        let mut cursor = None;
        loop {
            let (page, next) = store.list_recipients(org, object, cursor, 500).await.unwrap();
            for recipient in page {
                let id = recipient.id;
                assert!(all.insert(id, recipient).is_none(), "{id} is listed twice");
            }
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    all
}

/// The member recipients `store` holds for `org`.
pub async fn stored_members_in(store: &SharedStore, org: &OrgId) -> BTreeMap<RecordId, Recipient> {
    stored_all_in(store, org).await.into_iter().filter(|(_, recipient)| recipient.is_member()).collect()
}

/// The store's member recipients of `org`.
pub async fn stored_members(stack: &TestStack, org: &OrgId) -> BTreeMap<RecordId, Recipient> {
    stored_all(stack, org).await.into_iter().filter(|(_, recipient)| recipient.is_member()).collect()
}

/// Asserts the store's members of `org` are exactly the org's current recipients, field by field.
pub async fn assert_members_match(stack: &TestStack, org: &OrgId, sim: &SimHandle) {
    let expected = expected_members(sim);
    let stored = stored_members(stack, org).await;
    assert_same(&stored, &expected, "member recipients");
}

/// Compares two recipient maps and names the first differences, not thousands of rows.
pub fn assert_same(stored: &BTreeMap<RecordId, Recipient>, expected: &BTreeMap<RecordId, Recipient>, what: &str) {
    if stored == expected {
        return;
    }
    let missing: Vec<_> = expected.keys().filter(|id| !stored.contains_key(id)).take(5).collect();
    let extra: Vec<_> = stored.keys().filter(|id| !expected.contains_key(id)).take(5).collect();
    let differing: Vec<_> = expected
        .iter()
        .filter_map(|(id, want)| stored.get(id).filter(|got| *got != want).map(|got| (want, got)))
        .take(3)
        .collect();
    panic!(
        "{what}: stored {} vs expected {}; missing {missing:?}; extra {extra:?}; differing (expected, stored) {differing:#?}",
        stored.len(),
        expected.len()
    );
}

/// The cursor of the newest row `queryAll` returns for `object`.
pub fn newest_cursor(sim: &SimHandle, object: RecipientObject) -> Option<SyncCursor> {
    query_all_rows(sim, object).iter().map(cursor_of).max()
}

/// A row's position in `(SystemModstamp, Id)` order.
pub fn cursor_of(record: &Record) -> SyncCursor {
    SyncCursor { modstamp: SfDateTime::from_millis(record.system_modstamp.0 * 1000), id: record.id.to_string() }
}

/// Rows of `object` at or before `cursor` in `(SystemModstamp, Id)` order: what a checkpoint covers.
pub fn rows_up_to(sim: &SimHandle, object: RecipientObject, cursor: &SyncCursor) -> u64 {
    query_all_rows(sim, object).iter().filter(|record| cursor_of(record) <= *cursor).count() as u64
}

/// The stored checkpoint of one object.
pub async fn checkpoint(stack: &TestStack, org: &OrgId, object: RecipientObject) -> SyncCheckpoint {
    stack.stack.services.store.get_checkpoint(org, object).await.unwrap()
}

/// Rows both checkpoints of `org` cover.
pub async fn checkpointed_rows(stack: &TestStack, org: &OrgId, sim: &SimHandle) -> u64 {
    let mut rows = 0;
    for object in RecipientObject::ALL {
        if let Some(cursor) = checkpoint(stack, org, object).await.cursor {
            rows += rows_up_to(sim, object, &cursor);
        }
    }
    rows
}

/// Pulled rows of both objects.
pub fn pulled(run: &SyncRun) -> u64 {
    run.contacts.pulled + run.leads.pulled
}

/// Queues `change` of `record` for write-back, due now.
pub async fn enqueue(stack: &TestStack, record: &str, change: Change) -> Created {
    let entry = WriteBack::due_now(acme_id(stack), RecordId::parse(record).unwrap(), change);
    stack.stack.services.store.enqueue_write_back(&entry).await.unwrap()
}

/// The first live, unconverted record of `object` that `wanted` accepts.
pub fn pick(sim: &SimHandle, object: RecipientObject, wanted: impl Fn(&Record) -> bool) -> Record {
    query_all_rows(sim, object)
        .into_iter()
        .find(|record| !record.is_deleted && !record.is_converted && wanted(record))
        .expect("a record to work with")
}

/// Log lines of the runs started with `trigger` whose message contains `message` (JSON lines with
/// their span list, or readable lines with the span fields inline).
pub fn log_lines(trigger: &str, message: &str) -> usize {
    let in_run = |line: &str| match serde_json::from_str::<serde_json::Value>(line) {
        Ok(json) => {
            let spans = json["spans"].as_array().cloned().unwrap_or_default();
            spans.iter().any(|span| span["trigger"] == trigger)
                && json["message"].as_str().or(json["fields"]["message"].as_str()).is_some_and(|m| m.contains(message))
        }
        Err(_) => line.contains(&format!("trigger={trigger}}}")) && line.contains(message),
    };
    outpost_tests::logs().lines().filter(|line| in_run(line)).count()
}

/// Starts another simulated org (any `SimConfig`: data shape, Bulk page size…) and registers
/// it with the stack, reusing the demo org's integration key pair.
pub async fn extra_org(stack: &TestStack, org_id: &str, config: SimConfig) -> (SimHandle, OrgRegistration) {
    let secrets = &stack.stack.secrets;
    let acme = &stack.acme().registration.secrets;
    let public_key = secrets.fetch(&integration_public_key(acme)).await.unwrap().expose_secret().as_bytes().to_vec();
    let acme_secret = secrets.fetch(&acme.integration).await.unwrap().expose_secret().to_owned();
    let config =
        SimConfig { org_id: org_id.into(), org_name: "Extra Sim".into(), ..config }.with_jwt_public_key(public_key);
    let sim = Sim::spawn(config).await.unwrap();
    let org = OrgId::parse(org_id).unwrap();
    let names = OrgSecretNames::conventional(&stack.stack.services.config.secret_prefix, &org);
    let mut credentials: serde_json::Value = serde_json::from_str(&acme_secret).unwrap();
    credentials["my_domain_url"] = sim.base_url().into();
    credentials["username"] = sim.integration_user().unwrap().username.into();
    secrets.store(&names.integration, &credentials.to_string()).await.unwrap();
    let registration = OrgRegistration {
        org_id: org,
        name: "Extra Sim".into(),
        pinned_host: sim.base_url().into(),
        mode: ProvisioningMode::OrgWide,
        status: OrgStatus::Active,
        secrets: names,
        registered_at: now_epoch(),
        settings: Default::default(),
        namespace: None,
    };
    stack.stack.services.store.put_org(&registration).await.unwrap();
    (sim, registration)
}

/// Runs `then` on the demo org's sim as soon as the first page of Contacts is checkpointed,
/// i.e. while the run that wrote it is in the middle of its pagination.
pub fn once_contacts_are_checkpointed(
    stack: &TestStack,
    then: impl FnOnce(&SimHandle) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let orgs = std::sync::Arc::clone(&stack.stack.orgs);
    let store = std::sync::Arc::clone(&stack.stack.services.store);
    tokio::spawn(async move {
        let org = &orgs[0];
        while store.get_checkpoint(&org.registration.org_id, RecipientObject::Contact).await.unwrap().cursor.is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        then(org.sim.as_ref().expect("a simulated org"));
    })
}

/// The stored recipient of record `id` (a member or a tombstone); it must exist.
pub async fn stored_recipient(stack: &TestStack, org: &OrgId, id: &str) -> Recipient {
    let id = RecordId::parse(id).unwrap();
    stack.stack.services.store.get_recipient(org, &id).await.unwrap().unwrap_or_else(|| panic!("{id} is stored"))
}
