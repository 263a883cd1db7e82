//! The end-to-end harness: a whole local stack (simulated orgs in memory, embedded store in a
//! temporary directory) on a free port, an HTTP client that behaves like a careful browser
//! (no automatic redirects, explicit cookies), and a capture of every log line; and a stand-in for
//! DynamoDB that the sync benchmark can time against.

pub mod dynamodb_standin;

/// What the benchmarks read about their own process.
pub mod measure {
    fn status_kib(field: &str) -> f64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|line| line.starts_with(field))?;
                line.split_whitespace().nth(1)?.parse::<f64>().ok()
            })
            .unwrap_or(f64::NAN)
    }

    /// Peak resident set size of this process, in MiB.
    pub fn peak_rss_mib() -> f64 {
        status_kib("VmHWM:") / 1024.0
    }

    /// Resident set size of this process now, in MiB.
    pub fn rss_mib() -> f64 {
        status_kib("VmRSS:") / 1024.0
    }

    /// CPU time this process has used (user + system, every thread), in seconds: `/proc/self/stat`
    /// counts it in ticks of 10 ms, fine for phases of seconds.
    pub fn cpu_seconds() -> f64 {
        std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| {
                // The fields after the command name (which may hold spaces) and its closing parenthesis.
                let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                let ticks = |at: usize| fields.get(at)?.parse::<f64>().ok();
                Some((ticks(11)? + ticks(12)?) / 100.0)
            })
            .unwrap_or(f64::NAN)
    }
}

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use outpost_local::campaigns::LocalSesSettings;
use outpost_local::provision::{DemoUser, ProvisionedOrg, UserKind};
use outpost_local::{Backend, LocalConfig, LocalStack, OrgSource};
use outpost_send::CrashPoint;
use outpost_shared::salesforce::{ClientSettings, RetryPolicy};
use outpost_shared::telemetry::{self, LogFormat};
use outpost_sync::SyncSettings;
use salesforce_sim::{SessionKind, SimHandle};

pub use outpost_apex;
pub use outpost_authorizer;
pub use outpost_local;
pub use outpost_send;
pub use outpost_shared;
pub use outpost_sync;
pub use salesforce_sim;

/// Where a test stack keeps its store and secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded store and secret files in a temporary directory.
    Embedded,
    /// DynamoDB and Secrets Manager on the moto server `infra/test.sh` starts (`AWS_ENDPOINT_URL`),
    /// in a table and under a secret prefix of the test's own.
    Moto,
}

impl StoreKind {
    fn backend(self) -> Backend {
        match self {
            StoreKind::Embedded => Backend::Embedded,
            StoreKind::Moto => {
                assert!(
                    std::env::var_os("AWS_ENDPOINT_URL").is_some(),
                    "AWS_ENDPOINT_URL must name the moto server: run the tests through ./infra/test.sh"
                );
                let name = format!("e2e-{}", &outpost_shared::crypto::random_token()[..12]).replace(['_', '-'], "x");
                Backend::Aws {
                    table: name.clone(),
                    secret_prefix: name.clone(),
                    export_bucket: Some(name.to_lowercase()),
                }
            }
        }
    }
}

/// How to size and tune a test stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub contacts: usize,
    pub leads: usize,
    pub sync: SyncSettings,
    pub store: StoreKind,
    /// The outbox's SES limits.
    pub ses: LocalSesSettings,
    /// Test hook: campaign sending "crashes" at this point of this chunk.
    pub send_crash: Option<(CrashPoint, u64)>,
    /// A campaign job's deadline, and the addresses a freeze writes between saves.
    pub job_deadline: Duration,
    pub freeze_batch: usize,
    /// How often quota-paused campaigns are checked: each check reads every org's campaigns, so
    /// only the tests of that check run it often (a store on moto serves every test of the run).
    pub quota_check: Duration,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            contacts: 200,
            leads: 100,
            store: StoreKind::Embedded,
            ses: LocalSesSettings { max_send_rate: 10_000.0, max_24_hour_send: 1_000_000.0 },
            send_crash: None,
            job_deadline: Duration::from_secs(120),
            freeze_batch: 5000,
            quota_check: Duration::from_secs(60),
            sync: SyncSettings {
                bulk_poll_interval: Duration::from_millis(20),
                deadline_margin: Duration::from_millis(50),
                write_back_base_delay: Duration::ZERO,
                ..SyncSettings::default()
            },
        }
    }
}

/// A running stack for one test.
pub struct TestStack {
    pub stack: LocalStack,
    pub http: reqwest::Client,
    options: StackOptions,
    dir: tempfile::TempDir,
}

impl TestStack {
    /// A stack with the default small orgs.
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    /// A stack with custom sizes and sync settings.
    pub async fn start_with(options: StackOptions) -> Self {
        capture_logs();
        let dir = tempfile::tempdir().expect("temporary data dir");
        Self::start_in(dir, options).await
    }

