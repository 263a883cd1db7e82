//! The simulated org's shared state: one `Arc<Org>` is the axum state and backs `SimHandle`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

use crate::bulk::Jobs;
use crate::clock::{SfDateTime, SimClock};
use crate::config::{OutpostTarget, SimConfig};
use crate::data::{Db, User};
use crate::faults::Faults;
use crate::ids::SfId;
use crate::oauth::Codes;
use crate::query::Cursors;
use crate::schema::Access;
use crate::sessions::{SessionKind, Sessions};

/// Locks a mutex, recovering from poisoning (a panicked request must not wedge the sim).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks, recovering from poisoning.
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks, recovering from poisoning.
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// Daily API usage, as `Sforce-Limit-Info` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    /// Calls counted so far.
    pub used: u64,
    /// The daily limit.
    pub limit: u64,
}

impl ApiUsage {
    /// The header value `api-usage=N/LIMIT`.
    pub fn header(&self) -> String {
        format!("api-usage={}/{}", self.used, self.limit)
    }
}

/// The `Sforce-Limit-Info` value: the org's usage, and the calling app's when it has a limit of
/// its own (`per-app-api-usage=17/250(appName=sample-connected-app)`).
pub fn limit_info(org: ApiUsage, app: Option<ApiUsage>) -> String {
    match app {
        Some(app) => format!("{}; per-app-api-usage={}/{}(appName=Outpost)", org.header(), app.used, app.limit),
        None => org.header(),
    }
}

/// The org.
pub struct Org {
    /// 18-char org id.
    pub id: SfId,
    /// Organization name.
    pub name: String,
    /// My Domain base URL `http://localhost:<port>`.
    pub base_url: String,
    /// Login host URL `http://127.0.0.1:<port>`.
    pub login_url: String,
    /// Host header value of the login host.
    pub login_host: String,
    /// Bound port.
    pub port: u16,
    /// The config the org was started with (fault resets go back to it).
    pub config: SimConfig,
    /// The sim clock.
    pub clock: SimClock,
    /// Records, users, tasks, delete log.
    pub db: RwLock<Db>,
    api_used: AtomicU64,
    api_limit: AtomicU64,
    /// The calling app's own usage, when the sim reports one.
    app_usage: Mutex<Option<ApiUsage>>,
    /// Sessions and access tokens.
    pub sessions: Mutex<Sessions>,
    /// Query cursors.
    pub cursors: Mutex<Cursors>,
    /// Fault knobs.
    pub faults: Mutex<Faults>,
    /// The namespace of the installed Outpost package (`None`: installed without one).
    pub namespace: RwLock<Option<String>>,
    /// Bulk query jobs.
    pub bulk: Mutex<Jobs>,
    /// OAuth authorization codes.
    pub codes: Mutex<Codes>,
    /// Where Outpost runs.
    pub outpost: RwLock<Option<OutpostTarget>>,
    /// Records changed since the last save.
    pub data_dirty: AtomicBool,
    /// API usage or clock changed since the last save.
    pub meta_dirty: AtomicBool,
    /// Client for Apex callouts.
    pub http: reqwest::Client,
}

impl Org {
    /// Assembles the org around an already generated or loaded database.
    pub fn new(config: SimConfig, id: SfId, port: u16, db: Db, api_used: u64, clock_offset_ms: i64) -> Org {
        let clock = SimClock::default();
        clock.set_offset_ms(clock_offset_ms);
        let faults = Faults::new(config.latency, config.bulk.polls_until_complete, config.seed);
        Org {
            id,
            name: config.org_name.clone(),
            base_url: format!("http://localhost:{port}"),
            login_url: format!("http://127.0.0.1:{port}"),
            login_host: format!("127.0.0.1:{port}"),
            port,
            clock,
            db: RwLock::new(db),
            api_used: AtomicU64::new(api_used),
            api_limit: AtomicU64::new(config.api_daily_limit),
            app_usage: Mutex::new(None),
            sessions: Mutex::new(Sessions::new(config.session_lifetime.as_secs() as i64)),
            cursors: Mutex::new(Cursors::default()),
            faults: Mutex::new(faults),
            namespace: RwLock::new(None),
            bulk: Mutex::new(Jobs::default()),
            codes: Mutex::new(Codes::default()),
            outpost: RwLock::new(config.outpost.clone()),
            data_dirty: AtomicBool::new(false),
            meta_dirty: AtomicBool::new(false),
            http: {
                crate::install_tls_provider();
                reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default()
            },
            config,
        }
    }

