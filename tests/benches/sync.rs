//! The sync benchmark, shaped like production: a simulated org answering every request after a
//! realistic latency (250 ms a request by default, as Salesforce takes for a 2,000-record query
//! page), and the sync writing into (a) the embedded store and (b) DynamoDB, played by a stand-in
//! that answers after 20 ms a call and takes 4,000 items a second, as a new on-demand table does.
//! Each is compared with a floor that only logs in and fetches the same pages with the same
//! client. Every phase runs in its own process, so that its CPU time and peak RSS are its own.
//!
//! ```text
//! cargo bench -p outpost-tests --bench sync -- [--sizes 20000:10000,100000:50000] [--runs 3]
//!     [--latency-ms 250] [--dynamo-latency-ms 20] [--capacity 4000] [--no-reference]
//!     [--no-dynamodb]
//! ```
//!
//! Prints a Markdown table: wall time of each phase and its ratio to the floor, client CPU per
//! record, peak RSS, API calls against their floor, and what the DynamoDB stand-in saw. A last
//! row syncs the largest size at zero latency into the embedded store, for reference only.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_tests::dynamodb_standin::{DynamoStandIn, StandInSettings, StandInStats};
use outpost_tests::measure::{cpu_seconds, peak_rss_mib};
use outpost_tests::outpost_shared::hosts::HostPolicy;
use outpost_tests::outpost_shared::ids::{OrgId, RecipientObject};
use outpost_tests::outpost_shared::salesforce::{
    ApiMeter, ClientSettings, JwtBearer, OrgConnection, QueryOptions, RsaSigningKey, SalesforceClient,
};
use outpost_tests::outpost_shared::secrets::{LocalSecretFiles, SecretCache};
use outpost_tests::outpost_shared::services::{Services, aws_clients};
use outpost_tests::outpost_shared::store::{
    DynamoTable, EmbeddedTable, Items, OrgRegistration, OrgSecretNames, OrgStatus, ProvisioningMode, SharedStore,
    now_epoch,
};
use outpost_tests::outpost_sync::{RunOptions, RunOutcome, Selected, SyncContext, SyncSettings, sync_org};
use serde_json::json;

const ORG: &str = "00D5g0000SimOrg";
const PAGE: u64 = 2000;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("serve-sim") => serve_sim(&args[1..]),
        Some("serve-dynamo") => serve_dynamo(&args[1..]),
        Some("phase") => phase(&args[1..]),
        _ => orchestrate(&args),
    }
}

/// Runs `work` on a fresh multi-threaded runtime.
fn runtime<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(work)
}

/// Waits until the orchestrator closes this process's stdin.
async fn until_stdin_closes() -> Result<(), Error> {
    tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await?;
    Ok(())
}

/// `serve-sim <contacts> <leads> <latency ms> <public key file>`: a simulated org.
fn serve_sim(args: &[String]) -> Result<(), Error> {
    runtime(async {
        let config = salesforce_sim::SimConfig {
            org_id: ORG.into(),
            api_daily_limit: 100_000_000,
            latency: Duration::from_millis(args[2].parse()?),
            ..salesforce_sim::SimConfig::default()
        }
        .with_records(args[0].parse()?, args[1].parse()?)
        .with_jwt_public_key(std::fs::read(&args[3])?);
        let sim = salesforce_sim::Sim::spawn(config).await?;
        println!("{}", sim.base_url());
        until_stdin_closes().await?;
        sim.shutdown().await?;
        Ok(())
    })
}

/// `serve-dynamo <latency ms> <items a second>`: a DynamoDB stand-in with its `/_stats`.
fn serve_dynamo(args: &[String]) -> Result<(), Error> {
    runtime(async {
        let settings =
            StandInSettings { latency: Duration::from_millis(args[0].parse()?), write_capacity: args[1].parse()? };
        let stand_in = DynamoStandIn::start(settings).await?;
        println!("{}", stand_in.endpoint);
        until_stdin_closes().await
    })
}

