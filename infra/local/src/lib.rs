//! `outpost-local`: the whole stack in one process. The simulated orgs on their own ports, every
//! HTTP function's router on one address behind the same authorizer logic as template.yaml, the
//! sync on a timer, an embedded store and local secrets under the data directory.

pub mod campaigns;
pub mod provision;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use askama::Template;
use async_trait::async_trait;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use campaigns::{JobInputs, LocalCampaignTrigger, LocalJobs, LocalSes, LocalSesSettings};
use outpost_apex::{ApexState, SyncQueued, SyncTrigger};
use outpost_app::{AppState, Exports};
use outpost_authorizer::{AuthorizerState, Credentials};
use outpost_entry::EntryState;
use outpost_send::ses::SesMailer;
use outpost_send::{CrashPoint, SendSettings, Sender};
use outpost_shared::app_session::SessionPolicy;
use outpost_shared::campaigns::Mailer;
use outpost_shared::config::Config;
use outpost_shared::hosts::HostPolicy;
use outpost_shared::ids::{OrgId, RecordId};
use outpost_shared::salesforce::{ClientSettings, SalesforceClient};
use outpost_shared::secrets::{LocalSecretFiles, SecretCache, SecretSource, SecretsManagerSource};
use outpost_shared::services::Services;
use outpost_shared::store::{Change, Created, DynamoTable, EmbeddedTable, Items, SharedStore, WriteBack};
use outpost_shared::{crypto, store::StoreError};
use outpost_sync::{RunOptions, RunOutcome, SyncContext, SyncSettings, sync_orgs};
use provision::{DEMO_ORGS, OrgFile, ProvisionedOrg, SecretStore, UserKind};
use salesforce_sim::SessionKind;
use tokio::sync::mpsc;

/// Where the orgs come from.
#[derive(Debug, Clone)]
pub enum OrgSource {
    /// The two simulated demo orgs; the first with this many Contacts and Leads.
    Simulated { contacts: usize, leads: usize },
    /// A real org described by a TOML file; no simulated org starts.
    File(PathBuf),
}

/// Where the stack keeps its store and secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store and secret files under the data directory.
    Embedded,
    /// DynamoDB and Secrets Manager, reached as the functions reach them on Lambda: region,
    /// credentials and `AWS_ENDPOINT_URL` (an emulator such as moto) from the environment. The
    /// table is created when missing; every secret name starts with `secret_prefix`.
    /// With `export_bucket`, list exports go to that S3 bucket (created when missing) as on AWS.
    Aws { table: String, secret_prefix: String, export_bucket: Option<String> },
}

impl Backend {
    fn secret_prefix(&self) -> &str {
        match self {
            Backend::Embedded => provision::SECRET_PREFIX,
            Backend::Aws { secret_prefix, .. } => secret_prefix,
        }
    }
}

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The address to serve on; port 0 picks a free one.
    pub address: SocketAddr,
    pub data_dir: PathBuf,
    pub backend: Backend,
    /// Keep the simulated orgs' state under the data directory (tests run them in memory).
    pub persist_orgs: bool,
    pub orgs: OrgSource,
    /// Sync every org this often while serving; `None` syncs only on request.
    pub sync_interval: Option<Duration>,
    /// How long one sync run may take before it stops with its checkpoint saved.
    pub sync_deadline: Duration,
    pub sync: SyncSettings,
    pub salesforce: ClientSettings,
    /// The outbox's SES account limits (the embedded backend).
    pub ses: LocalSesSettings,
    /// How often campaigns paused for quota are checked.
    pub quota_check: Duration,
    /// A sender's claim older than this is settled as `unknown`.
    pub claim_lease: Duration,
    /// How long a campaign job may run (the send function's timeout on AWS), and how many
    /// addresses a freeze writes between saves of its progress.
    pub job_deadline: Duration,
    pub freeze_batch: usize,
    /// Test hook: sending "crashes" at this point of this chunk.
    pub send_crash: Option<(CrashPoint, u64)>,
}

