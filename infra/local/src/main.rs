//! `cargo run -p outpost-local`: the whole Outpost stack on localhost.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use outpost_local::provision::{DEMO_ORGS, OrgFile};
use outpost_local::{LocalConfig, LocalStack, OrgSource, services};
use outpost_shared::hosts::HostPolicy;
use outpost_shared::ids::{OrgId, RecordId};
use outpost_shared::salesforce::ClientSettings;
use outpost_shared::store::{Change, Created, WriteBack, now_epoch};
use outpost_shared::telemetry::{self, LogFormat};
use outpost_sync::{RunOptions, RunOutcome, SyncContext, SyncSettings, sync_orgs};

#[derive(Parser)]
#[command(
    name = "outpost-local",
    about = "Outpost on localhost: simulated Salesforce orgs and every function, one process"
)]
struct Cli {
    /// Port to serve Outpost on (127.0.0.1).
    #[arg(long, env = "OUTPOST_PORT", default_value_t = 3000, global = true)]
    port: u16,
    /// Where the store, secrets and simulated orgs live.
    #[arg(long, env = "OUTPOST_DATA_DIR", default_value = ".outpost", global = true)]
    data_dir: PathBuf,
    /// Register a real org from this TOML file instead of starting simulated ones.
    #[arg(long, global = true)]
    org_file: Option<PathBuf>,
    /// Contacts in the simulated demo org (first start of a data dir only).
    #[arg(long, default_value_t = 2000, global = true)]
    contacts: usize,
    /// Leads in the simulated demo org (first start of a data dir only).
    #[arg(long, default_value_t = 1000, global = true)]
    leads: usize,
    /// Seconds between background syncs while serving (0 turns them off).
    #[arg(long, default_value_t = 300, global = true)]
    sync_interval_seconds: u64,
    /// How long one sync run may take before it stops with its checkpoint saved.
    #[arg(long, default_value_t = 840, global = true)]
    deadline_seconds: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one sync and print its run record(s) as JSON on stdout.
    Sync {
        /// Run once and exit (the only mode; the server syncs on an interval by itself).
        #[arg(long, required = true)]
        once: bool,
        /// Only this org (default: every active org).
        #[arg(long)]
        org: Option<String>,
    },
    /// Register the --org-file org with Outpost on AWS: its item in the DynamoDB table and its
    /// secrets in Secrets Manager (credentials, region and AWS_ENDPOINT_URL from the environment).
    RegisterOrg {
        /// The stack's DynamoDB table (output TableName).
        #[arg(long)]
        table: String,
        /// The stack's SecretPrefix parameter.
        #[arg(long, default_value = "outpost")]
        secret_prefix: String,
    },
    /// Queue an opt-out of a Contact or Lead for write-back to Salesforce.
    Optout {
        /// The Contact (003…) or Lead (00Q…) id.
        record: String,
        /// The org (default: the demo org).
        #[arg(long)]
        org: Option<String>,
    },
}

/// Written while a stack serves, so one-off commands use its simulated orgs instead of starting others.
#[derive(serde::Serialize, serde::Deserialize)]
struct StackFile {
    pid: u32,
    base_url: String,
}

fn stack_file(data_dir: &Path) -> PathBuf {
    data_dir.join("stack.json")
}

fn running_stack(data_dir: &Path) -> Option<StackFile> {
    let file: StackFile = serde_json::from_slice(&std::fs::read(stack_file(data_dir)).ok()?).ok()?;
    Path::new(&format!("/proc/{}", file.pid)).exists().then_some(file)
}

impl Cli {
    fn config(&self, address: SocketAddr) -> LocalConfig {
        let mut config = LocalConfig::new(self.data_dir.clone());
        config.address = address;
        config.orgs = match &self.org_file {
            Some(path) => OrgSource::File(path.clone()),
            None => OrgSource::Simulated { contacts: self.contacts, leads: self.leads },
        };
        config.sync_interval =
            (self.sync_interval_seconds > 0).then(|| Duration::from_secs(self.sync_interval_seconds));
        config.sync_deadline = Duration::from_secs(self.deadline_seconds);
        config
    }

