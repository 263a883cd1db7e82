//! Hot paths of the shared crate: id normalisation, host validation, datetimes, and parsing a
//! 2,000-record query page. `cargo bench -p outpost-shared --bench foundation`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use outpost_shared::hosts::{HostPolicy, SalesforceHost};
use outpost_shared::ids::{OrgId, RecordId, SalesforceId};
use outpost_shared::salesforce::{FetchedPage, SfDateTime};
use serde::Deserialize;

/// The sync's record shape (kept in step with functions/sync's `SyncRecord`).
#[derive(Deserialize)]
#[allow(dead_code)] // Fields exist to be parsed, as in the sync.
struct Row {
    #[serde(rename = "Id")]
    id: RecordId,
    #[serde(rename = "FirstName", default)]
    first_name: Option<String>,
    #[serde(rename = "LastName", default)]
    last_name: Option<String>,
    #[serde(rename = "Email", default)]
    email: Option<String>,
    #[serde(rename = "HasOptedOutOfEmail", default)]
    opted_out: Option<bool>,
    #[serde(rename = "IsEmailBounced", default)]
    bounced: Option<bool>,
    #[serde(rename = "EmailBouncedReason", default)]
    bounce_reason: Option<String>,
    #[serde(rename = "EmailBouncedDate", default)]
    bounced_at: Option<SfDateTime>,
    #[serde(rename = "SystemModstamp")]
    modstamp: SfDateTime,
    #[serde(rename = "IsDeleted", default)]
    deleted: Option<bool>,
}

fn page_json(records: usize) -> String {
    let rows: Vec<String> = (0..records)
        .map(|n| {
            let id = SalesforceId::parse(&format!("0035g0000{n:06}")).map(|id| id.to_string()).unwrap_or_default();
            format!(
                r#"{{"attributes":{{"type":"Contact","url":"/services/data/v66.0/sobjects/Contact/{id}"}},"Id":"{id}","FirstName":"Ada{n}","LastName":"Lovelace","Email":"ada.lovelace{n}@example.com","HasOptedOutOfEmail":false,"IsEmailBounced":false,"EmailBouncedReason":null,"EmailBouncedDate":null,"SystemModstamp":"2026-11-01T12:{:02}:{:02}.000+0000","IsDeleted":false}}"#,
                n % 60,
                n % 60
            )
        })
        .collect();
    format!(
        r#"{{"totalSize":150000,"done":false,"nextRecordsUrl":"/services/data/v66.0/query/0r85g000000001AAA-2000","records":[{}]}}"#,
        rows.join(",")
    )
}

fn ids(c: &mut Criterion) {
    c.bench_function("ids/normalise_15_to_18", |b| b.iter(|| SalesforceId::parse(black_box("00Dx0000000BV7z"))));
    c.bench_function("ids/verify_18", |b| b.iter(|| OrgId::parse(black_box("00Dx0000000BV7zEAG"))));
}

fn hosts(c: &mut Criterion) {
    let policy = HostPolicy::production();
    c.bench_function("hosts/validate_partner_url", |b| {
        b.iter(|| {
            SalesforceHost::from_url(
                black_box("https://acme--uat.sandbox.my.salesforce.com/services/Soap/u/64.0/00Dx0000000BV7z"),
                policy,
            )
        })
    });
    c.bench_function("hosts/refuse_lookalike", |b| {
        b.iter(|| SalesforceHost::from_url(black_box("https://acme.my.salesforce.com.evil.example/x"), policy))
    });
}

fn query_page(c: &mut Criterion) {
    let body = page_json(2000);
    let parse =
        |body: &[u8]| FetchedPage::from_slice(body).and_then(|page| page.records::<Row>()).map(|rows| rows.len());
    assert_eq!(parse(body.as_bytes()).ok(), Some(2000), "the benchmarked page parses");
    let mut group = c.benchmark_group("query_page");
    group.throughput(Throughput::Elements(2000));
    group.bench_function("header_of_2000_records", |b| {
        b.iter(|| FetchedPage::from_slice(black_box(body.as_bytes())).map(|page| page.header.total_size))
    });
    group.bench_function("parse_2000_records", |b| b.iter(|| parse(black_box(body.as_bytes()))));
    group.finish();
}

fn datetimes(c: &mut Criterion) {
    c.bench_function("datetime/parse_rest_form", |b| {
        b.iter(|| SfDateTime::parse(black_box("2026-11-01T12:34:56.789+0000")))
    });
}

criterion_group!(benches, ids, hosts, query_page, datetimes);
criterion_main!(benches);