impl LocalConfig {
    /// The defaults of `cargo run -p outpost-local`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 3000)),
            data_dir,
            backend: Backend::Embedded,
            persist_orgs: true,
            orgs: OrgSource::Simulated { contacts: 2000, leads: 1000 },
            sync_interval: Some(Duration::from_secs(300)),
            sync_deadline: Duration::from_secs(840),
            sync: SyncSettings::default(),
            salesforce: ClientSettings::default(),
            ses: LocalSesSettings::default(),
            quota_check: Duration::from_secs(60),
            claim_lease: Duration::from_secs(120),
            job_deadline: Duration::from_secs(120),
            freeze_batch: 5000,
            send_crash: None,
        }
    }
}

/// The stack's services, and where it writes secrets when it provisions orgs.
pub struct LocalServices {
    pub services: Services,
    pub secrets: Arc<dyn SecretStore>,
}

/// Opens the store and secrets of `backend` (the embedded ones under `data_dir`) with the local
/// stack's policy.
pub async fn services(
    backend: &Backend,
    data_dir: &std::path::Path,
    policy: HostPolicy,
    public_url: &str,
    salesforce: &ClientSettings,
) -> anyhow::Result<LocalServices> {
    let (store, secrets): (SharedStore, Arc<dyn SecretStore>) = match backend {
        Backend::Embedded => {
            let table = EmbeddedTable::open(&data_dir.join("store")).context("opening the embedded store")?;
            (Arc::new(Items::new(table)), Arc::new(LocalSecretFiles::new(data_dir.join("secrets"))))
        }
        Backend::Aws { table, .. } => {
            let (dynamodb, secrets_manager) = outpost_shared::services::aws_clients()
                .context("AWS clients from the environment (AWS_REGION, credentials, AWS_ENDPOINT_URL)")?;
            DynamoTable::create_if_missing(&dynamodb, table)
                .await
                .with_context(|| format!("creating the DynamoDB table {table}"))?;
            (
                Arc::new(Items::new(DynamoTable::new(dynamodb, table.clone()))),
                Arc::new(SecretsManagerSource::new(secrets_manager)),
            )
        }
    };
    let prefix = backend.secret_prefix();
    let services = Services {
        config: Arc::new(Config {
            table_name: match backend {
                Backend::Embedded => "embedded".into(),
                Backend::Aws { table, .. } => table.clone(),
            },
            app_secret_name: provision::app_secret_name(prefix),
            secret_prefix: prefix.into(),
            public_url: Some(public_url.to_owned()),
            secret_ttl: Duration::from_secs(5),
            host_policy: policy,
        }),
        store,
        secrets: Arc::new(SecretCache::new(Arc::clone(&secrets) as Arc<dyn SecretSource>, Duration::from_secs(5))),
        salesforce: SalesforceClient::new(salesforce)?,
    };
    Ok(LocalServices { services, secrets })
}

/// AWS clients for an admin's machine: the SDK's whole credential chain (profiles, SSO, assumed
/// roles), where the functions read only the Lambda environment.
pub async fn admin_aws_clients() -> anyhow::Result<(aws_sdk_dynamodb::Client, aws_sdk_secretsmanager::Client)> {
    let roots = outpost_shared::tls::TrustRoots::system()?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(outpost_shared::aws_http::ReqwestHttpClient::shared(roots)?)
        .load()
        .await;
    Ok((aws_sdk_dynamodb::Client::new(&aws), aws_sdk_secretsmanager::Client::new(&aws)))
}

/// Registers an org file's org in a DynamoDB table and its secrets in Secrets Manager, as the
/// deployed functions read them.
pub async fn register_on_aws(
    file: &OrgFile,
    path: &std::path::Path,
    table: &str,
    secret_prefix: &str,
) -> anyhow::Result<ProvisionedOrg> {
    let (dynamodb, secrets_manager) = admin_aws_clients().await?;
    let store: SharedStore = Arc::new(Items::new(outpost_shared::store::DynamoTable::new(dynamodb, table)));
    let secrets = outpost_shared::secrets::SecretsManagerSource::new(secrets_manager);
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    file.provision(&store, &secrets, secret_prefix, base).await
}