    fn sync_options(&self) -> RunOptions {
        RunOptions {
            trigger: "local".into(),
            deadline: Instant::now() + Duration::from_secs(self.deadline_seconds),
            crash: None,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(LogFormat::Pretty);
    let cli = Cli::parse();
    match &cli.command {
        None => serve(&cli).await,
        Some(Command::Sync { org, .. }) => sync_once(&cli, org.as_deref()).await,
        Some(Command::Optout { record, org }) => optout(&cli, record, org.as_deref()).await,
        Some(Command::RegisterOrg { table, secret_prefix }) => register_org(&cli, table, secret_prefix).await,
    }
}

async fn serve(cli: &Cli) -> anyhow::Result<()> {
    if let Some(path) = &cli.org_file
        && OrgFile::read(path)?.insecure_dev_host
    {
        eprintln!(
            "\n  !!! INSECURE DEVELOPMENT HOST: {} may name a plain-HTTP loopback Salesforce host.",
            path.display()
        );
        eprintln!("  !!! Session ids travel unencrypted to it. Never use this outside your own machine.\n");
    }
    let stack = LocalStack::start(cli.config(SocketAddr::from(([127, 0, 0, 1], cli.port)))).await?;
    let stack_file = stack_file(&stack.data_dir);
    std::fs::write(
        &stack_file,
        serde_json::to_vec(&StackFile { pid: std::process::id(), base_url: stack.base_url.clone() })?,
    )?;
    println!("\nOutpost local stack is up.\n");
    println!("  Open Outpost as Salesforce would:  {}/", stack.base_url);
    println!("  Machine-readable info:             {}/_local/info", stack.base_url);
    for org in stack.orgs.iter() {
        println!(
            "  Salesforce org {:<13} {} ({}, {})",
            org.registration.name,
            org.registration.pinned_host,
            org.registration.org_id,
            org.registration.mode.as_str()
        );
    }
    println!("  Data directory:                    {}", stack.data_dir.display());
    match cli.sync_interval_seconds {
        0 => println!("  Background sync:                   off"),
        seconds => println!("  Background sync:                   every {seconds} s"),
    }
    println!("\nPress Ctrl-C to stop.\n");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    println!("\nStopping…");
    let _ = std::fs::remove_file(&stack_file);
    stack.stop().await?;
    println!("Stopped; state saved in {}.", cli.data_dir.display());
    Ok(())
}

fn parse_org(org: &str) -> anyhow::Result<OrgId> {
    OrgId::parse(org).map_err(|err| anyhow::anyhow!("--org {org}: {err}"))
}

async fn sync_once(cli: &Cli, org: Option<&str>) -> anyhow::Result<()> {
    let only = org.map(parse_org).transpose()?.map(|org| vec![org]);
    let settings = SyncSettings::default();
    let outcomes = match running_stack(&cli.data_dir) {
        // The serving stack's simulated orgs are already registered and reachable.
        Some(running) => {
            eprintln!("using the running stack at {}", running.base_url);
            let policy = match &cli.org_file {
                Some(path) => OrgFile::read(path)?.host_policy(),
                None => HostPolicy::dev_loopback(),
            };
            let services = services(&cli.data_dir, policy, &running.base_url, &ClientSettings::default())?;
            let ctx = SyncContext::new(services, settings);
            sync_orgs(&ctx, only.as_deref(), &cli.sync_options()).await?
        }
        None => {
            let mut config = cli.config(SocketAddr::from(([127, 0, 0, 1], 0)));
            config.sync_interval = None;
            config.sync = settings;
            let stack = LocalStack::start(config).await?;
            let outcomes = sync_orgs(&stack.sync, only.as_deref(), &cli.sync_options()).await;
            stack.stop().await?;
            outcomes?
        }
    };
    let records: Vec<serde_json::Value> = outcomes
        .into_iter()
        .map(|(org, outcome)| match outcome {
            RunOutcome::Ran(run) => serde_json::to_value(*run).unwrap_or_default(),
            RunOutcome::AlreadyRunning => serde_json::json!({"org_id": org, "status": "already_running"}),
            RunOutcome::Crashed => serde_json::json!({"org_id": org, "status": "crashed"}),
        })
        .collect();
    let output = match records.as_slice() {
        [one] => serde_json::to_string_pretty(one)?,
        many => serde_json::to_string_pretty(many)?,
    };
    println!("{output}");
    Ok(())
}

async fn optout(cli: &Cli, record: &str, org: Option<&str>) -> anyhow::Result<()> {
    let record =
        RecordId::parse(record).map_err(|err| anyhow::anyhow!("{record} is not a Contact or Lead id: {err}"))?;
    let org = match org {
        Some(org) => parse_org(org)?,
        None => OrgId::parse(DEMO_ORGS[0].org_id)?,
    };
    let services = services(&cli.data_dir, HostPolicy::dev_loopback(), "http://127.0.0.1", &ClientSettings::default())?;
    let store = &services.store;
    anyhow::ensure!(store.get_org(&org).await?.is_some(), "org {org} is not registered in {}", cli.data_dir.display());
    // Excluded from mail at once; Salesforce learns it at the next sync's write-back.
    if let Some(mut recipient) = store.get_recipient(&org, &record).await? {
        recipient.opted_out = true;
        store.write_recipients(&org, &[recipient]).await?;
    }
    let now = now_epoch();
    let queued = store
        .enqueue_write_back(&WriteBack {
            org_id: org,
            record,
            change: Change::OptOut,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            enqueued_at: now,
        })
        .await?;
    println!("{}", serde_json::json!({"org_id": org, "record": record, "queued": queued == Created::Created}));
    Ok(())
}

async fn register_org(cli: &Cli, table: &str, secret_prefix: &str) -> anyhow::Result<()> {
    let path = cli.org_file.as_deref().context("register-org needs --org-file")?;
    let file = OrgFile::read(path)?;
    anyhow::ensure!(!file.insecure_dev_host, "insecure_dev_host is for the local stack only");
    let org = outpost_local::register_on_aws(&file, path, table, secret_prefix).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "org_id": org.registration.org_id,
            "pinned_host": org.registration.pinned_host,
            "mode": org.registration.mode.as_str(),
            "secrets": org.registration.secrets,
            "callout_key": org.callout_key,
            "next": "Set callout_key as the CalloutKey parameter of the Outpost External Credential's principal in Salesforce.",
        }))?
    );
    Ok(())
}
