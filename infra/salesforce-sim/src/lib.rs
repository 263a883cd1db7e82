//! A simulated Salesforce org over real HTTP, written from `docs/salesforce.md` independently
//! of `outpost-shared`, so Outpost's client is tested against a second reading of the facts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), salesforce_sim::SimError> {
//! use salesforce_sim::{Sim, SimConfig, SessionKind};
//! let sim = Sim::spawn(SimConfig::default().with_records(500, 200)).await?;
//! let ada = sim.users()[0].clone();
//! let sid = sim.mint_session(ada.id.as_str(), SessionKind::Api)?;
//! // GET {base_url}/services/oauth2/userinfo with `Authorization: Bearer {sid}` …
//! # let _ = (sid, sim.base_url());
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! See the crate README for every endpoint, control and behaviour choice.

// Handlers short-circuit with ready-made `Response`s as errors; boxing them buys nothing here.
#![allow(clippy::result_large_err)]

pub mod apex;
pub mod bulk;
pub mod canvas;
pub mod clock;
pub mod collections;
pub mod config;
pub mod control;
pub mod data;
pub mod describe;
pub mod faults;
pub mod gate;
pub mod generate;
pub mod identity;
pub mod ids;
pub mod oauth;
pub mod org;
pub mod persist;
pub mod query;
pub mod replication;
pub mod reply;
pub mod schema;
pub mod sessions;
pub mod soql;
pub mod ui;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, patch, post};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use apex::{CalloutAttempt, CalloutOptions};
pub use clock::{SfDate, SfDateTime};
pub use config::{BulkSettings, IntegrationApp, OAuthClient, OutpostTarget, SimConfig, UserSpec};
pub use control::SimError;
pub use data::{Account, DeletedEntry, Record, Task, User};
pub use faults::{FaultSnapshot, FaultUpdate, JwtRefusal, WriteFailure};
pub use ids::SfId;
pub use org::ApiUsage;
pub use schema::{Access, CUSTOM_FIELDS, CustomField, CustomKind, Field, SObject};
pub use sessions::SessionKind;

use org::{Org, lock};

/// Entry point: `Sim::spawn(config)`.
pub struct Sim;

impl Sim {
    /// Binds 127.0.0.1:`port` (and best-effort [::1] on the same port), loads or generates the
    /// org and serves it until [`SimHandle::shutdown`].
    pub async fn spawn(config: SimConfig) -> Result<SimHandle, SimError> {
        let org_id = SfId::parse(&config.org_id)
            .filter(|id| id.prefix() == ids::ORG_PREFIX)
            .ok_or_else(|| SimError::Config(format!("org id {:?} is not a valid 00D id", config.org_id)))?;
        let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, config.port))).await?;
        let port = v4.local_addr()?.port();
        // Best effort, so `localhost` works whichever address the client resolves first.
        let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).await.ok();

        let loaded = match &config.data_dir {
            Some(d) => persist::load(d, &org_id)?,
            None => None,
        };
        let fresh = loaded.is_none();
        let (db, meta) = match loaded {
            Some((db, meta)) => (db, meta),
            None => {
                let anchor = config
                    .anchor
                    .map(SfDateTime::from_offset_datetime)
                    .unwrap_or_else(|| clock::SimClock::default().now());
                (generate::generate(&config, &org_id, anchor), persist::Meta::default())
            }
        };
        let data_dir = config.data_dir.clone();
        let org = Arc::new(Org::new(config, org_id, port, db, meta.api_used, meta.clock_offset_ms));
        if fresh {
            org.data_dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let app = router(org.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for listener in std::iter::once(v4).chain(v6) {
            let mut rx = stop_rx.clone();
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let shutdown = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                    tracing::warn!(error = %e, "sim listener stopped");
                }
            }));
        }
        let saver = data_dir.clone().map(|d| tokio::spawn(persist::run_saver(org.clone(), d, stop_rx.clone())));
        tracing::info!(base_url = %org.base_url, login_url = %org.login_url, org_id = %org.id, "salesforce sim listening");
        Ok(SimHandle { org, stop: stop_tx, tasks, saver, data_dir })
    }
}

