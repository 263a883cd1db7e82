//! The command line: `outpost-local --data-dir D sync --once` runs the built binary's one-off sync
//! and prints its run records as JSON; `optout <record id>` queues a write-back for the next sync.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use outpost_tests::outpost_local::Backend;
use outpost_tests::outpost_local::provision::DEMO_ORGS;
use outpost_tests::outpost_shared::hosts::HostPolicy;
use outpost_tests::outpost_shared::ids::{OrgId, RecipientObject, RecordId};
use outpost_tests::outpost_shared::salesforce::ClientSettings;
use outpost_tests::outpost_shared::store::SharedStore;
use outpost_tests::salesforce_sim::{Sim, SimConfig, SimHandle};
use serde_json::Value;

use super::support::*;

/// The `outpost-local` binary of this workspace, built (or found up to date) once per test process.
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--locked", "-p", "outpost-local", "--bin", "outpost-local"])
            .current_dir(workspace)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building outpost-local");
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
        target.join("debug").join("outpost-local")
    })
}

/// Runs `outpost-local --data-dir <dir> --contacts 120 --leads 60 <args>` and returns its output.
fn outpost_local(dir: &Path, args: &[&str]) -> Output {
    outpost_local_logging(dir, args, "warn")
}

/// Runs `outpost-local --data-dir <dir> --contacts 120 --leads 60 <args>` with this `RUST_LOG`,
/// whatever its exit status.
fn outpost_local_output(dir: &Path, args: &[&str], log: &str) -> Output {
    Command::new(binary())
        .arg("--data-dir")
        .arg(dir)
        .args(["--contacts", "120", "--leads", "60"])
        .args(args)
        .env("RUST_LOG", log)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("outpost-local runs")
}

