//! Hot paths of the shared crate: id normalisation, host validation, and parsing a 2,000-record
//! query page. `cargo bench -p outpost-shared --bench foundation`.

use std::borrow::Cow;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use outpost_shared::hosts::{HostPolicy, SalesforceHost};
use outpost_shared::ids::{OrgId, RecordId, SalesforceId};
use outpost_shared::parsed::optional_text;
use outpost_shared::salesforce::{QueryPage, SfDateTime};
use serde::Deserialize;

/// The sync's record shape (kept in step with functions/sync's `SyncRecord`).
#[derive(Deserialize)]
#[allow(dead_code)] // Fields exist to be parsed, as in the sync.
struct Row<'a> {
    #[serde(rename = "Id")]
    id: RecordId,
    #[serde(rename = "FirstName", borrow, default, deserialize_with = "optional_text")]
    first_name: Option<Cow<'a, str>>,
    #[serde(rename = "LastName", borrow, default, deserialize_with = "optional_text")]
    last_name: Option<Cow<'a, str>>,
    #[serde(rename = "Email", borrow, default, deserialize_with = "optional_text")]
    email: Option<Cow<'a, str>>,
    #[serde(rename = "HasOptedOutOfEmail", default)]
    opted_out: Option<bool>,
    #[serde(rename = "IsEmailBounced", default)]
    bounced: Option<bool>,
    #[serde(rename = "EmailBouncedReason", borrow, default, deserialize_with = "optional_text")]
    bounce_reason: Option<Cow<'a, str>>,
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
    let parsed = QueryPage::<Row>::from_text(&body).map(|page| page.records.len());
    assert_eq!(parsed.ok(), Some(2000), "the benchmarked page parses");
    let mut group = c.benchmark_group("query_page");
    group.throughput(Throughput::Elements(2000));
    group.bench_function("parse_2000_records", |b| {
        b.iter(|| QueryPage::<Row>::from_text(black_box(&body)).map(|page| page.records.len()))
    });
    group.finish();
}

criterion_group!(benches, ids, hosts, query_page);
criterion_main!(benches);
