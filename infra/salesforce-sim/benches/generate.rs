//! Timing of what the other benchmarks lean on: generating a 150,000-record org and paging
//! through it 2,000 rows at a time.
//!
//! `cargo bench -p salesforce-sim --bench generate`

// Bench code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use salesforce_sim::{SessionKind, Sim, SimConfig};
use serde_json::Value;

const CONTACTS: usize = 100_000;
const LEADS: usize = 50_000;
const SYNC_FIELDS: &str = "Id, FirstName, LastName, Email, HasOptedOutOfEmail, IsEmailBounced, \
                           EmailBouncedReason, EmailBouncedDate, SystemModstamp, IsDeleted";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let anchor = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    let mut cfg = SimConfig::default().with_records(CONTACTS, LEADS);
    cfg.anchor = Some(anchor);
    let org = salesforce_sim::SfId::parse(salesforce_sim::config::DEFAULT_ORG_ID).unwrap();
    let mut best = Duration::MAX;
    for _ in 0..6 {
        let started = Instant::now();
        let db = salesforce_sim::generate::generate(&cfg, &org, salesforce_sim::SfDateTime(1_780_000_000));
        best = best.min(started.elapsed());
        assert_eq!(db.contacts.records().len() + db.leads.records().len(), CONTACTS + LEADS);
    }
    println!("generate {} records: {best:?} (best of 6)", CONTACTS + LEADS);

    let sim = Sim::spawn(cfg).await.unwrap();
    let user = sim.integration_user().unwrap().id.to_string();
    let sid = sim.mint_session(&user, SessionKind::Api).unwrap();
    salesforce_sim::install_tls_provider();
    let http = reqwest::Client::new();
    for (object, extra) in [("Contact", ""), ("Lead", ", IsConverted")] {
        let soql = format!("SELECT {SYNC_FIELDS}{extra} FROM {object} ORDER BY SystemModstamp, Id");
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        let mut url = format!("{}/services/data/v64.0/queryAll?q={q}", sim.base_url());
        let started = Instant::now();
        let (mut rows, mut pages, mut slowest, mut fetching, mut bytes) = (0, 0, Duration::ZERO, Duration::ZERO, 0);
        loop {
            let t = Instant::now();
            let body = http.get(&url).bearer_auth(&sid).send().await.unwrap().bytes().await.unwrap();
            slowest = slowest.max(t.elapsed());
            fetching += t.elapsed();
            bytes += body.len();
            let page: Value = serde_json::from_slice(&body).unwrap();
            rows += page["records"].as_array().unwrap().len();
            pages += 1;
            match page["nextRecordsUrl"].as_str() {
                Some(next) => url = format!("{}{next}", sim.base_url()),
                None => break,
            }
        }
        println!(
            "{object}: {rows} rows in {pages} pages, {:.1} MB, fetching {fetching:?} (total with client-side \
             parsing {:?}), slowest page {slowest:?}",
            bytes as f64 / 1e6,
            started.elapsed()
        );
    }
    sim.shutdown().await.unwrap();
}