/// [`outpost_local`] with this `RUST_LOG`.
fn outpost_local_logging(dir: &Path, args: &[&str], log: &str) -> Output {
    let output = outpost_local_output(dir, args, log);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Runs `outpost-local` expecting it to fail cleanly (exit code 1, no panic); returns its output.
fn outpost_local_failing(dir: &Path, args: &[&str]) -> Output {
    let output = outpost_local_output(dir, args, "warn");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?} fails cleanly: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

/// A data directory the demo org was synced into once, and the demo org's id.
fn synced_once() -> (tempfile::TempDir, OrgId) {
    let dir = tempfile::tempdir().unwrap();
    let acme = OrgId::parse(DEMO_ORGS[0].org_id).unwrap();
    printed(&outpost_local(dir.path(), &["sync", "--once", "--org", acme.as_str()]));
    (dir, acme)
}

/// The JSON an invocation printed on stdout.
fn printed(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// The demo org's saved state, loaded into a fresh simulated org (its ground truth).
async fn saved_demo_org(dir: &Path) -> SimHandle {
    let config = SimConfig { org_id: DEMO_ORGS[0].org_id.into(), ..SimConfig::default() }
        .with_data_dir(dir.join("sim").join(DEMO_ORGS[0].slug));
    Sim::spawn(config).await.unwrap()
}

/// The data directory's store, opened after the command exited.
async fn open_store(dir: &Path) -> SharedStore {
    let local = outpost_tests::outpost_local::services(
        &Backend::Embedded,
        dir,
        HostPolicy::dev_loopback(),
        "http://127.0.0.1",
        &ClientSettings::default(),
    )
    .await
    .unwrap();
    local.services.store
}

#[tokio::test]
async fn sync_once_prints_the_run_records_and_optout_reaches_salesforce_at_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    let acme = OrgId::parse(DEMO_ORGS[0].org_id).unwrap();
    let acme_arg = acme.to_string();

    // Every active org, one run record each; progress on stderr (here after every page).
    let output = outpost_local_logging(dir.path(), &["sync", "--once", "--progress-seconds", "0"], "info");
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(progress.contains("sync progress") && progress.contains("pulled=120"), "{progress}");
    let all = printed(&output);
    let records = all.as_array().expect("one record per org");
    assert_eq!(records.len(), 2, "{all:#}");
    for record in records {
        assert_eq!(record["status"], "complete", "{record:#}");
        assert_eq!(record["trigger"], "local");
        assert!(record["api_usage"].as_str().unwrap().ends_with("/15000"), "{record:#}");
    }
    let first = records.iter().find(|r| r["org_id"] == acme_arg).expect("the demo org's record");
    let truth = saved_demo_org(dir.path()).await;
    let contacts = query_all_rows(&truth, RecipientObject::Contact).len() as u64;
    let leads = query_all_rows(&truth, RecipientObject::Lead).len() as u64;
    assert_eq!(
        (first["contacts"]["pulled"].as_u64(), first["leads"]["pulled"].as_u64()),
        (Some(contacts), Some(leads))
    );
    let store = open_store(dir.path()).await;
    let stored = stored_members_in(&store, &acme).await;
    assert_same(&stored, &expected_members(&truth), "after `sync --once`");
    let contact = stored.values().find(|r| r.id.object() == RecipientObject::Contact && !r.opted_out).unwrap().id;
    drop((store, truth));

    let queued = printed(&outpost_local(dir.path(), &["optout", contact.as_str()]));
    assert_eq!(queued, serde_json::json!({"org_id": acme_arg, "record": contact.as_str(), "queued": true}));

    let second = printed(&outpost_local(dir.path(), &["sync", "--once", "--org", &acme_arg]));
    assert_eq!(second["org_id"], acme_arg, "one org, one record: {second:#}");
    assert_eq!(second["status"], "complete");
    assert_eq!(second["write_back"], serde_json::json!({"ok": 1, "failed": 0, "dead": 0}));
    assert_eq!(second["contacts"]["cursor_before"], first["contacts"]["cursor_after"]);
    let truth = saved_demo_org(dir.path()).await;
    assert!(truth.record(contact.as_str()).unwrap().has_opted_out_of_email, "Salesforce has the opt-out");
    let store = open_store(dir.path()).await;
    assert!(store.pending_write_backs(&acme).await.unwrap().is_empty());
    assert!(store.get_recipient(&acme, &contact).await.unwrap().unwrap().opted_out, "excluded from mail at once");
    drop((store, truth));

    // The written record comes back with Salesforce's new SystemModstamp.
    let third = printed(&outpost_local(dir.path(), &["sync", "--once", "--org", &acme_arg]));
    assert_eq!((third["contacts"]["pulled"].as_u64(), third["leads"]["pulled"].as_u64()), (Some(1), Some(0)));
    let truth = saved_demo_org(dir.path()).await;
    assert_same(
        &stored_members_in(&open_store(dir.path()).await, &acme).await,
        &expected_members(&truth),
        "in the end",
    );
}

/// A served stack (`outpost-local` with no command) as a child process, stopped with Ctrl-C on drop.
struct ServedStack {
    child: std::process::Child,
}

impl ServedStack {
    fn start(dir: &Path) -> Self {
        let child = Command::new(binary())
            .arg("--data-dir")
            .arg(dir)
            .args(["--port", "0", "--contacts", "120", "--leads", "60", "--sync-interval-seconds", "0"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("outpost-local serves");
        let started = std::time::Instant::now();
        while !dir.join("stack.json").exists() {
            assert!(started.elapsed() < std::time::Duration::from_secs(60), "the stack did not come up");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child }
    }

    /// Ctrl-C, as a person stops it; returns once it has exited.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        self.child.wait().unwrap()
    }
}

#[tokio::test]
async fn one_off_commands_go_through_the_stack_that_owns_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let acme = OrgId::parse(DEMO_ORGS[0].org_id).unwrap();
    let acme_arg = acme.to_string();
    let first = printed(&outpost_local(dir.path(), &["sync", "--once", "--org", &acme_arg]));
    let store = open_store(dir.path()).await;
    let (contacts, _) = store.list_recipients(&acme, RecipientObject::Contact, None, 1).await.unwrap();
    let contact = contacts[0].id.to_string();
    drop(store);

    let served = ServedStack::start(dir.path());
    salesforce_sim::install_tls_provider();
    let info: Value =
        reqwest::get(format!("{}/_local/info", stack_url(dir.path()))).await.unwrap().json().await.unwrap();
    assert_eq!(info["org_id"], acme_arg);
    // The served stack holds the store's lock: these succeed only by asking it over HTTP.
    let queued = outpost_local(dir.path(), &["optout", &contact]);
    assert!(String::from_utf8_lossy(&queued.stderr).contains("using the running stack"));
    assert_eq!(printed(&queued), serde_json::json!({"org_id": acme_arg, "record": contact, "queued": true}));
    let second = printed(&outpost_local(dir.path(), &["sync", "--once", "--org", &acme_arg]));
    assert_eq!(second["status"], "complete", "{second:#}");
    assert_eq!(second["write_back"], serde_json::json!({"ok": 1, "failed": 0, "dead": 0}), "{second:#}");
    assert_eq!(second["contacts"]["cursor_before"], first["contacts"]["cursor_after"], "the same store");

    // A command the stack refuses fails with its reason.
    let refused = Command::new(binary())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["sync", "--once", "--org", "00D5g0000000001"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("registered and active"), "{refused:?}");

    assert!(served.stop().success(), "Ctrl-C stops the stack cleanly");
    assert!(!dir.path().join("stack.json").exists(), "it forgets it was serving");
    let contact = RecordId::parse(&contact).unwrap();
    assert!(open_store(dir.path()).await.get_recipient(&acme, &contact).await.unwrap().unwrap().opted_out);
}

/// The served stack's base URL, from the file it writes while serving.
fn stack_url(dir: &Path) -> String {
    let file: Value = serde_json::from_slice(&std::fs::read(dir.join("stack.json")).unwrap()).unwrap();
    file["base_url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_sync_that_finds_the_lease_held_says_so_and_exits_non_zero() {
    let (dir, acme) = synced_once();
    let store = open_store(dir.path()).await;
    assert!(store.acquire_sync_lease(&acme, "another-run", std::time::Duration::from_secs(60)).await.unwrap());
    drop(store);

    let output = outpost_local_failing(dir.path(), &["sync", "--once", "--org", acme.as_str()]);

    assert_eq!(printed(&output)["status"], "already_running");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already_running") && stderr.contains(acme.as_str()), "{stderr}");
}

#[tokio::test]
async fn a_damaged_store_stops_the_cli_with_a_message_naming_it_and_resync_recovers() {
    let (dir, acme) = synced_once();
    let acme_arg = acme.to_string();
    // Damage every table file of the store in its middle.
    let store_dir = dir.path().join("store");
    let mut damaged = 0;
    for keyspace in std::fs::read_dir(store_dir.join("keyspaces")).unwrap() {
        let tables = keyspace.unwrap().path().join("tables");
        for table in std::fs::read_dir(&tables).into_iter().flatten() {
            let path = table.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 3;
            bytes[middle..middle + 64].iter_mut().for_each(|byte| *byte ^= 0xff);
            std::fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0, "the store has table files");

    let failed = outpost_local_failing(dir.path(), &["sync", "--once", "--org", &acme_arg]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains(&store_dir.display().to_string()), "names the store: {stderr}");
    assert!(stderr.contains("outpost-local resync"), "says what to do: {stderr}");

    let moved = outpost_local(dir.path(), &["resync"]);
    assert!(String::from_utf8_lossy(&moved.stdout).contains("store."), "{moved:?}");
    let again = printed(&outpost_local(dir.path(), &["sync", "--once", "--org", &acme_arg]));
    assert_eq!(again["status"], "complete", "{again:#}");
    assert_eq!(again["contacts"]["cursor_before"], Value::Null, "a fresh store syncs from the start");
    let truth = saved_demo_org(dir.path()).await;
    assert_same(&stored_members_in(&open_store(dir.path()).await, &acme).await, &expected_members(&truth), "resynced");
}

#[tokio::test]
async fn a_damaged_app_secret_stops_the_cli_with_a_message_naming_it() {
    let (dir, acme) = synced_once();
    let secret = dir.path().join("secrets").join("outpost").join("app");
    std::fs::write(&secret, "{not json").unwrap();

    let failed = outpost_local_failing(dir.path(), &["sync", "--once", "--org", acme.as_str()]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("outpost/app") && stderr.contains("damaged"), "{stderr}");
    assert!(stderr.contains(&dir.path().join("secrets").display().to_string()), "{stderr}");
}

#[tokio::test]
async fn with_aws_table_the_cli_keeps_its_store_in_dynamodb_and_its_secrets_in_secrets_manager() {
    use outpost_tests::outpost_shared::secrets::{SecretSource, SecretsManagerSource};
    use outpost_tests::outpost_shared::services::aws_clients;
    use outpost_tests::outpost_shared::store::{DynamoTable, Items};

    assert!(std::env::var_os("AWS_ENDPOINT_URL").is_some(), "run the tests through ./infra/test.sh (moto)");
    let dir = tempfile::tempdir().unwrap();
    let name = format!("cli{}", &outpost_tests::outpost_shared::crypto::random_token()[..10]).replace(['_', '-'], "x");
    let acme = OrgId::parse(DEMO_ORGS[0].org_id).unwrap();
    let aws = ["--aws-table", name.as_str(), "--aws-secret-prefix", name.as_str()];

    let record = printed(&outpost_local(dir.path(), &[&aws[..], &["sync", "--once", "--org", acme.as_str()]].concat()));

    assert_eq!(record["status"], "complete", "{record:#}");
    assert!(!dir.path().join("store").exists(), "no embedded store was opened");
    assert!(!dir.path().join("secrets").exists(), "no secret files were written");
    let (dynamodb, secrets_manager) = aws_clients().unwrap();
    let app = SecretsManagerSource::new(secrets_manager).fetch(&format!("{name}/app")).await.unwrap();
    assert!(secrecy::ExposeSecret::expose_secret(&app).contains("signing_key"));
    let store: SharedStore = std::sync::Arc::new(Items::new(DynamoTable::new(dynamodb, name)));
    let truth = saved_demo_org(dir.path()).await;
    assert_same(&stored_members_in(&store, &acme).await, &expected_members(&truth), "in DynamoDB");
}