/// Runs one sync of `only` (or every active org) and returns the run records as JSON: one object
/// for one org, an array otherwise.
pub async fn sync_once(
    sync: &SyncContext,
    only: Option<&[OrgId]>,
    deadline: Duration,
) -> anyhow::Result<serde_json::Value> {
    let options = RunOptions { trigger: "local".into(), deadline: Instant::now() + deadline, crash: None };
    let records: Vec<serde_json::Value> = sync_orgs(sync, only, &options)
        .await?
        .into_iter()
        .map(|(org, outcome)| match outcome {
            RunOutcome::Ran(run) => serde_json::to_value(*run).unwrap_or_default(),
            RunOutcome::AlreadyRunning => serde_json::json!({"org_id": org, "status": "already_running"}),
            RunOutcome::Crashed => serde_json::json!({"org_id": org, "status": "crashed"}),
        })
        .collect();
    if let Some(only) = only {
        let named = only.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        anyhow::ensure!(records.len() == only.len(), "not every org of {named} is registered and active");
    }
    Ok(match <[serde_json::Value; 1]>::try_from(records) {
        Ok([one]) => one,
        Err(many) => serde_json::Value::Array(many),
    })
}

/// Queues an opt-out for write-back, and excludes the recipient from mail at once.
pub async fn queue_optout(store: &SharedStore, org: OrgId, record: RecordId) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(store.get_org(&org).await?.is_some(), "org {org} is not registered");
    // Queued first: should the local mark fail, Salesforce still learns it and the next sync brings it back.
    let queued = store.enqueue_write_back(&WriteBack::due_now(org, record, Change::OptOut)).await?;
    if let Some(mut recipient) = store.get_recipient(&org, &record).await? {
        recipient.opted_out = true;
        store.write_recipients(&org, &[recipient]).await?;
        // Warm list readers must stop counting the address now, not at the next sync.
        store.mark_recipients_changed(&org).await?;
    }
    Ok(serde_json::json!({"org_id": org, "record": record, "queued": queued == Created::Created}))
}

/// A running stack.
pub struct LocalStack {
    pub base_url: String,
    pub services: Services,
    /// Where the stack's secrets are written.
    pub secrets: Arc<dyn SecretStore>,
    pub orgs: Arc<Vec<ProvisionedOrg>>,
    pub sync: Arc<SyncContext>,
    pub data_dir: PathBuf,
    /// The campaign sender, and the outbox standing in for SES (the embedded backend).
    pub sender: Arc<Sender>,
    pub outbox: Option<Arc<LocalSes>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    syncer: tokio::task::JoinHandle<()>,
    send_jobs: tokio::task::JoinHandle<()>,
    stop_sending: Option<tokio::sync::oneshot::Sender<()>>,
}

/// "Sync now" locally: the same request item as on AWS, then a nudge to the in-process syncer.
struct LocalSyncTrigger {
    store: SharedStore,
    wake: mpsc::UnboundedSender<OrgId>,
}

#[async_trait]
impl SyncTrigger for LocalSyncTrigger {
    async fn request(&self, org: &OrgId) -> Result<SyncQueued, StoreError> {
        Ok(match self.store.request_sync(org, outpost_apex::SYNC_REQUEST_TTL).await? {
            Created::Created => {
                // The syncer only stops with the stack; a closed channel means we are shutting down.
                let _closed = self.wake.send(*org);
                SyncQueued::Queued
            }
            Created::AlreadyExists => SyncQueued::AlreadyQueued,
        })
    }
}

/// How many connections may wait to be accepted: the default 128 dropped SYNs when 200 users
/// entered at once, and each retried SYN costs a second.
const LISTEN_BACKLOG: u32 = 1024;

