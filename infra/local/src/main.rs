//! `cargo run -p outpost-local`: the whole Outpost stack on localhost.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use outpost_local::provision::{DEMO_ORGS, OrgFile};
use outpost_local::{Backend, LocalCommand, LocalConfig, LocalStack, OrgSource, services};
use outpost_shared::hosts::HostPolicy;
use outpost_shared::ids::{OrgId, RecordId};
use outpost_shared::salesforce::ClientSettings;
use outpost_shared::telemetry::{self, LogFormat};

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
    /// Seconds between a long sync's progress lines on stderr.
    #[arg(long, default_value_t = 5, global = true)]
    progress_seconds: u64,
    /// Keep the store in this DynamoDB table and the secrets in Secrets Manager instead of the
    /// data directory: region, credentials and AWS_ENDPOINT_URL (e.g. a moto server) come from
    /// the environment. The table is created when missing.
    #[arg(long, global = true)]
    aws_table: Option<String>,
    /// With --aws-table: the prefix of every secret name.
    #[arg(long, default_value = "outpost-local", global = true, requires = "aws_table")]
    aws_secret_prefix: String,
    /// With --aws-table: put list exports in this S3 bucket (created when missing), as on AWS.
    #[arg(long, global = true, requires = "aws_table")]
    aws_export_bucket: Option<String>,
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
    /// Move the embedded store aside (kept as store.<time>.old) and start a new one: the next
    /// start syncs every org again from Salesforce. Secrets and simulated orgs are kept; users
    /// onboard again.
    Resync,
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
    fn backend(&self) -> Backend {
        match &self.aws_table {
            Some(table) => Backend::Aws {
                table: table.clone(),
                secret_prefix: self.aws_secret_prefix.clone(),
                export_bucket: self.aws_export_bucket.clone(),
            },
            None => Backend::Embedded,
        }
    }

    fn config(&self, address: SocketAddr) -> LocalConfig {
        let mut config = LocalConfig::new(self.data_dir.clone());
        config.address = address;
        config.backend = self.backend();
        config.orgs = match &self.org_file {
            Some(path) => OrgSource::File(path.clone()),
            None => OrgSource::Simulated { contacts: self.contacts, leads: self.leads },
        };
        config.sync_interval =
            (self.sync_interval_seconds > 0).then(|| Duration::from_secs(self.sync_interval_seconds));
        config.sync_deadline = Duration::from_secs(self.deadline_seconds);
        config.sync.progress_interval = Duration::from_secs(self.progress_seconds);
        config
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
        Some(Command::Resync) => resync(&cli),
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
        seconds => println!("  Background sync:                   now, then every {seconds} s"),
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

/// Posts a one-off command to the stack serving this data directory (it owns the store).
async fn ask_running_stack(
    running: &StackFile,
    path: &str,
    command: &LocalCommand,
) -> anyhow::Result<serde_json::Value> {
    eprintln!("using the running stack at {}", running.base_url);
    salesforce_sim::install_tls_provider();
    let response = reqwest::Client::new()
        .post(format!("{}{path}", running.base_url))
        .json(command)
        .send()
        .await
        .with_context(|| format!("reaching the running stack at {}", running.base_url))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("reading the running stack's answer")?;
    anyhow::ensure!(status.is_success(), "the running stack refused: {body}");
    Ok(body)
}

async fn sync_once(cli: &Cli, org: Option<&str>) -> anyhow::Result<()> {
    let org = org.map(parse_org).transpose()?;
    let records = match running_stack(&cli.data_dir) {
        Some(running) => ask_running_stack(&running, "/_local/sync", &LocalCommand { org, record: None }).await?,
        None => {
            let mut config = cli.config(SocketAddr::from(([127, 0, 0, 1], 0)));
            config.sync_interval = None;
            let stack = LocalStack::start(config).await?;
            let only = org.map(|org| vec![org]);
            let records =
                outpost_local::sync_once(&stack.sync, only.as_deref(), Duration::from_secs(cli.deadline_seconds)).await;
            stack.stop().await?;
            records?
        }
    };
    println!("{}", serde_json::to_string_pretty(&records)?);
    let records = records.as_array().cloned().unwrap_or_else(|| vec![records]);
    let held: Vec<&str> = records
        .iter()
        .filter(|record| record["status"] == "already_running")
        .filter_map(|record| record["org_id"].as_str())
        .collect();
    anyhow::ensure!(
        held.is_empty(),
        "another sync of {} holds its lease (already_running); try again once it has finished",
        held.join(", ")
    );
    Ok(())
}

fn resync(cli: &Cli) -> anyhow::Result<()> {
    anyhow::ensure!(cli.aws_table.is_none(), "resync moves the embedded store aside; it does not touch DynamoDB");
    if let Some(running) = running_stack(&cli.data_dir) {
        anyhow::bail!("stop the stack serving {} (pid {}) first", cli.data_dir.display(), running.pid);
    }
    let store = cli.data_dir.join("store");
    anyhow::ensure!(store.exists(), "{} holds no store: nothing to move aside", cli.data_dir.display());
    let aside = cli.data_dir.join(format!("store.{}.old", outpost_shared::store::now_epoch()));
    std::fs::rename(&store, &aside).with_context(|| format!("moving {} to {}", store.display(), aside.display()))?;
    println!("Moved {} to {}; the next start syncs every org again.", store.display(), aside.display());
    Ok(())
}

async fn optout(cli: &Cli, record: &str, org: Option<&str>) -> anyhow::Result<()> {
    let record =
        RecordId::parse(record).map_err(|err| anyhow::anyhow!("{record} is not a Contact or Lead id: {err}"))?;
    let org = org.map(parse_org).transpose()?;
    let queued = match running_stack(&cli.data_dir) {
        Some(running) => {
            ask_running_stack(&running, "/_local/optout", &LocalCommand { org, record: Some(record) }).await?
        }
        None => {
            let org = org.map_or_else(|| OrgId::parse(DEMO_ORGS[0].org_id), Ok)?;
            let local = services(
                &cli.backend(),
                &cli.data_dir,
                HostPolicy::dev_loopback(),
                "http://127.0.0.1",
                &ClientSettings::default(),
            )
            .await?;
            outpost_local::queue_optout(&local.services.store, org, record).await?
        }
    };
    println!("{queued}");
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
