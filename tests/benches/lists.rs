//! Recipient lists at production size: a simulated org of 100,000 Contacts and 50,000 Leads,
//! synced into the local stack's embedded store, then
//! - list previews over HTTP with a Salesforce session (`POST /api/v1/lists/preview`), warm (the
//!   org's recipients held in memory, as a warm Lambda holds them): p50/p95/max over every
//!   definition and round; the target is p95 ≤ 250 ms;
//! - the same definitions evaluated in process (no HTTP, no JSON), to show where time goes;
//! - the first preview after a change, which reads every recipient again: from the embedded store,
//!   and from DynamoDB played by the stand-in answering after 20 ms a call;
//! - an export of every recipient as CSV.
//!
//! `cargo bench -p outpost-tests --bench lists -- [--contacts 100000] [--leads 50000] [--rounds 20]
//!     [--dynamo-latency-ms 20]`

use std::time::{Duration, Instant};

use outpost_tests::dynamodb_standin::{DynamoStandIn, StandInSettings};
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::outpost_shared::ids::RecipientObject;
use outpost_tests::outpost_shared::lists::{Catalog, Condition, ConditionSpec, Query, Recipients, Selection, evaluate};
use outpost_tests::outpost_shared::services::aws_clients_from;
use outpost_tests::outpost_shared::store::{DynamoTable, Items, RecipientStore};
use outpost_tests::{StackOptions, TestStack};
use salesforce_sim::SessionKind;
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

struct Args {
    contacts: usize,
    leads: usize,
    rounds: usize,
    dynamo_latency: Duration,
}

fn args() -> Result<Args, Error> {
    let mut parsed = Args { contacts: 100_000, leads: 50_000, rounds: 20, dynamo_latency: Duration::from_millis(20) };
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--contacts" => parsed.contacts = value.parse()?,
            "--leads" => parsed.leads = value.parse()?,
            "--rounds" => parsed.rounds = value.parse()?,
            "--dynamo-latency-ms" => parsed.dynamo_latency = Duration::from_millis(value.parse()?),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(parsed)
}

/// The definitions marketers build: a field or two, picklists, dates, custom fields.
fn definitions() -> Vec<Value> {
    let both = json!(["Contact", "Lead"]);
    vec![
        json!({"objects": both}),
        json!({"objects": both, "conditions": [{"field": "Country", "op": "eq", "value": "Germany"}]}),
        json!({"objects": both, "match": "any", "conditions": [
            {"field": "Country", "op": "in", "value": ["Germany", "France", "Japan"]},
            {"field": "Title", "op": "starts_with", "value": "VP"}]}),
        json!({"objects": both, "conditions": [{"field": "Email", "op": "ends_with", "value": ".com"},
            {"field": "LeadSource", "op": "ne", "value": "Web"}]}),
        json!({"objects": ["Lead"], "conditions": [{"field": "Status", "op": "eq", "value": "Working - Contacted"},
            {"field": "Industry", "op": "not_empty"}]}),
        json!({"objects": ["Contact"], "conditions": [{"field": "Account.Name", "op": "contains", "value": "a"}]}),
        json!({"objects": both, "conditions": [{"field": "CreatedDate", "op": "between", "value": ["2024-01-01", "2025-06-30"]}]}),
        json!({"objects": both, "conditions": [{"field": "Region__c", "op": "eq", "value": "EMEA"},
            {"field": "Score__c", "op": "between", "value": [20, 60]}]}),
        json!({"objects": both, "conditions": [{"field": "FirstName", "op": "contains", "value": "an"}]}),
    ]
}

struct Stats {
    p50: f64,
    p95: f64,
    max: f64,
}