/// A listener on `address` with room for a burst of connections.
fn listen(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

impl LocalStack {
    /// Provisions the orgs and starts serving.
    pub async fn start(config: LocalConfig) -> anyhow::Result<Self> {
        let listener = listen(config.address).map_err(|err| {
            if err.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "{} is already in use: stop whatever serves it, or pick another port with --port or OUTPOST_PORT",
                    config.address
                )
            } else {
                anyhow::anyhow!("cannot listen on {}: {err}", config.address)
            }
        })?;
        let address = listener.local_addr()?;
        let base_url = format!("http://{address}");
        std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
        let org_file = match &config.orgs {
            OrgSource::File(path) => Some((OrgFile::read(path)?, path.clone())),
            OrgSource::Simulated { .. } => None,
        };
        let policy = match &org_file {
            Some((file, _)) => file.host_policy(),
            None => HostPolicy::dev_loopback(),
        };
        let LocalServices { services, secrets } =
            services(&config.backend, &config.data_dir, policy, &base_url, &config.salesforce).await?;
        let prefix = config.backend.secret_prefix();
        provision::ensure_app_secret(
            secrets.as_ref(),
            &services.config.app_secret_name,
            salesforce_sim::config::DEFAULT_CLIENT_ID,
            salesforce_sim::config::DEFAULT_CLIENT_SECRET,
        )
        .await
        .with_context(|| match &config.backend {
            Backend::Embedded => format!("in {}", config.data_dir.join("secrets").display()),
            Backend::Aws { .. } => "in Secrets Manager".to_owned(),
        })?;
        let orgs = match (&config.orgs, &org_file) {
            (OrgSource::File(_), Some((file, path))) => {
                let base = path.parent().unwrap_or(std::path::Path::new("."));
                vec![file.provision(&services.store, secrets.as_ref(), prefix, base).await?]
            }
            (OrgSource::Simulated { contacts, leads }, _) => {
                let data_dir = config.persist_orgs.then_some(config.data_dir.as_path());
                let mut orgs = Vec::new();
                for (index, spec) in DEMO_ORGS.iter().enumerate() {
                    // The second demo org stays small: it only shows org-wide access.
                    let sizes = if index == 0 { (*contacts, *leads) } else { (50, 25) };
                    let org = provision::simulated_org(
                        spec,
                        &services.store,
                        secrets.as_ref(),
                        prefix,
                        &base_url,
                        sizes,
                        data_dir,
                    )
                    .await?;
                    orgs.push(org);
                }
                orgs
            }
            (OrgSource::File(_), None) => anyhow::bail!("org file missing"),
        };
        let orgs = Arc::new(orgs);
        let sync = Arc::new(SyncContext::new(services.clone(), config.sync.clone()));
        let (wake_tx, wake_rx) = mpsc::unbounded_channel();
        let exports = match &config.backend {
            Backend::Aws { export_bucket: Some(bucket), .. } => {
                let exports = Exports::connect(bucket.clone()).context("S3 client from the environment")?;
                exports.ensure_bucket().await.map_err(|err| anyhow::anyhow!("creating the bucket {bucket}: {err}"))?;
                Some(exports)
            }
            _ => None,
        };
        let (jobs, incoming) = LocalJobs::new();
        let (mailer, outbox, events): (Arc<dyn Mailer>, Option<Arc<LocalSes>>, _) = match &config.backend {
            Backend::Embedded => {
                let (outbox, events) = LocalSes::open(&config.data_dir.join("outbox"), config.ses)?;
                (Arc::clone(&outbox) as Arc<dyn Mailer>, Some(outbox), Some(events))
            }
            Backend::Aws { .. } => (Arc::new(moto_ses(&orgs).await?), None, None),
        };
        let mut send_settings = SendSettings::new(base_url.clone());
        send_settings.claim_lease = config.claim_lease;
        send_settings.freeze_batch = config.freeze_batch;
        let mut sender = Sender::new(services.clone(), mailer, Arc::new(jobs.clone()), send_settings);
        if let Some((point, chunk)) = config.send_crash {
            sender = sender.with_crash(point, chunk);
        }
        let sender = Arc::new(sender);
        campaigns::resume_sending(&services, &jobs).await?;
        let (stop_sending, shutdown) = tokio::sync::oneshot::channel();
        let inputs = JobInputs {
            jobs: jobs.clone(),
            incoming,
            events,
            quota_check: config.quota_check,
            job_deadline: config.job_deadline,
            shutdown,
        };
        let send_jobs = tokio::spawn(campaigns::run_jobs(Arc::clone(&sender), inputs));
        let local = LocalParts { outbox: outbox.clone(), jobs, sync_deadline: config.sync_deadline, wake: wake_tx };
        let router = router(&services, exports, Arc::clone(&orgs), Arc::clone(&sync), local);
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _stopped = shutdown_rx.await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "server stopped");
            }
        });
        let syncer = tokio::spawn(sync_loop(Arc::clone(&sync), config.sync_interval, config.sync_deadline, wake_rx));
        Ok(Self {
            base_url,
            services,
            secrets,
            orgs,
            sync,
            data_dir: config.data_dir,
            sender,
            outbox,
            shutdown: Some(shutdown_tx),
            server,
            syncer,
            send_jobs,
            stop_sending: Some(stop_sending),
        })
    }

    /// The first (demo) org.
    pub fn primary(&self) -> &ProvisionedOrg {
        &self.orgs[0]
    }

    /// Stops serving and syncing, and saves the simulated orgs' state.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _already_stopped = shutdown.send(());
        }
        self.syncer.abort();
        if let Some(stop) = self.stop_sending.take() {
            let _already_stopped = stop.send(());
        }
        // Every campaign job has stopped once this returns: nothing else holds the store.
        let _ = (&mut self.send_jobs).await;
        let _ = (&mut self.server).await;
        if let Ok(orgs) = Arc::try_unwrap(self.orgs) {
            for org in orgs {
                if let Some(sim) = org.sim {
                    sim.shutdown().await.map_err(|err| anyhow::anyhow!("stopping the simulated org: {err}"))?;
                }
            }
        }
        Ok(())
    }
}

