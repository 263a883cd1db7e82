//! Sending a campaign at production size on the local stack: a simulated org of 100,000 Contacts
//! and 50,000 Leads synced into the embedded store, a list of everyone, then
//! - the freeze: writing each member down as the campaign's recipients, its time and the
//!   process's resident memory while it runs;
//! - the sending: render, claim, hand to the outbox, record, per message; wall time and CPU time
//!   (messages per CPU-second is what one core does). SES's rate is set out of the way, so
//!   Outpost is what is measured; the target is ≥ 2,000 messages/s on one core.
//!
//! `cargo bench -p outpost-tests --bench campaigns -- [--contacts 100000] [--leads 50000]`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use outpost_tests::measure::{cpu_seconds, peak_rss_mib, rss_mib};
use outpost_tests::outpost_local::campaigns::LocalSesSettings;
use outpost_tests::outpost_local::provision::UserKind;
use outpost_tests::{StackOptions, TestStack};
use salesforce_sim::SessionKind;
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

struct Args {
    contacts: usize,
    leads: usize,
}

fn args() -> Result<Args, Error> {
    let mut parsed = Args { contacts: 100_000, leads: 50_000 };
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--contacts" => parsed.contacts = value.parse()?,
            "--leads" => parsed.leads = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(parsed)
}

fn main() -> Result<(), Error> {
    let args = args()?;
    // Only warnings: the benchmark measures sending, not its debug logging.
    let quiet = tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).finish();
    tracing::subscriber::set_global_default(quiet)?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

/// The highest resident memory seen while `running` holds, sampled every 10 ms.
fn watch_rss(running: Arc<AtomicBool>) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut highest = rss_mib();
        while running.load(Ordering::Relaxed) {
            highest = highest.max(rss_mib());
            std::thread::sleep(Duration::from_millis(10));
        }
        highest
    })
}

async fn run(args: Args) -> Result<(), Error> {
    println!("Syncing {} Contacts and {} Leads…", args.contacts, args.leads);
    let ses = LocalSesSettings { max_send_rate: 1_000_000.0, max_24_hour_send: 10_000_000.0 };
    let options = StackOptions { contacts: args.contacts, leads: args.leads, ses, ..StackOptions::default() };
    let stack = TestStack::start_with(options).await;
    outpost_tests::outpost_local::sync_once(&stack.stack.sync, None, Duration::from_secs(900)).await?;
    let acme = stack.acme();
    let sim = stack.sim(acme);
    let sid = sim.mint_session(stack.user(acme, UserKind::Known).user_id.as_str(), SessionKind::Api)?;
    let instance = sim.base_url().trim_start_matches("http://").to_owned();
    let call = |method: reqwest::Method, path: &str, body: &Value| {
        stack
            .http
            .request(method, stack.url(path))
            .bearer_auth(&sid)
            .header("x-salesforce-instance", &instance)
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    let list: Value =
        call(reqwest::Method::POST, "/api/v1/lists", &json!({"name": "Everyone", "objects": ["Contact", "Lead"]}))
            .send()
            .await?
            .json()
            .await?;
    let members = list["count"].as_u64().unwrap_or_default();
    let body = json!({
        "list_id": list["id"], "subject": "News for {{FirstName|you}}", "from": "news@acme.example",
        "html": "<p>Hello {{FirstName|there}} {{LastName}} of {{Company}},</p><p>Our spring news.</p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>",
        "text": "Hello {{FirstName|there}},\n\nOur spring news.\n\nUnsubscribe: {{unsubscribe_url}}\n",
    });
    let created: Value = call(reqwest::Method::POST, "/api/v1/campaigns", &body).send().await?.json().await?;
    let id = created["id"].as_str().ok_or("no campaign id")?.to_owned();
    let state = |campaign: &Value| (campaign["status"].clone(), campaign["counts"]["recipients"].as_u64().unwrap_or(0));

    let rss_before = rss_mib();
    let running = Arc::new(AtomicBool::new(true));
    let watcher = watch_rss(Arc::clone(&running));
    let (cpu_start, started) = (cpu_seconds(), Instant::now());
    let sent = call(reqwest::Method::POST, &format!("/api/v1/campaigns/{id}/send"), &json!({})).send().await?;
    assert_eq!(sent.status(), 202, "{}", sent.text().await?);
    // Frozen once the recipients are counted; the first messages leave at the same moment.
    let (frozen_at, cpu_frozen) = loop {
        let campaign: Value =
            call(reqwest::Method::GET, &format!("/api/v1/campaigns/{id}"), &json!({})).send().await?.json().await?;
        if state(&campaign).1 > 0 {
            break (started.elapsed(), cpu_seconds());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    running.store(false, Ordering::Relaxed);
    let freeze_rss = watcher.join().map_err(|_| "the RSS watcher panicked")?;
    let running = Arc::new(AtomicBool::new(true));
    let watcher = watch_rss(Arc::clone(&running));
    let done = loop {
        let campaign: Value =
            call(reqwest::Method::GET, &format!("/api/v1/campaigns/{id}"), &json!({})).send().await?.json().await?;
        if campaign["status"] == "sent" {
            break campaign;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (sent_at, cpu_sent) = (started.elapsed(), cpu_seconds());
    running.store(false, Ordering::Relaxed);
    let send_rss = watcher.join().map_err(|_| "the RSS watcher panicked")?;

    let messages = done["counts"]["sent"].as_u64().unwrap_or_default();
    let sending = (sent_at - frozen_at).as_secs_f64();
    let sending_cpu = cpu_sent - cpu_frozen;
    println!("\n{members} list members, {} frozen, {messages} sent.\n", state(&done).1);
    println!("| what | value |");
    println!("|---|---:|");
    println!(
        "| freeze (evaluate, exclude, write every recipient) | {:.2} s, {:.2} CPU-s |",
        frozen_at.as_secs_f64(),
        cpu_frozen - cpu_start
    );
    println!("| resident memory before the freeze | {rss_before:.0} MiB |");
    println!("| highest resident memory during the freeze | {freeze_rss:.0} MiB |");
    println!("| sending (render, claim, outbox, record) | {sending:.2} s wall, {sending_cpu:.2} CPU-s |");
    println!("| messages per second, wall (2 cores) | {:.0} |", messages as f64 / sending);
    println!("| messages per CPU-second (one core) | {:.0} |", messages as f64 / sending_cpu);
    println!("| highest resident memory while sending | {send_rss:.0} MiB |");
    println!("| process peak resident memory (sync included) | {:.0} MiB |", peak_rss_mib());
    stack.stack.stop().await?;
    Ok(())
}
