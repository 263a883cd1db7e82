//! `salesforce-sim`: run a simulated Salesforce org on localhost.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use salesforce_sim::{Sim, SimConfig, config};

/// A simulated Salesforce org over real HTTP (see infra/salesforce-sim/README.md).
#[derive(Parser, Debug)]
#[command(name = "salesforce-sim", version)]
struct Args {
    /// Port on 127.0.0.1 (and [::1]); 0 = ephemeral.
    #[arg(long, env = "SF_SIM_PORT", default_value_t = 8484)]
    port: u16,
    /// Contacts to generate.
    #[arg(long, default_value_t = 2000)]
    contacts: usize,
    /// Leads to generate.
    #[arg(long, default_value_t = 1000)]
    leads: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Persist state under <DIR>/salesforce-sim/ (reloaded on start).
    #[arg(long, env = "SF_SIM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Daily API request limit.
    #[arg(long, default_value_t = 15_000)]
    api_limit: u64,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Outpost base URL (custom links, Canvas, Apex callouts).
    #[arg(long, env = "OUTPOST_URL")]
    outpost_url: Option<String>,
    /// Key Apex callouts send as `Authorization: Bearer …`.
    #[arg(long, env = "OUTPOST_CALLOUT_KEY", default_value = config::DEFAULT_CALLOUT_KEY)]
    callout_key: String,
    /// Records sharing one SystemModstamp (per object).
    #[arg(long, default_value_t = 0)]
    same_modstamp_block: usize,
    /// Integration app public key (PEM SPKI / certificate or DER) for the JWT bearer flow.
    #[arg(long)]
    jwt_public_key: Option<PathBuf>,
    /// Extra allowed OAuth redirect URIs.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs on stderr, so stdout carries only the URLs a script may parse.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut cfg = SimConfig {
        port: args.port,
        contacts: args.contacts,
        leads: args.leads,
        seed: args.seed,
        data_dir: args.data_dir,
        api_daily_limit: args.api_limit,
        latency: Duration::from_millis(args.latency_ms),
        same_modstamp_block: args.same_modstamp_block,
        ..SimConfig::default()
    };
    if let Some(url) = &args.outpost_url {
        cfg = cfg.with_outpost(url, &args.callout_key);
    }
    if let Some(path) = &args.jwt_public_key {
        cfg = cfg.with_jwt_public_key(std::fs::read(path)?);
    }
    for uri in &args.redirect_uris {
        cfg = cfg.with_redirect_uri(uri);
    }
    let sim = Sim::spawn(cfg).await?;
    println!("salesforce-sim org {} ({})", sim.org_id(), sim.config().org_name);
    println!("  My Domain (instance_url): {}", sim.base_url());
    println!("  login host:               {}", sim.login_url());
    println!("  controls:                 {}/_sim", sim.base_url());
    if let Some(u) = sim.integration_user() {
        println!("  integration user:         {} ({})", u.username, u.id);
    }
    println!("  consumer key / client id: {} / {}", sim.consumer_key(), sim.client_id());
    tokio::signal::ctrl_c().await?;
    println!("shutting down…");
    sim.shutdown().await?;
    Ok(())
}