/// Starts the syncs: at start-up and on the interval, and whenever "sync now" asks. Each runs in its own task,
/// as each schedule tick or stream record is its own invocation on Lambda; the per-org lease keeps
/// them from running twice at once.
async fn sync_loop(
    sync: Arc<SyncContext>,
    interval: Option<Duration>,
    deadline: Duration,
    mut wake: mpsc::UnboundedReceiver<OrgId>,
) {
    // The first tick is immediate: the app has recipients to list soon after start-up.
    let mut ticker = interval.map(tokio::time::interval);
    let mut running = tokio::task::JoinSet::new();
    loop {
        let (orgs, trigger) = tokio::select! {
            Some(org) = wake.recv() => (Some(vec![org]), "apex"),
            _ = async { match ticker.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending::<()>().await } } => (None, "local"),
            Some(_finished) = running.join_next() => continue,
            else => return,
        };
        let options = RunOptions { trigger: trigger.into(), deadline: Instant::now() + deadline, crash: None };
        let sync = Arc::clone(&sync);
        running.spawn(async move {
            match sync_orgs(&sync, orgs.as_deref(), &options).await {
                Ok(outcomes) => {
                    for (org, outcome) in outcomes {
                        if let RunOutcome::Ran(run) = outcome {
                            tracing::info!(%org, status = ?run.status, contacts = run.contacts.pulled, leads = run.leads.pulled, "sync finished");
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "sync could not list orgs"),
            }
        });
    }
}

#[derive(Clone)]
struct LocalState {
    orgs: Arc<Vec<ProvisionedOrg>>,
    authorizer: Arc<AuthorizerState>,
    sync: Arc<SyncContext>,
    sync_deadline: Duration,
    outbox: Option<Arc<LocalSes>>,
}

/// What only the local stack's router needs.
struct LocalParts {
    outbox: Option<Arc<LocalSes>>,
    jobs: LocalJobs,
    sync_deadline: Duration,
    wake: mpsc::UnboundedSender<OrgId>,
}

/// SES on moto (the AWS backend): the demo orgs' sender domains verified, as on a real account.
async fn moto_ses(orgs: &[ProvisionedOrg]) -> anyhow::Result<SesMailer> {
    let aws = outpost_shared::services::aws_config().context("AWS configuration from the environment")?;
    let client = aws_sdk_sesv2::Client::new(&aws);
    for org in orgs {
        for sender in &org.registration.settings.allowed_senders {
            let identity = sender.trim_start_matches('@');
            if client.get_email_identity().email_identity(identity).send().await.is_err() {
                client
                    .create_email_identity()
                    .email_identity(identity)
                    .send()
                    .await
                    .with_context(|| format!("verifying the SES identity {identity}"))?;
            }
        }
    }
    Ok(SesMailer::new(client, None))
}

fn router(
    services: &Services,
    exports: Option<Exports>,
    orgs: Arc<Vec<ProvisionedOrg>>,
    sync: Arc<SyncContext>,
    parts: LocalParts,
) -> Router {
    let LocalParts { outbox, jobs, sync_deadline, wake } = parts;
    let entry = outpost_entry::router(EntryState::new(services.clone()));
    let app = outpost_app::router(AppState::new(services.clone(), exports, Arc::new(LocalCampaignTrigger(jobs))));
    let unsubscribe = outpost_send::unsubscribe::router(Arc::new(services.clone()));
    let trigger = Arc::new(LocalSyncTrigger { store: Arc::clone(&services.store), wake });
    let apex = outpost_apex::router(Arc::new(ApexState { services: services.clone(), sync: trigger }));
    let state = LocalState {
        orgs,
        authorizer: Arc::new(AuthorizerState { services: services.clone(), sessions: SessionPolicy::default() }),
        sync,
        sync_deadline,
        outbox,
    };
    let local = Router::new()
        .route("/", get(home))
        .route("/_local/info", get(info))
        .route("/_local/sync", axum::routing::post(local_sync))
        .route("/_local/optout", axum::routing::post(local_optout))
        .route("/_local/outbox", get(outbox_index))
        .route("/_local/outbox/{campaign}/{number}", get(outbox_message))
        .route_layer(middleware::from_fn(loopback_host_only))
        .with_state(state.clone());
    local
        .merge(entry)
        .merge(app)
        .merge(apex)
        .merge(unsubscribe)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state, authorize))
        .layer(middleware::from_fn(request_span))
}