    /// Stops the stack and starts it again on the same data directory (the simulated orgs are
    /// generated again, the same from the same seed), as after a crash and a restart.
    pub async fn restart(self, send_crash: Option<(CrashPoint, u64)>) -> Self {
        let Self { stack, options, dir, .. } = self;
        stack.stop().await.expect("the stack stops");
        Self::start_in(dir, StackOptions { send_crash, ..options }).await
    }

    async fn start_in(dir: tempfile::TempDir, options: StackOptions) -> Self {
        let mut config = LocalConfig::new(dir.path().to_path_buf());
        config.address = ([127, 0, 0, 1], 0).into();
        config.persist_orgs = false;
        config.backend = options.store.backend();
        config.orgs = OrgSource::Simulated { contacts: options.contacts, leads: options.leads };
        config.sync_interval = None;
        config.sync_deadline = Duration::from_secs(120);
        config.sync = options.sync.clone();
        config.ses = options.ses;
        config.quota_check = options.quota_check;
        config.claim_lease = Duration::from_secs(1);
        config.send_crash = options.send_crash;
        config.job_deadline = options.job_deadline;
        config.freeze_batch = options.freeze_batch;
        config.salesforce = ClientSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
            },
        };
        let stack = LocalStack::start(config).await.expect("local stack starts");
        salesforce_sim::install_tls_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        Self { stack, http, options, dir }
    }

    /// An absolute URL on Outpost.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.base_url)
    }

    /// The per-user demo org (Acme).
    pub fn acme(&self) -> &ProvisionedOrg {
        &self.stack.orgs[0]
    }

    /// The org-wide demo org (Globex).
    pub fn globex(&self) -> &ProvisionedOrg {
        &self.stack.orgs[1]
    }

    /// An org's simulated Salesforce.
    pub fn sim<'a>(&self, org: &'a ProvisionedOrg) -> &'a SimHandle {
        org.sim.as_ref().expect("a simulated org")
    }

    /// The first demo user of `kind` in `org`.
    pub fn user<'a>(&self, org: &'a ProvisionedOrg, kind: UserKind) -> &'a DemoUser {
        org.users.iter().find(|user| user.kind == kind).expect("a demo user of that kind")
    }

    /// The custom link Salesforce would produce for `user`, with a fresh session of `kind`.
    pub fn link(&self, org: &ProvisionedOrg, user: &DemoUser, record: Option<&str>, kind: SessionKind) -> String {
        self.sim(org).custom_link(user.user_id.as_str(), record, kind).expect("the sim mints a session")
    }

    /// GET without following redirects.
    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.expect("GET reaches Outpost")
    }

    /// GET with cookies.
    pub async fn get_with_cookies(&self, url: &str, cookies: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(url)
            .header(reqwest::header::COOKIE, cookie_header(cookies))
            .send()
            .await
            .expect("GET reaches Outpost")
    }

    /// POST a form with cookies.
    pub async fn post_form(&self, url: &str, cookies: &[(&str, &str)], fields: &[(&str, &str)]) -> reqwest::Response {
        let body = url_encoded(fields);
        self.http
            .post(url)
            .header(reqwest::header::COOKIE, cookie_header(cookies))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST reaches Outpost")
    }

    /// Follows a custom link of a known user to an Outpost session cookie.
    pub async fn sign_in(&self, org: &ProvisionedOrg, user: &DemoUser) -> String {
        let response = self.get(&self.link(org, user, None, SessionKind::Api)).await;
        assert_eq!(response.status(), 303, "a known user is signed in");
        set_cookie(&response, "__Host-outpost_session").expect("a session cookie")
    }
}

/// `a=1; b=2`.
pub fn cookie_header(cookies: &[(&str, &str)]) -> String {
    cookies.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
}

/// A form body.
pub fn url_encoded(fields: &[(&str, &str)]) -> String {
    let mut serializer = reqwest::Url::parse("http://x/").expect("static URL");
    serializer.query_pairs_mut().extend_pairs(fields);
    serializer.query().unwrap_or_default().to_owned()
}

/// The value a response sets for cookie `name` (`None` when absent or cleared).
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next()?.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// Every `Set-Cookie` header of a response.
pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect()
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Capture> = OnceLock::new();

/// Installs (once) the production JSON subscriber, writing into memory: `trace` for Outpost's
/// own crates, the production caps for the HTTP stack.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber =
            telemetry::subscriber(LogFormat::Json, telemetry::filter_with("trace"), move || writer.clone());
        let _already_set = tracing::subscriber::set_global_default(subscriber);
        capture
    });
}

/// Everything logged so far.
pub fn logs() -> String {
    LOGS.get()
        .map(|capture| String::from_utf8_lossy(&capture.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned())
        .unwrap_or_default()
}

/// A TCP listener that only counts connections: points a link at it to prove nothing was sent.
pub struct Tripwire {
    pub port: u16,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl Tripwire {
    pub async fn arm() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("tripwire binds");
        let port = listener.local_addr().expect("tripwire address").port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((_socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        Self { port, hits }
    }

    /// Connections received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}
