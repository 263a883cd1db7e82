//! The sync benchmark: Contacts + Leads from a simulated org (its own process, no added latency)
//! into the embedded store, beside a "raw floor" that only fetches and discards the same pages
//! with the same client. Each phase runs in its own process, so that its peak RSS is its own, with
//! the allocator settings the sync function is deployed with.
//!
//! `cargo bench -p outpost-tests --bench sync [-- 100000:50000 15000:7500 … --runs 5]`: each size
//! runs a floor and a sync, taking turns to go first, `--runs` times (the machine's noise is larger
//! than the differences worth seeing), and reports medians and ranges.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_tests::outpost_shared::hosts::HostPolicy;
use outpost_tests::outpost_shared::ids::{OrgId, RecipientObject};
use outpost_tests::outpost_shared::salesforce::{
    ApiMeter, ClientSettings, JwtBearer, OrgConnection, QueryOptions, RsaSigningKey, SalesforceClient,
};
use outpost_tests::outpost_shared::secrets::{LocalSecretFiles, SecretCache};
use outpost_tests::outpost_shared::services::Services;
use outpost_tests::outpost_shared::store::{
    EmbeddedTable, Items, OrgRegistration, OrgSecretNames, OrgStatus, ProvisioningMode, SharedStore, now_epoch,
};
use outpost_tests::outpost_sync::{RunOptions, RunOutcome, SyncContext, SyncSettings, changes_after, sync_org};
use serde_json::json;

const ORG: &str = "00D5g0000SimOrg";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("serve-sim") => serve_sim(&args[1..]),
        Some("raw") => phase(&args[1..], Phase::Raw),
        Some("sync") => phase(&args[1..], Phase::Sync),
        _ => orchestrate(&args),
    }
}

/// `serve-sim <contacts> <leads> <public key file>`: a simulated org until stdin closes.
fn serve_sim(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let config = salesforce_sim::SimConfig {
            org_id: ORG.into(),
            api_daily_limit: 1_000_000,
            ..salesforce_sim::SimConfig::default()
        }
        .with_records(args[0].parse()?, args[1].parse()?)
        .with_jwt_public_key(std::fs::read(&args[2])?);
        let sim = salesforce_sim::Sim::spawn(config).await?;
        println!("{}", sim.base_url());
        // The orchestrator closes our stdin when it is done with us.
        tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await?;
        sim.shutdown().await?;
        Ok(())
    })
}

enum Phase {
    Raw,
    Sync,
}

/// Peak resident set size of this process, in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|line| line.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// CPU time this process has used (user + system, every thread), in seconds, to the nanosecond:
/// a page's work is a few milliseconds, finer than the kernel's 10 ms accounting ticks.
fn cpu_seconds() -> f64 {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

/// CPU time the whole machine has used (every process and the kernel; idle and I/O wait left
/// out), in seconds: the client, the simulated org, and the disk's kernel work together.
fn machine_cpu_seconds() -> f64 {
    ticks_to_seconds(std::fs::read_to_string("/proc/stat").ok().and_then(|stat| {
        // The first line sums all CPUs: user nice system idle iowait irq softirq steal.
        let ticks: Vec<f64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|field| field.parse().ok())
            .collect::<Option<_>>()?;
        Some(ticks.iter().enumerate().filter(|(at, _)| ![3, 4].contains(at)).map(|(_, ticks)| ticks).sum())
    }))
}

/// Seconds from a count of USER_HZ ticks (100 a second on Linux), NaN where it could not be read.
fn ticks_to_seconds(ticks: Option<f64>) -> f64 {
    ticks.map_or(f64::NAN, |ticks| ticks / 100.0)
}

/// `raw|sync <sim url> <key dir>`: one measured phase; prints one JSON line.
fn phase(args: &[String], phase: Phase) -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(&args[1]);
    let store_dir = dir.join(format!("store-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut result = runtime.block_on(async {
        let (services, table, registration) = setup(&args[0], dir, &store_dir).await?;
        match phase {
            Phase::Raw => raw_floor(&services, &registration, dir).await,
            Phase::Sync => run_sync(services, table, &registration).await,
        }
    })?;
    result["peak_rss_mib"] = json!(peak_rss_mib());
    // The store is closed (its merger joined) with the block above; later runs need not share
    // the disk and page cache with it.
    std::fs::remove_dir_all(&store_dir)?;
    println!("{result}");
    Ok(())
}