/// Pages that show callout keys and live session links answer only requests addressed to a
/// loopback name: a page on another site that rebinds its DNS name to 127.0.0.1 sends its own
/// name as `Host`, and is refused.
async fn loopback_host_only(request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if salesforce_sim::gate::is_loopback_authority(host) {
        next.run(request).await
    } else {
        (StatusCode::MISDIRECTED_REQUEST, "this page answers only on localhost").into_response()
    }
}

/// The routes template.yaml puts behind the Lambda authorizer.
fn protected(path: &str) -> bool {
    path == "/app" || path.starts_with("/app/") || path.starts_with("/api/") || path == "/logout"
}

/// The authorizer as middleware: the same identity sources and decision function as the Lambda,
/// the same context handed to the route, the same 401/403 API Gateway answers.
async fn authorize(State(state): State<LocalState>, mut request: Request, next: Next) -> Response {
    if !protected(request.uri().path()) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let cookies = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
    let path = request.uri().path();
    let Some(credentials) =
        Credentials::for_route(path, cookies, header("authorization"), header("x-salesforce-instance"))
    else {
        return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"message": "Unauthorized"}))).into_response();
    };
    match outpost_authorizer::authorize(&state.authorizer, &credentials).await {
        Ok(who) => {
            request.extensions_mut().insert(who.request_context());
            next.run(request).await
        }
        Err(refusal) => {
            tracing::info!(?refusal, "not authorized");
            (StatusCode::FORBIDDEN, Json(serde_json::json!({"message": "Forbidden"}))).into_response()
        }
    }
}

/// Every line logged while serving a request carries its id; the path is logged, never the query
/// (a custom link's query holds a session id).
async fn request_span(request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let id = crypto::random_token()[..12].to_owned();
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    async move {
        let mut response = next.run(request).await;
        if let Ok(id) = HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-request-id", id);
        }
        tracing::info!(status = response.status().as_u16(), "served");
        response
    }
    .instrument(span)
    .await
}

async fn method_not_allowed() -> Response {
    let error =
        serde_json::json!({"error": {"code": "method_not_allowed", "message": "this route does not take that method"}});
    (StatusCode::METHOD_NOT_ALLOWED, Json(error)).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": {"code": "not_found", "message": "no such route"}})))
        .into_response()
}

/// What `/_local/sync` and `/_local/optout` take: the CLI's one-off commands, run by the stack
/// that owns the data directory.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct LocalCommand {
    #[serde(default)]
    pub org: Option<OrgId>,
    #[serde(default)]
    pub record: Option<RecordId>,
}

fn command_failed(err: &anyhow::Error) -> Response {
    let error = serde_json::json!({"error": {"code": "command_failed", "message": format!("{err:#}")}});
    (StatusCode::BAD_REQUEST, Json(error)).into_response()
}