    /// Sim time now.
    pub fn now(&self) -> SfDateTime {
        self.clock.now()
    }

    /// Read access to the data.
    pub fn db(&self) -> RwLockReadGuard<'_, Db> {
        read(&self.db)
    }

    /// Write access to the data (marks it for saving).
    pub fn db_mut(&self) -> RwLockWriteGuard<'_, Db> {
        self.data_dirty.store(true, Ordering::Relaxed);
        write(&self.db)
    }

    /// Current usage.
    pub fn usage(&self) -> ApiUsage {
        ApiUsage { used: self.api_used.load(Ordering::Relaxed), limit: self.api_limit.load(Ordering::Relaxed) }
    }

    /// The calling app's own usage, if reported.
    pub fn app_usage(&self) -> Option<ApiUsage> {
        *lock(&self.app_usage)
    }

    /// Starts (or stops) reporting the calling app's own usage.
    pub fn set_app_usage(&self, usage: Option<ApiUsage>) {
        *lock(&self.app_usage) = usage;
    }

    /// Counts one API call, or refuses it once the limit is reached.
    pub fn count_call(&self) -> Result<ApiUsage, ApiUsage> {
        if let Some(app) = lock(&self.app_usage).as_mut() {
            app.used += 1;
        }
        let limit = self.api_limit.load(Ordering::Relaxed);
        let r = self.api_used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| (u < limit).then_some(u + 1));
        self.meta_dirty.store(true, Ordering::Relaxed);
        match r {
            Ok(prev) => Ok(ApiUsage { used: prev + 1, limit }),
            Err(cur) => Err(ApiUsage { used: cur, limit }),
        }
    }

    /// Sets the counter.
    pub fn set_usage(&self, used: u64) {
        self.api_used.store(used, Ordering::Relaxed);
        self.meta_dirty.store(true, Ordering::Relaxed);
    }

    /// Sets the limit.
    pub fn set_limit(&self, limit: u64) {
        self.api_limit.store(limit, Ordering::Relaxed);
    }

    /// The integration user.
    pub fn integration_user(&self) -> Option<User> {
        self.db().users.iter().find(|u| u.integration).cloned()
    }

    /// Resolves a user by 15/18-char id or username.
    pub fn find_user(&self, key: &str) -> Option<User> {
        let db = self.db();
        match SfId::parse(key) {
            Some(id) => db.user(&id).cloned(),
            None => db.user_by_username(key).cloned(),
        }
    }

    /// What field-level security lets `user` read: the integration user does not see the fields
    /// its permission set leaves out; everyone else sees everything.
    pub fn access_of(&self, user: &SfId) -> Access {
        if self.db().user(user).is_some_and(|u| u.integration) { Access::Integration } else { Access::All }
    }

    /// How `user` runs SOQL now (field visibility, today for date literals).
    pub fn soql_context(&self, user: &SfId) -> crate::soql::Context {
        crate::soql::Context { access: self.access_of(user), now: self.now() }
    }

    /// Mints a session for a user.
    pub fn mint(&self, user: SfId, kind: SessionKind) -> String {
        lock(&self.sessions).mint(&self.id, user, kind, self.now())
    }

    /// The Outpost target, if configured.
    pub fn outpost(&self) -> Option<OutpostTarget> {
        read(&self.outpost).clone()
    }

    /// `<login>/id/<org18>/<user18>`.
    pub fn identity_url(&self, user: &SfId) -> String {
        format!("{}/id/{}/{}", self.login_url, self.id, user)
    }

    /// Is this request addressed to the generic login host rather than My Domain?
    pub fn is_login_host(&self, headers: &axum::http::HeaderMap) -> bool {
        headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h.eq_ignore_ascii_case(&self.login_host))
    }
}