async fn setup(
    sim_url: &str,
    dir: &Path,
    store_dir: &Path,
) -> Result<(Services, EmbeddedTable, OrgRegistration), Box<dyn std::error::Error>> {
    let org_id = OrgId::parse(ORG)?;
    let secrets = LocalSecretFiles::new(dir.join("secrets"));
    let names = OrgSecretNames::conventional("outpost", &org_id);
    let private_pem = std::fs::read_to_string(dir.join("private.pem"))?;
    secrets.write(
        &names.integration,
        &json!({"kind": "jwt_bearer", "consumer_key": salesforce_sim::config::DEFAULT_CONSUMER_KEY,
            "username": "integration@acme-sim.example", "private_key_pem": private_pem, "my_domain_url": sim_url})
        .to_string(),
    )?;
    let table = EmbeddedTable::open(&store_dir.join("store"))?;
    let services = Services {
        config: Arc::new(outpost_tests::outpost_shared::config::Config {
            table_name: "bench".into(),
            app_secret_name: "outpost/app".into(),
            secret_prefix: "outpost".into(),
            public_url: None,
            secret_ttl: Duration::from_secs(300),
            host_policy: HostPolicy::dev_loopback(),
        }),
        store: Arc::new(Items::new(table.clone())) as SharedStore,
        secrets: Arc::new(SecretCache::new(Arc::new(secrets), Duration::from_secs(300))),
        salesforce: SalesforceClient::new(&ClientSettings::default())?,
    };
    let registration = OrgRegistration {
        org_id,
        name: "Bench".into(),
        pinned_host: sim_url.into(),
        mode: ProvisioningMode::PerUser,
        status: OrgStatus::Active,
        secrets: names,
        registered_at: now_epoch(),
    };
    services.store.put_org(&registration).await?;
    Ok((services, table, registration))
}

/// Fetches every page of the sync's own queries with the same client, reads each page's header as
/// the sync's fetch loop does, and discards the records.
async fn raw_floor(
    services: &Services,
    org: &OrgRegistration,
    dir: &Path,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let host = org.host(services.config.host_policy)?;
    let key = RsaSigningKey::from_pem(&std::fs::read_to_string(dir.join("private.pem"))?)?;
    let grant = JwtBearer {
        consumer_key: salesforce_sim::config::DEFAULT_CONSUMER_KEY,
        username: "integration@acme-sim.example",
        key: &key,
    };
    let token = services.salesforce.jwt_bearer_token(&host, &grant).await?;
    let meter = Arc::new(ApiMeter::default());
    let conn = OrgConnection::new(services.salesforce.clone(), host, token.access_token, Arc::clone(&meter));
    let options = QueryOptions { include_deleted: true, batch_size: Some(2000) };
    let started = Instant::now();
    let (cpu_before, machine_before) = (cpu_seconds(), machine_cpu_seconds());
    let mut records = 0u64;
    for object in RecipientObject::ALL {
        let soql = changes_after(object, None);
        let mut page = conn.query_first(&soql, options).await?;
        records += page.header.total_size;
        while let Some(next) = page.header.next()?.map(str::to_owned) {
            page = conn.query_next(&next, options).await?;
        }
    }
    Ok(json!({"seconds": started.elapsed().as_secs_f64(), "cpu_seconds": cpu_seconds() - cpu_before,
        "machine_cpu_seconds": machine_cpu_seconds() - machine_before, "records": records, "api_calls": meter.calls()}))
}

async fn run_sync(
    services: Services,
    table: EmbeddedTable,
    org: &OrgRegistration,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let ctx = SyncContext::new(services, SyncSettings::default());
    let options =
        RunOptions { trigger: "bench".into(), deadline: Instant::now() + Duration::from_secs(3600), crash: None };
    let started = Instant::now();
    let (cpu_before, machine_before) = (cpu_seconds(), machine_cpu_seconds());
    let RunOutcome::Ran(run) = sync_org(&ctx, org, &options).await else {
        return Err("the sync did not run".into());
    };
    let seconds = started.elapsed().as_secs_f64();
    let (cpu, machine_cpu) = (cpu_seconds() - cpu_before, machine_cpu_seconds() - machine_before);
    // The merges still due when the run ends, done now: the sync's deferred work, reported apart.
    tokio::task::spawn_blocking(move || table.settle()).await??;
    let settled = started.elapsed().as_secs_f64();
    Ok(json!({
        "seconds": seconds,
        "cpu_seconds": cpu,
        "machine_cpu_seconds": machine_cpu,
        "settled_seconds": settled,
        "records": run.contacts.pulled + run.leads.pulled,
        "floor_calls": run.contacts.pulled.div_ceil(2000) + run.leads.pulled.div_ceil(2000),
        "api_calls": run.api_calls,
        "status": run.status,
        "pages": run.contacts.pages + run.leads.pages,
    }))
}

fn self_command(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sync")));
    command.args(args);
    command
}

/// The allocator settings the sync function is deployed with (template.yaml): both phases run with
/// them, as the function does.
fn deployed_glibc_tunables() -> Result<String, Box<dyn std::error::Error>> {
    let template = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))?;
    let value = template.lines().find_map(|line| line.trim().strip_prefix("GLIBC_TUNABLES:"));
    Ok(value.ok_or("template.yaml sets no GLIBC_TUNABLES")?.trim().trim_matches(['"', '\'']).to_owned())
}