/// Builds the full router (Salesforce surfaces + `/_sim` controls).
pub fn router(org: Arc<Org>) -> Router {
    let d = "/services/data/{v}";
    let gated = Router::new()
        .route(d, get(identity::resources))
        .route(&format!("{d}/"), get(identity::resources))
        .route(&format!("{d}/limits"), get(identity::limits))
        .route(&format!("{d}/limits/"), get(identity::limits))
        .route(&format!("{d}/query"), get(query::query))
        .route(&format!("{d}/query/"), get(query::query))
        .route(&format!("{d}/queryAll"), get(query::query_all))
        .route(&format!("{d}/queryAll/"), get(query::query_all))
        .route(&format!("{d}/query/{{loc}}"), get(query::next_page))
        .route(&format!("{d}/queryAll/{{loc}}"), get(query::next_page))
        .route(
            &format!("{d}/composite/sobjects"),
            patch(collections::update).post(collections::create).delete(collections::delete),
        )
        .route(&format!("{d}/composite/sobjects/{{obj}}/{{field}}"), patch(collections::upsert))
        .route(&format!("{d}/sobjects/{{obj}}/deleted"), get(replication::deleted))
        .route(&format!("{d}/sobjects/{{obj}}/deleted/"), get(replication::deleted))
        .route(&format!("{d}/sobjects/{{obj}}/updated"), get(replication::updated))
        .route(&format!("{d}/sobjects/{{obj}}/updated/"), get(replication::updated))
        .route(&format!("{d}/sobjects/{{obj}}/describe"), get(describe::describe))
        .route(&format!("{d}/sobjects/{{obj}}/describe/"), get(describe::describe))
        .route(
            &format!("{d}/sobjects/{{obj}}/{{id}}"),
            get(query::retrieve).patch(collections::update_one).delete(collections::delete_one),
        )
        .route(&format!("{d}/sobjects/{{obj}}/{{field}}/{{value}}"), patch(collections::upsert_one))
        .route(&format!("{d}/jobs/query"), post(bulk::create).get(bulk::list))
        .route(&format!("{d}/jobs/query/{{id}}"), get(bulk::get).patch(bulk::abort).delete(bulk::delete))
        .route(&format!("{d}/jobs/query/{{id}}/results"), get(bulk::results))
        .route("/services/apexrest/{*path}", post(apex::rest))
        .route_layer(from_fn_with_state(org.clone(), gate::data_api));
    let sim = Router::new()
        .route("/_sim", get(ui::index))
        .route("/_sim/", get(ui::index))
        .route("/_sim/info", get(control::info))
        .route("/_sim/outpost", axum::routing::put(control::set_outpost))
        .route("/_sim/users", get(control::users))
        .route("/_sim/tasks", get(control::tasks))
        .route("/_sim/records/{obj}", get(control::list_records).post(control::create_record))
        .route("/_sim/record/{id}", get(control::get_record).patch(control::update_record))
        .route("/_sim/record/{id}/{action}", post(control::record_action))
        .route("/_sim/sessions", post(control::mint))
        .route("/_sim/sessions/expire-all", post(control::expire_all))
        .route("/_sim/sessions/revoke", post(control::revoke))
        .route("/_sim/sessions/lifetime", axum::routing::put(control::session_lifetime))
        .route("/_sim/faults", get(control::faults).post(control::update_faults))
        .route("/_sim/faults/reset", post(control::reset_faults))
        .route("/_sim/faults/write-failures", post(control::add_write_failure).delete(control::clear_write_failures))
        .route("/_sim/api-usage", get(control::api_usage).put(control::set_api_usage))
        .route("/_sim/clock", get(control::clock))
        .route("/_sim/clock/advance", post(control::advance_clock))
        .route("/_sim/tab", get(ui::tab))
        .route("/_sim/canvas", get(ui::canvas))
        .route("/_sim/list-button", post(ui::list_button))
        .route("/_sim/auto-submit.js", get(ui::auto_submit_js))
        .route("/_sim/custom-link", get(control::custom_link))
        .route("/_sim/signed-request", get(control::signed_request))
        .route("/_sim/callouts", post(control::callouts))
        .route_layer(axum::middleware::from_fn(gate::loopback_host_only));
    Router::new()
        .merge(gated)
        .merge(sim)
        .route("/services/data", get(identity::versions))
        .route("/services/data/", get(identity::versions))
        .route("/services/oauth2/userinfo", get(identity::userinfo).post(identity::userinfo))
        .route("/services/oauth2/token", post(oauth::token))
        .route("/services/oauth2/authorize", get(oauth::authorize_page).post(oauth::authorize_submit))
        .route("/services/oauth2/revoke", post(oauth::revoke).get(oauth::revoke))
        .route("/id/{org}/{user}", get(identity::identity))
        .fallback(|| async { reply::not_found() })
        .layer(from_fn_with_state(org.clone(), gate::latency))
        .with_state(org)
}

/// A running sim. Dropping it stops the listeners; prefer [`SimHandle::shutdown`].
pub struct SimHandle {
    org: Arc<Org>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    saver: Option<JoinHandle<()>>,
    data_dir: Option<PathBuf>,
}