/// `phase <floor|embedded|dynamodb> <sim url> <dir>`: one measured phase; prints one JSON line.
/// The DynamoDB phase reaches the stand-in through `AWS_ENDPOINT_URL`.
fn phase(args: &[String]) -> Result<(), Error> {
    let (kind, sim_url, dir) = (args[0].as_str(), args[1].as_str(), Path::new(&args[2]));
    let store_dir = dir.join(format!("store-{}", std::process::id()));
    let mut result = runtime(async {
        let (services, registration) = setup(kind, sim_url, dir, &store_dir).await?;
        match kind {
            "floor" => floor(&services, &registration, dir).await,
            _ => run_sync(services, &registration).await,
        }
    })?;
    result["peak_rss_mib"] = json!(peak_rss_mib());
    if store_dir.exists() {
        std::fs::remove_dir_all(&store_dir)?;
    }
    println!("{result}");
    Ok(())
}

async fn setup(kind: &str, sim_url: &str, dir: &Path, store_dir: &Path) -> Result<(Services, OrgRegistration), Error> {
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
    let store: SharedStore = match kind {
        "dynamodb" => {
            let (client, _) = aws_clients()?;
            DynamoTable::create_if_missing(&client, "bench").await?;
            Arc::new(Items::new(DynamoTable::new(client, "bench")))
        }
        _ => Arc::new(Items::new(EmbeddedTable::open(&store_dir.join("store"))?)),
    };
    let services = Services {
        config: Arc::new(outpost_tests::outpost_shared::config::Config {
            table_name: "bench".into(),
            app_secret_name: "outpost/app".into(),
            secret_prefix: "outpost".into(),
            public_url: None,
            secret_ttl: Duration::from_secs(300),
            host_policy: HostPolicy::dev_loopback(),
        }),
        store,
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
        settings: Default::default(),
        namespace: None,
    };
    services.store.put_org(&registration).await?;
    Ok((services, registration))
}

/// The least any sync must do: log in, then fetch every page of the sync's own queries with the
/// same client, reading each page's header to ask for the next, and discard the records.
async fn floor(services: &Services, org: &OrgRegistration, dir: &Path) -> Result<serde_json::Value, Error> {
    let host = org.host(services.config.host_policy)?;
    let key = RsaSigningKey::from_pem(&std::fs::read_to_string(dir.join("private.pem"))?)?;
    let grant = JwtBearer {
        consumer_key: salesforce_sim::config::DEFAULT_CONSUMER_KEY,
        username: "integration@acme-sim.example",
        key: &key,
    };
    let (started, cpu_before) = (Instant::now(), cpu_seconds());
    let token = services.salesforce.jwt_bearer_token(&host, &grant).await?;
    let meter = Arc::new(ApiMeter::default());
    let conn = OrgConnection::new(services.salesforce.clone(), host, token.access_token, Arc::clone(&meter));
    let options = QueryOptions { include_deleted: true, batch_size: Some(PAGE as u16) };
    let mut records = 0u64;
    for object in RecipientObject::ALL {
        let mut page = conn.query_first(&Selected::standard(object).changes_after(None), options).await?;
        records += page.header.total_size;
        while let Some(next) = page.header.next()?.map(str::to_owned) {
            page = conn.query_next(&next, options).await?;
        }
    }
    Ok(json!({"seconds": started.elapsed().as_secs_f64(), "cpu_seconds": cpu_seconds() - cpu_before,
        "records": records, "api_calls": meter.calls()}))
}

async fn run_sync(services: Services, org: &OrgRegistration) -> Result<serde_json::Value, Error> {
    let ctx = SyncContext::new(services, SyncSettings::default());
    let options =
        RunOptions { trigger: "bench".into(), deadline: Instant::now() + Duration::from_secs(3600), crash: None };
    let (started, cpu_before) = (Instant::now(), cpu_seconds());
    let RunOutcome::Ran(run) = sync_org(&ctx, org, &options).await else {
        return Err("the sync did not run".into());
    };
    Ok(json!({
        "seconds": started.elapsed().as_secs_f64(),
        "cpu_seconds": cpu_seconds() - cpu_before,
        "records": run.contacts.pulled + run.leads.pulled,
        "api_calls": run.api_calls,
        "status": run.status,
    }))
}