/// The JSON error that answers a malformed command body.
fn bad_body(rejection: &JsonRejection) -> Response {
    let error = serde_json::json!({"error": {"code": "bad_request", "message": rejection.body_text()}});
    (rejection.status(), Json(error)).into_response()
}

/// `POST /_local/sync`: one sync now, answered with its run record(s).
async fn local_sync(State(state): State<LocalState>, body: Result<Json<LocalCommand>, JsonRejection>) -> Response {
    let command = match body {
        Ok(Json(command)) => command,
        Err(rejection) => return bad_body(&rejection),
    };
    let only = command.org.map(|org| vec![org]);
    match sync_once(&state.sync, only.as_deref(), state.sync_deadline).await {
        Ok(records) => Json(records).into_response(),
        Err(err) => command_failed(&err),
    }
}

/// `POST /_local/optout`: queue an opt-out (default: the demo org).
async fn local_optout(State(state): State<LocalState>, body: Result<Json<LocalCommand>, JsonRejection>) -> Response {
    let command = match body {
        Ok(Json(command)) => command,
        Err(rejection) => return bad_body(&rejection),
    };
    let Some(record) = command.record else {
        return command_failed(&anyhow::anyhow!("record is required"));
    };
    let org = command.org.unwrap_or(state.orgs[0].registration.org_id);
    match queue_optout(&state.sync.services.store, org, record).await {
        Ok(queued) => Json(queued).into_response(),
        Err(err) => command_failed(&err),
    }
}

#[derive(serde::Serialize)]
struct UserInfoRow {
    name: String,
    user_id: String,
    kind: UserKind,
    entry_url: Option<String>,
    #[serde(skip)]
    tab_url: Option<String>,
    #[serde(skip)]
    canvas_url: Option<String>,
}

#[derive(serde::Serialize)]
struct OrgRow {
    name: String,
    org_id: String,
    mode: &'static str,
    salesforce_url: String,
    callout_key: String,
    users: Vec<UserInfoRow>,
    /// The simulated org's own pages: list views with the "Add to Outpost list" button.
    #[serde(skip)]
    sim_pages: Option<String>,
}