fn measure(kind: &str, url: &str, dir: &Path, tunables: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let output = self_command(&[kind, url, &dir.display().to_string()])
        .env("RUST_LOG", "error")
        .env("GLIBC_TUNABLES", tunables)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("{kind} phase failed").into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The median of `values` (NaN for none).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `median [min–max]` of `values`, to `digits` decimals.
fn spread(values: &[f64], digits: usize) -> String {
    let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    format!("{:.digits$} [{min:.digits$}–{max:.digits$}]", median(values))
}

fn number(result: &serde_json::Value, field: &str) -> f64 {
    result[field].as_f64().unwrap_or(f64::NAN)
}

fn orchestrate(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let mut runs = 5usize;
    let mut sizes: Vec<(usize, usize)> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = args.next().ok_or("--runs needs a number")?.parse()?;
        } else if let Some((contacts, leads)) = arg.split_once(':') {
            sizes.push((contacts.parse()?, leads.parse()?));
        } else {
            return Err(format!("unknown argument {arg:?}: expected <contacts>:<leads> or --runs N").into());
        }
    }
    if runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if sizes.is_empty() {
        sizes = vec![(15_000, 7_500), (50_000, 25_000), (100_000, 50_000)];
    }
    let tunables = deployed_glibc_tunables()?;
    let dir = tempfile::tempdir()?;
    let (private_pem, public_pem) =
        salesforce_sim::oauth::generate_integration_key_pair().map_err(|err| err.to_string())?;
    std::fs::write(dir.path().join("private.pem"), private_pem)?;
    std::fs::write(dir.path().join("public.pem"), public_pem)?;
    println!(
        "Each size: {runs} runs, a floor and a sync each time, taking turns to go first; median [min–max]. The ratio is taken run by run."
    );
    println!("Both phases run with the sync function's GLIBC_TUNABLES={tunables} (template.yaml).");
    println!();
    println!(
        "| Contacts + Leads | raw floor s | sync s | ratio | merges settled s | sync records/s | API calls (floor) | peak RSS sync / raw MiB | client CPU sync / raw s | machine CPU sync / raw s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (contacts, leads) in sizes {
        let mut sim: Child = self_command(&[
            "serve-sim",
            &contacts.to_string(),
            &leads.to_string(),
            &dir.path().join("public.pem").display().to_string(),
        ])
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
        let mut url = String::new();
        BufReader::new(sim.stdout.take().ok_or("sim stdout")?).read_line(&mut url)?;
        let url = url.trim().to_owned();
        let (mut raws, mut syncs) = (Vec::new(), Vec::new());
        for run in 0..runs {
            // The phases take turns going first, so that neither always meets the org as the
            // other left it (or first, just after it started).
            if run % 2 == 0 {
                raws.push(measure("raw", &url, dir.path(), &tunables)?);
            }
            let sync = measure("sync", &url, dir.path(), &tunables)?;
            if run % 2 == 1 {
                raws.push(measure("raw", &url, dir.path(), &tunables)?);
            }
            if sync["status"] != "complete" {
                return Err(format!("sync ended {}", sync["status"]).into());
            }
            syncs.push(sync);
        }
        drop(sim.stdin.take());
        sim.wait()?;
        let column = |results: &[serde_json::Value], field: &str| -> Vec<f64> {
            results.iter().map(|result| number(result, field)).collect()
        };
        let (raw_s, sync_s) = (column(&raws, "seconds"), column(&syncs, "seconds"));
        let ratios: Vec<f64> = sync_s.iter().zip(&raw_s).map(|(sync, raw)| sync / raw).collect();
        let records = syncs.iter().map(|sync| number(sync, "records")).fold(0.0, f64::max);
        let peak = |results: &[serde_json::Value]| column(results, "peak_rss_mib").into_iter().fold(0.0, f64::max);
        println!(
            "| {contacts} + {leads} | {} | {} | {} | {} | {:.0} | {} ({}) | {:.1} / {:.1} | {:.3} / {:.3} | {:.2} / {:.2} |",
            spread(&raw_s, 3),
            spread(&sync_s, 3),
            spread(&ratios, 3),
            spread(&column(&syncs, "settled_seconds"), 3),
            records / median(&sync_s),
            syncs.iter().map(|sync| sync["api_calls"].as_u64().unwrap_or(0)).max().unwrap_or(0),
            syncs[0]["floor_calls"],
            peak(&syncs),
            peak(&raws),
            median(&column(&syncs, "cpu_seconds")),
            median(&column(&raws, "cpu_seconds")),
            median(&column(&syncs, "machine_cpu_seconds")),
            median(&column(&raws, "machine_cpu_seconds")),
        );
    }
    Ok(())
}