fn stats(samples: &[f64]) -> Stats {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    Stats { p50: at(0.5), p95: at(0.95), max: sorted[sorted.len() - 1] }
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

fn row(name: &str, samples: &[f64]) {
    let s = stats(samples);
    println!("| {name} | {} | {:.1} | {:.1} | {:.1} |", samples.len(), s.p50, s.p95, s.max);
}

fn main() -> Result<(), Error> {
    let args = args()?;
    // Only warnings: the benchmark measures the app, not its debug logging.
    let quiet = tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).finish();
    tracing::subscriber::set_global_default(quiet)?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Error> {
    let total = args.contacts + args.leads;
    println!("Syncing {} Contacts and {} Leads…", args.contacts, args.leads);
    let stack =
        TestStack::start_with(StackOptions { contacts: args.contacts, leads: args.leads, ..StackOptions::default() })
            .await;
    outpost_tests::outpost_local::sync_once(&stack.stack.sync, None, Duration::from_secs(600)).await?;
    let acme = stack.acme();
    let ada = stack.user(acme, UserKind::Known);
    let sim = stack.sim(acme);
    let sid = sim.mint_session(ada.user_id.as_str(), SessionKind::Api)?;
    let instance = sim.base_url().trim_start_matches("http://").to_owned();
    let post = |path: &str, body: &Value| {
        stack
            .http
            .post(stack.url(path))
            .bearer_auth(&sid)
            .header("x-salesforce-instance", &instance)
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    let definitions = definitions();

    println!("\n{total} recipients. Milliseconds.\n");
    println!("| what | samples | p50 | p95 | max |");
    println!("|---|---:|---:|---:|---:|");
    // The first preview reads every recipient; the rest find them in memory.
    let started = Instant::now();
    let first = post("/api/v1/lists/preview", &definitions[0]).send().await?;
    assert_eq!(first.status(), 200, "{}", first.text().await?);
    row("first preview (reads every recipient from the embedded store)", &[millis(started.elapsed())]);

    let mut warm = Vec::new();
    let mut counts = Vec::new();
    for round in 0..args.rounds {
        for definition in &definitions {
            let started = Instant::now();
            let answer = post("/api/v1/lists/preview", definition).send().await?;
            let elapsed = millis(started.elapsed());
            let body: Value = answer.json().await?;
            warm.push(elapsed);
            if round == 0 {
                counts.push(body["count"].as_u64().unwrap_or_default());
            }
        }
    }
    row("warm preview over HTTP, every definition", &warm);

    // The same work in process: conditions checked, every recipient evaluated.
    let org = acme.registration.org_id;
    let store = &stack.stack.services.store;
    let started = Instant::now();
    let recipients = store.all_recipients(&org).await?;
    let embedded_load = millis(started.elapsed());
    // As a warm function holds them: addresses checked once per read.
    let held = Recipients::new(recipients.clone());
    let catalog = Catalog::new(&store.org_fields(&org).await?.fields);
    let mut in_process = Vec::new();
    for _ in 0..args.rounds {
        for definition in &definitions {
            let specs: Vec<ConditionSpec> =
                serde_json::from_value(definition["conditions"].clone()).unwrap_or_default();
            let objects: Vec<RecipientObject> = definition["objects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|name| RecipientObject::from_api_name(name.as_str()?))
                .collect();
            let started = Instant::now();
            let conditions: Vec<Condition> = specs
                .iter()
                .enumerate()
                .map(|(i, spec)| Condition::check(spec, &catalog, i))
                .collect::<Result<_, _>>()?;
            let selection = Selection::Conditions { match_all: definition["match"] != "any", conditions: &conditions };
            let evaluation = evaluate(&held, &Query { objects: &objects, selection, owner: None });
            std::hint::black_box(evaluation);
            in_process.push(millis(started.elapsed()));
        }
    }
    row("evaluation in process, every definition", &in_process);
    row("reading every recipient from the embedded store", &[embedded_load]);

    // DynamoDB: the same recipients in the stand-in, read back as a cold function reads them.
    let stand_in =
        DynamoStandIn::start(StandInSettings { latency: args.dynamo_latency, write_capacity: 1_000_000.0 }).await?;
    let endpoint = stand_in.endpoint.clone();
    let (dynamodb, _) = aws_clients_from(|name| match name {
        "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
        "AWS_REGION" => Some("us-east-1".into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("bench".into()),
        _ => None,
    })?;
    DynamoTable::create_if_missing(&dynamodb, "lists-bench").await?;
    let dynamo = Items::new(DynamoTable::new(dynamodb, "lists-bench".to_owned()));
    dynamo.write_recipients(&org, &recipients).await?;
    let calls_before = stand_in.stats().calls;
    let started = Instant::now();
    let read_back = dynamo.all_recipients(&org).await?;
    let dynamo_load = millis(started.elapsed());
    assert_eq!(read_back.len(), recipients.len());
    row(
        &format!(
            "reading every recipient from DynamoDB ({} ms a call, {} calls)",
            args.dynamo_latency.as_millis(),
            stand_in.stats().calls - calls_before
        ),
        &[dynamo_load],
    );

    // An export of everyone.
    let created: Value = post("/api/v1/lists", &json!({"name": "Everyone", "objects": ["Contact", "Lead"]}))
        .send()
        .await?
        .json()
        .await?;
    let id = created["id"].as_str().ok_or("no list id")?;
    let started = Instant::now();
    let export = stack
        .http
        .get(stack.url(&format!("/api/v1/lists/{id}/export")))
        .bearer_auth(&sid)
        .header("x-salesforce-instance", &instance)
        .send()
        .await?
        .bytes()
        .await?;
    row(
        &format!("export of every recipient ({} rows, {:.1} MB)", created["count"], export.len() as f64 / 1e6),
        &[millis(started.elapsed())],
    );
    let _ = store.delete_list(&org, id).await?;

    println!("\nMembers per definition: {counts:?}");
    let p95 = stats(&warm).p95;
    println!("Target: warm preview p95 ≤ 250 ms: {} ({p95:.1} ms)", if p95 <= 250.0 { "met" } else { "NOT met" });
    Ok(())
}