fn fields_map(v: serde_json::Value) -> Result<serde_json::Map<String, serde_json::Value>, SimError> {
    match v {
        serde_json::Value::Object(m) => Ok(m),
        other => Err(SimError::Write {
            code: "JSON_PARSER_ERROR".into(),
            message: format!("fields must be a JSON object, got {other}"),
        }),
    }
}

impl SimHandle {
    // ---- identity ----

    /// My Domain base URL, `http://localhost:<port>` (instance_url, data API).
    pub fn base_url(&self) -> &str {
        &self.org.base_url
    }

    /// Generic login host URL, `http://127.0.0.1:<port>` (like login.salesforce.com).
    pub fn login_url(&self) -> &str {
        &self.org.login_url
    }

    /// 18-char org id.
    pub fn org_id(&self) -> &str {
        self.org.id.as_str()
    }

    /// 15-char org id.
    pub fn org_id15(&self) -> &str {
        self.org.id.as15()
    }

    /// Bound port.
    pub fn port(&self) -> u16 {
        self.org.port
    }

    /// The config the sim was started with.
    pub fn config(&self) -> &SimConfig {
        &self.org.config
    }

    /// Stops accepting connections, waits for in-flight requests and saves state.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        if let Some(s) = self.saver.take() {
            let _ = s.await;
        }
        if let Some(d) = self.data_dir.clone() {
            let org = self.org.clone();
            tokio::task::spawn_blocking(move || persist::save(&org, &d, true))
                .await
                .map_err(|e| SimError::Io(std::io::Error::other(e)))??;
        }
        Ok(())
    }

    /// Writes the state to `data_dir` now (no-op in memory).
    pub fn save_now(&self) -> Result<(), SimError> {
        if let Some(d) = &self.data_dir {
            persist::save(&self.org, d, true)?;
        }
        Ok(())
    }

    // ---- users ----

    /// All users, in id order.
    pub fn users(&self) -> Vec<User> {
        self.org.db().users.clone()
    }

    /// A user by 15/18-char id or username.
    pub fn user(&self, id_or_username: &str) -> Option<User> {
        self.org.find_user(id_or_username)
    }

    /// The integration user (Run-As of client credentials, JWT `sub`).
    pub fn integration_user(&self) -> Option<User> {
        self.org.integration_user()
    }

    // ---- sessions ----

    /// Mints a session `<org15>!…` for a user (id or username).
    pub fn mint_session(&self, user: &str, kind: SessionKind) -> Result<String, SimError> {
        self.org.ctl_mint(user, kind)
    }

    /// Ends every session and access token.
    pub fn expire_all_sessions(&self) {
        lock(&self.org.sessions).expire_all();
    }

    /// Ends one session; true if it existed.
    pub fn revoke(&self, session: &str) -> bool {
        lock(&self.org.sessions).revoke(session)
    }

    /// Sets the inactivity timeout of sessions.
    pub fn set_session_lifetime(&self, lifetime: Duration) {
        lock(&self.org.sessions).lifetime_secs = lifetime.as_secs() as i64;
    }

    /// Expires every session after `k` more successful data-API calls (`None` = off).
    pub fn expire_sessions_after_calls(&self, k: Option<u64>) {
        lock(&self.org.faults).expire_sessions_after_calls = k;
    }

    // ---- faults and limits ----

    /// Installs the Outpost package under `namespace` (`None`: without one), which moves its Apex
    /// REST resource to `/services/apexrest/<namespace>/...`.
    pub fn set_namespace(&self, namespace: Option<&str>) {
        *self.org.namespace.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = namespace.map(str::to_owned);
    }

    /// Latency added to every Salesforce-surface response.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.org.faults).latency = latency;
    }

    /// Probability (0..1, deterministic RNG) that a data/Bulk/Apex call answers 503.
    pub fn set_error_rate(&self, rate: f64) {
        lock(&self.org.faults).error_rate = rate.clamp(0.0, 1.0);
    }

    /// The next `k` data/Bulk/Apex calls answer 503 `SERVER_UNAVAILABLE`.
    pub fn fail_next_calls(&self, k: u32) {
        lock(&self.org.faults).fail_next_calls = k;
    }

    /// Changes the daily API limit.
    pub fn set_api_limit(&self, limit: u64) {
        self.org.set_limit(limit);
    }

    /// Sets the API usage counter.
    pub fn set_api_usage(&self, used: u64) {
        self.org.set_usage(used);
    }

    /// Current API usage.
    pub fn api_usage(&self) -> ApiUsage {
        self.org.usage()
    }

    /// Makes the JWT bearer grant refuse (`None` = accept valid assertions again).
    pub fn set_jwt_refusal(&self, refusal: Option<JwtRefusal>) {
        lock(&self.org.faults).jwt_refusal = refusal;
    }

    /// Fails writes of one record with `code` (e.g. `UNABLE_TO_LOCK_ROW`), for the next
    /// `times` attempts or forever.
    pub fn fail_record_writes(&self, record_id: &str, code: &str, times: Option<u32>) -> Result<(), SimError> {
        let id = SfId::parse(record_id).ok_or_else(|| SimError::InvalidId(record_id.to_owned()))?;
        lock(&self.org.faults)
            .write_failures
            .insert(id, WriteFailure { code: code.to_owned(), message: None, remaining: times });
        Ok(())
    }

    /// Removes every record write failure.
    pub fn clear_record_write_failures(&self) {
        lock(&self.org.faults).write_failures.clear();
    }

    /// The next created Bulk job ends `Failed` with this `errorMessage`.
    pub fn fail_next_bulk_job(&self, message: &str) {
        lock(&self.org.faults).bulk_fail_next = Some(message.to_owned());
    }

    /// While on, Bulk jobs stay `InProgress`.
    pub fn set_bulk_never_complete(&self, on: bool) {
        lock(&self.org.faults).bulk_never_complete = on;
    }

    /// How many polls answer `InProgress` before `JobComplete`.
    pub fn set_bulk_polls_until_complete(&self, polls: u32) {
        lock(&self.org.faults).bulk_polls_until_complete = polls;
    }

    /// While `Some(code)`, every sObject Collections update is refused whole with a 400 of `code`
    /// (`INVALID_FIELD` when a field is not writable), as Salesforce refuses a malformed request.
    pub fn refuse_collection_updates(&self, code: Option<&str>) {
        lock(&self.org.faults).refuse_collection_updates = code.map(str::to_owned);
    }

    /// Reports this app's own API usage (`per-app-api-usage=used/limit(appName=…)`) beside the
    /// org's on every response, counting calls from `used` on; `None` stops reporting it.
    pub fn set_app_api_usage(&self, usage: Option<ApiUsage>) {
        self.org.set_app_usage(usage);
    }

    /// Current fault settings.
    pub fn faults(&self) -> FaultSnapshot {
        lock(&self.org.faults).snapshot()
    }

    /// Applies a partial fault update.
    pub fn update_faults(&self, update: FaultUpdate) {
        lock(&self.org.faults).apply(update);
    }

    /// Resets every fault knob (latency and bulk polls back to the config).
    pub fn reset_faults(&self) {
        self.org.ctl_reset_faults();
    }

    // ---- data ----

    /// Ground truth of Contacts or Leads, including deleted/purged flags.
    pub fn records(&self, sobject: SObject) -> Vec<Record> {
        self.org.ctl_records(sobject).unwrap_or_default()
    }

    /// The org's Accounts (what `Contact.AccountId` and `Account.Name` refer to), in id order.
    pub fn accounts(&self) -> Vec<Account> {
        self.org.db().accounts.clone()
    }

    /// One record by id.
    pub fn record(&self, id: &str) -> Result<Record, SimError> {
        self.org.ctl_record(id)
    }

    /// Updates fields (Salesforce API names, JSON values); SystemModstamp moves ≥1 s past the
    /// current max so cursors see the change.
    pub fn update_record(&self, id: &str, fields: serde_json::Value) -> Result<Record, SimError> {
        self.org.ctl_update(id, &fields_map(fields)?)
    }

    /// Creates a Contact or Lead.
    pub fn create_record(&self, sobject: SObject, fields: serde_json::Value) -> Result<Record, SimError> {
        self.org.ctl_create(sobject, &fields_map(fields)?)
    }

    /// Moves a record to the recycle bin (IsDeleted, delete log).
    pub fn soft_delete(&self, id: &str) -> Result<(), SimError> {
        self.org.ctl_soft_delete(id)
    }

    /// Purges a record: gone from queryAll, still in getDeleted.
    pub fn hard_delete(&self, id: &str) -> Result<(), SimError> {
        self.org.ctl_hard_delete(id)
    }

    /// Converts a lead.
    pub fn convert_lead(&self, id: &str) -> Result<Record, SimError> {
        self.org.ctl_convert_lead(id)
    }

    /// Moves the sim clock forward (sessions, cursors, replication windows follow it).
    pub fn advance_clock(&self, by: Duration) {
        self.org.ctl_advance_clock(by);
    }

    /// Sets the org's clock back by `by` from where it is: Salesforce's clock and the caller's
    /// are never quite the same.
    pub fn set_clock_back(&self, by: Duration) {
        let back = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.org.clock.set_offset_ms(self.org.clock.offset_ms().saturating_sub(back));
    }

    /// Sim time now.
    pub fn now(&self) -> OffsetDateTime {
        self.org.now().to_offset_datetime()
    }

    /// Tasks created through Apex REST.
    pub fn tasks(&self) -> Vec<Task> {
        self.org.db().tasks.clone()
    }

    /// The delete log (what getDeleted reads).
    pub fn deleted_log(&self) -> Vec<DeletedEntry> {
        self.org.db().deleted_log.clone()
    }

    // ---- Salesforce UI, Canvas, callouts ----

    /// Points custom links, Canvas and callouts at Outpost.
    pub fn set_outpost(&self, base_url: &str, callout_key: &str) {
        self.org.ctl_set_outpost(Some(OutpostTarget {
            base_url: base_url.trim_end_matches('/').to_owned(),
            callout_key: callout_key.to_owned(),
        }));
    }

    /// Mints a session and returns the exact custom-link URL into Outpost.
    pub fn custom_link(&self, user: &str, record: Option<&str>, kind: SessionKind) -> Result<String, SimError> {
        self.org.ctl_custom_link(user, record, kind)
    }

    /// The form fields the package's launcher page (`OutpostLaunch`, `c:OutpostEntryForm`)
    /// posts to `<outpost>/entry`, in order: `uid`, `oid` (both 18 characters), `sid` (a fresh
    /// session of `kind`), `srv` (`<base_url>/services/Soap/u/64.0/<15-char org id>`) and, with
    /// `record` (a Contact or Lead id), `rid` (18 characters).
    pub fn launcher_form(
        &self,
        user: &str,
        record: Option<&str>,
        kind: SessionKind,
    ) -> Result<Vec<(String, String)>, SimError> {
        self.org.ctl_launcher_form(user, record, kind)
    }

    /// The form fields the package's list-button pages (`OutpostAddContacts`,
    /// `OutpostAddLeads`) post to `<outpost>/entry`: the launcher's `uid`, `oid`, `sid`, `srv`,
    /// then `ids` (the selected ids, 18 characters, comma-separated, 1 to 1,000) and `object`
    /// (`Contact` or `Lead`).
    pub fn list_button_form(
        &self,
        user: &str,
        object: SObject,
        ids: &[&str],
        kind: SessionKind,
    ) -> Result<Vec<(String, String)>, SimError> {
        self.org.ctl_list_button_form(user, object, ids, kind)
    }

    /// URL of the sim's web-tab page for a user (mints a session when opened).
    pub fn tab_url(&self, user: &str, record: Option<&str>, kind: SessionKind) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("user", user);
        if let Some(r) = record {
            s.append_pair("record", r);
        }
        s.append_pair(
            "session",
            match kind {
                SessionKind::Api => "api",
                SessionKind::Lightning => "lightning",
                SessionKind::IpLocked => "ip_locked",
            },
        );
        format!("{}/_sim/tab?{}", self.org.base_url, s.finish())
    }

    /// URL of the sim's Canvas host page for a user.
    pub fn canvas_url(&self, user: &str) -> String {
        let q: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
        format!("{}/_sim/canvas?user={q}", self.org.base_url)
    }

    /// A Canvas signed request for a user (with a fresh API session as `oauthToken`).
    pub fn signed_request(&self, user: &str) -> Result<String, SimError> {
        self.org.ctl_signed_request(user)
    }

    /// Plays the org's triggers: POSTs the records (and deleted ids) to
    /// `<outpost>/apex/v1/records` in batches of ≤200.
    pub async fn fire_callouts(
        &self,
        sobject: SObject,
        ids: &[String],
        deleted: &[String],
        options: CalloutOptions,
    ) -> Result<Vec<CalloutAttempt>, SimError> {
        Ok(apex::fire(&self.org, sobject, ids, deleted, &options).await?)
    }

    /// Integration app consumer key (JWT `iss`).
    pub fn consumer_key(&self) -> &str {
        &self.org.config.integration_app.consumer_key
    }

    /// OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.org.config.oauth_client.client_id
    }

    /// OAuth client secret (also the Canvas HMAC key).
    pub fn client_secret(&self) -> &str {
        &self.org.config.oauth_client.client_secret
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Makes ring the process's TLS provider. reqwest is built without a default one (Outpost's
/// functions hand it a ring configuration of their own); every other client needs this first.
pub fn install_tls_provider() {
    // An error means a provider is installed already, which is all this asks for.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