fn self_command(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sync")));
    command.args(args).env("RUST_LOG", "error");
    command
}

/// A helper process of this bench that prints its address on its first line and serves until
/// its stdin closes.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(args: &[&str]) -> Result<Self, Error> {
        let mut child = self_command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let mut url = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut url)?;
        Ok(Self { child, url: url.trim().to_owned() })
    }

    fn stop(mut self) -> Result<(), Error> {
        drop(self.child.stdin.take());
        self.child.wait()?;
        Ok(())
    }
}

fn measure(kind: &str, sim_url: &str, dir: &Path, dynamo: Option<&str>) -> Result<serde_json::Value, Error> {
    let mut command = self_command(&["phase", kind, sim_url, &dir.display().to_string()]);
    if let Some(endpoint) = dynamo {
        command.env("AWS_ENDPOINT_URL", endpoint).env("AWS_REGION", "us-east-1");
        command.env("AWS_ACCESS_KEY_ID", "bench").env("AWS_SECRET_ACCESS_KEY", "bench");
    }
    let output = command.stderr(Stdio::inherit()).output()?;
    if !output.status.success() {
        return Err(format!("the {kind} phase failed").into());
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    if kind != "floor" && result["status"] != "complete" {
        return Err(format!("the {kind} sync ended {}", result["status"]).into());
    }
    Ok(result)
}

/// A sync into a fresh DynamoDB stand-in, with what the stand-in saw.
fn measure_dynamo(sim_url: &str, dir: &Path, settings: &Settings) -> Result<serde_json::Value, Error> {
    let stand_in =
        Server::start(&["serve-dynamo", &settings.dynamo_latency_ms.to_string(), &settings.capacity.to_string()])?;
    let mut result = measure("dynamodb", sim_url, dir, Some(&stand_in.url))?;
    let stats: StandInStats =
        runtime(async { Ok(reqwest::get(format!("{}/_stats", stand_in.url)).await?.json().await?) })?;
    result["stand_in"] = serde_json::to_value(stats)?;
    stand_in.stop()?;
    Ok(result)
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

fn column(results: &[serde_json::Value], field: &str) -> Vec<f64> {
    results.iter().map(|result| result[field].as_f64().unwrap_or(f64::NAN)).collect()
}

fn largest(results: &[serde_json::Value], field: &str) -> f64 {
    column(results, field).into_iter().fold(f64::NAN, f64::max)
}

struct Settings {
    sizes: Vec<(usize, usize)>,
    runs: usize,
    latency_ms: u64,
    dynamo_latency_ms: u64,
    capacity: f64,
    reference: bool,
    dynamodb: bool,
}

fn settings(args: &[String]) -> Result<Settings, Error> {
    let mut settings = Settings {
        sizes: vec![(20_000, 10_000), (100_000, 50_000)],
        runs: 3,
        latency_ms: 250,
        dynamo_latency_ms: 20,
        capacity: 4_000.0,
        reference: true,
        dynamodb: true,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--sizes" => {
                settings.sizes = value()?
                    .split(',')
                    .map(|size| {
                        let (contacts, leads) = size.split_once(':').ok_or("a size is <contacts>:<leads>")?;
                        Ok::<_, Error>((contacts.parse()?, leads.parse()?))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--runs" => settings.runs = value()?.parse()?,
            "--latency-ms" => settings.latency_ms = value()?.parse()?,
            "--dynamo-latency-ms" => settings.dynamo_latency_ms = value()?.parse()?,
            "--capacity" => settings.capacity = value()?.parse()?,
            "--no-reference" => settings.reference = false,
            "--no-dynamodb" => settings.dynamodb = false,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if settings.runs == 0 || settings.sizes.is_empty() {
        return Err("--runs and --sizes need at least one".into());
    }
    Ok(settings)
}

/// The phases of one size: `runs` times a floor, a sync into the embedded store and one into
/// DynamoDB, in turns.
fn size_row(contacts: usize, leads: usize, latency_ms: u64, settings: &Settings, dir: &Path) -> Result<(), Error> {
    let public_key = dir.join("public.pem").display().to_string();
    let sim =
        Server::start(&["serve-sim", &contacts.to_string(), &leads.to_string(), &latency_ms.to_string(), &public_key])?;
    let (mut floors, mut embedded, mut dynamo) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..settings.runs {
        floors.push(measure("floor", &sim.url, dir, None)?);
        embedded.push(measure("embedded", &sim.url, dir, None)?);
        if settings.dynamodb {
            dynamo.push(measure_dynamo(&sim.url, dir, settings)?);
        }
    }
    sim.stop()?;
    let floor_s = column(&floors, "seconds");
    let ratio = |results: &[serde_json::Value]| {
        let ratios: Vec<f64> = column(results, "seconds").iter().zip(&floor_s).map(|(s, f)| s / f).collect();
        format!("{:.2} s ({:.3}×)", median(&column(results, "seconds")), median(&ratios))
    };
    let records = largest(&embedded, "records");
    let cpu_per_record = |results: &[serde_json::Value]| median(&column(results, "cpu_seconds")) / records * 1e6;
    let floor_calls = (contacts as u64).div_ceil(PAGE) + (leads as u64).div_ceil(PAGE);
    let stats = |field: &str| dynamo.iter().map(|d| d["stand_in"][field].as_u64().unwrap_or(0)).max().unwrap_or(0);
    println!(
        "| {contacts} + {leads} | {latency_ms} ms | {:.2} s | {} | {} | {:.1} / {:.1} / {:.1} | {:.0} / {:.0} / {:.0} | {} / {} ({floor_calls}) | {} of {} | {} |",
        median(&floor_s),
        ratio(&embedded),
        ratio(&dynamo),
        cpu_per_record(&floors),
        cpu_per_record(&embedded),
        cpu_per_record(&dynamo),
        largest(&floors, "peak_rss_mib"),
        largest(&embedded, "peak_rss_mib"),
        largest(&dynamo, "peak_rss_mib"),
        largest(&embedded, "api_calls"),
        largest(&dynamo, "api_calls"),
        stats("items_throttled"),
        stats("items_written"),
        stats("max_batches_in_flight"),
    );
    Ok(())
}

fn orchestrate(args: &[String]) -> Result<(), Error> {
    let settings = settings(args)?;
    // The stand-ins' statistics are read over HTTP with reqwest.
    salesforce_sim::install_tls_provider();
    let dir = tempfile::tempdir()?;
    let (private_pem, public_pem) =
        salesforce_sim::oauth::generate_integration_key_pair().map_err(|err| err.to_string())?;
    std::fs::write(dir.path().join("private.pem"), private_pem)?;
    std::fs::write(dir.path().join("public.pem"), public_pem)?;
    println!(
        "{} runs of each phase, medians; ratios to the floor are taken run by run. DynamoDB: a stand-in at {} ms a call and {} items/s.",
        settings.runs, settings.dynamo_latency_ms, settings.capacity
    );
    println!();
    println!(
        "| Contacts + Leads | Salesforce latency | floor | sync → embedded | sync → DynamoDB | client CPU µs/record floor / embedded / DynamoDB | peak RSS MiB floor / embedded / DynamoDB | API calls embedded / DynamoDB (floor) | DynamoDB items throttled of written | BatchWriteItem calls in flight, at most |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &(contacts, leads) in &settings.sizes {
        size_row(contacts, leads, settings.latency_ms, &settings, dir.path())?;
    }
    let reference = settings.sizes.last().copied().filter(|_| settings.reference);
    if let Some((contacts, leads)) = reference {
        size_row(contacts, leads, 0, &Settings { runs: 1, ..settings }, dir.path())?;
    }
    Ok(())
}