fn org_rows(orgs: &[ProvisionedOrg]) -> Vec<OrgRow> {
    orgs.iter()
        .map(|org| OrgRow {
            name: org.registration.name.clone(),
            org_id: org.registration.org_id.to_string(),
            mode: org.registration.mode.as_str(),
            salesforce_url: org.registration.pinned_host.clone(),
            callout_key: org.callout_key.clone(),
            sim_pages: org.sim.as_ref().map(|sim| format!("{}/_sim", sim.base_url())),
            users: org
                .users
                .iter()
                .map(|user| UserInfoRow {
                    name: user.name.clone(),
                    user_id: user.user_id.to_string(),
                    kind: user.kind,
                    entry_url: org.entry_url(&user.user_id),
                    tab_url: org.sim.as_ref().map(|sim| sim.tab_url(user.user_id.as_str(), None, SessionKind::Api)),
                    canvas_url: org.sim.as_ref().map(|sim| sim.canvas_url(user.user_id.as_str())),
                })
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nonce: String,
    orgs: Vec<OrgRow>,
}

/// `/`: imitates Salesforce, listing each demo user with the custom link Salesforce would produce.
async fn home(State(state): State<LocalState>) -> Response {
    let page = HomePage { nonce: crypto::random_token(), orgs: org_rows(&state.orgs) };
    match page.render() {
        Ok(body) => {
            let mut response = Html(body).into_response();
            let csp = format!("default-src 'none'; style-src 'nonce-{}'; base-uri 'none'", page.nonce);
            if let Ok(csp) = HeaderValue::from_str(&csp) {
                response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

/// `/_local/info`: the same as JSON, for scripts and tests. The first org is the demo org.
async fn info(State(state): State<LocalState>) -> Response {
    let mut orgs = org_rows(&state.orgs);
    if orgs.is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no org").into_response();
    }
    let primary = orgs.remove(0);
    let mut response = Json(serde_json::json!({
        "salesforce_url": primary.salesforce_url,
        "org_id": primary.org_id,
        "org_name": primary.name,
        "mode": primary.mode,
        "callout_key": primary.callout_key,
        "users": primary.users,
        "other_orgs": orgs,
    }))
    .into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A row of the outbox page.
struct OutboxRow {
    number: usize,
    to: String,
    subject: String,
    at: String,
}

/// A campaign's part of the outbox page.
struct OutboxCampaign {
    name: String,
    count: usize,
    rows: Vec<OutboxRow>,
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    nonce: String,
    campaigns: Vec<OutboxCampaign>,
    message: Option<campaigns::OutboxEntry>,
}

/// Messages of each campaign shown on the outbox page.
const OUTBOX_ROWS: usize = 200;

fn outbox_page(page: &OutboxPage) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = Html(body).into_response();
            // The HTML bodies render in a sandboxed frame, from the page itself.
            let csp =
                format!("default-src 'none'; style-src 'nonce-{}'; frame-src 'self'; base-uri 'none'", page.nonce);
            if let Ok(csp) = HeaderValue::from_str(&csp) {
                response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

fn no_outbox() -> Response {
    let error = serde_json::json!({"error": {"code": "no_outbox", "message": "this stack sends through SES (moto), not the outbox"}});
    (StatusCode::NOT_FOUND, Json(error)).into_response()
}

fn outbox_unreadable(err: &std::io::Error) -> Response {
    tracing::error!(error = %err, "the outbox is unreadable");
    let error = serde_json::json!({"error": {"code": "outbox_unreadable", "message": "the outbox could not be read"}});
    (StatusCode::INTERNAL_SERVER_ERROR, Json(error)).into_response()
}

/// `/_local/outbox?campaign=<id>`: a campaign's messages as JSON; without `campaign`, the pages.
async fn outbox_index(
    State(state): State<LocalState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let Some(outbox) = &state.outbox else { return no_outbox() };
    let campaign = query.as_deref().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "campaign")
            .map(|(_, value)| value.into_owned())
    });
    if let Some(campaign) = campaign {
        let wanted = (campaign != "tests").then_some(campaign.as_str());
        return match outbox.messages(wanted) {
            Ok(messages) => {
                let json: Vec<serde_json::Value> = messages
                    .iter()
                    .map(|entry| {
                        serde_json::json!({
                            "message_id": entry.message_id,
                            "to": entry.message.to,
                            "from": entry.message.from,
                            "reply_to": entry.message.reply_to,
                            "subject": entry.message.subject,
                            "headers": entry.message.headers,
                            "text": entry.message.text,
                            "html": entry.message.html,
                            "at": entry.at,
                        })
                    })
                    .collect();
                Json(json).into_response()
            }
            Err(err) => outbox_unreadable(&err),
        };
    }
    let listed = outbox.campaigns().and_then(|campaigns| {
        campaigns
            .into_iter()
            .map(|name| {
                // Each campaign's file is read once: its rows and its count.
                let messages = outbox.messages((name != "tests").then_some(name.as_str()))?;
                let count = messages.len();
                let rows = messages
                    .into_iter()
                    .take(OUTBOX_ROWS)
                    .enumerate()
                    .map(|(number, entry)| OutboxRow {
                        number,
                        to: entry.message.to,
                        subject: entry.message.subject,
                        at: entry.at,
                    })
                    .collect();
                Ok(OutboxCampaign { name, count, rows })
            })
            .collect::<std::io::Result<Vec<_>>>()
    });
    match listed {
        Ok(campaigns) => outbox_page(&OutboxPage { nonce: crypto::random_token(), campaigns, message: None }),
        Err(err) => outbox_unreadable(&err),
    }
}

/// `/_local/outbox/{campaign}/{number}`: one message, its headers, HTML and text.
async fn outbox_message(
    State(state): State<LocalState>,
    axum::extract::Path((campaign, number)): axum::extract::Path<(String, usize)>,
) -> Response {
    let Some(outbox) = &state.outbox else { return no_outbox() };
    match outbox.messages((campaign != "tests").then_some(campaign.as_str())) {
        Ok(messages) => match messages.into_iter().nth(number) {
            Some(message) => outbox_page(&OutboxPage {
                nonce: crypto::random_token(),
                campaigns: Vec::new(),
                message: Some(message),
            }),
            None => not_found().await,
        },
        Err(err) => outbox_unreadable(&err),
    }
}
