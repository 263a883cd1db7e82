//! Server time of the HTTP hot paths on the local stack (in this process, simulated org with no
//! added latency, embedded store):
//! - `/entry` for a known user, minus the HTTP round trip every request pays (`/health`) and minus
//!   its own Salesforce and store round trips (org read, userinfo ‖ mapping read, session write)
//!   measured alone with the same clients;
//! - a 200-record Apex callout, minus the round trip and the store time of the same writes;
//! - and, measured inside the server, the time each `/entry` request's span is being polled: its
//!   own work, with every awaited round trip left out (inline store reads stay in: an upper bound).
//!
//! `cargo bench -p outpost-tests --bench http`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outpost_tests::TestStack;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::outpost_shared::app_session::SessionPolicy;
use outpost_tests::outpost_shared::crypto;
use outpost_tests::outpost_shared::ids::RecordId;
use outpost_tests::outpost_shared::store::{ProvisioningMode, Recipient, now_epoch};
use outpost_tests::outpost_shared::tokens::SessionId;
use salesforce_sim::SessionKind;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const ROUNDS: usize = 2000;

struct Percentiles {
    p50: f64,
    p99: f64,
}

/// Percentiles of samples in milliseconds.
fn percentiles(samples: &[f64]) -> Percentiles {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    Percentiles { p50: at(0.50), p99: at(0.99) }
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// Per round: `total - Σ parts`, each part measured in the same round (the p99 of a difference
/// is not the difference of p99s).
fn beyond(total: &[f64], parts: &[&[f64]]) -> Vec<f64> {
    total.iter().enumerate().map(|(i, t)| t - parts.iter().map(|part| part[i]).sum::<f64>()).collect()
}

fn report(name: &str, p: &Percentiles) {
    println!("{name:<58} p50 {:>7.3} ms   p99 {:>7.3} ms", p.p50, p.p99);
}

/// Busy time of the local stack's `request` spans (time being polled), with their paths.
#[derive(Clone, Default)]
struct BusyTime(Arc<Mutex<Vec<(String, f64)>>>);

struct Polled {
    path: String,
    busy: Duration,
    entered: Option<Instant>,
}

struct PathField(String);

impl Visit for PathField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "path" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for BusyTime {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "request" {
            return;
        }
        let mut path = PathField(String::new());
        attrs.record(&mut path);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Polled { path: path.0, busy: Duration::ZERO, entered: None });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(polled) = span.extensions_mut().get_mut::<Polled>()
        {
            polled.entered = Some(Instant::now());
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(polled) = span.extensions_mut().get_mut::<Polled>()
            && let Some(entered) = polled.entered.take()
        {
            polled.busy += entered.elapsed();
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(polled) = span.extensions_mut().remove::<Polled>()
        {
            self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((polled.path, millis(polled.busy)));
        }
    }
}

impl BusyTime {
    /// The busy times recorded for `path` since the last call, in milliseconds.
    fn take(&self, path: &str) -> Vec<f64> {
        let mut recorded = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        recorded.drain(..).filter(|(p, _)| p == path).map(|(_, busy)| busy).collect()
    }
}

#[tokio::main]
async fn main() {
    let busy = BusyTime::default();
    // Installed before the stack, whose own log capture then stands aside.
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(busy.clone()));
    let stack = TestStack::start().await;
    let org = stack.acme();
    let sim = stack.sim(org);
    let user = stack.user(org, UserKind::Known);
    let services = &stack.stack.services;
    let host = org.registration.host(services.config.host_policy).expect("pinned host");

    // Warm every connection pool and cache.
    for _ in 0..200 {
        stack.get(&stack.url("/health")).await;
        stack.get(&stack.link(org, user, None, SessionKind::Api)).await;
    }

    busy.take("/entry");
    let mut health = Vec::with_capacity(ROUNDS);
    let mut entry = Vec::with_capacity(ROUNDS);
    let mut io = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        stack.get(&stack.url("/health")).await;
        health.push(millis(started.elapsed()));

        let link = stack.link(org, user, None, SessionKind::Api);
        let started = Instant::now();
        let response = stack.get(&link).await;
        entry.push(millis(started.elapsed()));
        assert_eq!(response.status(), 303);

        let sid = sim.mint_session(user.user_id.as_str(), SessionKind::Api).expect("session");
        let sid = SessionId::parse(&sid, &org.registration.org_id).expect("sid");
        let started = Instant::now();
        let registration = services.store.get_org(&org.registration.org_id).await.expect("org");
        let (info, mapping) = tokio::join!(
            services.salesforce.userinfo(&host, sid.token()),
            services.store.get_user(&org.registration.org_id, &user.user_id),
        );
        assert!(registration.is_some() && info.is_ok() && mapping.is_ok());
        let issued = SessionPolicy::default().issue(
            org.registration.org_id,
            user.user_id,
            ProvisioningMode::PerUser,
            now_epoch(),
        );
        services.store.create_session(&issued.record).await.expect("session write");
        io.push(millis(started.elapsed()));
    }
    println!("/entry, known user, {ROUNDS} requests");
    report("  HTTP round trip of /health", &percentiles(&health));
    report("  /entry as the client sees it", &percentiles(&entry));
    report("  its Salesforce + store round trips alone", &percentiles(&io));
    report("  server time beyond them (entry - health - round trips)", &percentiles(&beyond(&entry, &[&health, &io])));
    let polled = busy.take("/entry");
    assert_eq!(polled.len(), ROUNDS, "one request span per /entry");
    report("  server time inside: the request span being polled", &percentiles(&polled));

    let records: Vec<serde_json::Value> = (0..200)
        .map(|n| {
            serde_json::json!({
                "Id": RecordId::parse(&format!("003q0000{n:07}")).expect("id").to_string(),
                "FirstName": "Ada", "LastName": format!("Lovelace {n}"), "Email": format!("ada{n}@example.com"),
                "HasOptedOutOfEmail": false, "IsEmailBounced": false, "EmailBouncedReason": null,
                "EmailBouncedDate": null, "SystemModstamp": "2026-11-01T12:00:00.000+0000"
            })
        })
        .collect();
    let callout = |modstamp_second: usize| {
        let mut batch = records.clone();
        let stamp = format!("2026-11-01T12:{:02}:{:02}.000+0000", (modstamp_second / 60) % 60, modstamp_second % 60);
        for record in &mut batch {
            record["SystemModstamp"] = serde_json::Value::String(stamp.clone());
        }
        serde_json::json!({"sobject": "Contact", "records": batch, "deleted": []}).to_string()
    };
    let mut apex = Vec::with_capacity(500);
    let mut store_only = Vec::with_capacity(500);
    let recipients: Vec<Recipient> = (0..200)
        .map(|n| Recipient {
            first_name: Some("Ada".into()),
            last_name: Some(format!("Lovelace {n}")),
            email: Some(format!("ada{n}@example.com")),
            ..Recipient::empty(RecordId::parse(&format!("003r0000{n:07}")).expect("id"), 0)
        })
        .collect();
    let mut apex_health = Vec::with_capacity(500);
    for round in 0..500 {
        let started = Instant::now();
        stack.get(&stack.url("/health")).await;
        apex_health.push(millis(started.elapsed()));

        let body = callout(round + 1);
        let started = Instant::now();
        let response = stack
            .http
            .post(stack.url("/apex/v1/records"))
            .header("authorization", format!("Bearer {}", org.callout_key))
            .header("x-outpost-org", org.registration.org_id.to_string())
            .header("idempotency-key", crypto::random_token())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("callout");
        apex.push(millis(started.elapsed()));
        assert_eq!(response.status(), 200);

        let batch: Vec<Recipient> =
            recipients.iter().map(|r| Recipient { modstamp: round as i64 + 1, ..r.clone() }).collect();
        let started = Instant::now();
        services.store.apply_recipients(&org.registration.org_id, &batch).await.expect("apply");
        store_only.push(millis(started.elapsed()));
    }
    println!("\n/apex/v1/records, 200 records, 500 calls (embedded store)");
    report("  as the client sees it", &percentiles(&apex));
    report("  the 200 conditional writes alone", &percentiles(&store_only));
    report(
        "  server time beyond round trip and those writes",
        &percentiles(&beyond(&apex, &[&apex_health, &store_only])),
    );
    stack.stack.stop().await.expect("stop");
}
